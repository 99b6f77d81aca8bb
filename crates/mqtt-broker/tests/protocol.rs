//! The broker's protocol behaviour, checked with raw packets over real sockets. Each test names
//! the normative statement it checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;
use mqtt_codec::*;

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

#[tokio::test]
async fn connack_announces_mosquitto_limits() {
    let broker = TestBroker::start().await;
    let (_c, ack) = RawClient::connect_with(broker.addr, connect_packet(V5, "a", true)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert!(!ack.session_present);
    assert_eq!(ack.properties.receive_maximum.map(|v| v.get()), Some(20));
    assert_eq!(ack.properties.topic_alias_maximum, Some(10));
    broker.stop().await;
}

#[tokio::test]
async fn publish_subscribe_at_every_qos_with_downgrade() {
    // Spec 3.8.4: delivered at the minimum of the published and the granted QoS.
    let broker = TestBroker::start().await;
    for version in [ProtocolVersion::V3_1, V4, V5] {
        let mut sub = RawClient::connect(broker.addr, version, "sub").await;
        let ack = sub.subscribe("t/+", QoS::AtLeastOnce).await;
        assert_eq!(ack.reason_codes, [ReasonCode::GrantedQoS1]);
        let mut publ = RawClient::connect(broker.addr, version, "pub").await;
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            publ.publish("t/x", &format!("{qos}"), qos, false).await;
            let p = sub.expect_publish().await;
            assert_eq!(p.topic, "t/x");
            assert_eq!(p.payload, format!("{qos}"));
            assert_eq!(p.qos.qos(), qos.min(QoS::AtLeastOnce), "{version}");
            assert!(!p.retain);
        }
        sub.disconnect().await;
        publ.disconnect().await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn every_retained_qos_0_message_is_sent_on_subscribe_whatever_max_queued_messages() {
    // As Mosquitto 2.0 (which sends all 2,000 of 2,000 with max_queued_messages 1000): the limit
    // is for live QoS 0 traffic a subscriber does not keep up with, not for retained messages.
    let broker = TestBroker::with_config(|c| c.max_queued_messages = 10).await;
    let mut publ = RawClient::connect(broker.addr, V4, "pub").await;
    for i in 0..50 {
        publ.publish(&format!("many/{i}"), "r", QoS::AtMostOnce, true)
            .await;
    }
    publ.sync().await;
    let mut sub = RawClient::connect(broker.addr, V4, "sub").await;
    sub.subscribe("many/#", QoS::AtMostOnce).await;
    let got = sub.sync().await;
    let retained = got
        .iter()
        .filter(|p| matches!(p, Packet::Publish(p) if p.retain))
        .count();
    assert_eq!(retained, 50);
    broker.stop().await;
}

#[tokio::test]
async fn retained_messages_are_set_replaced_and_cleared() {
    // [MQTT-3.3.1-5] store; [MQTT-3.3.1-6]/[MQTT-3.3.1-10] empty payload removes;
    // 3.1.1 [MQTT-3.3.1-8] retained messages are sent with RETAIN 1 on subscription.
    let broker = TestBroker::start().await;
    let mut publ = RawClient::connect(broker.addr, V4, "pub").await;
    publ.publish("r/a", "one", QoS::AtLeastOnce, true).await;
    publ.publish("r/a", "two", QoS::AtLeastOnce, true).await;
    publ.publish("r/b", "b", QoS::AtMostOnce, true).await;
    let mut sub = RawClient::connect(broker.addr, V4, "sub").await;
    sub.subscribe("r/#", QoS::AtLeastOnce).await;
    let mut got = [sub.expect_publish().await, sub.expect_publish().await];
    got.sort_by(|a, b| a.topic.as_str().cmp(b.topic.as_str()));
    assert_eq!(got[0].payload, "two");
    assert!(got[0].retain && got[1].retain);
    // Live messages to an existing subscription have RETAIN 0 [MQTT-3.3.1-9].
    publ.publish("r/a", "three", QoS::AtLeastOnce, true).await;
    let live = sub.expect_publish().await;
    assert!(!live.retain);
    // Clear r/a with an empty retained message.
    publ.publish("r/a", "", QoS::AtLeastOnce, true).await;
    let _ = sub.expect_publish().await;
    let mut late = RawClient::connect(broker.addr, V4, "late").await;
    late.subscribe("r/#", QoS::AtLeastOnce).await;
    let only = late.expect_publish().await;
    assert_eq!(only.topic, "r/b");
    assert!(late.try_recv().await.is_none());
    broker.stop().await;
}

#[tokio::test]
async fn will_is_sent_on_abrupt_loss_not_after_disconnect() {
    // [MQTT-3.1.2-8] the will is published when the connection closes without DISCONNECT;
    // [MQTT-3.1.2-10] it is removed on a normal DISCONNECT.
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V4, "watcher").await;
    watcher.subscribe("will/#", QoS::AtLeastOnce).await;
    let with_will = |id: &str| {
        let mut c = connect_packet(V4, id, true);
        c.will = Some(LastWill {
            topic: TopicName::new(format!("will/{id}")).unwrap(),
            payload: "gone".into(),
            qos: QoS::AtLeastOnce,
            ..LastWill::default()
        });
        c
    };
    let (polite, _) = RawClient::connect_with(broker.addr, with_will("polite")).await;
    polite.disconnect().await;
    assert!(
        watcher.try_recv().await.is_none(),
        "no will after DISCONNECT"
    );
    let (rude, _) = RawClient::connect_with(broker.addr, with_will("rude")).await;
    drop(rude);
    let will = watcher.expect_publish().await;
    assert_eq!(will.topic, "will/rude");
    assert_eq!(will.payload, "gone");
    broker.stop().await;
}

#[tokio::test]
async fn client_id_takeover_closes_the_old_connection() {
    // [MQTT-3.1.4-2] / [MQTT-3.1.4-3]: the existing connection is closed, in 5.0 with
    // DISCONNECT 0x8E Session taken over.
    let broker = TestBroker::start().await;
    let mut first = RawClient::connect(broker.addr, V5, "same").await;
    let _second = RawClient::connect(broker.addr, V5, "same").await;
    let got = first.until_closed().await;
    assert_eq!(
        got,
        [Packet::from(Disconnect::new(ReasonCode::SessionTakenOver))]
    );
    broker.stop().await;
}

#[tokio::test]
async fn persistent_session_queues_messages_while_offline() {
    // [MQTT-3.1.2-4]/[MQTT-3.1.2-5] a session resumed with Clean Session 0; [MQTT-3.2.2-2]
    // Session Present 1; queued QoS 1 messages are delivered on reconnect.
    let broker = TestBroker::start().await;
    let (mut sub, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V4, "keep", false)).await;
    assert!(!ack.session_present);
    sub.subscribe("q", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let mut publ = RawClient::connect(broker.addr, V4, "pub").await;
    publ.publish("q", "while-away", QoS::AtLeastOnce, false)
        .await;
    publ.publish("q", "qos0-dropped", QoS::AtMostOnce, false)
        .await;
    let (mut sub, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V4, "keep", false)).await;
    assert!(ack.session_present);
    let p = sub.expect_publish().await;
    assert_eq!(p.payload, "while-away");
    assert!(
        sub.try_recv().await.is_none(),
        "QoS 0 is not queued by default"
    );
    // Clean Session 1 discards it [MQTT-3.1.2-6].
    sub.disconnect().await;
    let (_sub, ack) = RawClient::connect_with(broker.addr, connect_packet(V4, "keep", true)).await;
    assert!(!ack.session_present);
    broker.stop().await;
}

