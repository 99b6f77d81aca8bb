//! One test per protocol rule of the session, named after its normative statement (5.0 numbering
//! unless marked 3.1.1), driven through the simulation harness with real encoded bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod util;

use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use mqtt_codec::*;
use mqtt_session::*;
use util::{Dir, Pair};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn topic(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

fn msg(t: &str, payload: &str, qos: QoS) -> Message {
    Message::new(topic(t), payload.to_string(), qos)
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn connected(version: ProtocolVersion) -> Pair {
    let mut pair = Pair::new(version, Config::default(), Config::default());
    pair.connect(false);
    pair
}

fn publishes(pair: &Pair, dir: Dir) -> Vec<Publish> {
    pair.packets(dir)
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

fn payloads(events: &[Event]) -> Vec<String> {
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

fn violations(events: &[Event]) -> Vec<Violation> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ProtocolViolation(v) => Some(v.clone()),
            _ => None,
        })
        .collect()
}

/// A server session that accepted a CONNECT with the given properties, its CONNACK drained.
fn server_with(config: Config, version: ProtocolVersion, props: ConnectProperties) -> Session {
    let mut server = Session::new_server(config);
    let connect = Connect {
        protocol: version,
        client_id: MqttString::new("c").unwrap(),
        properties: props,
        ..Connect::default()
    };
    server
        .accept(Instant::from_millis(0), &connect, ConnAck::default())
        .unwrap();
    assert!(matches!(
        server.poll_transmit(Instant::from_millis(0)),
        Some(Packet::ConnAck(_))
    ));
    server
}

fn drain(session: &mut Session) -> Vec<Packet> {
    std::iter::from_fn(|| session.poll_transmit(Instant::from_millis(0))).collect()
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
}

// ---------------------------------------------------------------------------------------------
// QoS flows (spec 4.3)

#[test]
fn mqtt_4_3_2_qos1_flow() {
    // [MQTT-4.3.2-2] PUBLISH with QoS 1, DUP 0; [MQTT-4.3.2-4] the receiver answers PUBACK with
    // the same identifier; [MQTT-4.3.2-3] the sender treats it as unacknowledged until then.
    let mut pair = connected(V5);
    let id = pair
        .client
        .publish(pair.now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    pair.step(Dir::ClientToServer);
    assert_eq!(pair.client.inflight_len(), 1);
    let p = &publishes(&pair, Dir::ClientToServer)[0];
    assert!(!p.dup);
    assert_eq!(p.qos.qos(), QoS::AtLeastOnce);
    pair.step(Dir::ServerToClient);
    let ack = pair.packets(Dir::ServerToClient).last().unwrap().clone();
    assert_eq!(ack, Packet::PubAck(PubAck::new(p.qos.packet_id().unwrap())));
    assert_eq!(pair.client.inflight_len(), 0);
    assert!(pair.client_events.contains(&Event::PublishCompleted {
        id,
        reason_code: ReasonCode::Success
    }));
}

#[test]
fn mqtt_4_3_3_qos2_flow() {
    // [MQTT-4.3.3-2] PUBLISH QoS 2 DUP 0; [MQTT-4.3.3-8] PUBREC; [MQTT-4.3.3-4] PUBREL on a
    // successful PUBREC; [MQTT-4.3.3-11] PUBCOMP with the same identifier.
    let mut pair = connected(V5);
    pair.client
        .publish(pair.now, msg("a", "1", QoS::ExactlyOnce))
        .unwrap();
    pair.drive();
    let kinds: Vec<(Dir, PacketType)> = pair.delivered[2..]
        .iter()
        .map(|(d, p)| (*d, p.packet_type()))
        .collect();
    assert_eq!(
        kinds,
        [
            (Dir::ClientToServer, PacketType::Publish),
            (Dir::ServerToClient, PacketType::PubRec),
            (Dir::ClientToServer, PacketType::PubRel),
            (Dir::ServerToClient, PacketType::PubComp),
        ]
    );
    assert_eq!(payloads(&pair.server_events), ["1"]);
}

#[test]
fn mqtt_4_3_3_10_qos2_receiver_never_delivers_twice() {
    // 5.0 [MQTT-4.3.3-10] / 3.1.1 [MQTT-4.3.3-2]: until PUBREL, a PUBLISH with the same
    // identifier is acknowledged with PUBREC and not delivered again.
    for version in [V4, V5] {
        let mut server = server_with(Config::default(), version, ConnectProperties::default());
        let publish = Publish {
            qos: PublishQos::ExactlyOnce(pid(7)),
            topic: topic("a"),
            payload: "x".into(),
            ..Publish::default()
        };
        let now = Instant::from_millis(0);
        server.handle_packet(now, Packet::Publish(publish.clone()));
        server.handle_packet(
            now,
            Packet::Publish(Publish {
                dup: true,
                ..publish.clone()
            }),
        );
        assert_eq!(payloads(&events(&mut server)), ["x"]);
        assert_eq!(
            drain(&mut server),
            [
                Packet::PubRec(PubRec::new(pid(7))),
                Packet::PubRec(PubRec::new(pid(7)))
            ]
        );
        // [MQTT-4.3.3-12] after PUBCOMP the identifier starts a new message.
        server.handle_packet(now, Packet::PubRel(PubRel::new(pid(7))));
        assert_eq!(drain(&mut server), [Packet::PubComp(PubComp::new(pid(7)))]);
        server.handle_packet(now, Packet::Publish(publish));
        assert_eq!(payloads(&events(&mut server)), ["x"]);
    }
}

#[test]
fn mqtt_4_3_3_4_pubrec_with_error_ends_the_flow() {
    // [MQTT-4.3.3-4] PUBREL only follows a PUBREC whose Reason Code is below 0x80; a failure
    // completes the flow.
    let mut pair = connected(V5);
    let id = pair
        .client
        .publish(pair.now, msg("a", "1", QoS::ExactlyOnce))
        .unwrap();
    pair.flush();
    pair.c2s.clear();
    let rec = PubRec {
        reason_code: ReasonCode::NotAuthorized,
        ..PubRec::new(pid(1))
    };
    pair.client.handle_packet(pair.now, Packet::PubRec(rec));
    assert!(drain(&mut pair.client).is_empty(), "no PUBREL");
    assert_eq!(pair.client.inflight_len(), 0);
    assert!(events(&mut pair.client).contains(&Event::PublishCompleted {
        id,
        reason_code: ReasonCode::NotAuthorized
    }));
}

#[test]
fn pubrel_for_an_unknown_identifier_gets_pubcomp_0x92() {
    // Spec 3.7.2.1: PUBCOMP Reason Code 0x92 Packet Identifier not found.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.handle_packet(Instant::from_millis(0), Packet::PubRel(PubRel::new(pid(9))));
    assert_eq!(
        drain(&mut server),
        [Packet::PubComp(PubComp {
            reason_code: ReasonCode::PacketIdentifierNotFound,
            ..PubComp::new(pid(9))
        })]
    );
    // 3.1.1 has no reason codes: a plain PUBCOMP lets the peer finish.
    let mut server = server_with(Config::default(), V4, ConnectProperties::default());
    server.handle_packet(Instant::from_millis(0), Packet::PubRel(PubRel::new(pid(9))));
    assert_eq!(drain(&mut server), [Packet::PubComp(PubComp::new(pid(9)))]);
}

#[test]
fn pubrec_for_an_unknown_identifier_gets_pubrel_0x92() {
    // Spec 3.6.2.1: PUBREL Reason Code 0x92 Packet Identifier not found.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.handle_packet(Instant::from_millis(0), Packet::PubRec(PubRec::new(pid(4))));
    assert_eq!(
        drain(&mut server),
        [Packet::PubRel(PubRel {
            reason_code: ReasonCode::PacketIdentifierNotFound,
            ..PubRel::new(pid(4))
        })]
    );
    assert!(events(&mut server).contains(&Event::UnknownPacketId {
        packet_type: PacketType::PubRec,
        packet_id: pid(4)
    }));
}

#[test]
fn unknown_puback_is_reported_not_fatal() {
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.handle_packet(Instant::from_millis(0), Packet::PubAck(PubAck::new(pid(3))));
    assert_eq!(
        events(&mut server),
        [Event::UnknownPacketId {
            packet_type: PacketType::PubAck,
            packet_id: pid(3)
        }]
    );
    assert_eq!(server.connection_state(), ConnectionState::Connected);
}

// ---------------------------------------------------------------------------------------------
// Resumption (spec 4.4) and ordering (spec 4.6)

#[test]
fn mqtt_4_4_0_1_unacknowledged_messages_are_resent_on_resume() {
    // [MQTT-4.4.0-1] On reconnect with a kept session, unacknowledged PUBLISH (DUP 1) and PUBREL
    // packets are re-sent with their original identifiers; [MQTT-4.6.0-1] in the original order.
    for version in [V4, V5] {
        let mut pair = connected(version);
        pair.client
            .publish(pair.now, msg("a", "q1", QoS::AtLeastOnce))
            .unwrap();
        pair.client
            .publish(pair.now, msg("a", "q2", QoS::ExactlyOnce))
            .unwrap();
        pair.client
            .publish(pair.now, msg("a", "q2b", QoS::ExactlyOnce))
            .unwrap();
        pair.step(Dir::ClientToServer); // q1 arrives, its PUBACK will be lost
        pair.step(Dir::ClientToServer); // q2 arrives
        pair.step(Dir::ClientToServer); // q2b arrives
        pair.step(Dir::ServerToClient); // PUBACK q1 lost? no: delivered
        pair.step(Dir::ServerToClient); // PUBREC q2 delivered, PUBREL q2 goes out
        pair.drop_connection(); // PUBREL q2 and PUBREC q2b lost
        let before = pair.delivered.len();
        pair.connect(false);
        pair.drive();
        let resent: Vec<Packet> = pair.delivered[before..]
            .iter()
            .filter(|(d, _)| *d == Dir::ClientToServer)
            .map(|(_, p)| p.clone())
            .collect();
        // q2 awaits PUBCOMP: PUBREL again; q2b awaits PUBREC: PUBLISH again with DUP.
        assert_eq!(resent[1], Packet::PubRel(PubRel::new(pid(2))), "{version}");
        match &resent[2] {
            Packet::Publish(p) => {
                assert!(p.dup);
                assert_eq!(p.qos.packet_id(), Some(pid(3)));
                assert_eq!(p.payload, "q2b");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            payloads(&pair.server_events),
            ["q1", "q2", "q2b"],
            "no duplicates"
        );
        assert_eq!(pair.client.inflight_len(), 0);
    }
}

#[test]
fn mqtt_4_4_0_1_no_resend_within_a_connection() {
    // 5.0 [MQTT-4.4.0-1]: Clients and Servers MUST NOT resend messages at any other time.
    let mut pair = connected(V5);
    pair.client
        .publish(pair.now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    pair.flush();
    for _ in 0..10 {
        pair.advance(Duration::from_secs(600));
    }
    assert_eq!(pair.c2s.len(), 1, "only the first PUBLISH is on the wire");
}

#[test]
fn mqtt_4_6_0_2_acknowledgements_in_the_order_received() {
    // [MQTT-4.6.0-2] PUBACK in the order the PUBLISH packets were received; [MQTT-4.6.0-3]
    // PUBREC likewise.
    let mut server = server_with(Config::default(), V4, ConnectProperties::default());
    let now = Instant::from_millis(0);
    for (id, qos) in [
        (5, QoS::AtLeastOnce),
        (2, QoS::ExactlyOnce),
        (9, QoS::AtLeastOnce),
    ] {
        server.handle_packet(
            now,
            Packet::Publish(Publish {
                qos: PublishQos::new(qos, pid(id)),
                topic: topic("t"),
                ..Publish::default()
            }),
        );
    }
    assert_eq!(
        drain(&mut server),
        [
            Packet::PubAck(PubAck::new(pid(5))),
            Packet::PubRec(PubRec::new(pid(2))),
            Packet::PubAck(PubAck::new(pid(9)))
        ]
    );
}

#[test]
fn session_present_0_discards_the_session_state() {
    // Spec 3.2.2.1.1 (5.0) / 3.2.2.2 (3.1.1): with Session Present 0 the client discards its
    // session state; messages not yet received by the server are sent again as new messages.
    let mut pair = connected(V5);
    pair.client
        .publish(pair.now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    pair.step(Dir::ClientToServer); // delivered, but its PUBACK will be lost
    pair.drop_connection();
    // A broker that lost the session answers Clean Start 0 with Session Present 0.
    pair.server_has_session = false;
    pair.connect(false);
    pair.drive();
    let sent = publishes(&pair, Dir::ClientToServer);
    assert_eq!(sent.len(), 2);
    assert!(!sent[1].dup, "a new message, not a re-delivery");
    assert_eq!(pair.client.inflight_len(), 0);
}

// ---------------------------------------------------------------------------------------------
// Flow control (spec 4.9) and packet identifiers (spec 2.2.1)

#[test]
fn mqtt_4_9_0_2_receive_maximum_limits_messages_in_flight() {
    // [MQTT-3.3.4-7] / [MQTT-4.9.0-2]: no more QoS 1/2 PUBLISH packets in flight than the
    // peer's Receive Maximum; the rest wait, in order.
    let mut pair = Pair::new(
        V5,
        Config::default(),
        Config {
            receive_maximum: 2,
            ..Config::default()
        },
    );
    pair.connect(false);
    for i in 0..5 {
        pair.client
            .publish(pair.now, msg("a", &i.to_string(), QoS::AtLeastOnce))
            .unwrap();
    }
    pair.flush();
    assert_eq!(pair.c2s.len(), 2);
    assert_eq!(pair.client.inflight_len(), 2);
    assert_eq!(pair.client.queued_len(), 3);
    pair.drive();
    assert_eq!(payloads(&pair.server_events), ["0", "1", "2", "3", "4"]);
}

#[test]
fn max_inflight_limits_messages_in_flight_in_3_1_1() {
    // 3.1.1 has no Receive Maximum: the sender's own limit (Mosquitto's max_inflight_messages).
    let mut pair = Pair::new(
        V4,
        Config {
            max_inflight: 1,
            ..Config::default()
        },
        Config::default(),
    );
    pair.connect(false);
    for i in 0..3 {
        pair.client
            .publish(pair.now, msg("a", &i.to_string(), QoS::ExactlyOnce))
            .unwrap();
    }
    pair.flush();
    assert_eq!(pair.c2s.len(), 1);
    pair.drive();
    assert_eq!(payloads(&pair.server_events), ["0", "1", "2"]);
}

#[test]
fn exceeding_our_receive_maximum_is_0x93() {
    // Spec 3.3.4: a peer that sends more than Receive Maximum unacknowledged QoS 1/2 PUBLISH
    // packets gets DISCONNECT 0x93 Receive Maximum exceeded.
    let config = Config {
        receive_maximum: 1,
        ..Config::default()
    };
    let mut server = server_with(config, V5, ConnectProperties::default());
    let now = Instant::from_millis(0);
    for id in [1, 2] {
        server.handle_packet(
            now,
            Packet::Publish(Publish {
                qos: PublishQos::ExactlyOnce(pid(id)),
                topic: topic("t"),
                ..Publish::default()
            }),
        );
    }
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::ReceiveMaximumExceeded(1)]
    );
    assert_eq!(
        drain(&mut server).last(),
        Some(&Packet::from(Disconnect::new(
            ReasonCode::ReceiveMaximumExceeded
        )))
    );
    assert_eq!(server.connection_state(), ConnectionState::Closed);
}

#[test]
fn mqtt_2_2_1_3_identifiers_are_not_reused_while_in_flight() {
    // [MQTT-2.2.1-3] a new PUBLISH/SUBSCRIBE/UNSUBSCRIBE uses an identifier not in use.
    let mut pair = connected(V5);
    pair.client
        .publish(pair.now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    let sub = pair
        .client
        .subscribe(
            vec![(
                TopicFilter::new("x").unwrap(),
                SubscriptionOptions::default(),
            )],
            SubscribeProperties::default(),
        )
        .unwrap();
    pair.client
        .publish(pair.now, msg("a", "2", QoS::AtLeastOnce))
        .unwrap();
    let ids: Vec<u16> = publishes(&pair, Dir::ClientToServer)
        .iter()
        .chain(std::iter::empty())
        .filter_map(|p| p.qos.packet_id().map(|i| i.get()))
        .collect();
    pair.flush();
    let mut all: Vec<u16> = pair
        .c2s
        .iter()
        .filter_map(
            |b| match Decoder::new(V5).decode(&mut b.clone()).unwrap().unwrap() {
                Packet::Publish(p) => p.qos.packet_id().map(|i| i.get()),
                Packet::Subscribe(s) => Some(s.packet_id.get()),
                _ => None,
            },
        )
        .collect();
    all.extend(ids);
    all.sort_unstable();
    let len = all.len();
    all.dedup();
    assert_eq!(all.len(), len, "identifiers {all:?} must be distinct");
    assert!(all.contains(&sub.get()));
}

// ---------------------------------------------------------------------------------------------
// Keep alive (spec 3.1.2.10)

#[test]
fn mqtt_3_1_2_20_client_sends_pingreq_when_idle() {
    // 5.0 [MQTT-3.1.2-20] / 3.1.1 [MQTT-3.1.2-23]: the client sends PINGREQ if it has sent
    // nothing for Keep Alive seconds.
    let mut pair = Pair::new(V4, Config::default(), Config::default());
    pair.keep_alive = 10;
    pair.connect(false);
    assert_eq!(
        pair.client.poll_timeout(),
        Some(Instant::from_millis(10_000))
    );
    pair.advance(Duration::from_secs(9));
    assert!(pair.c2s.is_empty());
    pair.advance(Duration::from_secs(1));
    pair.drive();
    let kinds: Vec<PacketType> = pair
        .delivered
        .iter()
        .map(|(_, p)| p.packet_type())
        .collect();
    assert_eq!(&kinds[2..], [PacketType::PingReq, PacketType::PingResp]);
}

#[test]
fn client_gives_up_without_pingresp() {
    let mut pair = Pair::new(V4, Config::default(), Config::default());
    pair.keep_alive = 10;
    pair.connect(false);
    pair.advance(Duration::from_secs(10)); // PINGREQ sent, never answered
    pair.c2s.clear();
    pair.advance(Duration::from_secs(10));
    assert!(pair.client_events.contains(&Event::KeepAliveTimeout));
    assert_eq!(pair.client.connection_state(), ConnectionState::Closed);
}

#[test]
fn mqtt_3_1_2_22_server_closes_after_one_and_a_half_keep_alive() {
    // 5.0 [MQTT-3.1.2-22] / 3.1.1 [MQTT-3.1.2-24]: no packet within 1.5 x Keep Alive.
    let mut server = Session::new_server(Config::default());
    let connect = Connect {
        keep_alive: 10,
        ..Connect::default()
    };
    server
        .accept(Instant::from_millis(0), &connect, ConnAck::default())
        .unwrap();
    drain(&mut server);
    assert_eq!(server.poll_timeout(), Some(Instant::from_millis(15_000)));
    server.handle_timeout(Instant::from_millis(14_999));
    assert_eq!(server.connection_state(), ConnectionState::Connected);
    server.handle_timeout(Instant::from_millis(15_000));
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::KeepAliveTimeout]
    );
    assert_eq!(
        drain(&mut server),
        [Packet::from(Disconnect::new(ReasonCode::KeepAliveTimeout))]
    );
}

#[test]
fn mqtt_3_2_2_21_server_keep_alive_overrides_the_clients() {
    // [MQTT-3.2.2-21] the client uses the Server Keep Alive from CONNACK.
    let mut client = Session::new_client(Config::default());
    let now = Instant::from_millis(0);
    client
        .connect(
            now,
            Connect {
                keep_alive: 60,
                ..Connect::default()
            },
        )
        .unwrap();
    drain(&mut client);
    let connack = ConnAck {
        properties: ConnAckProperties {
            server_keep_alive: Some(5),
            ..Default::default()
        },
        ..ConnAck::default()
    };
    client.handle_packet(now, Packet::ConnAck(Box::new(connack)));
    assert_eq!(client.poll_timeout(), Some(Instant::from_millis(5_000)));
}

// ---------------------------------------------------------------------------------------------
// Topic aliases (spec 3.3.2.3.4)

#[test]
fn outbound_topic_aliases_define_then_use() {
    // The server may alias topics up to the client's Topic Alias Maximum
    // ([MQTT-3.1.2-26]); the first PUBLISH defines the alias, later ones send an empty topic.
    let mut pair = Pair::new(
        V5,
        Config {
            topic_alias_maximum: 1,
            ..Config::default()
        },
        Config::default(),
    );
    pair.connect(false);
    for t in ["a/b", "a/b", "c"] {
        pair.server
            .publish(pair.now, msg(t, "x", QoS::AtMostOnce))
            .unwrap();
    }
    pair.drive();
    let sent = publishes(&pair, Dir::ServerToClient);
    assert_eq!(sent[0].topic, "a/b");
    assert_eq!(sent[0].topic_alias, NonZeroU16::new(1));
    assert!(sent[1].topic.is_empty());
    assert_eq!(sent[1].topic_alias, NonZeroU16::new(1));
    // Only one alias allowed: the third topic goes out in full [MQTT-3.1.2-26].
    assert_eq!(sent[2].topic, "c");
    assert_eq!(sent[2].topic_alias, None);
    // The client resolves them for the application.
    let topics: Vec<String> = pair
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Message { message, .. } => Some(message.topic.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["a/b", "a/b", "c"]);
}

#[test]
fn mqtt_3_1_2_27_no_aliases_when_the_peer_allows_none() {
    // [MQTT-3.1.2-27] Topic Alias Maximum absent or 0: no Topic Aliases.
    let mut pair = Pair::new(
        V5,
        Config {
            topic_alias_maximum: 0,
            ..Config::default()
        },
        Config::default(),
    );
    pair.connect(false);
    pair.server
        .publish(pair.now, msg("a", "x", QoS::AtMostOnce))
        .unwrap();
    pair.server
        .publish(pair.now, msg("a", "x", QoS::AtMostOnce))
        .unwrap();
    pair.drive();
    assert!(publishes(&pair, Dir::ServerToClient)
        .iter()
        .all(|p| p.topic_alias.is_none() && p.topic == "a"));
}

#[test]
fn mqtt_3_3_2_7_aliases_do_not_survive_the_connection() {
    // [MQTT-3.3.2-7] A receiver MUST NOT carry forward any Topic Alias mappings from one Network
    // Connection to another.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    let now = Instant::from_millis(0);
    let define = Publish {
        topic: topic("a"),
        topic_alias: NonZeroU16::new(1),
        ..Publish::default()
    };
    server.handle_packet(now, Packet::Publish(define));
    server.connection_lost();
    server
        .accept(
            now,
            &Connect::default(),
            ConnAck {
                session_present: true,
                ..ConnAck::default()
            },
        )
        .unwrap();
    events(&mut server);
    let use_alias = Publish {
        topic: TopicName::alias_only(),
        topic_alias: NonZeroU16::new(1),
        ..Publish::default()
    };
    server.handle_packet(now, Packet::Publish(use_alias));
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::UnknownTopicAlias(1)]
    );
}

