//! The matrix run against every broker, and running one mqtt-bench scenario while measuring the
//! broker (CPU seconds, resident memory) and the load generator (its own CPU seconds).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::brokers::{children_cpu_seconds, Running};

/// What a scenario asks of mqtt-bench.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Load {
    /// A message scenario: `mode -c clients -q qos --size 64`, at `rate` per publisher
    /// (0: as fast as the in-flight window allows).
    Messages {
        mode: &'static str,
        clients: u32,
        qos: u8,
        rate: f64,
    },
    /// `conn -c clients`: idle connections, with the broker's RSS read once all are up.
    Idle { clients: u32 },
}

/// One row group of the table.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scenario {
    /// Stable id, the key in results.json.
    pub(crate) id: &'static str,
    /// What the table calls it.
    pub(crate) title: &'static str,
    pub(crate) load: Load,
}

/// Payload size of every message scenario (bytes).
pub(crate) const SIZE: u32 = 64;
/// Publishers of the fan-in scenarios.
pub(crate) const FAN_IN_PUBLISHERS: u32 = 8;
/// Idle connections.
pub(crate) const IDLE_CONNECTIONS: u32 = 10_000;

/// The throughput scenarios and the idle one, in running order. The idle one comes first so
/// that it measures a fresh broker, not one whose allocator still holds the previous runs'
/// buffers.
pub(crate) fn matrix() -> Vec<Scenario> {
    let msg = |mode, clients, qos| Load::Messages {
        mode,
        clients,
        qos,
        rate: 0.0,
    };
    vec![
        Scenario {
            id: "idle-10k",
            title: "10,000 idle connections",
            load: Load::Idle {
                clients: IDLE_CONNECTIONS,
            },
        },
        Scenario {
            id: "fan-in-q0",
            title: "fan-in QoS 0 (8 pub -> 1 `#` sub)",
            load: msg("fan-in", FAN_IN_PUBLISHERS, 0),
        },
        Scenario {
            id: "fan-in-q1",
            title: "fan-in QoS 1 (8 -> 1)",
            load: msg("fan-in", FAN_IN_PUBLISHERS, 1),
        },
        Scenario {
            id: "fan-in-q2",
            title: "fan-in QoS 2 (8 -> 1)",
            load: msg("fan-in", FAN_IN_PUBLISHERS, 2),
        },
        Scenario {
            id: "fan-out-q0",
            title: "fan-out QoS 0 (1 pub -> 100 sub)",
            load: msg("fan-out", 100, 0),
        },
        Scenario {
            id: "fan-out-q1",
            title: "fan-out QoS 1 (1 -> 100)",
            load: msg("fan-out", 100, 1),
        },
        Scenario {
            id: "pairs-q1",
            title: "pairs QoS 1 (100 pairs)",
            load: msg("pairs", 100, 1),
        },
    ]
}

/// The fixed-rate latency scenario: fan-in QoS 1 at `total_rate` messages/s over the 8
/// publishers.
pub(crate) fn latency(total_rate: f64) -> Scenario {
    Scenario {
        id: "latency-q1",
        title: "latency: fan-in QoS 1 at a fixed rate",
        load: Load::Messages {
            mode: "fan-in",
            clients: FAN_IN_PUBLISHERS,
            qos: 1,
            rate: total_rate / f64::from(FAN_IN_PUBLISHERS),
        },
    }
}

/// The subscriptions scenario: fan-in QoS 1 publish throughput while `clients` x `per_client`
/// unrelated subscriptions (cycling exact, `+` and `#` filters) are held by another mqtt-bench.
#[derive(Debug, Clone)]
pub(crate) struct Subscriptions {
    pub(crate) measured: Scenario,
    pub(crate) clients: u32,
    pub(crate) per_client: u32,
}