#[tokio::test]
async fn malformed_packet_disconnects_only_that_client() {
    // Spec 4.13: a Malformed Packet closes the connection, in 5.0 after DISCONNECT 0x81.
    let broker = TestBroker::start().await;
    let mut bystander = RawClient::connect(broker.addr, V5, "ok").await;
    bystander.subscribe("t", QoS::AtMostOnce).await;
    let mut bad = RawClient::connect(broker.addr, V5, "bad").await;
    // PUBLISH with QoS 3 [MQTT-3.3.1-4].
    bad.send_raw(&[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01])
        .await;
    assert_eq!(
        bad.until_closed().await,
        [Packet::from(Disconnect::new(ReasonCode::MalformedPacket))]
    );
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("t", "still here", QoS::AtMostOnce, false)
        .await;
    assert_eq!(bystander.expect_publish().await.payload, "still here");
    broker.stop().await;
}

#[tokio::test]
async fn second_connect_is_a_protocol_error() {
    // [MQTT-3.1.0-2] a second CONNECT is a Protocol Error: DISCONNECT 0x82 in 5.0.
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr, V5, "twice").await;
    c.send(Packet::Connect(Box::new(connect_packet(V5, "twice", true))))
        .await;
    assert_eq!(
        c.until_closed().await,
        [Packet::from(Disconnect::new(ReasonCode::ProtocolError))]
    );
    broker.stop().await;
}

#[tokio::test]
async fn unsupported_protocol_level_gets_connack_0x01() {
    // [MQTT-3.1.2-2] (3.1.1): CONNACK 0x01 then close.
    let broker = TestBroker::start().await;
    let mut c = RawClient::open(broker.addr, V4).await;
    c.send_raw(b"\x10\x0c\x00\x04MQTT\x06\x02\x00\x3c\x00\x00")
        .await;
    let got = c.until_closed().await;
    assert_eq!(got.len(), 1);
    assert!(
        matches!(&got[0], Packet::ConnAck(a) if a.reason_code == ReasonCode::UnsupportedProtocolVersion)
    );
    broker.stop().await;
}

