//! Crash harness (issue #7): QoS 1 and QoS 2 publishers and persistent subscribers (some mostly
//! offline) run against the broker binary with `persistence true`, which is killed with SIGKILL
//! at random moments and restarted, `CRASH_CYCLES` times (20 by default). The clients keep their
//! own session state across the kills, as real clients do: publishers resend what was not
//! acknowledged (PUBLISH with DUP, or PUBREL), subscribers remember the QoS 2 packet identifiers
//! awaiting PUBREL. After a last, clean run that completes every flow, it checks that
//!
//! - every message a publisher had acknowledged (PUBACK; PUBREC for QoS 2) reached every
//!   subscriber: QoS 1 at least once, QoS 2 exactly once and, per topic, in publishing order;
//! - the sessions survived (Session Present 1 after every restart, for a client that had its
//!   CONNACK; subscribers subscribe only once and keep receiving);
//! - the retained messages are the last ones published.
//!
//! The kill moments come from a seed printed at the start (`CRASH_SEED` replays a run).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroU16;
use std::time::Duration;

use bytes::BytesMut;
use common::process::*;
use common::*;
use mqtt_codec::*;
use test_support::{free_port, TempDir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-broker");

/// QoS 1/2 messages a publisher keeps in flight at once.
const WINDOW: usize = 8;
/// New messages a publisher sends per cycle at most (bounds the run and the offline queues).
const PER_CYCLE: u64 = 150;
/// Retained topics the retaining publisher cycles through.
const RETAINED_KEYS: u64 = 5;

/// A connection that reports a broken link as an error instead of panicking: the broker is
/// killed under it on purpose.
struct Link {
    stream: TcpStream,
    version: ProtocolVersion,
    decoder: Decoder,
    buf: BytesMut,
}

impl Link {
    async fn connect(addr: SocketAddr, connect: Connect) -> io::Result<(Link, ConnAck)> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let mut link = Link {
            stream,
            version: connect.protocol,
            decoder: Decoder::new(connect.protocol),
            buf: BytesMut::new(),
        };
        link.send(&[Packet::from(connect)]).await?;
        match link.recv().await? {
            Packet::ConnAck(ack) => {
                assert_eq!(ack.reason_code, ReasonCode::Success);
                Ok((link, *ack))
            }
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    async fn send(&mut self, packets: &[Packet]) -> io::Result<()> {
        let mut out = BytesMut::new();
        for p in packets {
            p.encode(self.version, &mut out).unwrap();
        }
        self.stream.write_all(&out).await
    }

    /// The next packet; an error once the connection is gone. A malformed packet from the
    /// broker is a failure of the test, not a broken link.
    async fn recv(&mut self) -> io::Result<Packet> {
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf).unwrap() {
                return Ok(p);
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

fn pid(n: u16) -> PacketId {
    NonZeroU16::new(n).unwrap()
}

fn connect_for(id: &str, version: ProtocolVersion) -> Connect {
    let mut c = connect_packet(version, id, false);
    if version.is_v5() {
        c.properties.session_expiry_interval = Some(3600);
    }
    c
}

/// Where a message in flight from a publisher stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// PUBLISH sent, no PUBACK/PUBREC yet.
    Published,
    /// PUBREC received (the broker owns the message), PUBREL sent, no PUBCOMP yet.
    Released,
}

struct Publisher {
    index: usize,
    version: ProtocolVersion,
    qos: QoS,
    retain: bool,
    connected_once: bool,
    next_seq: u64,
    /// Packet identifier -> (sequence number, stage), the client side of the session.
    inflight: BTreeMap<u16, (u64, Stage)>,
    /// Sequence numbers the broker acknowledged (PUBACK, or PUBREC for QoS 2).
    acked: HashSet<u64>,
    /// Connections and packets, for the failure messages.
    trace: Vec<String>,
}

impl Publisher {
    fn new(index: usize, version: ProtocolVersion, qos: QoS, retain: bool) -> Publisher {
        Publisher {
            index,
            version,
            qos,
            retain,
            connected_once: false,
            next_seq: 0,
            inflight: BTreeMap::new(),
            acked: HashSet::new(),
            trace: Vec::new(),
        }
    }

    fn topic(&self, seq: u64) -> String {
        if self.retain {
            format!("crash/r/{}", seq % RETAINED_KEYS)
        } else {
            format!("crash/p{}/{}", self.index, seq % 3)
        }
    }

    fn publish_packet(&mut self, seq: u64, id: u16, dup: bool) -> Packet {
        self.trace
            .push(format!("seq {seq}: PUBLISH id {id} dup {dup}"));
        Packet::Publish(Publish {
            dup,
            qos: PublishQos::new(self.qos, pid(id)),
            retain: self.retain,
            topic: TopicName::new(self.topic(seq)).unwrap(),
            payload: format!("{}:{seq}", self.index).into(),
            ..Publish::default()
        })
    }

    /// What happened to message `seq`, between the connections (for failure messages).
    fn history(&self, seq: u64) -> Vec<&str> {
        let prefix = format!("seq {seq}:");
        self.trace
            .iter()
            .filter(|t| t.starts_with(&prefix) || t.starts_with("connected"))
            .map(String::as_str)
            .collect()
    }

    fn free_id(&self, seq: u64) -> u16 {
        let mut id = (seq % 60_000) as u16 + 1;
        while self.inflight.contains_key(&id) {
            id = id % 60_000 + 1;
        }
        id
    }

    /// One connection: resend what is unfinished, then publish (up to [`PER_CYCLE`] new
    /// messages, none when `finishing`) until the link breaks, or, when `finishing`, until
    /// nothing is in flight.
    async fn run(&mut self, addr: SocketAddr, finishing: bool) -> io::Result<()> {
        let id = format!("crash-pub-{}", self.index);
        let (mut link, ack) = Link::connect(addr, connect_for(&id, self.version)).await?;
        if self.connected_once {
            assert!(ack.session_present, "{id}: the session survived the kill");
        }
        self.connected_once = true;
        // [MQTT-4.4.0-1] unacknowledged PUBLISH and PUBREL again, in the original order.
        let mut resend: Vec<(u64, u16, Stage)> = self
            .inflight
            .iter()
            .map(|(id, (seq, stage))| (*seq, *id, *stage))
            .collect();
        resend.sort_unstable_by_key(|(seq, _, _)| *seq);
        self.trace.push(format!(
            "connected (session present {})",
            ack.session_present
        ));
        let packets: Vec<Packet> = resend
            .iter()
            .map(|(seq, id, stage)| match stage {
                Stage::Published => self.publish_packet(*seq, *id, true),
                Stage::Released => {
                    self.trace.push(format!("seq {seq}: PUBREL id {id} again"));
                    Packet::PubRel(PubRel::new(pid(*id)))
                }
            })
            .collect();
        link.send(&packets).await?;
        let limit = self.next_seq + if finishing { 0 } else { PER_CYCLE };
        loop {
            let mut fresh = Vec::new();
            while self.inflight.len() < WINDOW && self.next_seq < limit {
                let seq = self.next_seq;
                self.next_seq += 1;
                let id = self.free_id(seq);
                self.inflight.insert(id, (seq, Stage::Published));
                fresh.push(self.publish_packet(seq, id, false));
            }
            link.send(&fresh).await?;
            if self.inflight.is_empty() && (finishing || self.next_seq >= limit) {
                return link.send(&[Packet::from(Disconnect::default())]).await;
            }
            match link.recv().await? {
                Packet::PubAck(a) => {
                    assert!(!a.reason_code.is_error(), "{id}: {a:?}");
                    let (seq, _) = self.inflight.remove(&a.packet_id.get()).unwrap();
                    self.acked.insert(seq);
                }
                Packet::PubRec(r) => {
                    assert!(!r.reason_code.is_error(), "{id}: {r:?}");
                    let entry = self.inflight.get_mut(&r.packet_id.get()).unwrap();
                    entry.1 = Stage::Released;
                    self.acked.insert(entry.0);
                    self.trace
                        .push(format!("seq {}: PUBREC id {}", entry.0, r.packet_id));
                    link.send(&[Packet::PubRel(PubRel::new(r.packet_id))])
                        .await?;
                }
                Packet::PubComp(c) => {
                    let (_, stage) = self.inflight.remove(&c.packet_id.get()).unwrap();
                    assert_eq!(stage, Stage::Released, "{id}: PUBCOMP before PUBREC");
                }
                other => panic!("{id}: unexpected {other:?}"),
            }
        }
    }
}

struct Subscriber {
    name: String,
    version: ProtocolVersion,
    /// Online in the cycles where `cycle % online_every == 0`.
    online_every: u32,
    connected_once: bool,
    subscribed: bool,
    /// QoS 2 packet identifiers received and not yet released (the client side of the session).
    awaiting_pubrel: HashSet<u16>,
    /// (publisher, sequence number) -> times delivered to the application.
    got: HashMap<(usize, u64), u32>,
    /// Per topic, the QoS 2 sequence numbers in the order they were first delivered.
    qos2_order: HashMap<String, Vec<u64>>,
    /// Deliveries, for the failure messages.
    trace: Vec<String>,
}

impl Subscriber {
    fn new(name: &str, version: ProtocolVersion, online_every: u32) -> Subscriber {
        Subscriber {
            name: name.to_string(),
            version,
            online_every,
            connected_once: false,
            subscribed: false,
            awaiting_pubrel: HashSet::new(),
            got: HashMap::new(),
            qos2_order: HashMap::new(),
            trace: Vec::new(),
        }
    }

    fn deliver(&mut self, p: &Publish) {
        let text = std::str::from_utf8(&p.payload).unwrap();
        let (publisher, seq) = text.split_once(':').unwrap();
        let key = (publisher.parse().unwrap(), seq.parse().unwrap());
        *self.got.entry(key).or_default() += 1;
        self.trace.push(format!(
            "{text}: PUBLISH id {:?} dup {}",
            p.qos.packet_id(),
            p.dup
        ));
        if p.qos.qos() == QoS::ExactlyOnce {
            self.qos2_order
                .entry(p.topic.as_str().to_string())
                .or_default()
                .push(key.1);
        }
    }

    fn history(&self, publisher: usize, seq: u64) -> Vec<&str> {
        let prefix = format!("{publisher}:{seq}:");
        self.trace
            .iter()
            .filter(|t| t.starts_with(&prefix))
            .map(String::as_str)
            .collect()
    }

    /// One connection: subscribe if no SUBACK was ever received, then take what comes until
    /// the link breaks, or, when `until` is given, until every key in it was delivered.
    async fn run(
        &mut self,
        addr: SocketAddr,
        until: Option<&HashSet<(usize, u64)>>,
    ) -> io::Result<()> {
        let (mut link, ack) = Link::connect(addr, connect_for(&self.name, self.version)).await?;
        if self.connected_once {
            assert!(ack.session_present, "{}: the session survived", self.name);
        }
        self.connected_once = true;
        if !self.subscribed {
            let s = Subscribe::new(
                pid(1),
                vec![(
                    TopicFilter::new("crash/+/+").unwrap(),
                    SubscriptionOptions::with_qos(QoS::ExactlyOnce),
                )],
            );
            link.send(&[Packet::Subscribe(s)]).await?;
        }
        loop {
            if let Some(keys) = until {
                if keys.iter().all(|k| self.got.contains_key(k)) {
                    // Whatever the broker still had for us was written before its PINGRESP.
                    link.send(&[Packet::PingReq]).await?;
                    until_pingresp(self, &mut link).await?;
                    return link.send(&[Packet::from(Disconnect::default())]).await;
                }
            }
            let p = link.recv().await?;
            self.handle(&mut link, p).await?;
        }
    }

    async fn handle(&mut self, link: &mut Link, p: Packet) -> io::Result<()> {
        match p {
            Packet::SubAck(_) => self.subscribed = true,
            Packet::Publish(p) => match p.qos.qos() {
                QoS::AtMostOnce => panic!("{}: QoS 0 was never published", self.name),
                QoS::AtLeastOnce => {
                    self.deliver(&p);
                    let id = p.qos.packet_id().unwrap();
                    link.send(&[Packet::PubAck(PubAck::new(id))]).await?;
                }
                QoS::ExactlyOnce => {
                    let id = p.qos.packet_id().unwrap();
                    // A resent PUBLISH of a message already received is not delivered again.
                    if self.awaiting_pubrel.insert(id.get()) {
                        self.deliver(&p);
                    } else {
                        assert!(p.dup, "{}: a new QoS 2 message reused {id}", self.name);
                    }
                    link.send(&[Packet::PubRec(PubRec::new(id))]).await?;
                }
            },
            Packet::PubRel(r) => {
                self.awaiting_pubrel.remove(&r.packet_id.get());
                link.send(&[Packet::PubComp(PubComp::new(r.packet_id))])
                    .await?;
            }
            other => panic!("{}: unexpected {other:?}", self.name),
        }
        Ok(())
    }
}

async fn until_pingresp(s: &mut Subscriber, link: &mut Link) -> io::Result<()> {
    loop {
        match link.recv().await? {
            Packet::PingResp => return Ok(()),
            p => s.handle(link, p).await?,
        }
    }
}

/// xorshift64*: reproducible kill moments without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Runs `f` on each value in its own task and gives the values back once every task is done.
async fn on_tasks<T: Send + 'static>(
    values: Vec<T>,
    f: impl Fn(T) -> tokio::task::JoinHandle<T>,
) -> Vec<T> {
    let handles: Vec<_> = values.into_iter().map(f).collect();
    let mut back = Vec::new();
    for h in handles {
        let v = tokio::time::timeout(WAIT * 6, h)
            .await
            .expect("a client did not notice its broker was gone")
            .expect("a client failed");
        back.push(v);
    }
    back
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_repeated_sigkills() {
    let cycles: u32 = std::env::var("CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash harness: CRASH_SEED={seed} CRASH_CYCLES={cycles}");
    let mut rng = Rng(seed);

    let dir = TempDir::new("crash");
    let port = free_port();
    // Unlimited queues: the mostly-offline subscriber must not lose messages to
    // max_queued_messages, which would be the configured policy, not a crash.
    let conf = persistent_conf(dir.path(), port, "max_queued_messages 0\n");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    use ProtocolVersion::{V3_1_1, V5};
    let mut publishers = vec![
        Publisher::new(0, V3_1_1, QoS::AtLeastOnce, false),
        Publisher::new(1, V5, QoS::ExactlyOnce, false),
        Publisher::new(2, V3_1_1, QoS::ExactlyOnce, false),
        Publisher::new(3, V3_1_1, QoS::AtLeastOnce, true),
    ];
    let mut subscribers = vec![
        Subscriber::new("crash-sub-online", V3_1_1, 1),
        Subscriber::new("crash-sub-v5", V5, 1),
        Subscriber::new("crash-sub-mostly-offline", V3_1_1, 4),
    ];

    // Subscriptions first (a message published before them is not theirs to receive); the
    // kill that ends this run is not counted.
    let broker = start_restored(BIN, &conf);
    let nothing = HashSet::new();
    for s in &mut subscribers {
        s.run(addr, Some(&nothing)).await.unwrap();
        assert!(s.subscribed);
    }
    broker.sigkill();

    for cycle in 0..cycles {
        let broker = start_restored(BIN, &conf);
        let (online, offline): (Vec<_>, Vec<_>) = subscribers
            .into_iter()
            .partition(|s| cycle % s.online_every == 0);
        let subs = tokio::spawn(on_tasks(online, move |mut s| {
            tokio::spawn(async move {
                let _ = s.run(addr, None).await;
                s
            })
        }));
        let pubs = tokio::spawn(on_tasks(publishers, move |mut p| {
            tokio::spawn(async move {
                let _ = p.run(addr, false).await;
                p
            })
        }));
        tokio::time::sleep(Duration::from_millis(20 + rng.below(280))).await;
        broker.sigkill();
        publishers = pubs.await.unwrap();
        subscribers = subs.await.unwrap();
        subscribers.extend(offline);
    }

    // A last run without a kill: every flow completes, every subscriber drains its session.
    let broker = start_restored(BIN, &conf);
    let publishers = on_tasks(publishers, move |mut p| {
        tokio::spawn(async move {
            p.run(addr, true).await.unwrap();
            p
        })
    })
    .await;
    let mut expected = HashSet::new();
    for p in &publishers {
        assert!(p.inflight.is_empty());
        assert_eq!(
            p.acked.len() as u64,
            p.next_seq,
            "every message acknowledged"
        );
        expected.extend((0..p.next_seq).map(|seq| (p.index, seq)));
    }
    let expected = std::sync::Arc::new(expected);
    let subscribers = {
        let expected = std::sync::Arc::clone(&expected);
        on_tasks(subscribers, move |mut s| {
            let expected = std::sync::Arc::clone(&expected);
            tokio::spawn(async move {
                let done = tokio::time::timeout(WAIT * 4, s.run(addr, Some(&expected))).await;
                if done.is_err() {
                    let mut missing: Vec<_> =
                        expected.iter().filter(|k| !s.got.contains_key(k)).collect();
                    missing.sort_unstable();
                    panic!(
                        "{}: {} messages never arrived (seed {seed}), e.g. {:?}",
                        s.name,
                        missing.len(),
                        &missing[..missing.len().min(20)]
                    );
                }
                done.unwrap().unwrap();
                s
            })
        })
        .await
    };

    for s in &subscribers {
        for p in &publishers {
            for seq in 0..p.next_seq {
                let n = s.got.get(&(p.index, seq)).copied().unwrap_or(0);
                match p.qos {
                    QoS::ExactlyOnce => assert_eq!(
                        n,
                        1,
                        "{}: QoS 2 message {}:{seq} delivered {n} times (seed {seed})\n\
                         publisher: {:?}\nsubscriber: {:?}",
                        s.name,
                        p.index,
                        p.history(seq),
                        s.history(p.index, seq)
                    ),
                    _ => assert!(
                        n >= 1,
                        "{}: QoS 1 message {}:{seq} lost (seed {seed})",
                        s.name,
                        p.index
                    ),
                }
            }
        }
        // [MQTT-4.6.0-5] messages of a topic reach the subscriber in publishing order.
        for (topic, seqs) in &s.qos2_order {
            assert!(
                seqs.windows(2).all(|w| w[0] < w[1]),
                "{}: {topic} out of order (seed {seed}): {seqs:?}",
                s.name
            );
        }
    }

    // The retained messages are the last ones published to each topic.
    let retainer = &publishers[3];
    let (mut r, _) = Link::connect(addr, connect_packet(V3_1_1, "crash-check", true))
        .await
        .unwrap();
    let s = Subscribe::new(
        pid(1),
        vec![(
            TopicFilter::new("crash/r/#").unwrap(),
            SubscriptionOptions::with_qos(QoS::AtMostOnce),
        )],
    );
    r.send(&[Packet::Subscribe(s), Packet::PingReq])
        .await
        .unwrap();
    let mut retained = BTreeMap::new();
    loop {
        match r.recv().await.unwrap() {
            Packet::PingResp => break,
            Packet::SubAck(_) => {}
            Packet::Publish(p) => {
                assert!(p.retain);
                retained.insert(
                    p.topic.as_str().to_string(),
                    std::str::from_utf8(&p.payload).unwrap().to_string(),
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let want: BTreeMap<String, String> = (retainer.next_seq.saturating_sub(RETAINED_KEYS)
        ..retainer.next_seq)
        .map(|seq| (retainer.topic(seq), format!("3:{seq}")))
        .collect();
    assert_eq!(retained, want, "seed {seed}");
    drop(broker);

    let published: Vec<u64> = publishers.iter().map(|p| p.next_seq).collect();
    let delivered: u64 = subscribers
        .iter()
        .map(|s| s.got.values().map(|n| u64::from(*n)).sum::<u64>())
        .sum();
    eprintln!(
        "crash harness: {cycles} SIGKILLs, published per publisher {published:?}, \
         {delivered} deliveries to {} subscribers, all checks passed",
        subscribers.len()
    );
}