/// 1,000 and 1,000,000 unrelated subscriptions, in running order.
pub(crate) fn subscriptions() -> Vec<Subscriptions> {
    let measured = |id, title| Scenario {
        id,
        title,
        load: Load::Messages {
            mode: "fan-in",
            clients: FAN_IN_PUBLISHERS,
            qos: 1,
            rate: 0.0,
        },
    };
    vec![
        Subscriptions {
            measured: measured("subs-1k", "fan-in QoS 1 with 1,000 unrelated subscriptions"),
            clients: 1,
            per_client: 1000,
        },
        Subscriptions {
            measured: measured(
                "subs-1m",
                "fan-in QoS 1 with 1,000,000 unrelated subscriptions",
            ),
            clients: 1000,
            per_client: 1000,
        },
    ]
}

/// Broker RSS above which the subscriptions scenario gives up on a broker, so that a broker
/// that cannot hold a million subscriptions does not take the shared machine down with it.
const SUBSCRIPTIONS_RSS_LIMIT: u64 = 6 << 30;

/// Runs `s`: subscribes with a holder mqtt-bench, measures `s.measured` once every filter is
/// granted, then collects the holder's report (its `subscribe_elapsed_s`).
pub(crate) fn run_subscriptions(
    s: &Subscriptions,
    running: &Running,
    port: u16,
    g: &Generator<'_>,
) -> Result<(Map<String, Value>, Value), String> {
    let total = u64::from(s.clients) * u64::from(s.per_client);
    let mut args: Vec<String> = [
        "sub",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-c",
        &s.clients.to_string(),
        "--filters-per-client",
        &s.per_client.to_string(),
        "-t",
        "unrelated/%i/%j",
        "-t",
        "unrelated/%i/+/%j",
        "-t",
        "unrelated/%i/%j/#",
        "--json",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    // Held long enough for the measured run (its duration, connect and drain) to finish first.
    args.extend(["--duration".to_owned(), (g.duration + 30.0).to_string()]);
    let rss_before = running.rss_bytes()?;
    let cpu_before = running.cpu_seconds(g.clk_tck)?;
    let mut cmd = match g.cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(g.bench);
            c
        }
        None => Command::new(g.bench),
    };
    let mut holder = cmd
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", g.bench.display()))?;
    let mut stdout = holder.stdout.take().ok_or("mqtt-bench stdout not piped")?;
    let stderr = holder.stderr.take().ok_or("mqtt-bench stderr not piped")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    // The progress lines go to a thread; the first one with every filter granted is the event
    // the measurement starts on.
    let (tx, rx) = mpsc::channel::<()>();
    let lines = std::thread::spawn(move || {
        let mut tail = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if progress_subscriptions(&line).is_some_and(|(a, b)| a >= b && b > 0) {
                let _ = tx.send(());
            } else if progress_connections(&line).is_none() {
                tail.push(line);
            }
        }
        tail
    });
    let started = Instant::now();
    let outcome = (|| -> Result<(Map<String, Value>, Value), String> {
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(
                        "the subscribing mqtt-bench ended before every filter was granted"
                            .to_owned(),
                    )
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let rss = running.rss_bytes()?;
            if rss > SUBSCRIPTIONS_RSS_LIMIT {
                return Err(format!(
                    "gave up: broker RSS {} MiB while subscribing (limit {} MiB)",
                    rss >> 20,
                    SUBSCRIPTIONS_RSS_LIMIT >> 20
                ));
            }
            if started.elapsed() > Duration::from_secs(600) {
                return Err("gave up: subscriptions not all granted after 600 s".to_owned());
            }
        }
        let subscribe_cpu_s = running.cpu_seconds(g.clk_tck)? - cpu_before;
        let rss_subscribed = running.rss_bytes()?;
        let (mut f, report) = run(&s.measured, running, port, g)?;
        f.insert("subscriptions".into(), json!(total));
        f.insert("subscribe_broker_cpu_s".into(), json!(subscribe_cpu_s));
        f.insert(
            "rss_per_subscription_bytes".into(),
            json!((rss_subscribed as f64 - rss_before as f64) / total as f64),
        );
        Ok((f, report))
    })();
    if outcome.is_err() {
        let _ = holder.kill();
    }
    let status = holder
        .wait()
        .map_err(|e| format!("waiting for mqtt-bench: {e}"))?;
    let tail = lines.join().unwrap_or_default();
    let text = reader.join().unwrap_or_default();
    // A broker that refuses the subscriptions shows it in the holder's report, not ours.
    let (mut f, report) = outcome.map_err(|e| {
        let errors = serde_json::from_str::<Value>(text.trim())
            .ok()
            .and_then(|r| r.get("errors").cloned())
            .map_or_else(String::new, |errors| format!("; its errors: {errors}"));
        format!("{e} ({status}){errors}; stderr: {}", tail.join(" | "))
    })?;
    let holder_report: Value = serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "subscribing mqtt-bench ({status}) printed no JSON report ({e}); stderr: {}",
            tail.join(" | ")
        )
    })?;
    f.insert(
        "subscribe_elapsed_s".into(),
        json!(num(&holder_report, "subscribe_elapsed_s")
            .or_else(|| num(&holder_report, "subscriptions.elapsed_s"))),
    );
    Ok((f, json!({"measured": report, "holder": holder_report})))
}

