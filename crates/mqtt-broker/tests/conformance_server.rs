//! Server-side normative statements of MQTT 3.1.1 and 5.0 that `docs/conformance.md` listed as
//! "implemented but untested", each checked with raw packets over real sockets. Every test
//! names the statements it checks, with their version when the numbering differs.
//!
//! Negative checks ("nothing else was sent", "no will was published") do not wait for a
//! timeout: they rely on the broker writing a client's packets in the order it queues them, so a
//! PINGREQ answered without anything before it (`RawClient::sync`) or a sentinel message that
//! arrives first shows that nothing was queued ahead of it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use mqtt_codec::*;

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn filter(f: &str) -> TopicFilter {
    TopicFilter::new(f).unwrap()
}

fn will(topic: &str, payload: &str, qos: QoS, retain: bool) -> LastWill {
    LastWill {
        topic: TopicName::new(topic).unwrap(),
        payload: payload.to_owned().into(),
        qos,
        retain,
        ..LastWill::default()
    }
}

fn publish_packet(topic: &str, payload: &str, qos: QoS, id: u16) -> Publish {
    Publish {
        qos: PublishQos::new(qos, pid(id)),
        topic: TopicName::new(topic).unwrap(),
        payload: payload.to_owned().into(),
        ..Publish::default()
    }
}

/// Sends `connect` followed, in the same write, by `then`, and returns everything the broker
/// sent until it closed the connection (within [`WAIT`]; a test broker's CONNECT timeout does
/// not apply once CONNECT was read).
async fn refused(broker: &TestBroker, connect: Connect, then: Vec<Packet>) -> Vec<Packet> {
    let mut c = RawClient::open(broker.addr, connect.protocol).await;
    let mut packets = vec![Packet::from(connect)];
    packets.extend(then);
    c.send_all(&packets).await;
    c.until_closed().await
}

fn connack_code(packets: &[Packet]) -> Option<ReasonCode> {
    match packets {
        [Packet::ConnAck(a)] => Some(a.reason_code),
        _ => None,
    }
}

fn payload_of(p: &Packet) -> Option<String> {
    match p {
        Packet::Publish(p) => Some(String::from_utf8(p.payload.to_vec()).unwrap()),
        _ => None,
    }
}

/// Receives `n` PUBLISH packets and acknowledges each as its QoS requires, completing QoS 2
/// flows as their PUBREL arrives (possibly after further PUBLISH packets).
async fn receive_publishes(c: &mut RawClient, n: usize) -> Vec<Publish> {
    let mut got = Vec::new();
    let mut open_flows = 0;
    while got.len() < n || open_flows > 0 {
        match c.recv().await {
            Some(Packet::Publish(p)) => {
                match (p.qos.qos(), p.qos.packet_id()) {
                    (QoS::AtLeastOnce, Some(id)) => c.send(Packet::PubAck(PubAck::new(id))).await,
                    (QoS::ExactlyOnce, Some(id)) => {
                        c.send(Packet::PubRec(PubRec::new(id))).await;
                        open_flows += 1;
                    }
                    _ => {}
                }
                got.push(p);
            }
            Some(Packet::PubRel(r)) => {
                c.send(Packet::PubComp(PubComp::new(r.packet_id))).await;
                open_flows -= 1;
            }
            other => panic!("expected PUBLISH or PUBREL, got {other:?}"),
        }
    }
    got
}

