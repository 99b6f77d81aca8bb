//! The three brokers: where their binaries are, how they are started (pinned or not), the guard
//! that kills them, and the `/proc` readings (CPU seconds, resident memory) taken around each
//! mqtt-bench run.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// One of the brokers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Eclipse Mosquitto, from the distribution (`apt-get install mosquitto`).
    Mosquitto,
    /// rumqttd, from crates.io (`cargo install rumqttd`).
    Rumqttd,
    /// This workspace's `mqtt-broker`.
    Ours,
}

impl Kind {
    /// Every broker, in the order they run and appear in tables.
    pub(crate) const ALL: [Kind; 3] = [Kind::Mosquitto, Kind::Rumqttd, Kind::Ours];

    /// The name used on the command line, in results.json and in tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Mosquitto => "mosquitto",
            Kind::Rumqttd => "rumqttd",
            Kind::Ours => "ours",
        }
    }

    /// Parses a `--brokers` item.
    pub(crate) fn parse(s: &str) -> Option<Kind> {
        match s.trim() {
            "mosquitto" => Some(Kind::Mosquitto),
            "rumqttd" => Some(Kind::Rumqttd),
            "ours" | "mqtt-broker" => Some(Kind::Ours),
            _ => None,
        }
    }

    /// The configuration file, relative to the workspace.
    fn config(self) -> &'static str {
        match self {
            Kind::Mosquitto => "bench/mosquitto.conf",
            Kind::Rumqttd => "bench/rumqttd.toml",
            Kind::Ours => "bench/mqtt-broker.conf",
        }
    }

    /// How to get the binary, for the error when it is missing.
    fn install_hint(self) -> &'static str {
        match self {
            Kind::Mosquitto => "install it with `apt-get install mosquitto` (Debian/Ubuntu)",
            Kind::Rumqttd => {
                "install it with `cargo install rumqttd` (into ~/.cargo/bin; `--locked` fails to \
                 build on Rust 1.95 because of metrics 0.22.1)"
            }
            Kind::Ours => "build it with `cargo build --release -p mqtt-broker`",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broker that can be started: its binary, configuration and port.
#[derive(Debug, Clone)]
pub(crate) struct Broker {
    pub(crate) kind: Kind,
    pub(crate) binary: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) port: u16,
    /// What `--version` (or `-h`) says, for the record.
    pub(crate) version: String,
}

/// Searches `PATH`, then `extra` directories, for an executable `name`.
fn find_binary(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Where cargo puts this workspace's builds: `CARGO_TARGET_DIR` (relative to the workspace when
/// relative) or `target` in the workspace.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Locates `kind`'s binary and reads its port from its configuration. Installs nothing: a
/// missing binary is an error that says how to get it. `MOSQUITTO`, `RUMQTTD` and
/// `MQTT_BROKER` override the binary's path.
pub(crate) fn locate(kind: Kind, root: &Path) -> Result<Broker, String> {
    let binary = binary(kind, root)?;
    let config = root.join(kind.config());
    let text = fs::read_to_string(&config)
        .map_err(|e| format!("{kind}: cannot read {}: {e}", config.display()))?;
    let port = config_port(&text).ok_or_else(|| {
        format!(
            "{kind}: no loopback port found in {} (expected `listener PORT 127.0.0.1` or \
             `listen = \"127.0.0.1:PORT\"`)",
            config.display()
        )
    })?;
    let version = version_of(kind, &binary);
    Ok(Broker {
        kind,
        binary,
        config,
        port,
        version,
    })
}

/// `kind`'s binary (see [`locate`]): `MOSQUITTO`, `RUMQTTD` or `MQTT_BROKER`, else searched
/// for; ours is `release/mqtt-broker` in the [`target_dir`].
pub(crate) fn binary(kind: Kind, root: &Path) -> Result<PathBuf, String> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let (var, found) = match kind {
        // Debian installs mosquitto in /usr/sbin, which is not on a normal user's PATH.
        Kind::Mosquitto => (
            "MOSQUITTO",
            find_binary("mosquitto", &[PathBuf::from("/usr/sbin")]),
        ),
        // `cargo install` puts it in ~/.cargo/bin, which not every shell has on its PATH.
        Kind::Rumqttd => (
            "RUMQTTD",
            find_binary(
                "rumqttd",
                &home.map(|h| vec![h.join(".cargo/bin")]).unwrap_or_default(),
            ),
        ),
        Kind::Ours => {
            let p = target_dir(root).join("release/mqtt-broker");
            ("MQTT_BROKER", p.is_file().then_some(p))
        }
    };
    match std::env::var_os(var) {
        Some(p) => Ok(PathBuf::from(p)),
        None => found.ok_or_else(|| {
            format!(
                "{kind}: binary not found; {} (or set {var}=/path/to/binary)",
                kind.install_hint()
            )
        }),
    }
}

