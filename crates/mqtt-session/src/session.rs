//! The session: one side of one MQTT connection and the state that outlives it.

use std::collections::VecDeque;
use std::time::Duration;

use mqtt_codec::{
    AckProperties, Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType,
    ProtocolVersion, PubAck, Publish, QoS, ReasonCode, SubAck, Subscribe, SubscribeProperties,
    SubscriptionOptions, TopicFilter, UnsubAck, Unsubscribe, UnsubscribeProperties,
};

use crate::alias::{InboundAliases, OutboundAliases, Outgoing, Unresolved};
use crate::config::{Config, QueueLimits};
use crate::event::{
    DropReason, Event, InboundAck, MessageId, PublishError, RequestError, Violation,
};
use crate::message::Message;
use crate::outbound::{Inflight, OutState, Outbound, Queued};
use crate::state::{HeldMessage, RestoreError, SessionState, STATE_FORMAT};
use crate::time::Instant;
use crate::transmit::{Ack, Transmit, TransmitQueue};

/// Which end of the connection a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Role {
    /// Sends CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ.
    Client,
    /// Answers them.
    Server,
}

/// The state of the network connection, as far as the protocol is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// No connection: messages queue up for the next one.
    Disconnected,
    /// Client: CONNECT queued, waiting for CONNACK.
    Connecting,
    /// Packets flow both ways.
    Connected,
    /// DISCONNECT sent or received, a violation, or a keep-alive timeout: nothing more is
    /// processed; flush what `poll_transmit` still returns, then close the connection.
    Closed,
}

/// A state of an incoming QoS 1 or 2 message (spec 4.3.2, 4.3.3, receiver side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InState {
    /// Delivered to the application, which has not acknowledged it yet (manual acks).
    AwaitingAppAck(QoS),
    /// QoS 2: PUBREC sent; the identifier stays reserved until PUBREL so that a re-sent PUBLISH
    /// is not delivered twice.
    AwaitingPubRel,
}

/// What the peer announced about itself for this connection.
#[derive(Debug, Clone, Copy)]
struct PeerLimits {
    receive_maximum: u16,
    max_packet_size: usize,
    topic_alias_maximum: u16,
    maximum_qos: QoS,
    retain_available: bool,
    request_problem_information: bool,
}

impl PeerLimits {
    /// Client: whether the server's Maximum QoS or Retain Available forbid sending `message`.
    fn forbid(&self, message: &Message) -> bool {
        message.qos > self.maximum_qos || message.retain && !self.retain_available
    }
}

impl Default for PeerLimits {
    fn default() -> Self {
        PeerLimits {
            receive_maximum: u16::MAX,
            max_packet_size: usize::MAX,
            topic_alias_maximum: 0,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            request_problem_information: true,
        }
    }
}

/// One side (client or server) of an MQTT session, as a sans-IO state machine.
///
/// Feed it what arrives ([`Session::handle_packet`]), what the application wants
/// ([`Session::publish`], [`Session::subscribe`], ...) and the passing of time
/// ([`Session::handle_timeout`]); then poll it for packets to send ([`Session::poll_transmit`]),
/// events for the application ([`Session::poll_event`]) and when to call it back
/// ([`Session::poll_timeout`]). It never reads a clock or touches a socket.
///
/// See the crate documentation for a complete exchange between two sessions.
#[derive(Debug)]
pub struct Session {
    role: Role,
    config: Config,
    version: ProtocolVersion,
    connection: ConnectionState,
    peer: PeerLimits,
    keep_alive: Option<Duration>,
    last_sent: Instant,
    last_received: Instant,
    ping_sent: Option<Instant>,
    session_expiry_interval: u32,
    /// What we announced for this connection: enforced on the peer's packets.
    inbound_receive_maximum: u16,
    inbound_alias_maximum: u16,
    /// Client: CONNECT had Clean Start, so a CONNACK with Session Present is a violation.
    expect_no_session: bool,
    out: Outbound,
    inbound: Vec<(PacketId, InState)>,
    /// Server: identifiers of SUBSCRIBE and UNSUBSCRIBE awaiting the application's answer.
    requests_in: Vec<(PacketType, PacketId)>,
    aliases_in: InboundAliases,
    aliases_out: OutboundAliases,
    transmit: TransmitQueue,
    events: VecDeque<Event>,
}

impl Session {
    fn new(role: Role, config: Config) -> Self {
        Session {
            role,
            config,
            version: ProtocolVersion::V5,
            connection: ConnectionState::Disconnected,
            peer: PeerLimits::default(),
            keep_alive: None,
            last_sent: Instant::default(),
            last_received: Instant::default(),
            ping_sent: None,
            session_expiry_interval: 0,
            inbound_receive_maximum: u16::MAX,
            inbound_alias_maximum: 0,
            expect_no_session: false,
            out: Outbound::default(),
            inbound: Vec::new(),
            requests_in: Vec::new(),
            aliases_in: InboundAliases::default(),
            aliases_out: OutboundAliases::default(),
            transmit: TransmitQueue::default(),
            events: VecDeque::new(),
        }
    }

    /// A client session, not yet connected.
    pub fn new_client(config: Config) -> Self {
        Session::new(Role::Client, config)
    }

    /// A server session for a client that is about to be accepted with [`Session::accept`].
    pub fn new_server(config: Config) -> Self {
        Session::new(Role::Server, config)
    }

