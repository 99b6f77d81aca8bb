//! What the session reports to the application, and the peer's protocol violations.

use mqtt_codec::{
    Auth, ConnAck, Disconnect, PacketId, PacketType, QoS, ReasonCode, SubAck, Subscribe, UnsubAck,
    Unsubscribe,
};

use crate::message::Message;

/// Identifies an outgoing message from [`crate::Session::publish`] to its completion event.
/// Unlike packet identifiers it is never reused within a session.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct MessageId(pub u64);

/// A received QoS 1 or 2 message awaiting the application's acknowledgement (manual acks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InboundAck {
    pub(crate) packet_id: PacketId,
    pub(crate) qos: QoS,
}

impl InboundAck {
    /// The Packet Identifier the peer used.
    pub fn packet_id(&self) -> PacketId {
        self.packet_id
    }
}

/// Why an outgoing message was discarded without being delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its Message Expiry Interval passed before it could be sent [MQTT-3.3.2-5].
    Expired,
    /// It is larger than the peer's Maximum Packet Size; it is discarded as if it had been
    /// delivered [MQTT-3.1.2-25].
    TooLarge,
    /// A QoS 0 message while the connection is down, and QoS 0 messages are not queued.
    Offline,
    /// The peer's session was discarded (Session Present 0) after the message was acknowledged
    /// with PUBREC, so it has been received but its completion cannot be confirmed.
    SessionLost,
    /// Client: its QoS or RETAIN flag is above what the server announced in CONNACK (Maximum
    /// QoS, Retain Available) [MQTT-3.2.2-11] [MQTT-3.2.2-14]; it was queued before the limit was
    /// known.
    NotSupported,
}

/// Something the application must know or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Client: the server accepted the connection.
    Connected(Box<ConnAck>),
    /// Client: the server refused the connection; the session is closed.
    ConnectionRefused(Box<ConnAck>),
    /// A message from the peer. With manual acks, QoS 1 and 2 messages carry the token to pass to
    /// [`crate::Session::ack`].
    Message {
        /// The message, with its topic alias resolved.
        message: Message,
        /// With manual acks, the token that acknowledges a QoS 1 or 2 message.
        ack: Option<InboundAck>,
    },
    /// An outgoing QoS 1 or 2 message completed: PUBACK, PUBCOMP, or a PUBREC with an error.
    PublishCompleted {
        /// The id [`crate::Session::publish`] returned.
        id: MessageId,
        /// The peer's reason code (Success before MQTT 5).
        reason_code: ReasonCode,
    },
    /// An outgoing message was discarded.
    PublishDropped {
        /// The id [`crate::Session::publish`] returned.
        id: MessageId,
        /// Why.
        reason: DropReason,
    },
    /// Server: the client asks to subscribe; answer with [`crate::Session::suback`].
    Subscribe(Subscribe),
    /// Server: the client asks to unsubscribe; answer with [`crate::Session::unsuback`].
    Unsubscribe(Unsubscribe),
    /// Client: the server answered a SUBSCRIBE.
    Subscribed(SubAck),
    /// Client: the server answered an UNSUBSCRIBE.
    Unsubscribed(UnsubAck),
    /// An AUTH packet (MQTT 5 extended authentication); the application decides.
    Auth(Auth),
    /// The peer sent DISCONNECT; the session is closed. For a server, the will is not published
    /// unless the reason is 0x04 (Disconnect with Will Message).
    PeerDisconnected(Disconnect),
    /// The peer acknowledged a packet identifier that is not in flight: logged, otherwise ignored
    /// (as Mosquitto does; it happens legitimately after a session was lost).
    UnknownPacketId {
        /// The acknowledgement received.
        packet_type: PacketType,
        /// Its Packet Identifier.
        packet_id: PacketId,
    },
    /// Client: no PINGRESP within the Keep Alive; the connection should be closed.
    KeepAliveTimeout,
    /// The peer broke the protocol. The session is closed; for MQTT 5 a DISCONNECT with
    /// [`Violation::reason_code`] is queued: send it, then close the connection.
    ProtocolViolation(Violation),
}