/// How the load generator is run.
#[derive(Debug, Clone)]
pub(crate) struct Generator<'a> {
    pub(crate) bench: &'a Path,
    /// `taskset -c CPU` for mqtt-bench, when pinned.
    pub(crate) cpu: Option<u32>,
    pub(crate) clk_tck: f64,
    /// Seconds each message scenario publishes for.
    pub(crate) duration: f64,
    /// Seconds the idle connections are held once all are up.
    pub(crate) hold: f64,
    /// Appended to every message scenario's command line (bench-persistence:
    /// `--persistent-subscribers`, `--inflight N`); empty in bench-compare.
    pub(crate) extra_args: &'a [String],
}

/// The mqtt-bench command line of `scenario` against `port`.
pub(crate) fn bench_args(scenario: &Scenario, port: u16, g: &Generator<'_>) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
    match &scenario.load {
        Load::Messages {
            mode,
            clients,
            qos,
            rate,
        } => {
            push(&[mode, "-h", "127.0.0.1", "-p", &port.to_string()]);
            push(&["-c", &clients.to_string(), "-q", &qos.to_string()]);
            push(&["--size", &SIZE.to_string()]);
            push(&["--duration", &g.duration.to_string()]);
            if *rate > 0.0 {
                push(&["--rate", &format!("{rate:.3}")]);
            }
            args.extend(g.extra_args.iter().cloned());
            args.extend(["--json".to_owned(), "--quiet".to_owned()]);
        }
        // Not --quiet: the once-a-second progress line on stderr is how we learn that every
        // connection is up, which is when the broker's RSS is read.
        Load::Idle { clients } => {
            push(&["conn", "-h", "127.0.0.1", "-p", &port.to_string()]);
            push(&["-c", &clients.to_string()]);
            push(&["--duration", &g.hold.to_string(), "--json"]);
        }
    }
    args
}