#[test]
fn mqtt_3_3_2_9_alias_above_the_maximum_is_0x94() {
    // [MQTT-3.3.2-9] the client MUST NOT send a Topic Alias above the server's maximum; the
    // server answers DISCONNECT 0x94 Topic Alias invalid.
    let config = Config {
        topic_alias_maximum: 2,
        ..Config::default()
    };
    let mut server = server_with(config, V5, ConnectProperties::default());
    let publish = Publish {
        topic: topic("a"),
        topic_alias: NonZeroU16::new(3),
        ..Publish::default()
    };
    server.handle_packet(Instant::from_millis(0), Packet::Publish(publish));
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::TopicAliasTooLarge { alias: 3, max: 2 }]
    );
    assert_eq!(
        drain(&mut server),
        [Packet::from(Disconnect::new(ReasonCode::TopicAliasInvalid))]
    );
}

// ---------------------------------------------------------------------------------------------
// Maximum Packet Size, problem information, expiry

#[test]
fn mqtt_3_1_2_25_packets_too_large_for_the_peer_are_discarded() {
    // [MQTT-3.1.2-24] never send a packet above the client's Maximum Packet Size;
    // [MQTT-3.1.2-25] discard it and behave as if it had been sent.
    let props = ConnectProperties {
        maximum_packet_size: NonZeroU32::new(64),
        ..Default::default()
    };
    let mut server = server_with(Config::default(), V5, props);
    let now = Instant::from_millis(0);
    let big = server
        .publish(now, msg("a", &"x".repeat(100), QoS::AtLeastOnce))
        .unwrap();
    server
        .publish(now, msg("a", "small", QoS::AtLeastOnce))
        .unwrap();
    let sent = drain(&mut server);
    assert_eq!(sent.len(), 1);
    assert!(sent.iter().all(|p| p.encoded_len(V5).unwrap() <= 64));
    assert_eq!(server.inflight_len(), 1);
    assert!(events(&mut server).contains(&Event::PublishDropped {
        id: big,
        reason: DropReason::TooLarge
    }));
}

