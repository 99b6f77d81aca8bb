//! Durable persistence (`persistence true`): what survives a restart and a SIGKILL, what is not
//! stored, and the errors for files that cannot be used.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;

use common::process::*;
use common::*;
use mqtt_broker::config::{Config, PersistenceSync};
use mqtt_broker::server::Broker;
use mqtt_codec::*;
use test_support::{free_port, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-broker");

fn persist_in(dir: &Path) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.persistence.enabled = true;
        c.persistence.location = Some(dir.to_path_buf());
    }
}

fn v5_connect(id: &str, clean: bool, expiry: u32) -> Connect {
    let mut c = connect_packet(ProtocolVersion::V5, id, clean);
    c.properties.session_expiry_interval = Some(expiry);
    c
}

/// Connects a 3.1.1 client with Clean Session 0 and subscribes it.
async fn persistent_subscriber(addr: SocketAddr, id: &str, filter: &str) {
    let (mut c, ack) =
        RawClient::connect_with(addr, connect_packet(ProtocolVersion::V3_1_1, id, false)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    c.subscribe(filter, QoS::AtLeastOnce).await;
    c.disconnect().await;
}

/// Connects a 3.1.1 client with Clean Session 0 to its stored session (Session Present).
async fn resume(addr: SocketAddr, id: &str) -> RawClient {
    let (c, ack) =
        RawClient::connect_with(addr, connect_packet(ProtocolVersion::V3_1_1, id, false)).await;
    assert!(ack.session_present, "{id}: no session present");
    c
}

#[tokio::test]
async fn retained_messages_and_sessions_survive_an_in_process_restart() {
    let dir = TempDir::new("persist-restart");
    let (b, hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    persistent_subscriber(b.addr, "sub", "q/#").await;
    let (mut clean, _) = RawClient::connect_with(
        b.addr,
        connect_packet(ProtocolVersion::V3_1_1, "clean", true),
    )
    .await;
    clean.subscribe("q/#", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(b.addr, ProtocolVersion::V3_1_1, "pub").await;
    p.publish("r/1", "kept", QoS::AtLeastOnce, true).await;
    p.publish("r/2", "gone", QoS::AtLeastOnce, true).await;
    p.publish("r/2", "", QoS::AtLeastOnce, true).await;
    p.publish("q/a", "queued", QoS::AtLeastOnce, false).await;
    assert!(hub.has_session("clean"));
    drop(hub);
    b.stop().await;

    let (b, hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    assert!(hub.has_session("sub"));
    assert!(!hub.has_session("clean"), "clean sessions are not stored");
    assert!(!hub.has_session("pub"));
    assert_eq!(hub.retained_count(), 1);
    assert_eq!(hub.subscriptions_of("sub"), 1);
    let mut s = resume(b.addr, "sub").await;
    let m = s.expect_publish().await;
    assert_eq!((m.topic.as_str(), &m.payload[..]), ("q/a", &b"queued"[..]));
    let mut n = RawClient::connect(b.addr, ProtocolVersion::V3_1_1, "new").await;
    n.subscribe("r/#", QoS::AtLeastOnce).await;
    let m = n.expect_publish().await;
    assert_eq!((m.topic.as_str(), &m.payload[..]), ("r/1", &b"kept"[..]));
    assert!(m.retain);
    b.stop().await;
}

#[tokio::test]
async fn periodic_mode_saves_at_shutdown() {
    let dir = TempDir::new("persist-periodic");
    let edit = |c: &mut Config| {
        persist_in(dir.path())(c);
        c.persistence.sync = PersistenceSync::Periodic;
    };
    let b = TestBroker::with_config(edit).await;
    let mut p = RawClient::connect(b.addr, ProtocolVersion::V3_1_1, "pub").await;
    p.publish("r/p", "kept", QoS::AtLeastOnce, true).await;
    b.stop().await;
    let (b, hub) = TestBroker::start_with_hub_config(edit).await;
    assert_eq!(hub.retained_count(), 1);
    b.stop().await;
}

#[tokio::test]
async fn ended_sessions_are_purged_from_the_store() {
    let dir = TempDir::new("persist-expiry");
    let (b, hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    // Taken over by a clean start without expiry: the stored session ends.
    let (c, _) = RawClient::connect_with(b.addr, v5_connect("replaced", false, 3600)).await;
    c.disconnect().await;
    let (c, _) = RawClient::connect_with(b.addr, v5_connect("replaced", true, 0)).await;
    c.disconnect().await;
    // Expires one second after it disconnects.
    let (c, _) = RawClient::connect_with(b.addr, v5_connect("expiring", false, 1)).await;
    c.disconnect().await;
    let (c, _) = RawClient::connect_with(b.addr, v5_connect("kept", false, 3600)).await;
    c.disconnect().await;
    let deadline = Instant::now() + WAIT;
    while hub.has_session("expiring") || hub.has_session("replaced") {
        assert!(Instant::now() < deadline, "sessions did not end");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(hub);
    b.stop().await;
    let (b, hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    let mut ids = hub.client_ids();
    ids.sort();
    assert_eq!(ids, ["kept"]);
    b.stop().await;
}

async fn bind_error(dir: &Path) -> String {
    let mut config = Config::local_only(Some(0));
    persist_in(dir)(&mut config);
    match Broker::bind(config).await {
        Ok(_) => panic!("a broker started on an unusable persistence file"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_corrupt_or_truncated_file_is_a_clear_error_naming_it() {
    let dir = TempDir::new("persist-corrupt");
    let file = dir.path().join("mqtt-broker.db");
    std::fs::write(
        &file,
        b"this is not a database, it is a text file of some length...",
    )
    .unwrap();
    let e = bind_error(dir.path()).await;
    assert!(e.contains(&file.display().to_string()), "{e}");
    // Nothing was discarded.
    assert!(std::fs::read(&file).unwrap().starts_with(b"this is not"));

    std::fs::write(&file, b"").unwrap();
    let e = bind_error(dir.path()).await;
    assert!(
        e.contains(&file.display().to_string()) && e.contains("empty"),
        "{e}"
    );

    // A valid file cut in half.
    std::fs::remove_file(&file).unwrap();
    let b = TestBroker::with_config(persist_in(dir.path())).await;
    let mut p = RawClient::connect(b.addr, ProtocolVersion::V3_1_1, "pub").await;
    p.publish("r/1", "kept", QoS::AtLeastOnce, true).await;
    b.stop().await;
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 3]).unwrap();
    let e = bind_error(dir.path()).await;
    assert!(e.contains(&file.display().to_string()), "{e}");
}

#[tokio::test]
async fn an_unknown_format_version_is_refused() {
    const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
    let dir = TempDir::new("persist-format");
    let file = dir.path().join("mqtt-broker.db");
    {
        let db = redb::Database::create(&file).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META).unwrap().insert("format", 99).unwrap();
        tx.commit().unwrap();
    }
    let e = bind_error(dir.path()).await;
    assert!(
        e.contains(&file.display().to_string()) && e.contains("format version 99"),
        "{e}"
    );
}

// --- The binary, killed with SIGKILL -------------------------------------------------------

fn start(conf: &Path) -> Running {
    start_restored(BIN, conf)
}

fn conf(dir: &Path, port: u16) -> std::path::PathBuf {
    persistent_conf(dir, port, "")
}

#[tokio::test]
async fn acknowledged_messages_survive_sigkill() {
    let dir = TempDir::new("persist-kill");
    let port = free_port();
    let conf = conf(dir.path(), port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let broker = start(&conf);
    persistent_subscriber(addr, "offline", "t/#").await;
    let mut p = RawClient::connect(addr, ProtocolVersion::V3_1_1, "pub").await;
    p.publish("keep/me", "retained", QoS::AtLeastOnce, true)
        .await;
    // Every one acknowledged (PUBACK / PUBCOMP) before the kill.
    for i in 0..20 {
        let qos = if i % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        p.publish(&format!("t/{i}"), &i.to_string(), qos, false)
            .await;
    }
    broker.sigkill();

    let broker = start(&conf);
    let (mut s, ack) = RawClient::connect_with(
        addr,
        connect_packet(ProtocolVersion::V3_1_1, "offline", false),
    )
    .await;
    assert!(ack.session_present, "the session survived");
    let mut got = Vec::new();
    for _ in 0..20 {
        let m = s.expect_publish().await;
        got.push(format!(
            "{}{}",
            m.topic.as_str(),
            if m.dup { " (dup)" } else { "" }
        ));
    }
    let topics: Vec<&str> = got.iter().map(|t| t.split(' ').next().unwrap()).collect();
    let want: Vec<String> = (0..20).map(|i| format!("t/{i}")).collect();
    assert_eq!(topics, want, "in order, once each: {got:?}");
    let mut n = RawClient::connect(addr, ProtocolVersion::V3_1_1, "new").await;
    n.subscribe("keep/#", QoS::AtLeastOnce).await;
    let m = n.expect_publish().await;
    assert_eq!(&m.payload[..], b"retained");
    // The subscription survived too: a new message reaches the resumed session.
    p = RawClient::connect(addr, ProtocolVersion::V3_1_1, "pub").await;
    p.publish("t/new", "after", QoS::AtLeastOnce, false).await;
    let m = s.expect_publish().await;
    assert_eq!(m.topic.as_str(), "t/new");
    drop(broker);
}

/// A CONNECT with a QoS 1 will on `will/<id>`; `delay` as Will Delay Interval (5.0), and a
/// 60 s session expiry (5.0) or Clean Session 0 (3.1.1).
fn with_will(version: ProtocolVersion, id: &str, delay: Option<u32>) -> Connect {
    let mut c = if version.is_v5() {
        v5_connect(id, true, 60)
    } else {
        connect_packet(version, id, false)
    };
    c.will = Some(LastWill {
        topic: TopicName::new(format!("will/{id}")).unwrap(),
        payload: format!("{id} is gone").into(),
        qos: QoS::AtLeastOnce,
        properties: WillProperties {
            will_delay_interval: delay,
            ..Default::default()
        },
        ..LastWill::default()
    });
    c
}

#[tokio::test]
async fn a_pending_delayed_will_survives_a_sigkill() {
    // 5.0 [MQTT-3.1.2-8] the will is published once the connection closed and the Will Delay
    // Interval elapsed; here a crash of the broker falls inside that delay.
    let dir = TempDir::new("persist-will-delay");
    let port = free_port();
    let conf = conf(dir.path(), port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let broker = start(&conf);
    let (mut watcher, _) = RawClient::connect_with(
        addr,
        connect_packet(ProtocolVersion::V3_1_1, "watcher", false),
    )
    .await;
    watcher.subscribe("will/#", QoS::AtLeastOnce).await;
    let (dying, _) =
        RawClient::connect_with(addr, with_will(ProtocolVersion::V5, "dying", Some(2))).await;
    drop(dying); // no DISCONNECT: the will is due in 2 s
    broker.wait_for_line("Client dying closed its connection");
    // The watcher's PINGRESP leaves only once everything submitted before is committed, the
    // pending will included; nothing was published yet.
    assert!(
        watcher.sync().await.is_empty(),
        "the will waits for its delay"
    );
    broker.sigkill();
    drop(watcher);

    let broker = start(&conf);
    let (mut watcher, ack) = RawClient::connect_with(
        addr,
        connect_packet(ProtocolVersion::V3_1_1, "watcher", false),
    )
    .await;
    assert!(ack.session_present);
    let m = watcher.expect_publish().await;
    assert_eq!(
        (m.topic.as_str(), &m.payload[..]),
        ("will/dying", &b"dying is gone"[..])
    );
    assert!(watcher.try_recv().await.is_none(), "published once");
    drop(broker);
}

#[tokio::test]
async fn wills_of_persistent_sessions_connected_at_a_crash_are_published_after_it() {
    // The crash ended their connections without DISCONNECT [MQTT-3.1.2-8]; the wills are stored
    // with the sessions. A clean session is not stored, nor is its will.
    let dir = TempDir::new("persist-will-crash");
    let port = free_port();
    let conf = conf(dir.path(), port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let broker = start(&conf);
    persistent_subscriber(addr, "watcher", "will/#").await;
    let (_v5, _) = RawClient::connect_with(addr, with_will(ProtocolVersion::V5, "v5", None)).await;
    let (_v311, _) =
        RawClient::connect_with(addr, with_will(ProtocolVersion::V3_1_1, "v311", None)).await;
    let mut clean = with_will(ProtocolVersion::V3_1_1, "clean", None);
    clean.clean_start = true;
    let (mut clean, _) = RawClient::connect_with(addr, clean).await;
    // Its PINGRESP leaves once the CONNECTs before it are committed.
    clean.sync().await;
    broker.sigkill();

    let broker = start(&conf);
    let (mut watcher, _) = RawClient::connect_with(
        addr,
        connect_packet(ProtocolVersion::V3_1_1, "watcher", false),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = watcher.expect_publish().await;
        got.push(String::from_utf8(m.payload.to_vec()).unwrap());
    }
    got.sort();
    assert_eq!(got, ["v311 is gone", "v5 is gone"]);
    assert!(
        watcher.try_recv().await.is_none(),
        "no will of the clean session"
    );
    drop(broker);
}

#[tokio::test]
async fn a_shared_delivery_keeps_its_group_across_a_restart() {
    // [MQTT-4.8.2-4] (5.0) a message a member did not complete goes to another member of the
    // group if the member's session ends; with persistence, also after a restart.
    let dir = TempDir::new("persist-shared");
    let port = free_port();
    let conf = conf(dir.path(), port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let broker = start(&conf);
    persistent_subscriber(addr, "other", "$share/g/s/#").await;
    // The only online member: it gets the message, and never acknowledges it.
    let (mut member, _) = RawClient::connect_with(addr, v5_connect("member", true, 1)).await;
    member.subscribe("$share/g/s/#", QoS::AtLeastOnce).await;
    let mut p = RawClient::connect(addr, ProtocolVersion::V3_1_1, "pub").await;
    p.publish("s/1", "shared", QoS::AtLeastOnce, false).await;
    match member.recv().await {
        Some(Packet::Publish(m)) => assert_eq!(m.topic.as_str(), "s/1"),
        other => panic!("expected the shared message, got {other:?}"),
    }
    broker.sigkill();

    // After the restart the member stays away; its session ends after its 1 s expiry, and the
    // message goes to the other member.
    let broker = start(&conf);
    let (mut other, ack) = RawClient::connect_with(
        addr,
        connect_packet(ProtocolVersion::V3_1_1, "other", false),
    )
    .await;
    assert!(ack.session_present);
    let m = other.expect_publish().await;
    assert_eq!((m.topic.as_str(), &m.payload[..]), ("s/1", &b"shared"[..]));
    drop(broker);
}

#[tokio::test]
async fn expired_messages_are_purged_from_disconnected_sessions() {
    // [MQTT-3.3.2-5] a message whose expiry passed before onward delivery started is deleted,
    // also from a session that stays away (and from the file, through the same record).
    let dir = TempDir::new("persist-expiry");
    let (b, hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    persistent_subscriber(b.addr, "away", "e/#").await;
    let (mut p, _) = RawClient::connect_with(b.addr, v5_connect("pub", true, 0)).await;
    let mut short = Publish {
        qos: PublishQos::new(QoS::AtLeastOnce, PacketId::new(1).unwrap()),
        topic: TopicName::new("e/short").unwrap(),
        payload: "short".into(),
        ..Publish::default()
    };
    short.properties.message_expiry_interval = Some(1);
    p.send(Packet::Publish(short)).await;
    assert!(matches!(p.recv().await, Some(Packet::PubAck(_))));
    p.publish("e/kept", "kept", QoS::AtLeastOnce, false).await;
    assert_eq!(hub.purge_expired(), 0, "not expired yet");
    // The expiry is a time: it has to pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(hub.purge_expired(), 1);
    drop(hub);
    b.stop().await;

    let (b, _hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    let (mut s, _) = RawClient::connect_with(
        b.addr,
        connect_packet(ProtocolVersion::V3_1_1, "away", false),
    )
    .await;
    assert_eq!(s.expect_publish().await.topic.as_str(), "e/kept");
    assert!(s.try_recv().await.is_none());
    b.stop().await;
}

/// Messages are records of their own, tagged with the session they belong to: a new session
/// of the same client identifier (whose message identifiers start again from 1) gets none of
/// the messages queued for the one it replaced, before or after a restart.
#[tokio::test]
async fn a_replaced_session_leaves_none_of_its_queued_messages_behind() {
    let dir = TempDir::new("persist-replaced");
    let (b, hub) = TestBroker::start_with_hub_config(persist_in(dir.path())).await;
    persistent_subscriber(b.addr, "sub", "q/#").await;
    let mut p = RawClient::connect(b.addr, ProtocolVersion::V3_1_1, "pub").await;
    for i in 1..=3 {
        p.publish(&format!("q/old{i}"), "old", QoS::AtLeastOnce, false)
            .await;
    }
    // A clean session replaces the stored one (and ends with its connection), then a new
    // persistent session starts and gets one message.
    let (c, ack) =
        RawClient::connect_with(b.addr, connect_packet(ProtocolVersion::V3_1_1, "sub", true)).await;
    assert!(!ack.session_present);
    c.disconnect().await;
    persistent_subscriber(b.addr, "sub", "q/#").await;
    p.publish("q/new", "new", QoS::AtLeastOnce, false).await;
    drop(p);
    drop(hub);
    b.stop().await;

    let b = TestBroker::with_config(persist_in(dir.path())).await;
    let mut s = resume(b.addr, "sub").await;
    let m = s.expect_publish().await;
    assert_eq!(m.topic.as_str(), "q/new");
    // Anything left of the old session would come before a message published now.
    let mut p = RawClient::connect(b.addr, ProtocolVersion::V3_1_1, "pub").await;
    p.publish("q/marker", "", QoS::AtLeastOnce, false).await;
    let m = s.expect_publish().await;
    assert_eq!(m.topic.as_str(), "q/marker");
    b.stop().await;
}
