//! `check_retain_source`: a retained message is sent to a new subscriber only while the client
//! that published it may still write its topic (the ACL file may have been reloaded since).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use common::*;
use mqtt_broker::config::Config;
use mqtt_broker::Hub;
use mqtt_codec::*;
use test_support::TempDir;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// Alice may write `t/#`; bob reads it.
const ALICE_WRITES: &str = "user alice\ntopic readwrite t/#\nuser bob\ntopic read t/#\n";
/// Alice may write `t/kept` only; bob still reads everything.
const ALICE_REVOKED: &str =
    "user alice\ntopic read t/#\ntopic write t/kept\nuser bob\ntopic read t/#\n";

/// A client with a user name (anonymous clients are allowed: no password file to check it).
async fn as_user(addr: SocketAddr, id: &str, user: &str) -> RawClient {
    let mut c = connect_packet(V5, id, true);
    c.username = Some(MqttString::new(user).unwrap());
    let (client, ack) = RawClient::connect_with(addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    client
}

/// The retained messages a new subscriber of `t/#` gets, as `topic=payload`, sorted.
async fn retained_for_new_subscriber(addr: SocketAddr, id: &str) -> Vec<String> {
    let mut c = as_user(addr, id, "bob").await;
    c.subscribe("t/#", QoS::AtLeastOnce).await;
    let mut got: Vec<String> = c
        .sync()
        .await
        .into_iter()
        .map(|p| match p {
            Packet::Publish(p) => {
                assert!(p.retain, "{p:?}");
                format!(
                    "{}={}",
                    p.topic.as_str(),
                    String::from_utf8_lossy(&p.payload)
                )
            }
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    got.sort();
    c.disconnect().await;
    got
}

/// Rewrites the ACL file and applies it through the in-process reload (what SIGHUP does).
fn reload_acl(hub: &Hub, acl: &Path, text: &str) {
    std::fs::write(acl, text).unwrap();
    let config = Config::clone(&hub.config());
    hub.reload(config).unwrap();
}

fn with_acl(acl: &Path, check: bool) -> impl FnOnce(&mut Config) + '_ {
    move |c: &mut Config| {
        c.check_retain_source = check;
        for l in &mut c.listeners {
            l.security.allow_anonymous = Some(true);
            l.security.acl_file = Some(acl.to_path_buf());
        }
    }
}

/// Alice publishes two retained messages while she may write `t/#`, then loses `t/gone`.
async fn publish_then_revoke(b: &TestBroker, hub: &Arc<Hub>, acl: &Path) {
    let mut alice = as_user(b.addr, "alice-1", "alice").await;
    alice.publish("t/kept", "k", QoS::AtLeastOnce, true).await;
    alice.publish("t/gone", "g", QoS::AtLeastOnce, true).await;
    alice.disconnect().await;
    assert_eq!(
        retained_for_new_subscriber(b.addr, "bob-before").await,
        ["t/gone=g", "t/kept=k"]
    );
    reload_acl(hub, acl, ALICE_REVOKED);
}

#[tokio::test]
async fn a_retained_message_is_not_sent_once_its_publisher_lost_write_access() {
    let dir = TempDir::new("retain-source");
    let acl = dir.path().join("acl");
    std::fs::write(&acl, ALICE_WRITES).unwrap();
    let (b, hub) = TestBroker::start_with_hub_config(with_acl(&acl, true)).await;
    publish_then_revoke(&b, &hub, &acl).await;

    assert_eq!(
        retained_for_new_subscriber(b.addr, "bob-after").await,
        ["t/kept=k"]
    );
    // Not deleted (as Mosquitto): it is sent again once the publisher's rights are back.
    reload_acl(&hub, &acl, ALICE_WRITES);
    assert_eq!(
        retained_for_new_subscriber(b.addr, "bob-restored").await,
        ["t/gone=g", "t/kept=k"]
    );
    b.stop().await;
}

#[tokio::test]
async fn with_check_retain_source_false_the_publishers_rights_are_not_checked() {
    let dir = TempDir::new("retain-source-off");
    let acl = dir.path().join("acl");
    std::fs::write(&acl, ALICE_WRITES).unwrap();
    let (b, hub) = TestBroker::start_with_hub_config(with_acl(&acl, false)).await;
    publish_then_revoke(&b, &hub, &acl).await;

    assert_eq!(
        retained_for_new_subscriber(b.addr, "bob-after").await,
        ["t/gone=g", "t/kept=k"]
    );
    b.stop().await;
}

#[tokio::test]
async fn a_retained_will_is_checked_against_the_client_that_left_it() {
    let dir = TempDir::new("retain-source-will");
    let acl = dir.path().join("acl");
    std::fs::write(&acl, ALICE_WRITES).unwrap();
    let (b, hub) = TestBroker::start_with_hub_config(with_acl(&acl, true)).await;
    let mut c = connect_packet(V5, "alice-will", true);
    c.username = Some(MqttString::new("alice").unwrap());
    c.will = Some(LastWill {
        topic: TopicName::new("t/gone").unwrap(),
        payload: bytes::Bytes::from_static(b"w"),
        retain: true,
        ..LastWill::default()
    });
    let (conn, ack) = RawClient::connect_with(b.addr, c).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    // Watch for the will, so that the test goes on once it is retained.
    let mut watcher = as_user(b.addr, "watcher", "bob").await;
    watcher.subscribe("t/#", QoS::AtLeastOnce).await;
    // Closed without DISCONNECT: the will is published [MQTT-3.1.2-8].
    drop(conn);
    assert_eq!(watcher.expect_publish().await.topic.as_str(), "t/gone");
    assert_eq!(
        retained_for_new_subscriber(b.addr, "bob-before").await,
        ["t/gone=w"]
    );
    reload_acl(&hub, &acl, ALICE_REVOKED);
    assert!(retained_for_new_subscriber(b.addr, "bob-after")
        .await
        .is_empty());
    b.stop().await;
}

#[tokio::test]
async fn the_publisher_of_a_retained_message_is_kept_across_a_restart() {
    let dir = TempDir::new("retain-source-persist");
    let acl = dir.path().join("acl");
    std::fs::write(&acl, ALICE_WRITES).unwrap();
    let persist = |c: &mut Config| {
        with_acl(&acl, true)(c);
        c.persistence.enabled = true;
        c.persistence.location = Some(dir.path().to_path_buf());
    };
    let (b, hub) = TestBroker::start_with_hub_config(&persist).await;
    let mut alice = as_user(b.addr, "alice-1", "alice").await;
    alice.publish("t/kept", "k", QoS::AtLeastOnce, true).await;
    alice.publish("t/gone", "g", QoS::AtLeastOnce, true).await;
    alice.disconnect().await;
    drop(hub);
    b.stop().await;

    // Restarted with the revoking ACL file: the stored messages still name alice.
    std::fs::write(&acl, ALICE_REVOKED).unwrap();
    let (b, hub) = TestBroker::start_with_hub_config(&persist).await;
    assert_eq!(
        retained_for_new_subscriber(b.addr, "bob-after").await,
        ["t/kept=k"]
    );
    // Both were stored: the other one comes back with alice's rights.
    reload_acl(&hub, &acl, ALICE_WRITES);
    assert_eq!(
        retained_for_new_subscriber(b.addr, "bob-restored").await,
        ["t/gone=g", "t/kept=k"]
    );
    b.stop().await;
}