/// The port of the loopback listener of a Mosquitto-format or rumqttd TOML configuration: the
/// configuration files are the one place where the ports are written down.
pub(crate) fn config_port(text: &str) -> Option<u16> {
    text.lines().map(str::trim).find_map(|line| {
        if let Some(rest) = line.strip_prefix("listener ") {
            let mut words = rest.split_whitespace();
            let port = words.next()?.parse().ok()?;
            (words.next() == Some("127.0.0.1")).then_some(port)
        } else if let Some(rest) = line.strip_prefix("listen") {
            let value = rest
                .trim_start()
                .strip_prefix('=')?
                .trim()
                .trim_matches('"');
            value.strip_prefix("127.0.0.1:")?.parse().ok()
        } else {
            None
        }
    })
}

pub(crate) fn version_of(kind: Kind, binary: &Path) -> String {
    // Mosquitto has no --version: `-h` prints the version on its first line (and exits 3).
    let flag = if kind == Kind::Mosquitto {
        "-h"
    } else {
        "--version"
    };
    Command::new(binary)
        .arg(flag)
        .stdin(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether nothing listens on `127.0.0.1:port` (binding it succeeds).
pub(crate) fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Who listens on `port`, as `ss` tells it (empty when it cannot), for the port-in-use error.
fn listener_of(port: u16) -> String {
    Command::new("ss")
        .args(["-Htlnp", &format!("sport = :{port}")])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .map_or_else(String::new, |s| format!(" (by: {s})"))
}

/// A running broker. Dropping it kills the process, so that a broker never outlives the run,
/// whatever error ends it.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) kind: Kind,
    pub(crate) pid: u32,
    child: Child,
    log: PathBuf,
}

impl Running {
    /// Starts `broker`, under `taskset -c CPU` when `cpu` is given, with its output going to
    /// `log`, and returns once its port accepts a TCP connection.
    pub(crate) fn start(
        broker: &Broker,
        cpu: Option<u32>,
        log: &Path,
        timeout: Duration,
    ) -> Result<Running, String> {
        let mut running = Running::spawn(broker, cpu, log)?;
        running.wait_until_listening(broker.port, timeout)?;
        Ok(running)
    }

    /// Starts `broker` as [`Running::start`] does, but returns as soon as the process is
    /// spawned (after checking that its port is free).
    pub(crate) fn spawn(broker: &Broker, cpu: Option<u32>, log: &Path) -> Result<Running, String> {
        let kind = broker.kind;
        if !port_is_free(broker.port) {
            return Err(format!(
                "{kind}: port {} on 127.0.0.1 is already in use{}; free it or change the port \
                 in {}",
                broker.port,
                listener_of(broker.port),
                broker.config.display()
            ));
        }
        let out = File::create(log)
            .map_err(|e| format!("{kind}: cannot create {}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{kind}: cannot duplicate {}: {e}", log.display()))?;
        // taskset execs the broker, so the child's pid is the broker's and /proc/PID is its own.
        let mut cmd = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&broker.binary);
                c
            }
            None => Command::new(&broker.binary),
        };
        cmd.arg("-c").arg(&broker.config);
        if kind == Kind::Rumqttd {
            cmd.arg("--quiet");
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{kind}: cannot start {}: {e}", broker.binary.display()))?;
        Ok(Running {
            kind,
            pid: child.id(),
            child,
            log: log.to_path_buf(),
        })
    }

    /// Waits for the port to accept a connection. Linux offers no notification for another
    /// process's listen(), so this retries the connect, each attempt itself awaiting the
    /// answer, and gives up early if the broker exits.
    pub(crate) fn wait_until_listening(
        &mut self,
        port: u16,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{}: exited ({status}) before listening on port {port}; {}",
                    self.kind,
                    self.log_tail()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{}: not listening on port {port} after {:?}; {}",
                    self.kind,
                    timeout,
                    self.log_tail()
                ));
            }
            // A refused connect returns at once: yield a little so the retry is not a busy loop.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The exit status, if the broker has exited.
    pub(crate) fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The end of the broker's log, to explain a failure.
    pub(crate) fn log_tail(&self) -> String {
        let tail = read_tail(&self.log, 2000).unwrap_or_default();
        let tail = tail.trim();
        if tail.is_empty() {
            format!("its log {} is empty", self.log.display())
        } else {
            format!("end of its log {}:\n{tail}", self.log.display())
        }
    }

    /// Broker CPU seconds so far.
    pub(crate) fn cpu_seconds(&self, clk_tck: f64) -> Result<f64, String> {
        let path = format!("/proc/{}/stat", self.pid);
        let text =
            fs::read_to_string(&path).map_err(|e| format!("{}: reading {path}: {e}", self.kind))?;
        let ticks = stat_cpu_ticks(&text).map_err(|e| format!("{}: {path}: {e}", self.kind))?;
        Ok(ticks as f64 / clk_tck)
    }

    /// Broker resident memory in bytes (VmRSS).
    pub(crate) fn rss_bytes(&self) -> Result<u64, String> {
        let path = format!("/proc/{}/status", self.pid);
        let text =
            fs::read_to_string(&path).map_err(|e| format!("{}: reading {path}: {e}", self.kind))?;
        status_vmrss_bytes(&text).ok_or_else(|| format!("{}: no VmRSS line in {path}", self.kind))
    }

    /// Sends `signal` (`TERM`, `KILL`, ...) and waits up to `timeout` for the broker to exit;
    /// returns its exit status and how long it took to exit. On timeout it is killed and the
    /// error says so.
    pub(crate) fn stop(
        &mut self,
        signal: &str,
        timeout: Duration,
    ) -> Result<(ExitStatus, Duration), String> {
        if let Some(status) = self.exited() {
            return Err(format!(
                "{}: had already exited ({status}) before SIG{signal}; {}",
                self.kind,
                self.log_tail()
            ));
        }
        let started = Instant::now();
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .map_err(|e| format!("cannot run kill: {e}"))?;
        if !sent.success() {
            return Err(format!("kill -{signal} {} failed ({sent})", self.pid));
        }
        loop {
            if let Some(status) = self.exited() {
                return Ok((status, started.elapsed()));
            }
            if started.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!(
                    "{}: still running {timeout:?} after SIG{signal}: killed; {}",
                    self.kind,
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // bench-compare configures no persistence, so SIGKILL loses nothing and cannot hang on
        // a broker that ignores SIGTERM while busy; bench-persistence stops its brokers with
        // [`Running::stop`] first where the way they stop matters.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_tail(path: &Path, max: u64) -> io::Result<String> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The sum of fields `first` and `first + 1` (numbered from 1, as in proc(5)) of a
/// `/proc/PID/stat` line. Fields are counted after the command name's closing parenthesis,
/// because the name itself may contain spaces and parentheses.
fn stat_pair(stat: &str, first: usize, names: [&str; 2]) -> Result<u64, String> {
    let rest = stat
        .rfind(')')
        .and_then(|i| stat.get(i + 1..))
        .ok_or("no `)` after the command name")?;
    // After ")", field 3 (state) is the first word, so field N is word N - 3.
    let mut words = rest.split_whitespace().skip(first - 3);
    let mut sum = 0;
    for name in names {
        let w = words.next().ok_or(format!("missing {name}"))?;
        sum += w
            .parse::<u64>()
            .map_err(|e| format!("bad {name} \"{w}\": {e}"))?;
    }
    Ok(sum)
}

/// utime + stime (fields 14 and 15, in clock ticks) of a `/proc/PID/stat` line.
pub(crate) fn stat_cpu_ticks(stat: &str) -> Result<u64, String> {
    stat_pair(stat, 14, ["utime", "stime"])
}

/// cutime + cstime (fields 16 and 17): CPU ticks of the waited-for children of the process.
/// Read from `/proc/self/stat` around a `wait`, it gives mqtt-bench's CPU time without libc.
pub(crate) fn stat_children_ticks(stat: &str) -> Result<u64, String> {
    stat_pair(stat, 16, ["cutime", "cstime"])
}

/// This process's children's CPU seconds so far (see [`stat_children_ticks`]).
pub(crate) fn children_cpu_seconds(clk_tck: f64) -> Result<f64, String> {
    let text = fs::read_to_string("/proc/self/stat")
        .map_err(|e| format!("reading /proc/self/stat: {e}"))?;
    Ok(stat_children_ticks(&text).map_err(|e| format!("/proc/self/stat: {e}"))? as f64 / clk_tck)
}

/// VmRSS of a `/proc/PID/status` text, in bytes.
pub(crate) fn status_vmrss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") | None => Some(value * 1024),
        _ => None,
    }
}

/// Clock ticks per second for `/proc/PID/stat`: `getconf CLK_TCK`, or 100 (Linux's value on
/// every common architecture) when getconf is unavailable. The second item says whether it was
/// assumed.
pub(crate) fn clk_tck() -> (f64, bool) {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|v| *v > 0.0)
        .map_or((100.0, true), |v| (v, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_ticks_after_a_tricky_command_name() {
        // A real line, with a command name holding a space and a parenthesis.
        let stat = "4242 (my (broker) x) S 1 4242 4242 0 -1 4194560 1181 0 0 0 1234 567 \
                    89 10 20 0 5 0 123456 1000000 500 18446744073709551615";
        assert_eq!(stat_cpu_ticks(stat).unwrap(), 1234 + 567);
        assert_eq!(stat_children_ticks(stat).unwrap(), 89 + 10);
        assert!(stat_cpu_ticks("4242 (x) S 1 2").is_err());
        assert!(stat_cpu_ticks("garbage").is_err());
    }

    #[test]
    fn reads_our_own_stat() {
        let text = fs::read_to_string("/proc/self/stat").unwrap();
        stat_cpu_ticks(&text).unwrap();
        let status = fs::read_to_string("/proc/self/status").unwrap();
        assert!(status_vmrss_bytes(&status).unwrap() > 0);
    }

    #[test]
    fn parses_vmrss() {
        let status = "Name:\tmosquitto\nVmPeak:\t  9000 kB\nVmRSS:\t    6244 kB\nThreads:\t1\n";
        assert_eq!(status_vmrss_bytes(status), Some(6244 * 1024));
        assert_eq!(status_vmrss_bytes("Name:\tx\n"), None);
    }

    #[test]
    fn finds_ports_in_both_config_formats() {
        assert_eq!(
            config_port("# c\nlistener 28831 127.0.0.1\nallow_anonymous true\n"),
            Some(28831)
        );
        assert_eq!(config_port("listener 1883\n"), None);
        assert_eq!(
            config_port("[v4.1]\nname = \"v4-1\"\nlisten = \"127.0.0.1:28832\"\n"),
            Some(28832)
        );
    }

    #[test]
    fn the_bench_configs_use_distinct_loopback_ports() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let ports: Vec<u16> = Kind::ALL
            .iter()
            .map(|k| config_port(&fs::read_to_string(root.join(k.config())).unwrap()).unwrap())
            .collect();
        assert_eq!(ports, [28831, 28832, 28833]);
    }
}