#[tokio::test]
async fn zero_length_client_ids() {
    // 5.0 spec 3.2.2.3.7: an empty id gets an Assigned Client Identifier.
    let broker = TestBroker::start().await;
    let (_c, ack) = RawClient::connect_with(broker.addr, connect_packet(V5, "", true)).await;
    let assigned = ack.properties.assigned_client_identifier.unwrap();
    // As Mosquitto: auto- and an upper-case UUID, e.g. auto-B213DF67-C224-6E45-EEF9-3D0C3D1CE7D4.
    assert!(is_generated_client_id(&assigned, "auto-"), "{assigned}");
    let (_c, again) = RawClient::connect_with(broker.addr, connect_packet(V5, "", true)).await;
    assert_ne!(again.properties.assigned_client_identifier, Some(assigned));
    // 3.1.1 [MQTT-3.1.3-8]: empty id with Clean Session 0 is refused with 0x02.
    let mut c = RawClient::open(broker.addr, V4).await;
    c.send_raw(b"\x10\x0c\x00\x04MQTT\x04\x00\x00\x3c\x00\x00")
        .await;
    assert!(
        matches!(c.recv().await, Some(Packet::ConnAck(a)) if a.reason_code == ReasonCode::ClientIdentifierNotValid)
    );
    broker.stop().await;
}

#[tokio::test]
async fn auto_id_prefix_is_respected() {
    // Mosquitto's auto_id_prefix: generated client identifiers start with it.
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.auto_id_prefix = "plant7-".to_owned();
        }
    })
    .await;
    let (_c, ack) = RawClient::connect_with(broker.addr, connect_packet(V5, "", true)).await;
    let assigned = ack.properties.assigned_client_identifier.unwrap();
    assert!(is_generated_client_id(&assigned, "plant7-"), "{assigned}");
    broker.stop().await;
}

#[tokio::test]
async fn wildcards_do_not_match_dollar_topics() {
    // [MQTT-4.7.2-1] '#' and '+' at the first level do not match topics starting with '$'.
    let broker = TestBroker::start().await;
    let mut all = RawClient::connect(broker.addr, V4, "all").await;
    all.subscribe("#", QoS::AtMostOnce).await;
    let mut publ = RawClient::connect(broker.addr, V4, "pub").await;
    publ.publish("$private/x", "no", QoS::AtMostOnce, false)
        .await;
    publ.publish("public", "yes", QoS::AtMostOnce, false).await;
    assert_eq!(all.expect_publish().await.payload, "yes");
    broker.stop().await;
}

#[tokio::test]
async fn overlapping_subscriptions_deliver_one_copy_at_the_highest_qos() {
    // [MQTT-3.3.4-2] one copy at the maximum QoS of the matching subscriptions;
    // [MQTT-3.3.4-3] with every Subscription Identifier.
    let broker = TestBroker::start().await;
    let mut sub = RawClient::connect(broker.addr, V5, "sub").await;
    sub.subscribe_with(
        "a/+",
        SubscriptionOptions::with_qos(QoS::AtMostOnce),
        Some(1),
    )
    .await;
    sub.subscribe_with(
        "a/#",
        SubscriptionOptions::with_qos(QoS::AtLeastOnce),
        Some(2),
    )
    .await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("a/b", "x", QoS::ExactlyOnce, false).await;
    let p = sub.expect_publish().await;
    assert_eq!(p.qos.qos(), QoS::AtLeastOnce);
    let mut ids: Vec<u32> = p
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 2]);
    assert!(sub.try_recv().await.is_none());
    broker.stop().await;
}

#[tokio::test]
async fn no_local_and_retain_as_published() {
    // [MQTT-3.8.3-3] No Local: not sent back to the publisher's connection.
    // [MQTT-3.3.1-13] Retain As Published keeps the RETAIN flag.
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr, V5, "self").await;
    let opts = SubscriptionOptions {
        qos: QoS::AtMostOnce,
        no_local: true,
        retain_as_published: true,
        ..SubscriptionOptions::default()
    };
    c.subscribe_with("nl", opts, None).await;
    c.publish("nl", "mine", QoS::AtMostOnce, false).await;
    assert!(c.try_recv().await.is_none());
    let mut other = RawClient::connect(broker.addr, V5, "other").await;
    other.publish("nl", "theirs", QoS::AtMostOnce, true).await;
    let p = c.expect_publish().await;
    assert_eq!(p.payload, "theirs");
    assert!(p.retain);
    broker.stop().await;
}

#[tokio::test]
async fn retain_handling_options() {
    // Spec 3.8.3.1: 0 send on subscribe, 1 only if new, 2 never.
    let broker = TestBroker::start().await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("rh", "kept", QoS::AtMostOnce, true).await;
    let mut c = RawClient::connect(broker.addr, V5, "c").await;
    let with = |rh| SubscriptionOptions {
        retain_handling: rh,
        ..SubscriptionOptions::default()
    };
    c.subscribe_with("rh", with(RetainHandling::DoNotSend), None)
        .await;
    assert!(c.try_recv().await.is_none());
    c.subscribe_with("rh", with(RetainHandling::SendAtNewSubscribe), None)
        .await;
    assert!(
        c.try_recv().await.is_none(),
        "the subscription already existed"
    );
    c.subscribe_with("rh", with(RetainHandling::SendAtSubscribe), None)
        .await;
    assert_eq!(c.expect_publish().await.payload, "kept");
    broker.stop().await;
}

