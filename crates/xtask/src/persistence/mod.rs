//! `cargo run --release -p xtask -- bench-persistence [OPTIONS]` (normally through
//! `bench/persistence.sh`): the persistence benchmark of issue #7, in one run.
//!
//! 1. Throughput: fan-in QoS 1 (8 publishers, one subscriber with `--persistent-subscribers`, so
//!    that every message is stored for it), 64-byte payloads, against our broker in memory, with
//!    `persistence true` (`persistence_sync ack`, the default) and with `persistence_sync
//!    periodic`, Mosquitto with `persistence true` and without; then ours in memory and in ack
//!    mode again with an in-flight window of 100 instead of 20, to show whether the window
//!    limits ack mode. The configurations take turns in each round (`--rounds`), each run on a
//!    fresh broker with a fresh store directory; the goals are ratios within the run.
//! 2. Restart: our broker (ack) and Mosquitto (`persistence true`) are filled with 100,000
//!    retained messages and 10,000 persistent sessions holding queued messages, stopped with
//!    SIGTERM or SIGKILL, and started again: the time from the spawn to the first CONNACK, the
//!    store's size, and what was restored.
//!
//! The stores live under the system's temporary directory, on a real disk (fsync is the point):
//! the filesystem is recorded. Broker start/stop, `/proc` CPU readings and the mqtt-bench runner
//! are bench-compare's ([`crate::compare`]).

mod restart;
mod table;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::compare::brokers::{self, Broker, Kind, Running};
use crate::compare::scenarios::{self, Generator, Load, Scenario};
use crate::compare::{
    bench_binary, command_line, fd_limit, parse_brokers, parse_duration, OptionWords,
};
use restart::Fill;

const USAGE: &str = "usage: cargo run --release -p xtask -- bench-persistence [--brokers LIST] \
[--duration SECS] [--rounds N] [--quick] [--only throughput|restart] [--out DIR] [--replot]

  --brokers LIST   comma-separated, of mosquitto and ours [default: both]
  --duration SECS  publishing time of each throughput run [default: 10; 2 with --quick]
  --rounds N       throughput runs of each configuration, taking turns [default: 3; 1 with
                   --quick]
  --quick          short smoke run: 2 s runs, one round, and a restart fill of a tenth
                   (10,000 retained messages, 1,000 sessions)
  --only PART      only the throughput runs or only the restart measurement
  --out DIR        where results.json and table.md go [default: target/bench-persistence]
  --replot         only rewrite table.md from DIR/results.json";

/// Loopback ports, apart from bench-compare's (28831-28833) so that both can run at once.
const MOSQUITTO_PORT: u16 = 28841;
const OURS_PORT: u16 = 28843;

/// The larger in-flight window of the window check.
const WIDE_WINDOW: u16 = 100;

/// The command line.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    brokers: Vec<Kind>,
    duration: f64,
    rounds: u32,
    quick: bool,
    throughput: bool,
    restart: bool,
    out: Option<PathBuf>,
    replot: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        brokers: vec![Kind::Mosquitto, Kind::Ours],
        duration: 10.0,
        rounds: 3,
        quick: false,
        throughput: true,
        restart: true,
        out: None,
        replot: false,
    };
    let (mut duration, mut rounds) = (None, None);
    let mut words = OptionWords::new(args);
    while let Some((name, inline)) = words.next_option() {
        let mut value = || words.value(name, inline.clone());
        match name {
            "--brokers" => {
                o.brokers = parse_brokers(
                    &value()?,
                    &[Kind::Mosquitto, Kind::Ours],
                    "mosquitto or ours",
                )?;
            }
            "--duration" => duration = Some(parse_duration(&value()?)?),
            "--rounds" => {
                let v = value()?;
                let n: u32 = v
                    .parse()
                    .map_err(|_| format!("--rounds: \"{v}\" is not a whole number"))?;
                if n == 0 {
                    return Err("--rounds must be at least 1".to_owned());
                }
                rounds = Some(n);
            }
            "--quick" => o.quick = true,
            "--only" => match value()?.as_str() {
                "throughput" => o.restart = false,
                "restart" => o.throughput = false,
                other => {
                    return Err(format!(
                        "--only: \"{other}\" (expected throughput or restart)"
                    ))
                }
            },
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--replot" => o.replot = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown option \"{other}\"")),
        }
    }
    o.duration = duration.unwrap_or(if o.quick { 2.0 } else { 10.0 });
    o.rounds = rounds.unwrap_or(if o.quick { 1 } else { 3 });
    Ok(o)
}

