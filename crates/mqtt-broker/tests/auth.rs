//! Authentication (`password_file`, `allow_anonymous`) and authorisation (`acl_file`), with
//! password files written by Mosquitto's own `mosquitto_passwd`, and hostile clients.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Instant;

use bytes::Bytes;
use common::*;
use mqtt_broker::config::Config;
use mqtt_broker::server::Broker;
use mqtt_codec::*;
use test_support::TempDir;

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

/// A password file written by the real `mosquitto_passwd -b` (the first user with `-c`).
fn passwd(dir: &Path, users: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("passwd");
    let tool = test_support::tool("mosquitto_passwd");
    for (i, (user, password)) in users.iter().enumerate() {
        let mut cmd = Command::new(&tool);
        if i == 0 {
            cmd.arg("-c");
        }
        let status = cmd
            .args(["-b", path.to_str().unwrap(), user, password])
            .status()
            .unwrap();
        assert!(status.success(), "mosquitto_passwd failed for {user}");
    }
    path
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A broker whose listener has these security options.
async fn broker(pw: Option<&Path>, acl: Option<&Path>, anonymous: bool) -> TestBroker {
    TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.allow_anonymous = Some(anonymous);
            l.security.password_file = pw.map(Path::to_path_buf);
            l.security.acl_file = acl.map(Path::to_path_buf);
        }
    })
    .await
}

