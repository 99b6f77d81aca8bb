//! The restart measurement's clients: filling a broker with retained messages and persistent
//! sessions holding queued messages ([`fill`], with `mqtt-client`), timing the first CONNACK
//! after a start ([`first_connack`], a bare MQTT 3.1.1 CONNECT over a blocking socket, so that
//! nothing but the broker stands between the spawn and the answer), and checking what the broker
//! restored ([`verify`]).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use mqtt_client::{connect, Client, ClientOptions, Delivery, Messages};
use mqtt_codec::{MqttString, QoS, TopicFilter, TopicName};
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;

use crate::compare::brokers::Running;

/// What [`fill`] puts into the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fill {
    /// Retained messages, one per topic `pbench/r/G/N` ([`retained_topic`]).
    pub(crate) retained: u32,
    /// Persistent sessions (Clean Session 0, ids `pbench-sN`), each subscribed to its own
    /// `pbench/q/N` at QoS 1 and then disconnected.
    pub(crate) sessions: u32,
    /// QoS 1 messages published to each session's topic while it is disconnected: queued.
    pub(crate) queued_per_session: u32,
}

/// Payload size of the fill's messages (bytes), as the throughput runs' `--size`.
const PAYLOAD: usize = 64;
/// Sessions made at once.
const SESSION_CONCURRENCY: usize = 64;
/// Publishing connections of the fill.
const PUBLISHERS: u32 = 8;
/// QoS 1 messages each fill publisher keeps unacknowledged.
const PUBLISHER_WINDOW: u16 = 100;
/// Loopback source addresses the fill's connections cycle through (127.0.0.1..=N): 10,000
/// sessions connect and disconnect twice per broker, more than one address's ephemeral ports
/// would hold in TIME_WAIT.
const SOURCE_ADDRESSES: u32 = 8;

pub(crate) fn session_id(i: u32) -> String {
    format!("pbench-s{i}")
}

pub(crate) fn queue_topic(i: u32) -> String {
    format!("pbench/q/{i}")
}

/// Retained messages per group `pbench/r/G/#` that [`verify`] subscribes to at a time: fewer
/// than `max_queued_messages` (1000), which caps what our broker hands a new subscription at
/// once (see docs/benchmarks.md, "Persistence: throughput and restart").
pub(crate) const RETAINED_GROUP: u32 = 500;

pub(crate) fn retained_topic(i: u32) -> String {
    format!("pbench/r/{}/{}", i / RETAINED_GROUP, i % RETAINED_GROUP)
}

/// The topic and retain flag of the fill's `k`-th message: first the queued messages (session
/// after session, round after round), then the retained ones.
pub(crate) fn fill_message(plan: &Fill, k: u64) -> (String, bool) {
    let queued = u64::from(plan.sessions) * u64::from(plan.queued_per_session);
    if k < queued {
        // `sessions` > 0 here, since queued > 0.
        let session = k % u64::from(plan.sessions.max(1));
        (queue_topic(session as u32), false)
    } else {
        (retained_topic((k - queued) as u32), true)
    }
}

fn options(port: u16, i: u32) -> ClientOptions {
    let mut o = ClientOptions::tcp("127.0.0.1", port);
    o.bind_address = Some(format!("127.0.0.{}", 1 + i % SOURCE_ADDRESSES));
    o.connect_timeout = Duration::from_secs(120);
    o
}

