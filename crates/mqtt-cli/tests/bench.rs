//! `mqtt-bench` end to end: the built binary with `--json` against a private Mosquitto and
//! against our own broker (`mqtt-broker`'s library, served in this process on a tokio
//! runtime). Counts only: no timing is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use mqtt_broker::config::Config;
use mqtt_broker::server::Broker;
use serde_json::Value;
use test_support::Mosquitto;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mqtt-bench"))
        .args(args)
        .output()
        .expect("cannot run mqtt-bench")
}

/// Our broker, served by this test process on its own tokio runtime, on an ephemeral loopback
/// port; shut down when dropped.
struct OurBroker {
    port: u16,
    hub: std::sync::Arc<mqtt_broker::Hub>,
    shutdown: tokio::sync::watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl OurBroker {
    fn start() -> OurBroker {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (port, shutdown, hub) = runtime.block_on(async {
            let mut config = Config::local_only(Some(0));
            config
                .listeners
                .retain(|l| l.bind_address.as_deref() == Some("127.0.0.1"));
            let broker = Broker::bind(config).await.unwrap();
            let port = broker.local_addrs()[0].port();
            let shutdown = broker.shutdown_handle();
            let hub = broker.hub();
            tokio::spawn(broker.run());
            (port, shutdown, hub)
        });
        OurBroker {
            port,
            hub,
            shutdown,
            runtime: Some(runtime),
        }
    }
}

impl Drop for OurBroker {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

/// The `--json --quiet -h 127.0.0.1 -p <port>` arguments followed by `args`.
fn with_broker<'a>(port: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["-h", "127.0.0.1", "-p", port, "--json", "--quiet"];
    all.extend_from_slice(args);
    all
}

/// Runs against the broker on `port` with `--json --quiet -h 127.0.0.1 -p <port>`; returns
/// the report.
fn report(port: u16, args: &[&str]) -> Value {
    let port = port.to_string();
    let all = with_broker(&port, args);
    let out = bench(&all);
    parse_report(&all, &out)
}

fn parse_report(all: &[&str], out: &Output) -> Value {
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

fn pairs_qos1_lose_nothing(port: u16) {
    let r = report(port, &["pairs", "-c", "4", "-q", "1", "-n", "50"]);
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

fn fan_in_counts(port: u16) {
    let r = report(port, &["fan-in", "-c", "3", "-q", "1", "-n", "40"]);
    assert_eq!((n(&r, "publishers"), n(&r, "subscribers")), (3, 1));
    assert_eq!(n(&r, "messages.sent"), 120);
    assert_eq!(n(&r, "messages.received"), 120);
    assert_eq!(n(&r, "messages.unique"), 120);
    assert_eq!(n(&r, "messages.losses"), 0);
    assert_eq!(n(&r, "messages.duplicates"), 0);
}

fn fan_out_receives_every_message_per_subscriber(port: u16) {
    let r = report(port, &["fan-out", "-c", "5", "-q", "2", "-n", "30"]);
    assert_eq!((n(&r, "publishers"), n(&r, "subscribers")), (1, 5));
    assert_eq!(n(&r, "messages.sent"), 30);
    assert_eq!(n(&r, "messages.expected"), 150);
    assert_eq!(n(&r, "messages.received"), 150);
    assert_eq!(n(&r, "messages.unique"), 150);
    assert_eq!(n(&r, "messages.losses"), 0);
    assert_eq!(n(&r, "messages.duplicates"), 0);
}

/// `conn` with `clients` connections over 127.0.0.1 and 127.0.0.2: every one is made and held.
fn conn_spreads_over_source_addresses(port: u16, clients: u64) {
    let c = clients.to_string();
    let r = report(
        port,
        &[
            "conn",
            "-c",
            &c,
            "--source-addresses",
            "127.0.0.1-127.0.0.2",
            "--duration",
            "0.3",
        ],
    );
    assert_eq!(n(&r, "connections.requested"), clients);
    assert_eq!(n(&r, "connections.connected"), clients);
    assert_eq!(n(&r, "connections.failed"), 0);
    assert_eq!(n(&r, "connections.lost"), 0);
    assert_eq!(n(&r, "connections.latency_us.count"), clients);
    assert_eq!(
        r["source_addresses"],
        serde_json::json!(["127.0.0.1", "127.0.0.2"])
    );
    assert_eq!(r["fd_limited"], false);
    assert_eq!(r["errors"], serde_json::json!({}));
}

fn pub_and_sub_modes_count(port: u16) {
    let r = report(
        port,
        &["pub", "-c", "2", "-q", "1", "-n", "25", "-t", "t/%i"],
    );
    assert_eq!(n(&r, "messages.sent"), 50);
    assert_eq!(n(&r, "messages.acked"), 50);
    assert!(r["messages"]["losses"].is_null());
    // A subscriber with nothing to receive ends at --duration.
    let r = report(port, &["sub", "-c", "2", "-t", "t/%i", "--duration", "0.3"]);
    assert_eq!(n(&r, "subscribers"), 2);
    assert_eq!(n(&r, "messages.received"), 0);
    assert_eq!(n(&r, "subscriptions.requested"), 2);
    assert_eq!(n(&r, "subscriptions.granted"), 2);
}

/// Retained messages, each on a topic matched by exactly one filter of one subscriber of the
/// `--filters-per-client` run below (client, topic), two per subscriber: one exact filter and
/// one `+` filter.
const ROUTED: [(u32, &str); 6] = [
    (0, "noise/0/0"),
    (0, "noise/0/any/1"),
    (1, "noise/1/2000"),
    (1, "noise/1/x/2001"),
    (2, "noise/2/2498"),
    (2, "noise/2/y/2499"),
];

/// Retained messages no filter of that run matches (odd indexes are `+` filters, even ones
/// exact; indexes stop at 2499; clients at 2).
const UNROUTED: [&str; 6] = [
    "noise/1/2001",
    "noise/0/x/0",
    "noise/0/a/b/1",
    "noise/3/0",
    "noise/2/2500",
    "noise/2/y/2501",
];

/// Publishes every [`ROUTED`] and [`UNROUTED`] topic as a retained QoS 1 message (with our
/// `mqtt-pub`, which exits once the broker has acknowledged it, so once it is retained).
fn retain_topics(port: u16) {
    let port = port.to_string();
    for topic in ROUTED.iter().map(|(_, t)| *t).chain(UNROUTED) {
        let out = Command::new(env!("CARGO_BIN_EXE_mqtt-pub"))
            .args(["-h", "127.0.0.1", "-p", &port, "-q", "1", "-r", "-t", topic])
            .args(["-m", "hello"])
            .output()
            .expect("cannot run mqtt-pub");
        assert!(
            out.status.success(),
            "mqtt-pub {topic}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `sub -c 3 --filters-per-client 2500` with an exact and a `+` pattern: 7,500 filters in 9
/// SUBSCRIBE packets (1000, 1000, 500 per client), all granted. The broker delivers the
/// retained messages of [`ROUTED`] as each SUBSCRIBE is acknowledged, two per subscriber, and
/// `-n 2` ends the run once every subscriber has its two: a subscriber missing one of its
/// filters would keep the run going until the `--duration` safety net. Returns the report and
/// the bench's process id (its client ids are `fpc-<pid>-s<i>`).
fn filters_per_client(port: u16) -> (Value, u32) {
    retain_topics(port);
    let port = port.to_string();
    let all = with_broker(
        &port,
        &[
            "sub",
            "-I",
            "fpc",
            "-c",
            "3",
            "--filters-per-client",
            "2500",
            "-t",
            "noise/%i/%j",
            "-t",
            "noise/%i/+/%j",
            "-n",
            "2",
            "--duration",
            "60",
        ],
    );
    let child = Command::new(env!("CARGO_BIN_EXE_mqtt-bench"))
        .args(&all)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run mqtt-bench");
    let pid = child.id();
    let out = child.wait_with_output().expect("mqtt-bench did not end");
    let r = parse_report(&all, &out);
    assert_eq!(n(&r, "subscribers"), 3);
    assert_eq!(n(&r, "subscriptions.requested"), 7500);
    assert_eq!(n(&r, "subscriptions.granted"), 7500);
    assert!(
        r["subscriptions"]["elapsed_s"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    assert!(
        r["subscriptions"]["rate_per_s"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    assert_eq!(r["errors"], serde_json::json!({}));
    // Ended by the count (2 per subscriber), not by the safety net.
    assert!(
        r["messages"]["publish_elapsed_s"].as_f64().unwrap() < 60.0,
        "{r}"
    );
    assert_eq!(n(&r, "messages.received"), 6);
    // Not published by this run.
    assert_eq!(n(&r, "messages.foreign"), 6);
    (r, pid)
}

// --- Mosquitto ---

#[test]
fn pairs_qos1_lose_nothing_vs_mosquitto() {
    pairs_qos1_lose_nothing(Mosquitto::start().port());
}

#[test]
fn fan_in_counts_vs_mosquitto() {
    fan_in_counts(Mosquitto::start().port());
}

#[test]
fn fan_out_receives_every_message_per_subscriber_vs_mosquitto() {
    fan_out_receives_every_message_per_subscriber(Mosquitto::start().port());
}

#[test]
fn pub_and_sub_modes_count_vs_mosquitto() {
    pub_and_sub_modes_count(Mosquitto::start().port());
}

/// 1000 connections (under Mosquitto's open-file limit, which may be the usual 1024) over two
/// source addresses; Mosquitto logs 500 from each.
#[test]
fn conn_1000_over_two_source_addresses_vs_mosquitto() {
    let mut broker = Mosquitto::start();
    conn_spreads_over_source_addresses(broker.port(), 1000);
    // Every CONNECT was logged before its CONNACK, so before mqtt-bench ended.
    let counts = RefCell::new([0u32; 2]);
    broker
        .wait_for_log_matching(|l| {
            let mut c = counts.borrow_mut();
            if l.contains("New client connected from 127.0.0.1:") {
                c[0] += 1;
            } else if l.contains("New client connected from 127.0.0.2:") {
                c[1] += 1;
            }
            c[0] + c[1] == 1000
        })
        .unwrap_or_else(|log| panic!("connections seen {:?}; log:\n{log}", counts.borrow()));
    assert_eq!(*counts.borrow(), [500, 500]);
}

/// The `--filters-per-client` run, and Mosquitto's log of whom it sent each retained message:
/// exactly the subscriber whose filter matches, and nothing on the other topics.
#[test]
fn filters_per_client_mixed_patterns_vs_mosquitto() {
    let mut broker = Mosquitto::start();
    let (_, pid) = filters_per_client(broker.port());
    let prefix = format!("fpc-{pid}-s");
    // Mosquitto logs what it sends a client before that client's DISCONNECT.
    let sent = RefCell::new(BTreeSet::new());
    let disconnected = RefCell::new(0);
    broker
        .wait_for_log_matching(|l| {
            if let Some(rest) = l.split("Sending PUBLISH to ").nth(1) {
                if let Some(client) = rest.strip_prefix(prefix.as_str()) {
                    let i: u32 = client.split(' ').next().unwrap().parse().unwrap();
                    let topic = rest.split('\'').nth(1).unwrap().to_owned();
                    sent.borrow_mut().insert((i, topic));
                }
            } else if l.contains(&format!("Client {prefix}")) && l.ends_with(" disconnected.") {
                *disconnected.borrow_mut() += 1;
            }
            *disconnected.borrow() == 3
        })
        .unwrap_or_else(|log| panic!("sent {:?}; log:\n{log}", sent.borrow()));
    let expected: BTreeSet<(u32, String)> =
        ROUTED.iter().map(|(i, t)| (*i, (*t).to_owned())).collect();
    assert_eq!(*sent.borrow(), expected);
}

// --- our broker ---

#[test]
fn pairs_qos1_lose_nothing_vs_our_broker() {
    pairs_qos1_lose_nothing(OurBroker::start().port);
}

#[test]
fn fan_in_counts_vs_our_broker() {
    fan_in_counts(OurBroker::start().port);
}

#[test]
fn fan_out_receives_every_message_per_subscriber_vs_our_broker() {
    fan_out_receives_every_message_per_subscriber(OurBroker::start().port);
}

#[test]
fn pub_and_sub_modes_count_vs_our_broker() {
    pub_and_sub_modes_count(OurBroker::start().port);
}

/// 200 connections: the broker's sockets are this test process's, whose open-file limit is
/// not raised.
#[test]
fn conn_over_two_source_addresses_vs_our_broker() {
    conn_spreads_over_source_addresses(OurBroker::start().port, 200);
}

#[test]
fn filters_per_client_mixed_patterns_vs_our_broker() {
    let broker = OurBroker::start();
    filters_per_client(broker.port);
}

#[test]
fn persistent_subscribers_keep_their_sessions_vs_our_broker() {
    // --persistent-subscribers: Clean Session 0 (5.0: Clean Start 0, Session Expiry 300 s), so
    // the broker keeps each subscriber's session after the run (and, with persistence, stores
    // what it queues for it); publishers stay clean.
    for version in ["311", "5"] {
        let broker = OurBroker::start();
        let r = report(
            broker.port,
            &[
                "fan-in",
                "-V",
                version,
                "-c",
                "3",
                "-q",
                "1",
                "-n",
                "40",
                "--persistent-subscribers",
            ],
        );
        assert_eq!(r["persistent_subscribers"], Value::Bool(true));
        assert_eq!(n(&r, "messages.unique"), 120);
        assert_eq!(n(&r, "messages.losses"), 0);
        let ids = broker.hub.client_ids();
        assert!(
            ids.iter().any(|id| id.ends_with("-s0")),
            "MQTT {version}: the subscriber's session is kept: {ids:?}"
        );
    }
}

#[test]
fn json_has_the_documented_keys() {
    let broker = Mosquitto::start();
    let r = report(broker.port(), &["pairs", "-c", "1", "-n", "5"]);
    for key in [
        "mode",
        "broker",
        "protocol",
        "qos",
        "size",
        "clients",
        "publishers",
        "subscribers",
        "persistent_subscribers",
        "connections",
        "subscriptions",
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
    for key in ["requested", "granted", "elapsed_s", "rate_per_s"] {
        assert!(
            r["subscriptions"].get(key).is_some(),
            "missing subscriptions.{key} in {r}"
        );
    }
    assert_eq!(n(&r, "subscriptions.requested"), 1);
    assert_eq!(n(&r, "subscriptions.granted"), 1);
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
        &["pub", "--filters-per-client", "2"],
        &["conn", "--filters-per-client", "1"],
        &["pairs", "-t", "a/%i", "-t", "b/%i"],
        &["sub", "--filters-per-client", "0"],
        &["sub", "--filters-per-client", "5", "-t", "no-index/%i"],
    ] {
        let out = bench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = bench(&["fan-out", "--filters-per-client", "10"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--filters-per-client is only for sub mode"),
        "{stderr}"
    );
    let help = bench(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--source-addresses")
            && text.contains("fan-out")
            && text.contains("--filters-per-client"),
        "{text}"
    );
}
