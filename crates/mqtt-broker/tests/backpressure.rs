//! Overload: publishers faster than a connected subscriber. The broker slows the publishers
//! down (it stops reading them) instead of dropping what it acknowledged, which Mosquitto does
//! at `max_queued_messages`. The limits are set small so that dropping would show at once:
//! 300 messages through a queue of 10 (hard limit 10 times that) and an in-flight window of 5.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::*;
use mqtt_codec::*;

const MESSAGES: u16 = 300;

async fn broker() -> TestBroker {
    TestBroker::with_config(|c| {
        c.max_queued_messages = 10;
        c.max_inflight_messages = 5;
    })
    .await
}

/// All of `MESSAGES` publications in one write, so that the broker reads them together.
fn burst(qos: QoS, topic: &str) -> Vec<Packet> {
    (1..=MESSAGES)
        .map(|i| {
            Packet::Publish(Publish {
                qos: PublishQos::new(qos, PacketId::new(i).unwrap()),
                topic: TopicName::new(topic).unwrap(),
                payload: i.to_string().into(),
                ..Publish::default()
            })
        })
        .collect()
}

/// Reads every message and completes its flow, pausing now and then so that the broker's
/// queue for it fills up. QoS 2 flows of the in-flight window interleave: PUBREL for one
/// message may come after the PUBLISH of the next.
async fn read_slowly(sub: &mut RawClient, n: u16) -> Vec<String> {
    let mut got = Vec::new();
    let mut pending_rel = 0;
    let mut packets = 0;
    while got.len() < usize::from(n) || pending_rel > 0 {
        packets += 1;
        if packets % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        match sub.recv().await {
            Some(Packet::Publish(p)) => {
                match (p.qos.qos(), p.qos.packet_id()) {
                    (QoS::AtLeastOnce, Some(id)) => sub.send(Packet::PubAck(PubAck::new(id))).await,
                    (QoS::ExactlyOnce, Some(id)) => {
                        sub.send(Packet::PubRec(PubRec::new(id))).await;
                        pending_rel += 1;
                    }
                    _ => {}
                }
                got.push(String::from_utf8(p.payload.to_vec()).unwrap());
            }
            Some(Packet::PubRel(r)) => {
                sub.send(Packet::PubComp(PubComp::new(r.packet_id))).await;
                pending_rel -= 1;
            }
            other => panic!("expected PUBLISH or PUBREL, got {other:?}"),
        }
    }
    got
}

fn expected() -> Vec<String> {
    (1..=MESSAGES).map(|i| i.to_string()).collect()
}

// Spec 4.3.2 / [MQTT-4.3.2-2]: a QoS 1 message the server acknowledged is its to deliver; with
// publishers paused, none is dropped, and order is kept [MQTT-4.6.0-5].
#[tokio::test]
async fn qos1_overload_slows_the_publisher_and_loses_nothing() {
    let broker = broker().await;
    let mut sub = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "slow-sub").await;
    sub.subscribe("load/q1", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "fast-pub").await;
    publisher
        .send_all(&burst(QoS::AtLeastOnce, "load/q1"))
        .await;
    let acks = tokio::spawn(async move {
        let mut acked = 0;
        while acked < MESSAGES {
            match publisher.recv_within(Duration::from_secs(30)).await {
                Some(Packet::PubAck(_)) => acked += 1,
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
        acked
    });
    assert_eq!(read_slowly(&mut sub, MESSAGES).await, expected());
    assert_eq!(acks.await.unwrap(), MESSAGES);
    assert!(sub.sync().await.is_empty(), "no duplicate after the last");
    broker.stop().await;
}

// Same for QoS 2 [MQTT-4.3.3-2] (MQTT 3.1.1: a 5.0 publisher would be held to the Receive
// Maximum of 5 the broker announces).
#[tokio::test]
async fn qos2_overload_slows_the_publisher_and_loses_nothing() {
    let broker = broker().await;
    let mut sub = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "slow-sub2").await;
    sub.subscribe("load/q2", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "fast-pub2").await;
    publisher
        .send_all(&burst(QoS::ExactlyOnce, "load/q2"))
        .await;
    let completed = tokio::spawn(async move {
        let mut done = 0;
        while done < MESSAGES {
            match publisher.recv_within(Duration::from_secs(30)).await {
                Some(Packet::PubRec(r)) => {
                    publisher
                        .send(Packet::PubRel(PubRel::new(r.packet_id)))
                        .await;
                }
                Some(Packet::PubComp(_)) => done += 1,
                other => panic!("expected PUBREC or PUBCOMP, got {other:?}"),
            }
        }
        done
    });
    assert_eq!(read_slowly(&mut sub, MESSAGES).await, expected());
    assert_eq!(completed.await.unwrap(), MESSAGES);
    broker.stop().await;
}

// QoS 0 may be dropped by the specification, but a connected subscriber that keeps reading
// gets every one: publishers wait for it as for QoS 1.
#[tokio::test]
async fn qos0_overload_of_a_reading_subscriber_loses_nothing() {
    let broker = broker().await;
    let mut sub = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "slow-sub0").await;
    sub.subscribe("load/q0", QoS::AtMostOnce).await;
    let mut publisher = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "fast-pub0").await;
    publisher.send_all(&burst(QoS::AtMostOnce, "load/q0")).await;
    assert_eq!(read_slowly(&mut sub, MESSAGES).await, expected());
    broker.stop().await;
}

// An offline subscriber cannot catch up: its queue keeps Mosquitto's limit and the publisher
// is not held back (documented overflow policy).
#[tokio::test]
async fn offline_subscriber_keeps_max_queued_messages() {
    let broker = broker().await;
    let mut sub = RawClient::connect_with(
        broker.addr,
        connect_packet(ProtocolVersion::V3_1_1, "away-sub", false),
    )
    .await
    .0;
    sub.subscribe("load/away", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publisher = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "pub-away").await;
    publisher
        .send_all(&burst(QoS::AtLeastOnce, "load/away"))
        .await;
    for _ in 0..MESSAGES {
        assert!(matches!(publisher.recv().await, Some(Packet::PubAck(_))));
    }
    let (mut sub, ack) = RawClient::connect_with(
        broker.addr,
        connect_packet(ProtocolVersion::V3_1_1, "away-sub", false),
    )
    .await;
    assert!(ack.session_present);
    let mut got = Vec::new();
    loop {
        let more = sub.sync().await;
        if more.is_empty() {
            break;
        }
        for p in more {
            if let Packet::Publish(p) = p {
                if let Some(id) = p.qos.packet_id() {
                    sub.send(Packet::PubAck(PubAck::new(id))).await;
                }
                got.push(String::from_utf8(p.payload.to_vec()).unwrap());
            }
        }
    }
    // The first 10 queued; the rest dropped as Mosquitto does.
    assert_eq!(got, expected()[..10]);
    broker.stop().await;
}
