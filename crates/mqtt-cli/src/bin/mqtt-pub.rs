//! `mqtt-pub`: publishes messages like `mosquitto_pub`, with the same options and exit codes.

use std::io::Read;
use std::process::ExitCode;

use bytes::Bytes;
use mqtt_cli::args::{self, MessageSource, PubOptions, Tool};
use mqtt_cli::connection::{self, ConnectFailure};
use mqtt_client::{ClientError, Delivery, Message};

fn main() -> ExitCode {
    connection::main_of(
        args::parse_pub(std::env::args_os()),
        |o| o.connect.quiet,
        run,
    )
}

async fn run(o: PubOptions) -> Result<u8, ConnectFailure> {
    // Read the payload before connecting, as Mosquitto does: a missing file is an error
    // without a connection.
    let payload = match &o.message {
        MessageSource::Message(m) => Some(Bytes::from(m.clone())),
        MessageSource::Null => Some(Bytes::new()),
        MessageSource::File(path) => match std::fs::read(path) {
            Ok(data) => Some(data.into()),
            Err(_) => {
                return Err(ConnectFailure::new(format!(
                    "Error: Unable to open file \"{}\".",
                    path.display()
                )))
            }
        },
        MessageSource::Stdin => {
            let mut data = Vec::new();
            if std::io::stdin().read_to_end(&mut data).is_err() {
                return Err(ConnectFailure::new("Error: Unable to read from stdin."));
            }
            Some(data.into())
        }
        MessageSource::Lines => None,
    };
    let (client, _messages, _connack) = connection::open(&o.connect, Tool::Pub).await?;
    // Each delivery with its message id: libmosquitto numbers publications from 1.
    let mut deliveries: Vec<(u16, Delivery)> = Vec::new();
    let mut mids = (1..=u16::MAX).cycle();
    match payload {
        Some(payload) => {
            for i in 0..o.repeat.max(1) {
                if i > 0 && !o.repeat_delay.is_zero() {
                    tokio::time::sleep(o.repeat_delay).await;
                }
                let mid = mids.next().unwrap_or(1);
                deliveries.push((mid, publish(&client, &o, payload.clone()).await?));
                // Keep the list short: a large --repeat must not hold every result.
                if deliveries.len() >= 4096 {
                    for (mid, d) in deliveries.drain(..) {
                        report(mid, d.await, &o);
                    }
                }
            }
        }
        None => {
            // One message per line, the line ending removed; an empty line is an empty message.
            // Standard input is read in large chunks on a thread and each chunk is cut into
            // lines that share its memory: one channel hand-over per chunk, not per line.
            let (lines_tx, mut batches) = tokio::sync::mpsc::channel::<Vec<Bytes>>(16);
            std::thread::spawn(move || read_lines(std::io::stdin().lock(), &lines_tx));
            while let Some(batch) = batches.recv().await {
                for line in batch {
                    let mid = mids.next().unwrap_or(1);
                    deliveries.push((mid, publish(&client, &o, line).await?));
                    // Keep the list short: completed deliveries need no waiting.
                    if deliveries.len() >= 4096 {
                        for (mid, d) in deliveries.drain(..) {
                            report(mid, d.await, &o);
                        }
                    }
                }
            }
        }
    }
    for (mid, d) in deliveries {
        report(mid, d.await, &o);
    }
    client
        .disconnect_with(o.connect.disconnect(false))
        .await
        .map_err(|e| ConnectFailure::new(format!("Error: {e}")))?;
    Ok(0)
}

async fn publish(
    client: &mqtt_client::Client,
    o: &PubOptions,
    payload: Bytes,
) -> Result<Delivery, ConnectFailure> {
    let mut message = Message::new(o.topic.clone(), payload, o.qos);
    message.retain = o.retain;
    message.properties = o.properties.clone().into();
    client
        .publish_message(message)
        .await
        .map_err(|e| ConnectFailure::new(format!("Error: {e}")))
}

/// Sends the lines of `input` in batches, each line without its `\n`; a last line without a
/// newline counts too. Stops at end of input, on a read error, or when nobody listens.
fn read_lines(mut input: impl std::io::Read, batches: &tokio::sync::mpsc::Sender<Vec<Bytes>>) {
    const CHUNK: usize = 64 * 1024;
    let mut buf = bytes::BytesMut::with_capacity(CHUNK);
    loop {
        // Keep the partial line at the front and read after it.
        let start = buf.len();
        buf.resize(start + CHUNK, 0);
        let n = loop {
            match input.read(buf.get_mut(start..).unwrap_or_default()) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Ok(n) => break n,
                Err(_) => break 0,
            }
        };
        buf.truncate(start + n);
        if n == 0 {
            break;
        }
        let mut batch = Vec::new();
        // The partial line kept from before has no newline: search only what was just read
        // (a very long line is then scanned once, not once per chunk).
        let mut scan_from = start;
        while let Some(found) = buf
            .get(scan_from..)
            .and_then(|new| new.iter().position(|&b| b == b'\n'))
        {
            let end = scan_from + found;
            let mut line = buf.split_to(end + 1);
            line.truncate(end);
            batch.push(line.freeze());
            scan_from = 0;
        }
        if !batch.is_empty() && batches.blocking_send(batch).is_err() {
            return;
        }
    }
    if !buf.is_empty() {
        let _ = batches.blocking_send(vec![buf.freeze()]);
    }
}

/// Mosquitto prints a warning, with the message id, for a refused publish and still exits 0.
fn report(mid: u16, result: Result<mqtt_client::PublishOutcome, ClientError>, o: &PubOptions) {
    if o.connect.quiet {
        return;
    }
    match result {
        Ok(outcome) if outcome.reason_code.is_error() => {
            eprintln!(
                "Warning: Publish {mid} failed: {}.",
                connection::reason_string(u8::from(outcome.reason_code))
            );
        }
        Ok(_) => {}
        Err(e) => eprintln!("Warning: Publish {mid} failed: {e}."),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    /// Lines longer than a chunk, lines cut by chunk boundaries, empty lines, `\r` kept (as
    /// `mosquitto_pub -l`), and a last line without a newline.
    #[test]
    fn lines_survive_chunk_boundaries() {
        let mut input = Vec::new();
        let mut expected: Vec<Vec<u8>> = Vec::new();
        for i in 0..20_000usize {
            let line: Vec<u8> = match i % 7 {
                0 => Vec::new(),
                1 => b"with cr\r".to_vec(),
                2 if i % 1000 == 2 => vec![b'x'; 100_000],
                _ => format!("line {i}").into_bytes(),
            };
            input.extend_from_slice(&line);
            input.push(b'\n');
            expected.push(line);
        }
        input.extend_from_slice(b"no newline");
        expected.push(b"no newline".to_vec());
        let (tx, mut rx) = tokio::sync::mpsc::channel(1_000_000);
        read_lines(&input[..], &tx);
        drop(tx);
        let mut got = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            got.extend(batch.into_iter().map(|b| b.to_vec()));
        }
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    }

    #[test]
    fn empty_input_is_no_message() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        read_lines(&b""[..], &tx);
        drop(tx);
        assert!(rx.try_recv().is_err());
    }
}
