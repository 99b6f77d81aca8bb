//! Errors of the client.

use mqtt_codec::{ConnAck, DecodeError, EncodeError, ReasonCode};
use mqtt_session::{PublishError, RequestError, Violation};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection could not be opened (DNS, refused, unreachable, timeout).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered CONNECT with an error reason code.
    #[error("connection refused: {}", .0.reason_code)]
    Refused(Box<ConnAck>),
    /// The server sent something that is not MQTT, or broke the protocol.
    #[error("protocol error: {0}")]
    Decode(#[from] DecodeError),
    /// A packet could not be encoded (e.g. a string over 65,535 bytes).
    #[error("cannot encode packet: {0}")]
    Encode(#[from] EncodeError),
    /// The server broke the protocol (see the reason code for MQTT 5).
    #[error("protocol violation by the server: {0}")]
    Violation(Violation),
    /// The server closed the session with DISCONNECT (MQTT 5) and this reason code.
    #[error("disconnected by the server: {0}")]
    Disconnected(ReasonCode),
    /// The server did not answer within the Keep Alive.
    #[error("keep alive timeout")]
    KeepAliveTimeout,
    /// The connection was closed before the operation completed.
    #[error("connection closed")]
    ConnectionClosed,
    /// The session refused the message (e.g. above the server's Maximum QoS).
    #[error("{0}")]
    Publish(#[from] PublishError),
    /// The session refused the request (e.g. no free packet identifier).
    #[error("{0}")]
    Request(#[from] RequestError),
    /// The message was discarded without being delivered (e.g. larger than the server's
    /// Maximum Packet Size, or its Message Expiry Interval passed).
    #[error("message dropped: {0:?}")]
    Dropped(mqtt_session::DropReason),
    /// An invalid topic name or filter.
    #[error("{0}")]
    Topic(#[from] mqtt_codec::InvalidTopic),
}
