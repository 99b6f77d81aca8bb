//! `mqtt-sub`: subscribes and prints messages like `mosquitto_sub`, with the same options,
//! output and exit codes.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use mqtt_cli::args::{self, SubOptions};
use mqtt_cli::connection::{self, ConnectFailure};
use mqtt_cli::format::{self, OutputOptions, Received};
use mqtt_codec::{Disconnect, QoS, TopicName};

/// `mosquitto_sub`'s exit code when `-W` expires.
const TIMED_OUT: u8 = 27;

fn main() -> ExitCode {
    connection::main_of(
        args::parse_sub(std::env::args_os()),
        |o| o.connect.quiet,
        run,
    )
}

async fn run(o: SubOptions) -> Result<u8, ConnectFailure> {
    let (client, mut messages, _connack) = connection::open(&o.connect, false).await?;
    let error = |e: mqtt_client::ClientError| ConnectFailure::new(format!("Error: {e}"));
    if !o.topics.is_empty() {
        let options = o.subscription_options();
        let filters = o.topics.iter().map(|t| (t.clone(), options)).collect();
        client
            .subscribe(filters, o.subscribe_properties.clone())
            .await
            .map_err(error)?;
    }
    if !o.unsubscribe.is_empty() {
        client
            .unsubscribe(o.unsubscribe.clone(), o.unsubscribe_properties.clone())
            .await
            .map_err(error)?;
    }
    if o.exit_after_sub {
        let _ = client.disconnect_with(disconnect(&o)).await;
        return Ok(0);
    }
    let output = OutputOptions {
        verbose: o.verbose,
        no_eol: o.no_eol,
        format: o.format.clone(),
        pretty: o.pretty,
    };
    let deadline = o
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(u64::from(s)));
    let mut printed = 0u32;
    let mut out = Vec::with_capacity(4096);
    let stdout = std::io::stdout();
    loop {
        let next = match deadline {
            Some(at) => match tokio::time::timeout_at(at, messages.recv()).await {
                Ok(m) => m,
                Err(_) => {
                    if !o.connect.quiet {
                        eprintln!("Timed out");
                    }
                    let _ = client.disconnect_with(disconnect(&o)).await;
                    return Ok(TIMED_OUT);
                }
            },
            None => messages.recv().await,
        };
        let Some(message) = next else {
            // The server closed the connection.
            return Ok(1);
        };
        if o.retained_only && !message.retain {
            break;
        }
        if o.remove_retained && message.retain {
            // Clearing needs the exact topic; an empty retained message removes it.
            if let Ok(topic) = TopicName::new(message.topic.as_str()) {
                // QoS 0: nothing to wait for beyond the write.
                let _ = client.publish(topic, "", QoS::AtMostOnce, true).await;
            }
        }
        if o.no_retained && message.retain {
            continue;
        }
        if o.filter_out.iter().any(|f| f.matches(&message.topic)) {
            continue;
        }
        out.clear();
        format::render(
            &mut out,
            &Received {
                topic: message.topic.as_str(),
                payload: &message.payload,
                qos: message.qos,
                retain: message.retain,
                mid: 0,
                properties: &message.properties,
            },
            &output,
            SystemTime::now(),
        );
        let mut lock = stdout.lock();
        if lock.write_all(&out).and_then(|()| lock.flush()).is_err() {
            // stdout closed (e.g. `| head`): stop like Mosquitto.
            return Ok(1);
        }
        drop(lock);
        printed += 1;
        if o.count.is_some_and(|c| printed >= c) {
            break;
        }
    }
    let _ = client.disconnect_with(disconnect(&o)).await;
    Ok(0)
}

fn disconnect(o: &SubOptions) -> Disconnect {
    Disconnect {
        properties: o.connect.disconnect_properties.clone(),
        ..Disconnect::default()
    }
}
