//! A full disk under `persistence true` (issue #7): what needs storing is refused (MQTT 5:
//! 0x97 Quota exceeded), the rest is served, and the store recovers when space returns.
//!
//! The full disk is played by a file-size limit (RLIMIT_FSIZE) on this test process, which
//! serves the broker in-process: writes past it fail (EFBIG) as writes to a full disk fail
//! (ENOSPC). The limit applies to the whole process, hence this file holds a single test.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::*;
use mqtt_broker::config::Config;
use mqtt_codec::*;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use test_support::TempDir;

fn persist_in(dir: &Path) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.persistence.enabled = true;
        c.persistence.location = Some(dir.to_path_buf());
    }
}

/// Sets this process's soft file-size limit; `None` back to the hard limit.
fn limit_file_size(bytes: Option<u64>) {
    let (_, hard) = getrlimit(Resource::RLIMIT_FSIZE).unwrap();
    setrlimit(Resource::RLIMIT_FSIZE, bytes.unwrap_or(hard), hard).unwrap();
}

fn v5_connect(id: &str) -> Connect {
    connect_packet(ProtocolVersion::V5, id, true)
}

fn publish(topic: &str, id: u16) -> Packet {
    Packet::Publish(Publish {
        qos: PublishQos::new(QoS::AtLeastOnce, PacketId::new(id).unwrap()),
        topic: TopicName::new(topic).unwrap(),
        payload: format!("{topic} payload").into(),
        ..Publish::default()
    })
}

async fn expect_puback(c: &mut RawClient, reason: ReasonCode) {
    match c.recv().await {
        Some(Packet::PubAck(a)) => assert_eq!(a.reason_code, reason),
        other => panic!("expected PUBACK {reason:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_what_needs_storing_serves_the_rest_and_recovers() {
    // Past the limit, a write raises SIGXFSZ, whose default action ends the process: a
    // handler (tokio's) makes it a plain error, as the broker's main does.
    let _sigxfsz = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
        nix::sys::signal::Signal::SIGXFSZ as i32,
    ))
    .unwrap();
    let dir = TempDir::new("persist-full");
    let (b, hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    let (sub, _) = RawClient::connect_with(
        b.addr,
        connect_packet(ProtocolVersion::V3_1_1, "offline", false),
    )
    .await;
    let mut sub = sub;
    sub.subscribe("t/#", QoS::AtLeastOnce).await;
    sub.disconnect().await;
    let (mut live, _) = RawClient::connect_with(b.addr, v5_connect("live")).await;
    live.subscribe("q/#", QoS::AtLeastOnce).await;
    let (mut first, _) = RawClient::connect_with(b.addr, v5_connect("first")).await;
    let (mut second, _) = RawClient::connect_with(b.addr, v5_connect("second")).await;
    let mut stored = connect_packet(ProtocolVersion::V5, "stored", false);
    stored.properties.session_expiry_interval = Some(3600);
    let (mut stored, _) = RawClient::connect_with(b.addr, stored).await;
    assert!(hub.has_session("offline"));

    // The disk is "full": no file of this process may grow past its first byte.
    limit_file_size(Some(1));
    first.send(publish("t/1", 1)).await;
    // Its acknowledgement waits for the file, whose commit fails (the store has no event to
    // await from outside: polled).
    let deadline = tokio::time::Instant::now() + WAIT;
    while !hub.store_failing() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the commit did not fail"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // A new message for the persistent session is refused: 0x97 Quota exceeded.
    second.send(publish("t/2", 2)).await;
    expect_puback(&mut second, ReasonCode::QuotaExceeded).await;
    // What needs no storage is served: QoS 1 between clean sessions.
    second.send(publish("q/live", 3)).await;
    expect_puback(&mut second, ReasonCode::Success).await;
    assert_eq!(live.expect_publish().await.topic.as_str(), "q/live");
    assert!(
        first.try_recv().await.is_none(),
        "t/1 is not acknowledged yet"
    );
    // A session that would be stored is refused rather than left waiting for its CONNACK
    // (5.0 0x97; 3.1.1 return code 3), and so is a stored session's SUBSCRIBE; a clean
    // session connects and subscribes as usual.
    let mut v5_stored = connect_packet(ProtocolVersion::V5, "new-stored", false);
    v5_stored.properties.session_expiry_interval = Some(60);
    let (_, ack) = RawClient::connect_with(b.addr, v5_stored).await;
    assert_eq!(ack.reason_code, ReasonCode::QuotaExceeded);
    let v311_stored = connect_packet(ProtocolVersion::V3_1_1, "new-stored-311", false);
    let (_, ack) = RawClient::connect_with(b.addr, v311_stored).await;
    assert_eq!(ack.reason_code, ReasonCode::ServerUnavailable);
    assert!(!hub.has_session("new-stored") && !hub.has_session("new-stored-311"));
    let suback = stored.subscribe("s/#", QoS::AtLeastOnce).await;
    assert_eq!(suback.reason_codes, [ReasonCode::QuotaExceeded]);
    let (mut clean, ack) = RawClient::connect_with(b.addr, v5_connect("clean")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let suback = clean.subscribe("s/#", QoS::AtLeastOnce).await;
    assert_eq!(suback.reason_codes, [ReasonCode::GrantedQoS1]);

    // Space returns: the store writes what it kept (within its 1 s retry) and acknowledges t/1.
    limit_file_size(None);
    expect_puback(&mut first, ReasonCode::Success).await;
    second.send(publish("t/3", 4)).await;
    expect_puback(&mut second, ReasonCode::Success).await;

    // The file holds what was acknowledged: t/1 and t/3 for the offline session, not t/2.
    drop(hub);
    b.stop().await;
    let (b, _hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    let (mut s, ack) = RawClient::connect_with(
        b.addr,
        connect_packet(ProtocolVersion::V3_1_1, "offline", false),
    )
    .await;
    assert!(ack.session_present);
    assert_eq!(s.expect_publish().await.topic.as_str(), "t/1");
    assert_eq!(s.expect_publish().await.topic.as_str(), "t/3");
    assert!(s.try_recv().await.is_none());
    b.stop().await;
}
