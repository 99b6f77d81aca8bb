//! `mqtt-pub`: publishes messages like `mosquitto_pub`, with the same options and exit codes.

use std::io::{BufRead, Read, Write};
use std::process::ExitCode;

use bytes::Bytes;
use mqtt_cli::args::{self, Exit, MessageSource, PubOptions};
use mqtt_cli::connection::{self, ConnectFailure};
use mqtt_client::{ClientError, Delivery, Message};
use mqtt_codec::Disconnect;

fn main() -> ExitCode {
    let options = match args::parse_pub(std::env::args_os()) {
        Ok(options) => options,
        Err(exit) => return print_exit(&exit),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let quiet = options.connect.quiet;
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if !quiet {
                for line in &failure.messages {
                    eprintln!("{line}");
                }
            }
            ExitCode::from(u8::try_from(failure.code).unwrap_or(1))
        }
    }
}

fn print_exit(exit: &Exit) -> ExitCode {
    print!("{}", exit.stdout);
    eprint!("{}", exit.stderr);
    let _ = std::io::stdout().flush();
    ExitCode::from(u8::try_from(exit.code).unwrap_or(1))
}

async fn run(o: PubOptions) -> Result<(), ConnectFailure> {
    // Read the payload before connecting, as Mosquitto does: a missing file is an error
    // without a connection.
    let payload = match &o.message {
        MessageSource::Message(m) => Some(Bytes::from(m.clone())),
        MessageSource::Null => Some(Bytes::new()),
        MessageSource::File(path) => match std::fs::read(path) {
            Ok(data) => Some(data.into()),
            Err(_) => return Err(failure("Error: Unable to open file \"{path}\".", path)),
        },
        MessageSource::Stdin => {
            let mut data = Vec::new();
            if std::io::stdin().read_to_end(&mut data).is_err() {
                return Err(failure_plain("Error: Unable to read from stdin."));
            }
            Some(data.into())
        }
        MessageSource::Lines => None,
    };
    let (client, _messages, _connack) = connection::open(&o.connect, true).await?;
    let mut deliveries = Vec::new();
    let mut published = 0u32;
    match payload {
        Some(payload) => {
            for i in 0..o.repeat.max(1) {
                if i > 0 && !o.repeat_delay.is_zero() {
                    tokio::time::sleep(o.repeat_delay).await;
                }
                deliveries.push(publish(&client, &o, payload.clone()).await?);
                published += 1;
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
                deliveries.push(publish(&client, &o, line.into()).await?);
                published += 1;
                // Keep the list short: completed deliveries need no waiting.
                if deliveries.len() >= 4096 {
                    for d in deliveries.drain(..) {
                        report(d.await, &o);
                    }
                }
            }
        }
    }
    let _ = published;
    for d in deliveries {
        report(d.await, &o);
    }
    let disconnect = Disconnect {
        properties: o.connect.disconnect_properties.clone(),
        ..Disconnect::default()
    };
    client
        .disconnect_with(disconnect)
        .await
        .map_err(|e| failure_plain(&format!("Error: {e}")))
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
        .map_err(|e| failure_plain(&format!("Error: {e}")))
}

/// Mosquitto prints a warning for a refused publish and still exits 0.
fn report(result: Result<mqtt_client::PublishOutcome, ClientError>, o: &PubOptions) {
    if o.connect.quiet {
        return;
    }
    match result {
        Ok(outcome) if outcome.reason_code.is_error() => {
            eprintln!(
                "Warning: Publish failed: {}.",
                connection::connack_string(o.connect.version, outcome.reason_code)
            );
        }
        Ok(_) => {}
        Err(e) => eprintln!("Warning: Publish failed: {e}."),
    }
}

fn failure(template: &str, path: &std::path::Path) -> ConnectFailure {
    failure_plain(&template.replace("{path}", &path.display().to_string()))
}

fn failure_plain(message: &str) -> ConnectFailure {
    ConnectFailure {
        messages: vec![message.to_owned()],
        code: 1,
    }
}