    /// This session's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The protocol version of the current (or last) connection.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The connection state.
    pub fn connection_state(&self) -> ConnectionState {
        self.connection
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The Session Expiry Interval in seconds, as set by CONNECT and possibly DISCONNECT.
    pub fn session_expiry_interval(&self) -> u32 {
        self.session_expiry_interval
    }

    /// Outgoing QoS 1 and 2 messages in flight.
    pub fn inflight_len(&self) -> usize {
        self.out.inflight.len()
    }

    /// Outgoing messages waiting to be sent.
    pub fn queued_len(&self) -> usize {
        self.out.queue.len()
    }

    /// Payload bytes of the outgoing messages waiting to be sent.
    pub fn queued_bytes(&self) -> usize {
        self.out.queued_bytes
    }

    /// Whether what waits to be sent (queued messages and packets not yet taken by
    /// [`Session::poll_transmit`]) has reached `max_queued_messages` or `max_queued_bytes`:
    /// the peer does not keep up. A broker uses it to slow publishers down while the peer is
    /// connected, rather than refusing messages (see [`Session::publish_within`]).
    ///
    /// ```
    /// use mqtt_session::{Config, Session};
    /// let s = Session::new_server(Config::default());
    /// assert!(!s.is_backlogged());
    /// ```
    pub fn is_backlogged(&self) -> bool {
        let QueueLimits { messages, bytes } = self.config.queue_limits();
        (messages != 0 && self.out.queue.len() + self.transmit.len() >= messages)
            || (bytes != 0 && self.out.queued_bytes >= bytes)
    }

    // -----------------------------------------------------------------------------------------
    // Connection life cycle

    /// Client: starts a connection by queuing `connect`. Its limits are set from the
    /// configuration (Receive Maximum, Topic Alias Maximum, Maximum Packet Size). With Clean
    /// Start the session state is discarded first [MQTT-3.1.2-4].
    pub fn connect(&mut self, now: Instant, mut connect: Connect) -> Result<(), RequestError> {
        if self.role != Role::Client {
            return Err(RequestError::WrongRole);
        }
        self.reset_connection();
        self.version = connect.protocol;
        if self.version.is_v5() {
            let p = &mut connect.properties;
            if self.config.receive_maximum != u16::MAX {
                p.receive_maximum = core::num::NonZeroU16::new(self.config.receive_maximum);
            }
            if self.config.topic_alias_maximum != 0 {
                p.topic_alias_maximum = Some(self.config.topic_alias_maximum);
            } else {
                p.topic_alias_maximum = None;
            }
            if self.config.max_packet_size.is_some() {
                p.maximum_packet_size = self.config.max_packet_size;
            }
            self.session_expiry_interval = p.session_expiry_interval.unwrap_or(0);
        }
        if connect.clean_start {
            self.discard_session_state();
        }
        self.expect_no_session = connect.clean_start;
        let p = &connect.properties;
        self.inbound_receive_maximum = p.receive_maximum.map_or(u16::MAX, |v| v.get());
        self.inbound_alias_maximum = p.topic_alias_maximum.unwrap_or(0);
        self.keep_alive = keep_alive(connect.keep_alive);
        self.connection = ConnectionState::Connecting;
        self.last_received = now;
        self.transmit
            .push_packet(Packet::Connect(Box::new(connect)));
        Ok(())
    }

    /// Server: accepts the client whose `connect` the application has authenticated, answering
    /// with `connack`. The session fills in the properties it is responsible for (Receive
    /// Maximum, Topic Alias Maximum, Maximum Packet Size, Maximum QoS, Retain Available) unless
    /// the application set them. With Session Present 0 any previous state is discarded; with
    /// Session Present 1 unacknowledged messages are re-sent [MQTT-4.4.0-1].
    ///
    /// A refusal (`connack.reason_code` is an error) is queued and the session closed.
    /// Fails if the session is still driven by a connection (call `connection_lost` first).
    pub fn accept(
        &mut self,
        now: Instant,
        connect: &Connect,
        mut connack: ConnAck,
    ) -> Result<(), RequestError> {
        if self.role != Role::Server {
            return Err(RequestError::WrongRole);
        }
        if matches!(
            self.connection,
            ConnectionState::Connected | ConnectionState::Connecting
        ) {
            return Err(RequestError::AlreadyConnected);
        }
        self.reset_connection();
        self.version = connect.protocol;
        self.last_received = now;
        let refused = connack.reason_code.is_error();
        if self.version.is_v5() {
            // Read before anything is sent, refusals included: the client's Maximum Packet Size
            // and Request Problem Information apply to the CONNACK too [MQTT-3.2.2-19].
            let cp = &connect.properties;
            self.peer = PeerLimits {
                receive_maximum: cp.receive_maximum.map_or(u16::MAX, |v| v.get()),
                max_packet_size: cp
                    .maximum_packet_size
                    .map_or(usize::MAX, |v| v.get() as usize),
                topic_alias_maximum: cp.topic_alias_maximum.unwrap_or(0),
                maximum_qos: QoS::ExactlyOnce,
                retain_available: true,
                request_problem_information: cp.request_problem_information.unwrap_or(true),
            };
            self.session_expiry_interval = connack
                .properties
                .session_expiry_interval
                .or(cp.session_expiry_interval)
                .unwrap_or(0);
            let p = &mut connack.properties;
            if p.receive_maximum.is_none() && self.config.receive_maximum != u16::MAX {
                p.receive_maximum = core::num::NonZeroU16::new(self.config.receive_maximum);
            }
            if p.topic_alias_maximum.is_none() && self.config.topic_alias_maximum != 0 {
                p.topic_alias_maximum = Some(self.config.topic_alias_maximum);
            }
            if p.maximum_packet_size.is_none() {
                p.maximum_packet_size = self.config.max_packet_size;
            }
            if p.maximum_qos.is_none() && self.config.maximum_qos != QoS::ExactlyOnce {
                p.maximum_qos = Some(self.config.maximum_qos);
            }
            if p.retain_available.is_none() && !self.config.retain_available {
                p.retain_available = Some(false);
            }
            self.inbound_receive_maximum = p.receive_maximum.map_or(u16::MAX, |v| v.get());
            self.inbound_alias_maximum = p.topic_alias_maximum.unwrap_or(0);
        }
        let keep_alive_secs = connack
            .properties
            .server_keep_alive
            .filter(|_| self.version.is_v5())
            .unwrap_or(connect.keep_alive);
        self.keep_alive = keep_alive(keep_alive_secs);
        let session_present = connack.session_present && !refused;
        self.transmit
            .push_packet(Packet::ConnAck(Box::new(connack)));
        if refused {
            self.connection = ConnectionState::Closed;
            return Ok(());
        }
        self.connection = ConnectionState::Connected;
        if session_present {
            self.resend_inflight();
        } else {
            self.discard_session_state();
        }
        self.pump(now);
        Ok(())
    }

    /// Closes the connection from this side: queues a DISCONNECT (a 3.1.1 server has none to
    /// send) and stops processing. The session state is kept for the next connection.
    pub fn disconnect(&mut self, disconnect: Disconnect) {
        let connected = matches!(
            self.connection,
            ConnectionState::Connected | ConnectionState::Connecting
        );
        if connected && (self.version.is_v5() || self.role == Role::Client) {
            let mut disconnect = disconnect;
            match self.role {
                // [MQTT-3.14.2-2] the server MUST NOT send a Session Expiry Interval.
                Role::Server => disconnect.properties.session_expiry_interval = None,
                Role::Client => {
                    if let Some(sei) = disconnect.properties.session_expiry_interval {
                        self.session_expiry_interval = sei;
                    }
                }
            }
            self.transmit.push_packet(Packet::from(disconnect));
        }
        if self.connection != ConnectionState::Disconnected {
            self.connection = ConnectionState::Closed;
        }
    }

    /// The network connection is gone. Unsent packets are dropped; in-flight messages stay and
    /// are re-sent when the session resumes.
    pub fn connection_lost(&mut self) {
        self.reset_connection();
        self.connection = ConnectionState::Disconnected;
    }

    fn reset_connection(&mut self) {
        self.transmit.clear();
        self.aliases_in.clear();
        self.aliases_out.clear();
        self.ping_sent = None;
        self.peer = PeerLimits::default();
        // Requests awaiting SUBACK/UNSUBACK die with the connection; their identifiers are free.
        self.out.requests.clear();
        self.requests_in.clear();
    }

    /// Discards the session state, as Clean Start or Session Present 0 require. Messages that
    /// the peer has not yet received go back to the queue as new messages; QoS 2 messages the
    /// peer already acknowledged with PUBREC are reported as dropped.
    fn discard_session_state(&mut self) {
        self.inbound.clear();
        self.out.pending_resends = 0;
        let inflight = std::mem::take(&mut self.out.inflight);
        let mut requeue = Vec::new();
        for m in inflight {
            match m.message {
                Some(message) => requeue.push(Queued {
                    id: m.id,
                    message,
                    expires_at: None,
                }),
                None => self.events.push_back(Event::PublishDropped {
                    id: m.id,
                    reason: DropReason::SessionLost,
                }),
            }
        }
        for q in requeue.into_iter().rev() {
            self.out.queued_bytes += q.message.payload.len();
            self.out.queue.push_front(q);
        }
    }

    /// Re-sends every unacknowledged PUBLISH (DUP set) and PUBREL, in their original order
    /// [MQTT-4.4.0-1] [MQTT-4.6.0-1] [MQTT-4.6.0-2] [MQTT-4.6.0-3].
    ///
    /// PUBREL packets go at once. PUBLISH packets are marked and sent by `pump` as the peer's
    /// Receive Maximum allows, which may be lower than on the previous connection
    /// [MQTT-3.3.4-7].
    fn resend_inflight(&mut self) {
        let mut pending = 0;
        for m in self.out.inflight.iter_mut() {
            match (&m.message, m.state) {
                (_, OutState::AwaitingPubComp) | (None, _) => {
                    m.resend = false;
                    self.transmit
                        .push(Ack::pubrel(m.packet_id, ReasonCode::Success));
                }
                (Some(_), _) => {
                    m.resend = true;
                    pending += 1;
                }
            }
        }
        self.out.pending_resends = pending;
    }

    /// Re-sends marked PUBLISH packets, in order, while the window has room. Returns false
    /// while some are still waiting.
    fn pump_resends(&mut self) -> bool {
        while self.out.pending_resends > 0 {
            let on_wire = self.out.inflight.len() - self.out.pending_resends;
            if on_wire >= self.window() {
                return false;
            }
            let Some(pos) = self.out.inflight.iter().position(|m| m.resend) else {
                self.out.pending_resends = 0;
                break;
            };
            self.out.pending_resends -= 1;
            let Some(m) = self.out.inflight.get_mut(pos) else {
                break;
            };
            m.resend = false;
            let (id, packet_id) = (m.id, m.packet_id);
            let Some(message) = &m.message else {
                continue;
            };
            if self.role == Role::Client && self.peer.forbid(message) {
                // The server lowered Maximum QoS or withdrew Retain Available since the message
                // was first sent [MQTT-3.2.2-11] [MQTT-3.2.2-14].
                self.out.inflight.remove(pos);
                self.events.push_back(Event::PublishDropped {
                    id,
                    reason: DropReason::NotSupported,
                });
                continue;
            }
            // Re-sent with the full topic: aliases do not survive the connection.
            let client = self.role == Role::Client;
            let packet = message.to_packet(packet_id, true, Outgoing::Plain, client);
            if self.too_large(&packet) {
                // [MQTT-3.1.2-25] the peer's new Maximum Packet Size may be lower.
                self.out.inflight.remove(pos);
                self.events.push_back(Event::PublishDropped {
                    id,
                    reason: DropReason::TooLarge,
                });
                continue;
            }
            self.transmit.push_packet(packet);
        }
        true
    }

    // -----------------------------------------------------------------------------------------
    // Application commands

    /// Queues a message for the peer and returns the id its completion event will carry.
    ///
    /// QoS 0 messages are sent at once when connected (refused with `QueueFull` when
    /// `max_queued_messages` packets already wait to be written: a slow consumer), dropped when
    /// not connected (unless `queue_qos0_offline`). QoS 1 and 2 messages are sent as soon as the
    /// in-flight window allows (Receive Maximum), in order, and wait in the queue while
    /// disconnected or [closed](ConnectionState::Closed): they go out on the next connection of a
    /// resumed session.
    pub fn publish(&mut self, now: Instant, message: Message) -> Result<MessageId, PublishError> {
        let limits = self.config.queue_limits();
        self.publish_within(now, message, limits)
    }

    /// [`Session::publish`] with other queue limits than the configured ones: a broker that
    /// slows publishers down when a connected subscriber is [backlogged](Session::is_backlogged)
    /// lets the queue grow past `max_queued_messages` meanwhile, up to a hard limit.
    ///
    /// ```
    /// use mqtt_codec::{QoS, TopicName};
    /// use mqtt_session::{Config, Instant, Message, QueueLimits, Session};
    /// let config = Config { max_queued_messages: 1, ..Config::default() };
    /// let mut s = Session::new_server(config);
    /// let m = Message::new(TopicName::new("t").unwrap(), &b"x"[..], QoS::AtLeastOnce);
    /// let now = Instant::from_millis(0);
    /// // Offline: the first waits, the second is over max_queued_messages...
    /// assert!(s.publish(now, m.clone()).is_ok());
    /// assert!(s.publish(now, m.clone()).is_err());
    /// // ...unless the caller allows more.
    /// let limits = QueueLimits { messages: 10, bytes: 0 };
    /// assert!(s.publish_within(now, m, limits).is_ok());
    /// assert_eq!(s.queued_len(), 2);
    /// ```
    pub fn publish_within(
        &mut self,
        now: Instant,
        message: Message,
        limits: QueueLimits,
    ) -> Result<MessageId, PublishError> {
        if self.role == Role::Client && self.connection == ConnectionState::Connected {
            // [MQTT-3.2.2-11] / [MQTT-3.2.2-14]: respect what the server announced.
            if message.qos > self.peer.maximum_qos {
                return Err(PublishError::QoSNotSupported(message.qos));
            }
            if message.retain && !self.peer.retain_available {
                return Err(PublishError::RetainNotSupported);
            }
        }
        // A closed connection is on its way out but the session is not: the message waits in
        // the queue for the next connection, exactly as while disconnected. (A broker routes to
        // a session between reading its DISCONNECT and detaching it; refusing the message there
        // lost it although the publisher had its acknowledgement.)
        let connected = self.connection == ConnectionState::Connected;
        if message.qos == QoS::AtMostOnce
            && connected
            && limits.messages != 0
            && self.transmit.len() >= limits.messages
        {
            // The peer does not keep up with what is already waiting to be written: QoS 0 is
            // the first to go, so that a slow consumer cannot make us buffer without bound.
            return Err(PublishError::QueueFull);
        }
        let id = self.out.new_message_id();
        if message.qos == QoS::AtMostOnce && !connected && !self.config.queue_qos0_offline {
            self.events.push_back(Event::PublishDropped {
                id,
                reason: DropReason::Offline,
            });
            return Ok(id);
        }
        let expires_at = message
            .properties
            .message_expiry_interval
            .map(|s| now + Duration::from_secs(u64::from(s)));
        // Fast path: nothing waits ahead of it and the window has room.
        if connected && self.out.queue.is_empty() && self.window_open(message.qos) {
            self.send(now, id, message, expires_at);
            return Ok(id);
        }
        let full_count = limits.messages != 0 && self.out.queue.len() >= limits.messages;
        let full_bytes =
            limits.bytes != 0 && self.out.queued_bytes + message.payload.len() > limits.bytes;
        if full_count || full_bytes {
            return Err(PublishError::QueueFull);
        }
        self.out.push_queue(Queued {
            id,
            message,
            expires_at,
        });
        self.pump(now);
        Ok(id)
    }

    /// Client: subscribes; the result arrives as [`Event::Subscribed`].
    pub fn subscribe(
        &mut self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<PacketId, RequestError> {
        let packet_id = self.new_request(filters.is_empty())?;
        self.transmit.push_packet(Packet::Subscribe(Subscribe {
            packet_id,
            properties,
            filters,
        }));
        Ok(packet_id)
    }

    /// Client: unsubscribes; the result arrives as [`Event::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<PacketId, RequestError> {
        let packet_id = self.new_request(filters.is_empty())?;
        self.transmit.push_packet(Packet::Unsubscribe(Unsubscribe {
            packet_id,
            properties,
            filters,
        }));
        Ok(packet_id)
    }

    /// Checks a SUBSCRIBE/UNSUBSCRIBE request and reserves its Packet Identifier until the
    /// acknowledgement.
    fn new_request(&mut self, empty: bool) -> Result<PacketId, RequestError> {
        self.check_request(empty)?;
        let packet_id = self
            .out
            .allocate_packet_id()
            .ok_or(RequestError::NoPacketId)?;
        self.out.requests.push(packet_id);
        Ok(packet_id)
    }

    fn check_request(&self, empty: bool) -> Result<(), RequestError> {
        if self.role != Role::Client {
            return Err(RequestError::WrongRole);
        }
        if self.connection != ConnectionState::Connected {
            return Err(RequestError::NotConnected);
        }
        if empty {
            return Err(RequestError::Empty);
        }
        Ok(())
    }

    /// Server: answers a SUBSCRIBE reported by [`Event::Subscribe`], with its Packet Identifier
    /// [MQTT-3.8.4-2].
    pub fn suback(&mut self, suback: SubAck) -> Result<(), RequestError> {
        self.take_request_in(PacketType::Subscribe, suback.packet_id)?;
        if self.connection == ConnectionState::Connected {
            self.transmit.push_packet(Packet::SubAck(suback));
        }
        Ok(())
    }

    /// Server: answers an UNSUBSCRIBE reported by [`Event::Unsubscribe`], with its Packet
    /// Identifier [MQTT-3.10.4-4].
    pub fn unsuback(&mut self, unsuback: UnsubAck) -> Result<(), RequestError> {
        self.take_request_in(PacketType::Unsubscribe, unsuback.packet_id)?;
        if self.connection == ConnectionState::Connected {
            self.transmit.push_packet(Packet::UnsubAck(unsuback));
        }
        Ok(())
    }

    fn take_request_in(&mut self, kind: PacketType, id: PacketId) -> Result<(), RequestError> {
        let pos = self
            .requests_in
            .iter()
            .position(|r| *r == (kind, id))
            .ok_or(RequestError::NotRequested)?;
        self.requests_in.remove(pos);
        Ok(())
    }

    /// Sends an AUTH packet (MQTT 5 extended authentication, spec 4.12). A client may send it
    /// once CONNECT is queued; a server only on an accepted connection (re-authentication):
    /// authentication exchanges before CONNACK are not supported.
    pub fn auth(&mut self, auth: Auth) -> Result<(), RequestError> {
        let allowed = match self.role {
            Role::Client => matches!(
                self.connection,
                ConnectionState::Connecting | ConnectionState::Connected
            ),
            Role::Server => self.connection == ConnectionState::Connected,
        };
        if !self.version.is_v5() || !allowed {
            return Err(RequestError::NotConnected);
        }
        self.transmit.push_packet(Packet::from(auth));
        Ok(())
    }

    /// Manual acks: acknowledges a received QoS 1 or 2 message (PUBACK, or PUBREC for QoS 2),
    /// with a reason code for MQTT 5 (e.g. 0x87 Not authorized, 0x10 No matching subscribers).
    pub fn ack(&mut self, ack: InboundAck, reason_code: ReasonCode) {
        let Some(pos) = self
            .inbound
            .iter()
            .position(|(id, s)| *id == ack.packet_id && *s == InState::AwaitingAppAck(ack.qos))
        else {
            return;
        };
        let connected = self.connection == ConnectionState::Connected;
        let packet_id = ack.packet_id;
        let packet = match ack.qos {
            QoS::ExactlyOnce if !reason_code.is_error() => {
                if let Some(entry) = self.inbound.get_mut(pos) {
                    entry.1 = InState::AwaitingPubRel;
                }
                Ack::pubrec(packet_id, reason_code)
            }
            QoS::ExactlyOnce => {
                self.inbound.swap_remove(pos);
                Ack::pubrec(packet_id, reason_code)
            }
            _ => {
                self.inbound.swap_remove(pos);
                Ack::puback(packet_id, reason_code)
            }
        };
        if connected {
            self.transmit.push(packet);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Outgoing flow

    /// The in-flight window: our limit, lowered by the peer's Receive Maximum in MQTT 5
    /// [MQTT-3.3.4-7] [MQTT-4.9.0-2].
    fn window(&self) -> usize {
        let mut window = usize::from(self.config.max_inflight.max(1));
        if self.version.is_v5() {
            window = window.min(usize::from(self.peer.receive_maximum));
        }
        window
    }

    fn window_open(&self, qos: QoS) -> bool {
        qos == QoS::AtMostOnce
            || (self.out.inflight.len() < self.window() && self.inflight_bytes_below_limit())
    }

    /// `max_inflight_bytes`: counted over the messages still held for re-sending (QoS 2 ones
    /// leave the count at PUBREC). The scan only runs when a limit is set, and the in-flight
    /// window it walks is bounded by `max_inflight`.
    fn inflight_bytes_below_limit(&self) -> bool {
        let limit = self.config.max_inflight_bytes;
        limit == 0
            || self
                .out
                .inflight
                .iter()
                .filter_map(|m| m.message.as_ref())
                .map(|m| m.payload.len())
                .sum::<usize>()
                < limit
    }

    /// Moves queued messages into flight while the window allows, keeping their order.
    #[inline]
    fn pump(&mut self, now: Instant) {
        // The usual case once a flow completes: nothing waits.
        if self.out.queue.is_empty() && self.out.pending_resends == 0 {
            return;
        }
        self.pump_waiting(now);
    }

    fn pump_waiting(&mut self, now: Instant) {
        if self.connection != ConnectionState::Connected {
            return;
        }
        if !self.pump_resends() {
            return;
        }
        while let Some(front) = self.out.queue.front() {
            if !self.window_open(front.message.qos) {
                break;
            }
            let Some(queued) = self.out.pop_queue() else {
                break;
            };
            if !self.send(now, queued.id, queued.message, queued.expires_at) {
                break;
            }
        }
    }

    /// Sends one message; false when it had to go back to the queue (no packet identifier).
    fn send(
        &mut self,
        now: Instant,
        id: MessageId,
        mut message: Message,
        expires_at: Option<Instant>,
    ) -> bool {
        if let Some(expires_at) = expires_at {
            if now >= expires_at {
                // [MQTT-3.3.2-5] expired before onward delivery started: discard.
                self.events.push_back(Event::PublishDropped {
                    id,
                    reason: DropReason::Expired,
                });
                return true;
            }
            // [MQTT-3.3.2-6] forward the remaining lifetime, rounded up to whole seconds.
            let remaining_ms = expires_at.as_millis() - now.as_millis();
            let remaining = u32::try_from(remaining_ms.div_ceil(1000)).unwrap_or(u32::MAX);
            message.properties.message_expiry_interval = Some(remaining);
        }
        let packet_id = if message.qos == QoS::AtMostOnce {
            PacketId::MIN
        } else {
            match self.out.allocate_packet_id() {
                Some(pid) => pid,
                None => {
                    self.out.queued_bytes += message.payload.len();
                    self.out.queue.push_front(Queued {
                        id,
                        message,
                        expires_at,
                    });
                    return false;
                }
            }
        };
        if self.role == Role::Client && self.peer.forbid(&message) {
            // Queued before CONNACK told the limits [MQTT-3.2.2-11] [MQTT-3.2.2-14]. The packet
            // identifier was only looked up, not put in flight.
            self.events.push_back(Event::PublishDropped {
                id,
                reason: DropReason::NotSupported,
            });
            return true;
        }
        let topic = self.outbound_alias(&message.topic);
        let state = match message.qos {
            QoS::AtMostOnce => {
                // Nothing to keep: the message's parts move into the packet.
                let packet = message.into_packet(topic, self.role == Role::Client);
                self.transmit_publish(id, topic, packet);
                return true;
            }
            QoS::AtLeastOnce => OutState::AwaitingPubAck,
            QoS::ExactlyOnce => OutState::AwaitingPubRec,
        };
        let client = self.role == Role::Client;
        if self.peer.max_packet_size != usize::MAX {
            // The peer set a Maximum Packet Size: the packet is checked before it is kept.
            let packet = message.to_packet(packet_id, false, topic, client);
            if self.transmit_publish(id, topic, packet) {
                self.out.inflight.push_back(Inflight {
                    id,
                    packet_id,
                    state,
                    message: Some(message),
                    resend: false,
                    unsent: false,
                });
            }
            return true;
        }
        // The PUBLISH is built from the in-flight entry when it is polled.
        self.out.inflight.push_back(Inflight {
            id,
            packet_id,
            state,
            message: Some(message),
            resend: false,
            unsent: true,
        });
        self.transmit.push(Transmit::Publish { packet_id, topic });
        true
    }

    /// Queues a new PUBLISH; false when it is too large for the peer and was dropped
    /// [MQTT-3.1.2-25] (discarded as if it had been sent).
    fn transmit_publish(&mut self, id: MessageId, topic: Outgoing, packet: Packet) -> bool {
        if !self.too_large(&packet) {
            self.transmit.push_packet(packet);
            return true;
        }
        if let (Outgoing::Define(_), Packet::Publish(p)) = (topic, &packet) {
            // The peer never learns this alias.
            self.aliases_out.forget(&p.topic);
        }
        self.events.push_back(Event::PublishDropped {
            id,
            reason: DropReason::TooLarge,
        });
        false
    }

    /// How to send `topic`: with an alias where the peer allows it.
    fn outbound_alias(&mut self, topic: &mqtt_codec::TopicName) -> Outgoing {
        if !self.version.is_v5()
            || !self.config.outbound_topic_aliases
            || self.peer.topic_alias_maximum == 0
        {
            return Outgoing::Plain;
        }
        self.aliases_out
            .assign(topic, self.peer.topic_alias_maximum)
    }

    fn too_large(&self, packet: &Packet) -> bool {
        too_large(self.peer.max_packet_size, self.version, packet)
    }

    // -----------------------------------------------------------------------------------------
    // Incoming packets

    /// Processes a packet received from the peer.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        use ConnectionState::*;
        if matches!(self.connection, Disconnected | Closed) {
            return;
        }
        self.last_received = now;
        if self.connection != Connected {
            return self.handle_control(now, packet);
        }
        // The QoS flows, matched on the packet alone (a tuple with the state, or guards on a
        // moved packet, cost a copy of it or drop flags on every call). Acknowledgements are
        // moved out of the packet, so that what is left to drop is their (empty) properties
        // rather than a whole `Packet` through its generic drop.
        match packet {
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(PubAck {
                packet_id,
                reason_code,
                ..
            }) => self.complete(
                now,
                PacketType::PubAck,
                packet_id,
                OutState::AwaitingPubAck,
                reason_code,
            ),
            Packet::PubRec(ack) => self.on_pubrec(ack.packet_id, ack.reason_code),
            Packet::PubRel(ack) => self.on_pubrel(ack.packet_id),
            Packet::PubComp(ack) => self.complete(
                now,
                PacketType::PubComp,
                ack.packet_id,
                OutState::AwaitingPubComp,
                ack.reason_code,
            ),
            other => self.handle_control(now, other),
        }
    }

    /// Every packet but the QoS flows of a connected session, which `handle_packet` takes.
    fn handle_control(&mut self, now: Instant, packet: Packet) {
        use ConnectionState::*;
        match (self.role, self.connection, packet) {
            (Role::Client, Connecting, Packet::ConnAck(connack)) => self.on_connack(now, connack),
            (Role::Server, Connected, Packet::Subscribe(s)) => {
                self.requests_in.push((PacketType::Subscribe, s.packet_id));
                self.events.push_back(Event::Subscribe(s))
            }
            (Role::Server, Connected, Packet::Unsubscribe(u)) => {
                self.requests_in
                    .push((PacketType::Unsubscribe, u.packet_id));
                self.events.push_back(Event::Unsubscribe(u))
            }
            (Role::Client, Connected, Packet::SubAck(s)) => {
                if self.take_request(PacketType::SubAck, s.packet_id) {
                    self.events.push_back(Event::Subscribed(s));
                }
            }
            (Role::Client, Connected, Packet::UnsubAck(u)) => {
                if self.take_request(PacketType::UnsubAck, u.packet_id) {
                    self.events.push_back(Event::Unsubscribed(u));
                }
            }
            (Role::Server, Connected, Packet::PingReq) => {
                self.transmit.push_packet(Packet::PingResp)
            }
            (Role::Client, Connected, Packet::PingResp) => self.ping_sent = None,
            (_, Connected | Connecting, Packet::Disconnect(d)) => self.on_disconnect(*d),
            (_, Connected | Connecting, Packet::Auth(a)) if self.version.is_v5() => {
                self.events.push_back(Event::Auth(*a))
            }
            // [MQTT-3.1.0-2] a second CONNECT, a packet for the other role, or out of sequence
            // (a PUBLISH before CONNACK included).
            (_, _, other) => self.violation(Violation::UnexpectedPacket(other.packet_type())),
        }
    }

    fn take_request(&mut self, packet_type: PacketType, packet_id: PacketId) -> bool {
        match self.out.requests.iter().position(|id| *id == packet_id) {
            Some(pos) => {
                self.out.requests.swap_remove(pos);
                true
            }
            None => {
                self.events.push_back(Event::UnknownPacketId {
                    packet_type,
                    packet_id,
                });
                false
            }
        }
    }

    fn on_connack(&mut self, now: Instant, connack: Box<ConnAck>) {
        if connack.reason_code.is_error() {
            self.connection = ConnectionState::Closed;
            self.events.push_back(Event::ConnectionRefused(connack));
            return;
        }
        if self.version.is_v5() {
            let p = &connack.properties;
            self.peer = PeerLimits {
                receive_maximum: p.receive_maximum.map_or(u16::MAX, |v| v.get()),
                max_packet_size: p
                    .maximum_packet_size
                    .map_or(usize::MAX, |v| v.get() as usize),
                topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
                maximum_qos: p.maximum_qos.unwrap_or(QoS::ExactlyOnce),
                retain_available: p.retain_available.unwrap_or(true),
                request_problem_information: true,
            };
            if let Some(ka) = p.server_keep_alive {
                // Spec 3.2.2.3.14: the client MUST use the server's Keep Alive.
                self.keep_alive = keep_alive(ka);
            }
            if let Some(sei) = p.session_expiry_interval {
                self.session_expiry_interval = sei;
            }
        }
        if connack.session_present && self.expect_no_session {
            // [MQTT-3.2.2-4] Session Present 1 where the client has no session state.
            return self.violation(Violation::UnexpectedSessionPresent);
        }
        self.connection = ConnectionState::Connected;
        if connack.session_present {
            self.resend_inflight();
        } else {
            // Spec 3.2.2.1.1 (5.0) / 3.2.2.2 (3.1.1): a client with session state that gets
            // Session Present 0 must discard it.
            self.discard_session_state();
        }
        self.events.push_back(Event::Connected(connack));
        self.pump(now);
    }

    #[inline(never)]
    fn on_publish(&mut self, p: Publish) {
        if self.role == Role::Server {
            if self.version.is_v5() && !p.properties.subscription_identifiers.is_empty() {
                return self.violation(Violation::SubscriptionIdentifierFromClient);
            }
            if p.qos.qos() > self.config.maximum_qos {
                return self.violation(Violation::QoSNotSupported(p.qos.qos()));
            }
            if p.retain && !self.config.retain_available {
                return self.violation(Violation::RetainNotSupported);
            }
        }
        // Taken apart at once: the message is built from the fields where the event is made,
        // not moved through intermediate `Publish` and `Message` values.
        let Publish {
            dup: _,
            qos: publish_qos,
            retain,
            mut topic,
            topic_alias,
            properties,
            payload,
        } = p;
        // Checked here, not in `resolve`: a call taking the topic by reference would keep it
        // in memory for every PUBLISH, aliased or not.
        if self.version.is_v5() && topic_alias.is_some() {
            let max = self.inbound_alias_maximum;
            match self.aliases_in.resolve(&mut topic, topic_alias, max) {
                Ok(()) => {}
                Err(Unresolved::TooLarge(alias)) => {
                    return self.violation(Violation::TopicAliasTooLarge { alias, max })
                }
                Err(Unresolved::Unknown(alias)) => {
                    return self.violation(Violation::UnknownTopicAlias(alias))
                }
            }
        }
        let qos = publish_qos.qos();
        let message = Message {
            topic,
            payload,
            qos,
            retain,
            properties,
        };
        let Some(packet_id) = publish_qos.packet_id() else {
            self.events.push_back(Event::Message { message, ack: None });
            return;
        };
        if let Some(state) = self.inbound_state(packet_id) {
            // A re-sent PUBLISH whose identifier is still in use: never deliver it twice
            // 5.0 [MQTT-4.3.3-10] / 3.1.1 [MQTT-4.3.3-2]; repeat the PUBREC it may have missed.
            if state == InState::AwaitingPubRel {
                self.transmit
                    .push(Ack::pubrec(packet_id, ReasonCode::Success));
            }
            return;
        }
        let receive_maximum = self.inbound_receive_maximum;
        if self.version.is_v5() && self.inbound.len() >= usize::from(receive_maximum) {
            return self.violation(Violation::ReceiveMaximumExceeded(receive_maximum));
        }
        if self.config.manual_acks {
            self.inbound.push((packet_id, InState::AwaitingAppAck(qos)));
            let ack = Some(InboundAck { packet_id, qos });
            self.events.push_back(Event::Message { message, ack });
            return;
        }
        self.events.push_back(Event::Message { message, ack: None });
        if qos == QoS::ExactlyOnce {
            self.inbound.push((packet_id, InState::AwaitingPubRel));
            self.transmit
                .push(Ack::pubrec(packet_id, ReasonCode::Success));
        } else {
            self.transmit
                .push(Ack::puback(packet_id, ReasonCode::Success));
        }
    }

    fn inbound_state(&self, packet_id: PacketId) -> Option<InState> {
        self.inbound
            .iter()
            .find(|(id, _)| *id == packet_id)
            .map(|(_, s)| *s)
    }

    /// Ends an outgoing flow; frees its slot in the window and lets the queue move.
    fn complete(
        &mut self,
        now: Instant,
        packet_type: PacketType,
        packet_id: PacketId,
        expected: OutState,
        reason_code: ReasonCode,
    ) {
        let mut removed = self.out.remove(packet_id, expected);
        if removed.is_none() && self.build_unsent(packet_id) {
            removed = self.out.remove(packet_id, expected);
        }
        match removed {
            Some((id, resend)) => {
                if resend {
                    self.out.pending_resends -= 1;
                }
                self.events
                    .push_back(Event::PublishCompleted { id, reason_code });
                self.pump(now);
            }
            None => self.events.push_back(Event::UnknownPacketId {
                packet_type,
                packet_id,
            }),
        }
    }

    fn on_pubrec(&mut self, packet_id: PacketId, reason_code: ReasonCode) {
        let Some(pos) = self.out.position(packet_id) else {
            return self.unknown_pubrec(packet_id);
        };
        if self.out.inflight.get(pos).is_some_and(|m| m.unsent) {
            self.build_unsent(packet_id);
        }
        let Some(m) = self.out.inflight.get_mut(pos) else {
            return;
        };
        if m.resend {
            // Acknowledged before its re-send went out.
            m.resend = false;
            self.out.pending_resends -= 1;
        }
        match m.state {
            OutState::AwaitingPubRec if reason_code.is_error() => {
                // Spec 4.3.3: a PUBREC with a failure code ends the flow; no PUBREL.
                let id = m.id;
                self.out.inflight.remove(pos);
                self.events
                    .push_back(Event::PublishCompleted { id, reason_code });
            }
            OutState::AwaitingPubRec | OutState::AwaitingPubComp => {
                // [MQTT-4.3.3-6] once PUBREL is sent the PUBLISH is never re-sent; the identifier
                // stays in use until PUBCOMP [MQTT-4.3.3-5]. A repeated PUBREC gets the PUBREL again.
                m.state = OutState::AwaitingPubComp;
                m.message = None;
                self.transmit
                    .push(Ack::pubrel(packet_id, ReasonCode::Success));
            }
            OutState::AwaitingPubAck => self.events.push_back(Event::UnknownPacketId {
                packet_type: PacketType::PubRec,
                packet_id,
            }),
        }
    }

    /// An acknowledgement of an in-flight message whose PUBLISH is still a marker in the transmit
    /// queue (only a peer guessing identifiers sends one): the PUBLISH is built now, in its
    /// place, so that it still goes out (with the topic alias it may define) once its entry is
    /// gone, exactly as if it had been queued built. Returns whether there was one.
    #[cold]
    #[inline(never)]
    fn build_unsent(&mut self, packet_id: PacketId) -> bool {
        let client = self.role == Role::Client;
        let Some(m) = self
            .out
            .inflight
            .iter_mut()
            .find(|m| m.packet_id == packet_id && m.unsent)
        else {
            return false;
        };
        m.unsent = false;
        if let Some(message) = &m.message {
            self.transmit.build_publish(packet_id, |topic| {
                message.to_packet(packet_id, false, topic, client)
            });
        }
        true
    }

    /// A PUBREC for an identifier not in flight. Spec 4.3.3 / 3.6.2.1: answer with PUBREL
    /// "Packet Identifier not found".
    fn unknown_pubrec(&mut self, packet_id: PacketId) {
        self.events.push_back(Event::UnknownPacketId {
            packet_type: PacketType::PubRec,
            packet_id,
        });
        let reason_code = if self.version.is_v5() {
            ReasonCode::PacketIdentifierNotFound
        } else {
            ReasonCode::Success
        };
        self.transmit.push(Ack::pubrel(packet_id, reason_code));
    }

    fn on_pubrel(&mut self, packet_id: PacketId) {
        let pos = self
            .inbound
            .iter()
            .position(|(id, s)| *id == packet_id && *s == InState::AwaitingPubRel);
        let reason_code = match pos {
            Some(pos) => {
                // [MQTT-4.3.3-12] after PUBCOMP the identifier starts a new message.
                self.inbound.swap_remove(pos);
                ReasonCode::Success
            }
            // Spec 3.7.2.1: PUBCOMP 0x92 "Packet Identifier not found".
            None if self.version.is_v5() => ReasonCode::PacketIdentifierNotFound,
            None => ReasonCode::Success,
        };
        self.transmit.push(Ack::pubcomp(packet_id, reason_code));
    }

    fn on_disconnect(&mut self, d: Disconnect) {
        if self.role == Role::Server {
            if let Some(sei) = d.properties.session_expiry_interval {
                // Spec 3.14.2.2.2: non-zero after CONNECT's zero is a Protocol Error.
                if self.session_expiry_interval == 0 && sei != 0 {
                    return self.violation(Violation::SessionExpiryAfterZero);
                }
                self.session_expiry_interval = sei;
            }
        }
        self.connection = ConnectionState::Closed;
        self.events.push_back(Event::PeerDisconnected(d));
    }

    fn violation(&mut self, violation: Violation) {
        if self.version.is_v5() {
            self.transmit
                .push_packet(Packet::from(Disconnect::new(violation.reason_code())));
        }
        self.connection = ConnectionState::Closed;
        self.events.push_back(Event::ProtocolViolation(violation));
    }

    // -----------------------------------------------------------------------------------------
    // Time

    /// When [`Session::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.connection != ConnectionState::Connected {
            return None;
        }
        let keep_alive = self.keep_alive?;
        Some(match self.role {
            Role::Client => match self.ping_sent {
                Some(sent) => sent + keep_alive,
                None => self.last_sent + keep_alive,
            },
            // 3.1.1 [MQTT-3.1.2-24] / 5.0 [MQTT-3.1.2-22]: one and a half times the Keep Alive.
            Role::Server => self.last_received + keep_alive * 3 / 2,
        })
    }

