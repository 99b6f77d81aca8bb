//! `mqtt-pub`: publishes messages like `mosquitto_pub`, with the same options and exit codes.

use std::io::{BufRead, Read};
use std::process::ExitCode;

use bytes::Bytes;
use mqtt_cli::args::{self, MessageSource, PubOptions, Tool};
use mqtt_cli::connection::{self, ConnectFailure};
use mqtt_client::{ClientError, Delivery, Message};
use mqtt_codec::Disconnect;

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
            }
        }
        None => {
            // One message per line, the line ending removed; an empty line is an empty message.
            let (lines_tx, mut lines) = tokio::sync::mpsc::channel::<Vec<u8>>(1024);
            std::thread::spawn(move || {
                let mut stdin = std::io::stdin().lock();
                loop {
                    let mut line = Vec::new();
                    match stdin.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if line.last() == Some(&b'\n') {
                                line.pop();
                            }
                            if lines_tx.blocking_send(line).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            while let Some(line) = lines.recv().await {
                let mid = mids.next().unwrap_or(1);
                deliveries.push((mid, publish(&client, &o, line.into()).await?));
                // Keep the list short: completed deliveries need no waiting.
                if deliveries.len() >= 4096 {
                    for (mid, d) in deliveries.drain(..) {
                        report(mid, d.await, &o);
                    }
                }
            }
        }
    }
    for (mid, d) in deliveries {
        report(mid, d.await, &o);
    }
    let disconnect = Disconnect {
        properties: o.connect.disconnect_properties.clone(),
        ..Disconnect::default()
    };
    client
        .disconnect_with(disconnect)
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
