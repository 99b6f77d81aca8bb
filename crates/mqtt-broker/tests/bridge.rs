//! Bridges (`connection` blocks): this broker bridged to a Mosquitto (in every direction, with
//! prefixes, QoS 1, retained flags, notifications, reconnection), a Mosquitto bridged into this
//! broker with `try_private`, and this broker bridged to a second instance of itself. Where a
//! connection must fail, a relay between the bridge and Mosquitto cuts it.
//!
//! Needs `mosquitto` (Mosquitto 2.0): the tests fail, loudly, without it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashSet;
use std::net::TcpStream as StdTcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestBroker, QUIET, WAIT};
use mqtt_broker::config::Config;
use mqtt_client::{connect, Client, ClientOptions, Messages};
use mqtt_codec::{ProtocolVersion, QoS, TopicFilter, TopicName};
use mqtt_session::Message;
use test_support::{free_port, tool, TempDir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// A Mosquitto on a port of our choosing (so that it can be restarted on the same one);
/// killed (this process only) when dropped.
struct Remote {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Remote {
    fn start(port: u16, extra: &str) -> Remote {
        let dir = TempDir::new("bridge-remote");
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{extra}\n"
            ),
        )
        .unwrap();
        Remote::spawn(port, &conf, dir)
    }

    fn spawn(port: u16, conf: &Path, dir: TempDir) -> Remote {
        let child = Command::new(tool("mosquitto"))
            .arg("-c")
            .arg(conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start mosquitto");
        let remote = Remote {
            child,
            port,
            _dir: dir,
        };
        wait_for_port(port);
        remote
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something accepts TCP connections on `port` (a child process starting).
fn wait_for_port(port: u16) {
    let deadline = Instant::now() + WAIT;
    let mut pause = Duration::from_millis(2);
    while StdTcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A TCP relay in front of a broker, which can fail like a network: `cut` drops every relayed
/// connection, `set_down` refuses new ones, and `swallow_pubcomp` throws away the PUBCOMP
/// packets the broker sends (so that a QoS 2 flow is cut just before its end). `hold` gathers
/// the broker's next PUBLISH packets and passes them on in one write (a burst), and then ends
/// that direction (FIN): the client gets the burst and the end of the connection together,
/// while what it sends still reaches the broker.
struct Relay {
    port: u16,
    state: Arc<RelayState>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct RelayState {
    connections: Mutex<Vec<JoinHandle<()>>>,
    down: AtomicBool,
    swallow_pubcomp: AtomicBool,
    /// Told each time a PUBCOMP was thrown away.
    swallowed: Notify,
    /// How many more PUBLISH packets from the broker to gather before passing them on at once.
    hold: AtomicUsize,
}

impl Relay {
    async fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(RelayState::default());
        let st = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if st.down.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    continue;
                };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                });
                let s2 = st.clone();
                let down = tokio::spawn(async move {
                    // Whole packets, so that PUBCOMPs can be picked out.
                    let mut buf = Vec::new();
                    let mut chunk = vec![0u8; 16 * 1024];
                    let mut held = Vec::new();
                    loop {
                        let n = match sr.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(len) = packet_len(&buf) {
                            let packet: Vec<u8> = buf.drain(..len).collect();
                            if packet[0] == 0x70 && s2.swallow_pubcomp.load(Ordering::SeqCst) {
                                s2.swallowed.notify_one();
                                continue;
                            }
                            if packet[0] & 0xF0 == 0x30 && s2.hold.load(Ordering::SeqCst) > 0 {
                                held.extend_from_slice(&packet);
                                if s2.hold.fetch_sub(1, Ordering::SeqCst) == 1 {
                                    let _ = cw.write_all(&held).await;
                                    let _ = cw.shutdown().await;
                                    return;
                                }
                                continue;
                            }
                            if cw.write_all(&packet).await.is_err() {
                                return;
                            }
                        }
                    }
                });
                st.connections.lock().unwrap().extend([up, down]);
            }
        });
        Relay {
            port,
            state,
            accept,
        }
    }

    /// Drops every relayed connection, both ways.
    fn cut(&self) {
        for task in self.state.connections.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The length of the first MQTT packet of `buf` when it is complete.
fn packet_len(buf: &[u8]) -> Option<usize> {
    let mut remaining = 0usize;
    for i in 1..5 {
        let byte = *buf.get(i)?;
        remaining |= usize::from(byte & 0x7F) << (7 * (i - 1));
        if byte & 0x80 == 0 {
            let len = i + 1 + remaining;
            return (buf.len() >= len).then_some(len);
        }
    }
    panic!("malformed remaining length from the broker");
}

/// The bridges of a `mosquitto.conf` snippet.
fn bridges(text: &str) -> Vec<mqtt_broker::bridge::Bridge> {
    Config::parse_mosquitto(text, Path::new("bridge.conf"))
        .unwrap_or_else(|e| panic!("{e}"))
        .config
        .bridges
}

/// Our broker (in this process) with the bridges of `text`.
async fn broker_with(text: &str) -> TestBroker {
    let bridges = bridges(text);
    TestBroker::with_config(move |c| c.bridges = bridges).await
}

async fn client(port: u16, version: ProtocolVersion) -> (Client, Messages) {
    let options = ClientOptions::tcp("127.0.0.1", port).version(version);
    let (client, messages, _) = connect(options).await.unwrap();
    (client, messages)
}

async fn subscriber(port: u16, filter: &str, qos: QoS) -> (Client, Messages) {
    let (c, m) = client(port, ProtocolVersion::V3_1_1).await;
    c.subscribe_one(TopicFilter::new(filter).unwrap(), qos)
        .await
        .unwrap();
    (c, m)
}

async fn publish(c: &Client, topic: &str, payload: &str, qos: QoS, retain: bool) {
    let delivery = c
        .publish(
            TopicName::new(topic).unwrap(),
            payload.to_owned(),
            qos,
            retain,
        )
        .await
        .unwrap();
    delivery.await.unwrap();
}

async fn next(messages: &mut Messages) -> Message {
    tokio::time::timeout(WAIT, messages.recv())
        .await
        .expect("no message in time")
        .expect("connection closed")
}

/// The next message whose topic is not a `$SYS` one.
async fn next_on(messages: &mut Messages, topic: &str) -> Message {
    loop {
        let m = next(messages).await;
        if m.topic.as_str() == topic {
            return m;
        }
    }
}

fn text(m: &Message) -> &str {
    std::str::from_utf8(&m.payload).unwrap()
}

/// Waits for `payload` on the bridge's state topic (retained, so whenever subscribed).
async fn state(port: u16, remote_clientid: &str, payload: &str) -> (Client, Messages) {
    let topic = format!("$SYS/broker/connection/{remote_clientid}/state");
    let (c, mut m) = subscriber(port, &topic, QoS::AtLeastOnce).await;
    loop {
        let msg = next(&mut m).await;
        if text(&msg) == payload {
            return (c, m);
        }
    }
}

#[tokio::test]
async fn messages_cross_a_bridge_to_mosquitto_in_every_direction_with_prefixes_at_qos_1() {
    let remote = Remote::start(free_port(), "");
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{}\nremote_clientid br-dirs\nrestart_timeout 1\n\
         topic o/# out 1 loc/ rem/\ntopic i/# in 1 loc/ rem/\ntopic b/# both 1 loc/ rem/\n",
        remote.port
    ))
    .await;
    let port = ours.addr.port();
    // "1" once the bridge has subscribed on the remote broker.
    let _state = state(port, "br-dirs", "1").await;
    let (_rs, mut remote_sub) = subscriber(remote.port, "rem/#", QoS::AtLeastOnce).await;
    let (_ls, mut local_sub) = subscriber(port, "loc/#", QoS::AtLeastOnce).await;
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    let (remote_pub, _) = client(remote.port, ProtocolVersion::V3_1_1).await;

    // out: loc/o/x here is rem/o/x there, QoS 1 kept.
    publish(&local_pub, "loc/o/x", "out", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut local_sub).await.topic.as_str(), "loc/o/x");
    let m = next(&mut remote_sub).await;
    assert_eq!(
        (m.topic.as_str(), text(&m), m.qos),
        ("rem/o/x", "out", QoS::AtLeastOnce)
    );
    // in: rem/i/x there is loc/i/x here.
    publish(&remote_pub, "rem/i/x", "in", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "rem/i/x");
    let m = next(&mut local_sub).await;
    assert_eq!(
        (m.topic.as_str(), text(&m), m.qos),
        ("loc/i/x", "in", QoS::AtLeastOnce)
    );
    // both, each way.
    publish(&local_pub, "loc/b/1", "b-out", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut local_sub).await.topic.as_str(), "loc/b/1");
    let m = next(&mut remote_sub).await;
    assert_eq!((m.topic.as_str(), text(&m)), ("rem/b/1", "b-out"));
    publish(&remote_pub, "rem/b/2", "b-in", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "rem/b/2");
    let m = next(&mut local_sub).await;
    assert_eq!((m.topic.as_str(), text(&m)), ("loc/b/2", "b-in"));
    // Not bridged: an `in` topic published here, an `out` topic published there, and topics
    // outside every pattern. The marker that follows arrives alone.
    publish(&local_pub, "loc/i/no", "x", QoS::AtLeastOnce, false).await;
    publish(&remote_pub, "rem/o/no", "x", QoS::AtLeastOnce, false).await;
    publish(&local_pub, "elsewhere", "x", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut local_sub).await.topic.as_str(), "loc/i/no");
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "rem/o/no");
    publish(&local_pub, "loc/o/marker", "m", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "rem/o/marker");
    ours.stop().await;
}