fn login(
    version: ProtocolVersion,
    id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Connect {
    let mut c = connect_packet(version, id, true);
    c.username = user.map(|u| MqttString::new(u).unwrap());
    c.password = password.map(|p| Bytes::copy_from_slice(p.as_bytes()));
    c
}

/// Sends CONNECT and returns the CONNACK's code and whether the connection was then closed.
async fn try_login(addr: SocketAddr, connect: Connect) -> (ReasonCode, bool) {
    let (mut c, ack) = RawClient::connect_with(addr, connect).await;
    if ack.reason_code == ReasonCode::Success {
        c.disconnect().await;
        (ack.reason_code, false)
    } else {
        // [MQTT-3.2.2-5] / 5.0 [MQTT-3.2.2-7]: a refusing CONNACK is followed by the close.
        let rest = c.until_closed().await;
        assert!(rest.is_empty(), "{rest:?}");
        (ack.reason_code, true)
    }
}

async fn user(
    addr: SocketAddr,
    version: ProtocolVersion,
    id: &str,
    name: &str,
    pw: &str,
) -> RawClient {
    let (c, ack) = RawClient::connect_with(addr, login(version, id, Some(name), Some(pw))).await;
    assert_eq!(ack.reason_code, ReasonCode::Success, "{name}");
    c
}

/// Publishes at QoS 1 or 2 and returns the acknowledgement's code, with the packets that
/// arrived before it (the client's own subscriptions may deliver the message first).
async fn publish_acked(
    c: &mut RawClient,
    topic: &str,
    payload: &str,
    qos: QoS,
) -> (ReasonCode, Vec<Packet>) {
    let id = PacketId::new(42).unwrap();
    c.send(Packet::Publish(Publish {
        qos: PublishQos::new(qos, id),
        topic: TopicName::new(topic).unwrap(),
        payload: payload.to_owned().into(),
        ..Publish::default()
    }))
    .await;
    let mut before = Vec::new();
    loop {
        match c.recv().await {
            Some(Packet::PubAck(a)) if a.packet_id == id => return (a.reason_code, before),
            Some(Packet::PubRec(r)) if r.packet_id == id => {
                if !r.reason_code.is_error() {
                    c.send(Packet::PubRel(PubRel::new(id))).await;
                    loop {
                        match c.recv().await {
                            Some(Packet::PubComp(_)) => break,
                            Some(p) => before.push(p),
                            None => panic!("closed"),
                        }
                    }
                }
                return (r.reason_code, before);
            }
            Some(p) => before.push(p),
            None => panic!("connection closed; got {before:?}"),
        }
    }
}

fn topics(packets: &[Packet]) -> Vec<String> {
    packets
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => format!(
                "{}={}",
                p.topic.as_str(),
                String::from_utf8_lossy(&p.payload)
            ),
            other => format!("{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn passwords_are_checked_and_refusals_use_each_versions_code() {
    let dir = TempDir::new("auth-pw");
    let pw = passwd(dir.path(), &[("alice", "secret"), ("bob", "hunter2")]);
    let b = broker(Some(&pw), None, false).await;
    // Over-long fields: the longest strings MQTT can carry (65,535 bytes).
    let long_user = "u".repeat(65_535);
    let long_password = "p".repeat(65_535);
    for version in [V4, V5] {
        assert_eq!(
            try_login(b.addr, login(version, "a", Some("alice"), Some("secret"))).await,
            (ReasonCode::Success, false)
        );
        for (case, user, password) in [
            (
                "over-long user name",
                Some(long_user.as_str()),
                Some("secret"),
            ),
            (
                "over-long password",
                Some("alice"),
                Some(long_password.as_str()),
            ),
        ] {
            assert_eq!(
                try_login(b.addr, login(version, "x", user, password)).await,
                (ReasonCode::NotAuthorized, true),
                "{case} ({version:?})"
            );
        }
        // 3.1.1: return code 5 "not authorized" (Mosquitto 2.0 uses it, not 4, for bad
        // passwords); 5.0: 0x87 Not authorized, as Mosquitto 2.0 [MQTT-3.2.2-6].
        for (case, user, password) in [
            ("wrong password", Some("alice"), Some("hunter2")),
            ("unknown user", Some("mallory"), Some("secret")),
            ("missing password", Some("alice"), None),
            ("empty user name", Some(""), Some("secret")),
            ("anonymous", None, None),
            ("other user's password", Some("bob"), Some("secret")),
        ] {
            assert_eq!(
                try_login(b.addr, login(version, "x", user, password)).await,
                (ReasonCode::NotAuthorized, true),
                "{case} ({version:?})"
            );
        }
    }
    b.stop().await;
}

#[tokio::test]
async fn refused_v311_connack_is_return_code_5_on_the_wire() {
    let dir = TempDir::new("auth-wire");
    let pw = passwd(dir.path(), &[("alice", "secret")]);
    let b = broker(Some(&pw), None, false).await;
    let mut c = RawClient::open(b.addr, V4).await;
    c.send(Packet::from(login(V4, "x", Some("alice"), Some("nope"))))
        .await;
    let mut bytes = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut c.stream, &mut bytes)
        .await
        .unwrap();
    assert_eq!(bytes, [0x20, 0x02, 0x00, 0x05]);
    b.stop().await;
}

#[tokio::test]
async fn allow_anonymous_true_with_a_password_file_still_checks_user_names() {
    let dir = TempDir::new("auth-anon");
    let pw = passwd(dir.path(), &[("alice", "secret")]);
    let b = broker(Some(&pw), None, true).await;
    assert_eq!(
        try_login(b.addr, login(V5, "anon", None, None)).await.0,
        ReasonCode::Success
    );
    assert_eq!(
        try_login(b.addr, login(V5, "x", Some("alice"), Some("bad")))
            .await
            .0,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        try_login(b.addr, login(V5, "x", Some("nobody"), Some("x")))
            .await
            .0,
        ReasonCode::NotAuthorized
    );
    b.stop().await;
}

#[tokio::test]
async fn a_flood_of_failed_logins_leaves_the_broker_responsive() {
    let dir = TempDir::new("auth-flood");
    let pw = passwd(dir.path(), &[("alice", "secret")]);
    let b = broker(Some(&pw), None, false).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300 {
        let addr = b.addr;
        tasks.spawn(async move {
            let pass = format!("guess{i}");
            try_login(
                addr,
                login(V4, &format!("f{i}"), Some("alice"), Some(&pass)),
            )
            .await
        });
    }
    // Meanwhile a legitimate client works normally.
    let mut ok = user(b.addr, V5, "ok", "alice", "secret").await;
    ok.subscribe("t", QoS::AtLeastOnce).await;
    ok.publish("t", "hello", QoS::AtMostOnce, false).await;
    assert_eq!(ok.expect_publish().await.payload, "hello".as_bytes());
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap(), (ReasonCode::NotAuthorized, true));
    }
    assert_eq!(
        try_login(b.addr, login(V4, "after", Some("alice"), Some("secret")))
            .await
            .0,
        ReasonCode::Success
    );
    b.stop().await;
}