/// How a configuration keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    /// `persistence false`.
    Memory,
    /// `persistence true` with the default sync mode: ours `ack`, Mosquitto's snapshots.
    Default,
    /// Ours with `persistence_sync periodic`.
    Periodic,
}

/// One throughput configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Variant {
    id: &'static str,
    title: &'static str,
    kind: Kind,
    store: Store,
    /// `max_inflight_messages` and mqtt-bench's `--inflight`; `None`: the defaults (20).
    window: Option<u16>,
}

/// The throughput configurations, in the order they take turns in a round.
fn variants() -> Vec<Variant> {
    let v = |id, title, kind, store, window| Variant {
        id,
        title,
        kind,
        store,
        window,
    };
    vec![
        v(
            table::MEMORY,
            "ours, in memory",
            Kind::Ours,
            Store::Memory,
            None,
        ),
        v(
            table::ACK,
            "ours, persistence true (sync ack)",
            Kind::Ours,
            Store::Default,
            None,
        ),
        v(
            "ours-periodic",
            "ours, persistence_sync periodic",
            Kind::Ours,
            Store::Periodic,
            None,
        ),
        v(
            table::MOSQUITTO_PERSIST,
            "Mosquitto, persistence true",
            Kind::Mosquitto,
            Store::Default,
            None,
        ),
        v(
            "mosquitto-memory",
            "Mosquitto, in memory",
            Kind::Mosquitto,
            Store::Memory,
            None,
        ),
        v(
            "ours-memory-w100",
            "ours, in memory, window 100",
            Kind::Ours,
            Store::Memory,
            Some(WIDE_WINDOW),
        ),
        v(
            "ours-ack-w100",
            "ours, sync ack, window 100",
            Kind::Ours,
            Store::Default,
            Some(WIDE_WINDOW),
        ),
    ]
}

fn port_of(kind: Kind) -> u16 {
    if kind == Kind::Mosquitto {
        MOSQUITTO_PORT
    } else {
        OURS_PORT
    }
}

/// The configuration file of `kind` keeping its state as `store` says in `dir`.
fn config_text(kind: Kind, store: Store, dir: &Path, window: Option<u16>) -> String {
    let mut c = format!(
        "# Written by `xtask bench-persistence` (bench/persistence.sh) for one run.\n\
         listener {} 127.0.0.1\nallow_anonymous true\n",
        port_of(kind)
    );
    match store {
        Store::Memory => c.push_str("persistence false\n"),
        Store::Default | Store::Periodic => {
            // Mosquitto wants the trailing slash (it appends the file name as is).
            c.push_str(&format!(
                "persistence true\npersistence_location {}/\n",
                dir.display()
            ));
            match (kind, store) {
                (Kind::Ours, Store::Periodic) => c.push_str("persistence_sync periodic\n"),
                (Kind::Ours, _) => c.push_str("# persistence_sync: the default, ack\n"),
                _ => c.push_str("# autosave_interval: the default, 1800 s\n"),
            }
        }
    }
    if let Some(w) = window {
        c.push_str(&format!("max_inflight_messages {w}\n"));
    }
    c.push_str("log_dest stderr\nlog_type error\nlog_type warning\n");
    c
}

/// The filesystem holding `dir`, from `df -T -P`'s second line: (device, type, mount point).
fn parse_df(text: &str) -> Option<(String, String, String)> {
    let line = text.lines().nth(1)?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let (device, kind, mount) = (words.first()?, words.get(1)?, words.last()?);
    (words.len() >= 7).then(|| {
        (
            (*device).to_owned(),
            (*kind).to_owned(),
            (*mount).to_owned(),
        )
    })
}