/// A client's next PUBLISH, not acknowledged.
async fn next_publish(c: &mut RawClient) -> Publish {
    match c.recv().await {
        Some(Packet::Publish(p)) => p,
        other => panic!("expected PUBLISH, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// CONNECT refused: the CONNACK, then the close, and nothing processed in between.

#[tokio::test]
async fn mqtt_3_1_3_8_refused_client_identifier_gets_0x85_and_the_close() {
    // 5.0 [MQTT-3.1.3-8] "If the Server rejects the ClientID it MAY respond to the CONNECT
    // packet with a CONNACK using Reason Code 0x85 (Client Identifier not valid) [...] and then
    // it MUST close the Network Connection." Also [MQTT-3.2.2-7]: a CONNACK of 0x80 or more is
    // followed by the close.
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.allow_zero_length_clientid = false;
        }
    })
    .await;
    let got = refused(&broker, connect_packet(V5, "", true), Vec::new()).await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::ClientIdentifierNotValid),
        "{got:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_1_4_2_failed_authentication_closes_the_connection() {
    // 5.0 [MQTT-3.1.4-2] "The Server MAY check that the contents of the CONNECT packet meet any
    // further restrictions and SHOULD perform authentication and authorization checks. If any of
    // these checks fail, it MUST close the Network Connection." Here: anonymous access refused
    // (0x87), with and without a user name (no password file can vouch for one yet); also
    // [MQTT-3.2.2-7].
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.allow_anonymous = Some(false);
        }
    })
    .await;
    let got = refused(&broker, connect_packet(V5, "anon", true), Vec::new()).await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::NotAuthorized),
        "{got:?}"
    );
    let mut named = connect_packet(V5, "named", true);
    named.username = Some(MqttString::new("user").unwrap());
    named.password = Some("secret".into());
    let got = refused(&broker, named, Vec::new()).await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::NotAuthorized),
        "{got:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_2_2_12_will_qos_above_maximum_qos_gets_0x9b_and_the_close() {
    // 5.0 [MQTT-3.2.2-12] "If a Server receives a CONNECT packet containing a Will QoS that
    // exceeds its capabilities, it MUST reject the connection. It SHOULD use a CONNACK packet
    // with Reason Code 0x9B (QoS not supported) [...] and MUST close the Network Connection."
    // Also [MQTT-3.2.2-7].
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.max_qos = QoS::AtLeastOnce;
        }
    })
    .await;
    let mut c = connect_packet(V5, "ambitious", true);
    c.will = Some(will("w/ambitious", "bye", QoS::ExactlyOnce, false));
    let got = refused(&broker, c, Vec::new()).await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::QoSNotSupported),
        "{got:?}"
    );
    // Within the maximum the same will is accepted.
    let mut c = connect_packet(V5, "modest", true);
    c.will = Some(will("w/modest", "bye", QoS::AtLeastOnce, false));
    let (_c, ack) = RawClient::connect_with(broker.addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_2_2_13_retained_will_without_retain_support_gets_0x9a_and_the_close() {
    // 5.0 [MQTT-3.2.2-13] "If a Server receives a CONNECT packet containing a Will Message with
    // the Will Retain 1, and it does not support retained messages, the Server MUST reject the
    // connection request. It SHOULD send CONNACK with Reason Code 0x9A (Retain not supported)
    // and then it MUST close the Network Connection." Also [MQTT-3.2.2-7].
    let broker = TestBroker::with_config(|c| c.retain_available = false).await;
    let mut c = connect_packet(V5, "retainer", true);
    c.will = Some(will("w/retainer", "bye", QoS::AtMostOnce, true));
    let got = refused(&broker, c, Vec::new()).await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::RetainNotSupported),
        "{got:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_4_12_0_1_unsupported_authentication_method_gets_0x8c_and_the_close() {
    // 5.0 [MQTT-4.12.0-1] "If the Server does not support the Authentication Method supplied
    // by the Client, it MAY send a CONNACK with a Reason Code of 0x8C (Bad authentication
    // method) or 0x87 (Not Authorized) [...] and MUST close the Network Connection."
    // [MQTT-4.12.0-4] "If the Server rejects the authentication, it MAY send a CONNACK with a
    // Reason Code of 0x80 or above [...], and MUST close the Network Connection" (this is the
    // broker's only authentication rejection). Also [MQTT-3.2.2-7].
    let broker = TestBroker::start().await;
    let mut c = connect_packet(V5, "scram", true);
    c.properties.authentication_method = Some(MqttString::new("SCRAM-SHA-1").unwrap());
    c.properties.authentication_data = Some("client-first".into());
    let got = refused(&broker, c, Vec::new()).await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::BadAuthenticationMethod),
        "{got:?}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_1_4_5_nothing_is_processed_after_a_refused_connect() {
    // 3.1.1 [MQTT-3.1.4-5] "If the Server rejects the CONNECT, it MUST NOT process any data sent
    // by the Client after the CONNECT Packet." A zero-byte ClientId with CleanSession 0 is
    // refused (return code 0x02); a retained PUBLISH and a SUBSCRIBE sent in the same write are
    // neither answered nor acted upon.
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V4, "watcher").await;
    watcher.subscribe("#", QoS::AtLeastOnce).await;
    let mut leak = publish_packet("leak", "should not be routed", QoS::AtLeastOnce, 1);
    leak.retain = true;
    let sub = Subscribe::new(pid(2), vec![(filter("#"), SubscriptionOptions::default())]);
    // The encoder refuses this CONNECT; it is written by hand.
    let mut bytes = b"\x10\x0c\x00\x04MQTT\x04\x00\x00\x3c\x00\x00".to_vec();
    let mut rest = bytes::BytesMut::new();
    Packet::Publish(leak).encode(V4, &mut rest).unwrap();
    Packet::Subscribe(sub).encode(V4, &mut rest).unwrap();
    bytes.extend_from_slice(&rest);
    let mut c = RawClient::open(broker.addr, V4).await;
    c.send_raw(&bytes).await;
    let got = c.until_closed().await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::ClientIdentifierNotValid),
        "only the CONNACK: {got:?}"
    );
    // Not routed: the watcher's next message is a later one...
    let mut publ = RawClient::connect(broker.addr, V4, "pub").await;
    publ.publish("sentinel", "after", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(watcher.expect_publish().await.topic, "sentinel");
    // ...and not retained either.
    let mut late = RawClient::connect(broker.addr, V4, "late").await;
    late.subscribe("leak", QoS::AtLeastOnce).await;
    assert_eq!(late.sync().await, []);
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_1_4_6_nothing_but_auth_is_processed_after_a_refused_connect() {
    // 5.0 [MQTT-3.1.4-6] "If the Server rejects the CONNECT, it MUST NOT process any data sent
    // by the Client after the CONNECT packet except AUTH packets." The broker processes nothing
    // at all after a refusal: an AUTH, a PUBLISH and a SUBSCRIBE behind a CONNECT refused with
    // 0x85 get no answer and have no effect.
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.allow_zero_length_clientid = false;
        }
    })
    .await;
    let mut watcher = RawClient::connect(broker.addr, V5, "watcher").await;
    watcher.subscribe("#", QoS::AtLeastOnce).await;
    let auth = Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some(MqttString::new("SCRAM-SHA-1").unwrap()),
            ..AuthProperties::default()
        },
    };
    let mut leak = publish_packet("leak", "should not be routed", QoS::AtLeastOnce, 1);
    leak.retain = true;
    let sub = Subscribe::new(pid(2), vec![(filter("#"), SubscriptionOptions::default())]);
    let got = refused(
        &broker,
        connect_packet(V5, "", true),
        vec![
            Packet::from(auth),
            Packet::Publish(leak),
            Packet::Subscribe(sub),
        ],
    )
    .await;
    assert_eq!(
        connack_code(&got),
        Some(ReasonCode::ClientIdentifierNotValid),
        "only the CONNACK: {got:?}"
    );
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("sentinel", "after", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(watcher.expect_publish().await.topic, "sentinel");
    let mut late = RawClient::connect(broker.addr, V5, "late").await;
    late.subscribe("leak", QoS::AtLeastOnce).await;
    assert_eq!(late.sync().await, []);
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_2_2_6_malformed_connect_is_closed_without_connack() {
    // 3.1.1 [MQTT-3.2.2-6] "If none of the return codes listed in Table 3.1 are deemed
    // applicable, then the Server MUST close the Network Connection without sending a CONNACK."
    // The CONNECT timeout is set far beyond the wait, so the close is the broker's answer to
    // the malformed CONNECT, not the timeout.
    let broker = TestBroker::with_connect_timeout(Duration::from_secs(600), |_| {}).await;
    let cases: [(&str, &[u8]); 3] = [
        // Reserved flag set [MQTT-3.1.2-3].
        (
            "reserved flag",
            b"\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00",
        ),
        // Will QoS 3 [MQTT-3.1.2-14].
        (
            "will QoS 3",
            b"\x10\x12\x00\x04MQTT\x04\x1e\x00\x3c\x00\x01c\x00\x01t\x00\x00",
        ),
        // Password flag without the User Name flag [MQTT-3.1.2-22].
        (
            "password without user name",
            b"\x10\x11\x00\x04MQTT\x04\x42\x00\x3c\x00\x01c\x00\x02pw",
        ),
    ];
    for (what, bytes) in cases {
        let mut c = RawClient::open(broker.addr, V4).await;
        c.send_raw(bytes).await;
        assert_eq!(c.until_closed().await, [], "{what}");
    }
    // The broker still answers a well-formed CONNECT.
    let (_c, ack) = RawClient::connect_with(broker.addr, connect_packet(V4, "fine", true)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// CONNACK contents.

#[tokio::test]
async fn mqtt_3_1_2_28_no_response_information_unless_requested() {
    // 5.0 [MQTT-3.1.2-28] "A value of 0 indicates that the Server MUST NOT return Response
    // Information." Request Response Information absent (default 0) and explicitly 0.
    let broker = TestBroker::start().await;
    for (id, request) in [("absent", None), ("zero", Some(false))] {
        let mut c = connect_packet(V5, id, true);
        c.properties.request_response_information = request;
        let (_c, ack) = RawClient::connect_with(broker.addr, c).await;
        assert_eq!(ack.reason_code, ReasonCode::Success);
        assert_eq!(ack.properties.response_information, None, "{id}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_4_12_0_6_no_auth_without_an_authentication_method() {
    // 5.0 [MQTT-4.12.0-6] "If the Client does not include an Authentication Method in the
    // CONNECT, the Server MUST NOT send an AUTH packet, and it MUST NOT send an Authentication
    // Method in the CONNACK packet."
    let broker = TestBroker::start().await;
    let (mut c, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V5, "plain", true)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert_eq!(ack.properties.authentication_method, None);
    assert_eq!(ack.properties.authentication_data, None);
    // Nothing, AUTH included, came after the CONNACK.
    assert_eq!(c.sync().await, []);
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_2_2_9_and_10_maximum_qos_announced_and_any_requested_qos_accepted() {
    // 5.0 [MQTT-3.2.2-9] "If a Server does not support QoS 1 or QoS 2 PUBLISH packets it MUST
    // send a Maximum QoS in the CONNACK packet specifying the highest QoS it supports."
    // [MQTT-3.2.2-10] "A Server that does not support QoS 1 or QoS 2 PUBLISH packets MUST still
    // accept SUBSCRIBE packets containing a Requested QoS of 0, 1 or 2." (granted at most the
    // maximum).
    for (max, granted) in [
        (QoS::AtMostOnce, [ReasonCode::GRANTED_QOS_0; 3]),
        (
            QoS::AtLeastOnce,
            [
                ReasonCode::GRANTED_QOS_0,
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS1,
            ],
        ),
    ] {
        let broker = TestBroker::with_config(|c| {
            for l in &mut c.listeners {
                l.max_qos = max;
            }
        })
        .await;
        let (mut c, ack) =
            RawClient::connect_with(broker.addr, connect_packet(V5, "limited", true)).await;
        assert_eq!(ack.properties.maximum_qos, Some(max));
        let s = Subscribe::new(
            pid(4),
            vec![
                (
                    filter("q/0"),
                    SubscriptionOptions::with_qos(QoS::AtMostOnce),
                ),
                (
                    filter("q/1"),
                    SubscriptionOptions::with_qos(QoS::AtLeastOnce),
                ),
                (
                    filter("q/2"),
                    SubscriptionOptions::with_qos(QoS::ExactlyOnce),
                ),
            ],
        );
        c.send(Packet::Subscribe(s)).await;
        match c.recv().await {
            Some(Packet::SubAck(a)) => {
                assert_eq!(a.packet_id, pid(4));
                assert_eq!(a.reason_codes, granted, "max_qos {max}");
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
        broker.stop().await;
    }
}

#[tokio::test]
async fn mqtt_3_1_3_6_zero_byte_client_ids_get_unique_identifiers() {
    // 3.1.1 [MQTT-3.1.3-6] "A Server MAY allow a Client to supply a ClientId that has a length
    // of zero bytes, however if it does so the Server MUST treat this as a special case and
    // assign a unique ClientId to that Client. It MUST then process the CONNECT packet as if the
    // Client had provided that unique ClientId." Two such clients are both accepted and both
    // stay connected (the same identifier would have made the second take the first over).
    let (broker, hub) = TestBroker::start_with_hub().await;
    let (mut first, ack) = RawClient::connect_with(broker.addr, connect_packet(V4, "", true)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let (mut second, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V4, "", true)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    // Mosquitto's form: auto- and a UUID.
    let ids = hub.client_ids();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
    assert!(
        ids.iter().all(|id| is_generated_client_id(id, "auto-")),
        "{ids:?}"
    );
    first.subscribe("anon/1", QoS::AtLeastOnce).await;
    second
        .publish("anon/1", "to the first", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(first.expect_publish().await.payload, "to the first");
    assert_eq!(second.sync().await, []);
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Wills.

#[tokio::test]
async fn mqtt_3_1_2_12_no_will_without_the_will_flag() {
    // 3.1.1 [MQTT-3.1.2-12] "If the Will Flag is set to 0, a Will Message MUST NOT be published
    // when this Network Connection ends." The will-less client's connection is lost, then it
    // reconnects: by the time its second CONNACK arrives, the end of the first connection has
    // been handled (either before the reconnection or as its takeover), so a will would already
    // be queued for the watcher ahead of the sentinel published afterwards.
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V4, "watcher").await;
    watcher.subscribe("#", QoS::AtLeastOnce).await;
    let (quiet, _) = RawClient::connect_with(broker.addr, connect_packet(V4, "quiet", false)).await;
    drop(quiet);
    let (_quiet, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V4, "quiet", false)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let mut publ = RawClient::connect(broker.addr, V4, "pub").await;
    publ.publish("sentinel", "after", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(watcher.expect_publish().await.topic, "sentinel");
    broker.stop().await;
}

/// Connects `id` with a will on `topic`, loses the connection, and returns the will as the
/// watcher (subscribed with Retain As Published on 5.0) receives it.
async fn lose_connection_with_will(
    broker: &TestBroker,
    watcher: &mut RawClient,
    version: ProtocolVersion,
    id: &str,
    will: LastWill,
) -> Publish {
    let mut c = connect_packet(version, id, true);
    c.will = Some(will);
    let (client, _) = RawClient::connect_with(broker.addr, c).await;
    drop(client);
    watcher.expect_publish().await
}

#[tokio::test]
async fn mqtt_3_1_2_16_will_retain_0_publishes_a_non_retained_will() {
    // 3.1.1 [MQTT-3.1.2-16] / 5.0 [MQTT-3.1.2-14] "If the Will Flag is set to 1 and Will Retain
    // is set to 0, the Server MUST publish the Will Message as a non-retained message."
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let topic = format!("will/plain/{version}");
        let mut watcher = RawClient::connect(broker.addr, version, "watcher").await;
        let rap = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            retain_as_published: true,
            ..SubscriptionOptions::default()
        };
        watcher.subscribe_with(&topic, rap, None).await;
        let got = lose_connection_with_will(
            &broker,
            &mut watcher,
            version,
            "mortal",
            will(&topic, "gone", QoS::AtLeastOnce, false),
        )
        .await;
        assert_eq!(got.payload, "gone");
        assert!(!got.retain, "{version}: published as retained");
        // Not stored: a later subscriber gets no retained message.
        let mut late = RawClient::connect(broker.addr, version, "late").await;
        late.subscribe(&topic, QoS::AtLeastOnce).await;
        assert_eq!(late.sync().await, [], "{version}");
        watcher.disconnect().await;
        late.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_1_2_17_will_retain_1_publishes_a_retained_will() {
    // 3.1.1 [MQTT-3.1.2-17] / 5.0 [MQTT-3.1.2-15] "If the Will Flag is set to 1 and Will Retain
    // is set to 1, the Server MUST publish the Will Message as a retained message."
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let topic = format!("will/kept/{version}");
        let mut watcher = RawClient::connect(broker.addr, version, "watcher").await;
        let rap = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            retain_as_published: true,
            ..SubscriptionOptions::default()
        };
        watcher.subscribe_with(&topic, rap, None).await;
        let got = lose_connection_with_will(
            &broker,
            &mut watcher,
            version,
            "mortal",
            will(&topic, "gone", QoS::AtLeastOnce, true),
        )
        .await;
        assert_eq!(got.payload, "gone");
        if version.is_v5() {
            // Retain As Published shows the RETAIN flag the will was published with.
            assert!(got.retain);
        }
        // Stored: a later subscriber gets it as a retained message.
        let mut late = RawClient::connect(broker.addr, version, "late").await;
        late.subscribe(&topic, QoS::AtLeastOnce).await;
        match &late.sync().await[..] {
            [Packet::Publish(p)] => {
                assert!(p.retain, "{version}");
                assert_eq!(p.payload, "gone");
            }
            other => panic!("{version}: expected the retained will, got {other:?}"),
        }
        watcher.disconnect().await;
        late.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_1_3_10_will_user_properties_keep_their_order() {
    // 5.0 [MQTT-3.1.3-10] "The Server MUST maintain the order of User Properties when
    // publishing the Will Message."
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V5, "watcher").await;
    watcher.subscribe("will/props", QoS::AtLeastOnce).await;
    let props: Vec<UserProperty> = [("z", "1"), ("a", "2"), ("z", "3"), ("m", "4")]
        .into_iter()
        .map(|(k, v)| (MqttString::new(k).unwrap(), MqttString::new(v).unwrap()))
        .collect();
    let mut w = will("will/props", "gone", QoS::AtLeastOnce, false);
    w.properties.user_properties = props.clone();
    let got = lose_connection_with_will(&broker, &mut watcher, V5, "propertied", w).await;
    assert_eq!(got.properties.user_properties, props);
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_1_3_9_no_will_after_reconnecting_within_the_will_delay() {
    // 5.0 [MQTT-3.1.3-9] "If a new Network Connection to this Session is made before the Will
    // Delay Interval has passed, the Server MUST NOT send the Will Message." "back" loses its
    // connection with a 1 s Will Delay and comes back at once; "gone" loses its connection
    // afterwards with a 2 s delay and stays away. The first will the watcher gets must be
    // "gone"'s: "back"'s delay ended a second earlier.
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V5, "watcher").await;
    watcher.subscribe("delayed/#", QoS::AtLeastOnce).await;
    let with_delayed_will = |id: &str, delay: u32| {
        let mut c = connect_packet(V5, id, false);
        c.properties.session_expiry_interval = Some(60);
        let mut w = will(&format!("delayed/{id}"), "late", QoS::AtLeastOnce, false);
        w.properties.will_delay_interval = Some(delay);
        c.will = Some(w);
        c
    };
    let (back, _) = RawClient::connect_with(broker.addr, with_delayed_will("back", 1)).await;
    drop(back);
    let (_back, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V5, "back", false)).await;
    assert!(ack.session_present);
    let (gone, _) = RawClient::connect_with(broker.addr, with_delayed_will("gone", 2)).await;
    drop(gone);
    assert_eq!(watcher.expect_publish().await.topic, "delayed/gone");
    assert_eq!(watcher.sync().await, []);
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Retained messages and forwarded properties.

#[tokio::test]
async fn mqtt_3_3_1_12_retain_0_leaves_the_retained_message_alone() {
    // 3.1.1 [MQTT-3.3.1-12] / 5.0 [MQTT-3.3.1-8] "If the RETAIN flag is 0 in a PUBLISH packet
    // sent by a Client to a Server, the Server MUST NOT store the message as a retained message
    // and MUST NOT remove or replace any existing retained message."
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let kept = format!("keep/{version}/a");
        let never = format!("keep/{version}/b");
        let mut publ = RawClient::connect(broker.addr, version, "pub").await;
        publ.publish(&kept, "old", QoS::AtLeastOnce, true).await;
        publ.publish(&kept, "new", QoS::AtLeastOnce, false).await;
        // An empty payload with RETAIN 0 does not delete it either.
        publ.publish(&kept, "", QoS::AtLeastOnce, false).await;
        publ.publish(&never, "not stored", QoS::AtLeastOnce, false)
            .await;
        let mut late = RawClient::connect(broker.addr, version, "late").await;
        late.subscribe(&format!("keep/{version}/#"), QoS::AtLeastOnce)
            .await;
        match &late.sync().await[..] {
            [Packet::Publish(p)] => {
                assert_eq!(p.topic, kept.as_str());
                assert_eq!(p.payload, "old", "{version}");
                assert!(p.retain);
            }
            other => panic!("{version}: expected only the first retained message, got {other:?}"),
        }
        publ.disconnect().await;
        late.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_3_2_4_payload_format_indicator_is_forwarded_unaltered() {
    // 5.0 [MQTT-3.3.2-4] "A Server MUST send the Payload Format Indicator unaltered to all
    // subscribers receiving the Application Message." Both values, to a live subscriber and,
    // retained, to a later one.
    let broker = TestBroker::start().await;
    let mut sub = RawClient::connect(broker.addr, V5, "sub").await;
    sub.subscribe("pfi/#", QoS::AtLeastOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    for (n, indicator) in [(1, Some(true)), (2, Some(false)), (3, None)] {
        let mut p = publish_packet(&format!("pfi/{n}"), "text", QoS::AtLeastOnce, n);
        p.retain = true;
        p.properties.payload_format_indicator = indicator;
        publ.send(Packet::Publish(p)).await;
        assert!(matches!(publ.recv().await, Some(Packet::PubAck(_))));
        let got = sub.expect_publish().await;
        assert_eq!(
            got.properties.payload_format_indicator, indicator,
            "live {n}"
        );
    }
    let mut late = RawClient::connect(broker.addr, V5, "late").await;
    late.subscribe("pfi/#", QoS::AtLeastOnce).await;
    let mut retained = HashMap::new();
    for _ in 0..3 {
        let p = late.expect_publish().await;
        retained.insert(p.topic.to_string(), p.properties.payload_format_indicator);
    }
    assert_eq!(retained["pfi/1"], Some(true));
    assert_eq!(retained["pfi/2"], Some(false));
    assert_eq!(retained["pfi/3"], None);
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_3_4_5_each_copy_carries_its_own_subscription_identifier() {
    // 5.0 [MQTT-3.3.4-5] "If the Server sends a single copy of the message it MUST include in the
    // PUBLISH packet the Subscription Identifiers for all matching subscriptions which have a
    // Subscription Identifiers, their order is not significant." and, when it sends several
    // copies, each carries the identifier of its own subscription. A client matching through a
    // non-shared subscription (id 1) and a Shared Subscription (id 2) gets two copies.
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr, V5, "both").await;
    c.subscribe_with(
        "copies/+",
        SubscriptionOptions::with_qos(QoS::AtLeastOnce),
        Some(1),
    )
    .await;
    c.subscribe_with(
        "$share/g/copies/#",
        SubscriptionOptions::with_qos(QoS::AtLeastOnce),
        Some(2),
    )
    .await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("copies/x", "twice", QoS::AtLeastOnce, false)
        .await;
    let mut ids: Vec<Vec<u32>> = Vec::new();
    for _ in 0..2 {
        let p = c.expect_publish().await;
        assert_eq!(p.payload, "twice");
        ids.push(
            p.properties
                .subscription_identifiers
                .iter()
                .map(|i| i.get())
                .collect(),
        );
    }
    ids.sort();
    assert_eq!(ids, [vec![1], vec![2]]);
    assert_eq!(c.sync().await, []);
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE with several filters, UNSUBSCRIBE.

#[tokio::test]
async fn mqtt_3_8_4_4_several_filters_are_several_subscribes_with_one_suback_in_order() {
    // 3.1.1 [MQTT-3.8.4-4] / 5.0 [MQTT-3.8.4-5] "If a Server receives a SUBSCRIBE packet that
    // contains multiple Topic Filters it MUST handle that packet as if it had received a
    // sequence of multiple SUBSCRIBE packets, except that it combines their responses into a
    // single SUBACK response." [MQTT-3.9.3-1] (both) "The order of Reason Codes in the SUBACK
    // packet MUST match the order of Topic Filters in the SUBSCRIBE packet."
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let mut c = RawClient::connect(broker.addr, version, "multi").await;
        let s = Subscribe::new(
            pid(7),
            vec![
                (
                    filter("m/two"),
                    SubscriptionOptions::with_qos(QoS::ExactlyOnce),
                ),
                (
                    filter("m/zero"),
                    SubscriptionOptions::with_qos(QoS::AtMostOnce),
                ),
                (
                    filter("m/one"),
                    SubscriptionOptions::with_qos(QoS::AtLeastOnce),
                ),
                // As in a sequence, the second SUBSCRIBE to m/x replaces the first.
                (
                    filter("m/x"),
                    SubscriptionOptions::with_qos(QoS::ExactlyOnce),
                ),
                (
                    filter("m/x"),
                    SubscriptionOptions::with_qos(QoS::AtMostOnce),
                ),
            ],
        );
        c.send(Packet::Subscribe(s)).await;
        match c.recv().await {
            Some(Packet::SubAck(a)) => {
                assert_eq!(a.packet_id, pid(7));
                assert_eq!(
                    a.reason_codes,
                    [
                        ReasonCode::GrantedQoS2,
                        ReasonCode::GRANTED_QOS_0,
                        ReasonCode::GrantedQoS1,
                        ReasonCode::GrantedQoS2,
                        ReasonCode::GRANTED_QOS_0,
                    ],
                    "{version}"
                );
            }
            other => panic!("expected one SUBACK, got {other:?}"),
        }
        let mut publ = RawClient::connect(broker.addr, version, "pub").await;
        for (topic, granted) in [
            ("m/two", QoS::ExactlyOnce),
            ("m/zero", QoS::AtMostOnce),
            ("m/one", QoS::AtLeastOnce),
            ("m/x", QoS::AtMostOnce),
        ] {
            publ.publish(topic, topic, QoS::ExactlyOnce, false).await;
            let p = c.expect_publish().await;
            assert_eq!(
                (p.topic.as_str(), p.qos.qos()),
                (topic, granted),
                "{version}"
            );
        }
        assert_eq!(c.sync().await, [], "{version}: one copy each");
        c.disconnect().await;
        publ.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_10_4_4_and_5_unsuback_answers_every_unsubscribe() {
    // 3.1.1 [MQTT-3.10.4-4] "The Server MUST respond to an UNSUBSUBCRIBE request by sending an
    // UNSUBACK packet. The UNSUBACK Packet MUST have the same Packet Identifier as the
    // UNSUBSCRIBE Packet." [MQTT-3.10.4-5] "Even where no Topic Subscriptions are deleted, the
    // Server MUST respond with an UNSUBACK." 5.0 [MQTT-3.10.4-4] "The Server MUST respond to an
    // UNSUBSCRIBE request by sending an UNSUBACK packet." [MQTT-3.10.4-5] "The UNSUBACK packet
    // MUST have the same Packet Identifier as the UNSUBSCRIBE packet. Even where no Topic
    // Subscriptions are deleted, the Server MUST respond with an UNSUBACK."
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let mut c = RawClient::connect(broker.addr, version, "unsub").await;
        c.subscribe("u/exists", QoS::AtLeastOnce).await;
        for (id, f, code) in [
            (9, "u/never", ReasonCode::NoSubscriptionExisted),
            (10, "u/exists", ReasonCode::Success),
            (11, "u/exists", ReasonCode::NoSubscriptionExisted),
        ] {
            c.send(Packet::Unsubscribe(Unsubscribe::new(
                pid(id),
                vec![filter(f)],
            )))
            .await;
            match c.recv().await {
                Some(Packet::UnsubAck(a)) => {
                    assert_eq!(a.packet_id, pid(id), "{version}");
                    let expected = if version.is_v5() { vec![code] } else { vec![] };
                    assert_eq!(a.reason_codes, expected, "{version} {f}");
                }
                other => panic!("expected UNSUBACK, got {other:?}"),
            }
        }
        c.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_10_4_6_several_filters_are_several_unsubscribes_with_one_unsuback_in_order() {
    // 3.1.1 and 5.0 [MQTT-3.10.4-6] "If a Server receives an UNSUBSCRIBE packet that contains
    // multiple Topic Filters, it MUST process that packet as if it had received a sequence of
    // multiple UNSUBSCRIBE packets, except that it sends just one UNSUBACK response." 5.0
    // [MQTT-3.11.3-1] "The order of Reason Codes in the UNSUBACK packet MUST match the order of
    // Topic Filters in the UNSUBSCRIBE packet."
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let mut c = RawClient::connect(broker.addr, version, "unsub").await;
        for f in ["n/a", "n/b", "n/c"] {
            c.subscribe(f, QoS::AtLeastOnce).await;
        }
        let u = Unsubscribe::new(
            pid(12),
            vec![
                filter("n/b"),
                filter("n/never"),
                filter("n/a"),
                filter("n/a"),
            ],
        );
        c.send(Packet::Unsubscribe(u)).await;
        match c.recv().await {
            Some(Packet::UnsubAck(a)) => {
                assert_eq!(a.packet_id, pid(12));
                if version.is_v5() {
                    assert_eq!(
                        a.reason_codes,
                        [
                            ReasonCode::Success,
                            ReasonCode::NoSubscriptionExisted,
                            ReasonCode::Success,
                            // As in a sequence: the first n/a deleted it.
                            ReasonCode::NoSubscriptionExisted,
                        ]
                    );
                }
            }
            other => panic!("expected one UNSUBACK, got {other:?}"),
        }
        assert_eq!(c.sync().await, [], "{version}: a single UNSUBACK");
        let mut publ = RawClient::connect(broker.addr, version, "pub").await;
        for t in ["n/a", "n/b", "n/c"] {
            publ.publish(t, t, QoS::AtLeastOnce, false).await;
        }
        assert_eq!(c.expect_publish().await.topic, "n/c");
        assert_eq!(c.sync().await, [], "{version}");
        c.disconnect().await;
        publ.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_3_10_4_3_unsubscribe_completes_deliveries_already_started() {
    // 3.1.1 [MQTT-3.10.4-3] / 5.0 [MQTT-3.10.4-3] "If a Server deletes a Subscription [...] It
    // MUST complete the delivery of any QoS 1 or QoS 2 messages which it has started to send to
    // the Client." A QoS 2 message in flight is completed on the same connection after the
    // UNSUBACK; a QoS 1 message in flight is sent again on the next connection of the session.
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let mut persistent = connect_packet(version, &format!("leaving-{version}"), false);
        if version.is_v5() {
            persistent.properties.session_expiry_interval = Some(60);
        }
        let (mut c, _) = RawClient::connect_with(broker.addr, persistent.clone()).await;
        c.subscribe("started/#", QoS::ExactlyOnce).await;
        let mut publ = RawClient::connect(broker.addr, version, "pub").await;
        publ.publish("started/2", "two", QoS::ExactlyOnce, false)
            .await;
        publ.publish("started/1", "one", QoS::AtLeastOnce, false)
            .await;
        let two = next_publish(&mut c).await;
        let one = next_publish(&mut c).await;
        assert_eq!(
            (two.payload.as_ref(), one.payload.as_ref()),
            (&b"two"[..], &b"one"[..])
        );
        let two_id = two.qos.packet_id().unwrap();
        let one_id = one.qos.packet_id().unwrap();
        c.send(Packet::Unsubscribe(Unsubscribe::new(
            pid(5),
            vec![filter("started/#")],
        )))
        .await;
        assert!(matches!(c.recv().await, Some(Packet::UnsubAck(a)) if a.packet_id == pid(5)));
        // QoS 2: PUBREC is still answered with PUBREL.
        c.send(Packet::PubRec(PubRec::new(two_id))).await;
        assert!(
            matches!(c.recv().await, Some(Packet::PubRel(r)) if r.packet_id == two_id),
            "{version}"
        );
        c.send(Packet::PubComp(PubComp::new(two_id))).await;
        assert_eq!(c.sync().await, []);
        // QoS 1: still unacknowledged when the connection is lost, re-sent on the next one.
        drop(c);
        let (mut c, ack) = RawClient::connect_with(broker.addr, persistent).await;
        assert!(ack.session_present);
        let again = next_publish(&mut c).await;
        assert!(again.dup, "{version}");
        assert_eq!(again.qos.packet_id(), Some(one_id));
        assert_eq!(again.payload, "one");
        c.send(Packet::PubAck(PubAck::new(one_id))).await;
        // No new deliveries for the deleted subscription.
        publ.publish("started/1", "after", QoS::AtLeastOnce, false)
            .await;
        assert_eq!(c.sync().await, [], "{version}");
        c.disconnect().await;
        publ.disconnect().await;
    }
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Message ordering.

#[tokio::test]
async fn mqtt_4_6_0_5_and_6_every_topic_is_ordered() {
    // 3.1.1 [MQTT-4.6.0-5] "A Server MUST by default treat each Topic as an "Ordered Topic"."
    // 3.1.1 [MQTT-4.6.0-6] / 5.0 [MQTT-4.6.0-5] "[...] it MUST send PUBLISH packets to consumers
    // (for the same Topic and QoS) in the order that they were received from any given Client."
    // 5.0 [MQTT-4.6.0-6] "A Server MUST treat every Topic as an Ordered Topic when it is
    // forwarding messages on Non-shared Subscriptions." Two publishers interleave two topics at
    // every QoS, more than the in-flight window (20), while the subscriber does not read.
    let broker = TestBroker::start().await;
    for version in [V4, V5] {
        let mut sub = RawClient::connect(broker.addr, version, "consumer").await;
        sub.subscribe("ord/#", QoS::ExactlyOnce).await;
        let mut publishers = [
            RawClient::connect(broker.addr, version, "p0").await,
            RawClient::connect(broker.addr, version, "p1").await,
        ];
        let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
        let total = 90;
        for i in 0..total {
            let topic = if i % 2 == 0 { "ord/a" } else { "ord/b" };
            let q = qos[(i / 2) % 3];
            publishers[(i / 6) % 2]
                .publish(topic, &format!("{}:{i}", (i / 6) % 2), q, false)
                .await;
        }
        // (publisher, topic, QoS) -> sequence numbers received.
        let mut seen: HashMap<(String, String, QoS), Vec<usize>> = HashMap::new();
        for p in receive_publishes(&mut sub, total).await {
            let text = String::from_utf8(p.payload.to_vec()).unwrap();
            let (from, n) = text.split_once(':').unwrap();
            seen.entry((from.to_owned(), p.topic.to_string(), p.qos.qos()))
                .or_default()
                .push(n.parse().unwrap());
        }
        assert_eq!(seen.len(), 12, "{version}: 2 publishers x 2 topics x 3 QoS");
        for (key, ns) in &seen {
            assert!(
                ns.windows(2).all(|w| w[0] < w[1]),
                "{version} {key:?} out of order: {ns:?}"
            );
        }
        assert_eq!(sub.sync().await, []);
        sub.disconnect().await;
        for p in publishers {
            p.disconnect().await;
        }
    }
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Errors.

#[tokio::test]
async fn mqtt_4_8_0_2_a_socket_error_closes_the_connection() {
    // 3.1.1 [MQTT-4.8.0-2] "If the Client or Server encounters a Transient Error while
    // processing an inbound Control Packet it MUST close the Network Connection on which it
    // received that Control Packet." The broker has no storage that can fail yet; the transient
    // error it meets is the socket's: a connection reset half-way through a PUBLISH. The
    // connection is closed as lost: its will is published and its clean session ends, and the
    // half-received PUBLISH is not routed.
    let (broker, hub) = TestBroker::start_with_hub().await;
    let mut watcher = RawClient::connect(broker.addr, V4, "watcher").await;
    watcher.subscribe("#", QoS::AtLeastOnce).await;
    let mut c = connect_packet(V4, "reset", true);
    c.will = Some(will("lost/reset", "reset", QoS::AtLeastOnce, false));
    let (mut client, _) = RawClient::connect_with(broker.addr, c).await;
    // PUBLISH announcing 100 bytes, of which 7 are sent.
    client
        .send_raw(&[0x30, 100, 0x00, 0x03, b'a', b'/', b'b', b'x', b'y'])
        .await;
    socket2::SockRef::from(&client.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client); // RST
    let got = watcher.expect_publish().await;
    assert_eq!(
        (got.topic.as_str(), got.payload.as_ref()),
        ("lost/reset", &b"reset"[..])
    );
    // A new connection with the same id is a new session, not a takeover of a live one.
    let (_again, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V4, "reset", false)).await;
    assert!(!ack.session_present);
    assert!(hub.has_session("reset"));
    assert_eq!(watcher.sync().await, []);
    broker.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Shared Subscriptions (5.0).

#[tokio::test]
async fn mqtt_4_8_2_3_shared_delivery_respects_the_members_granted_qos() {
    // 5.0 [MQTT-4.8.2-3] "The Server MUST respect the granted QoS for the Client's subscription."
    // Two members granted QoS 0 and 1; QoS 2 messages, one to each.
    let broker = TestBroker::start().await;
    let mut low = RawClient::connect(broker.addr, V5, "low").await;
    let mut mid = RawClient::connect(broker.addr, V5, "mid").await;
    low.subscribe("$share/g/grants", QoS::AtMostOnce).await;
    mid.subscribe("$share/g/grants", QoS::AtLeastOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("grants", "a", QoS::ExactlyOnce, false).await;
    publ.publish("grants", "b", QoS::ExactlyOnce, false).await;
    assert_eq!(low.expect_publish().await.qos.qos(), QoS::AtMostOnce);
    assert_eq!(mid.expect_publish().await.qos.qos(), QoS::AtLeastOnce);
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_4_8_2_4_shared_qos_2_delivery_is_completed_on_reconnect() {
    // 5.0 [MQTT-4.8.2-4] "If the Server is in the process of sending a QoS 2 message to its
    // chosen subscribing Client and the connection to the Client breaks before delivery is
    // complete, the Server MUST complete the delivery of the message to that Client when it
    // reconnects." Broken before PUBREC: the PUBLISH is re-sent; broken after PUBREC: the
    // PUBREL is. Another member online meanwhile does not get the message.
    let broker = TestBroker::start().await;
    let mut session = connect_packet(V5, "chosen", false);
    session.properties.session_expiry_interval = Some(60);
    let (mut chosen, _) = RawClient::connect_with(broker.addr, session.clone()).await;
    chosen.subscribe("$share/g/exactly", QoS::ExactlyOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("exactly", "first", QoS::ExactlyOnce, false)
        .await;
    let first = next_publish(&mut chosen).await;
    let first_id = first.qos.packet_id().unwrap();
    let mut other = RawClient::connect(broker.addr, V5, "other").await;
    other.subscribe("$share/g/exactly", QoS::ExactlyOnce).await;
    drop(chosen);
    let (mut chosen, ack) = RawClient::connect_with(broker.addr, session.clone()).await;
    assert!(ack.session_present);
    let again = next_publish(&mut chosen).await;
    assert!(again.dup);
    assert_eq!(
        (
            again.qos.qos(),
            again.qos.packet_id(),
            again.payload.as_ref()
        ),
        (QoS::ExactlyOnce, Some(first_id), &b"first"[..])
    );
    chosen.send(Packet::PubRec(PubRec::new(first_id))).await;
    assert!(matches!(chosen.recv().await, Some(Packet::PubRel(r)) if r.packet_id == first_id));
    drop(chosen); // after PUBREL, before PUBCOMP
    let (mut chosen, ack) = RawClient::connect_with(broker.addr, session).await;
    assert!(ack.session_present);
    assert!(matches!(chosen.recv().await, Some(Packet::PubRel(r)) if r.packet_id == first_id));
    chosen.send(Packet::PubComp(PubComp::new(first_id))).await;
    assert_eq!(chosen.sync().await, []);
    assert_eq!(other.sync().await, [], "the other member got the message");
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_4_8_2_5_qos_2_message_of_an_ended_session_goes_to_no_other_member() {
    // 5.0 [MQTT-4.8.2-5] "If the Client's Session terminates before the Client reconnects, the
    // Server MUST NOT send the Application Message to any other subscribed Client." The member
    // holds a QoS 2 and a QoS 1 message when its session ends: the QoS 1 one is handed to the
    // other member (spec 4.8.2 SHOULD), which shows that the hand-over ran; the QoS 2 one is not.
    let broker = TestBroker::start().await;
    let mut first = RawClient::connect(broker.addr, V5, "first").await;
    first.subscribe("$share/g/jobs", QoS::ExactlyOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("jobs", "two", QoS::ExactlyOnce, false).await;
    publ.publish("jobs", "one", QoS::AtLeastOnce, false).await;
    assert_eq!(next_publish(&mut first).await.payload, "two");
    assert_eq!(next_publish(&mut first).await.payload, "one");
    let mut second = RawClient::connect(broker.addr, V5, "second").await;
    second.subscribe("$share/g/jobs", QoS::ExactlyOnce).await;
    second.subscribe("sentinel", QoS::AtLeastOnce).await;
    drop(first); // Session Expiry Interval 0: the session ends with the connection.
    let handed = second.expect_publish().await;
    assert_eq!(
        (handed.payload.as_ref(), handed.qos.qos()),
        (&b"one"[..], QoS::AtLeastOnce)
    );
    publ.publish("sentinel", "after", QoS::AtLeastOnce, false)
        .await;
    assert_eq!(second.expect_publish().await.topic, "sentinel");
    broker.stop().await;
}

#[tokio::test]
async fn mqtt_4_8_2_6_refused_shared_message_is_not_sent_to_another_member() {
    // 5.0 [MQTT-4.8.2-6] "If a Client responds with a PUBACK or PUBREC containing a Reason Code
    // of 0x80 or greater to a PUBLISH packet from the Server, the Server MUST discard the
    // Application Message and not attempt to send it to any other Subscriber." The member
    // refuses a QoS 1 and a QoS 2 message and leaves a third unacknowledged; when its session
    // ends, only the third is handed to the other member.
    let broker = TestBroker::start().await;
    let mut first = RawClient::connect(broker.addr, V5, "first").await;
    first.subscribe("$share/g/work", QoS::ExactlyOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("work", "refused-1", QoS::AtLeastOnce, false)
        .await;
    publ.publish("work", "refused-2", QoS::ExactlyOnce, false)
        .await;
    publ.publish("work", "pending", QoS::AtLeastOnce, false)
        .await;
    let r1 = next_publish(&mut first).await;
    let r2 = next_publish(&mut first).await;
    assert_eq!(next_publish(&mut first).await.payload, "pending");
    let mut puback = PubAck::new(r1.qos.packet_id().unwrap());
    puback.reason_code = ReasonCode::UnspecifiedError;
    let mut pubrec = PubRec::new(r2.qos.packet_id().unwrap());
    pubrec.reason_code = ReasonCode::ImplementationSpecificError;
    first
        .send_all(&[Packet::PubAck(puback), Packet::PubRec(pubrec)])
        .await;
    // Both refusals were processed (no PUBREL follows the failed PUBREC).
    assert_eq!(first.sync().await, []);
    let mut second = RawClient::connect(broker.addr, V5, "second").await;
    second.subscribe("$share/g/work", QoS::ExactlyOnce).await;
    second.subscribe("sentinel", QoS::AtLeastOnce).await;
    drop(first);
    assert_eq!(second.expect_publish().await.payload, "pending");
    publ.publish("sentinel", "after", QoS::AtLeastOnce, false)
        .await;
    let next = second.recv().await.unwrap();
    assert_eq!(payload_of(&next).as_deref(), Some("after"), "{next:?}");
    broker.stop().await;
}