#[tokio::test]
async fn shared_subscriptions_round_robin() {
    // Spec 4.8.2: each message goes to one member of the group.
    let broker = TestBroker::start().await;
    let mut a = RawClient::connect(broker.addr, V5, "a").await;
    let mut b = RawClient::connect(broker.addr, V5, "b").await;
    a.subscribe("$share/g/jobs", QoS::AtMostOnce).await;
    b.subscribe("$share/g/jobs", QoS::AtMostOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    for i in 0..4 {
        publ.publish("jobs", &i.to_string(), QoS::AtMostOnce, false)
            .await;
    }
    let mut got_a = 0;
    while a.try_recv().await.is_some() {
        got_a += 1;
    }
    let mut got_b = 0;
    while b.try_recv().await.is_some() {
        got_b += 1;
    }
    assert_eq!((got_a, got_b), (2, 2));
    broker.stop().await;
}

#[tokio::test]
async fn v5_publish_to_nobody_gets_0x10() {
    // PUBACK 0x10 No matching subscribers, as Mosquitto sends it.
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr, V5, "c").await;
    let p = Publish {
        qos: PublishQos::AtLeastOnce(PacketId::new(5).unwrap()),
        topic: TopicName::new("nobody").unwrap(),
        ..Publish::default()
    };
    c.send(Packet::Publish(p)).await;
    assert!(
        matches!(c.recv().await, Some(Packet::PubAck(a)) if a.reason_code == ReasonCode::NoMatchingSubscribers)
    );
    broker.stop().await;
}

#[tokio::test]
async fn sys_topics_with_mosquitto_names() {
    let broker = TestBroker::with_config(|c| c.sys_interval = 1).await;
    let mut c = RawClient::connect(broker.addr, V4, "sys").await;
    let mut publ = RawClient::connect(broker.addr, V4, "pub").await;
    publ.publish("some/topic", "x", QoS::AtMostOnce, true).await;
    c.subscribe("$SYS/broker/#", QoS::AtMostOnce).await;
    let mut seen = std::collections::HashMap::new();
    // Values are published every sys_interval and retained: an early one may predate the
    // second client, so wait for the current value.
    while !(seen.contains_key("$SYS/broker/version")
        && seen
            .get("$SYS/broker/clients/connected")
            .map(String::as_str)
            == Some("2")
        && seen
            .get("$SYS/broker/retained messages/count")
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|n| n >= 2)
        && seen.contains_key("$SYS/broker/uptime"))
    {
        let p = c.expect_publish().await;
        seen.insert(
            p.topic.to_string(),
            String::from_utf8(p.payload.to_vec()).unwrap(),
        );
    }
    assert!(seen["$SYS/broker/version"].starts_with("mqtt-broker version "));
    assert_eq!(seen["$SYS/broker/clients/connected"], "2");
    assert!(seen["$SYS/broker/uptime"].ends_with(" seconds"));
    // As in Mosquitto, the count includes the retained $SYS messages themselves (at least the
    // version, published first) besides the one retained by the client.
    let retained: usize = seen["$SYS/broker/retained messages/count"].parse().unwrap();
    assert!(retained >= 2, "{retained}");
    broker.stop().await;
}

#[tokio::test]
async fn a_connection_without_connect_is_closed() {
    // A socket that never sends CONNECT is closed after the connect timeout (500 ms in tests).
    let broker = TestBroker::start().await;
    let mut silent = RawClient::open(broker.addr, V4).await;
    assert_eq!(silent.until_closed().await, []);
    // And one that sends half a CONNECT too.
    let mut slow = RawClient::open(broker.addr, V4).await;
    slow.send_raw(b"\x10\x0c\x00\x04MQ").await;
    assert_eq!(slow.until_closed().await, []);
    broker.stop().await;
}

#[tokio::test]
async fn hostile_inputs_are_refused_and_the_broker_stays_up() {
    let broker = TestBroker::with_config(|c| c.max_packet_size = Some(64 * 1024)).await;
    // A packet announcing 256 MB: DISCONNECT 0x95 before the body is read.
    let mut big = RawClient::connect(broker.addr, V5, "big").await;
    big.send_raw(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]).await;
    assert_eq!(
        big.until_closed().await,
        [Packet::from(Disconnect::new(ReasonCode::PacketTooLarge))]
    );
    // A huge client id and a topic of 65,535 bytes with 30,000 levels.
    let long_id = "i".repeat(60_000);
    let (_c, ack) = RawClient::connect_with(broker.addr, connect_packet(V4, &long_id, true)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let deep = "a/".repeat(30_000) + "b";
    let mut sub = RawClient::connect(broker.addr, V4, "deep").await;
    sub.subscribe(&format!("{}#", "a/".repeat(30_000)), QoS::AtMostOnce)
        .await;
    let mut publ = RawClient::connect(broker.addr, V4, "deep-pub").await;
    publ.publish(&deep, "deep", QoS::AtMostOnce, false).await;
    assert_eq!(sub.expect_publish().await.payload, "deep");
    // A flood of 2,000 subscriptions and 5,000 QoS 1 publishes from one client.
    let mut flood = RawClient::connect(broker.addr, V4, "flood").await;
    for i in 0..2_000u16 {
        let s = Subscribe::new(
            PacketId::new(i + 1).unwrap(),
            vec![(
                TopicFilter::new(format!("flood/{i}/+")).unwrap(),
                SubscriptionOptions::default(),
            )],
        );
        flood.send(Packet::Subscribe(s)).await;
    }
    for _ in 0..2_000 {
        assert!(matches!(flood.recv().await, Some(Packet::SubAck(_))));
    }
    for i in 0..5_000u16 {
        flood
            .send(Packet::Publish(Publish {
                qos: PublishQos::AtLeastOnce(PacketId::new(i % 20 + 1).unwrap()),
                topic: TopicName::new("flood/x").unwrap(),
                payload: "f".into(),
                ..Publish::default()
            }))
            .await;
        assert!(matches!(flood.recv().await, Some(Packet::PubAck(_))));
    }
    // Everyone else is still served.
    let mut probe = RawClient::connect(broker.addr, V5, "probe").await;
    probe.subscribe("probe", QoS::AtMostOnce).await;
    publ.publish("probe", "alive", QoS::AtMostOnce, false).await;
    assert_eq!(probe.expect_publish().await.payload, "alive");
    broker.stop().await;
}

