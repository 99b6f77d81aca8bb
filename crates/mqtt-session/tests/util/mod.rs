//! A deterministic simulation harness: a client and a server [`Session`] joined by an in-memory
//! link that carries real bytes (encoded and decoded with mqtt-codec), and that can deliver one
//! packet at a time, lose everything in transit, drop the connection, advance time and reconnect.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use mqtt_codec::{
    ConnAck, Connect, ConnectProperties, Decoder, MqttString, Packet, ProtocolVersion,
};
use mqtt_session::{Config, ConnectionState, Event, Instant, Session};

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    ClientToServer,
    ServerToClient,
}

pub struct Pair {
    pub version: ProtocolVersion,
    pub client: Session,
    pub server: Session,
    pub now: Instant,
    /// Bytes in transit, one encoded packet per entry.
    pub c2s: VecDeque<BytesMut>,
    pub s2c: VecDeque<BytesMut>,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Every packet delivered, in order, with its direction (for wire-level assertions).
    pub delivered: Vec<(Dir, Packet)>,
    pub keep_alive: u16,
    pub session_expiry: u32,
    pub server_has_session: bool,
}

impl Pair {
    pub fn new(version: ProtocolVersion, client: Config, server: Config) -> Self {
        Pair {
            version,
            client: Session::new_client(client),
            server: Session::new_server(server),
            now: Instant::from_millis(0),
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            client_events: Vec::new(),
            server_events: Vec::new(),
            delivered: Vec::new(),
            keep_alive: 0,
            session_expiry: 3600,
            server_has_session: false,
        }
    }

    /// Connects (or reconnects) and runs until CONNACK has been processed. The "broker" keeps
    /// the server session unless Clean Start is set, and says so with Session Present.
    pub fn connect(&mut self, clean_start: bool) {
        assert!(self.c2s.is_empty() && self.s2c.is_empty());
        let connect = Connect {
            protocol: self.version,
            clean_start,
            keep_alive: self.keep_alive,
            client_id: MqttString::new("sim").unwrap(),
            properties: ConnectProperties {
                session_expiry_interval: self.version.is_v5().then_some(self.session_expiry),
                ..Default::default()
            },
            ..Connect::default()
        };
        self.client.connect(self.now, connect).unwrap();
        self.flush();
        let bytes = self.c2s.pop_front().expect("CONNECT");
        let Packet::Connect(connect) = self.decode(Dir::ClientToServer, bytes) else {
            panic!("first packet is not CONNECT")
        };
        let session_present = self.server_has_session && !clean_start;
        if !session_present {
            // A fresh server session, as a broker creates for a new or cleaned session.
            self.server = Session::new_server(self.server.config().clone());
        }
        self.server
            .accept(
                self.now,
                &connect,
                ConnAck {
                    session_present,
                    ..ConnAck::default()
                },
            )
            .unwrap();
        self.server_has_session = true;
        self.flush();
        while let Some(bytes) = self.s2c.pop_front() {
            let packet = self.decode(Dir::ServerToClient, bytes);
            self.client.handle_packet(self.now, packet);
            self.flush();
            if self.client.connection_state() == ConnectionState::Connected {
                break;
            }
        }
        self.collect_events();
    }

    fn decode(&mut self, dir: Dir, mut bytes: BytesMut) -> Packet {
        let mut decoder = match dir {
            Dir::ClientToServer
                if self.server.connection_state() == ConnectionState::Disconnected =>
            {
                Decoder::new_server()
            }
            _ => Decoder::new(self.version),
        };
        let packet = decoder.decode(&mut bytes).unwrap().expect("whole packet");
        assert!(bytes.is_empty());
        self.delivered.push((dir, packet.clone()));
        packet
    }

    /// Moves everything both sessions want to send onto the link, as bytes.
    pub fn flush(&mut self) {
        while let Some(p) = self.client.poll_transmit(self.now) {
            let mut buf = BytesMut::new();
            p.encode(self.version, &mut buf).unwrap();
            self.c2s.push_back(buf);
        }
        while let Some(p) = self.server.poll_transmit(self.now) {
            let mut buf = BytesMut::new();
            p.encode(self.version, &mut buf).unwrap();
            self.s2c.push_back(buf);
        }
    }

    pub fn collect_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Delivers the oldest packet travelling in `dir`; false if there was none.
    pub fn step(&mut self, dir: Dir) -> bool {
        self.flush();
        let queue = match dir {
            Dir::ClientToServer => &mut self.c2s,
            Dir::ServerToClient => &mut self.s2c,
        };
        let Some(bytes) = queue.pop_front() else {
            return false;
        };
        let packet = self.decode(dir, bytes);
        match dir {
            Dir::ClientToServer => self.server.handle_packet(self.now, packet),
            Dir::ServerToClient => self.client.handle_packet(self.now, packet),
        }
        self.flush();
        self.collect_events();
        true
    }

    /// Runs until nothing is in transit.
    pub fn drive(&mut self) {
        self.flush();
        while self.step(Dir::ClientToServer) | self.step(Dir::ServerToClient) {}
        self.collect_events();
    }

    /// The connection breaks: everything in transit is lost, both sides notice.
    pub fn drop_connection(&mut self) {
        self.flush();
        self.c2s.clear();
        self.s2c.clear();
        self.client.connection_lost();
        self.server.connection_lost();
        self.collect_events();
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.flush();
        self.collect_events();
    }

    /// Both processes restart from their persisted state (which goes through JSON).
    pub fn restart_both(&mut self) {
        self.drop_connection();
        let restore = |s: &Session| {
            let json = serde_json::to_string(&s.snapshot()).unwrap();
            let state = serde_json::from_str(&json).unwrap();
            Session::restore(s.config().clone(), state).unwrap()
        };
        self.client = restore(&self.client);
        self.server = restore(&self.server);
    }

    /// Packets of `dir` delivered so far.
    pub fn packets(&self, dir: Dir) -> impl Iterator<Item = &Packet> {
        self.delivered
            .iter()
            .filter(move |(d, _)| *d == dir)
            .map(|(_, p)| p)
    }
}

/// Feeds a server session a SUBSCRIBE (or UNSUBSCRIBE) with identifier `id` and drops the
/// resulting event, so that the test can answer it with `suback` (or `unsuback`).
pub fn requested(server: &mut Session, kind: mqtt_codec::PacketType, id: u16) {
    use mqtt_codec::{PacketId, Subscribe, SubscriptionOptions, TopicFilter, Unsubscribe};
    let id = PacketId::new(id).unwrap();
    let filter = TopicFilter::new("requested").unwrap();
    let packet = match kind {
        mqtt_codec::PacketType::Subscribe => Packet::Subscribe(Subscribe::new(
            id,
            vec![(filter, SubscriptionOptions::default())],
        )),
        _ => Packet::Unsubscribe(Unsubscribe::new(id, vec![filter])),
    };
    server.handle_packet(Instant::from_millis(0), packet);
    assert!(matches!(
        server.poll_event(),
        Some(Event::Subscribe(_) | Event::Unsubscribe(_))
    ));
}