const ACL: &str = "\
# anonymous section
topic read public/#
topic write anon/in

user alice
topic alice/#
topic read public/#
topic deny alice/secret
topic read $SYS/broker/version

user bob
topic write public/#
topic read alice/shared
topic readwrite r/#

pattern readwrite devices/%c/#
pattern read inbox/%u
";

async fn acl_broker(dir: &TempDir) -> TestBroker {
    let pw = passwd(
        dir.path(),
        &[("alice", "a-pass"), ("bob", "b-pass"), ("carol", "c-pass")],
    );
    let acl = write(dir.path(), "acl", ACL);
    broker(Some(&pw), Some(&acl), true).await
}

#[tokio::test]
async fn denied_publish_is_dropped_in_311_and_refused_with_0x87_in_5() {
    let dir = TempDir::new("auth-pub");
    let b = acl_broker(&dir).await;
    let mut reader = user(b.addr, V5, "reader", "alice", "a-pass").await;
    assert_eq!(
        reader
            .subscribe("public/#", QoS::AtLeastOnce)
            .await
            .reason_codes,
        [ReasonCode::GrantedQoS1]
    );

    // alice may not write public/ (read only): 3.1.1 gets its PUBACK as usual, nothing routed.
    let mut v4 = user(b.addr, V4, "alice-v4", "alice", "a-pass").await;
    v4.publish("public/a", "denied", QoS::AtLeastOnce, false)
        .await;
    v4.publish("public/a", "denied", QoS::ExactlyOnce, false)
        .await;
    // 5.0: PUBACK / PUBREC with 0x87 Not authorized.
    let mut v5 = user(b.addr, V5, "alice-v5", "alice", "a-pass").await;
    let id = PacketId::new(9).unwrap();
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        v5.send(Packet::Publish(Publish {
            qos: PublishQos::new(qos, id),
            topic: TopicName::new("public/b").unwrap(),
            payload: "denied".into(),
            ..Publish::default()
        }))
        .await;
        match (qos, v5.recv().await) {
            (QoS::AtLeastOnce, Some(Packet::PubAck(a))) => {
                assert_eq!(a.reason_code, ReasonCode::NotAuthorized)
            }
            (QoS::ExactlyOnce, Some(Packet::PubRec(r))) => {
                assert_eq!(r.reason_code, ReasonCode::NotAuthorized);
                // A PUBREC with an error code ends the flow (spec 4.3.3): no PUBREL.
            }
            other => panic!("{other:?}"),
        }
    }
    v5.publish("public/a", "denied", QoS::AtMostOnce, false)
        .await;
    assert!(v5.sync().await.is_empty());
    assert!(reader.sync().await.is_empty());

    // bob may write public/#: delivered.
    let mut bob = user(b.addr, V4, "bob", "bob", "b-pass").await;
    bob.publish("public/a", "ok", QoS::AtLeastOnce, false).await;
    assert_eq!(topics(&reader.sync().await), ["public/a=ok"]);
    b.stop().await;
}