#[tokio::test]
async fn shared_messages_of_a_departed_member_go_to_another() {
    // Spec 4.8.2: if the session of the chosen member ends before it acknowledged a QoS 1
    // message, the Server SHOULD send it to another subscriber of the shared subscription.
    let broker = TestBroker::start().await;
    let mut a = RawClient::connect(broker.addr, V5, "member-a").await;
    let mut b = RawClient::connect(broker.addr, V5, "member-b").await;
    a.subscribe("$share/g/work", QoS::AtLeastOnce).await;
    b.subscribe("$share/g/work", QoS::AtLeastOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("work", "one", QoS::AtLeastOnce, false).await;
    publ.publish("work", "two", QoS::AtLeastOnce, false).await;
    // Whichever member got a message first, a holds one without acknowledging it.
    let held = match a.recv().await {
        Some(Packet::Publish(p)) => p.payload,
        other => panic!("{other:?}"),
    };
    let first = b.expect_publish().await.payload;
    assert_ne!(held, first);
    drop(a); // Session Expiry 0: the session ends with the connection.
    let handed = b.expect_publish().await;
    assert_eq!(handed.payload, held);
    broker.stop().await;
}

#[tokio::test]
async fn will_delay_and_session_expiry() {
    // Spec 3.1.3.2.2: the will is published after the Will Delay Interval, unless the client
    // reconnects first; spec 3.1.2.11.2: the session ends after its expiry interval.
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V5, "watcher").await;
    watcher.subscribe("delayed/#", QoS::AtMostOnce).await;
    let with_will = |id: &str, delay: u32| {
        let mut c = connect_packet(V5, id, false);
        c.properties.session_expiry_interval = Some(60);
        c.will = Some(LastWill {
            topic: TopicName::new(format!("delayed/{id}")).unwrap(),
            payload: "late".into(),
            properties: WillProperties {
                will_delay_interval: Some(delay),
                ..Default::default()
            },
            ..LastWill::default()
        });
        c
    };
    let (gone, _) = RawClient::connect_with(broker.addr, with_will("gone", 1)).await;
    let started = std::time::Instant::now();
    drop(gone);
    let will = watcher.expect_publish().await;
    assert_eq!(will.topic, "delayed/gone");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    // A client that comes back within the delay: no will.
    let (back, _) = RawClient::connect_with(broker.addr, with_will("back", 2)).await;
    drop(back);
    let (again, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V5, "back", false)).await;
    assert!(ack.session_present);
    assert!(watcher.try_recv().await.is_none());
    drop(again);
    broker.stop().await;
}

#[tokio::test]
async fn session_expiry_removes_the_session() {
    // Spec 3.1.2.11.2: the session ends Session Expiry Interval seconds after the connection.
    let (broker, hub) = TestBroker::start_with_hub().await;
    let mut short = connect_packet(V5, "short", false);
    short.properties.session_expiry_interval = Some(1);
    let (c, _) = RawClient::connect_with(broker.addr, short.clone()).await;
    c.disconnect().await;
    let disconnected = std::time::Instant::now();
    // The expiry is a timer in the broker; poll its state (bounded) instead of guessing a delay.
    while hub.has_session("short") {
        assert!(disconnected.elapsed() < WAIT, "session did not expire");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(disconnected.elapsed() >= std::time::Duration::from_millis(900));
    let (_c, ack) = RawClient::connect_with(broker.addr, short).await;
    assert!(!ack.session_present);
    broker.stop().await;
}

#[tokio::test]
async fn inbound_topic_aliases_and_extended_auth() {
    // Topic aliases from a client are resolved before routing (spec 3.3.2.3.4).
    let broker = TestBroker::start().await;
    let mut sub = RawClient::connect(broker.addr, V4, "alias-sub").await;
    sub.subscribe("long/topic/name", QoS::AtMostOnce).await;
    let mut c = RawClient::connect(broker.addr, V5, "aliaser").await;
    let with_alias = |topic: &str, payload: &str| {
        Packet::Publish(Publish {
            topic: if topic.is_empty() {
                TopicName::alias_only()
            } else {
                TopicName::new(topic).unwrap()
            },
            payload: payload.to_string().into(),
            topic_alias: std::num::NonZeroU16::new(1),
            ..Publish::default()
        })
    };
    c.send(with_alias("long/topic/name", "first")).await;
    c.send(with_alias("", "second")).await;
    assert_eq!(sub.expect_publish().await.payload, "first");
    let second = sub.expect_publish().await;
    assert_eq!(
        (second.topic.as_str(), &second.payload[..]),
        ("long/topic/name", &b"second"[..])
    );
    // No extended authentication method is configured: CONNACK 0x8C (spec 4.12).
    let mut auth = connect_packet(V5, "auth", true);
    auth.properties.authentication_method = Some(MqttString::new("SCRAM-SHA-1").unwrap());
    let (_c, ack) = RawClient::connect_with(broker.addr, auth).await;
    assert_eq!(ack.reason_code, ReasonCode::BadAuthenticationMethod);
    broker.stop().await;
}

#[tokio::test]
async fn without_anonymous_access_nobody_gets_in_until_passwords_can_be_checked() {
    // allow_anonymous false: anonymous clients get 0x05 (3.1.1) / 0x87 (5.0); clients with a
    // user name too, since no password file can vouch for them.
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.allow_anonymous = Some(false);
        }
    })
    .await;
    for version in [V4, V5] {
        let (_c, ack) =
            RawClient::connect_with(broker.addr, connect_packet(version, "anon", true)).await;
        assert_eq!(ack.reason_code, ReasonCode::NotAuthorized, "{version}");
        let mut named = connect_packet(version, "named", true);
        named.username = Some(MqttString::new("test").unwrap());
        named.password = Some("123123".into());
        let (_c, ack) = RawClient::connect_with(broker.addr, named).await;
        assert_eq!(ack.reason_code, ReasonCode::NotAuthorized, "{version}");
    }
    broker.stop().await;
}