/// `A/B` after `key` in a progress line.
fn progress_pair(line: &str, key: &str) -> Option<(u64, u64)> {
    let rest = line.split_once(key)?.1;
    let word = rest.split_whitespace().next()?;
    let (a, b) = word.split_once('/')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// `conn A/B (R/s, F failed`: connections up, failed and requested.
pub(crate) fn progress_connections(line: &str) -> Option<(u64, u64, u64)> {
    let (up, wanted) = progress_pair(line, "conn ")?;
    let failed = line
        .split_once(", ")
        .and_then(|(_, r)| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    Some((up, failed, wanted))
}

/// `subs A/B`: topic filters granted and to subscribe.
pub(crate) fn progress_subscriptions(line: &str) -> Option<(u64, u64)> {
    progress_pair(line, "subs ")
}

/// What one mqtt-bench run gave.
#[derive(Debug)]
struct BenchRun {
    report: Value,
    wall_s: f64,
    bench_cpu_s: f64,
    /// Broker RSS (bytes) and connections up at the last progress line where all were up
    /// (the idle scenario only).
    rss_connected: Option<(u64, u64)>,
}

/// Runs mqtt-bench with `args`, killing it after `limit`; `running` is the broker, watched for
/// the idle scenario's RSS reading.
fn run_bench(
    g: &Generator<'_>,
    args: &[String],
    running: &Running,
    limit: Duration,
) -> Result<BenchRun, String> {
    let mut cmd = match g.cpu {
        // taskset execs mqtt-bench: same pid, so its CPU time is this child's.
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(g.bench);
            c
        }
        None => Command::new(g.bench),
    };
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let cpu_before = children_cpu_seconds(g.clk_tck)?;
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", g.bench.display()))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().ok_or("mqtt-bench stdout not piped")?;
    let stderr = child.stderr.take().ok_or("mqtt-bench stderr not piped")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    // The watchdog kills a hung mqtt-bench; it stands down when `done` is dropped.
    let (done, cancelled) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = cancelled.recv_timeout(limit) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
            true
        } else {
            false
        }
    });
    let mut rss_connected = None;
    let mut stderr_tail: Vec<String> = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if let Some((up, failed, wanted)) = progress_connections(&line) {
            // Once every attempt has ended (a broker may refuse some), read at every line, so
            // the last reading is the settled one.
            if up + failed >= wanted && up > 0 {
                if let Ok(rss) = running.rss_bytes() {
                    rss_connected = Some((rss, up));
                }
            }
            continue;
        }
        stderr_tail.push(line);
        if stderr_tail.len() > 20 {
            stderr_tail.remove(0);
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("waiting for mqtt-bench: {e}"))?;
    let wall_s = start.elapsed().as_secs_f64();
    drop(done);
    let killed = watchdog.join().unwrap_or(false);
    let bench_cpu_s = children_cpu_seconds(g.clk_tck)? - cpu_before;
    let stdout = match reader.join() {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("reading mqtt-bench output: {e}")),
        Err(_) => return Err("the mqtt-bench output reader panicked".to_owned()),
    };
    if killed {
        return Err(format!(
            "mqtt-bench still running after {limit:?}: killed (is the broker stuck?)"
        ));
    }
    let report: Value = serde_json::from_str(stdout.trim()).map_err(|e| {
        format!(
            "mqtt-bench ({status}) printed no JSON report ({e}); stderr: {}",
            stderr_tail.join(" | ")
        )
    })?;
    Ok(BenchRun {
        report,
        wall_s,
        bench_cpu_s,
        rss_connected,
    })
}

fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

fn num(v: &Value, path: &str) -> Option<f64> {
    at(v, path).and_then(Value::as_f64)
}

