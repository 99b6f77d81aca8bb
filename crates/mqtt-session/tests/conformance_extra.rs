//! Tests for normative statements that `mqtt-session` already implements but that no other test
//! checked (see `docs/conformance.md`). Each test is named after a statement (5.0 numbering; the
//! comment gives the 3.1.1 id when it differs) and quotes it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod util;

use std::collections::BTreeSet;
use std::num::{NonZeroU16, NonZeroU32};
use std::time::Duration;

use mqtt_codec::*;
use mqtt_session::*;
use util::{Dir, Pair};

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;
const BOTH: [ProtocolVersion; 2] = [V4, V5];

fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn topic(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

fn text(s: &str) -> MqttString {
    MqttString::new(s).unwrap()
}

fn msg(t: &str, payload: &str, qos: QoS) -> Message {
    Message::new(topic(t), payload.to_string(), qos)
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// A PUBLISH as a peer would send it; `id` is ignored for QoS 0.
fn publish(qos: QoS, id: u16, t: &str, payload: &str) -> Packet {
    Packet::Publish(Publish {
        qos: PublishQos::new(qos, pid(id)),
        topic: topic(t),
        payload: payload.to_string().into(),
        ..Publish::default()
    })
}

fn drain_at(session: &mut Session, now: Instant) -> Vec<Packet> {
    std::iter::from_fn(|| session.poll_transmit(now)).collect()
}

fn drain(session: &mut Session) -> Vec<Packet> {
    drain_at(session, t(0))
}

fn events(session: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| session.poll_event()).collect()
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

fn topics(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Message { message, .. } => Some(message.topic.to_string()),
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

fn kinds(packets: &[Packet]) -> Vec<PacketType> {
    packets.iter().map(Packet::packet_type).collect()
}

/// The packet identifiers of the QoS 1/2 PUBLISH packets among `packets`.
fn publish_ids(packets: &[Packet]) -> Vec<u16> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => p.qos.packet_id().map(NonZeroU16::get),
            _ => None,
        })
        .collect()
}