#[tokio::test]
async fn qos_is_the_lower_of_the_topic_line_and_the_message() {
    let remote = Remote::start(free_port(), "");
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{}\nremote_clientid br-qos\nrestart_timeout 1\n\
         topic q0/# out 0\ntopic q2/# out 2\n",
        remote.port
    ))
    .await;
    let port = ours.addr.port();
    let _state = state(port, "br-qos", "1").await;
    let (_rs, mut remote_sub) = subscriber(remote.port, "#", QoS::ExactlyOnce).await;
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    publish(&local_pub, "q0/a", "x", QoS::ExactlyOnce, false).await;
    assert_eq!(next_on(&mut remote_sub, "q0/a").await.qos, QoS::AtMostOnce);
    publish(&local_pub, "q2/a", "x", QoS::AtLeastOnce, false).await;
    assert_eq!(next_on(&mut remote_sub, "q2/a").await.qos, QoS::AtLeastOnce);
    publish(&local_pub, "q2/b", "x", QoS::ExactlyOnce, false).await;
    assert_eq!(next_on(&mut remote_sub, "q2/b").await.qos, QoS::ExactlyOnce);
    ours.stop().await;
}

#[tokio::test]
async fn retained_flags_are_kept_across_the_bridge_both_ways() {
    let remote = Remote::start(free_port(), "");
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{}\nremote_clientid br-ret\nrestart_timeout 1\n\
         topic r/# both 1\n",
        remote.port
    ))
    .await;
    let port = ours.addr.port();
    let _state = state(port, "br-ret", "1").await;
    let (_rs, mut remote_sub) = subscriber(remote.port, "r/#", QoS::AtLeastOnce).await;
    let (_ls, mut local_sub) = subscriber(port, "r/#", QoS::AtLeastOnce).await;
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    let (remote_pub, _) = client(remote.port, ProtocolVersion::V3_1_1).await;
    publish(&local_pub, "r/here", "h", QoS::AtLeastOnce, true).await;
    publish(&remote_pub, "r/there", "t", QoS::AtLeastOnce, true).await;
    next_on(&mut remote_sub, "r/here").await;
    next_on(&mut local_sub, "r/there").await;
    // Stored as retained on the other side: a new subscriber gets it with RETAIN 1.
    let (_n1, mut new_remote) = subscriber(remote.port, "r/here", QoS::AtLeastOnce).await;
    let m = next(&mut new_remote).await;
    assert!(m.retain && text(&m) == "h");
    let (_n2, mut new_local) = subscriber(port, "r/there", QoS::AtLeastOnce).await;
    let m = next(&mut new_local).await;
    assert!(m.retain && text(&m) == "t");
    ours.stop().await;
}