/// The total size of the files in `dir` (not recursive: each store is one directory).
fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// CPU ticks of each thread of process `pid`: (thread id, name, ticks).
fn thread_ticks(pid: u32) -> Vec<(String, String, u64)> {
    let dir = format!("/proc/{pid}/task");
    let Ok(tasks) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| {
            let stat = fs::read_to_string(t.path().join("stat")).ok()?;
            let ticks = brokers::stat_cpu_ticks(&stat).ok()?;
            let name = fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            Some((
                t.file_name().to_string_lossy().into_owned(),
                name.trim().to_owned(),
                ticks,
            ))
        })
        .collect()
}

/// The thread that used the most CPU between two [`thread_ticks`] readings: its name and its
/// CPU seconds.
fn busiest_thread(
    before: &[(String, String, u64)],
    after: &[(String, String, u64)],
    clk_tck: f64,
) -> Option<(String, f64)> {
    after
        .iter()
        .map(|(tid, name, ticks)| {
            let was = before
                .iter()
                .find(|(t, _, _)| t == tid)
                .map_or(0, |(_, _, v)| *v);
            (name.clone(), ticks.saturating_sub(was) as f64 / clk_tck)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The `p`-th percentile (0-100, nearest rank) of `values`.
fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.clamp(1, v.len().max(1)) - 1).copied()
}

/// What one fsync costs in `dir`: `n` times, 4 KiB written at the start of a file, then
/// `fsync`; the median and 99th percentile in milliseconds. It is the floor of an ack-mode
/// commit (redb adds its own writes to each).
fn fsync_latency(dir: &Path, n: usize) -> Result<(f64, f64), String> {
    use std::io::{Seek, SeekFrom, Write};
    let path = dir.join("fsync-probe");
    let mut f = fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let block = [0x5au8; 4096];
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(&block))
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    drop(f);
    let _ = fs::remove_file(&path);
    match (percentile(&times, 50.0), percentile(&times, 99.0)) {
        (Some(p50), Some(p99)) => Ok((p50, p99)),
        _ => Err("no fsync timed".to_owned()),
    }
}

/// A fresh directory for one broker's store and configuration, removed when dropped. Open to
/// everyone: started as root, both brokers switch to the `mosquitto` user before writing.
struct Workdir {
    path: PathBuf,
}

impl Workdir {
    fn new(base: &Path, name: &str) -> Result<Workdir, String> {
        let path = base.join(name);
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(path.join("store"))
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        for p in [path.clone(), path.join("store")] {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o777))
                .map_err(|e| format!("cannot chmod {}: {e}", p.display()))?;
        }
        Ok(Workdir { path })
    }

    fn store(&self) -> PathBuf {
        self.path.join("store")
    }

    /// Writes the configuration and returns the broker to start with it.
    fn broker(&self, binaries: &Binaries, kind: Kind, config: &str) -> Result<Broker, String> {
        let path = self.path.join("broker.conf");
        fs::write(&path, config).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let (binary, version) = binaries.of(kind)?;
        Ok(Broker {
            kind,
            binary: binary.clone(),
            config: path,
            port: port_of(kind),
            version: version.clone(),
        })
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The brokers' binaries and versions.
struct Binaries(Vec<(Kind, PathBuf, String)>);

impl Binaries {
    fn of(&self, kind: Kind) -> Result<(&PathBuf, &String), String> {
        self.0
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, b, v)| (b, v))
            .ok_or_else(|| format!("{kind}: not located"))
    }
}

/// Entry point of `xtask bench-persistence`.
pub(crate) fn main(root: &Path, args: &[String]) -> ExitCode {
    crate::compare::bench_main("bench-persistence", USAGE, args, parse_options, |options| {
        let out = options
            .out
            .clone()
            .unwrap_or_else(|| root.join("target/bench-persistence"));
        if options.replot {
            crate::compare::read_results(&out).and_then(|doc| write_table(&doc, &out))
        } else {
            run(root, options, &out)
        }
    })
}

fn write_table(doc: &Value, out: &Path) -> Result<String, String> {
    let t = table::markdown(doc);
    let p = out.join("table.md");
    fs::write(&p, &t).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    Ok(t)
}