fn publishes(pair: &Pair, dir: Dir) -> Vec<Publish> {
    pair.packets(dir)
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

/// A server session that accepted a CONNECT with the given properties, its CONNACK drained.
fn server_with(config: Config, version: ProtocolVersion, props: ConnectProperties) -> Session {
    let mut server = Session::new_server(config);
    let connect = Connect {
        protocol: version,
        client_id: text("c"),
        properties: props,
        ..Connect::default()
    };
    server.accept(t(0), &connect, ConnAck::default()).unwrap();
    assert!(matches!(drain(&mut server)[..], [Packet::ConnAck(_)]));
    server
}

/// A client session connected with the given CONNACK, its CONNECT and events drained.
fn client_with(config: Config, version: ProtocolVersion, connack: ConnAck) -> Session {
    let mut client = Session::new_client(config);
    let connect = Connect {
        protocol: version,
        client_id: text("c"),
        ..Connect::default()
    };
    client.connect(t(0), connect).unwrap();
    assert!(matches!(drain(&mut client)[..], [Packet::Connect(_)]));
    client.handle_packet(t(0), Packet::ConnAck(Box::new(connack)));
    assert!(matches!(events(&mut client)[..], [Event::Connected(_)]));
    assert_eq!(client.connection_state(), ConnectionState::Connected);
    client
}

fn connected(version: ProtocolVersion, client: Config, server: Config) -> Pair {
    let mut pair = Pair::new(version, client, server);
    pair.connect(false);
    pair
}

/// Reason String and User Property that do not fit in a small Maximum Packet Size.
fn long_reason() -> MqttString {
    text(&"a diagnostic text that is far too long ".repeat(2))
}

fn long_user_property() -> Vec<UserProperty> {
    vec![(text("diagnostic"), text(&"x".repeat(60)))]
}

// ---------------------------------------------------------------------------------------------
// Packet identifiers (spec 2.2.1 / 3.1.1 2.3.1)

#[test]
fn mqtt_2_2_1_4_server_packet_ids_are_unused() {
    // [MQTT-2.2.1-4] Each time a Server sends a new PUBLISH packet (where QoS > 0) it MUST assign
    // it a non zero Packet Identifier that is currently unused.
    // 3.1.1 [MQTT-2.3.1-4]: the same conditions apply to a Server sending a QoS > 0 PUBLISH.
    for version in BOTH {
        let mut server = server_with(Config::default(), version, ConnectProperties::default());
        for i in 0..5 {
            server
                .publish(t(0), msg("a", &i.to_string(), QoS::AtLeastOnce))
                .unwrap();
        }
        let first = publish_ids(&drain(&mut server));
        assert_eq!(first.len(), 5);
        // Two of them complete; the others stay in flight.
        for id in [first[1], first[3]] {
            server.handle_packet(t(0), Packet::PubAck(PubAck::new(pid(id))));
        }
        for i in 0..3 {
            server
                .publish(t(0), msg("a", &i.to_string(), QoS::ExactlyOnce))
                .unwrap();
        }
        let second = publish_ids(&drain(&mut server));
        let in_flight: BTreeSet<u16> = [first[0], first[2], first[4]].into();
        let new: BTreeSet<u16> = second.iter().copied().collect();
        assert_eq!(new.len(), 3, "{version}: {second:?} not distinct");
        assert!(
            in_flight.is_disjoint(&new),
            "{version}: {second:?} reuses one of {in_flight:?}"
        );
    }
}

#[test]
fn mqtt_2_2_1_5_acks_carry_the_publish_packet_id() {
    // [MQTT-2.2.1-5] A PUBACK, PUBREC, PUBREL, or PUBCOMP packet MUST contain the same Packet
    // Identifier as the PUBLISH packet that was originally sent.
    // 3.1.1 [MQTT-2.3.1-6]: PUBACK, PUBREC and PUBREL carry the identifier of the PUBLISH.
    // [MQTT-4.3.3-4]: the PUBREL contains the same Packet Identifier as the original PUBLISH.
    for version in BOTH {
        let mut pair = connected(version, Config::default(), Config::default());
        // Use up an identifier so that the PUBLISH identifiers do not start at 1.
        pair.client
            .subscribe(
                vec![(
                    TopicFilter::new("x").unwrap(),
                    SubscriptionOptions::default(),
                )],
                SubscribeProperties::default(),
            )
            .unwrap();
        for (qos, p) in [(QoS::AtLeastOnce, "q1"), (QoS::ExactlyOnce, "q2")] {
            pair.client.publish(pair.now, msg("c", p, qos)).unwrap();
            pair.server.publish(pair.now, msg("s", p, qos)).unwrap();
        }
        pair.drive();
        for (sender, receiver) in [
            (Dir::ClientToServer, Dir::ServerToClient),
            (Dir::ServerToClient, Dir::ClientToServer),
        ] {
            let id_of = |qos: QoS| -> Vec<u16> {
                publishes(&pair, sender)
                    .iter()
                    .filter(|p| p.qos.qos() == qos)
                    .map(|p| p.qos.packet_id().unwrap().get())
                    .collect()
            };
            let acks = |dir: Dir, kind: PacketType| -> Vec<u16> {
                pair.packets(dir)
                    .filter(|p| p.packet_type() == kind)
                    .map(|p| match p {
                        Packet::PubAck(a) => a.packet_id.get(),
                        Packet::PubRec(a) => a.packet_id.get(),
                        Packet::PubRel(a) => a.packet_id.get(),
                        Packet::PubComp(a) => a.packet_id.get(),
                        other => panic!("{other:?}"),
                    })
                    .collect()
            };
            let qos1 = id_of(QoS::AtLeastOnce);
            let qos2 = id_of(QoS::ExactlyOnce);
            assert_eq!(qos1.len(), 1);
            assert_eq!(qos2.len(), 1);
            if sender == Dir::ClientToServer {
                assert_ne!(qos1, [1], "identifier 1 went to the SUBSCRIBE");
            }
            assert_eq!(acks(receiver, PacketType::PubAck), qos1, "{version}");
            assert_eq!(acks(receiver, PacketType::PubRec), qos2, "{version}");
            assert_eq!(acks(sender, PacketType::PubRel), qos2, "{version}");
            assert_eq!(acks(receiver, PacketType::PubComp), qos2, "{version}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connection life cycle and keep-alive (spec 3.1, 3.2, 3.12, 3.14)

#[test]
fn mqtt_3_1_2_22_server_keep_alive_timeout_in_3_1_1() {
    // 3.1.1 [MQTT-3.1.2-24] If the Keep Alive value is non-zero and the Server does not receive a
    // Control Packet from the Client within one and a half times the Keep Alive time period, it
    // MUST disconnect the Network Connection to the Client as if the network had failed.
    // (5.0 [MQTT-3.1.2-22]; a 3.1.1 server has no DISCONNECT to send.)
    let mut server = Session::new_server(Config::default());
    let connect = Connect {
        protocol: V4,
        keep_alive: 10,
        client_id: text("c"),
        ..Connect::default()
    };
    server.accept(t(0), &connect, ConnAck::default()).unwrap();
    drain(&mut server);
    assert_eq!(server.poll_timeout(), Some(t(15_000)));
    // Any packet from the client restarts the period.
    server.handle_packet(t(10_000), Packet::PingReq);
    assert_eq!(drain(&mut server), [Packet::PingResp]);
    assert_eq!(server.poll_timeout(), Some(t(25_000)));
    server.handle_timeout(t(24_999));
    assert_eq!(server.connection_state(), ConnectionState::Connected);
    server.handle_timeout(t(25_000));
    assert_eq!(server.connection_state(), ConnectionState::Closed);
    assert_eq!(
        violations(&events(&mut server)),
        [Violation::KeepAliveTimeout]
    );
    assert!(drain(&mut server).is_empty(), "no DISCONNECT in 3.1.1");
}

#[test]
fn mqtt_3_1_2_30_client_sends_only_auth_before_connack() {
    // [MQTT-3.1.2-30] If a Client sets an Authentication Method in the CONNECT, the Client MUST
    // NOT send any packets other than AUTH or DISCONNECT packets until it has received a CONNACK
    // packet.
    let mut client = Session::new_client(Config::default());
    let method = text("SCRAM-SHA-1");
    let connect = Connect {
        client_id: text("c"),
        keep_alive: 10,
        properties: ConnectProperties {
            authentication_method: Some(method.clone()),
            ..Default::default()
        },
        ..Connect::default()
    };
    client.connect(t(0), connect).unwrap();
    assert!(matches!(drain(&mut client)[..], [Packet::Connect(_)]));
    // The application tries everything else before CONNACK.
    client
        .publish(t(0), msg("a", "qos1", QoS::AtLeastOnce))
        .unwrap();
    client
        .publish(t(0), msg("a", "qos0", QoS::AtMostOnce))
        .unwrap();
    assert_eq!(
        client.subscribe(
            vec![(
                TopicFilter::new("a").unwrap(),
                SubscriptionOptions::default()
            )],
            SubscribeProperties::default()
        ),
        Err(RequestError::NotConnected)
    );
    assert_eq!(
        client.unsubscribe(
            vec![TopicFilter::new("a").unwrap()],
            UnsubscribeProperties::default()
        ),
        Err(RequestError::NotConnected)
    );
    client.handle_timeout(t(60_000)); // no PINGREQ
    assert!(drain_at(&mut client, t(60_000)).is_empty());
    // The server continues the authentication; the client answers with AUTH.
    let challenge = Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some(method.clone()),
            ..Default::default()
        },
    };
    client.handle_packet(t(60_000), Packet::from(challenge.clone()));
    assert!(events(&mut client).contains(&Event::Auth(challenge.clone())));
    client.auth(challenge.clone()).unwrap();
    assert_eq!(drain_at(&mut client, t(60_000)), [Packet::from(challenge)]);
    // Only the CONNACK releases the queued PUBLISH.
    let connack = ConnAck {
        properties: ConnAckProperties {
            authentication_method: Some(method),
            ..Default::default()
        },
        ..ConnAck::default()
    };
    client.handle_packet(t(60_000), Packet::ConnAck(Box::new(connack)));
    assert_eq!(
        kinds(&drain_at(&mut client, t(60_000))),
        [PacketType::Publish]
    );
}

#[test]
fn mqtt_3_2_0_1_connack_is_the_first_packet_from_the_server() {
    // [MQTT-3.2.0-1] The Server MUST send a CONNACK with a 0x00 (Success) Reason Code before
    // sending any MQTT Control Packet other than AUTH.
    // 3.1.1 [MQTT-3.2.0-1]: the first packet sent from the Server to the Client MUST be CONNACK.
    for version in BOTH {
        let config = Config {
            queue_qos0_offline: true,
            ..Config::default()
        };
        let mut server = Session::new_server(config);
        // The broker routes messages to the session and acts before accepting the CONNECT.
        server
            .publish(t(0), msg("a", "0", QoS::AtMostOnce))
            .unwrap();
        server
            .publish(t(0), msg("a", "1", QoS::AtLeastOnce))
            .unwrap();
        // Answers to requests that never came are refused.
        assert!(server
            .suback(SubAck::new(pid(1), vec![ReasonCode::GrantedQoS1]))
            .is_err());
        assert!(server
            .unsuback(UnsubAck::new(pid(2), vec![ReasonCode::Success]))
            .is_err());
        server.handle_packet(t(0), Packet::PingReq);
        server.handle_timeout(t(3_600_000));
        server.disconnect(Disconnect::new(ReasonCode::ServerShuttingDown));
        assert!(drain(&mut server).is_empty(), "{version}");
        if version.is_v5() {
            // AUTH is the only packet the spec allows before CONNACK; the server session does
            // not support authentication exchanges before accepting, so it refuses to send one.
            let auth = Auth {
                reason_code: ReasonCode::ContinueAuthentication,
                properties: AuthProperties {
                    authentication_method: Some(text("m")),
                    ..Default::default()
                },
            };
            assert_eq!(server.auth(auth), Err(RequestError::NotConnected));
            assert!(drain(&mut server).is_empty());
        }
        let connect = Connect {
            protocol: version,
            client_id: text("c"),
            clean_start: false,
            ..Connect::default()
        };
        let connack = ConnAck {
            session_present: true,
            ..ConnAck::default()
        };
        server.accept(t(0), &connect, connack).unwrap();
        assert_eq!(
            kinds(&drain(&mut server)),
            [
                PacketType::ConnAck,
                PacketType::Publish,
                PacketType::Publish
            ],
            "{version}"
        );
    }
}

#[test]
fn mqtt_3_2_0_2_at_most_one_connack() {
    // [MQTT-3.2.0-2] The Server MUST NOT send more than one CONNACK in a Network Connection.
    for version in BOTH {
        let mut server = server_with(Config::default(), version, ConnectProperties::default());
        let again = Connect {
            protocol: version,
            client_id: text("c"),
            ..Connect::default()
        };
        server.handle_packet(t(0), Packet::Connect(Box::new(again)));
        let sent = drain(&mut server);
        assert!(
            !sent.iter().any(|p| matches!(p, Packet::ConnAck(_))),
            "{version}: {sent:?}"
        );
        assert_eq!(server.connection_state(), ConnectionState::Closed);
    }
}

#[test]
fn mqtt_3_12_4_1_server_answers_pingreq() {
    // [MQTT-3.12.4-1] The Server MUST send a PINGRESP packet in response to a PINGREQ packet.
    for version in BOTH {
        let mut server = server_with(Config::default(), version, ConnectProperties::default());
        for _ in 0..3 {
            server.handle_packet(t(0), Packet::PingReq);
            assert_eq!(drain(&mut server), [Packet::PingResp], "{version}");
        }
    }
}

#[test]
fn mqtt_3_14_0_1_no_disconnect_before_a_successful_connack() {
    // [MQTT-3.14.0-1] A Server MUST NOT send a DISCONNECT until after it has sent a CONNACK with
    // Reason Code of less than 0x80.
    let mut server = Session::new_server(Config::default());
    server.disconnect(Disconnect::new(ReasonCode::ServerShuttingDown));
    server.handle_packet(t(0), publish(QoS::AtLeastOnce, 1, "a", "x"));
    server.handle_timeout(t(3_600_000));
    assert!(drain(&mut server).is_empty());
    // A refused connection: CONNACK >= 0x80, and still no DISCONNECT afterwards.
    let connect = Connect {
        client_id: text("c"),
        keep_alive: 10,
        ..Connect::default()
    };
    let refusal = ConnAck {
        reason_code: ReasonCode::NotAuthorized,
        ..ConnAck::default()
    };
    server.accept(t(0), &connect, refusal).unwrap();
    assert_eq!(kinds(&drain(&mut server)), [PacketType::ConnAck]);
    server.handle_packet(t(0), Packet::Connect(Box::new(connect)));
    server.handle_timeout(t(3_600_000));
    server.disconnect(Disconnect::new(ReasonCode::ServerShuttingDown));
    assert!(drain(&mut server).is_empty());
}

#[test]
fn mqtt_3_14_4_1_nothing_sent_after_disconnect() {
    // [MQTT-3.14.4-1] After sending a DISCONNECT packet the sender MUST NOT send any more MQTT
    // Control Packets on that Network Connection.
    // [MQTT-3.14.4-2] After sending a DISCONNECT packet the sender MUST close the Network
    // Connection (the session says so with `ConnectionState::Closed`).
    // 3.1.1 [MQTT-3.14.4-2]: after sending DISCONNECT the Client MUST NOT send any more packets.
    for version in BOTH {
        let config = Config {
            manual_acks: true,
            ..Config::default()
        };
        let mut client = client_with(config, version, ConnAck::default());
        client
            .publish(t(0), msg("a", "in flight", QoS::ExactlyOnce))
            .unwrap();
        client.handle_packet(t(0), publish(QoS::AtLeastOnce, 9, "b", "to ack"));
        let ack = match events(&mut client).pop() {
            Some(Event::Message { ack: Some(ack), .. }) => ack,
            other => panic!("{other:?}"),
        };
        drain(&mut client);
        client.disconnect(Disconnect::default());
        assert!(matches!(drain(&mut client)[..], [Packet::Disconnect(_)]));
        assert_eq!(client.connection_state(), ConnectionState::Closed);
        // Nothing the application, the peer or the clock does produces another packet; a
        // message published now waits for the next connection of the session.
        assert!(client
            .publish(t(0), msg("a", "late", QoS::AtLeastOnce))
            .is_ok());
        assert_eq!(client.queued_len(), 1);
        assert!(client
            .subscribe(
                vec![(
                    TopicFilter::new("a").unwrap(),
                    SubscriptionOptions::default()
                )],
                SubscribeProperties::default()
            )
            .is_err());
        assert!(client
            .unsubscribe(
                vec![TopicFilter::new("a").unwrap()],
                UnsubscribeProperties::default()
            )
            .is_err());
        client.ack(ack, ReasonCode::Success);
        client.handle_packet(t(0), Packet::PubRec(PubRec::new(pid(1))));
        client.handle_packet(t(0), publish(QoS::ExactlyOnce, 10, "b", "late"));
        client.handle_packet(t(0), Packet::PubRel(PubRel::new(pid(10))));
        assert!(client.auth(Auth::default()).is_err());
        client.handle_timeout(t(3_600_000));
        client.disconnect(Disconnect::default());
        assert!(drain(&mut client).is_empty(), "{version}");
    }
    // A 5.0 server that sends DISCONNECT likewise.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.disconnect(Disconnect::new(ReasonCode::ServerShuttingDown));
    assert!(matches!(drain(&mut server)[..], [Packet::Disconnect(_)]));
    assert_eq!(server.connection_state(), ConnectionState::Closed);
    assert!(server
        .publish(t(0), msg("a", "late", QoS::AtMostOnce))
        .is_ok());
    assert!(server
        .publish(t(0), msg("a", "queued", QoS::AtLeastOnce))
        .is_ok());
    server.handle_packet(t(0), Packet::PingReq);
    server.handle_packet(t(0), publish(QoS::AtLeastOnce, 3, "a", "late"));
    assert!(server
        .suback(SubAck::new(pid(1), vec![ReasonCode::GrantedQoS1]))
        .is_err());
    server.handle_timeout(t(3_600_000));
    assert!(drain(&mut server).is_empty());
}

#[test]
fn mqtt_3_1_2_5_a_message_for_a_closing_connection_waits_for_the_next() {
    // 3.1.1 [MQTT-3.1.2-5] After the disconnection of a Session that had CleanSession set to 0,
    // the Server MUST store further QoS 1 and QoS 2 messages that match any subscriptions that
    // the client had at the time of disconnection as part of the Session state.
    // A broker routes to the session between reading the client's DISCONNECT (the connection
    // is `Closed`) and noticing the connection is gone: those messages belong to the session
    // too (they were lost, with the publisher already acknowledged).
    for version in BOTH {
        let mut pair = connected(version, Config::default(), Config::default());
        pair.client.disconnect(Disconnect::default());
        pair.step(Dir::ClientToServer);
        assert_eq!(pair.server.connection_state(), ConnectionState::Closed);
        for (p, qos) in [("q1", QoS::AtLeastOnce), ("q2", QoS::ExactlyOnce)] {
            pair.server.publish(pair.now, msg("a", p, qos)).unwrap();
        }
        pair.flush();
        assert!(
            pair.packets(Dir::ServerToClient)
                .all(|p| !matches!(p, Packet::Publish(_))),
            "nothing is sent on the closed connection"
        );
        assert_eq!(pair.server.queued_len(), 2, "{version}");
        pair.drop_connection();
        pair.connect(false);
        pair.drive();
        assert_eq!(payloads(&pair.client_events), ["q1", "q2"], "{version}");
    }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH: DUP, responses, topic aliases, flow control (spec 3.3)

#[test]
fn mqtt_3_3_1_3_outgoing_dup_ignores_incoming_dup() {
    // [MQTT-3.3.1-3] The DUP flag in the outgoing PUBLISH packet is set independently to the
    // incoming PUBLISH packet, its value MUST be determined solely by whether the outgoing PUBLISH
    // packet is a retransmission.
    for version in BOTH {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut server = server_with(Config::default(), version, ConnectProperties::default());
            let incoming = Publish {
                dup: true,
                qos: PublishQos::new(qos, pid(5)),
                topic: topic("a"),
                payload: "x".into(),
                ..Publish::default()
            };
            server.handle_packet(t(0), Packet::Publish(incoming));
            let message = match events(&mut server).pop() {
                Some(Event::Message { message, .. }) => message,
                other => panic!("{other:?}"),
            };
            drain(&mut server);
            // The broker forwards the message (here back to the same client).
            server.publish(t(0), message).unwrap();
            match &drain(&mut server)[..] {
                [Packet::Publish(p)] => assert!(!p.dup, "{version} {qos}"),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn mqtt_3_3_4_1_response_depends_on_qos() {
    // [MQTT-3.3.4-1] The receiver of a PUBLISH Packet MUST respond with the packet as determined
    // by the QoS in the PUBLISH Packet (none for QoS 0, PUBACK for QoS 1, PUBREC for QoS 2).
    for version in BOTH {
        let server = server_with(Config::default(), version, ConnectProperties::default());
        let client = client_with(Config::default(), version, ConnAck::default());
        for mut receiver in [server, client] {
            receiver.handle_packet(t(0), publish(QoS::AtMostOnce, 1, "a", "0"));
            assert!(drain(&mut receiver).is_empty());
            receiver.handle_packet(t(0), publish(QoS::AtLeastOnce, 2, "a", "1"));
            assert_eq!(drain(&mut receiver), [Packet::PubAck(PubAck::new(pid(2)))]);
            receiver.handle_packet(t(0), publish(QoS::ExactlyOnce, 3, "a", "2"));
            assert_eq!(drain(&mut receiver), [Packet::PubRec(PubRec::new(pid(3)))]);
            assert_eq!(payloads(&events(&mut receiver)), ["0", "1", "2"]);
        }
    }
}

#[test]
fn mqtt_3_2_2_17_client_aliases_within_the_servers_maximum() {
    // [MQTT-3.2.2-17] The Client MUST NOT send a Topic Alias in a PUBLISH packet to the Server
    // greater than this value (the Topic Alias Maximum of CONNACK).
    // [MQTT-3.3.2-9] A Client MUST NOT send a PUBLISH packet with a Topic Alias greater than the
    // Topic Alias Maximum value returned by the Server in the CONNACK packet.
    let server = Config {
        topic_alias_maximum: 2,
        ..Config::default()
    };
    let mut pair = connected(V5, Config::default(), server);
    match pair.packets(Dir::ServerToClient).next() {
        Some(Packet::ConnAck(c)) => assert_eq!(c.properties.topic_alias_maximum, Some(2)),
        other => panic!("{other:?}"),
    }
    let sent = ["a", "b", "c", "a", "b", "c"];
    for t in sent {
        pair.client
            .publish(pair.now, msg(t, "x", QoS::AtMostOnce))
            .unwrap();
    }
    pair.drive();
    let aliases: Vec<Option<u16>> = publishes(&pair, Dir::ClientToServer)
        .iter()
        .map(|p| p.topic_alias.map(NonZeroU16::get))
        .collect();
    assert_eq!(aliases, [Some(1), Some(2), None, Some(1), Some(2), None]);
    assert!(violations(&pair.server_events).is_empty());
    assert_eq!(topics(&pair.server_events), sent);
}

#[test]
fn mqtt_3_2_2_18_client_sends_no_alias_when_the_server_allows_none() {
    // [MQTT-3.2.2-18] If Topic Alias Maximum is absent or 0, the Client MUST NOT send any Topic
    // Aliases on to the Server.
    for version in BOTH {
        let server = Config {
            topic_alias_maximum: 0,
            ..Config::default()
        };
        let mut pair = connected(version, Config::default(), server);
        match pair.packets(Dir::ServerToClient).next() {
            Some(Packet::ConnAck(c)) => assert_eq!(c.properties.topic_alias_maximum, None),
            other => panic!("{other:?}"),
        }
        for _ in 0..3 {
            pair.client
                .publish(pair.now, msg("a/b", "x", QoS::AtLeastOnce))
                .unwrap();
        }
        pair.drive();
        let sent = publishes(&pair, Dir::ClientToServer);
        assert_eq!(sent.len(), 3);
        assert!(sent
            .iter()
            .all(|p| p.topic_alias.is_none() && p.topic == "a/b"));
    }
}

/// Sends PUBLISH packets that define Topic Aliases 1..=max and then use them.
fn check_accepts_aliases(receiver: &mut Session, max: u16) {
    for alias in 1..=max {
        let define = Publish {
            topic: topic(&format!("t/{alias}")),
            topic_alias: NonZeroU16::new(alias),
            ..Publish::default()
        };
        receiver.handle_packet(t(0), Packet::Publish(define));
    }
    for alias in (1..=max).rev() {
        let use_alias = Publish {
            topic: TopicName::alias_only(),
            topic_alias: NonZeroU16::new(alias),
            ..Publish::default()
        };
        receiver.handle_packet(t(0), Packet::Publish(use_alias));
    }
    let seen = events(receiver);
    assert!(violations(&seen).is_empty(), "{seen:?}");
    let expected: Vec<String> = (1..=max)
        .chain((1..=max).rev())
        .map(|a| format!("t/{a}"))
        .collect();
    assert_eq!(topics(&seen), expected);
    assert_eq!(receiver.connection_state(), ConnectionState::Connected);
}

#[test]
fn mqtt_3_3_2_10_client_accepts_every_alias_up_to_its_maximum() {
    // [MQTT-3.3.2-10] The Client MUST accept all Topic Alias values greater than 0 and less than
    // or equal to the Topic Alias Maximum value that it sent in the CONNECT packet.
    let config = Config {
        topic_alias_maximum: 5,
        ..Config::default()
    };
    let mut client = Session::new_client(config);
    client.connect(t(0), Connect::default()).unwrap();
    match &drain(&mut client)[..] {
        [Packet::Connect(c)] => assert_eq!(c.properties.topic_alias_maximum, Some(5)),
        other => panic!("{other:?}"),
    }
    client.handle_packet(t(0), Packet::ConnAck(Box::default()));
    events(&mut client);
    check_accepts_aliases(&mut client, 5);
}

#[test]
fn mqtt_3_3_2_12_server_accepts_every_alias_up_to_its_maximum() {
    // [MQTT-3.3.2-12] The Server MUST accept all Topic Alias values greater than 0 and less than
    // or equal to the Topic Alias Maximum value that it returned in the CONNACK packet.
    let config = Config {
        topic_alias_maximum: 5,
        ..Config::default()
    };
    let mut server = Session::new_server(config);
    server
        .accept(t(0), &Connect::default(), ConnAck::default())
        .unwrap();
    match &drain(&mut server)[..] {
        [Packet::ConnAck(c)] => assert_eq!(c.properties.topic_alias_maximum, Some(5)),
        other => panic!("{other:?}"),
    }
    check_accepts_aliases(&mut server, 5);
}

#[test]
fn mqtt_3_3_4_8_client_sends_other_packets_when_the_quota_is_zero() {
    // [MQTT-3.3.4-8] The Client MUST NOT delay the sending of any packets other than PUBLISH
    // packets due to having sent Receive Maximum PUBLISH packets without receiving
    // acknowledgements for them.
    // [MQTT-4.9.0-3] The Client and Server MUST continue to process and respond to all other MQTT
    // Control Packets even if the quota is zero.
    let connack = ConnAck {
        properties: ConnAckProperties {
            receive_maximum: NonZeroU16::new(1),
            ..Default::default()
        },
        ..ConnAck::default()
    };
    let mut client = client_with(Config::default(), V5, connack);
    client
        .publish(t(0), msg("a", "1", QoS::ExactlyOnce))
        .unwrap();
    client
        .publish(t(0), msg("a", "2", QoS::AtLeastOnce))
        .unwrap();
    let first = drain(&mut client);
    assert_eq!(publish_ids(&first), [1]);
    assert_eq!(client.queued_len(), 1, "the send quota is zero");
    let sub = client
        .subscribe(
            vec![(
                TopicFilter::new("b").unwrap(),
                SubscriptionOptions::default(),
            )],
            SubscribeProperties::default(),
        )
        .unwrap();
    assert_eq!(kinds(&drain(&mut client)), [PacketType::Subscribe]);
    client.handle_packet(t(0), publish(QoS::AtLeastOnce, 9, "b", "x"));
    assert_eq!(drain(&mut client), [Packet::PubAck(PubAck::new(pid(9)))]);
    client.handle_packet(t(0), publish(QoS::ExactlyOnce, 10, "b", "y"));
    assert_eq!(drain(&mut client), [Packet::PubRec(PubRec::new(pid(10)))]);
    client.handle_packet(t(0), Packet::PubRel(PubRel::new(pid(10))));
    assert_eq!(drain(&mut client), [Packet::PubComp(PubComp::new(pid(10)))]);
    // Its own QoS 2 message moves on to PUBREL; it still counts against the quota.
    client.handle_packet(t(0), Packet::PubRec(PubRec::new(pid(1))));
    assert_eq!(drain(&mut client), [Packet::PubRel(PubRel::new(pid(1)))]);
    assert_eq!(client.queued_len(), 1);
    client.handle_packet(
        t(0),
        Packet::SubAck(SubAck::new(sub, vec![ReasonCode::Success])),
    );
    client
        .unsubscribe(
            vec![TopicFilter::new("b").unwrap()],
            UnsubscribeProperties::default(),
        )
        .unwrap();
    assert_eq!(kinds(&drain(&mut client)), [PacketType::Unsubscribe]);
    client.handle_timeout(t(60_000));
    assert_eq!(drain_at(&mut client, t(60_000)), [Packet::PingReq]);
    assert!(events(&mut client)
        .iter()
        .any(|e| matches!(e, Event::Subscribed(s) if s.packet_id == sub)));
    // PUBCOMP frees the quota: the waiting PUBLISH goes out.
    client.handle_packet(t(60_000), Packet::PubComp(PubComp::new(pid(1))));
    assert_eq!(
        kinds(&drain_at(&mut client, t(60_000))),
        [PacketType::Publish]
    );
}

#[test]
fn mqtt_3_3_4_9_server_respects_the_clients_receive_maximum() {
    // [MQTT-3.3.4-9] The Server MUST NOT send more than Receive Maximum QoS 1 and QoS 2 PUBLISH
    // packets for which it has not received PUBACK, PUBCOMP, or PUBREC with a Reason Code of 128
    // or greater from the Client.
    // [MQTT-4.9.0-2] If the send quota reaches zero, the Server MUST NOT send any more PUBLISH
    // packets with QoS > 0.
    let client = Config {
        receive_maximum: 2,
        ..Config::default()
    };
    let mut pair = connected(V5, client, Config::default());
    for i in 0..5 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        pair.server
            .publish(pair.now, msg("a", &i.to_string(), qos))
            .unwrap();
    }
    pair.flush();
    assert_eq!(pair.s2c.len(), 2);
    assert_eq!(pair.server.inflight_len(), 2);
    assert_eq!(pair.server.queued_len(), 3);
    // Delivered one packet at a time, the server never has more than 2 in flight.
    while pair.step(Dir::ServerToClient) | pair.step(Dir::ClientToServer) {
        assert!(pair.server.inflight_len() <= 2);
    }
    assert_eq!(payloads(&pair.client_events), ["0", "1", "2", "3", "4"]);
    assert!(violations(&pair.client_events).is_empty());
}

#[test]
fn mqtt_3_3_4_10_server_sends_other_packets_when_the_quota_is_zero() {
    // [MQTT-3.3.4-10] The Server MUST NOT delay the sending of any packets other than PUBLISH
    // packets due to having sent Receive Maximum PUBLISH packets without receiving
    // acknowledgements for them.
    // [MQTT-4.9.0-3] ... continue to process and respond to all other packets even if the quota
    // is zero.
    let props = ConnectProperties {
        receive_maximum: NonZeroU16::new(1),
        ..Default::default()
    };
    let mut server = server_with(Config::default(), V5, props);
    server
        .publish(t(0), msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    server
        .publish(t(0), msg("a", "2", QoS::AtLeastOnce))
        .unwrap();
    assert_eq!(publish_ids(&drain(&mut server)), [1]);
    assert_eq!(server.queued_len(), 1, "the send quota is zero");
    server.handle_packet(t(0), publish(QoS::AtLeastOnce, 5, "b", "x"));
    assert_eq!(drain(&mut server), [Packet::PubAck(PubAck::new(pid(5)))]);
    server.handle_packet(t(0), publish(QoS::ExactlyOnce, 6, "b", "y"));
    assert_eq!(drain(&mut server), [Packet::PubRec(PubRec::new(pid(6)))]);
    server.handle_packet(t(0), Packet::PubRel(PubRel::new(pid(6))));
    assert_eq!(drain(&mut server), [Packet::PubComp(PubComp::new(pid(6)))]);
    let filter = TopicFilter::new("b").unwrap();
    server.handle_packet(
        t(0),
        Packet::Subscribe(Subscribe::new(
            pid(7),
            vec![(filter.clone(), SubscriptionOptions::default())],
        )),
    );
    server
        .suback(SubAck::new(pid(7), vec![ReasonCode::Success]))
        .unwrap();
    server.handle_packet(
        t(0),
        Packet::Unsubscribe(Unsubscribe::new(pid(8), vec![filter])),
    );
    server
        .unsuback(UnsubAck::new(pid(8), vec![ReasonCode::Success]))
        .unwrap();
    server.handle_packet(t(0), Packet::PingReq);
    assert_eq!(
        kinds(&drain(&mut server)),
        [
            PacketType::SubAck,
            PacketType::UnsubAck,
            PacketType::PingResp
        ]
    );
    let seen = events(&mut server);
    assert!(seen.iter().any(|e| matches!(e, Event::Subscribe(_))));
    assert!(seen.iter().any(|e| matches!(e, Event::Unsubscribe(_))));
    server.handle_packet(t(0), Packet::PubAck(PubAck::new(pid(1))));
    assert_eq!(publish_ids(&drain(&mut server)), [2]);
}

// ---------------------------------------------------------------------------------------------
// Diagnostics and the receiver's Maximum Packet Size (spec 3.2.2.3.8, 3.4.2.2.2, ...)

/// Checks one packet as sent by `poll_transmit`: no Reason String, no User Property, within max.
fn assert_stripped(packet: &Packet, max: usize) {
    let (reason, users) = match packet {
        Packet::ConnAck(c) => (&c.properties.reason_string, &c.properties.user_properties),
        Packet::SubAck(a) => (&a.properties.reason_string, &a.properties.user_properties),
        Packet::UnsubAck(a) => (&a.properties.reason_string, &a.properties.user_properties),
        Packet::Disconnect(d) => (&d.properties.reason_string, &d.properties.user_properties),
        Packet::Auth(a) => (&a.properties.reason_string, &a.properties.user_properties),
        other => panic!("{other:?}"),
    };
    assert_eq!(*reason, None, "{packet:?}");
    assert!(users.is_empty(), "{packet:?}");
    assert!(packet.encoded_len(V5).unwrap() <= max, "{packet:?}");
}

/// The three ways of breaking the limit: Reason String, User Property, both.
fn diagnostics() -> [(Option<MqttString>, Vec<UserProperty>); 3] {
    [
        (Some(long_reason()), vec![]),
        (None, long_user_property()),
        (Some(long_reason()), long_user_property()),
    ]
}

fn max_packet_size(max: u32) -> ConnectProperties {
    ConnectProperties {
        maximum_packet_size: NonZeroU32::new(max),
        ..Default::default()
    }
}

#[test]
fn mqtt_3_2_2_19_connack_diagnostics_dropped_to_fit() {
    // [MQTT-3.2.2-19] The Server MUST NOT send this property (Reason String) if it would increase
    // the size of the CONNACK packet beyond the Maximum Packet Size specified by the Client.
    // [MQTT-3.2.2-20] The Server MUST NOT send this property (User Property) if it would increase
    // the size of the CONNACK packet beyond the Maximum Packet Size specified by the Client.
    for (reason_string, user_properties) in diagnostics() {
        let mut server = Session::new_server(Config::default());
        let connect = Connect {
            client_id: text("c"),
            properties: max_packet_size(24),
            ..Connect::default()
        };
        let connack = ConnAck {
            properties: ConnAckProperties {
                reason_string: reason_string.clone(),
                user_properties: user_properties.clone(),
                ..Default::default()
            },
            ..ConnAck::default()
        };
        server.accept(t(0), &connect, connack.clone()).unwrap();
        let sent = drain(&mut server);
        assert_stripped(&sent[0], 24);
        // Where they fit, they are sent.
        let mut server = Session::new_server(Config::default());
        let roomy = Connect {
            properties: max_packet_size(1000),
            ..connect
        };
        server.accept(t(0), &roomy, connack).unwrap();
        match &drain(&mut server)[0] {
            Packet::ConnAck(c) => {
                assert_eq!(c.properties.reason_string, reason_string);
                assert_eq!(c.properties.user_properties, user_properties);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn mqtt_3_4_2_2_acks_carry_no_diagnostics() {
    // The session never puts a Reason String or User Property on PUBACK, PUBREC, PUBREL or
    // PUBCOMP, so none can make them exceed the receiver's Maximum Packet Size:
    // [MQTT-3.4.2-2] / [MQTT-3.4.2-3] PUBACK, [MQTT-3.5.2-2] / [MQTT-3.5.2-3] PUBREC,
    // [MQTT-3.6.2-2] / [MQTT-3.6.2-3] PUBREL, [MQTT-3.7.2-2] / [MQTT-3.7.2-3] PUBCOMP:
    // "The sender MUST NOT send this property (Reason String / User Property) if it would
    // increase the size of the packet beyond the Maximum Packet Size specified by the receiver."
    const MAX: usize = 16;
    let limited = |manual_acks| Config {
        max_packet_size: NonZeroU32::new(MAX as u32),
        manual_acks,
        ..Config::default()
    };
    let mut pair = connected(V5, limited(false), limited(true));
    for (qos, p) in [
        (QoS::AtLeastOnce, "1"),
        (QoS::AtLeastOnce, "2"),
        (QoS::ExactlyOnce, "3"),
        (QoS::ExactlyOnce, "4"),
    ] {
        pair.client.publish(pair.now, msg("a", p, qos)).unwrap();
        pair.server.publish(pair.now, msg("a", p, qos)).unwrap();
    }
    pair.drive();
    // The server's application acknowledges with reason codes, two of them failures.
    let acks: Vec<InboundAck> = pair
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::Message { ack, .. } => *ack,
            _ => None,
        })
        .collect();
    assert_eq!(acks.len(), 4);
    let codes = [
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::NotAuthorized,
        ReasonCode::QuotaExceeded,
        ReasonCode::Success,
    ];
    for (ack, code) in acks.into_iter().zip(codes) {
        pair.server.ack(ack, code);
    }
    pair.drive();
    // Acknowledgements for identifiers that are not in use (reason code 0x92).
    pair.client
        .handle_packet(pair.now, Packet::PubRec(PubRec::new(pid(999))));
    pair.client
        .handle_packet(pair.now, Packet::PubRel(PubRel::new(pid(998))));
    pair.drive();
    let mut seen = BTreeSet::new();
    for (_, packet) in &pair.delivered {
        let properties = match packet {
            Packet::PubAck(a) => &a.properties,
            Packet::PubRec(a) => &a.properties,
            Packet::PubRel(a) => &a.properties,
            Packet::PubComp(a) => &a.properties,
            _ => continue,
        };
        seen.insert(packet.packet_type() as u8);
        assert!(properties.is_empty(), "{packet:?}");
        assert!(packet.encoded_len(V5).unwrap() <= MAX, "{packet:?}");
    }
    assert_eq!(
        seen.len(),
        4,
        "PUBACK, PUBREC, PUBREL and PUBCOMP were all sent"
    );
    assert_eq!(pair.client.inflight_len(), 0);
    assert_eq!(pair.server.inflight_len(), 0);
}

#[test]
fn mqtt_3_9_2_1_suback_diagnostics_dropped_to_fit() {
    // [MQTT-3.9.2-1] The Server MUST NOT send this Property (Reason String) if it would increase
    // the size of the SUBACK packet beyond the Maximum Packet Size specified by the Client.
    // [MQTT-3.9.2-2] The Server MUST NOT send this property (User Property) if it would increase
    // the size of the SUBACK packet beyond the Maximum Packet Size specified by the Client.
    for (reason_string, user_properties) in diagnostics() {
        let mut server = server_with(Config::default(), V5, max_packet_size(16));
        util::requested(&mut server, PacketType::Subscribe, 1);
        server
            .suback(SubAck {
                properties: AckProperties {
                    reason_string,
                    user_properties,
                },
                ..SubAck::new(pid(1), vec![ReasonCode::GrantedQoS1])
            })
            .unwrap();
        assert_stripped(&drain(&mut server)[0], 16);
    }
}

#[test]
fn mqtt_3_11_2_1_unsuback_diagnostics_dropped_to_fit() {
    // [MQTT-3.11.2-1] The Server MUST NOT send this Property (Reason String) if it would increase
    // the size of the UNSUBACK packet beyond the Maximum Packet Size specified by the Client.
    // [MQTT-3.11.2-2] The Server MUST NOT send this property (User Property) if it would increase
    // the size of the UNSUBACK packet beyond the Maximum Packet Size specified by the Client.
    for (reason_string, user_properties) in diagnostics() {
        let mut server = server_with(Config::default(), V5, max_packet_size(16));
        util::requested(&mut server, PacketType::Unsubscribe, 1);
        server
            .unsuback(UnsubAck {
                properties: AckProperties {
                    reason_string,
                    user_properties,
                },
                ..UnsubAck::new(pid(1), vec![ReasonCode::NoSubscriptionExisted])
            })
            .unwrap();
        assert_stripped(&drain(&mut server)[0], 16);
    }
}

#[test]
fn mqtt_3_14_2_3_disconnect_diagnostics_dropped_to_fit() {
    // [MQTT-3.14.2-3] The sender MUST NOT send this Property (Reason String) if it would increase
    // the size of the DISCONNECT packet beyond the Maximum Packet Size specified by the receiver.
    // [MQTT-3.14.2-4] The sender MUST NOT send this property (User Property) if it would increase
    // the size of the DISCONNECT packet beyond the Maximum Packet Size specified by the receiver.
    for (reason_string, user_properties) in diagnostics() {
        let disconnect = Disconnect {
            reason_code: ReasonCode::AdministrativeAction,
            properties: DisconnectProperties {
                reason_string,
                user_properties,
                ..Default::default()
            },
        };
        // Server to client, limited by the CONNECT.
        let mut server = server_with(Config::default(), V5, max_packet_size(16));
        server.disconnect(disconnect.clone());
        assert_stripped(&drain(&mut server)[0], 16);
        // Client to server, limited by the CONNACK.
        let connack = ConnAck {
            properties: ConnAckProperties {
                maximum_packet_size: NonZeroU32::new(16),
                ..Default::default()
            },
            ..ConnAck::default()
        };
        let mut client = client_with(Config::default(), V5, connack);
        client.disconnect(Disconnect {
            reason_code: ReasonCode::UnspecifiedError,
            ..disconnect
        });
        assert_stripped(&drain(&mut client)[0], 16);
    }
}

#[test]
fn mqtt_3_15_2_2_auth_diagnostics_dropped_to_fit() {
    // [MQTT-3.15.2-2] The sender MUST NOT send this property (Reason String) if it would increase
    // the size of the AUTH packet beyond the Maximum Packet Size specified by the receiver.
    // [MQTT-3.15.2-3] The sender MUST NOT send this property (User Property) if it would increase
    // the size of the AUTH packet beyond the Maximum Packet Size specified by the receiver.
    // (Re-authentication, once the limits are known; see the gap noted in docs/conformance.md
    // for AUTH before CONNACK.)
    for (reason_string, user_properties) in diagnostics() {
        let auth = Auth {
            reason_code: ReasonCode::ReAuthenticate,
            properties: AuthProperties {
                authentication_method: Some(text("m")),
                reason_string,
                user_properties,
                ..Default::default()
            },
        };
        let connack = ConnAck {
            properties: ConnAckProperties {
                maximum_packet_size: NonZeroU32::new(16),
                ..Default::default()
            },
            ..ConnAck::default()
        };
        let mut client = client_with(Config::default(), V5, connack);
        client.auth(auth.clone()).unwrap();
        let sent = drain(&mut client);
        assert_stripped(&sent[0], 16);
        match &sent[0] {
            Packet::Auth(a) => assert_eq!(a.properties.authentication_method, Some(text("m"))),
            other => panic!("{other:?}"),
        }
        let mut server = server_with(Config::default(), V5, max_packet_size(16));
        server
            .auth(Auth {
                reason_code: ReasonCode::ContinueAuthentication,
                ..auth
            })
            .unwrap();
        assert_stripped(&drain(&mut server)[0], 16);
    }
}

// ---------------------------------------------------------------------------------------------
// Chapter 4: session state, QoS flows, resending, ordering, flow control, errors

#[test]
fn mqtt_4_1_0_1_session_state_kept_while_connected() {
    // [MQTT-4.1.0-1] The Client and Server MUST NOT discard the Session State while the Network
    // Connection is open.
    // 3.1.1 [MQTT-4.1.0-2] A Session MUST last at least as long it has an active Network
    // Connection.
    for version in BOTH {
        let config = Config {
            manual_acks: true,
            ..Config::default()
        };
        let mut pair = Pair::new(version, config.clone(), config);
        pair.keep_alive = 10;
        pair.connect(false);
        let expiring = |payload: &str, qos| {
            let mut m = msg("a", payload, qos);
            if version.is_v5() {
                m.properties.message_expiry_interval = Some(5);
            }
            m
        };
        pair.client
            .publish(pair.now, expiring("c1", QoS::AtLeastOnce))
            .unwrap();
        pair.client
            .publish(pair.now, expiring("c2", QoS::ExactlyOnce))
            .unwrap();
        pair.server
            .publish(pair.now, expiring("s2", QoS::ExactlyOnce))
            .unwrap();
        pair.drive();
        // Both applications sit on their acknowledgements for an hour of keep-alive traffic.
        let client_state = pair.client.snapshot();
        let server_state = pair.server.snapshot();
        assert_eq!(pair.client.inflight_len(), 2);
        assert_eq!(pair.server.inflight_len(), 1);
        for _ in 0..360 {
            pair.advance(Duration::from_secs(10));
            pair.drive();
        }
        assert!(pair
            .delivered
            .iter()
            .any(|(_, p)| p.packet_type() == PacketType::PingReq));
        assert_eq!(pair.client.connection_state(), ConnectionState::Connected);
        assert_eq!(pair.client.snapshot(), client_state, "{version}");
        assert_eq!(pair.server.snapshot(), server_state, "{version}");
        // The flows then complete normally.
        let take_acks = |events: &mut Vec<Event>| -> Vec<InboundAck> {
            std::mem::take(events)
                .into_iter()
                .filter_map(|e| match e {
                    Event::Message { ack, .. } => ack,
                    _ => None,
                })
                .collect()
        };
        for ack in take_acks(&mut pair.server_events) {
            pair.server.ack(ack, ReasonCode::Success);
        }
        for ack in take_acks(&mut pair.client_events) {
            pair.client.ack(ack, ReasonCode::Success);
        }
        pair.drive();
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.server.inflight_len(), 0);
    }
}

#[test]
fn mqtt_4_3_1_1_new_publishes_have_dup_0() {
    // [MQTT-4.3.1-1] In the QoS 0 delivery protocol, the sender MUST send a PUBLISH packet with
    // QoS 0 and DUP flag set to 0.
    // [MQTT-4.3.2-2] (QoS 1) and [MQTT-4.3.3-2] (QoS 2): the sender MUST send a PUBLISH packet
    // containing this Packet Identifier with QoS 1 / QoS 2 and DUP flag set to 0.
    // (3.1.1: [MQTT-4.3.1-1], and the sender rules of [MQTT-4.3.2-1] and [MQTT-4.3.3-1].)
    for version in BOTH {
        let server = Config {
            queue_qos0_offline: true,
            ..Config::default()
        };
        let mut pair = connected(version, Config::default(), server);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            pair.client.publish(pair.now, msg("a", "c", qos)).unwrap();
            pair.server.publish(pair.now, msg("a", "s", qos)).unwrap();
        }
        pair.drive();
        // A QoS 0 message queued while offline is still a first transmission.
        pair.drop_connection();
        pair.server
            .publish(pair.now, msg("a", "queued", QoS::AtMostOnce))
            .unwrap();
        pair.connect(false);
        pair.drive();
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let sent = publishes(&pair, dir);
            assert!(sent.len() >= 3);
            for p in &sent {
                assert!(!p.dup, "{version}: {p:?}");
                if p.qos.qos() == QoS::AtMostOnce {
                    assert_eq!(p.qos.packet_id(), None);
                }
            }
        }
        assert_eq!(payloads(&pair.client_events), ["s", "s", "s", "queued"]);
    }
}

#[test]
fn mqtt_4_3_2_5_same_id_after_puback_is_a_new_message() {
    // [MQTT-4.3.2-5] After it has sent a PUBACK packet the receiver MUST treat any incoming
    // PUBLISH packet that contains the same Packet Identifier as being a new Application Message,
    // irrespective of the setting of its DUP flag.
    // 3.1.1 [MQTT-4.3.2-2] (QoS 1 receiver).
    for version in BOTH {
        let server = server_with(Config::default(), version, ConnectProperties::default());
        let client = client_with(Config::default(), version, ConnAck::default());
        for mut receiver in [server, client] {
            receiver.handle_packet(t(0), publish(QoS::AtLeastOnce, 6, "a", "first"));
            assert_eq!(drain(&mut receiver), [Packet::PubAck(PubAck::new(pid(6)))]);
            let again = Publish {
                dup: true,
                qos: PublishQos::AtLeastOnce(pid(6)),
                topic: topic("a"),
                payload: "second".into(),
                ..Publish::default()
            };
            receiver.handle_packet(t(0), Packet::Publish(again));
            assert_eq!(drain(&mut receiver), [Packet::PubAck(PubAck::new(pid(6)))]);
            assert_eq!(
                payloads(&events(&mut receiver)),
                ["first", "second"],
                "{version}"
            );
        }
    }
}

#[test]
fn mqtt_4_3_3_7_no_expiry_once_the_publish_was_sent() {
    // [MQTT-4.3.3-7] (QoS 2 sender) MUST NOT apply Message expiry if a PUBLISH packet has been
    // sent.
    // The PUBLISH went out, then was lost with the connection; it is re-sent after its expiry.
    let mut pair = connected(V5, Config::default(), Config::default());
    let mut m = msg("a", "lost", QoS::ExactlyOnce);
    m.properties.message_expiry_interval = Some(5);
    pair.server.publish(pair.now, m).unwrap();
    pair.flush();
    pair.drop_connection();
    pair.now = pair.now + Duration::from_secs(60);
    pair.connect(false);
    pair.drive();
    assert_eq!(payloads(&pair.client_events), ["lost"]);
    // The first transmission was lost with the connection: the one delivered is the re-send.
    let sent = publishes(&pair, Dir::ServerToClient);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].dup);
    // The PUBREC arrived and the PUBREL was lost: the PUBREL is re-sent after the expiry too.
    let mut m = msg("a", "released", QoS::ExactlyOnce);
    m.properties.message_expiry_interval = Some(5);
    let id = pair.server.publish(pair.now, m).unwrap();
    pair.step(Dir::ServerToClient); // PUBLISH
    pair.step(Dir::ClientToServer); // PUBREC; the PUBREL will be lost
    pair.drop_connection();
    pair.now = pair.now + Duration::from_secs(60);
    pair.connect(false);
    pair.drive();
    assert!(pair.server_events.contains(&Event::PublishCompleted {
        id,
        reason_code: ReasonCode::Success
    }));
    assert!(!pair
        .server_events
        .iter()
        .any(|e| matches!(e, Event::PublishDropped { .. })));
    assert_eq!(payloads(&pair.client_events), ["lost", "released"]);
}

#[test]
fn mqtt_4_3_3_9_after_a_failed_pubrec_the_id_is_new() {
    // [MQTT-4.3.3-9] If it has sent a PUBREC with a Reason Code of 0x80 or greater, the receiver
    // MUST treat any subsequent PUBLISH packet that contains that Packet Identifier as being a new
    // Application Message.
    let config = Config {
        manual_acks: true,
        ..Config::default()
    };
    let mut server = server_with(config, V5, ConnectProperties::default());
    server.handle_packet(t(0), publish(QoS::ExactlyOnce, 3, "a", "refused"));
    let ack = match events(&mut server).pop() {
        Some(Event::Message { ack: Some(ack), .. }) => ack,
        other => panic!("{other:?}"),
    };
    server.ack(ack, ReasonCode::QuotaExceeded);
    assert_eq!(
        drain(&mut server),
        [Packet::PubRec(PubRec {
            reason_code: ReasonCode::QuotaExceeded,
            ..PubRec::new(pid(3))
        })]
    );
    server.handle_packet(t(0), publish(QoS::ExactlyOnce, 3, "a", "new"));
    assert_eq!(payloads(&events(&mut server)), ["new"]);
}

#[test]
fn mqtt_4_3_3_13_qos2_ack_sequence_continues_after_expiry() {
    // [MQTT-4.3.3-13] (QoS 2 receiver) MUST continue the QoS 2 acknowledgement sequence even if
    // it has applied message expiry.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    let incoming = Publish {
        qos: PublishQos::ExactlyOnce(pid(4)),
        topic: topic("a"),
        properties: PublishProperties {
            message_expiry_interval: Some(1),
            ..Default::default()
        }
        .into(),
        ..Publish::default()
    };
    server.handle_packet(t(0), Packet::Publish(incoming.clone()));
    assert_eq!(drain(&mut server), [Packet::PubRec(PubRec::new(pid(4)))]);
    // Long after the message expired: a re-sent PUBLISH still gets its PUBREC, PUBREL its PUBCOMP.
    server.handle_packet(
        t(30_000),
        Packet::Publish(Publish {
            dup: true,
            ..incoming
        }),
    );
    assert_eq!(
        drain_at(&mut server, t(30_000)),
        [Packet::PubRec(PubRec::new(pid(4)))]
    );
    server.handle_packet(t(60_000), Packet::PubRel(PubRel::new(pid(4))));
    assert_eq!(
        drain_at(&mut server, t(60_000)),
        [Packet::PubComp(PubComp::new(pid(4)))]
    );
    assert_eq!(payloads(&events(&mut server)).len(), 1);
}

#[test]
fn mqtt_4_4_0_1_server_resends_on_resume() {
    // [MQTT-4.4.0-1] When a Client reconnects with Clean Start set to 0 and a session is present,
    // both the Client and Server MUST resend any unacknowledged PUBLISH packets (where QoS > 0)
    // and PUBREL packets using their original Packet Identifiers.
    // Here the Server's side (rules.rs checks the Client's); 3.1.1 [MQTT-4.4.0-1].
    for version in BOTH {
        let mut pair = connected(version, Config::default(), Config::default());
        for (qos, p) in [
            (QoS::AtLeastOnce, "s1"),
            (QoS::ExactlyOnce, "s2"),
            (QoS::ExactlyOnce, "s3"),
            (QoS::AtLeastOnce, "s4"),
        ] {
            pair.server.publish(pair.now, msg("a", p, qos)).unwrap();
        }
        for _ in 0..4 {
            pair.step(Dir::ServerToClient); // all four arrive
        }
        pair.step(Dir::ClientToServer); // PUBACK s1
        pair.step(Dir::ClientToServer); // PUBREC s2: PUBREL s2 is sent, then lost
        pair.drop_connection(); // PUBREC s3 and PUBACK s4 are lost too
        let first = publishes(&pair, Dir::ServerToClient);
        let original = |payload: &str| {
            first
                .iter()
                .find(|p| p.payload == payload)
                .and_then(|p| p.qos.packet_id())
                .unwrap()
        };
        let before = pair.delivered.len();
        pair.connect(false);
        pair.drive();
        let resent: Vec<Packet> = pair.delivered[before..]
            .iter()
            .filter(|(d, _)| *d == Dir::ServerToClient)
            .map(|(_, p)| p.clone())
            .skip(1) // CONNACK
            .take(3)
            .collect();
        assert_eq!(
            resent[0],
            Packet::PubRel(PubRel::new(original("s2"))),
            "{version}"
        );
        for (packet, payload) in resent[1..].iter().zip(["s3", "s4"]) {
            match packet {
                Packet::Publish(p) => {
                    assert!(p.dup);
                    assert_eq!(p.payload, payload);
                    assert_eq!(p.qos.packet_id(), Some(original(payload)));
                }
                other => panic!("{other:?}"),
            }
        }
        // s4 is QoS 1: delivered twice is allowed; s3 (QoS 2) only once.
        assert_eq!(
            payloads(&pair.client_events),
            ["s1", "s2", "s3", "s4", "s4"],
            "{version}"
        );
        assert_eq!(pair.server.inflight_len(), 0);
    }
}

#[test]
fn mqtt_4_4_0_2_failed_acks_are_not_retransmitted() {
    // [MQTT-4.4.0-2] If PUBACK or PUBREC is received containing a Reason Code of 0x80 or greater
    // the corresponding PUBLISH packet is treated as acknowledged, and MUST NOT be retransmitted.
    let server = Config {
        manual_acks: true,
        ..Config::default()
    };
    let mut pair = connected(V5, Config::default(), server);
    let q1 = pair
        .client
        .publish(pair.now, msg("a", "1", QoS::AtLeastOnce))
        .unwrap();
    let q2 = pair
        .client
        .publish(pair.now, msg("a", "2", QoS::ExactlyOnce))
        .unwrap();
    pair.drive();
    let acks: Vec<InboundAck> = std::mem::take(&mut pair.server_events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { ack, .. } => ack,
            _ => None,
        })
        .collect();
    for ack in acks {
        pair.server.ack(ack, ReasonCode::NotAuthorized);
    }
    pair.drive();
    for id in [q1, q2] {
        assert!(pair.client_events.contains(&Event::PublishCompleted {
            id,
            reason_code: ReasonCode::NotAuthorized
        }));
    }
    assert_eq!(pair.client.inflight_len(), 0);
    pair.drop_connection();
    pair.connect(false);
    pair.drive();
    assert_eq!(publishes(&pair, Dir::ClientToServer).len(), 2, "no re-send");
    assert!(!pair
        .packets(Dir::ClientToServer)
        .any(|p| p.packet_type() == PacketType::PubRel));
}

#[test]
fn mqtt_4_5_0_2_client_acknowledges_every_publish() {
    // [MQTT-4.5.0-2] The Client MUST acknowledge any Publish packet it receives according to the
    // applicable QoS rules regardless of whether it elects to process the Application Message
    // that it contains.
    for version in BOTH {
        let mut client = client_with(Config::default(), version, ConnAck::default());
        // Topics it never subscribed to; the application has not even looked at its events.
        client.handle_packet(t(0), publish(QoS::AtLeastOnce, 1, "not/subscribed", "x"));
        client.handle_packet(t(0), publish(QoS::ExactlyOnce, 2, "other", "y"));
        client.handle_packet(t(0), Packet::PubRel(PubRel::new(pid(2))));
        assert_eq!(
            drain(&mut client),
            [
                Packet::PubAck(PubAck::new(pid(1))),
                Packet::PubRec(PubRec::new(pid(2))),
                Packet::PubComp(PubComp::new(pid(2)))
            ],
            "{version}"
        );
    }
}

#[test]
fn mqtt_4_6_0_1_resent_publishes_keep_their_order() {
    // [MQTT-4.6.0-1] When the Client re-sends any PUBLISH packets, it MUST re-send them in the
    // order in which the original PUBLISH packets were sent (this applies to QoS 1 and QoS 2
    // messages).
    for version in BOTH {
        let mut pair = connected(version, Config::default(), Config::default());
        let order = ["1", "2", "3", "4", "5"];
        for (i, p) in order.iter().enumerate() {
            let qos = if i % 2 == 0 {
                QoS::AtLeastOnce
            } else {
                QoS::ExactlyOnce
            };
            pair.client.publish(pair.now, msg("a", p, qos)).unwrap();
        }
        pair.flush();
        let original = publish_ids(
            &pair
                .c2s
                .iter()
                .map(|b| {
                    Decoder::new(version)
                        .decode(&mut b.clone())
                        .unwrap()
                        .unwrap()
                })
                .collect::<Vec<_>>(),
        );
        pair.drop_connection(); // all five lost
        pair.connect(false);
        pair.drive();
        let resent = publishes(&pair, Dir::ClientToServer);
        let payloads_sent: Vec<&[u8]> = resent.iter().map(|p| p.payload.as_ref()).collect();
        let expected: Vec<&[u8]> = order.iter().map(|p| p.as_bytes()).collect();
        assert_eq!(payloads_sent, expected, "{version}");
        assert!(resent.iter().all(|p| p.dup));
        let ids: Vec<u16> = resent
            .iter()
            .map(|p| p.qos.packet_id().unwrap().get())
            .collect();
        assert_eq!(ids, original);
    }
}

#[test]
fn mqtt_4_6_0_2_client_acks_in_the_order_received() {
    // [MQTT-4.6.0-2] The Client MUST send PUBACK packets in the order in which the corresponding
    // PUBLISH packets were received (QoS 1 messages).
    // [MQTT-4.6.0-3] The Client MUST send PUBREC packets in the order in which the corresponding
    // PUBLISH packets were received (QoS 2 messages).
    for version in BOTH {
        let mut client = client_with(Config::default(), version, ConnAck::default());
        for (qos, id) in [
            (QoS::AtLeastOnce, 5),
            (QoS::ExactlyOnce, 2),
            (QoS::AtLeastOnce, 9),
            (QoS::ExactlyOnce, 4),
            (QoS::ExactlyOnce, 1),
            (QoS::AtLeastOnce, 3),
        ] {
            client.handle_packet(t(0), publish(qos, id, "a", "x"));
        }
        assert_eq!(
            drain(&mut client),
            [
                Packet::PubAck(PubAck::new(pid(5))),
                Packet::PubRec(PubRec::new(pid(2))),
                Packet::PubAck(PubAck::new(pid(9))),
                Packet::PubRec(PubRec::new(pid(4))),
                Packet::PubRec(PubRec::new(pid(1))),
                Packet::PubAck(PubAck::new(pid(3))),
            ],
            "{version}"
        );
    }
}

#[test]
fn mqtt_4_6_0_4_pubrel_in_the_order_pubrec_received() {
    // [MQTT-4.6.0-4] The Client MUST send PUBREL packets in the order in which the corresponding
    // PUBREC packets were received (QoS 2 messages).
    for version in BOTH {
        let mut client = client_with(Config::default(), version, ConnAck::default());
        for p in ["a", "b", "c"] {
            client.publish(t(0), msg("t", p, QoS::ExactlyOnce)).unwrap();
        }
        let ids = publish_ids(&drain(&mut client));
        assert_eq!(ids.len(), 3);
        let order = [ids[2], ids[0], ids[1]];
        for id in order {
            client.handle_packet(t(0), Packet::PubRec(PubRec::new(pid(id))));
        }
        let expected: Vec<Packet> = order
            .iter()
            .map(|id| Packet::PubRel(PubRel::new(pid(*id))))
            .collect();
        assert_eq!(drain(&mut client), expected, "{version}");
    }
}

#[test]
fn mqtt_4_9_0_1_initial_send_quota() {
    // [MQTT-4.9.0-1] The Client or Server MUST set its initial send quota to a non-zero value not
    // exceeding the Receive Maximum.
    // Non-zero even when configured with a limit of 0.
    let zero = Config {
        max_inflight: 0,
        ..Config::default()
    };
    let mut client = client_with(zero, V5, ConnAck::default());
    for p in ["1", "2"] {
        client.publish(t(0), msg("a", p, QoS::AtLeastOnce)).unwrap();
    }
    assert_eq!(publish_ids(&drain(&mut client)).len(), 1);
    // Not above the peer's Receive Maximum, whatever the own limit.
    let connack = ConnAck {
        properties: ConnAckProperties {
            receive_maximum: NonZeroU16::new(3),
            ..Default::default()
        },
        ..ConnAck::default()
    };
    let mut client = client_with(Config::default(), V5, connack);
    for i in 0..10 {
        client
            .publish(t(0), msg("a", &i.to_string(), QoS::ExactlyOnce))
            .unwrap();
    }
    assert_eq!(publish_ids(&drain(&mut client)).len(), 3);
    let mut server = server_with(
        Config::default(),
        V5,
        ConnectProperties {
            receive_maximum: NonZeroU16::new(3),
            ..Default::default()
        },
    );
    for i in 0..10 {
        server
            .publish(t(0), msg("a", &i.to_string(), QoS::AtLeastOnce))
            .unwrap();
    }
    assert_eq!(publish_ids(&drain(&mut server)).len(), 3);
}

#[test]
fn mqtt_4_13_2_1_error_connack_or_disconnect_closes() {
    // [MQTT-4.13.2-1] If a Reason Code of 0x80 or greater is specified (in CONNACK or
    // DISCONNECT), then the Network Connection MUST be closed whether or not the CONNACK or
    // DISCONNECT is sent.
    // Server refuses: CONNACK 0x87.
    let mut server = Session::new_server(Config::default());
    let refusal = ConnAck {
        reason_code: ReasonCode::NotAuthorized,
        ..ConnAck::default()
    };
    server
        .accept(t(0), &Connect::default(), refusal.clone())
        .unwrap();
    assert_eq!(server.connection_state(), ConnectionState::Closed);
    // Client receives that refusal.
    let mut client = Session::new_client(Config::default());
    client.connect(t(0), Connect::default()).unwrap();
    drain(&mut client);
    client.handle_packet(t(0), Packet::ConnAck(Box::new(refusal.clone())));
    assert_eq!(client.connection_state(), ConnectionState::Closed);
    assert_eq!(
        events(&mut client),
        [Event::ConnectionRefused(Box::new(refusal))]
    );
    // DISCONNECT 0x8E, sent by the server and received by the client.
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    let taken_over = Disconnect::new(ReasonCode::SessionTakenOver);
    server.disconnect(taken_over.clone());
    assert_eq!(server.connection_state(), ConnectionState::Closed);
    let mut client = client_with(Config::default(), V5, ConnAck::default());
    client.handle_packet(t(0), Packet::from(taken_over.clone()));
    assert_eq!(client.connection_state(), ConnectionState::Closed);
    assert_eq!(events(&mut client), [Event::PeerDisconnected(taken_over)]);
    // DISCONNECT 0x80 sent by the client, and received by the server.
    let mut client = client_with(Config::default(), V5, ConnAck::default());
    let error = Disconnect::new(ReasonCode::UnspecifiedError);
    client.disconnect(error.clone());
    assert_eq!(client.connection_state(), ConnectionState::Closed);
    let mut server = server_with(Config::default(), V5, ConnectProperties::default());
    server.handle_packet(t(0), Packet::from(error));
    assert_eq!(server.connection_state(), ConnectionState::Closed);
}

#[test]
fn mqtt_3_3_2_5_expired_messages_leave_a_disconnected_sessions_queue() {
    // [MQTT-3.3.2-5] If the Message Expiry Interval has passed and the Server has not managed to
    // start onward delivery to a matching subscriber, then it MUST delete the copy of the
    // message for that subscriber. A session that stays disconnected is swept.
    let mut server = Session::new_server(Config::default());
    let expiring = |payload: &str, secs: u32| {
        let mut m = msg("a", payload, QoS::AtLeastOnce);
        m.properties.message_expiry_interval = Some(secs);
        m
    };
    server.publish(t(0), expiring("short", 1)).unwrap();
    server
        .publish(t(0), msg("a", "forever", QoS::AtLeastOnce))
        .unwrap();
    server.publish(t(0), expiring("long", 60)).unwrap();
    assert_eq!(server.drop_expired(t(999)), 0);
    assert_eq!(server.drop_expired(t(1_000)), 1);
    assert!(matches!(
        events(&mut server)[..],
        [Event::PublishDropped {
            reason: DropReason::Expired,
            ..
        }]
    ));
    assert_eq!(server.queued_len(), 2);
    assert_eq!(server.queued_bytes(), "forever".len() + "long".len());
    assert_eq!(server.drop_expired(t(60_000)), 1);
    assert_eq!(server.queued_len(), 1);
}