/// A `both` line with prefixes: each message crosses once and does not come back.
async fn no_echo_with_both(version: &str, id: &str) {
    let remote = Remote::start(free_port(), "");
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{}\nremote_clientid {id}\nrestart_timeout 1\n\
         bridge_protocol_version {version}\ntopic e/# both 1 loc/ rem/\n",
        remote.port
    ))
    .await;
    let port = ours.addr.port();
    let _state = state(port, id, "1").await;
    let (_rs, mut remote_sub) = subscriber(remote.port, "rem/#", QoS::AtLeastOnce).await;
    let (_ls, mut local_sub) = subscriber(port, "loc/#", QoS::AtLeastOnce).await;
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    let (remote_pub, _) = client(remote.port, ProtocolVersion::V3_1_1).await;

    // Here -> there. An echo would come back before the marker sent after it from there.
    publish(&local_pub, "loc/e/1", "one", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut local_sub).await.topic.as_str(), "loc/e/1");
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "rem/e/1");
    publish(&remote_pub, "rem/e/marker1", "m", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "rem/e/marker1");
    assert_eq!(
        next(&mut local_sub).await.topic.as_str(),
        "loc/e/marker1",
        "loc/e/1 came back"
    );
    // There -> here, and the marker from here.
    publish(&remote_pub, "rem/e/2", "two", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "rem/e/2");
    assert_eq!(next(&mut local_sub).await.topic.as_str(), "loc/e/2");
    publish(&local_pub, "loc/e/marker2", "m", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut local_sub).await.topic.as_str(), "loc/e/marker2");
    assert_eq!(
        next(&mut remote_sub).await.topic.as_str(),
        "rem/e/marker2",
        "rem/e/2 came back"
    );
    // Nothing else is going round.
    assert!(tokio::time::timeout(QUIET, local_sub.recv()).await.is_err());
    assert!(tokio::time::timeout(QUIET, remote_sub.recv())
        .await
        .is_err());
    ours.stop().await;
}