/// One throughput run: a fresh broker and store, the fan-in run, a SIGTERM; the figures.
fn throughput_run(
    v: &Variant,
    binaries: &Binaries,
    base: &Path,
    logs: &Path,
    round: u32,
    g: &Generator<'_>,
) -> Result<(Map<String, Value>, Value), String> {
    let work = Workdir::new(base, &format!("{}-{round}", v.id))?;
    let broker = work.broker(
        binaries,
        v.kind,
        &config_text(v.kind, v.store, &work.store(), v.window),
    )?;
    let log = logs.join(format!("{}-{round}.log", v.id));
    let mut running = Running::start(&broker, None, &log, Duration::from_secs(60))?;
    let scenario = Scenario {
        id: "fan-in-q1-persistent",
        title: "fan-in QoS 1 (8 -> 1 persistent subscriber)",
        load: Load::Messages {
            mode: "fan-in",
            clients: scenarios::FAN_IN_PUBLISHERS,
            qos: 1,
            rate: 0.0,
        },
    };
    let threads_before = thread_ticks(running.pid);
    let outcome = scenarios::run(&scenario, &running, broker.port, g);
    let busiest = busiest_thread(&threads_before, &thread_ticks(running.pid), g.clk_tck);
    if let Some(status) = running.exited() {
        return Err(format!(
            "{} exited ({status}) during the run; {}",
            v.id,
            running.log_tail()
        ));
    }
    let (mut f, report) = outcome?;
    // A thread near 1.0 of the wall time (which includes connecting and the drain) was the
    // bottleneck: in ack mode, typically the store's writer.
    if let Some((name, cpu_s)) = busiest {
        f.insert("busiest_thread".into(), json!(name));
        f.insert("busiest_thread_cpu_s".into(), json!(cpu_s));
        if let Some(wall) = f.get("wall_s").and_then(Value::as_f64) {
            f.insert("busiest_thread_cores".into(), json!(cpu_s / wall));
        }
    }
    let (_, stop) = running.stop("TERM", Duration::from_secs(120))?;
    f.insert("stop_s".into(), json!(stop.as_secs_f64()));
    f.insert("store_bytes".into(), json!(dir_bytes(&work.store())));
    Ok((f, report))
}

/// One restart measurement: fill a fresh broker, stop it with `signal`, start it again, time
/// the first CONNACK, check what it restored.
fn restart_run(
    kind: Kind,
    signal: &str,
    plan: Fill,
    binaries: &Binaries,
    base: &Path,
    logs: &Path,
) -> Result<Map<String, Value>, String> {
    let work = Workdir::new(base, &format!("restart-{kind}-{signal}"))?;
    let broker = work.broker(
        binaries,
        kind,
        &config_text(kind, Store::Default, &work.store(), None),
    )?;
    let log = logs.join(format!("restart-{kind}-{signal}-fill.log"));
    let mut running = Running::start(&broker, None, &log, Duration::from_secs(60))?;
    eprint!("[restart] {kind} SIG{signal}: filling... ");
    let mut f = restart::fill(broker.port, plan).map_err(|e| {
        let tail = running.log_tail();
        format!("fill: {e}; {tail}")
    })?;
    if let Some(status) = running.exited() {
        return Err(format!(
            "exited ({status}) during the fill; {}",
            running.log_tail()
        ));
    }
    f.insert(
        "store_bytes_before_stop".into(),
        json!(dir_bytes(&work.store())),
    );
    f.insert("rss_filled_bytes".into(), json!(running.rss_bytes().ok()));
    let (status, stop) = running.stop(signal, Duration::from_secs(600))?;
    f.insert("stop_s".into(), json!(stop.as_secs_f64()));
    f.insert("stop_status".into(), json!(status.to_string()));
    f.insert("store_bytes".into(), json!(dir_bytes(&work.store())));
    drop(running);
    let log = logs.join(format!("restart-{kind}-{signal}-start.log"));
    let spawned = Instant::now();
    let mut running = Running::spawn(&broker, None, &log)?;
    let connack =
        restart::first_connack(&mut running, broker.port, spawned, Duration::from_secs(600))?;
    f.insert("connack_s".into(), json!(connack.as_secs_f64()));
    f.insert(
        "rss_after_start_bytes".into(),
        json!(running.rss_bytes().ok()),
    );
    let verified = restart::verify(broker.port, plan)?;
    f.extend(verified);
    let _ = running.stop("TERM", Duration::from_secs(600));
    eprintln!(
        "spawn to CONNACK {:.3} s, store {} bytes",
        connack.as_secs_f64(),
        f.get("store_bytes").and_then(Value::as_u64).unwrap_or(0)
    );
    Ok(f)
}

