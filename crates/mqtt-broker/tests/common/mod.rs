//! Test support: a broker on an ephemeral loopback port, and a raw MQTT client that speaks
//! packets through the codec (so tests can also send what a real client never would).
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use mqtt_broker::config::Config;
use mqtt_broker::server::Broker;
use mqtt_codec::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

pub mod process;

/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test waits to be sure something does not happen.
pub const QUIET: Duration = Duration::from_millis(300);

pub struct TestBroker {
    pub addr: SocketAddr,
    pub shutdown: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<()>,
}

impl TestBroker {
    pub async fn start() -> TestBroker {
        Self::with_config(|_| {}).await
    }

    /// A local-only broker on an ephemeral port, after `edit` has adjusted its configuration.
    pub async fn with_config(edit: impl FnOnce(&mut Config)) -> TestBroker {
        Self::with_config_and_hub(edit).await.0
    }

    /// A broker and its shared state, to wait on events such as "subscribed".
    pub async fn start_with_hub() -> (TestBroker, std::sync::Arc<mqtt_broker::Hub>) {
        Self::with_config_and_hub(|_| {}).await
    }

    /// A broker with an edited configuration, and its shared state.
    pub async fn start_with_hub_config(
        edit: impl FnOnce(&mut Config),
    ) -> (TestBroker, std::sync::Arc<mqtt_broker::Hub>) {
        Self::with_config_and_hub(edit).await
    }

    /// A broker whose connections may take `timeout` to send CONNECT (500 ms otherwise): a
    /// close seen well before it is the broker's own decision, not the CONNECT timeout.
    pub async fn with_connect_timeout(
        timeout: Duration,
        edit: impl FnOnce(&mut Config),
    ) -> TestBroker {
        Self::build(edit, timeout).await.0
    }

    async fn with_config_and_hub(
        edit: impl FnOnce(&mut Config),
    ) -> (TestBroker, std::sync::Arc<mqtt_broker::Hub>) {
        Self::build(edit, Duration::from_millis(500)).await
    }

    async fn build(
        edit: impl FnOnce(&mut Config),
        connect_timeout: Duration,
    ) -> (TestBroker, std::sync::Arc<mqtt_broker::Hub>) {
        let mut config = Config::local_only(Some(0));
        config
            .listeners
            .retain(|l| l.bind_address.as_deref() == Some("127.0.0.1"));
        edit(&mut config);
        let mut broker = Broker::bind(config).await.unwrap();
        broker.set_connect_timeout(connect_timeout);
        let hub = broker.hub();
        let addr = broker.local_addrs()[0];
        let shutdown = broker.shutdown_handle();
        let task = tokio::spawn(broker.run());
        let broker = TestBroker {
            addr,
            shutdown,
            task,
        };
        (broker, hub)
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(WAIT, self.task).await;
    }
}

/// A client that sends and receives raw packets.
pub struct RawClient {
    pub stream: TcpStream,
    pub version: ProtocolVersion,
    decoder: Decoder,
    buf: BytesMut,
}