#[tokio::test]
async fn persistent_client_expiration_ends_3_1_1_sessions() {
    // Mosquitto's persistent_client_expiration: persistent (Clean Session 0) sessions end after
    // this long without their client.
    let (broker, hub) = TestBroker::start_with_hub_config(|c| {
        c.persistent_client_expiration = Some(std::time::Duration::from_millis(300));
    })
    .await;
    let (c, _) = RawClient::connect_with(broker.addr, connect_packet(V4, "old", false)).await;
    c.disconnect().await;
    let gone = std::time::Instant::now();
    while hub.has_session("old") {
        assert!(gone.elapsed() < WAIT, "session did not expire");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    broker.stop().await;
}

#[tokio::test]
async fn clean_start_reconnect_stops_the_old_sessions_timers() {
    // [MQTT-3.1.2-4] Clean Start 1 discards the existing session: its expiry must not later
    // remove the new session's subscriptions, and its delayed will must not fire.
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V5, "watcher").await;
    watcher.subscribe("w/#", QoS::AtMostOnce).await;
    let mut first = connect_packet(V5, "phoenix", false);
    first.properties.session_expiry_interval = Some(1);
    first.will = Some(LastWill {
        topic: TopicName::new("w/phoenix").unwrap(),
        payload: "old will".into(),
        properties: WillProperties {
            will_delay_interval: Some(1),
            ..Default::default()
        },
        ..LastWill::default()
    });
    let (c, _) = RawClient::connect_with(broker.addr, first).await;
    drop(c); // abrupt: will delayed by 1 s, session expires in 1 s
    let (mut again, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V5, "phoenix", true)).await;
    assert!(!ack.session_present);
    again.subscribe("news", QoS::AtMostOnce).await;
    // Past both the old will delay and the old expiry:
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        watcher.try_recv().await.is_none(),
        "the old will was published"
    );
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    publ.publish("news", "still subscribed", QoS::AtMostOnce, false)
        .await;
    assert_eq!(again.expect_publish().await.payload, "still subscribed");
    broker.stop().await;
}

#[tokio::test]
async fn will_is_published_after_disconnect_with_an_error_reason() {
    // [MQTT-3.1.2-8] (5.0): the will is removed only by a Normal disconnection (0x00).
    let broker = TestBroker::start().await;
    let mut watcher = RawClient::connect(broker.addr, V5, "watcher").await;
    watcher.subscribe("w/#", QoS::AtMostOnce).await;
    let mut c = connect_packet(V5, "erring", true);
    c.will = Some(LastWill {
        topic: TopicName::new("w/erring").unwrap(),
        payload: "error exit".into(),
        ..LastWill::default()
    });
    let (mut client, _) = RawClient::connect_with(broker.addr, c).await;
    client
        .send(Packet::from(Disconnect::new(ReasonCode::UnspecifiedError)))
        .await;
    assert_eq!(watcher.expect_publish().await.payload, "error exit");
    broker.stop().await;
}

