//! Limits and policies of one side of a connection.

use core::num::NonZeroU32;

use mqtt_codec::QoS;

/// Configuration of a [`crate::Session`]. The defaults follow Mosquitto 2.0's.
///
/// Values that the peer must know about are announced by the session itself: a client writes
/// them into its CONNECT, a server into its CONNACK (Receive Maximum, Topic Alias Maximum,
/// Maximum Packet Size, and for a server Maximum QoS and Retain Available).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Most QoS 1 and 2 PUBLISH packets this side keeps in flight. The peer's Receive Maximum
    /// lowers it further (MQTT 5). Mosquitto's `max_inflight_messages`, default 20.
    pub max_inflight: u16,
    /// Most QoS 1 and 2 PUBLISH packets the peer may have unacknowledged towards us; announced as
    /// Receive Maximum (MQTT 5) and enforced with DISCONNECT 0x93. Default 65,535 (no limit).
    pub receive_maximum: u16,
    /// Highest Topic Alias the peer may use towards us (MQTT 5). Mosquitto's `max_topic_alias`,
    /// default 10.
    pub topic_alias_maximum: u16,
    /// Largest packet this side accepts, announced as Maximum Packet Size (MQTT 5). The driver
    /// also sets it on its `mqtt_codec::Decoder`, which enforces it.
    pub max_packet_size: Option<NonZeroU32>,
    /// Most messages waiting to be sent (offline, or beyond the in-flight window).
    /// Mosquitto's `max_queued_messages`, default 1000; 0 means no limit.
    pub max_queued_messages: usize,
    /// Most payload bytes waiting to be sent; 0 means no limit (Mosquitto's `max_queued_bytes`).
    pub max_queued_bytes: usize,
    /// Payload bytes of QoS 1 and 2 messages in flight above which no further message is sent
    /// until some complete; 0 means no limit (Mosquitto's `max_inflight_bytes`). As in
    /// Mosquitto, one more message may go while the total is below the limit, so a single
    /// message larger than the limit is still sent.
    pub max_inflight_bytes: usize,
    /// Queue QoS 0 messages while the connection is down (Mosquitto's `queue_qos0_messages`).
    pub queue_qos0_offline: bool,
    /// Leave the acknowledgement of received QoS 1 and 2 messages to the application
    /// ([`crate::Session::ack`]), e.g. to acknowledge only once a message is stored.
    pub manual_acks: bool,
    /// Highest QoS a server accepts from clients, announced as Maximum QoS (server only).
    pub maximum_qos: QoS,
    /// Whether a server accepts retained messages, announced as Retain Available (server only).
    pub retain_available: bool,
    /// Use Topic Aliases for outgoing messages when the peer allows them (MQTT 5).
    pub outbound_topic_aliases: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_inflight: 20,
            receive_maximum: u16::MAX,
            topic_alias_maximum: 10,
            max_packet_size: None,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            max_inflight_bytes: 0,
            queue_qos0_offline: false,
            manual_acks: false,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            outbound_topic_aliases: true,
        }
    }
}

/// How many outgoing messages may wait in a session's queue: see
/// [`Session::publish_within`](crate::Session::publish_within). 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueLimits {
    /// Most messages waiting (QoS 0 packets not yet written count too).
    pub messages: usize,
    /// Most payload bytes of the queued QoS 1 and 2 messages.
    pub bytes: usize,
}

impl Config {
    /// `max_queued_messages` and `max_queued_bytes` as the limits [`Session::publish`]
    /// applies.
    ///
    /// [`Session::publish`]: crate::Session::publish
    pub fn queue_limits(&self) -> QueueLimits {
        QueueLimits {
            messages: self.max_queued_messages,
            bytes: self.max_queued_bytes,
        }
    }
}

impl QueueLimits {
    /// Both limits multiplied by `factor` (saturating; 0, no limit, stays 0).
    ///
    /// ```
    /// use mqtt_session::QueueLimits;
    /// let l = QueueLimits { messages: 1000, bytes: 0 }.scaled(10);
    /// assert_eq!(l, QueueLimits { messages: 10_000, bytes: 0 });
    /// ```
    pub fn scaled(self, factor: usize) -> QueueLimits {
        QueueLimits {
            messages: self.messages.saturating_mul(factor),
            bytes: self.bytes.saturating_mul(factor),
        }
    }
}