#[tokio::test]
async fn both_does_not_loop_over_mqtt_3_1_1_with_try_private() {
    no_echo_with_both("mqttv311", "br-echo311").await;
}

#[tokio::test]
async fn both_does_not_loop_over_mqtt_5_with_no_local() {
    no_echo_with_both("mqttv50", "br-echo5").await;
}

#[tokio::test]
async fn notifications_say_1_and_0_and_the_bridge_reconnects_when_the_remote_restarts() {
    let remote_port = free_port();
    let remote = Remote::start(remote_port, "");
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{remote_port}\nremote_clientid br-note\n\
         restart_timeout 1\ncleansession true\ntopic n/# both 1\n"
    ))
    .await;
    let port = ours.addr.port();
    let (_s, mut local_state) = state(port, "br-note", "1").await;
    // On the remote broker too, retained.
    let (_r, _) = state(remote_port, "br-note", "1").await;

    remote.kill();
    let m = next(&mut local_state).await;
    assert_eq!(
        (text(&m), m.topic.as_str()),
        ("0", "$SYS/broker/connection/br-note/state")
    );

    let remote = Remote::start(remote_port, "");
    let m = next(&mut local_state).await;
    assert_eq!(text(&m), "1");
    // Messages flow again, both ways.
    let (_rs, mut remote_sub) = subscriber(remote.port, "n/#", QoS::AtLeastOnce).await;
    let (_ls, mut local_sub) = subscriber(port, "n/#", QoS::AtLeastOnce).await;
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    let (remote_pub, _) = client(remote.port, ProtocolVersion::V3_1_1).await;
    publish(&local_pub, "n/out", "x", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "n/out");
    publish(&remote_pub, "n/in", "y", QoS::AtLeastOnce, false).await;
    next_on(&mut local_sub, "n/in").await;
    // At shutdown the bridge says "0" on the remote broker too.
    let (_w, mut remote_state) = state(remote_port, "br-note", "1").await;
    ours.stop().await;
    let m = next(&mut remote_state).await;
    assert_eq!(text(&m), "0");
}