#[tokio::test]
async fn retained_messages_expire() {
    // [MQTT-3.3.2-5] an expired retained message is not sent; [MQTT-3.3.2-6] a live one carries
    // the time it has left.
    let broker = TestBroker::start().await;
    let mut publ = RawClient::connect(broker.addr, V5, "pub").await;
    let p = Publish {
        qos: PublishQos::AtLeastOnce(PacketId::new(1).unwrap()),
        retain: true,
        topic: TopicName::new("expiring").unwrap(),
        payload: "soon gone".into(),
        properties: PublishProperties {
            message_expiry_interval: Some(1),
            ..Default::default()
        }
        .into(),
        ..Publish::default()
    };
    publ.send(Packet::Publish(p)).await;
    assert!(matches!(publ.recv().await, Some(Packet::PubAck(_))));
    let mut early = RawClient::connect(broker.addr, V5, "early").await;
    early.subscribe("expiring", QoS::AtMostOnce).await;
    let got = early.expect_publish().await;
    assert!(got.retain);
    assert_eq!(got.properties.message_expiry_interval, Some(1));
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut late = RawClient::connect(broker.addr, V5, "late").await;
    late.subscribe("expiring", QoS::AtMostOnce).await;
    assert!(
        late.try_recv().await.is_none(),
        "expired retained message delivered"
    );
    broker.stop().await;
}

#[tokio::test]
async fn messages_of_a_topic_arrive_in_publishing_order() {
    // [MQTT-4.6.0-5] / [MQTT-4.6.0-6]: an Ordered Topic keeps the publisher's order, here across
    // the in-flight window (20) and its queue.
    let broker = TestBroker::start().await;
    let mut sub = RawClient::connect(broker.addr, V4, "ordered-sub").await;
    sub.subscribe("ordered", QoS::AtLeastOnce).await;
    let mut publ = RawClient::connect(broker.addr, V4, "ordered-pub").await;
    for i in 0..200 {
        publ.publish("ordered", &i.to_string(), QoS::AtLeastOnce, false)
            .await;
    }
    for i in 0..200 {
        assert_eq!(sub.expect_publish().await.payload, i.to_string());
    }
    broker.stop().await;
}

#[tokio::test]
async fn subscribe_several_filters_and_unsubscribe_one() {
    // [MQTT-3.8.4-5]/[MQTT-3.9.3-1] one SUBACK code per filter, in order; [MQTT-3.10.4-1]
    // UNSUBSCRIBE deletes the subscription; 5.0 UNSUBACK says which existed.
    let broker = TestBroker::start().await;
    let mut c = RawClient::connect(broker.addr, V5, "multi").await;
    let s = Subscribe::new(
        PacketId::new(3).unwrap(),
        vec![
            (
                TopicFilter::new("a/+").unwrap(),
                SubscriptionOptions::with_qos(QoS::ExactlyOnce),
            ),
            (
                TopicFilter::new("b").unwrap(),
                SubscriptionOptions::with_qos(QoS::AtMostOnce),
            ),
        ],
    );
    c.send(Packet::Subscribe(s)).await;
    match c.recv().await {
        Some(Packet::SubAck(a)) => {
            assert_eq!(a.packet_id.get(), 3);
            assert_eq!(
                a.reason_codes,
                [ReasonCode::GrantedQoS2, ReasonCode::GRANTED_QOS_0]
            );
        }
        other => panic!("{other:?}"),
    }
    let u = Unsubscribe::new(
        PacketId::new(4).unwrap(),
        vec![
            TopicFilter::new("b").unwrap(),
            TopicFilter::new("never").unwrap(),
        ],
    );
    c.send(Packet::Unsubscribe(u)).await;
    match c.recv().await {
        Some(Packet::UnsubAck(a)) => assert_eq!(
            a.reason_codes,
            [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
        ),
        other => panic!("{other:?}"),
    }
    let mut publ = RawClient::connect(broker.addr, V5, "multi-pub").await;
    publ.publish("b", "gone", QoS::AtMostOnce, false).await;
    publ.publish("a/x", "kept", QoS::AtMostOnce, false).await;
    assert_eq!(c.expect_publish().await.payload, "kept");
    assert!(c.try_recv().await.is_none());
    broker.stop().await;
}

#[tokio::test]
async fn listener_max_qos_caps_grants_and_is_enforced() {
    // [MQTT-3.2.2-9] Maximum QoS announced; [MQTT-3.2.2-10] SUBSCRIBE at QoS 2 still accepted
    // (granted 1); a QoS 2 PUBLISH above it gets DISCONNECT 0x9B.
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.max_qos = QoS::AtLeastOnce;
        }
    })
    .await;
    let (mut c, ack) =
        RawClient::connect_with(broker.addr, connect_packet(V5, "capped", true)).await;
    assert_eq!(ack.properties.maximum_qos, Some(QoS::AtLeastOnce));
    let granted = c.subscribe("x", QoS::ExactlyOnce).await;
    assert_eq!(granted.reason_codes, [ReasonCode::GrantedQoS1]);
    c.send(Packet::Publish(Publish {
        qos: PublishQos::ExactlyOnce(PacketId::new(1).unwrap()),
        topic: TopicName::new("x").unwrap(),
        ..Publish::default()
    }))
    .await;
    assert_eq!(
        c.until_closed().await,
        [Packet::from(Disconnect::new(ReasonCode::QoSNotSupported))]
    );
    broker.stop().await;
}