#[test]
fn reason_strings_are_dropped_to_fit_the_maximum_packet_size() {
    let props = ConnectProperties {
        maximum_packet_size: NonZeroU32::new(20),
        ..Default::default()
    };
    let mut server = server_with(Config::default(), V5, props);
    util::requested(&mut server, PacketType::Subscribe, 1);
    let suback = SubAck {
        properties: AckProperties {
            reason_string: Some(MqttString::new("a long diagnostic text").unwrap()),
            ..Default::default()
        },
        ..SubAck::new(pid(1), vec![ReasonCode::GrantedQoS1])
    };
    server.suback(suback).unwrap();
    let sent = drain(&mut server);
    assert_eq!(
        sent,
        [Packet::SubAck(SubAck::new(
            pid(1),
            vec![ReasonCode::GrantedQoS1]
        ))]
    );
}

#[test]
fn mqtt_3_1_2_29_no_problem_information_unless_requested() {
    // [MQTT-3.1.2-29] Request Problem Information 0: no Reason String or User Properties on
    // packets other than PUBLISH, CONNACK and DISCONNECT.
    let props = ConnectProperties {
        request_problem_information: Some(false),
        ..Default::default()
    };
    let mut server = server_with(Config::default(), V5, props);
    util::requested(&mut server, PacketType::Subscribe, 1);
    let suback = SubAck {
        properties: AckProperties {
            reason_string: Some(MqttString::new("why").unwrap()),
            user_properties: vec![(MqttString::new("k").unwrap(), MqttString::new("v").unwrap())],
        },
        ..SubAck::new(pid(1), vec![ReasonCode::NotAuthorized])
    };
    server.suback(suback).unwrap();
    match &drain(&mut server)[0] {
        Packet::SubAck(s) => assert!(s.properties.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mqtt_3_3_2_5_expired_messages_are_not_sent() {
    // [MQTT-3.3.2-5] a message whose expiry passed before onward delivery began is deleted.
    let mut pair = connected(V5);
    pair.drop_connection();
    let mut m = msg("a", "old", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(5);
    let id = pair.server.publish(pair.now, m).unwrap();
    pair.now = pair.now + Duration::from_secs(6);
    pair.connect(false);
    pair.drive();
    assert!(publishes(&pair, Dir::ServerToClient).is_empty());
    assert!(pair.server_events.contains(&Event::PublishDropped {
        id,
        reason: DropReason::Expired
    }));
}

#[test]
fn mqtt_3_3_2_6_forwarded_expiry_is_the_remaining_time() {
    // [MQTT-3.3.2-6] the PUBLISH carries the received interval minus the time spent waiting.
    let mut pair = connected(V5);
    pair.drop_connection();
    let mut m = msg("a", "x", QoS::AtLeastOnce);
    m.properties.message_expiry_interval = Some(60);
    pair.server.publish(pair.now, m).unwrap();
    pair.now = pair.now + Duration::from_millis(20_500);
    pair.connect(false);
    pair.drive();
    let sent = publishes(&pair, Dir::ServerToClient);
    assert_eq!(sent[0].properties.message_expiry_interval, Some(40));
}

// ---------------------------------------------------------------------------------------------
// Other peer violations

#[test]
fn mqtt_3_1_0_2_second_connect_is_a_protocol_error() {
    // [MQTT-3.1.0-2] a second CONNECT is a Protocol Error.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.handle_packet(Instant::from_millis(0), Packet::Connect(Box::default()));
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::UnexpectedPacket(PacketType::Connect)]
    );
    assert_eq!(
        drain(&mut server),
        [Packet::from(Disconnect::new(ReasonCode::ProtocolError))]
    );
}

#[test]
fn violations_in_3_1_1_close_without_disconnect() {
    // 3.1.1 servers have no DISCONNECT to send: they close the connection.
    let mut server = server_with(Config::default(), V4, ConnectProperties::default());
    server.handle_packet(Instant::from_millis(0), Packet::Connect(Box::default()));
    assert_eq!(server.connection_state(), ConnectionState::Closed);
    assert!(drain(&mut server).is_empty());
}

#[test]
fn mqtt_3_3_4_6_no_subscription_identifier_from_the_client() {
    // [MQTT-3.3.4-6] A PUBLISH packet sent from a Client to a Server MUST NOT contain a
    // Subscription Identifier.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    let publish = Publish {
        topic: topic("a"),
        properties: PublishProperties {
            subscription_identifiers: vec![NonZeroU32::new(1).unwrap()],
            ..Default::default()
        }
        .into(),
        ..Publish::default()
    };
    server.handle_packet(Instant::from_millis(0), Packet::Publish(publish));
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::SubscriptionIdentifierFromClient]
    );
}