#[tokio::test]
async fn qos_1_messages_published_while_the_remote_is_down_are_delivered_after_reconnecting() {
    let remote = Remote::start(free_port(), "");
    let relay = Relay::start(remote.port).await;
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{}\nremote_clientid br-queue\n\
         restart_timeout 1\ntopic qd/# out 1\n",
        relay.port
    ))
    .await;
    let port = ours.addr.port();
    let (_s, mut local_state) = state(port, "br-queue", "1").await;
    let (_rs, mut remote_sub) = subscriber(remote.port, "qd/#", QoS::AtLeastOnce).await;
    relay.set_down(true);
    relay.cut();
    assert_eq!(text(&next(&mut local_state).await), "0");
    // Held for the bridge while it cannot reach the remote broker (not retained: only that
    // can bring it).
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    publish(&local_pub, "qd/while-down", "kept", QoS::AtLeastOnce, false).await;
    relay.set_down(false);
    assert_eq!(text(&next(&mut local_state).await), "1");
    let m = next(&mut remote_sub).await;
    assert_eq!(
        (m.topic.as_str(), text(&m), m.qos),
        ("qd/while-down", "kept", QoS::AtLeastOnce)
    );
    ours.stop().await;
}

/// The remote broker's QoS 1 messages reach the bridge in one burst that ends the connection
/// (`Relay::hold`): every one must arrive here, none left behind in the bridge's client when
/// the connection ends, none acknowledged to the remote broker (which then forgets it) before
/// it is published here. `extra` is the bridge's configuration beyond its address.
async fn burst_then_drop(id: &str, addresses: usize, extra: &str) {
    const BURST: usize = 300;
    let remote = Remote::start(
        free_port(),
        "max_inflight_messages 0\nmax_queued_messages 0\n",
    );
    let relay = Relay::start(remote.port).await;
    let address = vec![format!("127.0.0.1:{}", relay.port); addresses].join(" ");
    let ours = broker_with(&format!(
        "connection m\naddress {address}\nremote_clientid {id}\nrestart_timeout 1\n\
         topic burst/# in 1\n{extra}"
    ))
    .await;
    let port = ours.addr.port();
    let _state = state(port, id, "1").await;
    let (_ls, mut local_sub) = subscriber(port, "burst/#", QoS::AtLeastOnce).await;
    relay.state.hold.store(BURST, Ordering::SeqCst);
    let (remote_pub, _) = client(remote.port, ProtocolVersion::V3_1_1).await;
    for i in 0..BURST {
        publish(
            &remote_pub,
            &format!("burst/{i}"),
            &i.to_string(),
            QoS::AtLeastOnce,
            false,
        )
        .await;
    }
    // Each one at least once (one published here but not yet acknowledged when the connection
    // dropped may come again).
    let mut seen = HashSet::new();
    while seen.len() < BURST {
        let m = tokio::time::timeout(WAIT, local_sub.recv())
            .await
            .unwrap_or_else(|_| panic!("{} of {BURST} messages arrived", seen.len()))
            .expect("connection closed");
        seen.insert(text(&m).to_owned());
    }
    ours.stop().await;
}