fn mqtt_string(s: String) -> Result<MqttString, String> {
    MqttString::try_from(s).map_err(|e| format!("client id: {e}"))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// Makes session `i`: connect with Clean Session 0, subscribe to its topic, disconnect.
async fn make_session(port: u16, i: u32) -> Result<(), String> {
    let mut o = options(port, i);
    o.connect.client_id = mqtt_string(session_id(i))?;
    o.connect.clean_start = false;
    let (client, _messages, _) = connect(o)
        .await
        .map_err(|e| format!("session {i}: connect: {e}"))?;
    let filter = TopicFilter::new(queue_topic(i)).map_err(|e| format!("filter: {e}"))?;
    let ack = client
        .subscribe_one(filter, QoS::AtLeastOnce)
        .await
        .map_err(|e| format!("session {i}: subscribe: {e}"))?;
    if ack.reason_codes.iter().any(|c| c.is_error()) {
        return Err(format!(
            "session {i}: subscription refused ({:?})",
            ack.reason_codes
        ));
    }
    client
        .disconnect()
        .await
        .map_err(|e| format!("session {i}: disconnect: {e}"))
}

/// Publishes the fill's messages `k` with `k % PUBLISHERS == publisher`, QoS 1, and waits for
/// every PUBACK.
async fn publish_share(port: u16, plan: Fill, publisher: u32) -> Result<u64, String> {
    let mut o = options(port, publisher);
    o.session.max_inflight = PUBLISHER_WINDOW;
    let (client, _messages, _) = connect(o)
        .await
        .map_err(|e| format!("publisher {publisher}: connect: {e}"))?;
    let total =
        u64::from(plan.sessions) * u64::from(plan.queued_per_session) + u64::from(plan.retained);
    let mut pending: VecDeque<Delivery> = VecDeque::new();
    let mut sent = 0;
    let mut payload = vec![0u8; PAYLOAD];
    for (b, byte) in payload.iter_mut().zip(b"pbench fill") {
        *b = *byte;
    }
    let mut k = u64::from(publisher);
    while k < total {
        let (topic, retain) = fill_message(&plan, k);
        let topic = TopicName::new(topic).map_err(|e| format!("topic: {e}"))?;
        let delivery = client
            .publish(topic, payload.clone(), QoS::AtLeastOnce, retain)
            .await
            .map_err(|e| format!("publisher {publisher}: publish: {e}"))?;
        pending.push_back(delivery);
        if pending.len() >= 4 * usize::from(PUBLISHER_WINDOW) {
            if let Some(d) = pending.pop_front() {
                d.await
                    .map_err(|e| format!("publisher {publisher}: PUBACK: {e}"))?;
            }
        }
        sent += 1;
        k += u64::from(PUBLISHERS);
    }
    for d in pending {
        d.await
            .map_err(|e| format!("publisher {publisher}: PUBACK: {e}"))?;
    }
    client
        .disconnect()
        .await
        .map_err(|e| format!("publisher {publisher}: disconnect: {e}"))?;
    Ok(sent)
}

/// Fills the broker on `port` as `plan` says; returns the fill's figures (how long each phase
/// took). Every message is acknowledged (QoS 1) before it returns.
pub(crate) fn fill(port: u16, plan: Fill) -> Result<Map<String, Value>, String> {
    runtime()?.block_on(async move {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        let mut next = 0;
        while next < plan.sessions || !tasks.is_empty() {
            while next < plan.sessions && tasks.len() < SESSION_CONCURRENCY {
                tasks.spawn(make_session(port, next));
                next += 1;
            }
            if let Some(done) = tasks.join_next().await {
                done.map_err(|e| format!("session task: {e}"))??;
            }
        }
        let sessions_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut publishers = JoinSet::new();
        for p in 0..PUBLISHERS {
            publishers.spawn(publish_share(port, plan, p));
        }
        let mut published = 0;
        while let Some(done) = publishers.join_next().await {
            published += done.map_err(|e| format!("publisher task: {e}"))??;
        }
        let publish_s = started.elapsed().as_secs_f64();
        let mut f = Map::new();
        f.insert("fill_sessions_s".into(), json!(sessions_s));
        f.insert("fill_published".into(), json!(published));
        f.insert("fill_publish_s".into(), json!(publish_s));
        f.insert(
            "fill_publish_per_s".into(),
            json!(published as f64 / publish_s.max(1e-9)),
        );
        Ok(f)
    })
}

/// Receives messages until `want` arrived or none came for `idle`; returns how many came and
/// when the last one did.
async fn count(messages: &mut Messages, want: u64, idle: Duration) -> (u64, Duration) {
    let started = Instant::now();
    let mut n = 0;
    let mut last = Duration::ZERO;
    while n < want {
        match tokio::time::timeout(idle, messages.recv()).await {
            Ok(Some(_)) => {
                n += 1;
                last = started.elapsed();
            }
            Ok(None) | Err(_) => break,
        }
    }
    (n, last)
}

/// What the restarted broker restored: the retained messages (read by a new clean client
/// subscribing to `pbench/r/G/#` group after group, until a group comes back empty) and session
/// 0 (resumed with Clean Session 0: Session Present, and its queued messages).
pub(crate) fn verify(port: u16, plan: Fill) -> Result<Map<String, Value>, String> {
    runtime()?.block_on(async move {
        let idle = Duration::from_secs(3);
        let mut f = Map::new();
        let mut o = options(port, 0);
        o.connect.client_id = mqtt_string("pbench-verify".to_owned())?;
        let (client, mut messages, _) = connect(o)
            .await
            .map_err(|e| format!("verify: connect: {e}"))?;
        let started = Instant::now();
        let mut retained = 0;
        for group in 0..plan.retained.div_ceil(RETAINED_GROUP) {
            let want = (plan.retained - group * RETAINED_GROUP).min(RETAINED_GROUP);
            let filter = TopicFilter::new(format!("pbench/r/{group}/#"))
                .map_err(|e| format!("filter: {e}"))?;
            client
                .subscribe_one(filter, QoS::AtMostOnce)
                .await
                .map_err(|e| format!("verify: subscribe: {e}"))?;
            let (n, _) = count(&mut messages, u64::from(want), idle).await;
            retained += n;
            if n == 0 {
                break;
            }
        }
        f.insert("retained_found".into(), json!(retained));
        f.insert(
            "retained_read_s".into(),
            json!(started.elapsed().as_secs_f64()),
        );
        disconnect(&client).await;
        if plan.sessions > 0 {
            let mut o = options(port, 1);
            o.connect.client_id = mqtt_string(session_id(0))?;
            o.connect.clean_start = false;
            let (client, mut messages, connack) = connect(o)
                .await
                .map_err(|e| format!("verify: resume session 0: {e}"))?;
            let (queued, _) = count(&mut messages, u64::from(plan.queued_per_session), idle).await;
            f.insert("session_present".into(), json!(connack.session_present));
            f.insert("queued_found".into(), json!(queued));
            disconnect(&client).await;
        }
        Ok(f)
    })
}

async fn disconnect(client: &Client) {
    let _ = tokio::time::timeout(Duration::from_secs(5), client.disconnect()).await;
}

/// A minimal MQTT 3.1.1 CONNECT: Clean Session, keep alive 60 s, this client id.
pub(crate) fn connect_packet(client_id: &str) -> Vec<u8> {
    let id = client_id.as_bytes();
    let id_len = u16::try_from(id.len()).unwrap_or(u16::MAX);
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend(id_len.to_be_bytes());
    body.extend(id.iter().take(usize::from(id_len)));
    // Remaining length as a variable byte integer.
    let mut packet = vec![0x10];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        packet.push(byte);
        if len == 0 {
            break;
        }
    }
    packet.extend(body);
    packet
}