    /// Acts on the passing of time: sends PINGREQ when the client has been silent for the Keep
    /// Alive (3.1.1 [MQTT-3.1.2-23], 5.0 [MQTT-3.1.2-20]); gives up when the peer has been silent
    /// too long.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.connection != ConnectionState::Connected {
            return;
        }
        let Some(keep_alive) = self.keep_alive else {
            return;
        };
        match self.role {
            Role::Client => match self.ping_sent {
                Some(sent) if now >= sent + keep_alive => {
                    self.connection = ConnectionState::Closed;
                    self.events.push_back(Event::KeepAliveTimeout);
                }
                Some(_) => {}
                None if now >= self.last_sent + keep_alive => {
                    self.transmit.push_packet(Packet::PingReq);
                    self.ping_sent = Some(now);
                }
                None => {}
            },
            Role::Server => {
                if now >= self.last_received + keep_alive * 3 / 2 {
                    self.violation(Violation::KeepAliveTimeout);
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Output

    /// The next packet to send, if any.
    ///
    /// Properties that the peer does not want (Request Problem Information 0) or that would
    /// make a packet exceed the peer's Maximum Packet Size (Reason String, User Properties) are
    /// removed first [MQTT-3.1.2-29] [MQTT-3.1.2-24].
    #[inline(always)]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Packet> {
        // Inlined into the driver: the calls that find nothing cost a length test, and the
        // packet is moved once, from the queue to the caller, or built where the caller wants
        // it from what the queue holds.
        if self.transmit.is_empty() {
            return None;
        }
        if !self.peer.request_problem_information || self.peer.max_packet_size != usize::MAX {
            self.fix_front();
        }
        self.last_sent = now;
        loop {
            // Markers are read in place: copying one out whole right after it was written
            // would stall on its narrower stores.
            match self.transmit.front()? {
                Transmit::Ack(ack) => {
                    self.transmit.pop_marker();
                    return Some(ack.packet());
                }
                Transmit::Publish { packet_id, topic } => {
                    self.transmit.pop_marker();
                    if let Some(packet) = self.first_publish(packet_id, topic) {
                        return Some(packet);
                    }
                }
                Transmit::Packet => return self.transmit.pop_packet(),
            }
        }
    }

    /// The first PUBLISH of the in-flight message with `packet_id`, built from its entry.
    /// Nothing removes an entry whose PUBLISH is unsent (acknowledgements of it are refused),
    /// so the entry is there; it is usually the newest.
    #[inline(always)]
    fn first_publish(&mut self, packet_id: PacketId, topic: Outgoing) -> Option<Packet> {
        let client = self.role == Role::Client;
        let inflight = &mut self.out.inflight;
        let pos = match inflight.back() {
            Some(m) if m.packet_id == packet_id => inflight.len() - 1,
            _ => inflight.iter().position(|m| m.packet_id == packet_id)?,
        };
        let m = inflight.get_mut(pos)?;
        m.unsent = false;
        let message = m.message.as_ref()?;
        Some(message.to_packet(packet_id, false, topic, client))
    }

    /// Fixes the next packet up in place for what the peer announced (cold: most peers set
    /// neither Request Problem Information 0 nor a Maximum Packet Size). Markers need nothing:
    /// acknowledgements without properties have nothing to strip, and new PUBLISH packets are
    /// queued built (and checked) when the peer has a Maximum Packet Size.
    #[cold]
    #[inline(never)]
    fn fix_front(&mut self) {
        let Some(packet) = self.transmit.front_packet_mut() else {
            return;
        };
        let strip_problem_info = !self.peer.request_problem_information
            && !matches!(
                packet,
                Packet::Publish(_) | Packet::ConnAck(_) | Packet::Disconnect(_)
            );
        if strip_problem_info || too_large(self.peer.max_packet_size, self.version, packet) {
            strip_diagnostics(packet);
        }
    }

    /// The next event for the application, if any.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Discards the queued messages whose Message Expiry Interval has passed [MQTT-3.3.2-5]
    /// and returns how many; each is reported as [`Event::PublishDropped`] with
    /// [`DropReason::Expired`]. Expiry is otherwise checked when a message is about to be sent:
    /// a server calls this for sessions that stay disconnected, so that their queues (and
    /// what it stores of them) do not keep messages nobody may receive any more.
    ///
    /// ```
    /// use bytes::Bytes;
    /// use mqtt_codec::{QoS, TopicName};
    /// use mqtt_session::{Config, Instant, Message, Session};
    /// let mut s = Session::new_server(Config::default());
    /// let mut m = Message::new(TopicName::new("t").unwrap(), Bytes::from("x"), QoS::AtLeastOnce);
    /// m.properties.message_expiry_interval = Some(10);
    /// s.publish(Instant::from_millis(0), m).unwrap();
    /// assert_eq!(s.drop_expired(Instant::from_millis(9_999)), 0);
    /// assert_eq!(s.drop_expired(Instant::from_millis(10_000)), 1);
    /// assert_eq!(s.queued_len(), 0);
    /// ```
    pub fn drop_expired(&mut self, now: Instant) -> usize {
        let before = self.out.queue.len();
        let mut dropped = Vec::new();
        self.out.queue.retain(|q| match q.expires_at {
            Some(at) if now >= at => {
                dropped.push((q.id, q.message.payload.len()));
                false
            }
            _ => true,
        });
        for (id, len) in dropped {
            self.out.queued_bytes -= len;
            self.events.push_back(Event::PublishDropped {
                id,
                reason: DropReason::Expired,
            });
        }
        before - self.out.queue.len()
    }

    /// Frees the room of the session's empty queues (packets to send, events, queued and
    /// in-flight messages). A server holding many idle sessions calls it when a connection
    /// goes quiet: a queue keeps the capacity of its busiest moment otherwise.
    ///
    /// ```
    /// use mqtt_session::{Config, Session};
    /// let mut s = Session::new_server(Config::default());
    /// s.shrink_idle();
    /// assert!(s.poll_transmit(mqtt_session::Instant::from_millis(0)).is_none());
    /// ```
    pub fn shrink_idle(&mut self) {
        fn free<T>(q: &mut VecDeque<T>) {
            if q.is_empty() && q.capacity() != 0 {
                *q = VecDeque::new();
            }
        }
        self.transmit.shrink_idle();
        free(&mut self.events);
        free(&mut self.out.queue);
        free(&mut self.out.inflight);
        if self.inbound.is_empty() && self.inbound.capacity() != 0 {
            self.inbound = Vec::new();
        }
    }

    /// Outgoing messages not yet completed: in flight (not yet acknowledged with PUBREC or
    /// PUBACK) and queued, in order. A broker uses it to hand a shared subscription's messages to
    /// another member when this session ends (spec 4.8.2).
    pub fn pending_messages(&self) -> impl Iterator<Item = (MessageId, &Message)> + '_ {
        let inflight = self
            .out
            .inflight
            .iter()
            .filter_map(|m| m.message.as_ref().map(|msg| (m.id, msg)));
        let queued = self.out.queue.iter().map(|q| (q.id, &q.message));
        inflight.chain(queued)
    }

    // -----------------------------------------------------------------------------------------
    // Persistence

    /// The session state to persist (spec 4.1).
    pub fn snapshot(&self) -> SessionState {
        let mut state = self.snapshot_without_messages();
        state.inflight = self.out.inflight.iter().cloned().collect();
        state.queue = self.out.queue.iter().cloned().collect();
        state
    }

    /// [`Session::snapshot`] without the messages themselves: the queue is empty and in-flight
    /// entries keep only their flow state. Its size does not grow with the queue; a store
    /// writes it on every change and each of [`Session::held_messages`] once, then restores
    /// them with [`SessionState::attach_message`].
    pub fn snapshot_without_messages(&self) -> SessionState {
        let (next_packet_id, next_message_id) = self.out.counters();
        SessionState {
            format: STATE_FORMAT,
            role: self.role,
            version: self.version,
            next_packet_id,
            next_message_id,
            inflight: self
                .out
                .inflight
                .iter()
                .map(|m| crate::outbound::Inflight {
                    id: m.id,
                    packet_id: m.packet_id,
                    state: m.state,
                    message: None,
                    resend: false,
                    unsent: false,
                })
                .collect(),
            queue: Vec::new(),
            awaiting_pubrel: self
                .inbound
                .iter()
                .filter(|(_, s)| *s == InState::AwaitingPubRel)
                .map(|(id, _)| *id)
                .collect(),
            session_expiry_interval: self.session_expiry_interval,
        }
    }

    /// The messages the session holds for its peer: in flight and kept for re-sending (send
    /// order), then queued (queue order). What [`Session::snapshot_without_messages`] leaves
    /// out.
    pub fn held_messages(&self) -> impl Iterator<Item = HeldMessage<'_>> + '_ {
        let inflight = self.out.inflight.iter().filter_map(|m| {
            m.message.as_ref().map(|message| HeldMessage {
                id: m.id,
                message,
                expires_at: None,
            })
        });
        let queued = self.out.queue.iter().map(|q| HeldMessage {
            id: q.id,
            message: &q.message,
            expires_at: q.expires_at,
        });
        inflight.chain(queued)
    }

    /// A disconnected session with a persisted state, ready to resume.
    ///
    /// # Errors
    ///
    /// [`RestoreError::UnsupportedFormat`] for a state of another layout version;
    /// [`RestoreError::MissingMessage`] when an in-flight message that must be re-sent was
    /// left out (a [`Session::snapshot_without_messages`] state without it attached).
    pub fn restore(config: Config, mut state: SessionState) -> Result<Session, RestoreError> {
        if state.format != STATE_FORMAT {
            return Err(RestoreError::UnsupportedFormat {
                found: state.format,
                expected: STATE_FORMAT,
            });
        }
        if let Some(m) = state
            .inflight
            .iter()
            .find(|m| m.message.is_none() && m.state != OutState::AwaitingPubComp)
        {
            return Err(RestoreError::MissingMessage(m.id.0));
        }
        // Identifiers are given in the order messages are queued; messages attached one by
        // one come back in any order.
        state.queue.sort_by_key(|q| q.id);
        let mut session = Session::new(state.role, config);
        session.version = state.version;
        session.session_expiry_interval = state.session_expiry_interval;
        session
            .out
            .set_counters(state.next_packet_id, state.next_message_id);
        session.out.inflight = state.inflight.into();
        for q in state.queue {
            session.out.push_queue(q);
        }
        session.inbound = state
            .awaiting_pubrel
            .into_iter()
            .map(|id| (id, InState::AwaitingPubRel))
            .collect();
        Ok(session)
    }
}