#[tokio::test]
async fn a_burst_from_a_remote_that_keeps_the_session_all_arrives_when_the_connection_drops() {
    // Two addresses: the client does not reconnect by itself, the connection ends. The remote
    // broker sends again, on the next connection, what the bridge had not acknowledged.
    burst_then_drop("br-burst-kept", 2, "").await;
}

#[tokio::test]
async fn a_burst_from_a_remote_that_forgets_the_session_all_arrives_when_the_connection_drops() {
    // cleansession true: the remote broker forgets what the bridge had not acknowledged; the
    // bridge publishes what it received before it lets its client go.
    burst_then_drop("br-burst-clean", 1, "cleansession true\n").await;
}

#[tokio::test]
async fn retained_messages_stored_here_go_to_the_remote_when_the_bridge_connects() {
    // As Mosquitto 2.0.11 (bridge__on_connect): a retained message stored before the bridge
    // connects is sent, retained, to the remote broker when it does. With `cleansession true`
    // nothing is queued for the bridge while it is down: only the retained store has it.
    let remote_port = free_port();
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{remote_port}\nremote_clientid br-retconn\n\
         restart_timeout 1\ncleansession true\ntopic rc/# out 1\n"
    ))
    .await;
    let port = ours.addr.port();
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    publish(&local_pub, "rc/stored", "before", QoS::AtLeastOnce, true).await;
    let remote = Remote::start(remote_port, "");
    let _state = state(port, "br-retconn", "1").await;
    let (_rs, mut remote_sub) = subscriber(remote.port, "rc/#", QoS::AtLeastOnce).await;
    let m = next(&mut remote_sub).await;
    assert_eq!(
        (m.topic.as_str(), text(&m), m.retain),
        ("rc/stored", "before", true)
    );
    ours.stop().await;
}

#[tokio::test]
async fn a_message_from_the_remote_that_no_in_line_remaps_is_published_here_unchanged() {
    // The remote broker keeps a session for the bridge's client identifier with a
    // subscription no `topic` line asks for (an earlier configuration's, say). Mosquitto
    // 2.0.11 publishes what comes through it unchanged.
    let remote = Remote::start(free_port(), "");
    let mut options = ClientOptions::tcp("127.0.0.1", remote.port);
    options.connect.clean_start = false;
    options.connect.client_id = mqtt_codec::MqttString::new("br-stale").unwrap();
    let (stale, _, _) = connect(options).await.unwrap();
    stale
        .subscribe_one(TopicFilter::new("stale/#").unwrap(), QoS::AtLeastOnce)
        .await
        .unwrap();
    stale.disconnect().await.unwrap();
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{}\nremote_clientid br-stale\nrestart_timeout 1\n\
         topic new/# in 1 loc/ rem/\n",
        remote.port
    ))
    .await;
    let port = ours.addr.port();
    let _state = state(port, "br-stale", "1").await;
    let (_ls, mut local_sub) = subscriber(port, "#", QoS::AtLeastOnce).await;
    let (remote_pub, _) = client(remote.port, ProtocolVersion::V3_1_1).await;
    publish(&remote_pub, "stale/x", "unmapped", QoS::AtLeastOnce, false).await;
    publish(&remote_pub, "rem/new/y", "mapped", QoS::AtLeastOnce, false).await;
    let m = next(&mut local_sub).await;
    assert_eq!((m.topic.as_str(), text(&m)), ("stale/x", "unmapped"));
    let m = next(&mut local_sub).await;
    assert_eq!((m.topic.as_str(), text(&m)), ("loc/new/y", "mapped"));
    ours.stop().await;
}