/// A protocol violation by the peer, with the reason code the specification prescribes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// A packet this role never receives, or one out of sequence (e.g. a second CONNECT
    /// [MQTT-3.1.0-2], or a PUBLISH before CONNACK).
    #[error("unexpected {0} packet")]
    UnexpectedPacket(PacketType),
    /// More unacknowledged QoS 1/2 PUBLISH packets than our Receive Maximum (spec 3.3.4).
    #[error("receive maximum of {0} exceeded")]
    ReceiveMaximumExceeded(u16),
    /// A Topic Alias above our Topic Alias Maximum [MQTT-3.3.2-9] [MQTT-3.3.2-11].
    #[error("topic alias {alias} above the maximum of {max}")]
    TopicAliasTooLarge {
        /// The alias received.
        alias: u16,
        /// Our maximum.
        max: u16,
    },
    /// An empty topic with a Topic Alias that has no mapping on this connection.
    #[error("topic alias {0} is not mapped on this connection")]
    UnknownTopicAlias(u16),
    /// A PUBLISH with a QoS above the announced Maximum QoS [MQTT-3.2.2-11] (spec 3.3.1.2).
    #[error("QoS {0} above the server's maximum QoS")]
    QoSNotSupported(QoS),
    /// A retained PUBLISH when Retain Available is 0 [MQTT-3.2.2-14].
    #[error("retained message but retain is not available")]
    RetainNotSupported,
    /// A client PUBLISH carrying a Subscription Identifier [MQTT-3.3.4-6].
    #[error("subscription identifier in a PUBLISH from the client")]
    SubscriptionIdentifierFromClient,
    /// A DISCONNECT setting a non-zero Session Expiry Interval after CONNECT set 0
    /// (spec 3.14.2.2.2).
    #[error("session expiry interval set on DISCONNECT after CONNECT set none")]
    SessionExpiryAfterZero,
    /// CONNACK with Session Present 1 after a CONNECT with Clean Start 1 [MQTT-3.2.2-4].
    #[error("session present after clean start")]
    UnexpectedSessionPresent,
    /// No packet from the client within 1.5 times the Keep Alive (3.1.1 [MQTT-3.1.2-24], 5.0
    /// [MQTT-3.1.2-22]).
    #[error("keep alive timeout")]
    KeepAliveTimeout,
}

impl Violation {
    /// The reason code for the DISCONNECT (MQTT 5).
    pub const fn reason_code(&self) -> ReasonCode {
        match self {
            Violation::ReceiveMaximumExceeded(_) => ReasonCode::ReceiveMaximumExceeded,
            Violation::TopicAliasTooLarge { .. } => ReasonCode::TopicAliasInvalid,
            Violation::QoSNotSupported(_) => ReasonCode::QoSNotSupported,
            Violation::RetainNotSupported => ReasonCode::RetainNotSupported,
            Violation::KeepAliveTimeout => ReasonCode::KeepAliveTimeout,
            Violation::UnexpectedPacket(_)
            | Violation::UnknownTopicAlias(_)
            | Violation::SubscriptionIdentifierFromClient
            | Violation::SessionExpiryAfterZero
            | Violation::UnexpectedSessionPresent => ReasonCode::ProtocolError,
        }
    }
}

/// Why [`crate::Session::publish`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The queue of messages waiting to be sent is at `max_queued_messages` or `max_queued_bytes`.
    #[error("outgoing queue is full")]
    QueueFull,
    /// The server's Maximum QoS is lower than the message's [MQTT-3.2.2-11].
    #[error("QoS {0} is above the server's maximum QoS")]
    QoSNotSupported(QoS),
    /// The server does not support retained messages [MQTT-3.2.2-14].
    #[error("the server does not support retained messages")]
    RetainNotSupported,
}

/// Why a request (subscribe, unsubscribe, connect) cannot be made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The operation needs an established connection.
    #[error("not connected")]
    NotConnected,
    /// The operation is for the other role (e.g. `subscribe` on a server session).
    #[error("not available in this role")]
    WrongRole,
    /// All 65,535 packet identifiers are in use.
    #[error("no free packet identifier")]
    NoPacketId,
    /// A request without topic filters.
    #[error("no topic filters")]
    Empty,
    /// A SUBACK or UNSUBACK whose Packet Identifier answers no pending request
    /// [MQTT-3.8.4-2] [MQTT-3.10.4-4].
    #[error("no pending request with that packet identifier")]
    NotRequested,
    /// `accept` on a session whose connection is still up.
    #[error("already connected")]
    AlreadyConnected,
}