#[tokio::test]
async fn read_write_deny_and_the_anonymous_section() {
    let dir = TempDir::new("auth-rwd");
    let b = acl_broker(&dir).await;
    let mut alice = user(b.addr, V5, "alice", "alice", "a-pass").await;
    assert_eq!(
        alice
            .subscribe("alice/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::Success]
    );
    let mut bob = user(b.addr, V5, "bob", "bob", "b-pass").await;
    assert_eq!(
        bob.subscribe("alice/shared", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::Success]
    );

    // alice writes her tree; "deny alice/secret" wins over "alice/#" for reading and writing.
    alice.publish("alice/x", "1", QoS::AtMostOnce, false).await;
    alice
        .publish("alice/shared", "2", QoS::AtMostOnce, false)
        .await;
    assert_eq!(topics(&alice.sync().await), ["alice/x=1", "alice/shared=2"]);
    assert_eq!(topics(&bob.sync().await), ["alice/shared=2"]);
    let mut anon = RawClient::connect(b.addr, V5, "anon").await;
    assert_eq!(
        anon.subscribe("public/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::Success]
    );
    // Anonymous clients get the section before the first `user` line: write anon/in only.
    assert_eq!(
        anon.subscribe("alice/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::NotAuthorized]
    );
    let mut anon_pub = RawClient::connect(b.addr, V5, "anon-pub").await;
    anon_pub
        .publish("anon/in", "ok", QoS::AtMostOnce, false)
        .await;
    let got = anon_pub.sync().await;
    assert!(got.is_empty(), "{got:?}");
    bob.publish("public/news", "n", QoS::AtMostOnce, false)
        .await;
    assert!(bob.sync().await.is_empty());
    assert_eq!(topics(&anon.sync().await), ["public/news=n"]);
    // alice/secret: alice cannot publish there (0x87) and would not receive it either.
    assert_eq!(
        publish_acked(&mut alice, "alice/secret", "s", QoS::AtLeastOnce).await,
        (ReasonCode::NotAuthorized, vec![])
    );
    assert_eq!(
        publish_acked(&mut alice, "alice/secret", "s", QoS::ExactlyOnce).await,
        (ReasonCode::NotAuthorized, vec![])
    );
    // With a subscription of its own, the allowed publish comes back before its PUBACK.
    let (code, before) = publish_acked(&mut alice, "alice/y", "3", QoS::AtLeastOnce).await;
    assert_eq!(
        (code, topics(&before)),
        (ReasonCode::Success, vec!["alice/y=3".to_owned()])
    );
    assert!(alice.sync().await.is_empty());
    // A user of the password file without a section in the ACL file has no rules (the
    // anonymous section is not theirs); the patterns still apply.
    let mut carol = user(b.addr, V5, "carol", "carol", "c-pass").await;
    assert_eq!(
        carol
            .subscribe("public/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::NotAuthorized]
    );
    assert_eq!(
        publish_acked(&mut carol, "anon/in", "x", QoS::AtLeastOnce)
            .await
            .0,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        publish_acked(&mut carol, "devices/carol/x", "x", QoS::AtLeastOnce)
            .await
            .0,
        ReasonCode::NoMatchingSubscribers
    );
    b.stop().await;
}

#[tokio::test]
async fn subscribing_beyond_ones_rights_gets_a_suback_failure() {
    let dir = TempDir::new("auth-sub");
    let b = acl_broker(&dir).await;
    // 3.1.1: 0x80 Failure [MQTT-3.9.3-2]; 5.0: 0x87 Not authorized.
    let mut v4 = user(b.addr, V4, "alice4", "alice", "a-pass").await;
    let mut s = Subscribe::new(
        PacketId::new(5).unwrap(),
        ["#", "alice/#", "+/x", "public/+", "$SYS/#"]
            .iter()
            .map(|f| {
                (
                    TopicFilter::new(*f).unwrap(),
                    SubscriptionOptions::with_qos(QoS::AtLeastOnce),
                )
            })
            .collect(),
    );
    v4.send(Packet::Subscribe(s.clone())).await;
    let Some(Packet::SubAck(ack)) = v4.recv().await else {
        panic!()
    };
    assert_eq!(
        ack.reason_codes,
        [
            ReasonCode::UnspecifiedError,
            ReasonCode::GrantedQoS1,
            ReasonCode::UnspecifiedError,
            ReasonCode::GrantedQoS1,
            ReasonCode::UnspecifiedError,
        ]
    );
    let mut v5 = user(b.addr, V5, "alice5", "alice", "a-pass").await;
    s.packet_id = PacketId::new(6).unwrap();
    v5.send(Packet::Subscribe(s)).await;
    let Some(Packet::SubAck(ack)) = v5.recv().await else {
        panic!()
    };
    assert_eq!(ack.reason_codes[0], ReasonCode::NotAuthorized);
    assert_eq!(ack.reason_codes[4], ReasonCode::NotAuthorized);
    // Nothing published under "#" reaches them through the refused subscription.
    let mut bob = user(b.addr, V5, "bob", "bob", "b-pass").await;
    bob.publish("r/x", "private", QoS::AtLeastOnce, false).await;
    assert!(v4.sync().await.is_empty());
    assert!(v5.sync().await.is_empty());
    b.stop().await;
}

#[tokio::test]
async fn sys_topics_need_an_explicit_dollar_rule() {
    let dir = TempDir::new("auth-sys");
    let pw = passwd(dir.path(), &[("alice", "a-pass"), ("admin", "x")]);
    let acl = write(
        dir.path(),
        "acl",
        "user admin\ntopic #\ntopic read $SYS/#\nuser alice\ntopic #\n",
    );
    let b = broker(Some(&pw), Some(&acl), false).await;
    // "#" does not give $SYS (a topic starting with '$' needs a rule starting with '$').
    let mut alice = user(b.addr, V5, "alice", "alice", "a-pass").await;
    assert_eq!(
        alice
            .subscribe("$SYS/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::NotAuthorized]
    );
    assert_eq!(
        alice.subscribe("#", QoS::AtMostOnce).await.reason_codes,
        [ReasonCode::Success]
    );
    let mut admin = user(b.addr, V5, "admin", "admin", "x").await;
    assert_eq!(
        admin
            .subscribe("$SYS/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::Success]
    );
    // Nobody may publish into $SYS without a write rule for it.
    admin
        .publish("$SYS/fake", "x", QoS::AtMostOnce, false)
        .await;
    alice
        .publish("$SYS/fake", "x", QoS::AtMostOnce, false)
        .await;
    assert!(admin
        .sync()
        .await
        .iter()
        .all(|p| !matches!(p, Packet::Publish(p) if p.topic.as_str() == "$SYS/fake")));
    b.stop().await;
}

#[tokio::test]
async fn patterns_substitute_client_id_and_user_name_and_resist_spoofing() {
    let dir = TempDir::new("auth-pattern");
    let b = acl_broker(&dir).await;
    // Anonymous clients too get the patterns: devices/<own id>/# readwrite.
    let mut d1 = RawClient::connect(b.addr, V5, "d1").await;
    assert_eq!(
        d1.subscribe("devices/d1/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::Success]
    );
    assert_eq!(
        d1.subscribe("devices/d2/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::NotAuthorized]
    );
    assert_eq!(
        d1.subscribe("devices/+/#", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::NotAuthorized]
    );
    d1.publish("devices/d1/t", "own", QoS::AtMostOnce, false)
        .await;
    assert_eq!(topics(&d1.sync().await), ["devices/d1/t=own"]);
    // Client ids that would widen or move the pattern get nothing from any pattern.
    for spoof in ["+", "#", "d1/x", "+/#"] {
        let mut c = RawClient::connect(b.addr, V5, spoof).await;
        let id = PacketId::new(1).unwrap();
        c.send(Packet::Publish(Publish {
            qos: PublishQos::new(QoS::AtLeastOnce, id),
            topic: TopicName::new("devices/d1/t").unwrap(),
            payload: "spoofed".into(),
            ..Publish::default()
        }))
        .await;
        assert!(
            matches!(c.recv().await, Some(Packet::PubAck(a)) if a.reason_code == ReasonCode::NotAuthorized),
            "{spoof}"
        );
        let sub = format!("devices/{spoof}");
        if TopicFilter::new(sub.as_str()).is_ok() {
            assert_eq!(
                c.subscribe(&sub, QoS::AtMostOnce).await.reason_codes,
                [ReasonCode::NotAuthorized],
                "{spoof}"
            );
        }
    }
    assert!(d1.sync().await.is_empty());
    // %u: inbox/<user name>, and nothing for anonymous clients.
    let mut alice = user(b.addr, V5, "alice", "alice", "a-pass").await;
    assert_eq!(
        alice
            .subscribe("inbox/alice", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::Success]
    );
    assert_eq!(
        alice
            .subscribe("inbox/bob", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::NotAuthorized]
    );
    assert_eq!(
        d1.subscribe("inbox/alice", QoS::AtMostOnce)
            .await
            .reason_codes,
        [ReasonCode::NotAuthorized]
    );
    b.stop().await;
}

#[tokio::test]
async fn retained_messages_and_wills_are_only_delivered_to_readers() {
    let dir = TempDir::new("auth-retained");
    let pw = passwd(dir.path(), &[("admin", "x"), ("reader", "r"), ("dev", "d")]);
    let acl = write(
        dir.path(),
        "acl",
        "user admin\ntopic #\nuser reader\ntopic read a/#\ntopic deny a/secret\n\
         user dev\ntopic write a/#\ntopic write status/dev\n",
    );
    let b = broker(Some(&pw), Some(&acl), false).await;
    let mut admin = user(b.addr, V5, "admin", "admin", "x").await;
    admin.publish("a/public", "p", QoS::AtLeastOnce, true).await;
    admin.publish("a/secret", "s", QoS::AtLeastOnce, true).await;
    let mut reader = user(b.addr, V5, "reader", "reader", "r").await;
    assert_eq!(
        reader.subscribe("a/#", QoS::AtMostOnce).await.reason_codes,
        [ReasonCode::Success]
    );
    // [MQTT-3.3.1-6] retained messages on subscribe, but not the unreadable one.
    assert_eq!(topics(&reader.sync().await), ["a/public=p"]);
    assert_eq!(
        admin.subscribe("#", QoS::AtMostOnce).await.reason_codes,
        [ReasonCode::Success]
    );
    let got = topics(&admin.sync().await);
    assert!(got.contains(&"a/secret=s".to_owned()), "{got:?}");

    // Wills: one the reader may not read, one its client may not write, one allowed.
    for (id, topic) in [("w1", "a/secret"), ("w2", "elsewhere/x"), ("w3", "a/will")] {
        let mut c = login(V5, id, Some("dev"), Some("d"));
        c.will = Some(LastWill {
            topic: TopicName::new(topic).unwrap(),
            payload: Bytes::from_static(b"gone"),
            ..LastWill::default()
        });
        let (conn, ack) = RawClient::connect_with(b.addr, c).await;
        assert_eq!(ack.reason_code, ReasonCode::Success);
        // Closed without DISCONNECT: the will is due [MQTT-3.1.2-8].
        drop(conn);
    }
    // The allowed will reaches the reader; the others reach nobody (the admin, who reads
    // everything, sees only what dev could write).
    let first = reader.expect_publish().await;
    assert_eq!(first.topic.as_str(), "a/will");
    assert!(reader.sync().await.is_empty());
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let p = admin.expect_publish().await;
        seen.push(p.topic.as_str().to_owned());
    }
    seen.sort();
    assert_eq!(seen, ["a/secret", "a/will"]);
    assert!(admin.sync().await.is_empty());
    b.stop().await;
}

#[tokio::test]
async fn per_listener_settings_give_each_listener_its_own_files() {
    let dir = TempDir::new("auth-per-listener");
    let pw = passwd(dir.path(), &[("alice", "secret")]);
    let (open, closed) = (test_support::free_port(), test_support::free_port());
    let conf = format!(
        "per_listener_settings true\nlistener {open} 127.0.0.1\nallow_anonymous true\n\
         listener {closed} 127.0.0.1\npassword_file {}\n",
        pw.display()
    );
    let config = Config::parse_mosquitto(&conf, Path::new("test.conf"))
        .unwrap()
        .config;
    let broker = Broker::bind(config).await.unwrap();
    let addrs: Vec<SocketAddr> = [open, closed]
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
        .to_vec();
    let shutdown = broker.shutdown_handle();
    let task = tokio::spawn(broker.run());
    assert_eq!(
        try_login(addrs[0], login(V5, "a", None, None)).await.0,
        ReasonCode::Success
    );
    assert_eq!(
        try_login(addrs[1], login(V5, "a", None, None)).await.0,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        try_login(addrs[1], login(V5, "a", Some("alice"), Some("secret")))
            .await
            .0,
        ReasonCode::Success
    );
    let _ = shutdown.send(true);
    let _ = tokio::time::timeout(WAIT, task).await;
}

#[tokio::test]
async fn bad_files_at_start_refuse_to_start_naming_file_and_line() {
    let dir = TempDir::new("auth-bad");
    let acl_cases = [
        ("topic a/b\nuser x\nbogus line\n", 3),
        ("topic rw a/b\n", 1),
        ("\ntopic read a/#/b\n", 2),
    ];
    for (text, line) in acl_cases {
        let acl = write(dir.path(), "acl", text);
        let mut config = Config::local_only(Some(0));
        for l in &mut config.listeners {
            l.security.acl_file = Some(acl.clone());
        }
        let err = Broker::bind(config)
            .await
            .err()
            .expect("should refuse")
            .to_string();
        assert!(err.contains(&format!("{}:{line}", acl.display())), "{err}");
    }
    let pw = write(
        dir.path(),
        "pw",
        "alice:$7$101$AAAAAAAAAAAAAAAA$x\nbob:$9$weird\n",
    );
    let missing = dir.path().join("does-not-exist");
    for (path, needle) in [
        (&pw, format!("{}:", pw.display())),
        (&missing, missing.display().to_string()),
    ] {
        let mut config = Config::local_only(Some(0));
        for l in &mut config.listeners {
            l.security.password_file = Some(path.clone());
        }
        let err = Broker::bind(config)
            .await
            .err()
            .expect("should refuse")
            .to_string();
        assert!(err.contains(&needle), "{err}");
    }
}

// ---- The binary: SIGHUP, start-up refusal, Mosquitto's command-line clients. ----

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-broker");

struct Running(Child, std::sync::mpsc::Receiver<String>);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn start(conf: &Path) -> Running {
        let (child, rx) = common::process::spawn_logged(BIN, conf);
        let mut r = Running(child, rx);
        r.wait_for("listen socket on port");
        r
    }

    fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .1
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("broker did not log {needle:?}: {lines:?}"));
            let done = line.contains(needle);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    fn sighup(&self) {
        assert!(Command::new("kill")
            .args(["-HUP", &self.0.id().to_string()])
            .status()
            .unwrap()
            .success());
    }
}

fn classic_conf(dir: &Path, port: u16, pw: &Path, acl: Option<&Path>) -> PathBuf {
    let mut text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
        pw.display()
    );
    if let Some(acl) = acl {
        text.push_str(&format!("acl_file {}\n", acl.display()));
    }
    write(dir, "broker.conf", &text)
}

#[tokio::test]
async fn sighup_reloads_the_password_file_without_dropping_connections() {
    let dir = TempDir::new("auth-hup");
    let pw = passwd(dir.path(), &[("alice", "old")]);
    let port = test_support::free_port();
    let conf = classic_conf(dir.path(), port, &pw, None);
    let mut b = Running::start(&conf);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut alice = user(addr, V5, "alice", "alice", "old").await;
    alice.subscribe("t", QoS::AtLeastOnce).await;

    // New password (written by mosquitto_passwd, in place), then SIGHUP.
    passwd(dir.path(), &[("alice", "new"), ("bob", "b")]);
    b.sighup();
    b.wait_for("Config reloaded from");
    assert_eq!(
        try_login(addr, login(V5, "x", Some("alice"), Some("old")))
            .await
            .0,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        try_login(addr, login(V5, "x", Some("bob"), Some("b")))
            .await
            .0,
        ReasonCode::Success
    );
    // The connection made with the old password is still there and served.
    alice
        .publish("t", "still here", QoS::AtMostOnce, false)
        .await;
    assert_eq!(
        alice.expect_publish().await.payload,
        "still here".as_bytes()
    );

    // A broken file: logged with file and line, the loaded one stays in force.
    std::fs::write(&pw, "bob:$7$101$AAAA$broken\n").unwrap();
    b.sighup();
    let lines = b.wait_for("keeping the running configuration");
    let at = format!("{}:1", pw.display());
    assert!(lines.iter().any(|l| l.contains(&at)), "{lines:?}");
    assert_eq!(
        try_login(addr, login(V4, "y", Some("alice"), Some("new")))
            .await
            .0,
        ReasonCode::Success
    );
    alice
        .publish("t", "and still", QoS::AtMostOnce, false)
        .await;
    assert_eq!(alice.expect_publish().await.payload, "and still".as_bytes());

    // The ACL file too: added on reload, it applies to the connected client at once.
    passwd(dir.path(), &[("alice", "new")]);
    let acl = write(dir.path(), "acl", "user alice\ntopic read t\n");
    classic_conf(dir.path(), port, &pw, Some(&acl));
    b.sighup();
    b.wait_for("Config reloaded from");
    alice
        .publish("t", "read only now", QoS::AtMostOnce, false)
        .await;
    assert!(alice.sync().await.is_empty());
    // A broken ACL file on reload: file:line logged, the previous one stays.
    write(
        dir.path(),
        "acl",
        "user alice\ntopic readwrite t\ntopic maybe t\n",
    );
    b.sighup();
    let lines = b.wait_for("keeping the running configuration");
    let at = format!("{}:3", acl.display());
    assert!(lines.iter().any(|l| l.contains(&at)), "{lines:?}");
    alice
        .publish("t", "still read only", QoS::AtMostOnce, false)
        .await;
    assert!(alice.sync().await.is_empty());
}

#[test]
fn the_binary_refuses_to_start_with_a_bad_acl_file() {
    let dir = TempDir::new("auth-bin-bad");
    let pw = passwd(dir.path(), &[("alice", "a")]);
    let acl = write(dir.path(), "acl", "topic a\n\nfrobnicate b\n");
    let conf = classic_conf(dir.path(), test_support::free_port(), &pw, Some(&acl));
    let out = Command::new(BIN)
        .args(["-c", conf.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:3", acl.display())), "{stderr}");
}

#[test]
fn mosquitto_clients_authenticate_with_u_and_p() {
    let dir = TempDir::new("auth-clients");
    let pw = passwd(dir.path(), &[("alice", "secret")]);
    let port = test_support::free_port();
    let conf = classic_conf(dir.path(), port, &pw, None);
    let mut b = Running::start(&conf);
    let port_s = port.to_string();
    let base = ["-h", "127.0.0.1", "-p", port_s.as_str(), "-u", "alice"];

    // Right password: mosquitto_sub gets what mosquitto_pub sends (retained, so no race).
    let publish = Command::new(test_support::tool("mosquitto_pub"))
        .args(base)
        .args(["-P", "secret", "-t", "greet", "-m", "hi", "-r", "-q", "1"])
        .output()
        .unwrap();
    assert!(publish.status.success(), "{publish:?}");
    let sub = Command::new(test_support::tool("mosquitto_sub"))
        .args(base)
        .args(["-P", "secret", "-t", "greet", "-C", "1", "-W", "10"])
        .output()
        .unwrap();
    assert!(sub.status.success(), "{sub:?}");
    assert_eq!(String::from_utf8_lossy(&sub.stdout), "hi\n");

    // Wrong password: Mosquitto's message and exit code (5 = CONNACK "not authorised").
    for (tool, extra) in [
        ("mosquitto_sub", ["-t", "greet"]),
        ("mosquitto_pub", ["-t", "greet"]),
    ] {
        let mut cmd = Command::new(test_support::tool(tool));
        cmd.args(base).args(["-P", "wrong"]).args(extra);
        if tool == "mosquitto_pub" {
            cmd.args(["-m", "x"]);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("Connection error: Connection Refused: not authorised."),
            "{tool}: {stderr}"
        );
        assert_eq!(out.status.code(), Some(5), "{tool}: {stderr}");
    }
    // The failed attempts are logged with user name and address, never the password.
    let lines = b.wait_for("refused");
    let line = lines.last().unwrap();
    assert!(
        line.contains("'alice'") && line.contains("127.0.0.1"),
        "{line}"
    );
    assert!(!line.contains("wrong"), "{line}");
}