fn run(root: &Path, o: &Options, out: &Path) -> Result<String, String> {
    let bench = bench_binary(root, "bench/persistence.sh")?;
    let mut located = Vec::new();
    let mut missing = Vec::new();
    for &kind in &o.brokers {
        match brokers::binary(kind, root) {
            Ok(b) => {
                let version = brokers::version_of(kind, &b);
                located.push((kind, b, version));
            }
            Err(e) => missing.push(e),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "{}\nTo run without the missing ones, name the others, e.g. `--brokers ours`.",
            missing.join("\n")
        ));
    }
    let binaries = Binaries(located);
    let logs = out.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;
    let base = std::env::temp_dir().join(format!("bench-persistence-{}", std::process::id()));
    fs::create_dir_all(&base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    let _base_guard = Workdir { path: base.clone() };
    let df = command_line("df", &["-T", "-P", &base.to_string_lossy()]);
    let fs_info = df.as_deref().and_then(parse_df);
    let mut notes = Vec::new();
    match &fs_info {
        Some((_, t, _)) if t == "tmpfs" || t == "ramfs" => notes.push(format!(
            "the stores were on {t} ({}): fsync costs nothing there; set TMPDIR to a directory \
             on a disk",
            base.display()
        )),
        None => notes.push(format!(
            "could not tell the filesystem of {}",
            base.display()
        )),
        _ => {}
    }
    let fsync = fsync_latency(&base, 200);
    match &fsync {
        Ok((p50, p99)) => eprintln!(
            "stores in {} ({}); fsync of 4 KiB: p50 {p50:.2} ms, p99 {p99:.2} ms",
            base.display(),
            fs_info.as_ref().map_or("?", |f| f.1.as_str())
        ),
        Err(e) => notes.push(format!("fsync probe failed: {e}")),
    }
    let (clk_tck, clk_assumed) = brokers::clk_tck();
    if clk_assumed {
        notes.push("getconf CLK_TCK failed: assumed 100 ticks per second".to_owned());
    }

    let all_variants: Vec<Variant> = variants()
        .into_iter()
        .filter(|v| o.brokers.contains(&v.kind))
        .collect();
    let mut throughput = Vec::new();
    if o.throughput {
        for round in 1..=o.rounds {
            for v in &all_variants {
                let mut extra = vec!["--persistent-subscribers".to_owned()];
                if let Some(w) = v.window {
                    extra.extend(["--inflight".to_owned(), w.to_string()]);
                }
                let g = Generator {
                    bench: &bench,
                    cpu: None,
                    clk_tck,
                    duration: o.duration,
                    hold: 0.0,
                    extra_args: &extra,
                };
                eprint!("[round {round}/{}] {}: ", o.rounds, v.id);
                let outcome = throughput_run(v, &binaries, &base, &logs, round, &g);
                let (ok, error, figures, report) =
                    match outcome {
                        Ok((f, r)) => {
                            eprintln!(
                            "{} received/s, lost {}, dup {}, broker {:.2} CPU-s, store {} bytes",
                            f.get("received_per_s").and_then(Value::as_f64).unwrap_or(0.0) as u64,
                            f.get("losses").and_then(Value::as_f64).unwrap_or(-1.0),
                            f.get("duplicates").and_then(Value::as_f64).unwrap_or(-1.0),
                            f.get("broker_cpu_s").and_then(Value::as_f64).unwrap_or(0.0),
                            f.get("store_bytes").and_then(Value::as_u64).unwrap_or(0)
                        );
                            (true, Value::Null, Value::Object(f), r)
                        }
                        Err(e) => {
                            eprintln!("FAILED: {e}");
                            notes.push(format!("{} round {round}: {e}", v.id));
                            (false, json!(e), json!({}), Value::Null)
                        }
                    };
                throughput.push(json!({
                    "variant": v.id,
                    "round": round,
                    "ok": ok,
                    "error": error,
                    "figures": figures,
                    "bench": report,
                }));
            }
        }
    }

    let plan = if o.quick {
        Fill {
            retained: 10_000,
            sessions: 1_000,
            queued_per_session: 5,
        }
    } else {
        Fill {
            retained: 100_000,
            sessions: 10_000,
            queued_per_session: 5,
        }
    };
    let mut restarts = Vec::new();
    if o.restart {
        for kind in [Kind::Ours, Kind::Mosquitto] {
            if !o.brokers.contains(&kind) {
                continue;
            }
            for signal in ["TERM", "KILL"] {
                let outcome = restart_run(kind, signal, plan, &binaries, &base, &logs);
                let (ok, error, figures) = match outcome {
                    Ok(f) => (true, Value::Null, Value::Object(f)),
                    Err(e) => {
                        eprintln!("FAILED: {e}");
                        notes.push(format!("restart {kind} SIG{signal}: {e}"));
                        (false, json!(e), json!({}))
                    }
                };
                restarts.push(json!({
                    "broker": kind.name(),
                    "stop": format!("SIG{signal}"),
                    "ok": ok,
                    "error": error,
                    "plan": {
                        "retained": plan.retained,
                        "sessions": plan.sessions,
                        "queued_per_session": plan.queued_per_session,
                    },
                    "figures": figures,
                }));
            }
        }
    }

    let mut doc = json!({
        "date": command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "commit": command_line("git", &["-C", &root.to_string_lossy(), "rev-parse", "--short", "HEAD"]),
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
            "clk_tck": clk_tck,
            "fd_limit": fd_limit(),
        },
        "store_filesystem": {
            "directory": base,
            "device": fs_info.as_ref().map(|f| f.0.clone()),
            "type": fs_info.as_ref().map(|f| f.1.clone()),
            "mount": fs_info.as_ref().map(|f| f.2.clone()),
            "fsync_4k_p50_ms": fsync.as_ref().ok().map(|f| f.0),
            "fsync_4k_p99_ms": fsync.as_ref().ok().map(|f| f.1),
        },
        "options": {
            "duration_s": o.duration,
            "rounds": o.rounds,
            "quick": o.quick,
            "payload_bytes": scenarios::SIZE,
            "publishers": scenarios::FAN_IN_PUBLISHERS,
            "wide_window": WIDE_WINDOW,
        },
        "brokers": binaries.0.iter().map(|(k, b, v)| json!({
            "name": k.name(), "binary": b, "version": v, "port": port_of(*k),
        })).collect::<Vec<_>>(),
        "variants": all_variants.iter().map(|v| json!({
            "id": v.id,
            "title": v.title,
            "broker": v.kind.name(),
            "config": config_text(v.kind, v.store, Path::new("STORE"), v.window),
        })).collect::<Vec<_>>(),
        "notes": notes,
        "throughput": throughput,
        "restart": restarts,
    });
    let summary = table::summary(&doc);
    if let Some(map) = doc.as_object_mut() {
        map.insert("summary".into(), summary);
    }
    crate::compare::write_results(&doc, out)?;
    write_table(&doc, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&[]).unwrap();
        assert_eq!(o.brokers, [Kind::Mosquitto, Kind::Ours]);
        assert_eq!((o.duration, o.rounds), (10.0, 3));
        assert!(o.throughput && o.restart);
        let o = parse_options(&args("--brokers ours --quick --only=restart")).unwrap();
        assert_eq!(o.brokers, [Kind::Ours]);
        assert_eq!((o.duration, o.rounds), (2.0, 1));
        assert!(!o.throughput && o.restart);
        let o = parse_options(&args("--quick --rounds 2 --duration 5")).unwrap();
        assert_eq!((o.duration, o.rounds), (5.0, 2));
        assert!(parse_options(&args("--brokers rumqttd")).is_err());
        assert!(parse_options(&args("--rounds 0")).is_err());
        assert!(parse_options(&args("--only both")).is_err());
        assert_eq!(parse_options(&args("--help")), Err(String::new()));
    }

    #[test]
    fn configs() {
        let dir = Path::new("/tmp/x/store");
        let ack = config_text(Kind::Ours, Store::Default, dir, None);
        assert!(ack.contains("listener 28843 127.0.0.1\n"));
        assert!(ack.contains("persistence true\npersistence_location /tmp/x/store/\n"));
        assert!(
            !ack.contains("\npersistence_sync"),
            "ack is the default: {ack}"
        );
        let periodic = config_text(Kind::Ours, Store::Periodic, dir, Some(100));
        assert!(periodic.contains("\npersistence_sync periodic\n"));
        assert!(periodic.contains("\nmax_inflight_messages 100\n"));
        let mosquitto = config_text(Kind::Mosquitto, Store::Default, dir, None);
        assert!(mosquitto.contains("listener 28841 127.0.0.1\n"));
        assert!(mosquitto.contains("persistence_location /tmp/x/store/\n"));
        let memory = config_text(Kind::Mosquitto, Store::Memory, dir, None);
        assert!(memory.contains("persistence false\n"));
        assert!(!memory.contains("persistence_location"));
        // Every configuration is one our broker's parser accepts, meaning what it says.
        use mqtt_broker::config::{Config, PersistenceSync};
        for v in variants() {
            let text = config_text(v.kind, v.store, dir, v.window);
            let c = Config::parse_mosquitto(&text, Path::new("b.conf"))
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", v.id))
                .config;
            assert_eq!(c.persistence.enabled, v.store != Store::Memory, "{}", v.id);
            if c.persistence.enabled {
                assert_eq!(c.persistence.path(), dir.join("mqtt-broker.db"));
                let sync = if v.store == Store::Periodic && v.kind == Kind::Ours {
                    PersistenceSync::Periodic
                } else {
                    PersistenceSync::Ack
                };
                assert_eq!(c.persistence.sync, sync, "{}", v.id);
            }
        }
    }

    #[test]
    fn the_goal_variants_exist() {
        let ids: Vec<&str> = variants().iter().map(|v| v.id).collect();
        for (a, b, _) in table::GOALS {
            assert!(ids.contains(&a) && ids.contains(&b));
        }
        for (a, b) in table::WINDOW_PAIRS {
            assert!(ids.contains(&a) && ids.contains(&b));
        }
    }

    #[test]
    fn reads_df() {
        let text = "Filesystem     Type 1024-blocks     Used Available Capacity Mounted on\n\
                    /dev/vda       ext4   263174212 84000000  11000000      89% /\n";
        assert_eq!(
            parse_df(text),
            Some(("/dev/vda".to_owned(), "ext4".to_owned(), "/".to_owned()))
        );
        assert_eq!(parse_df("Filesystem\n"), None);
    }

    #[test]
    fn finds_the_busiest_thread() {
        let t = |tid: &str, name: &str, ticks| (tid.to_owned(), name.to_owned(), ticks);
        let before = [t("1", "main", 10), t("2", "writer", 100)];
        let after = [t("1", "main", 60), t("2", "writer", 130), t("3", "new", 40)];
        assert_eq!(
            busiest_thread(&before, &after, 100.0),
            Some(("main".to_owned(), 0.5))
        );
        assert_eq!(busiest_thread(&before, &[], 100.0), None);
        // Our own threads can be read.
        assert!(!thread_ticks(std::process::id()).is_empty());
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn dir_bytes_counts_files() {
        let dir = std::env::temp_dir().join(format!("pbench-size-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a"), [0u8; 10]).unwrap();
        fs::write(dir.join("b"), [0u8; 5]).unwrap();
        assert_eq!(dir_bytes(&dir), 15);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(dir_bytes(&dir), 0);
    }
}
