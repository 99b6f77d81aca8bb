//! Property tests over random workloads between two sessions joined by a lossy link: messages in
//! both directions at every QoS, packets delivered one at a time, connections dropped with
//! their in-transit tail lost, reconnections that resume the session, and restarts of both
//! processes from their serialized state. They prove, for MQTT 3.1.1 and 5.0:
//!
//! - QoS 0 is delivered at most once, QoS 1 at least once, QoS 2 exactly once (spec 4.3);
//! - messages of one topic and QoS arrive in the order they were published (spec 4.6);
//! - in-flight QoS 1/2 messages never exceed the window (Receive Maximum) [MQTT-3.3.4-7];
//! - a packet identifier is never reused while in flight [MQTT-2.2.1-3];
//! - every QoS 1/2 message completes exactly once at its sender;
//! - neither side ever sees a protocol violation from the other.
//!
//! `PROPTEST_CASES` raises the number of cases for release checks (see docs/design.md).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod util;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use mqtt_codec::{Packet, ProtocolVersion, QoS, TopicName};
use mqtt_session::{Config, ConnectionState, Event, Message, MessageId};
use proptest::prelude::*;
use util::{Dir, Pair};

#[derive(Debug, Clone)]
enum Op {
    ClientPublish(QoS, u8),
    ServerPublish(QoS, u8),
    Step(Dir, u8),
    DropConnection,
    Reconnect,
    Restart,
    Advance(u8),
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::ClientToServer), Just(Dir::ServerToClient)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (qos(), 0u8..3).prop_map(|(q, t)| Op::ClientPublish(q, t)),
        6 => (qos(), 0u8..3).prop_map(|(q, t)| Op::ServerPublish(q, t)),
        10 => (dir(), 1u8..6).prop_map(|(d, n)| Op::Step(d, n)),
        1 => Just(Op::DropConnection),
        2 => Just(Op::Reconnect),
        1 => Just(Op::Restart),
        1 => (1u8..30).prop_map(Op::Advance),
    ]
}

#[derive(Debug, Clone)]
struct Setup {
    version: ProtocolVersion,
    client_receive_max: u16,
    server_receive_max: u16,
    client_inflight: u16,
    server_inflight: u16,
    client_alias_max: u16,
    server_alias_max: u16,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        prop_oneof![Just(ProtocolVersion::V3_1_1), Just(ProtocolVersion::V5)],
        1u16..5,
        1u16..5,
        1u16..5,
        1u16..5,
        0u16..3,
        0u16..3,
    )
        .prop_map(|(version, crm, srm, ci, si, cam, sam)| Setup {
            version,
            client_receive_max: crm,
            server_receive_max: srm,
            client_inflight: ci,
            server_inflight: si,
            client_alias_max: cam,
            server_alias_max: sam,
        })
}

fn config(receive_maximum: u16, max_inflight: u16, alias_max: u16) -> Config {
    Config {
        receive_maximum,
        max_inflight,
        topic_alias_maximum: alias_max,
        max_queued_messages: 0,
        ..Config::default()
    }
}

/// What one side published, by payload.
#[derive(Default)]
struct Ledger {
    sent: Vec<(String, u8, QoS, MessageId)>,
}

/// Payloads received by the application, in order.
fn received(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { message, .. } => {
                Some(String::from_utf8(message.payload.to_vec()).unwrap())
            }
            _ => None,
        })
        .collect()
}

