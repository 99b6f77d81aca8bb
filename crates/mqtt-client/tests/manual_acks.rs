//! Manual acknowledgements (`ClientOptions::manual_acks`): a received QoS 1 or 2 message is
//! acknowledged only when the application says so, and one it never acknowledged is sent
//! again by the server to the resumed session. Against our broker, in this process.
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
use mqtt_client::{connect, Client, ClientOptions, Direction, Messages, PacketObserver, Transport};
use mqtt_codec::{Packet, PacketType, QoS, TopicFilter, TopicName};
use mqtt_session::Message;
use tokio::sync::mpsc;

/// How long anything awaited here may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// Options with a persistent session named `id` (MQTT 3.1.1, Clean Session 0).
fn options(addr: SocketAddr, id: &str, manual_acks: bool) -> ClientOptions {
    let mut o = ClientOptions::new(Transport::Tcp {
        host: addr.ip().to_string(),
        port: addr.port(),
    });
    o.connect.client_id = id.try_into().unwrap();
    o.connect.clean_start = false;
    o.manual_acks = manual_acks;
    o
}

/// Reports the type and packet identifier of every packet the client writes.
fn watch_sent(options: &mut ClientOptions) -> mpsc::UnboundedReceiver<(PacketType, u16)> {
    let (tx, rx) = mpsc::unbounded_channel();
    options.observer = Some(PacketObserver::new(move |direction, packet| {
        if direction != Direction::Sent {
            return;
        }
        let id = match packet {
            Packet::PubAck(a) => a.packet_id.get(),
            Packet::PubRec(r) => r.packet_id.get(),
            Packet::PubComp(c) => c.packet_id.get(),
            _ => 0,
        };
        let _ = tx.send((packet.packet_type(), id));
    }));
    rx
}

/// The next packet written of one of `types`.
async fn next_sent(
    sent: &mut mpsc::UnboundedReceiver<(PacketType, u16)>,
    types: &[PacketType],
) -> (PacketType, u16) {
    loop {
        let p = tokio::time::timeout(WAIT, sent.recv())
            .await
            .expect("nothing sent in time")
            .expect("connection ended");
        if types.contains(&p.0) {
            return p;
        }
    }
}

/// Whether a packet of one of `types` was written so far.
fn was_sent(sent: &mut mpsc::UnboundedReceiver<(PacketType, u16)>, types: &[PacketType]) -> bool {
    let mut seen = false;
    while let Ok((t, _)) = sent.try_recv() {
        seen |= types.contains(&t);
    }
    seen
}

async fn subscribe(client: &Client, filter: &str, qos: QoS) {
    client
        .subscribe_one(TopicFilter::new(filter).unwrap(), qos)
        .await
        .unwrap();
}

