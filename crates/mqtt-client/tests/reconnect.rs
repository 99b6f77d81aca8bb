//! Automatic reconnection: the client talks to Mosquitto through a TCP relay that the test can
//! cut (every connection dropped, as a network failure would) or turn into a black hole for
//! what the client sends. Mosquitto must be installed; the test fails loudly otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt_client::{connect, ClientOptions, Direction, PacketObserver, Reconnect, Transport};
use mqtt_codec::{Packet, ProtocolVersion, QoS, TopicFilter, TopicName};
use test_support::Mosquitto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A relay in front of the broker.
struct Relay {
    addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// While set, bytes from the client are read and thrown away.
    black_hole: Arc<AtomicBool>,
    /// The next connection accepted throws away everything the client sends on it.
    swallow_next: Arc<AtomicBool>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let black_hole = Arc::new(AtomicBool::new(false));
        let swallow_next = Arc::new(AtomicBool::new(false));
        let (t, b, sn) = (tasks.clone(), black_hole.clone(), swallow_next.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(upstream).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let b = b.clone();
                let swallow = sn.swap(false, Ordering::SeqCst);
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if swallow || b.load(Ordering::SeqCst) {
                            continue;
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                let down = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                });
                t.lock().unwrap().extend([up, down]);
            }
        });
        Relay {
            addr,
            tasks,
            black_hole,
            swallow_next,
        }
    }

    /// Drops every relayed connection, both ways, like a failed network.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

/// Options through `relay` with fast reconnection and an observer that reports each CONNACK
/// (its Session Present flag) and each PUBLISH the client sends (its DUP flag).
fn options(relay: &Relay, id: &str, clean: bool) -> (ClientOptions, mpsc::UnboundedReceiver<Seen>) {
    let mut o = ClientOptions::new(Transport::Tcp {
        host: relay.addr.ip().to_string(),
        port: relay.addr.port(),
    })
    .version(ProtocolVersion::V3_1_1);
    o.connect.client_id = id.try_into().unwrap();
    o.connect.clean_start = clean;
    o.reconnect = Some(Reconnect {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
    });
    let (tx, rx) = mpsc::unbounded_channel();
    o.observer = Some(PacketObserver::new(move |direction, packet| {
        let seen = match (direction, packet) {
            (Direction::Received, Packet::ConnAck(c)) => Seen::ConnAck {
                session_present: c.session_present,
            },
            (Direction::Sent, Packet::Publish(p)) => Seen::Publish { dup: p.dup },
            (Direction::Sent, Packet::Subscribe(_)) => Seen::Subscribe,
            (Direction::Sent, Packet::Connect(_)) => Seen::Connect,
            _ => return,
        };
        let _ = tx.send(seen);
    }));
    (o, rx)
}

#[derive(Debug, PartialEq, Eq)]
enum Seen {
    ConnAck { session_present: bool },
    Publish { dup: bool },
    Subscribe,
    Connect,
}

/// The next observation other than a CONNECT.
async fn next(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    loop {
        match next_any(seen).await {
            Seen::Connect => continue,
            other => return other,
        }
    }
}

