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

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-broker");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the broker when a test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and returns it once its log shows `ready` (read from stderr).
fn start(args: &[&str], ready: &str) -> (Running, Vec<String>) {
    let mut running = Running(
        Command::new(BIN)
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stderr = running.0.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("broker did not log {ready:?}: {lines:?}"));
        let done = line.contains(ready);
        lines.push(line);
        if done {
            // Keep draining so the broker never blocks on a full pipe.
            std::thread::spawn(move || while rx.recv().is_ok() {});
            return (running, lines);
        }
    }
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
            "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest file {}\nlog_dest stderr\n",
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
fn tls_and_websockets_listeners_are_never_served_as_plain_mqtt() {
    // Until TLS and WebSockets land, such listeners stay closed (with an error in the log)
    // rather than accepting unencrypted MQTT where the configuration asked for TLS.
    let dir = std::env::temp_dir().join(format!("mqtt-broker-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("broker.conf");
    let (plain, tls, ws) = (free_port(), free_port(), free_port());
    std::fs::write(
        &conf,
        format!(
            "listener {plain} 127.0.0.1\nallow_anonymous true\n\
             listener {tls} 127.0.0.1\ncertfile {d}/cert.pem\nkeyfile {d}/key.pem\n\
             listener {ws} 127.0.0.1\nprotocol websockets\n",
            d = dir.display()
        ),
    )
    .unwrap();
    // The listeners are opened in the order of the file: the last message is the WebSockets one.
    let (_b, lines) = start(
        &["-c", conf.to_str().unwrap()],
        &format!("port {ws} not opened"),
    );
    let log = lines.join("\n");
    assert!(
        log.contains(&format!("listener on port {tls} not opened: TLS")),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "listener on port {ws} not opened: protocol websockets"
        )),
        "{log}"
    );
    assert!(std::net::TcpStream::connect(("127.0.0.1", tls)).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", ws)).is_err());
    assert!(std::net::TcpStream::connect(("127.0.0.1", plain)).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}
