//! Interop with Mosquitto's own clients (`mosquitto_pub`, `mosquitto_sub`, `mosquitto_rr` from
//! the Debian package mosquitto-clients) against our broker. Fails loudly when they are missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use mqtt_codec::*;
use tokio::process::{Child, Command};

fn tool(name: &str) -> Command {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} is required: apt-get install mosquitto-clients (scripts/test-all.sh does it)"
    );
    Command::new(name)
}

fn port(b: &TestBroker) -> String {
    b.addr.port().to_string()
}

/// Starts `mosquitto_sub` with client id `id` and waits until its subscription is in place
/// (by asking the broker; the poll interval only bounds the reaction time).
async fn subscriber(broker: &TestBroker, hub: &mqtt_broker::Hub, id: &str, args: &[&str]) -> Child {
    let child = tool("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port(broker), "-i", id])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::timeout(WAIT, async {
        while hub.subscriptions_of(id) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("mosquitto_sub did not subscribe");
    child
}

async fn publish(broker: &TestBroker, args: &[&str]) {
    let out = tool("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port(broker)])
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "mosquitto_pub {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn output(child: Child) -> String {
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("mosquitto_sub did not finish")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_pub_and_sub_every_version_and_qos() {
    let (broker, hub) = TestBroker::start_with_hub().await;
    for version in ["mqttv31", "mqttv311", "mqttv5"] {
        for qos in ["0", "1", "2"] {
            let topic = format!("interop/{version}/{qos}");
            let id = format!("sub-{version}-{qos}");
            let sub = subscriber(
                &broker,
                &hub,
                &id,
                &["-V", version, "-q", qos, "-t", &topic, "-C", "1", "-v"],
            )
            .await;
            publish(
                &broker,
                &["-V", version, "-q", qos, "-t", &topic, "-m", "hello world"],
            )
            .await;
            assert_eq!(
                output(sub).await,
                format!("{topic} hello world\n"),
                "{version} QoS {qos}"
            );
        }
    }
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_messages_with_mosquitto_clients() {
    let (broker, _hub) = TestBroker::start_with_hub().await;
    publish(
        &broker,
        &["-t", "interop/retained", "-m", "kept", "-r", "-q", "1"],
    )
    .await;
    let out = tool("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(&broker),
            "-t",
            "interop/retained",
            "-C",
            "1",
            "-F",
            "%r %t %p",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 interop/retained kept\n"
    );
    // --remove-retained clears it; --retained-only then finds nothing within -W.
    publish(&broker, &["-t", "interop/retained", "-n", "-r"]).await;
    let out = tool("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(&broker),
            "-t",
            "interop/retained",
            "--retained-only",
            "-W",
            "1",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_rr_request_response() {
    // MQTT 5 request/response: Response Topic and Correlation Data pass through unchanged.
    let (broker, _hub) = TestBroker::start_with_hub().await;
    let mut responder = RawClient::connect(broker.addr, ProtocolVersion::V5, "responder").await;
    responder
        .subscribe("interop/request", QoS::AtMostOnce)
        .await;
    let rr = tool("mosquitto_rr")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(&broker),
            "-t",
            "interop/request",
            "-e",
            "interop/response",
            "-m",
            "ping",
            "-W",
            "5",
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let request = responder.expect_publish().await;
    assert_eq!(request.payload, "ping");
    let response_topic = request
        .properties
        .response_topic
        .clone()
        .expect("response topic");
    assert_eq!(response_topic, "interop/response");
    let reply = Publish {
        topic: response_topic,
        payload: "pong".into(),
        properties: PublishProperties {
            correlation_data: request.properties.correlation_data.clone(),
            ..Default::default()
        }
        .into(),
        ..Publish::default()
    };
    responder.send(Packet::Publish(reply)).await;
    assert_eq!(output(rr).await, "pong\n");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_of_a_killed_mosquitto_sub_is_published() {
    let (broker, hub) = TestBroker::start_with_hub().await;
    let mut watcher = RawClient::connect(broker.addr, ProtocolVersion::V3_1_1, "watcher").await;
    watcher.subscribe("interop/will", QoS::AtLeastOnce).await;
    let mut victim = subscriber(
        &broker,
        &hub,
        "victim",
        &[
            "-t",
            "interop/ignored",
            "--will-topic",
            "interop/will",
            "--will-payload",
            "died",
            "--will-qos",
            "1",
        ],
    )
    .await;
    victim.kill().await.unwrap();
    let will = watcher.expect_publish().await;
    assert_eq!(will.payload, "died");
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_and_unsupported_options_are_reported_as_mosquitto_does() {
    // A broker that refuses anonymous clients: mosquitto_pub exits non-zero with
    // "Connection error: Connection Refused: not authorised."
    let broker = TestBroker::with_config(|c| {
        for l in &mut c.listeners {
            l.security.allow_anonymous = Some(false);
        }
    })
    .await;
    let out = tool("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port(&broker),
            "-t",
            "x",
            "-m",
            "y",
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not authorised"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    broker.stop().await;
}