impl RawClient {
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> RawClient {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            version,
            decoder: Decoder::new(version),
            buf: BytesMut::new(),
        }
    }

    /// Opens a connection and completes CONNECT/CONNACK, asserting success.
    pub async fn connect(addr: SocketAddr, version: ProtocolVersion, id: &str) -> RawClient {
        Self::connect_with(addr, connect_packet(version, id, true))
            .await
            .0
    }

    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut c = RawClient::open(addr, connect.protocol).await;
        c.send(Packet::from(connect)).await;
        match c.recv().await {
            Some(Packet::ConnAck(ack)) => (c, *ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.encode(self.version, &mut out).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// Sends several packets in one write, so that the broker reads them together.
    pub async fn send_all(&mut self, packets: &[Packet]) {
        let mut out = BytesMut::new();
        for packet in packets {
            let version = match packet {
                Packet::Connect(c) => c.protocol,
                _ => self.version,
            };
            packet.encode(version, &mut out).unwrap();
        }
        self.stream.write_all(&out).await.unwrap();
    }

    /// Sends PINGREQ and returns what the broker sent before its PINGRESP. The broker writes
    /// packets in the order it queues them, so whatever it had queued for this client before it
    /// read the PINGREQ comes first: an empty result shows that nothing was sent, without
    /// waiting for a timeout. Panics if the connection closes first.
    pub async fn sync(&mut self) -> Vec<Packet> {
        self.send(Packet::PingReq).await;
        let mut got = Vec::new();
        loop {
            match self.recv().await {
                Some(Packet::PingResp) => return got,
                Some(p) => got.push(p),
                None => panic!("connection closed while waiting for PINGRESP; got {got:?}"),
            }
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next packet, or None if the connection closed. Panics after [`WAIT`].
    pub async fn recv(&mut self) -> Option<Packet> {
        tokio::time::timeout(WAIT, self.recv_inner())
            .await
            .expect("timed out waiting for a packet")
    }

    /// The next packet, or None if the connection closed. Panics after `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Option<Packet> {
        tokio::time::timeout(limit, self.recv_inner())
            .await
            .expect("timed out waiting for a packet")
    }

    /// The next packet if one arrives within [`QUIET`].
    pub async fn try_recv(&mut self) -> Option<Packet> {
        tokio::time::timeout(QUIET, self.recv_inner())
            .await
            .ok()
            .flatten()
    }

    async fn recv_inner(&mut self) -> Option<Packet> {
        loop {
            if let Some(p) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(p);
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Waits until the broker closes the connection, returning what it sent before.
    pub async fn until_closed(&mut self) -> Vec<Packet> {
        let mut got = Vec::new();
        while let Some(p) = self.recv().await {
            got.push(p);
        }
        got
    }

    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> SubAck {
        self.subscribe_with(filter, SubscriptionOptions::with_qos(qos), None)
            .await
    }

    pub async fn subscribe_with(
        &mut self,
        filter: &str,
        options: SubscriptionOptions,
        id: Option<u32>,
    ) -> SubAck {
        let mut s = Subscribe::new(
            PacketId::new(1).unwrap(),
            vec![(TopicFilter::new(filter).unwrap(), options)],
        );
        s.properties.subscription_identifier = id.and_then(std::num::NonZeroU32::new);
        self.send(Packet::Subscribe(s)).await;
        match self.recv().await {
            Some(Packet::SubAck(a)) => a,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Publishes and completes the QoS flow.
    pub async fn publish(&mut self, topic: &str, payload: &str, qos: QoS, retain: bool) {
        let id = PacketId::new(77).unwrap();
        let p = Publish {
            qos: PublishQos::new(qos, id),
            retain,
            topic: TopicName::new(topic).unwrap(),
            payload: payload.to_string().into(),
            ..Publish::default()
        };
        self.send(Packet::Publish(p)).await;
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                assert!(matches!(self.recv().await, Some(Packet::PubAck(a)) if a.packet_id == id));
            }
            QoS::ExactlyOnce => {
                assert!(matches!(self.recv().await, Some(Packet::PubRec(a)) if a.packet_id == id));
                self.send(Packet::PubRel(PubRel::new(id))).await;
                assert!(matches!(self.recv().await, Some(Packet::PubComp(a)) if a.packet_id == id));
            }
        }
    }

    /// Receives a PUBLISH and acknowledges it as its QoS requires.
    pub async fn expect_publish(&mut self) -> Publish {
        match self.recv().await {
            Some(Packet::Publish(p)) => {
                if let Some(id) = p.qos.packet_id() {
                    match p.qos.qos() {
                        QoS::AtLeastOnce => self.send(Packet::PubAck(PubAck::new(id))).await,
                        _ => {
                            self.send(Packet::PubRec(PubRec::new(id))).await;
                            assert!(matches!(self.recv().await, Some(Packet::PubRel(_))));
                            self.send(Packet::PubComp(PubComp::new(id))).await;
                        }
                    }
                }
                p
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    pub async fn disconnect(mut self) {
        self.send(Packet::from(Disconnect::default())).await;
        let _ = self.stream.shutdown().await;
    }
}

/// Whether `id` is `prefix` followed by an upper-case UUID in 8-4-4-4-12 form, as Mosquitto
/// assigns client identifiers (`auto-B213DF67-C224-6E45-EEF9-3D0C3D1CE7D4`).
pub fn is_generated_client_id(id: &str, prefix: &str) -> bool {
    let Some(uuid) = id.strip_prefix(prefix) else {
        return false;
    };
    let groups: Vec<&str> = uuid.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        })
}

pub fn connect_packet(version: ProtocolVersion, id: &str, clean: bool) -> Connect {
    Connect {
        protocol: version,
        clean_start: clean,
        keep_alive: 60,
        client_id: MqttString::new(id).unwrap(),
        ..Connect::default()
    }
}
