//! The `mqtt-broker` binary as users run it: command line, configuration errors, logs, signals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use mqtt_codec::*;

use test_support::free_port;

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-broker");

/// Kills the broker when a test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The broker's log (its stderr), line by line, as it comes.
struct Log {
    rx: std::sync::mpsc::Receiver<String>,
}

impl Log {
    /// Waits (at most [`WAIT`]) for a line containing `needle`; returns the lines read up to it,
    /// that one included.
    fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .rx
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("broker did not log {needle:?}: {lines:?}"));
            let done = line.contains(needle);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

/// Starts the binary and returns it once its log shows `ready`, with the rest of its log.
fn start_logged(args: &[&str], ready: &str) -> (Running, Vec<String>, Log) {
    start_logged_env(args, &[], ready)
}

/// [`start_logged`] with these environment variables set.
fn start_logged_env(
    args: &[&str],
    env: &[(&str, &str)],
    ready: &str,
) -> (Running, Vec<String>, Log) {
    let mut running = Running(
        Command::new(BIN)
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stderr = running.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads everything, also once nobody listens, so that the broker never blocks on a full
    // pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut log = Log { rx };
    let lines = log.wait_for(ready);
    (running, lines, log)
}

/// Starts the binary and returns it once its log shows `ready` (read from stderr).
fn start(args: &[&str], ready: &str) -> (Running, Vec<String>) {
    let (running, lines, _log) = start_logged(args, ready);
    (running, lines)
}

fn sighup(b: &Running) {
    assert!(Command::new("kill")
        .args(["-HUP", &b.0.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[tokio::test]
async fn without_a_config_file_it_runs_local_only() {
    // Mosquitto 2.x without a configuration: loopback only, anonymous allowed, and it says so.
    let port = free_port();
    let (_b, lines) = start(&["-p", &port.to_string()], "listen socket on port");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Starting in local only mode")),
        "{lines:?}"
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (_c, ack) =
        RawClient::connect_with(addr, connect_packet(ProtocolVersion::V3_1_1, "x", true)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
}

#[test]
fn test_config_reports_valid_and_invalid_files() {
    let dir = std::env::temp_dir().join(format!("mqtt-broker-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.conf");
    std::fs::write(&good, "listener 1883\nallow_anonymous true\n").unwrap();
    let out = Command::new(BIN)
        .args(["--test-config", "-c"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "listener 1883\n\nnot_an_option 3\n").unwrap();
    let out = Command::new(BIN)
        .args(["--test-config", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not_an_option"), "{err}");
    assert!(err.contains(&format!("{}:3", bad.display())), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // A real start with the bad file fails the same way.
    let out = Command::new(BIN).arg("-c").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sigterm_stops_it_cleanly_and_clients_are_told() {
    let port = free_port();
    let (mut b, _) = start(&["-p", &port.to_string()], "listen socket on port");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut c = RawClient::connect(addr, ProtocolVersion::V5, "stay").await;
    let pid = b.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    // MQTT 5 clients get DISCONNECT 0x8B Server shutting down.
    assert_eq!(
        c.until_closed().await,
        [Packet::from(Disconnect::new(
            ReasonCode::ServerShuttingDown
        ))]
    );
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = b.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "broker did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success());
}

#[test]
fn log_file_is_reopened_on_sighup() {
    let dir = std::env::temp_dir().join(format!("mqtt-broker-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("broker.log");
    let conf = dir.join("broker.conf");
    let port = free_port();
    std::fs::write(
        &conf,
        format!(
            // `user root`: run as root (CI), the broker would otherwise become `mosquitto`
            // and could not reopen a log file in this root-owned directory.
            "listener {port} 127.0.0.1\nallow_anonymous true\nuser root\nlog_dest file {}\nlog_dest stderr\n",
            log.display()
        ),
    )
    .unwrap();
    let (b, _) = start(&["-c", conf.to_str().unwrap()], "listen socket on port");
    let first = std::fs::read_to_string(&log).unwrap();
    assert!(first.contains("mqtt-broker version"), "{first}");
    // logrotate: move the file away, then SIGHUP.
    std::fs::rename(&log, dir.join("broker.log.1")).unwrap();
    let pid = b.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + WAIT;
    while !std::fs::read_to_string(&log).is_ok_and(|s| s.contains("Reloading config")) {
        assert!(Instant::now() < deadline, "log file not reopened");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tls_listener_without_its_certificate_files_is_never_served_as_plain_mqtt() {
    // As Mosquitto: the broker refuses to start rather than accept unencrypted MQTT where the
    // configuration asked for TLS. (TLS and WebSocket listeners themselves: tests/tls_ws.rs.)
    let dir = std::env::temp_dir().join(format!("mqtt-broker-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("broker.conf");
    let (plain, tls) = (free_port(), free_port());
    std::fs::write(
        &conf,
        format!(
            "listener {plain} 127.0.0.1\nallow_anonymous true\n\
             listener {tls} 127.0.0.1\ncertfile {d}/cert.pem\nkeyfile {d}/key.pem\n",
            d = dir.display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["-c", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains(&format!("Unable to start the TLS listener on port {tls}")),
        "{log}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", plain)).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sighup_reloads_limits_and_security_for_new_connections() {
    // As Mosquitto on SIGHUP: the file is read again; limits and security options apply to the
    // connections made afterwards; a file that is invalid, or adds a listener, changes nothing.
    let dir = std::env::temp_dir().join(format!("mqtt-broker-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("broker.conf");
    let port = free_port();
    let listener = format!("listener {port} 127.0.0.1\n");
    std::fs::write(&conf, format!("{listener}allow_anonymous true\n")).unwrap();
    let (b, _, mut log) = start_logged(&["-c", conf.to_str().unwrap()], "listen socket on port");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let v5 = ProtocolVersion::V5;
    let (mut early, ack) = RawClient::connect_with(addr, connect_packet(v5, "early", true)).await;
    assert_eq!(ack.properties.maximum_packet_size, None);
    assert_eq!(ack.properties.server_keep_alive, None);

    // Limits.
    std::fs::write(
        &conf,
        format!("{listener}allow_anonymous true\nmax_packet_size 200\nmax_keepalive 30\n"),
    )
    .unwrap();
    sighup(&b);
    let lines = log.wait_for("Config reloaded from");
    assert!(
        lines.iter().any(|l| l.ends_with(": Reloading config.")),
        "{lines:?}"
    );
    let (mut late, ack) = RawClient::connect_with(addr, connect_packet(v5, "late", true)).await;
    assert_eq!(
        ack.properties.maximum_packet_size.map(|m| m.get()),
        Some(200)
    );
    assert_eq!(ack.properties.server_keep_alive, Some(30));
    let big = "x".repeat(500);
    late.publish("big", &big, QoS::AtMostOnce, false).await;
    assert_eq!(
        late.until_closed().await,
        [Packet::from(Disconnect::new(ReasonCode::PacketTooLarge))]
    );
    // A connection made before the reload keeps the limits it started with.
    early.publish("big", &big, QoS::AtLeastOnce, false).await;

    // Security options. As Mosquitto, connected clients that would no longer be let in are
    // disconnected (MQTT 5: DISCONNECT 0x98 Administrative action).
    let mut old_v4 = RawClient::connect(addr, ProtocolVersion::V3_1_1, "old-v4").await;
    std::fs::write(&conf, format!("{listener}allow_anonymous false\n")).unwrap();
    sighup(&b);
    let lines = log.wait_for("Config reloaded from");
    for id in ["early", "old-v4"] {
        let kicked = format!("Client {id} disconnected, not authorised.");
        assert!(lines.iter().any(|l| l.ends_with(&kicked)), "{lines:?}");
    }
    assert_eq!(
        early.until_closed().await,
        [Packet::from(Disconnect::new(
            ReasonCode::AdministrativeAction
        ))]
    );
    assert_eq!(old_v4.until_closed().await, []);
    let refused = |id: &'static str| async move {
        let mut c = RawClient::open(addr, v5).await;
        c.send(Packet::from(connect_packet(v5, id, true))).await;
        c.until_closed().await
    };
    let got = refused("anonymous").await;
    assert!(
        matches!(&got[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::NotAuthorized),
        "{got:?}"
    );

    // An invalid file: logged, and the running configuration stays.
    std::fs::write(
        &conf,
        format!("{listener}allow_anonymous true\nnot_an_option 1\n"),
    )
    .unwrap();
    sighup(&b);
    let lines = log.wait_for("keeping the running configuration");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not_an_option") && l.contains("broker.conf:3")),
        "{lines:?}"
    );
    let got = refused("still-anonymous").await;
    assert!(
        matches!(&got[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::NotAuthorized),
        "{got:?}"
    );

    // A new listener: not opened on reload (Mosquitto's message), nothing else applied either.
    let other = free_port();
    std::fs::write(
        &conf,
        format!("{listener}allow_anonymous true\nlistener {other} 127.0.0.1\n"),
    )
    .unwrap();
    sighup(&b);
    let lines = log.wait_for("keeping the running configuration");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not currently possible to add/remove listeners")),
        "{lines:?}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", other)).is_err());
    let got = refused("anonymous-again").await;
    assert!(
        matches!(&got[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::NotAuthorized),
        "{got:?}"
    );
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sighup_reloads_logging_options() {
    // connection_messages and log_timestamp_format from the file read again on SIGHUP.
    let dir = std::env::temp_dir().join(format!("mqtt-broker-relog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("broker.conf");
    let port = free_port();
    let listener = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
    std::fs::write(&conf, &listener).unwrap();
    let (b, _, mut log) = start_logged(&["-c", conf.to_str().unwrap()], "listen socket on port");
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let _one = RawClient::connect(addr, ProtocolVersion::V3_1_1, "one").await;
    let lines = log.wait_for("as one");
    // Mosquitto's default timestamp: seconds since the epoch.
    let line = lines.last().unwrap();
    let (stamp, _) = line.split_once(": ").unwrap();
    assert!(
        stamp.len() >= 10 && stamp.bytes().all(|c| c.is_ascii_digit()),
        "{line}"
    );

    std::fs::write(
        &conf,
        format!("{listener}connection_messages false\nlog_timestamp_format %Y-%m-%dT%H:%M:%S\n"),
    )
    .unwrap();
    sighup(&b);
    log.wait_for("Config reloaded from");
    let _two = RawClient::connect(addr, ProtocolVersion::V3_1_1, "two").await;
    // The next line logged after "two" connected: no connection message came before it.
    sighup(&b);
    let lines = log.wait_for("Reloading config.");
    assert_eq!(lines.len(), 1, "{lines:?}");
    // 2024-05-01T12:00:00: Reloading config.
    let (stamp, message) = lines[0].split_once(": ").unwrap();
    assert_eq!(message, "Reloading config.");
    let stamp_bytes = stamp.as_bytes();
    assert_eq!(stamp.len(), 19, "{stamp}");
    for (i, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        assert_eq!(stamp_bytes[i], sep, "{stamp}");
    }
    log.wait_for("Config reloaded from");
    drop(b);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Started as root, the broker opens its listener and log file, then runs as `user`
/// (Mosquitto's privilege drop): /proc shows the new uid, and clients are still served.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn started_as_root_it_runs_as_the_configured_user() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    if uid_line.split_whitespace().nth(2) != Some("0") {
        // Only root can drop privileges; as any other user the option does nothing, which
        // the unit tests of mqtt_broker::privileges cover.
        eprintln!("not root: the privilege drop is tested only when the tests run as root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("mqtt-broker-user-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("broker.conf");
    let port = free_port();
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nuser nobody\n"),
    )
    .unwrap();
    let (b, _) = start(&["-c", conf.to_str().unwrap()], "listen socket on port");
    let pid = b.0.id();
    // The switch follows the listeners: wait for it.
    let mut uids = String::new();
    for _ in 0..100 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        uids = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .to_owned();
        if !uids.split_whitespace().skip(1).any(|u| u == "0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !uids.split_whitespace().skip(1).any(|u| u == "0"),
        "still root: {uids}"
    );
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let (_c, ack) = RawClient::connect_with(
        addr,
        connect_packet(ProtocolVersion::V3_1_1, "after-drop", true),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    drop(b);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// How many of the broker's threads are tokio workers (named so by tokio).
fn worker_threads_of(b: &Running) -> usize {
    std::fs::read_dir(format!("/proc/{}/task", b.0.id()))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "tokio-rt-worker")
        .count()
}

#[test]
fn worker_threads_sets_how_many_threads_serve_connections() {
    // Ours, not Mosquitto's (which has one thread): 0 or unset = one per core it may use.
    let dir = std::env::temp_dir().join(format!("mqtt-broker-workers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get();
    for (option, workers) in [(Some(1), 1), (Some(3), 3), (None, cores)] {
        let conf = dir.join(format!("w{workers}.conf"));
        let port = free_port();
        let line = option.map_or(String::new(), |n| format!("worker_threads {n}\n"));
        std::fs::write(
            &conf,
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{line}"),
        )
        .unwrap();
        // tokio reads TOKIO_WORKER_THREADS when not told a number, and panics on one that is
        // not a number: the option must win, and the variable must not be read at all.
        let (b, _, _log) = start_logged_env(
            &["-c", conf.to_str().unwrap()],
            &[("TOKIO_WORKER_THREADS", "not-a-number")],
            "listen socket on port",
        );
        // tokio starts its workers as the runtime begins; they may still be starting.
        let deadline = Instant::now() + WAIT;
        while worker_threads_of(&b) < workers && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(worker_threads_of(&b), workers, "worker_threads {workers}");
    }
}