#[test]
fn mqtt_3_2_2_11_qos_above_maximum_is_0x9b() {
    // [MQTT-3.2.2-11] the client MUST NOT exceed the announced Maximum QoS; the server answers
    // 0x9B QoS not supported. The limit is announced in CONNACK.
    let config = Config {
        maximum_qos: QoS::AtLeastOnce,
        ..Config::default()
    };
    let mut server = Session::new_server(config);
    let now = Instant::from_millis(0);
    server
        .accept(now, &Connect::default(), ConnAck::default())
        .unwrap();
    match server.poll_transmit(now) {
        Some(Packet::ConnAck(c)) => assert_eq!(c.properties.maximum_qos, Some(QoS::AtLeastOnce)),
        other => panic!("{other:?}"),
    }
    server.handle_packet(
        now,
        Packet::Publish(Publish {
            qos: PublishQos::ExactlyOnce(pid(1)),
            topic: topic("a"),
            ..Publish::default()
        }),
    );
    assert_eq!(
        drain(&mut server),
        [Packet::from(Disconnect::new(ReasonCode::QoSNotSupported))]
    );
    // And a client refuses to publish above the server's maximum.
    let mut client = Session::new_client(Config::default());
    client.connect(now, Connect::default()).unwrap();
    drain(&mut client);
    client.handle_packet(
        now,
        Packet::ConnAck(Box::new(ConnAck {
            properties: ConnAckProperties {
                maximum_qos: Some(QoS::AtMostOnce),
                retain_available: Some(false),
                ..Default::default()
            },
            ..ConnAck::default()
        })),
    );
    assert_eq!(
        client.publish(now, msg("a", "x", QoS::AtLeastOnce)),
        Err(PublishError::QoSNotSupported(QoS::AtLeastOnce))
    );
    // [MQTT-3.2.2-14] nor retained messages when Retain Available is 0.
    let mut retained = msg("a", "x", QoS::AtMostOnce);
    retained.retain = true;
    assert_eq!(
        client.publish(now, retained),
        Err(PublishError::RetainNotSupported)
    );
}

