//! `cargo run --release -p xtask -- bench-compare [OPTIONS]` (normally through
//! `bench/compare.sh`): runs the same mqtt-bench matrix against Mosquitto, rumqttd and our
//! `mqtt-broker`, in turn, in one run, and writes `results.json`, `table.md` and SVG charts.
//!
//! Figures are compared as ratios within one run because the machine they were written for is
//! shared and noisy. The key figure is messages delivered per broker CPU-second: the broker's
//! `utime + stime` from `/proc/PID/stat` around each mqtt-bench run, so it holds whether or not
//! the load generator kept the broker busy. The load generator's own CPU time is recorded beside
//! it to show when mqtt-bench, not the broker, was the bottleneck.
//!
//! Nothing is installed: a missing peer broker is an error that says how to get it, unless
//! `--brokers` leaves it out explicitly.
//!
//! Modules: [`brokers`] (binaries, start/stop, pinning, `/proc`), [`scenarios`] (the matrix and
//! one mqtt-bench run), [`table`] (Markdown), [`plot`] (SVG).

pub(crate) mod brokers;
mod plot;
pub(crate) mod scenarios;
pub(crate) mod table;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use serde_json::{json, Map, Value};

use brokers::{Broker, Kind, Running};
use scenarios::{Generator, Scenario, Subscriptions};

/// What a session runs: a plain scenario, or one under many held subscriptions.
#[derive(Debug, Clone, Copy)]
enum Item<'a> {
    Plain(&'a Scenario),
    Subs(&'a Subscriptions),
}

impl Item<'_> {
    fn scenario(&self) -> &Scenario {
        match self {
            Item::Plain(s) => s,
            Item::Subs(s) => &s.measured,
        }
    }
}

const USAGE: &str = "usage: cargo run --release -p xtask -- bench-compare [--brokers LIST] \
[--duration SECS] [--quick] [--placement pinned|unpinned|both] [--out DIR] [--replot]

  --brokers LIST   comma-separated, of mosquitto, rumqttd, ours [default: all three; a missing
                   peer is then an error]
  --duration SECS  publishing time of each message scenario [default: 10; 2 with --quick]
  --quick          short smoke run (2 s per scenario)
  --placement P    pinned (broker on CPU 0, mqtt-bench on CPU 1), unpinned, or both [default]
  --out DIR        where results.json, table.md and the SVGs go [default: target/bench-compare]
  --replot         only rewrite table.md and the SVGs from DIR/results.json";

/// The command line.
#[derive(Debug, Clone, PartialEq)]
struct Options {
    brokers: Vec<Kind>,
    brokers_explicit: bool,
    duration: f64,
    quick: bool,
    placements: Vec<Placement>,
    out: Option<PathBuf>,
    replot: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    Pinned,
    Unpinned,
}

impl Placement {
    fn name(self) -> &'static str {
        match self {
            Placement::Pinned => "pinned",
            Placement::Unpinned => "unpinned",
        }
    }

    /// CPUs of the broker and of mqtt-bench.
    fn cpus(self) -> (Option<u32>, Option<u32>) {
        match self {
            Placement::Pinned => (Some(0), Some(1)),
            Placement::Unpinned => (None, None),
        }
    }
}

/// The `--name value`, `--name=value` and `--flag` words of a bench command line.
pub(crate) struct OptionWords<'a> {
    it: std::slice::Iter<'a, String>,
}

impl<'a> OptionWords<'a> {
    pub(crate) fn new(args: &'a [String]) -> Self {
        OptionWords { it: args.iter() }
    }

    /// The next option's name, and its value when written `--name=value`.
    pub(crate) fn next_option(&mut self) -> Option<(&'a str, Option<String>)> {
        let arg = self.it.next()?;
        Some(match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_owned())),
            _ => (arg.as_str(), None),
        })
    }

    /// The value of option `name`: the inline one, or the next word.
    pub(crate) fn value(&mut self, name: &str, inline: Option<String>) -> Result<String, String> {
        inline
            .or_else(|| self.it.next().cloned())
            .ok_or(format!("{name} needs a value"))
    }
}