/// Runs `scenario` against `running`, returning its figures (the `figures` object of
/// results.json) and mqtt-bench's own report.
pub(crate) fn run(
    scenario: &Scenario,
    running: &Running,
    port: u16,
    g: &Generator<'_>,
) -> Result<(Map<String, Value>, Value), String> {
    let args = bench_args(scenario, port, g);
    // mqtt-bench waits up to 30 s per connection and drains for 2 s; beyond this it is stuck.
    let limit = Duration::from_secs_f64(g.duration.max(g.hold) + 180.0);
    let rss_before = running.rss_bytes()?;
    let cpu_before = running.cpu_seconds(g.clk_tck)?;
    let run = run_bench(g, &args, running, limit)?;
    // A broker that died during the run has no /proc entry left: that error says so.
    let broker_cpu_s = running.cpu_seconds(g.clk_tck)? - cpu_before;
    let r = &run.report;
    let mut f = Map::new();
    f.insert("broker_cpu_s".into(), json!(broker_cpu_s));
    f.insert("bench_cpu_s".into(), json!(run.bench_cpu_s));
    f.insert("wall_s".into(), json!(run.wall_s));
    // Cores' worth of CPU the load generator used: near 1.0 pinned, it was the bottleneck.
    f.insert("bench_cores".into(), json!(run.bench_cpu_s / run.wall_s));
    f.insert("rss_before_bytes".into(), json!(rss_before));
    f.insert(
        "connected".into(),
        json!(num(r, "connections.connected").unwrap_or(0.0)),
    );
    match scenario.load {
        Load::Messages { .. } => {
            let received = num(r, "messages.received").unwrap_or(0.0);
            for (key, path) in [
                ("sent", "messages.sent"),
                ("received", "messages.received"),
                ("received_per_s", "messages.received_per_s"),
                ("losses", "messages.losses"),
                ("duplicates", "messages.duplicates"),
                ("p50_us", "latency_us.p50"),
                ("p99_us", "latency_us.p99"),
                ("p99_9_us", "latency_us.p99_9"),
            ] {
                f.insert(key.into(), json!(num(r, path)));
            }
            let per_cpu = (broker_cpu_s > 0.0).then(|| received / broker_cpu_s);
            f.insert("msgs_per_cpu_s".into(), json!(per_cpu));
        }
        Load::Idle { .. } => {
            f.insert(
                "conn_rate_per_s".into(),
                json!(num(r, "connections.rate_per_s")),
            );
            let per_conn = run.rss_connected.and_then(|(rss, up)| {
                (up > 0).then(|| (rss as f64 - rss_before as f64) / up as f64)
            });
            f.insert("rss_per_conn_bytes".into(), json!(per_conn));
            f.insert(
                "rss_connected_bytes".into(),
                json!(run.rss_connected.map(|(rss, _)| rss)),
            );
        }
    }
    Ok((f, run.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_progress_line() {
        let line = "[    3s] conn 10000/10000 (0/s, 0 failed, 0 lost)  sent 0 (0/s)  recv 0 (0/s)";
        assert_eq!(progress_connections(line), Some((10_000, 0, 10_000)));
        let line = "[ 31s] conn 9939/10000 (0/s, 61 failed, 0 lost)  subs 12/1000 (3/s)  sent 0";
        assert_eq!(progress_connections(line), Some((9939, 61, 10_000)));
        assert_eq!(progress_subscriptions(line), Some((12, 1000)));
        assert_eq!(progress_connections("error: connection refused"), None);
    }

    #[test]
    fn command_lines() {
        let g = Generator {
            bench: Path::new("mqtt-bench"),
            cpu: None,
            clk_tck: 100.0,
            duration: 10.0,
            hold: 3.0,
            extra_args: &[],
        };
        let fan_in = &matrix()[1];
        assert_eq!(
            bench_args(fan_in, 28831, &g).join(" "),
            "fan-in -h 127.0.0.1 -p 28831 -c 8 -q 0 --size 64 --duration 10 --json --quiet"
        );
        assert_eq!(
            bench_args(&latency(8000.0), 1, &g).join(" "),
            "fan-in -h 127.0.0.1 -p 1 -c 8 -q 1 --size 64 --duration 10 --rate 1000.000 \
             --json --quiet"
        );
        assert_eq!(
            bench_args(&matrix()[0], 2, &g).join(" "),
            "conn -h 127.0.0.1 -p 2 -c 10000 --duration 3 --json"
        );
        // bench-persistence's extra arguments go before --json, to message scenarios only.
        let extra = ["--persistent-subscribers".to_owned()];
        let g = Generator {
            extra_args: &extra,
            ..g
        };
        assert_eq!(
            bench_args(&matrix()[2], 3, &g).join(" "),
            "fan-in -h 127.0.0.1 -p 3 -c 8 -q 1 --size 64 --duration 10 \
             --persistent-subscribers --json --quiet"
        );
        assert!(!bench_args(&matrix()[0], 2, &g).contains(&extra[0]));
    }
}