#[test]
fn mqtt_3_2_2_14_retain_when_not_available_is_0x9a() {
    let config = Config {
        retain_available: false,
        ..Config::default()
    };
    let mut server = server_with(config, V5, ConnectProperties::default());
    server.handle_packet(
        Instant::from_millis(0),
        Packet::Publish(Publish {
            retain: true,
            topic: topic("a"),
            ..Publish::default()
        }),
    );
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::RetainNotSupported]
    );
}

#[test]
fn session_expiry_cannot_be_set_on_disconnect_after_zero() {
    // Spec 3.14.2.2.2: non-zero Session Expiry Interval on DISCONNECT after 0 in CONNECT is a
    // Protocol Error.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    let d = Disconnect {
        properties: DisconnectProperties {
            session_expiry_interval: Some(60),
            ..Default::default()
        },
        ..Disconnect::default()
    };
    server.handle_packet(Instant::from_millis(0), Packet::from(d));
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::SessionExpiryAfterZero]
    );
}

#[test]
fn peer_disconnect_closes_the_session_and_is_reported() {
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    let d = Disconnect::new(ReasonCode::DisconnectWithWillMessage);
    server.handle_packet(Instant::from_millis(0), Packet::from(d.clone()));
    assert_eq!(events(&mut server), [Event::PeerDisconnected(d)]);
    assert_eq!(server.connection_state(), ConnectionState::Closed);
}

// ---------------------------------------------------------------------------------------------
// Application-facing behaviour

#[test]
fn manual_acks_wait_for_the_application() {
    let config = Config {
        manual_acks: true,
        ..Config::default()
    };
    let mut server = server_with(config, V5, ConnectProperties::default());
    let now = Instant::from_millis(0);
    server.handle_packet(
        now,
        Packet::Publish(Publish {
            qos: PublishQos::AtLeastOnce(pid(3)),
            topic: topic("a"),
            ..Publish::default()
        }),
    );
    assert!(
        drain(&mut server).is_empty(),
        "no PUBACK before the application acks"
    );
    let ack = match events(&mut server).pop() {
        Some(Event::Message { ack: Some(ack), .. }) => ack,
        other => panic!("{other:?}"),
    };
    assert_eq!(ack.packet_id(), pid(3));
    server.ack(ack, ReasonCode::NoMatchingSubscribers);
    assert_eq!(
        drain(&mut server),
        [Packet::PubAck(PubAck {
            reason_code: ReasonCode::NoMatchingSubscribers,
            ..PubAck::new(pid(3))
        })]
    );
}

#[test]
fn qos0_while_offline_is_dropped_unless_queued() {
    let mut pair = connected(V4);
    pair.drop_connection();
    let id = pair
        .server
        .publish(pair.now, msg("a", "x", QoS::AtMostOnce))
        .unwrap();
    assert!(pair.server_events.is_empty());
    pair.collect_events();
    assert!(pair.server_events.contains(&Event::PublishDropped {
        id,
        reason: DropReason::Offline
    }));
    let mut pair = Pair::new(
        V4,
        Config::default(),
        Config {
            queue_qos0_offline: true,
            ..Config::default()
        },
    );
    pair.connect(false);
    pair.drop_connection();
    pair.server
        .publish(pair.now, msg("a", "kept", QoS::AtMostOnce))
        .unwrap();
    pair.connect(false);
    pair.drive();
    assert_eq!(payloads(&pair.client_events), ["kept"]);
}