fn completions(events: &[Event]) -> Vec<MessageId> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishCompleted { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

fn assert_no_violation(events: &[Event], side: &str) {
    for e in events {
        assert!(
            !matches!(e, Event::ProtocolViolation(_) | Event::KeepAliveTimeout),
            "{side} saw {e:?}"
        );
    }
}

/// Watches one direction of the wire for packet identifier reuse [MQTT-2.2.1-3].
#[derive(Default)]
struct IdWatch {
    outstanding: HashSet<u16>,
    checked: usize,
}

impl IdWatch {
    fn observe(&mut self, packet: &Packet, sender_dir: Dir, dir: Dir) {
        match packet {
            Packet::Publish(p) if dir == sender_dir => {
                if let Some(id) = p.qos.packet_id() {
                    if !p.dup {
                        assert!(
                            self.outstanding.insert(id.get()),
                            "packet identifier {id} reused while in flight"
                        );
                    } else {
                        self.outstanding.insert(id.get());
                    }
                    self.checked += 1;
                }
            }
            Packet::PubAck(a) if dir != sender_dir => {
                self.outstanding.remove(&a.packet_id.get());
            }
            Packet::PubRec(r) if dir != sender_dir && r.reason_code.is_error() => {
                self.outstanding.remove(&r.packet_id.get());
            }
            Packet::PubComp(c) if dir != sender_dir => {
                self.outstanding.remove(&c.packet_id.get());
            }
            _ => {}
        }
    }
}

fn run(setup: Setup, ops: Vec<Op>) {
    let mut pair = Pair::new(
        setup.version,
        config(
            setup.client_receive_max,
            setup.client_inflight,
            setup.client_alias_max,
        ),
        config(
            setup.server_receive_max,
            setup.server_inflight,
            setup.server_alias_max,
        ),
    );
    let v5 = setup.version.is_v5();
    // The sender's window: its own limit, and the receiver's Receive Maximum in 5.0.
    let client_window = if v5 {
        setup.client_inflight.min(setup.server_receive_max)
    } else {
        setup.client_inflight
    } as usize;
    let server_window = if v5 {
        setup.server_inflight.min(setup.client_receive_max)
    } else {
        setup.server_inflight
    } as usize;
    let topics: Vec<TopicName> = (0..3)
        .map(|i| TopicName::new(format!("t/{i}")).unwrap())
        .collect();
    let mut client_ledger = Ledger::default();
    let mut server_ledger = Ledger::default();
    let mut counter = 0u32;
    let mut c2s_ids = IdWatch::default();
    let mut s2c_ids = IdWatch::default();
    let mut watched = 0;

    pair.connect(false);
    for op in ops {
        let connected = pair.client.connection_state() == ConnectionState::Connected;
        match op {
            Op::ClientPublish(qos, t) | Op::ServerPublish(qos, t) => {
                counter += 1;
                let from_client = matches!(op, Op::ClientPublish(..));
                let payload = format!("{}{counter}", if from_client { 'c' } else { 's' });
                let msg = Message::new(topics[t as usize].clone(), payload.clone(), qos);
                let (session, ledger) = if from_client {
                    (&mut pair.client, &mut client_ledger)
                } else {
                    (&mut pair.server, &mut server_ledger)
                };
                let id = session.publish(pair.now, msg).unwrap();
                ledger.sent.push((payload, t, qos, id));
                pair.flush();
            }
            Op::Step(d, n) => {
                for _ in 0..n {
                    pair.step(d);
                }
            }
            Op::DropConnection => {
                if connected {
                    pair.drop_connection();
                }
            }
            Op::Reconnect => {
                if !connected {
                    pair.connect(false);
                }
            }
            Op::Restart => pair.restart_both(),
            Op::Advance(s) => pair.advance(Duration::from_secs(u64::from(s))),
        }
        for (dir, packet) in &pair.delivered[watched..] {
            c2s_ids.observe(packet, Dir::ClientToServer, *dir);
            s2c_ids.observe(packet, Dir::ServerToClient, *dir);
        }
        watched = pair.delivered.len();
        assert!(pair.client.inflight_len() <= client_window, "client window");
        assert!(pair.server.inflight_len() <= server_window, "server window");
        assert_no_violation(&pair.client_events, "client");
        assert_no_violation(&pair.server_events, "server");
    }
    // Let everything settle on a final, uninterrupted connection.
    if pair.client.connection_state() != ConnectionState::Connected {
        pair.connect(false);
    }
    pair.drive();
    assert_no_violation(&pair.client_events, "client");
    assert_no_violation(&pair.server_events, "server");

    check_delivery(
        "client->server",
        &client_ledger,
        &received(&pair.server_events),
    );
    check_delivery(
        "server->client",
        &server_ledger,
        &received(&pair.client_events),
    );
    check_completions(&client_ledger, &completions(&pair.client_events));
    check_completions(&server_ledger, &completions(&pair.server_events));
    assert_eq!(pair.client.inflight_len(), 0);
    assert_eq!(pair.server.inflight_len(), 0);
    let _ = (c2s_ids.checked, s2c_ids.checked);
}

fn check_delivery(what: &str, ledger: &Ledger, received: &[String]) {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in received {
        *count.entry(r.as_str()).or_default() += 1;
    }
    for (payload, _, qos, _) in &ledger.sent {
        let n = count.get(payload.as_str()).copied().unwrap_or(0);
        match qos {
            QoS::AtMostOnce => assert!(n <= 1, "{what}: QoS 0 {payload} delivered {n} times"),
            QoS::AtLeastOnce => assert!(n >= 1, "{what}: QoS 1 {payload} lost"),
            QoS::ExactlyOnce => assert_eq!(n, 1, "{what}: QoS 2 {payload} delivered {n} times"),
        }
    }
    assert!(
        received
            .iter()
            .all(|r| ledger.sent.iter().any(|(p, ..)| p == r)),
        "{what}: delivered a message nobody sent"
    );
    // Spec 4.6: per topic and QoS, first deliveries keep the publishing order.
    let position: HashMap<&str, usize> = ledger
        .sent
        .iter()
        .enumerate()
        .map(|(i, (p, ..))| (p.as_str(), i))
        .collect();
    let mut seen = HashSet::new();
    let mut last: HashMap<(u8, QoS), usize> = HashMap::new();
    for r in received {
        if !seen.insert(r.as_str()) {
            continue;
        }
        let i = position[r.as_str()];
        let (_, topic, qos, _) = &ledger.sent[i];
        if let Some(prev) = last.insert((*topic, *qos), i) {
            assert!(
                prev < i,
                "{what}: {r} overtook an earlier message of its topic"
            );
        }
    }
}

fn check_completions(ledger: &Ledger, completed: &[MessageId]) {
    let mut seen = HashSet::new();
    for id in completed {
        assert!(seen.insert(*id), "message {id:?} completed twice");
    }
    for (payload, _, qos, id) in &ledger.sent {
        if *qos != QoS::AtMostOnce {
            assert!(seen.contains(id), "{payload} never completed");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_workloads_keep_the_delivery_guarantees(
        setup in setup(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        run(setup, ops);
    }
}
