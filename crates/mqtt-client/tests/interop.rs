//! The client against both brokers: ours (in process) and the real Mosquitto (a subprocess,
//! which must be installed: the test fails loudly otherwise).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::our_broker;
use mqtt_client::{connect, ClientError, ClientOptions, Transport};
use mqtt_codec::{
    ProtocolVersion, PublishProperties, QoS, ReasonCode, TopicFilter, TopicName, UserProperty,
};
use mqtt_session::Message;
use test_support::{free_port, Mosquitto};

/// A private `mosquitto` (test-support) with `extra` config lines after its loopback listener.
fn mosquitto(extra: &'static str) -> Mosquitto {
    Mosquitto::with_config(move |_, _| extra.to_owned())
}

fn options(addr: SocketAddr, version: ProtocolVersion) -> ClientOptions {
    ClientOptions::new(Transport::Tcp {
        host: addr.ip().to_string(),
        port: addr.port(),
    })
    .version(version)
}

fn topic(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

/// Subscribe, publish at each QoS, receive them in order, unsubscribe, disconnect.
async fn round_trip(addr: SocketAddr, version: ProtocolVersion) {
    // MQTT 3.1 has no server-assigned identifiers [MQTT-3.1.3-8 is 3.1.1 only]: name them.
    let named = |id: &str| {
        let mut o = options(addr, version);
        o.connect.client_id = id.try_into().unwrap();
        o
    };
    let (sub, mut messages, connack) = connect(named("round-trip-sub")).await.unwrap();
    assert_eq!(connack.reason_code, ReasonCode::Success);
    let suback = sub
        .subscribe_one(TopicFilter::new("client-test/#").unwrap(), QoS::ExactlyOnce)
        .await
        .unwrap();
    assert_eq!(suback.reason_codes, [ReasonCode::GrantedQoS2]);

    let (publisher, _, _) = connect(named("round-trip-pub")).await.unwrap();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let outcome = publisher
            .publish(
                topic(&format!("client-test/{i}")),
                format!("m{i}"),
                qos,
                false,
            )
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(outcome.reason_code, ReasonCode::Success);
    }
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let m = messages.recv().await.unwrap();
        assert_eq!(m.topic, format!("client-test/{i}").as_str());
        assert_eq!(&m.payload[..], format!("m{i}").as_bytes());
        assert_eq!(m.qos, qos);
    }
    let unsuback = sub
        .unsubscribe(
            vec![TopicFilter::new("client-test/#").unwrap()],
            Default::default(),
        )
        .await
        .unwrap();
    if version.is_v5() {
        assert_eq!(unsuback.reason_codes, [ReasonCode::Success]);
    }
    publisher.disconnect().await.unwrap();
    sub.disconnect().await.unwrap();
    assert!(
        sub.closed().await.is_none(),
        "a requested disconnect is not an error"
    );
    assert!(
        messages.recv().await.is_none(),
        "messages end with the connection"
    );
}

#[tokio::test]
async fn round_trip_with_mosquitto() {
    let m = mosquitto("");
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        round_trip(m.addr(), version).await;
    }
}

#[tokio::test]
async fn round_trip_with_our_broker() {
    let addr = our_broker().await;
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        round_trip(addr, version).await;
    }
}

#[tokio::test]
async fn properties_travel_with_mqtt_5() {
    let m = mosquitto("");
    let (sub, mut messages, _) = connect(options(m.addr(), ProtocolVersion::V5))
        .await
        .unwrap();
    sub.subscribe_one(TopicFilter::new("props").unwrap(), QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut message = Message::new(topic("props"), "{}", QoS::AtLeastOnce);
    let up: UserProperty = ("k".try_into().unwrap(), "v".try_into().unwrap());
    message.properties = PublishProperties {
        content_type: Some("application/json".try_into().unwrap()),
        user_properties: vec![up.clone()],
        response_topic: Some(topic("reply")),
        ..Default::default()
    }
    .into();
    sub.publish_message(message).await.unwrap().await.unwrap();
    let got = messages.recv().await.unwrap();
    assert_eq!(
        got.properties.content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(got.properties.user_properties, [up]);
    assert_eq!(got.properties.response_topic, Some(topic("reply")));
}

#[tokio::test]
async fn refused_connection_reports_the_connack() {
    // Mosquitto 2 with a password file and no anonymous access refuses unknown users.
    let m = mosquitto("allow_anonymous false");
    for (version, code) in [
        (ProtocolVersion::V3_1_1, ReasonCode::NotAuthorized),
        (ProtocolVersion::V5, ReasonCode::NotAuthorized),
    ] {
        match connect(options(m.addr(), version)).await {
            Err(ClientError::Refused(connack)) => assert_eq!(connack.reason_code, code),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn unreachable_server_is_an_io_error() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    match connect(options(addr, ProtocolVersion::V3_1_1)).await {
        Err(ClientError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected connection refused, got {other:?}"),
    }
}

#[tokio::test]
async fn keep_alive_pings_keep_an_idle_connection_open() {
    let addr = our_broker().await;
    let mut o = options(addr, ProtocolVersion::V3_1_1);
    o.connect.keep_alive = 1;
    let (client, _messages, _) = connect(o).await.unwrap();
    // Three keep-alive periods without traffic: the server (1.5x rule) would have closed a
    // silent connection; ours sends PINGREQ in time, so a publish still succeeds.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    client
        .publish(topic("still/here"), "x", QoS::AtLeastOnce, false)
        .await
        .unwrap()
        .await
        .unwrap();
}