/// The return code of an MQTT 3.1.1 CONNACK (`20 02 flags code`).
pub(crate) fn connack_code(bytes: &[u8; 4]) -> Result<u8, String> {
    match bytes {
        [0x20, 0x02, _, code] => Ok(*code),
        other => Err(format!("not a CONNACK: {other:02x?}")),
    }
}

/// Waits for the broker `running`, spawned at `spawned`, to answer a CONNECT on `port` with a
/// successful CONNACK; returns the time from the spawn to that CONNACK. Retries while the port
/// refuses connections or the connection is closed before the CONNACK; gives up after
/// `timeout` or when the broker exits.
pub(crate) fn first_connack(
    running: &mut Running,
    port: u16,
    spawned: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let packet = connect_packet("pbench-probe");
    let mut last_error = String::from("no attempt");
    loop {
        if let Some(status) = running.exited() {
            return Err(format!(
                "{}: exited ({status}) before its first CONNACK; {}",
                running.kind,
                running.log_tail()
            ));
        }
        let left = timeout.saturating_sub(spawned.elapsed());
        if left.is_zero() {
            return Err(format!(
                "{}: no CONNACK {timeout:?} after the start (last: {last_error}); {}",
                running.kind,
                running.log_tail()
            ));
        }
        let attempt = (|| -> Result<Duration, String> {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                .map_err(|e| format!("connect: {e}"))?;
            s.set_nodelay(true).map_err(|e| e.to_string())?;
            s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
            s.write_all(&packet).map_err(|e| format!("write: {e}"))?;
            let mut answer = [0u8; 4];
            s.read_exact(&mut answer)
                .map_err(|e| format!("read: {e}"))?;
            let at = spawned.elapsed();
            match connack_code(&answer)? {
                0 => Ok(at),
                code => Err(format!("CONNACK refused the connection (code {code})")),
            }
        })();
        match attempt {
            Ok(at) => return Ok(at),
            Err(e) if e.starts_with("CONNACK") || e.starts_with("not a") => return Err(e),
            Err(e) => last_error = e,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_packet_is_valid_mqtt_3_1_1() {
        let p = connect_packet("pbench-probe");
        assert_eq!(p[0], 0x10);
        assert_eq!(usize::from(p[1]), p.len() - 2);
        assert_eq!(&p[2..9], &[0, 4, b'M', b'Q', b'T', b'T', 4]);
        assert_eq!(p[9], 0x02, "clean session, no will, no credentials");
        assert_eq!(&p[12..14], &[0, 12]);
        assert_eq!(&p[14..], b"pbench-probe");
        // Decoded by the workspace's own codec: a real CONNECT.
        let mut d = mqtt_codec::Decoder::new_server();
        let mut buf = bytes::BytesMut::from(&p[..]);
        let packet = d.decode(&mut buf).unwrap().unwrap();
        assert!(
            matches!(packet, mqtt_codec::Packet::Connect(_)),
            "{packet:?}"
        );
        // A long id needs a two-byte remaining length.
        let long = connect_packet(&"x".repeat(200));
        assert_eq!(long[1] & 0x80, 0x80);
        assert_eq!(
            usize::from(long[1] & 0x7f) + 128 * usize::from(long[2]),
            long.len() - 3
        );
    }

    #[test]
    fn reads_connack_codes() {
        assert_eq!(connack_code(&[0x20, 2, 0, 0]), Ok(0));
        assert_eq!(connack_code(&[0x20, 2, 1, 5]), Ok(5));
        assert!(connack_code(&[0x30, 2, 0, 0]).is_err());
    }

    #[test]
    fn fill_order_is_queued_then_retained() {
        let plan = Fill {
            retained: 3,
            sessions: 2,
            queued_per_session: 2,
        };
        let all: Vec<(String, bool)> = (0..7).map(|k| fill_message(&plan, k)).collect();
        assert_eq!(
            all,
            [
                ("pbench/q/0".to_owned(), false),
                ("pbench/q/1".to_owned(), false),
                ("pbench/q/0".to_owned(), false),
                ("pbench/q/1".to_owned(), false),
                ("pbench/r/0/0".to_owned(), true),
                ("pbench/r/0/1".to_owned(), true),
                ("pbench/r/0/2".to_owned(), true),
            ]
        );
        let none = Fill {
            retained: 1,
            sessions: 0,
            queued_per_session: 5,
        };
        assert_eq!(fill_message(&none, 0), ("pbench/r/0/0".to_owned(), true));
        assert_eq!(retained_topic(99_999), "pbench/r/199/499");
    }
}