/// `--brokers LIST`: the brokers among `allowed`, sorted, each once; `expected` lists them for
/// the error message.
pub(crate) fn parse_brokers(
    list: &str,
    allowed: &[Kind],
    expected: &str,
) -> Result<Vec<Kind>, String> {
    let mut brokers = Vec::new();
    for item in list.split(',').filter(|s| !s.trim().is_empty()) {
        let kind = Kind::parse(item)
            .filter(|k| allowed.contains(k))
            .ok_or(format!("unknown broker \"{item}\" (expected {expected})"))?;
        if !brokers.contains(&kind) {
            brokers.push(kind);
        }
    }
    if brokers.is_empty() {
        return Err("--brokers needs at least one broker".to_owned());
    }
    brokers.sort();
    Ok(brokers)
}

/// `--duration SECS`: a positive number of seconds.
pub(crate) fn parse_duration(v: &str) -> Result<f64, String> {
    let d: f64 = v
        .parse()
        .map_err(|_| format!("--duration: \"{v}\" is not a number"))?;
    if !(d.is_finite() && d > 0.0) {
        return Err("--duration must be a positive number of seconds".to_owned());
    }
    Ok(d)
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        brokers: Kind::ALL.to_vec(),
        brokers_explicit: false,
        duration: 10.0,
        quick: false,
        placements: vec![Placement::Pinned, Placement::Unpinned],
        out: None,
        replot: false,
    };
    let mut duration = None;
    let mut words = OptionWords::new(args);
    while let Some((name, inline)) = words.next_option() {
        let mut value = || words.value(name, inline.clone());
        match name {
            "--brokers" => {
                o.brokers = parse_brokers(&value()?, &Kind::ALL, "mosquitto, rumqttd or ours")?;
                o.brokers_explicit = true;
            }
            "--duration" => duration = Some(parse_duration(&value()?)?),
            "--quick" => o.quick = true,
            "--placement" => {
                o.placements = match value()?.as_str() {
                    "pinned" => vec![Placement::Pinned],
                    "unpinned" => vec![Placement::Unpinned],
                    "both" => vec![Placement::Pinned, Placement::Unpinned],
                    other => {
                        return Err(format!(
                            "--placement: \"{other}\" (expected pinned, unpinned or both)"
                        ))
                    }
                }
            }
            "--out" => o.out = Some(PathBuf::from(value()?)),
            "--replot" => o.replot = true,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown option \"{other}\"")),
        }
    }
    o.duration = duration.unwrap_or(if o.quick { 2.0 } else { 10.0 });
    Ok(o)
}

/// Entry point of `xtask bench-compare`.
pub(crate) fn main(root: &Path, args: &[String]) -> ExitCode {
    bench_main("bench-compare", USAGE, args, parse_options, |options| {
        let out = options
            .out
            .clone()
            .unwrap_or_else(|| root.join("target/bench-compare"));
        if options.replot {
            read_results(&out).and_then(|doc| write_outputs(&doc, &out))
        } else {
            run(root, options, &out)
        }
    })
}