#[tokio::test]
async fn retained_wills_and_refusals_that_close() {
    // [MQTT-3.1.2-17] (3.1.1) a will with Will Retain 1 is published as a retained message.
    let broker = TestBroker::start().await;
    let mut c = connect_packet(V4, "lastword", true);
    c.will = Some(LastWill {
        topic: TopicName::new("status/lastword").unwrap(),
        payload: "offline".into(),
        retain: true,
        ..LastWill::default()
    });
    let (client, _) = RawClient::connect_with(broker.addr, c).await;
    drop(client);
    // The will is retained: a subscriber arriving later still gets it, with RETAIN 1.
    let mut late = RawClient::connect(broker.addr, V4, "late").await;
    let mut got = None;
    for _ in 0..50 {
        late.subscribe("status/#", QoS::AtMostOnce).await;
        if let Some(Packet::Publish(p)) = late.try_recv().await {
            got = Some(p);
            break;
        }
    }
    let will = got.expect("retained will");
    assert!(will.retain);
    assert_eq!(will.payload, "offline");
    // [MQTT-3.2.2-5] (3.1.1) a refused CONNECT is answered, then the connection is closed.
    let refusing = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.allow_anonymous = Some(false);
        }
    })
    .await;
    let mut c = RawClient::open(refusing.addr, V4).await;
    c.send(Packet::from(connect_packet(V4, "nobody", true)))
        .await;
    let got = c.until_closed().await;
    assert!(matches!(&got[..], [Packet::ConnAck(a)] if a.reason_code == ReasonCode::NotAuthorized));
    refusing.stop().await;
    broker.stop().await;
}

#[tokio::test]
async fn mount_point_prefixes_topics_and_hides_the_prefix() {
    // Mosquitto's mount_point: clients of the listener publish and subscribe under a prefix
    // they never see.
    let (broker, hub) = TestBroker::start_with_hub_config(|c| {
        for l in &mut c.listeners {
            l.mount_point = Some("tenant1/".to_owned());
        }
    })
    .await;
    let mut sub = RawClient::connect(broker.addr, V5, "m-sub").await;
    sub.subscribe("sensors/#", QoS::AtMostOnce).await;
    let mut publ = RawClient::connect(broker.addr, V5, "m-pub").await;
    publ.publish("sensors/t", "21", QoS::AtMostOnce, true).await;
    let got = sub.expect_publish().await;
    assert_eq!(got.topic, "sensors/t");
    assert_eq!(hub.subscriptions_of("m-sub"), 1);
    let mut late = RawClient::connect(broker.addr, V5, "m-late").await;
    late.subscribe("sensors/t", QoS::AtMostOnce).await;
    let retained = late.expect_publish().await;
    assert_eq!(
        (retained.topic.as_str(), retained.retain),
        ("sensors/t", true)
    );
    broker.stop().await;
}

#[tokio::test]
async fn sys_interval_is_reloaded_at_once() {
    // SIGHUP reloads sys_interval (Mosquitto does): $SYS, off at start, starts with the reload.
    let config = |sys_interval| {
        let mut c = mqtt_broker::config::Config::local_only(Some(0));
        c.listeners
            .retain(|l| l.bind_address.as_deref() == Some("127.0.0.1"));
        c.sys_interval = sys_interval;
        c
    };
    let (broker, hub) = TestBroker::start_with_hub_config(|c| *c = config(0)).await;
    let mut c = RawClient::connect(broker.addr, V4, "sys").await;
    c.subscribe("$SYS/broker/version", QoS::AtMostOnce).await;
    assert_eq!(c.sync().await, [], "no $SYS while sys_interval is 0");
    assert_eq!(hub.reload(config(1)), Ok(Vec::new()));
    let p = c.expect_publish().await;
    assert_eq!(p.topic, "$SYS/broker/version");
    broker.stop().await;
}

#[tokio::test]
async fn a_topic_too_long_for_the_mount_point_never_leaves_it() {
    // The mount point plus the client's topic must fit in a topic name (65,535 bytes); one that
    // does not is refused, never routed without the prefix (which would reach other tenants).
    let (broker, hub) = TestBroker::start_with_hub_config(|c| {
        for l in &mut c.listeners {
            l.mount_point = Some("tenant1/".to_owned());
        }
        // No $SYS messages: the retained count must only move with this test's publications.
        c.sys_interval = 0;
    })
    .await;
    let long = format!("t2/cmd/{}", "a".repeat(65_525));
    let mut publ = RawClient::connect(broker.addr, V5, "long-pub").await;
    let retained_before = hub.retained_count();
    publ.send(Packet::Publish(Publish {
        qos: PublishQos::new(QoS::AtLeastOnce, PacketId::new(5).unwrap()),
        retain: true,
        topic: TopicName::new(&long).unwrap(),
        payload: "escape".into(),
        ..Publish::default()
    }))
    .await;
    match publ.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason_code, ReasonCode::TopicNameInvalid),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    assert_eq!(
        hub.retained_count(),
        retained_before,
        "stored outside the mount point"
    );
    // The same length as a filter: refused in the SUBACK, not subscribed unprefixed.
    let mut sub = RawClient::connect(broker.addr, V5, "long-sub").await;
    let suback = sub.subscribe(&long, QoS::AtMostOnce).await;
    assert_eq!(suback.reason_codes, [ReasonCode::TopicFilterInvalid]);
    assert_eq!(hub.subscriptions_of("long-sub"), 0);
    broker.stop().await;
}