#[test]
fn queue_limits_refuse_more_messages() {
    let config = Config {
        max_queued_messages: 2,
        ..Config::default()
    };
    let mut session = Session::new_server(config);
    let now = Instant::from_millis(0);
    session
        .publish(now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    session
        .publish(now, msg("a", "2", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(
        session.publish(now, msg("a", "3", QoS::AtLeastOnce)),
        Err(PublishError::QueueFull)
    );
    let config = Config {
        max_queued_bytes: 10,
        ..Config::default()
    };
    let mut session = Session::new_server(config);
    session
        .publish(now, msg("a", "123456", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(
        session.publish(now, msg("a", "123456", QoS::AtLeastOnce)),
        Err(PublishError::QueueFull)
    );
    assert_eq!(session.queued_bytes(), 6);
}

#[test]
fn subscribe_and_unsubscribe_round_trip() {
    let mut pair = connected(V5);
    let filter = TopicFilter::new("a/+").unwrap();
    let id = pair
        .client
        .subscribe(
            vec![(
                filter.clone(),
                SubscriptionOptions::with_qos(QoS::AtLeastOnce),
            )],
            SubscribeProperties::default(),
        )
        .unwrap();
    pair.step(Dir::ClientToServer);
    let request = pair.server_events.pop();
    assert!(matches!(request, Some(Event::Subscribe(ref s)) if s.packet_id == id));
    pair.server
        .suback(SubAck::new(id, vec![ReasonCode::GrantedQoS1]))
        .unwrap();
    pair.drive();
    assert!(pair.client_events.contains(&Event::Subscribed(SubAck::new(
        id,
        vec![ReasonCode::GrantedQoS1]
    ))));
    let id = pair
        .client
        .unsubscribe(vec![filter], UnsubscribeProperties::default())
        .unwrap();
    pair.drive();
    pair.server
        .unsuback(UnsubAck::new(id, vec![ReasonCode::Success]))
        .unwrap();
    pair.drive();
    assert!(pair
        .client_events
        .contains(&Event::Unsubscribed(UnsubAck::new(
            id,
            vec![ReasonCode::Success]
        ))));
    assert_eq!(
        pair.client
            .subscribe(vec![], SubscribeProperties::default()),
        Err(RequestError::Empty)
    );
    assert_eq!(
        pair.server.subscribe(
            vec![(
                TopicFilter::new("a").unwrap(),
                SubscriptionOptions::default()
            )],
            SubscribeProperties::default()
        ),
        Err(RequestError::WrongRole)
    );
}

#[test]
fn server_in_3_1_1_sends_no_disconnect() {
    let mut server = server_with(Config::default(), V4, ConnectProperties::default());
    server.disconnect(Disconnect::new(ReasonCode::SessionTakenOver));
    assert!(drain(&mut server).is_empty());
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.disconnect(Disconnect::new(ReasonCode::SessionTakenOver));
    assert_eq!(
        drain(&mut server),
        [Packet::from(Disconnect::new(ReasonCode::SessionTakenOver))]
    );
}

// ---------------------------------------------------------------------------------------------
// Persistence

#[test]
fn state_survives_serialization_and_resumes() {
    let mut pair = connected(V5);
    pair.client
        .publish(pair.now, msg("a", "1", QoS::ExactlyOnce))
        .unwrap();
    pair.client
        .publish(pair.now, msg("a", "2", QoS::AtLeastOnce))
        .unwrap();
    pair.step(Dir::ClientToServer);
    pair.step(Dir::ServerToClient); // PUBREC: message 1 awaits PUBCOMP, server awaits PUBREL
    pair.restart_both();
    let state = pair.client.snapshot();
    assert_eq!(state.format, STATE_FORMAT);
    pair.connect(false);
    pair.drive();
    assert_eq!(payloads(&pair.server_events), ["1", "2"]);
    assert_eq!(pair.client.inflight_len(), 0);
}

/// A store keeps a session's messages as records of their own and the rest as a small state
/// (`snapshot_without_messages`): put back together, in any order, it is the same session.
#[test]
fn state_without_messages_plus_held_messages_restores_the_same_session() {
    let server_config = Config {
        receive_maximum: 2,
        ..Config::default()
    };
    let mut pair = Pair::new(V5, Config::default(), server_config);
    pair.connect(false);
    let completed = pair
        .client
        .publish(pair.now, msg("a", "1", QoS::ExactlyOnce))
        .unwrap();
    for p in ["2", "3", "4", "5"] {
        pair.client
            .publish(pair.now, msg("a", p, QoS::AtLeastOnce))
            .unwrap();
    }
    pair.step(Dir::ClientToServer);
    pair.step(Dir::ServerToClient); // PUBREC for 1: it awaits PUBCOMP without its message
    pair.restart_both();
    let whole = pair.client.snapshot();
    assert_eq!(whole.format, STATE_FORMAT);

    let mut split = pair.client.snapshot_without_messages();
    let held: Vec<_> = pair
        .client
        .held_messages()
        .map(|h| (h.id, h.message.clone(), h.expires_at))
        .collect();
    // "2" in flight and kept for re-sending, "3" to "5" queued; "1" is past PUBREC.
    let held_payloads: Vec<_> = held.iter().map(|(_, m, _)| m.payload.clone()).collect();
    assert_eq!(held_payloads, ["2", "3", "4", "5"]);
    assert_eq!(split.format, STATE_FORMAT);
    for (id, message, expires_at) in held.into_iter().rev() {
        split.attach_message(id, message, expires_at);
    }
    // A stray copy of "1", whose flow is past PUBREC, is not queued again [MQTT-4.3.3-6].
    split.attach_message(completed, msg("a", "1", QoS::ExactlyOnce), None);
    let restored = Session::restore(Config::default(), split).unwrap();
    assert_eq!(restored.snapshot(), whole);

    pair.server_events.clear();
    pair.connect(false);
    pair.drive();
    // The restored client re-sends "2" and sends the queue, in order.
    assert_eq!(payloads(&pair.server_events), ["2", "3", "4", "5"]);
}

#[test]
fn a_state_missing_an_in_flight_message_is_not_restored() {
    let mut pair = connected(V5);
    pair.client
        .publish(pair.now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    pair.step(Dir::ClientToServer);
    let state = pair.client.snapshot_without_messages();
    let id = pair.client.held_messages().next().unwrap().id;
    assert_eq!(
        Session::restore(Config::default(), state).err(),
        Some(RestoreError::MissingMessage(id.0))
    );
}

#[test]
fn restoring_an_unknown_format_is_an_error() {
    let session = Session::new_server(Config::default());
    let mut json = serde_json::to_value(session.snapshot()).unwrap();
    json["format"] = serde_json::json!(99);
    let state: SessionState = serde_json::from_value(json).unwrap();
    assert_eq!(
        Session::restore(Config::default(), state).err(),
        Some(RestoreError::UnsupportedFormat {
            found: 99,
            expected: STATE_FORMAT
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Limits that hold whatever the application passes in

#[test]
fn mqtt_3_8_4_2_suback_answers_a_pending_subscribe() {
    // [MQTT-3.8.4-2] The SUBACK MUST have the same Packet Identifier as the SUBSCRIBE;
    // [MQTT-3.10.4-4] likewise for UNSUBACK.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    assert_eq!(
        server.suback(SubAck::new(pid(77), vec![ReasonCode::GrantedQoS1])),
        Err(RequestError::NotRequested)
    );
    util::requested(&mut server, PacketType::Subscribe, 5);
    assert_eq!(
        server.unsuback(UnsubAck::new(pid(5), vec![ReasonCode::Success])),
        Err(RequestError::NotRequested),
        "a SUBSCRIBE is not answered with UNSUBACK"
    );
    server
        .suback(SubAck::new(pid(5), vec![ReasonCode::GrantedQoS1]))
        .unwrap();
    assert!(server
        .suback(SubAck::new(pid(5), vec![ReasonCode::GrantedQoS1]))
        .is_err());
    assert_eq!(drain(&mut server).len(), 1);
}

/// A server session with `n` unacknowledged QoS 1 messages, disconnected.
fn server_with_unacked(n: usize, payload: &str) -> Session {
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    for i in 0..n {
        server
            .publish(
                Instant::from_millis(0),
                msg("a", &format!("{payload}{i}"), QoS::AtLeastOnce),
            )
            .unwrap();
    }
    assert_eq!(drain(&mut server).len(), n);
    server.connection_lost();
    server
}

fn resume(server: &mut Session, props: ConnectProperties) {
    let connect = Connect {
        clean_start: false,
        properties: props,
        ..Connect::default()
    };
    let connack = ConnAck {
        session_present: true,
        ..ConnAck::default()
    };
    server
        .accept(Instant::from_millis(0), &connect, connack)
        .unwrap();
}

#[test]
fn mqtt_3_3_4_7_resends_respect_a_lower_receive_maximum() {
    // [MQTT-3.3.4-7] no more than Receive Maximum unacknowledged QoS 1/2 PUBLISH packets, also
    // when resuming; the rest follow, in order and with DUP, as acknowledgements come.
    let mut server = server_with_unacked(5, "m");
    resume(
        &mut server,
        ConnectProperties {
            receive_maximum: NonZeroU16::new(2),
            ..Default::default()
        },
    );
    let sent = drain(&mut server);
    let ids: Vec<u16> = sent
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => {
                assert!(p.dup);
                p.qos.packet_id().map(|i| i.get())
            }
            _ => None,
        })
        .collect();
    assert_eq!(ids, [1, 2]);
    let now = Instant::from_millis(0);
    server.handle_packet(now, Packet::PubAck(PubAck::new(pid(1))));
    server.handle_packet(now, Packet::PubAck(PubAck::new(pid(2))));
    let next: Vec<u16> = drain(&mut server)
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => p.qos.packet_id().map(|i| i.get()),
            _ => None,
        })
        .collect();
    assert_eq!(next, [3, 4]);
}

#[test]
fn mqtt_3_1_2_24_resends_respect_a_lower_maximum_packet_size() {
    // [MQTT-3.1.2-24] never above the client's Maximum Packet Size, also when resuming;
    // [MQTT-3.1.2-25] the message is discarded as if delivered.
    let mut server = server_with_unacked(1, &"x".repeat(100));
    resume(
        &mut server,
        ConnectProperties {
            maximum_packet_size: NonZeroU32::new(50),
            ..Default::default()
        },
    );
    let sent = drain(&mut server);
    assert_eq!(sent.len(), 1, "only the CONNACK: {sent:?}");
    assert!(events(&mut server).iter().any(|e| matches!(
        e,
        Event::PublishDropped {
            reason: DropReason::TooLarge,
            ..
        }
    )));
    assert_eq!(server.inflight_len(), 0);
}

#[test]
fn mqtt_3_2_2_19_refused_connack_fits_the_clients_maximum_packet_size() {
    // [MQTT-3.2.2-19] no Reason String in CONNACK if it would exceed the Maximum Packet Size,
    // refusals included.
    let mut server = Session::new_server(Config::default());
    let connect = Connect {
        properties: ConnectProperties {
            maximum_packet_size: NonZeroU32::new(20),
            ..Default::default()
        },
        ..Connect::default()
    };
    let connack = ConnAck {
        reason_code: ReasonCode::NotAuthorized,
        properties: ConnAckProperties {
            reason_string: Some(MqttString::new("you are not on the list of this broker").unwrap()),
            ..Default::default()
        },
        ..ConnAck::default()
    };
    server
        .accept(Instant::from_millis(0), &connect, connack)
        .unwrap();
    let sent = drain(&mut server);
    assert!(sent[0].encoded_len(V5).unwrap() <= 20, "{sent:?}");
    assert_eq!(server.connection_state(), ConnectionState::Closed);
}

#[test]
fn accept_while_connected_is_refused() {
    // [MQTT-3.2.0-2] at most one CONNACK per connection.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    assert_eq!(
        server.accept(
            Instant::from_millis(0),
            &Connect::default(),
            ConnAck::default()
        ),
        Err(RequestError::AlreadyConnected)
    );
    assert!(drain(&mut server).is_empty());
}

#[test]
fn mqtt_3_2_2_4_session_present_after_clean_start_is_a_violation() {
    // [MQTT-3.2.2-4] a client without session state that gets Session Present 1 closes.
    let mut client = Session::new_client(Config::default());
    let now = Instant::from_millis(0);
    client.connect(now, Connect::default()).unwrap();
    drain(&mut client);
    client.handle_packet(
        now,
        Packet::ConnAck(Box::new(ConnAck {
            session_present: true,
            ..ConnAck::default()
        })),
    );
    assert_eq!(
        violations(&events(&mut client)),
        [Violation::UnexpectedSessionPresent]
    );
    assert_eq!(
        drain(&mut client),
        [Packet::from(Disconnect::new(ReasonCode::ProtocolError))]
    );
}

#[test]
fn mqtt_3_2_2_11_messages_queued_before_connack_respect_its_limits() {
    // [MQTT-3.2.2-11] no QoS above Maximum QoS; [MQTT-3.2.2-14] no RETAIN 1 without Retain
    // Available, also for messages queued before the CONNACK told the limits.
    let mut client = Session::new_client(Config::default());
    let now = Instant::from_millis(0);
    client.connect(now, Connect::default()).unwrap();
    let qos2 = client
        .publish(now, msg("a", "2", QoS::ExactlyOnce))
        .unwrap();
    let mut retained = msg("a", "r", QoS::AtLeastOnce);
    retained.retain = true;
    let retained = client.publish(now, retained).unwrap();
    let kept = client
        .publish(now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    drain(&mut client);
    client.handle_packet(
        now,
        Packet::ConnAck(Box::new(ConnAck {
            properties: ConnAckProperties {
                maximum_qos: Some(QoS::AtLeastOnce),
                retain_available: Some(false),
                ..Default::default()
            },
            ..ConnAck::default()
        })),
    );
    let sent = drain(&mut client);
    assert_eq!(sent.len(), 1);
    assert!(matches!(&sent[0], Packet::Publish(p) if p.payload == "1"));
    let evs = events(&mut client);
    for id in [qos2, retained] {
        assert!(evs.contains(&Event::PublishDropped {
            id,
            reason: DropReason::NotSupported
        }));
    }
    assert!(!evs
        .iter()
        .any(|e| matches!(e, Event::PublishDropped { id, .. } if *id == kept)));
}

#[test]
fn mqtt_3_3_4_6_client_never_sends_subscription_identifiers() {
    // [MQTT-3.3.4-6] A PUBLISH packet sent from a Client to a Server MUST NOT contain a
    // Subscription Identifier, even if the application forwards a received message.
    let mut pair = connected(V5);
    let mut m = msg("a", "fwd", QoS::AtMostOnce);
    m.properties.subscription_identifiers = vec![NonZeroU32::new(9).unwrap()];
    pair.client.publish(pair.now, m).unwrap();
    pair.drive();
    assert!(publishes(&pair, Dir::ClientToServer)[0]
        .properties
        .subscription_identifiers
        .is_empty());
    assert!(violations(&pair.server_events).is_empty());
}

#[test]
fn mqtt_3_14_2_2_server_disconnect_has_no_session_expiry() {
    // [MQTT-3.14.2-2] The Session Expiry Interval MUST NOT be sent on a DISCONNECT by the
    // Server.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    let d = Disconnect {
        properties: DisconnectProperties {
            session_expiry_interval: Some(30),
            ..Default::default()
        },
        ..Disconnect::new(ReasonCode::ServerShuttingDown)
    };
    server.disconnect(d);
    assert_eq!(
        drain(&mut server),
        [Packet::from(Disconnect::new(
            ReasonCode::ServerShuttingDown
        ))]
    );
    assert_eq!(server.session_expiry_interval(), 0);
}

#[test]
fn announced_limits_are_the_ones_enforced() {
    // [MQTT-3.3.2-12]: the server accepts every alias up to the maximum it announced, also when
    // the application announced another value than the configuration's.
    let mut server = Session::new_server(Config::default());
    let now = Instant::from_millis(0);
    let connack = ConnAck {
        properties: ConnAckProperties {
            topic_alias_maximum: Some(20),
            ..Default::default()
        },
        ..ConnAck::default()
    };
    server.accept(now, &Connect::default(), connack).unwrap();
    drain(&mut server);
    server.handle_packet(
        now,
        Packet::Publish(Publish {
            topic: topic("a"),
            topic_alias: NonZeroU16::new(15),
            ..Publish::default()
        }),
    );
    assert!(violations(&events(&mut server)).is_empty());
}

#[test]
fn mqtt_3_2_2_11_resends_respect_the_new_connacks_limits() {
    // [MQTT-3.2.2-11] / [MQTT-3.2.2-14] also for messages in flight from an earlier connection:
    // a server that now announces Maximum QoS 0 and no retain gets neither.
    let mut pair = connected(V5);
    let mut retained = msg("a", "r", QoS::AtLeastOnce);
    retained.retain = true;
    let r = pair.client.publish(pair.now, retained).unwrap();
    let q2 = pair
        .client
        .publish(pair.now, msg("a", "2", QoS::ExactlyOnce))
        .unwrap();
    pair.drop_connection();
    let now = pair.now;
    pair.client
        .connect(
            now,
            Connect {
                clean_start: false,
                ..Connect::default()
            },
        )
        .unwrap();
    drain(&mut pair.client);
    pair.client.handle_packet(
        now,
        Packet::ConnAck(Box::new(ConnAck {
            session_present: true,
            properties: ConnAckProperties {
                maximum_qos: Some(QoS::AtMostOnce),
                retain_available: Some(false),
                ..Default::default()
            },
            ..ConnAck::default()
        })),
    );
    assert!(drain(&mut pair.client).is_empty());
    let evs = events(&mut pair.client);
    for id in [r, q2] {
        assert!(evs.contains(&Event::PublishDropped {
            id,
            reason: DropReason::NotSupported
        }));
    }
}

#[test]
fn server_auth_only_on_an_accepted_connection() {
    // Spec 4.12: extended authentication exchanges before CONNACK are not supported by the
    // server session; re-authentication on an accepted connection is.
    let mut server = Session::new_server(Config::default());
    assert_eq!(
        server.auth(Auth::default()),
        Err(RequestError::NotConnected)
    );
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.auth(Auth::default()).unwrap();
    assert_eq!(drain(&mut server), [Packet::from(Auth::default())]);
}

#[test]
fn qos0_is_refused_when_the_peer_does_not_keep_up() {
    // A slow consumer: nothing is polled from the session, QoS 0 stops at max_queued_messages
    // waiting packets, so memory stays bounded; QoS 1 waits in the (bounded) queue.
    let config = Config {
        max_queued_messages: 3,
        ..Config::default()
    };
    let mut server = server_with(config, V4, ConnectProperties::default());
    let now = Instant::from_millis(0);
    for _ in 0..3 {
        server.publish(now, msg("a", "x", QoS::AtMostOnce)).unwrap();
    }
    assert_eq!(
        server.publish(now, msg("a", "x", QoS::AtMostOnce)),
        Err(PublishError::QueueFull)
    );
    assert_eq!(drain(&mut server).len(), 3);
    server.publish(now, msg("a", "x", QoS::AtMostOnce)).unwrap();
}

#[test]
fn pending_messages_lists_what_is_not_yet_delivered() {
    let config = Config {
        max_inflight: 1,
        ..Config::default()
    };
    let mut server = server_with(config, V4, ConnectProperties::default());
    let now = Instant::from_millis(0);
    let a = server
        .publish(now, msg("t", "a", QoS::AtLeastOnce))
        .unwrap();
    let b = server
        .publish(now, msg("t", "b", QoS::AtLeastOnce))
        .unwrap();
    let pending: Vec<(MessageId, String)> = server
        .pending_messages()
        .map(|(id, m)| (id, String::from_utf8(m.payload.to_vec()).unwrap()))
        .collect();
    assert_eq!(pending, [(a, "a".to_string()), (b, "b".to_string())]);
    server.handle_packet(now, Packet::PubAck(PubAck::new(pid(1))));
    assert_eq!(server.pending_messages().count(), 1);
}

#[test]
fn max_inflight_bytes_holds_messages_until_bytes_are_acknowledged() {
    // Mosquitto's max_inflight_bytes: sending stops once the in-flight payload reaches the
    // limit, and resumes as acknowledgements free it; a message larger than the limit still goes.
    let config = Config {
        max_inflight_bytes: 10,
        ..Config::default()
    };
    let mut server = server_with(config, ProtocolVersion::V5, ConnectProperties::default());
    let now = Instant::from_millis(0);
    for payload in ["123456", "7890ab", "c"] {
        server
            .publish(now, msg("a", payload, QoS::AtLeastOnce))
            .unwrap();
    }
    let sent = |packets: Vec<Packet>| -> Vec<String> {
        packets
            .into_iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some(String::from_utf8_lossy(&p.payload).into_owned()),
                _ => None,
            })
            .collect()
    };
    // 6 bytes in flight < 10: the second goes too (12 bytes); the third waits.
    assert_eq!(sent(drain(&mut server)), ["123456", "7890ab"]);
    server.handle_packet(now, Packet::PubAck(PubAck::new(pid(1))));
    // 6 bytes < 10 again: the third goes.
    assert_eq!(sent(drain(&mut server)), ["c"]);

    let mut big = server_with(
        Config {
            max_inflight_bytes: 4,
            ..Config::default()
        },
        ProtocolVersion::V5,
        ConnectProperties::default(),
    );
    big.publish(now, msg("a", "larger than the limit", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(sent(drain(&mut big)), ["larger than the limit"]);
}

#[test]
fn a_publish_acknowledged_before_it_is_polled_still_goes_out_in_order() {
    // New PUBLISH packets wait in the transmit queue as markers and are built from their
    // in-flight entry when polled. An acknowledgement that arrives first (a peer guessing
    // identifiers) completes the flow as before, and the PUBLISH, with the topic alias it
    // defines, still goes out in its place: before a DISCONNECT queued after it.
    let props = ConnectProperties {
        topic_alias_maximum: Some(5),
        ..ConnectProperties::default()
    };
    let mut server = server_with(Config::default(), ProtocolVersion::V5, props);
    let now = Instant::from_millis(0);
    let a = server
        .publish(now, msg("t", "a", QoS::AtLeastOnce))
        .unwrap();
    server
        .publish(now, msg("t", "b", QoS::AtLeastOnce))
        .unwrap();
    server.handle_packet(now, Packet::PubAck(PubAck::new(pid(1))));
    assert!(matches!(
        server.poll_event(),
        Some(Event::PublishCompleted { id, .. }) if id == a
    ));
    server.disconnect(Disconnect::new(ReasonCode::Success));
    let sent = drain(&mut server);
    let summary: Vec<String> = sent
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => format!(
                "{} {:?} {} dup={}",
                p.topic.as_str(),
                p.topic_alias.map(|a| a.get()),
                std::str::from_utf8(&p.payload).unwrap(),
                p.dup
            ),
            other => other.packet_type().to_string(),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "t Some(1) a dup=false",
            " Some(1) b dup=false",
            "DISCONNECT"
        ]
    );
}