/// Whether `packet` exceeds the peer's Maximum Packet Size (`usize::MAX`: none announced).
fn too_large(max_packet_size: usize, version: ProtocolVersion, packet: &Packet) -> bool {
    max_packet_size != usize::MAX
        && packet
            .encoded_len(version)
            .map_or(true, |len| len > max_packet_size)
}

fn keep_alive(seconds: u16) -> Option<Duration> {
    (seconds != 0).then(|| Duration::from_secs(u64::from(seconds)))
}

/// Removes Reason String and User Properties, which the spec lets a sender drop.
fn strip_diagnostics(packet: &mut Packet) {
    fn ack(p: &mut AckProperties) {
        p.reason_string = None;
        p.user_properties.clear();
    }
    match packet {
        Packet::PubAck(a) => ack(&mut a.properties),
        Packet::PubRec(a) => ack(&mut a.properties),
        Packet::PubRel(a) => ack(&mut a.properties),
        Packet::PubComp(a) => ack(&mut a.properties),
        Packet::SubAck(a) => ack(&mut a.properties),
        Packet::UnsubAck(a) => ack(&mut a.properties),
        Packet::Disconnect(d) => {
            d.properties.reason_string = None;
            d.properties.user_properties.clear();
        }
        Packet::ConnAck(c) => {
            c.properties.reason_string = None;
            c.properties.user_properties.clear();
        }
        Packet::Auth(a) => {
            a.properties.reason_string = None;
            a.properties.user_properties.clear();
        }
        _ => {}
    }
}
