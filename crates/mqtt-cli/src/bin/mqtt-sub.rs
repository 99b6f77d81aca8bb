//! `mqtt-sub`: subscribes and prints messages like `mosquitto_sub`, with the same options,
//! output and exit codes.
//!
//! Like `mosquitto_sub` (libmosquitto's `mosquitto_loop_forever`), it reconnects after losing
//! the connection, every second until it succeeds, subscribes again and carries on counting
//! (`-C`) and timing (`-W`).

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use mqtt_cli::args::{self, SubOptions, Tool};
use mqtt_cli::connection::{self, ConnectFailure, Delivered, Incoming};
use mqtt_cli::format::{self, OutputOptions, Received, Zone};
use mqtt_client::{Client, Delivery};
use mqtt_codec::{QoS, TopicName};
use tokio::time::Instant;

/// `mosquitto_sub`'s exit code when `-W` expires (`MOSQ_ERR_TIMEOUT`).
const TIMED_OUT: u8 = 27;

/// `mosquitto_sub` calls `exit(-1)` when `-W` expires or a signal arrives before the first
/// CONNACK.
const NEVER_CONNECTED: u8 = 255;

/// libmosquitto's reconnect delay (`mosquitto_reconnect_delay_set` is never called: 1 s).
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    connection::main_of(
        args::parse_sub(std::env::args_os()),
        |o| o.connect.quiet,
        run,
    )
}

/// Why the tool stops before it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `-W` expired.
    Timeout,
    /// SIGINT or SIGTERM.
    Signal,
}