async fn next_any(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Seen {
    tokio::time::timeout(Duration::from_secs(15), seen.recv())
        .await
        .expect("timed out waiting for the client")
        .expect("observer gone")
}

fn filter(s: &str) -> TopicFilter {
    TopicFilter::new(s).unwrap()
}

fn topic(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

#[tokio::test]
async fn a_clean_session_subscriber_subscribes_again_after_the_network_fails() {
    let broker = Mosquitto::start();
    let relay = Relay::start(broker.addr()).await;
    let (o, mut seen) = options(&relay, "resub", true);
    let (client, mut messages, _) = connect(o).await.unwrap();
    assert_eq!(
        next(&mut seen).await,
        Seen::ConnAck {
            session_present: false
        }
    );
    client
        .subscribe_one(filter("r/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(next(&mut seen).await, Seen::Subscribe);
    let mut status = client.connection_status();
    assert!(*status.borrow_and_update(), "connected");

    relay.cut();
    // Client::connection_status follows the loss and the reconnection.
    let wait = |s: &mut tokio::sync::watch::Receiver<bool>, want: bool| {
        let mut s = s.clone();
        async move {
            tokio::time::timeout(Duration::from_secs(15), s.wait_for(|up| *up == want))
                .await
                .unwrap()
                .unwrap();
        }
    };
    // The server kept nothing (Clean Session), so the client subscribes again by itself.
    assert_eq!(
        next(&mut seen).await,
        Seen::ConnAck {
            session_present: false
        }
    );
    assert_eq!(next(&mut seen).await, Seen::Subscribe);
    // It went down and up again (a watch keeps only the latest value, so "down" itself may
    // be gone already; only the loss and the reconnection's CONNACK change it).
    assert!(status.has_changed().unwrap(), "the loss was not reported");
    wait(&mut status, true).await;

    // A second client publishes once the subscription is back (the SUBACK precedes any
    // delivery on that connection, and Mosquitto handles one client's packets in order).
    let (publisher, _, _) = connect(ClientOptions::new(Transport::Tcp {
        host: "127.0.0.1".into(),
        port: broker.port(),
    }))
    .await
    .unwrap();
    // Retained, so that it arrives even if the re-subscription is processed after the publish.
    publisher
        .publish(topic("r/1"), "after", QoS::AtLeastOnce, true)
        .await
        .unwrap()
        .await
        .unwrap();
    let m = tokio::time::timeout(Duration::from_secs(15), messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.topic.as_str(), "r/1");
    assert_eq!(&m.payload[..], b"after");
    client.disconnect().await.unwrap();
    wait(&mut status, false).await;
}

#[tokio::test]
async fn an_unacknowledged_qos1_message_is_sent_again_with_dup_on_the_resumed_session() {
    // [MQTT-4.4.0-1] on reconnect with Clean Session 0 the client re-sends unacknowledged
    // PUBLISH packets, with DUP set [MQTT-3.3.1-1].
    let broker = Mosquitto::start();
    let relay = Relay::start(broker.addr()).await;
    let (o, mut seen) = options(&relay, "resend", false);
    let (client, _, _) = connect(o).await.unwrap();
    assert!(matches!(next(&mut seen).await, Seen::ConnAck { .. }));

    relay.black_hole.store(true, Ordering::SeqCst);
    let delivery = client
        .publish(topic("q/1"), "lost once", QoS::AtLeastOnce, false)
        .await
        .unwrap();
    assert_eq!(next(&mut seen).await, Seen::Publish { dup: false });
    relay.black_hole.store(false, Ordering::SeqCst);
    relay.cut();

    assert_eq!(
        next(&mut seen).await,
        Seen::ConnAck {
            session_present: true
        }
    );
    assert_eq!(next(&mut seen).await, Seen::Publish { dup: true });
    let outcome = tokio::time::timeout(Duration::from_secs(15), delivery)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.reason_code, mqtt_codec::ReasonCode::Success);
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn disconnecting_while_offline_ends_the_client() {
    let broker = Mosquitto::start();
    let relay = Relay::start(broker.addr()).await;
    let (mut o, mut seen) = options(&relay, "offline", true);
    // Long enough that the test would time out if `disconnect` waited for a reconnection.
    o.reconnect = Some(Reconnect {
        min_delay: Duration::from_secs(3600),
        max_delay: Duration::from_secs(3600),
    });
    let (client, _, _) = connect(o).await.unwrap();
    assert!(matches!(next(&mut seen).await, Seen::ConnAck { .. }));
    relay.cut();
    tokio::time::timeout(Duration::from_secs(15), client.disconnect())
        .await
        .expect("disconnect waited for the network")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(15), client.closed())
        .await
        .expect("client did not end");
}

#[tokio::test]
async fn without_reconnect_a_lost_connection_ends_the_client() {
    let broker = Mosquitto::start();
    let relay = Relay::start(broker.addr()).await;
    let (mut o, _seen) = options(&relay, "once", true);
    o.reconnect = None;
    let (client, mut messages, _) = connect(o).await.unwrap();
    relay.cut();
    let end = tokio::time::timeout(Duration::from_secs(15), messages.recv())
        .await
        .unwrap();
    assert!(end.is_none(), "the message stream ends with the connection");
    tokio::time::timeout(Duration::from_secs(15), client.closed())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reconnection_without_connack_is_abandoned_and_retried() {
    let broker = Mosquitto::start();
    let relay = Relay::start(broker.addr()).await;
    let (mut o, mut seen) = options(&relay, "unanswered", true);
    o.connect_timeout = Duration::from_millis(300);
    let (client, _, _) = connect(o).await.unwrap();
    assert_eq!(next_any(&mut seen).await, Seen::Connect);
    assert!(matches!(next_any(&mut seen).await, Seen::ConnAck { .. }));
    // The relay accepts the next connection but swallows its CONNECT: no CONNACK comes.
    relay.swallow_next.store(true, Ordering::SeqCst);
    relay.cut();
    assert_eq!(next_any(&mut seen).await, Seen::Connect);
    // Without a deadline of its own the client would wait on that connection for ever.
    assert_eq!(next_any(&mut seen).await, Seen::Connect);
    assert!(matches!(next_any(&mut seen).await, Seen::ConnAck { .. }));
    client.disconnect().await.unwrap();
}
