//! `mqtt-bench` end to end: the built binary with `--json` against a private Mosquitto.
//! Counts only: no timing is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

use serde_json::Value;
use test_support::Mosquitto;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mqtt-bench"))
        .args(args)
        .output()
        .expect("cannot run mqtt-bench")
}

/// Runs against `broker` with `--json --quiet -h 127.0.0.1 -p <port>`; returns the report.
fn report(broker: &Mosquitto, args: &[&str]) -> Value {
    let port = broker.port().to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port, "--json", "--quiet"];
    all.extend_from_slice(args);
    let out = bench(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mqtt-bench {all:?} failed: {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn n(v: &Value, path: &str) -> u64 {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_u64()
        .unwrap_or_else(|| panic!("{path} is not a number in {v}"))
}

#[test]
fn pairs_qos1_lose_nothing() {
    let broker = Mosquitto::start();
    let r = report(&broker, &["pairs", "-c", "4", "-q", "1", "-n", "50"]);
    assert_eq!(r["mode"], "pairs");
    assert_eq!((n(&r, "publishers"), n(&r, "subscribers")), (4, 4));
    assert_eq!(n(&r, "connections.connected"), 8);
    assert_eq!(n(&r, "messages.sent"), 200);
    assert_eq!(n(&r, "messages.acked"), 200);
    assert_eq!(n(&r, "messages.expected"), 200);
    assert_eq!(n(&r, "messages.received"), 200);
    assert_eq!(n(&r, "messages.unique"), 200);
    assert_eq!(n(&r, "messages.duplicates"), 0);
    assert_eq!(n(&r, "messages.losses"), 0);
    assert_eq!(n(&r, "messages.foreign"), 0);
    assert_eq!(n(&r, "latency_us.count"), 200);
    assert!(n(&r, "latency_us.p50") <= n(&r, "latency_us.p99"));
    assert!(n(&r, "latency_us.p99_9") <= n(&r, "latency_us.max"));
}

#[test]
fn fan_in_counts() {
    let broker = Mosquitto::start();
    let r = report(&broker, &["fan-in", "-c", "3", "-q", "1", "-n", "40"]);
    assert_eq!((n(&r, "publishers"), n(&r, "subscribers")), (3, 1));
    assert_eq!(n(&r, "messages.sent"), 120);
    assert_eq!(n(&r, "messages.received"), 120);
    assert_eq!(n(&r, "messages.unique"), 120);
    assert_eq!(n(&r, "messages.losses"), 0);
    assert_eq!(n(&r, "messages.duplicates"), 0);
}

#[test]
fn fan_out_receives_every_message_per_subscriber() {
    let broker = Mosquitto::start();
    let r = report(&broker, &["fan-out", "-c", "5", "-q", "2", "-n", "30"]);
    assert_eq!((n(&r, "publishers"), n(&r, "subscribers")), (1, 5));
    assert_eq!(n(&r, "messages.sent"), 30);
    assert_eq!(n(&r, "messages.expected"), 150);
    assert_eq!(n(&r, "messages.received"), 150);
    assert_eq!(n(&r, "messages.unique"), 150);
    assert_eq!(n(&r, "messages.losses"), 0);
    assert_eq!(n(&r, "messages.duplicates"), 0);
}

#[test]
fn conn_spreads_over_source_addresses() {
    let mut broker = Mosquitto::start();
    let r = report(
        &broker,
        &[
            "conn",
            "-c",
            "200",
            "--source-addresses",
            "127.0.0.1-127.0.0.2",
            "--duration",
            "0.3",
        ],
    );
    assert_eq!(n(&r, "connections.requested"), 200);
    assert_eq!(n(&r, "connections.connected"), 200);
    assert_eq!(n(&r, "connections.failed"), 0);
    assert_eq!(n(&r, "connections.lost"), 0);
    assert_eq!(
        r["source_addresses"],
        serde_json::json!(["127.0.0.1", "127.0.0.2"])
    );
    assert_eq!(r["fd_limited"], false);
    // Mosquitto saw connections from the second address.
    broker
        .wait_for_log_matching(|l| l.contains("New client connected from 127.0.0.2:"))
        .unwrap();
}

#[test]
fn pub_and_sub_modes_count() {
    let broker = Mosquitto::start();
    let r = report(
        &broker,
        &["pub", "-c", "2", "-q", "1", "-n", "25", "-t", "t/%i"],
    );
    assert_eq!(n(&r, "messages.sent"), 50);
    assert_eq!(n(&r, "messages.acked"), 50);
    assert!(r["messages"]["losses"].is_null());
    // A subscriber with nothing to receive ends at --duration.
    let r = report(
        &broker,
        &["sub", "-c", "2", "-t", "t/%i", "--duration", "0.3"],
    );
    assert_eq!(n(&r, "subscribers"), 2);
    assert_eq!(n(&r, "messages.received"), 0);
}

#[test]
fn json_has_the_documented_keys() {
    let broker = Mosquitto::start();
    let r = report(&broker, &["pairs", "-c", "1", "-n", "5"]);
    for key in [
        "mode",
        "broker",
        "protocol",
        "qos",
        "size",
        "clients",
        "publishers",
        "subscribers",
        "connections",
        "messages",
        "latency_us",
        "fd_limit",
        "fd_limited",
        "source_addresses",
        "errors",
        "notes",
        "interrupted",
    ] {
        assert!(r.get(key).is_some(), "missing {key} in {r}");
    }
    for key in [
        "requested",
        "connected",
        "failed",
        "lost",
        "elapsed_s",
        "rate_per_s",
        "latency_us",
    ] {
        assert!(
            r["connections"].get(key).is_some(),
            "missing connections.{key} in {r}"
        );
    }
    for key in [
        "sent",
        "acked",
        "publish_errors",
        "sent_per_s",
        "publish_elapsed_s",
        "received",
        "receive_elapsed_s",
        "received_per_s",
        "unique",
        "duplicates",
        "expected",
        "losses",
        "foreign",
    ] {
        assert!(
            r["messages"].get(key).is_some(),
            "missing messages.{key} in {r}"
        );
    }
    for key in ["count", "min", "mean", "p50", "p99", "p99_9", "max"] {
        assert!(
            r["latency_us"].get(key).is_some(),
            "missing latency_us.{key} in {r}"
        );
    }
}

#[test]
fn unreachable_broker_exits_with_2() {
    let port = test_support::free_port().to_string();
    let out = bench(&[
        "conn",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-c",
        "3",
        "--json",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(n(&r, "connections.failed"), 3);
    assert_eq!(n(&r, "connections.connected"), 0);
}

#[test]
fn bad_options_exit_with_1() {
    for args in [
        &["walk"][..],
        &["pub", "--size", "10"],
        &["pub", "-q", "3"],
        &["pub", "-t", "a/#"],
        &["pub", "--duration", "-1"],
        &["conn", "--source-addresses", "nonsense"],
        &["pairs", "-t", "no-index"],
        &["pub", "--clients", "0"],
    ] {
        let out = bench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let help = bench(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--source-addresses") && text.contains("fan-out"),
        "{text}"
    );
}