/// Waits for `-W` or a signal.
struct Stopper {
    deadline: Option<Instant>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Stopper {
    fn new(timeout: Option<u32>) -> Stopper {
        Stopper {
            // `-W 0` sets no alarm.
            deadline: timeout
                .filter(|s| *s > 0)
                .map(|s| Instant::now() + Duration::from_secs(u64::from(s))),
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
            #[cfg(unix)]
            int: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok(),
        }
    }

    async fn wait(&mut self) -> Stop {
        let deadline = async {
            match self.deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        let signal = async {
            match (&mut self.term, &mut self.int) {
                (Some(term), Some(int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signal = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        tokio::select! {
            () = deadline => Stop::Timeout,
            () = signal => Stop::Signal,
        }
    }
}

/// The state that survives reconnections.
struct Progress {
    output: OutputOptions,
    zone: Zone,
    /// Messages printed so far (`-C`).
    printed: u32,
    /// The clearing publication of `--remove-retained` sent last; the tool waits for it
    /// before disconnecting, as `mosquitto_sub` waits for its `last_mid`.
    last_clear: Option<Delivery>,
    random: Random,
}

/// How one connection ended.
enum Ended {
    /// The tool is done: exit with this code.
    Exit(u8),
    /// The connection was lost: reconnect.
    Lost,
}

async fn run(o: SubOptions) -> Result<u8, ConnectFailure> {
    let mut stopper = Stopper::new(o.timeout);
    let mut progress = Progress {
        output: OutputOptions {
            verbose: o.verbose,
            no_eol: o.no_eol,
            format: o.format.clone(),
            pretty: o.pretty,
        },
        zone: Zone::local(),
        printed: 0,
        last_clear: None,
        random: Random::seeded(),
    };
    let mut connected_once = false;
    loop {
        let opened = tokio::select! {
            opened = connection::open(&o.connect, Tool::Sub) => opened,
            stop = stopper.wait() => {
                if !connected_once {
                    return Ok(NEVER_CONNECTED);
                }
                return Ok(stopped(&o, stop));
            }
        };
        let (client, mut incoming) = match opened {
            Ok((client, incoming, _connack)) => (client, incoming),
            // The first failure is reported; a refused CONNACK always ends the tool.
            Err(failure) if !connected_once || failure.is_refusal() => return Err(failure),
            Err(_) => {
                if let Some(stop) = pause(&mut stopper).await {
                    return Ok(stopped(&o, stop));
                }
                continue;
            }
        };
        connected_once = true;
        let ended = tokio::select! {
            ended = serve(&o, &client, &mut incoming, &mut progress) => ended,
            stop = stopper.wait() => {
                let _ = client.disconnect_with(o.connect.disconnect(true)).await;
                return Ok(stopped(&o, stop));
            }
        };
        match ended {
            Ended::Exit(code) => return Ok(code),
            Ended::Lost => {
                drop(client);
                if let Some(stop) = pause(&mut stopper).await {
                    return Ok(stopped(&o, stop));
                }
            }
        }
    }
}

/// Waits the reconnect delay, unless the tool is stopped first.
async fn pause(stopper: &mut Stopper) -> Option<Stop> {
    tokio::select! {
        () = tokio::time::sleep(RECONNECT_DELAY) => None,
        stop = stopper.wait() => Some(stop),
    }
}

/// The exit code (and message) once `-W` or a signal stopped a tool that had connected.
fn stopped(o: &SubOptions, stop: Stop) -> u8 {
    match stop {
        Stop::Timeout => {
            if !o.connect.quiet {
                eprintln!("Timed out");
            }
            TIMED_OUT
        }
        Stop::Signal => 0,
    }
}

/// Subscribes, then handles messages until the tool is done or the connection is lost.
async fn serve(
    o: &SubOptions,
    client: &Client,
    incoming: &mut Incoming,
    progress: &mut Progress,
) -> Ended {
    if !o.topics.is_empty() {
        let options = o.subscription_options();
        let filters = o.topics.iter().map(|t| (t.clone(), options)).collect();
        let Ok(suback) = client
            .subscribe(filters, o.subscribe_properties.clone())
            .await
        else {
            return Ended::Lost;
        };
        if o.connect.debug {
            // mosquitto_sub's subscribe callback prints the granted QoS / reason codes under -d.
            let codes: Vec<String> = suback
                .reason_codes
                .iter()
                .map(|rc| u8::from(*rc).to_string())
                .collect();
            println!(
                "Subscribed (mid: {}): {}",
                suback.packet_id,
                codes.join(", ")
            );
        }
        if suback.reason_codes.iter().all(|rc| rc.is_error()) {
            let _ = client.disconnect_with(o.connect.disconnect(false)).await;
            if !o.connect.quiet {
                eprintln!("All subscription requests were denied.");
            }
            return Ended::Exit(0);
        }
    }
    if !o.unsubscribe.is_empty()
        && client
            .unsubscribe(o.unsubscribe.clone(), o.unsubscribe_properties.clone())
            .await
            .is_err()
    {
        return Ended::Lost;
    }
    if o.exit_after_sub {
        let _ = client.disconnect_with(o.connect.disconnect(false)).await;
        return Ended::Exit(0);
    }
    let stdout = std::io::stdout();
    let (mut out, mut errors) = (Vec::with_capacity(4096), Vec::new());
    loop {
        let Some(Delivered { message, mid }) = incoming.recv().await else {
            return Ended::Lost;
        };
        // The checks of mosquitto_sub's message callback, in its order.
        if o.retained_only && !message.retain {
            return finish(o, client, progress).await;
        }
        if o.no_retained && message.retain {
            continue;
        }
        if o.filter_out.iter().any(|f| f.matches(&message.topic)) {
            continue;
        }
        if o.remove_retained && message.retain {
            // Clearing needs the exact topic; an empty retained message at QoS 1 removes it.
            if let Ok(topic) = TopicName::new(message.topic.as_str()) {
                if let Ok(delivery) = client.publish(topic, "", QoS::AtLeastOnce, true).await {
                    progress.last_clear = Some(delivery);
                }
            }
        }
        if let Some(percent) = o.random_filter {
            // mosquitto_sub keeps ten times the percentage and compares it with
            // `rand() % 10000`: 100 prints one message in ten, 1000 prints them all.
            let units = (percent * 10.0).round() as u32;
            if units < 10_000 && progress.random.below(10_000) >= units {
                continue;
            }
        }
        out.clear();
        errors.clear();
        format::render_with(
            &mut out,
            &mut errors,
            &Received {
                topic: message.topic.as_str(),
                payload: &message.payload,
                qos: message.qos,
                retain: message.retain,
                mid,
                properties: &message.properties,
            },
            &progress.output,
            SystemTime::now(),
            &progress.zone,
        );
        if !errors.is_empty() && !o.connect.quiet {
            let _ = std::io::stderr().write_all(&errors);
        }
        let mut lock = stdout.lock();
        if lock.write_all(&out).and_then(|()| lock.flush()).is_err() {
            // stdout closed (e.g. `| head`): stop like Mosquitto.
            drop(lock);
            let _ = client.disconnect_with(o.connect.disconnect(false)).await;
            return Ended::Exit(1);
        }
        drop(lock);
        progress.printed += 1;
        if o.count.is_some_and(|c| progress.printed >= c) {
            return finish(o, client, progress).await;
        }
    }
}

/// Disconnects normally once the last `--remove-retained` publication is acknowledged.
async fn finish(o: &SubOptions, client: &Client, progress: &mut Progress) -> Ended {
    if let Some(delivery) = progress.last_clear.take() {
        let _ = delivery.await;
    }
    let _ = client.disconnect_with(o.connect.disconnect(false)).await;
    Ended::Exit(0)
}

/// A small xorshift generator for `--random-filter` (Mosquitto seeds `rand()` from the time).
struct Random(u64);

impl Random {
    fn seeded() -> Random {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Random((nanos ^ (u64::from(std::process::id()) << 32)) | 1)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % u64::from(n)) as u32
    }
}