#[tokio::test]
async fn a_qos_2_message_in_flight_when_the_connection_drops_is_completed_not_sent_twice() {
    // cleansession false: the bridge resumes its session on the remote broker. The remote
    // broker has delivered the message (PUBREL received) when the connection drops before its
    // PUBCOMP reaches the bridge: the bridge sends PUBREL again on the resumed session rather
    // than the message as a new one, which Mosquitto would deliver a second time.
    let remote = Remote::start(free_port(), "");
    let relay = Relay::start(remote.port).await;
    let ours = broker_with(&format!(
        "connection m\naddress 127.0.0.1:{}\nremote_clientid br-q2\nrestart_timeout 1\n\
         topic q2/# out 2\n",
        relay.port
    ))
    .await;
    let port = ours.addr.port();
    let (_s, mut local_state) = state(port, "br-q2", "1").await;
    let (_rs, mut remote_sub) = subscriber(remote.port, "q2/#", QoS::ExactlyOnce).await;
    let (local_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    relay.state.swallow_pubcomp.store(true, Ordering::SeqCst);
    publish(&local_pub, "q2/once", "x", QoS::ExactlyOnce, false).await;
    assert_eq!(next(&mut remote_sub).await.topic.as_str(), "q2/once");
    tokio::time::timeout(WAIT, relay.state.swallowed.notified())
        .await
        .expect("no PUBCOMP from the remote broker");
    relay.state.swallow_pubcomp.store(false, Ordering::SeqCst);
    relay.cut();
    assert_eq!(text(&next(&mut local_state).await), "0");
    assert_eq!(text(&next(&mut local_state).await), "1");
    publish(&local_pub, "q2/marker", "m", QoS::ExactlyOnce, false).await;
    assert_eq!(
        next(&mut remote_sub).await.topic.as_str(),
        "q2/marker",
        "q2/once arrived twice"
    );
    ours.stop().await;
}

#[tokio::test]
async fn a_mosquitto_bridge_connects_into_this_broker_with_try_private() {
    let (ours, hub) = TestBroker::start_with_hub().await;
    let port = ours.addr.port();
    let mosquitto = Remote::start(
        free_port(),
        &format!(
            "connection ours\naddress 127.0.0.1:{port}\nremote_clientid mosq-in\n\
             try_private true\ntopic t/# both 1\n"
        ),
    );
    // Mosquitto says "1" on our broker, then subscribes here.
    let _state = state(port, "mosq-in", "1").await;
    let deadline = Instant::now() + WAIT;
    while hub.subscriptions_of("mosq-in") == 0 {
        assert!(
            Instant::now() < deadline,
            "mosquitto's bridge never subscribed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_ms, mut mosq_sub) = subscriber(mosquitto.port, "t/#", QoS::AtLeastOnce).await;
    let (_os, mut our_sub) = subscriber(port, "t/#", QoS::AtLeastOnce).await;
    let (our_pub, _) = client(port, ProtocolVersion::V3_1_1).await;
    let (mosq_pub, _) = client(mosquitto.port, ProtocolVersion::V3_1_1).await;
    // Here -> Mosquitto, not echoed back by us (its subscription is No Local).
    publish(&our_pub, "t/a", "a", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut our_sub).await.topic.as_str(), "t/a");
    assert_eq!(next(&mut mosq_sub).await.topic.as_str(), "t/a");
    // Mosquitto -> here, retained: kept retained (its subscription is Retain As Published).
    publish(&mosq_pub, "t/r", "r", QoS::AtLeastOnce, true).await;
    assert_eq!(next(&mut mosq_sub).await.topic.as_str(), "t/r");
    assert_eq!(next(&mut our_sub).await.topic.as_str(), "t/r");
    publish(&our_pub, "t/marker", "m", QoS::AtLeastOnce, false).await;
    assert_eq!(next(&mut our_sub).await.topic.as_str(), "t/marker");
    assert_eq!(
        next(&mut mosq_sub).await.topic.as_str(),
        "t/marker",
        "t/r came back to Mosquitto"
    );
    let (_n, mut new_sub) = subscriber(port, "t/r", QoS::AtLeastOnce).await;
    let m = next(&mut new_sub).await;
    assert!(m.retain, "the retained flag was lost");
    drop(mosquitto);
    ours.stop().await;
}

#[tokio::test]
async fn this_broker_bridges_to_another_instance_of_itself() {
    for version in ["mqttv311", "mqttv50"] {
        let (remote, remote_hub) = TestBroker::start_with_hub().await;
        let id = format!("br-self-{version}");
        let ours = broker_with(&format!(
            "connection self\naddress 127.0.0.1:{}\nremote_clientid {id}\nrestart_timeout 1\n\
             bridge_protocol_version {version}\ntopic s/# both 1 a/ b/\n",
            remote.addr.port()
        ))
        .await;
        let port = ours.addr.port();
        let _state = state(port, &id, "1").await;
        assert!(remote_hub.has_session(&id));
        let (_rs, mut remote_sub) = subscriber(remote.addr.port(), "b/#", QoS::AtLeastOnce).await;
        let (_ls, mut local_sub) = subscriber(port, "a/#", QoS::AtLeastOnce).await;
        let (local_pub, _) = client(port, ProtocolVersion::V5).await;
        let (remote_pub, _) = client(remote.addr.port(), ProtocolVersion::V5).await;
        publish(&local_pub, "a/s/1", "one", QoS::AtLeastOnce, true).await;
        assert_eq!(next(&mut local_sub).await.topic.as_str(), "a/s/1");
        let m = next(&mut remote_sub).await;
        assert_eq!((m.topic.as_str(), text(&m)), ("b/s/1", "one"));
        publish(&remote_pub, "b/s/2", "two", QoS::AtLeastOnce, false).await;
        assert_eq!(next(&mut remote_sub).await.topic.as_str(), "b/s/2");
        let m = next(&mut local_sub).await;
        assert_eq!((m.topic.as_str(), text(&m)), ("a/s/2", "two"), "{version}");
        // a/s/1 did not come back (a/s/2 was next); b/s/2 does not either: the marker from
        // here is next over there.
        publish(&local_pub, "a/s/marker", "m", QoS::AtLeastOnce, false).await;
        assert_eq!(next(&mut local_sub).await.topic.as_str(), "a/s/marker");
        assert_eq!(next(&mut remote_sub).await.topic.as_str(), "b/s/marker");
        // The retained message is retained over there.
        let (_n, mut new_sub) = subscriber(remote.addr.port(), "b/s/1", QoS::AtLeastOnce).await;
        assert!(next(&mut new_sub).await.retain, "{version}");
        ours.stop().await;
        remote.stop().await;
    }
}

#[tokio::test]
async fn a_remote_that_refuses_try_private_is_connected_to_again_with_the_plain_level() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let remote_port = listener.local_addr().unwrap().port();
    let ours = broker_with(&format!(
        "connection fake\naddress 127.0.0.1:{remote_port}\nremote_clientid br-fake\n\
         restart_timeout 1\nnotifications false\ntopic f/# out 0\n"
    ))
    .await;
    // The protocol level byte of a 3.1.1 CONNECT: after the header, length and "MQTT".
    let mut levels = Vec::new();
    for answer in [[0x20, 2, 0, 1], [0x20, 2, 0, 0]] {
        let (mut socket, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the bridge did not connect")
            .unwrap();
        let mut head = [0u8; 9];
        socket.read_exact(&mut head).await.unwrap();
        assert_eq!(&head[2..8], b"\x00\x04MQTT");
        levels.push(head[8]);
        // CONNACK 1 (unacceptable protocol version), then CONNACK 0 (accepted).
        socket.write_all(&answer).await.unwrap();
        if answer[3] == 0 {
            break;
        }
    }
    assert_eq!(levels, [0x84, 0x04]);
    ours.stop().await;
}