/// The shape both bench commands share: options (an empty error means `--help`), then `body`,
/// whose table is printed; exit 0, 1 when it failed, 2 for bad options.
pub(crate) fn bench_main<O>(
    name: &str,
    usage: &str,
    args: &[String],
    parse: impl FnOnce(&[String]) -> Result<O, String>,
    body: impl FnOnce(&O) -> Result<String, String>,
) -> ExitCode {
    let options = match parse(args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{name}: {e}\n{usage}");
            return ExitCode::from(2);
        }
    };
    match body(&options) {
        Ok(table) => {
            println!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The results document a run wrote to `out` (for `--replot`).
pub(crate) fn read_results(out: &Path) -> Result<Value, String> {
    let path = out.join("results.json");
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes the results document of a run to `out` (what `read_results` reads back).
pub(crate) fn write_results(doc: &Value, out: &Path) -> Result<(), String> {
    let path = out.join("results.json");
    let text = serde_json::to_string_pretty(doc).map_err(|e| format!("results.json: {e}"))?;
    fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes table.md and the SVGs from the results document; returns the table.
fn write_outputs(doc: &Value, out: &Path) -> Result<String, String> {
    let write = |name: &str, text: &str| {
        let p = out.join(name);
        fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    let mut table = table::markdown(doc);
    let scaling = table::scaling_markdown(doc);
    if !scaling.is_empty() {
        table.push_str("\nScaling without pinning (unpinned figure / pinned figure):\n\n");
        table.push_str(&scaling);
    }
    let notes: Vec<&str> = doc
        .get("notes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !notes.is_empty() {
        table.push_str("\nNotes:\n\n");
        for n in notes {
            table.push_str(&format!("- {n}\n"));
        }
    }
    write("table.md", &table)?;
    let (placements, _) = table::axes(doc);
    for p in &placements {
        write(&format!("compare-{p}.svg"), &plot::efficiency(doc, p).svg())?;
    }
    write("compare-latency.svg", &plot::latency(doc).svg())?;
    Ok(table)
}

/// Whether the mqtt-bench build offers `--filters-per-client` (the subscriptions scenario).
fn bench_has_filters_per_client(bench: &Path) -> bool {
    Command::new(bench)
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--filters-per-client"))
        .unwrap_or(false)
}

pub(crate) fn command_line(cmd: &str, args: &[&str]) -> Option<String> {
    let o = Command::new(cmd).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The soft open-files limit, which the brokers inherit.
pub(crate) fn fd_limit() -> Option<u64> {
    let limits = fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// One result entry of results.json.
fn entry(
    placement: Placement,
    kind: Kind,
    scenario: &Scenario,
    outcome: Result<(Map<String, Value>, Value), String>,
) -> Value {
    let (ok, error, figures, bench) = match outcome {
        Ok((f, b)) => (true, Value::Null, Value::Object(f), b),
        Err(e) => (false, json!(e), json!({}), Value::Null),
    };
    json!({
        "placement": placement.name(),
        "broker": kind.name(),
        "scenario": scenario.id,
        "ok": ok,
        "error": error,
        "figures": figures,
        "bench": bench,
    })
}

/// Runs `scenarios` against one broker in one placement, restarting it if it dies (the dead
/// scenario's figures are marked missing), and appends their entries to `results`.
fn session(
    broker: &Broker,
    placement: Placement,
    items: &[Item<'_>],
    g: &Generator<'_>,
    logs: &Path,
    results: &mut Vec<Value>,
    notes: &mut Vec<String>,
) {
    let (broker_cpu, _) = placement.cpus();
    let kind = broker.kind;
    let mut running: Option<Running> = None;
    let mut starts = 0;
    for item in items {
        let scenario = item.scenario();
        if running.is_none() {
            starts += 1;
            let log = logs.join(format!("{kind}-{}-{starts}.log", placement.name()));
            match Running::start(broker, broker_cpu, &log, Duration::from_secs(30)) {
                Ok(r) => running = Some(r),
                Err(e) => {
                    eprintln!("[{}] {kind}: {e}", placement.name());
                    // Every later scenario retries the start; one note says it for all.
                    let note = format!("{kind} ({}): {e}", placement.name());
                    if !notes.contains(&note) {
                        notes.push(note);
                    }
                    results.push(entry(placement, kind, scenario, Err(e)));
                    continue;
                }
            }
        }
        let Some(r) = running.as_mut() else { continue };
        eprint!("[{}] {kind} {}: ", placement.name(), scenario.id);
        let mut outcome = match item {
            Item::Plain(s) => scenarios::run(s, r, broker.port, g),
            Item::Subs(s) => scenarios::run_subscriptions(s, r, broker.port, g),
        };
        if let Some(status) = r.exited() {
            let e = format!(
                "{kind} exited ({status}) during {} ({}); its figures are missing. {}",
                scenario.id,
                placement.name(),
                r.log_tail()
            );
            notes.push(e.clone());
            outcome = Err(e);
            // Dropping the guard reaps it; the next scenario starts a fresh broker.
            running = None;
        }
        match &outcome {
            Ok((f, _)) => eprintln!("{}", summary(f)),
            Err(e) => eprintln!("FAILED: {e}"),
        }
        results.push(entry(placement, kind, scenario, outcome));
    }
}

/// One progress line for stderr.
fn summary(f: &Map<String, Value>) -> String {
    let n = |k: &str| f.get(k).and_then(Value::as_f64);
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), table::format_number);
    if let Some(rss) = n("rss_per_conn_bytes") {
        format!(
            "{} connected, {} B RSS/connection, {} connections/s",
            fmt(n("connected")),
            fmt(Some(rss)),
            fmt(n("conn_rate_per_s"))
        )
    } else {
        format!(
            "{} received/s, {} per broker CPU-s, lost {}, dup {}, p99 {} us, broker {} CPU-s, \
             mqtt-bench {} cores",
            fmt(n("received_per_s")),
            fmt(n("msgs_per_cpu_s")),
            fmt(n("losses")),
            fmt(n("duplicates")),
            fmt(n("p99_us")),
            fmt(n("broker_cpu_s")),
            fmt(n("bench_cores"))
        )
    }
}

/// The total rate of the latency scenario: half of Mosquitto's pinned fan-in QoS 1 received
/// rate, falling back (with a note) when that figure is missing.
fn latency_rate(doc_results: &[Value], notes: &mut Vec<String>) -> Option<f64> {
    let doc = json!({ "results": doc_results });
    let candidates = [
        ("pinned", "mosquitto"),
        ("unpinned", "mosquitto"),
        ("pinned", "ours"),
        ("unpinned", "ours"),
        ("pinned", "rumqttd"),
    ];
    for (i, (p, b)) in candidates.iter().enumerate() {
        if let Some(rate) = table::value(&doc, p, b, "fan-in-q1", "received_per_s") {
            if rate > 0.0 {
                if i > 0 {
                    notes.push(format!(
                        "latency rate: Mosquitto's pinned fan-in QoS 1 figure is missing; used \
                         half of {b}'s {p} one instead"
                    ));
                }
                return Some(rate / 2.0);
            }
        }
    }
    None
}

/// The release `mqtt-bench` of the [`brokers::target_dir`]; `script` is the wrapper that
/// builds it, for the error.
pub(crate) fn bench_binary(root: &Path, script: &str) -> Result<PathBuf, String> {
    let bench = brokers::target_dir(root).join("release/mqtt-bench");
    if bench.is_file() {
        Ok(bench)
    } else {
        Err(format!(
            "{} not found: build it with `cargo build --release -p mqtt-cli` ({script} does)",
            bench.display()
        ))
    }
}

fn run(root: &Path, o: &Options, out: &Path) -> Result<String, String> {
    let bench = bench_binary(root, "bench/compare.sh")?;
    let mut located = Vec::new();
    let mut missing = Vec::new();
    for &kind in &o.brokers {
        match brokers::locate(kind, root) {
            Ok(b) => located.push(b),
            Err(e) => missing.push(e),
        }
    }
    if !missing.is_empty() {
        let hint = if o.brokers_explicit {
            String::new()
        } else {
            "\nTo compare without the missing ones, name the others explicitly, e.g. \
             `--brokers mosquitto,ours`."
                .to_owned()
        };
        return Err(format!("{}{hint}", missing.join("\n")));
    }
    if o.placements.contains(&Placement::Pinned) {
        if command_line("taskset", &["-c", "0", "true"]).is_none() {
            return Err(
                "pinned placement needs `taskset` (util-linux); use --placement unpinned"
                    .to_owned(),
            );
        }
        if std::thread::available_parallelism().map_or(0, |n| n.get()) < 2 {
            return Err("pinned placement needs 2 CPUs (0 and 1)".to_owned());
        }
    }
    let logs = out.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("cannot create {}: {e}", logs.display()))?;

    let (clk_tck, clk_assumed) = brokers::clk_tck();
    let mut notes = Vec::new();
    if clk_assumed {
        notes.push("getconf CLK_TCK failed: assumed 100 ticks per second".to_owned());
    }
    let fds = fd_limit();
    if fds.is_some_and(|n| n < u64::from(scenarios::IDLE_CONNECTIONS) + 100) {
        notes.push(format!(
            "the open-files limit is {} (brokers inherit it): the idle scenario's 10,000 \
             connections may be refused; raise it with `ulimit -n 20000`",
            fds.unwrap_or(0)
        ));
    }
    let hold = if o.quick { 3.0 } else { 5.0 };
    let matrix = scenarios::matrix();
    let mut results = Vec::new();
    for &placement in &o.placements {
        let g = Generator {
            bench: &bench,
            cpu: placement.cpus().1,
            clk_tck,
            duration: o.duration,
            hold,
            extra_args: &[],
        };
        let items: Vec<Item<'_>> = matrix.iter().map(Item::Plain).collect();
        for b in &located {
            session(b, placement, &items, &g, &logs, &mut results, &mut notes);
        }
    }
    let mut all_scenarios = matrix.clone();
    if let Some(rate) = latency_rate(&results, &mut notes) {
        let s = scenarios::latency(rate);
        notes.push(format!(
            "latency scenario: {} messages/s in total ({:.1}/s per publisher, `--rate`)",
            table::format_number(rate),
            rate / f64::from(scenarios::FAN_IN_PUBLISHERS)
        ));
        for &placement in &o.placements {
            let g = Generator {
                bench: &bench,
                cpu: placement.cpus().1,
                clk_tck,
                duration: o.duration,
                hold,
                extra_args: &[],
            };
            for b in &located {
                session(
                    b,
                    placement,
                    &[Item::Plain(&s)],
                    &g,
                    &logs,
                    &mut results,
                    &mut notes,
                );
            }
        }
        all_scenarios.push(s);
    } else {
        notes.push(
            "latency scenario skipped: no fan-in QoS 1 rate to derive its fixed rate from"
                .to_owned(),
        );
    }
    // The subscriptions scenario runs in the first placement only: it is about the router's
    // cost per subscription, not about placement, and it takes minutes per broker.
    if bench_has_filters_per_client(&bench) {
        let subs = scenarios::subscriptions();
        let items: Vec<Item<'_>> = subs.iter().map(Item::Subs).collect();
        if let Some(&placement) = o.placements.first() {
            let g = Generator {
                bench: &bench,
                cpu: placement.cpus().1,
                clk_tck,
                duration: o.duration,
                hold,
                extra_args: &[],
            };
            for b in &located {
                session(b, placement, &items, &g, &logs, &mut results, &mut notes);
            }
        }
        all_scenarios.extend(subs.iter().map(|s| s.measured.clone()));
    } else {
        notes.push(
            "subscriptions scenario (1,000,000 vs 1,000 unrelated subscriptions) not run: this \
             mqtt-bench has no --filters-per-client"
                .to_owned(),
        );
    }

    let doc = json!({
        "date": command_line("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "commit": command_line("git", &["-C", &root.to_string_lossy(), "rev-parse", "--short", "HEAD"]),
        "machine": {
            "cpus": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_owned()),
            "clk_tck": clk_tck,
            "clk_tck_assumed": clk_assumed,
            "fd_limit": fds,
        },
        "options": {
            "duration_s": o.duration,
            "quick": o.quick,
            "idle_hold_s": hold,
            "payload_bytes": scenarios::SIZE,
        },
        "brokers": o.brokers.iter().map(|k| k.name()).collect::<Vec<_>>(),
        "broker_details": located.iter().map(|b| json!({
            "name": b.kind.name(),
            "binary": b.binary,
            "config": b.config,
            "port": b.port,
            "version": b.version,
        })).collect::<Vec<_>>(),
        "placements": o.placements.iter().map(|p| p.name()).collect::<Vec<_>>(),
        "scenarios": all_scenarios.iter().map(|s| json!({"id": s.id, "title": s.title})).collect::<Vec<_>>(),
        "notes": notes,
        "results": results,
    });
    write_results(&doc, out)?;
    write_outputs(&doc, out)
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
        assert_eq!(o.brokers, Kind::ALL);
        assert!(!o.brokers_explicit);
        assert_eq!(o.duration, 10.0);
        assert_eq!(o.placements.len(), 2);
        let o =
            parse_options(&args("--brokers ours,mosquitto --quick --placement=pinned")).unwrap();
        assert_eq!(o.brokers, [Kind::Mosquitto, Kind::Ours]);
        assert!(o.brokers_explicit);
        assert_eq!(o.duration, 2.0);
        assert_eq!(o.placements, [Placement::Pinned]);
        assert!(parse_options(&args("--brokers nats")).is_err());
        assert!(parse_options(&args("--duration -1")).is_err());
        assert!(parse_options(&args("--duration")).is_err());
    }
}