async fn publish(client: &Client, topic: &str, payload: &str, qos: QoS) {
    client
        .publish(
            TopicName::new(topic).unwrap(),
            payload.to_owned(),
            qos,
            false,
        )
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn next(messages: &mut Messages) -> (Message, Option<mqtt_client::AckToken>) {
    tokio::time::timeout(WAIT, messages.recv_with_ack())
        .await
        .expect("no message in time")
        .expect("connection closed")
}

fn text(m: &Message) -> &str {
    std::str::from_utf8(&m.payload).unwrap()
}

#[tokio::test]
async fn a_qos_1_message_is_acknowledged_only_when_the_application_acks_it() {
    let addr = our_broker().await;
    let mut o = options(addr, "ma-puback", true);
    let mut sent = watch_sent(&mut o);
    let (sub, mut messages, _) = connect(o).await.unwrap();
    subscribe(&sub, "ma1/#", QoS::AtLeastOnce).await;
    let (publisher, _, _) = connect(options(addr, "ma-puback-pub", false))
        .await
        .unwrap();
    publish(&publisher, "ma1/x", "one", QoS::AtLeastOnce).await;
    let (m, token) = next(&mut messages).await;
    assert_eq!(text(&m), "one");
    let token = token.expect("a QoS 1 message comes with its acknowledgement");
    // A round trip: anything the client had to send before its SUBSCRIBE went before it.
    subscribe(&sub, "ma1-other", QoS::AtMostOnce).await;
    assert!(
        !was_sent(&mut sent, &[PacketType::PubAck]),
        "PUBACK sent before the application acknowledged"
    );
    sub.ack(token).unwrap();
    assert_eq!(
        next_sent(&mut sent, &[PacketType::PubAck]).await,
        (PacketType::PubAck, token.packet_id().get())
    );
}

#[tokio::test]
async fn a_qos_2_message_gets_its_pubrec_when_acked_and_its_flow_completes() {
    let addr = our_broker().await;
    let mut o = options(addr, "ma-pubrec", true);
    let mut sent = watch_sent(&mut o);
    let (sub, mut messages, _) = connect(o).await.unwrap();
    subscribe(&sub, "ma2/#", QoS::ExactlyOnce).await;
    let (publisher, _, _) = connect(options(addr, "ma-pubrec-pub", false))
        .await
        .unwrap();
    publish(&publisher, "ma2/x", "two", QoS::ExactlyOnce).await;
    let (_, token) = next(&mut messages).await;
    let token = token.expect("a QoS 2 message comes with its acknowledgement");
    subscribe(&sub, "ma2-other", QoS::AtMostOnce).await;
    assert!(
        !was_sent(&mut sent, &[PacketType::PubRec, PacketType::PubComp]),
        "PUBREC sent before the application acknowledged"
    );
    sub.ack(token).unwrap();
    let id = token.packet_id().get();
    let types = [PacketType::PubRec, PacketType::PubComp];
    assert_eq!(next_sent(&mut sent, &types).await, (PacketType::PubRec, id));
    // The server's PUBREL is answered by the client itself.
    assert_eq!(
        next_sent(&mut sent, &types).await,
        (PacketType::PubComp, id)
    );
}

#[tokio::test]
async fn a_message_not_acknowledged_is_sent_again_to_the_resumed_session_an_acknowledged_one_is_not(
) {
    let addr = our_broker().await;
    let (sub, mut messages, _) = connect(options(addr, "ma-resume", true)).await.unwrap();
    subscribe(&sub, "ma3/#", QoS::AtLeastOnce).await;
    let (publisher, _, _) = connect(options(addr, "ma-resume-pub", false))
        .await
        .unwrap();
    publish(&publisher, "ma3/acked", "a", QoS::AtLeastOnce).await;
    publish(&publisher, "ma3/not-acked", "b", QoS::AtLeastOnce).await;
    let (a, a_token) = next(&mut messages).await;
    let (b, _b_token) = next(&mut messages).await;
    assert_eq!((text(&a), text(&b)), ("a", "b"));
    sub.ack(a_token.unwrap()).unwrap();
    // The acknowledgement made before `disconnect` leaves before the DISCONNECT.
    sub.disconnect().await.unwrap();
    drop(messages);

    let (again, mut messages, connack) = connect(options(addr, "ma-resume", true)).await.unwrap();
    assert!(connack.session_present);
    let (m, token) = next(&mut messages).await;
    assert_eq!((m.topic.as_str(), text(&m)), ("ma3/not-acked", "b"));
    again.ack(token.unwrap()).unwrap();
    publish(&publisher, "ma3/marker", "m", QoS::AtLeastOnce).await;
    let (m, _) = next(&mut messages).await;
    assert_eq!(
        m.topic.as_str(),
        "ma3/marker",
        "an acknowledged message came again"
    );
}

#[tokio::test]
async fn recv_acknowledges_at_once_with_manual_acks() {
    let addr = our_broker().await;
    let mut o = options(addr, "ma-recv", true);
    let mut sent = watch_sent(&mut o);
    let (sub, mut messages, _) = connect(o).await.unwrap();
    subscribe(&sub, "ma4/#", QoS::AtLeastOnce).await;
    let (publisher, _, _) = connect(options(addr, "ma-recv-pub", false)).await.unwrap();
    publish(&publisher, "ma4/x", "four", QoS::AtLeastOnce).await;
    let m = tokio::time::timeout(WAIT, messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text(&m), "four");
    let (t, _) = next_sent(&mut sent, &[PacketType::PubAck]).await;
    assert_eq!(t, PacketType::PubAck);
}

#[tokio::test]
async fn without_manual_acks_no_token_is_given() {
    let addr = our_broker().await;
    let (sub, mut messages, _) = connect(options(addr, "ma-auto", false)).await.unwrap();
    subscribe(&sub, "ma5/#", QoS::AtLeastOnce).await;
    let (publisher, _, _) = connect(options(addr, "ma-auto-pub", false)).await.unwrap();
    publish(&publisher, "ma5/x", "five", QoS::AtLeastOnce).await;
    let (_, token) = next(&mut messages).await;
    assert!(token.is_none());
}
