//! `log_dest topic`: the broker binary publishes its log lines on `$SYS/broker/log/...`, seen
//! by an mqtt-client subscriber.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::process::spawn_logged;
use common::WAIT;
use mqtt_client::{connect, ClientOptions, Messages};
use mqtt_codec::{QoS, TopicFilter, UnsubscribeProperties};
use test_support::{free_port, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-broker");

/// Receives log messages until one on `topic` whose line contains `needle`; returns its line.
async fn line_on(messages: &mut Messages, topic: &str, needle: &str) -> String {
    let mut seen = Vec::new();
    loop {
        let m = tokio::time::timeout(WAIT, messages.recv())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} on {topic}; got {seen:?}"))
            .expect("subscriber closed");
        let line = String::from_utf8(m.payload.to_vec()).unwrap();
        // As Mosquitto: QoS 2, not retained, 20 s to live, the line with its timestamp.
        assert!(!m.retain, "{line}");
        assert_eq!(
            m.properties.message_expiry_interval.map(|s| s <= 20),
            Some(true)
        );
        // Each line on the topic of its type (error, warning, notice, information, subscribe,
        // unsubscribe), as Mosquitto's; no other topic (debug lines have none).
        let kind = m.topic.as_str().strip_prefix("$SYS/broker/log/");
        assert!(
            matches!(
                kind,
                Some("E" | "W" | "N" | "I" | "M/subscribe" | "M/unsubscribe")
            ),
            "a log line on {}: {line}",
            m.topic.as_str()
        );
        if m.topic.as_str() == topic && line.contains(needle) {
            return line;
        }
        seen.push(format!("{} {line}", m.topic.as_str()));
    }
}

#[tokio::test]
async fn log_lines_are_published_on_the_topic_of_their_type() {
    let dir = TempDir::new("log-topic");
    let port = free_port();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest topic\nlog_dest stderr\n\
             log_type all\n"
        ),
    )
    .unwrap();
    let (mut child, lines) = spawn_logged(BIN, &conf);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("listen socket")) {
        seen.push(lines.recv_timeout(WAIT).expect("broker did not start"));
    }

    let options = |id: &str| {
        let mut o = ClientOptions::tcp("127.0.0.1", port);
        o.connect.client_id = mqtt_codec::MqttString::new(id).unwrap();
        o.connect.protocol = mqtt_codec::ProtocolVersion::V5;
        o
    };
    let (watcher, mut log, _) = connect(options("watcher")).await.unwrap();
    watcher
        .subscribe_one(
            TopicFilter::new("$SYS/broker/log/#").unwrap(),
            QoS::ExactlyOnce,
        )
        .await
        .unwrap();
    // The watcher's own subscription is a `subscribe` line.
    let line = line_on(
        &mut log,
        "$SYS/broker/log/M/subscribe",
        "watcher 2 $SYS/broker/log/#",
    )
    .await;
    // Mosquitto's timestamp comes first: "<epoch>: ".
    let (stamp, _) = line.split_once(": ").unwrap();
    assert!(stamp.bytes().all(|b| b.is_ascii_digit()), "{line}");

    let (other, _, _) = connect(options("other")).await.unwrap();
    line_on(&mut log, "$SYS/broker/log/N", "New client connected").await;
    other
        .subscribe_one(TopicFilter::new("a/b").unwrap(), QoS::AtLeastOnce)
        .await
        .unwrap();
    line_on(&mut log, "$SYS/broker/log/M/subscribe", "other 1 a/b").await;
    other
        .unsubscribe(
            vec![TopicFilter::new("a/b").unwrap()],
            UnsubscribeProperties::default(),
        )
        .await
        .unwrap();
    line_on(&mut log, "$SYS/broker/log/M/unsubscribe", "other a/b").await;
    other.disconnect().await.unwrap();
    line_on(&mut log, "$SYS/broker/log/N", "Client other disconnected").await;

    // A reload: "Reloading config." is information; a file it cannot use gives errors.
    std::fs::write(&conf, "listener 1 127.0.0.1\nbad_option x\n").unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    line_on(&mut log, "$SYS/broker/log/I", "Reloading config.").await;
    line_on(&mut log, "$SYS/broker/log/E", "Unable to reload the config").await;

    let _ = child.kill();
    let _ = child.wait();
}
