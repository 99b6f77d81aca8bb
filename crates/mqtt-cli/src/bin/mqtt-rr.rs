//! `mqtt-rr`: publishes a request and prints the first response, like `mosquitto_rr` 2.0.11,
//! with the same options, output and exit codes.
//!
//! It connects (MQTT 5 unless `-V` says otherwise), subscribes to the response topic of `-e`,
//! publishes the payload of `-m` (or an empty one with `-n`) on the topic of `-t` with the
//! Response Topic property (MQTT 5; a Correlation Data property only when `-D publish
//! correlation-data` gives one), prints the first message that arrives on the response topic
//! (`-v`, `-N`, `-F`, `--pretty` as `mqtt-sub`) and exits with 0.
//!
//! Mosquitto 2.0.11's quirks are kept: `-f` and `-s` are accepted but send an empty request
//! (neither the file nor stdin is read), it closes the connection after the response without a
//! DISCONNECT (so the broker publishes the will), `-W` ends with "Timed out" and status 27 after
//! a DISCONNECT "with Will Message", `-R` and `--retain-as-published` are accepted but ignored
//! (a retained message on the response topic is printed as the response), a lost connection
//! prints "Error: The connection was lost." with status 7, and a refused connection is worded
//! with the MQTT 5 reason strings even for MQTT 3.1.1.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use mqtt_cli::args::{self, MessageSource, RrOptions, Tool};
use mqtt_cli::connection::{self, ConnectFailure, Delivered};
use mqtt_cli::format::{self, OutputOptions, Received, Zone};
use mqtt_client::Message;
use mqtt_codec::{PublishProperties, TopicFilter};

/// `mosquitto_rr`'s exit code when `-W` expires (`MOSQ_ERR_TIMEOUT`).
const TIMED_OUT: u8 = 27;

/// The exit code and message when the connection is lost (`MOSQ_ERR_CONN_LOST`).
const CONNECTION_LOST: i32 = 7;

fn main() -> ExitCode {
    connection::main_of(
        args::parse_rr(std::env::args_os()),
        |o| o.connect.quiet,
        run,
    )
}

/// How the exchange ended, short of a response.
enum Failed {
    /// The connection ended.
    Lost,
    /// The broker refused the subscription: its reason code.
    Denied(u8),
}

async fn run(o: RrOptions) -> Result<u8, ConnectFailure> {
    let payload = payload(&o.message);
    let deadline = o
        .timeout
        .filter(|s| *s > 0)
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(u64::from(s)));
    let expired = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expired);

    let opened = tokio::select! {
        opened = connection::open(&o.connect, Tool::Rr) => opened?,
        () = &mut expired => return Ok(timed_out(&o)),
    };
    let (client, mut incoming, _connack) = opened;

    let request = async {
        // The subscription options are the QoS alone: mosquitto_rr ignores -R.
        let filter = TopicFilter::new(o.response_topic.as_str()).map_err(|_| Failed::Lost)?;
        let suback = client
            .subscribe(
                vec![(filter, o.subscription_options())],
                o.subscribe_properties.clone(),
            )
            .await
            .map_err(|_| Failed::Lost)?;
        if let Some(code) = suback.reason_codes.first().filter(|rc| rc.is_error()) {
            return Err(Failed::Denied(u8::from(*code)));
        }
        let mut message = Message::new(o.topic.clone(), payload, o.qos);
        if o.connect.version.is_v5() {
            message.properties = o.properties.clone().into();
        } else {
            message.properties = PublishProperties::default().into();
        }
        // Nothing waits for the PUBACK: mosquitto_rr only waits for the response.
        let _delivery = client
            .publish_message(message)
            .await
            .map_err(|_| Failed::Lost)?;
        // Now wait for the response.
        std::future::pending::<Result<(), Failed>>().await
    };

    let outcome = tokio::select! {
        failed = request => match failed {
            Err(failed) => Err(failed),
            Ok(()) => Err(Failed::Lost),
        },
        response = incoming.recv() => response.ok_or(Failed::Lost),
        () = &mut expired => {
            let _ = client.disconnect_with(o.connect.disconnect(true)).await;
            return Ok(timed_out(&o));
        }
    };
    match outcome {
        Ok(delivered) => {
            print(&o, &delivered);
            // mosquitto_rr ends without a DISCONNECT: the connection just closes (and the
            // broker publishes the will). Keeping a handle alive stops the client from sending
            // one when the runtime shuts down.
            std::mem::forget(client);
            Ok(0)
        }
        Err(Failed::Denied(code)) => {
            if !o.connect.quiet {
                eprintln!("{}", connection::reason_string(code));
            }
            let _ = client.disconnect_with(o.connect.disconnect(false)).await;
            Ok(0)
        }
        Err(Failed::Lost) => Err(ConnectFailure {
            messages: vec!["Error: The connection was lost.".to_owned()],
            code: CONNECTION_LOST,
        }),
    }
}

/// The request's payload. mosquitto_rr 2.0.11 accepts `-f` and `-s` but never reads the file
/// or standard input (only `mosquitto_pub` loads them): the request is then empty, and a
/// missing file is no error. The same here.
fn payload(source: &MessageSource) -> Bytes {
    match source {
        MessageSource::Message(m) => Bytes::from(m.clone()),
        MessageSource::Null
        | MessageSource::File(_)
        | MessageSource::Stdin
        // The parser refuses -l for mqtt-rr, as mosquitto_rr does.
        | MessageSource::Lines => Bytes::new(),
    }
}

/// Prints the response as `mosquitto_rr` does (its output is `mosquitto_sub`'s).
fn print(o: &RrOptions, delivered: &Delivered) {
    let message = &delivered.message;
    let output = OutputOptions {
        verbose: o.output.verbose,
        no_eol: o.output.no_eol,
        format: o.output.format.clone(),
        pretty: o.output.pretty,
    };
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    format::render_with(
        &mut out,
        &mut errors,
        &Received {
            topic: message.topic.as_str(),
            payload: &message.payload,
            qos: message.qos,
            retain: message.retain,
            mid: delivered.mid,
            properties: &message.properties,
        },
        &output,
        SystemTime::now(),
        &Zone::local(),
    );
    if !errors.is_empty() && !o.connect.quiet {
        let _ = std::io::stderr().write_all(&errors);
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
}

/// Prints "Timed out" (unless `--quiet`) and gives the exit code.
fn timed_out(o: &RrOptions) -> u8 {
    if !o.connect.quiet {
        eprintln!("Timed out");
    }
    TIMED_OUT
}
