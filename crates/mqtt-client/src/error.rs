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
    /// TLS failed: the configuration could not be loaded (unreadable or invalid CA, certificate
    /// or key files, no trusted CA) or the handshake failed (the server's certificate was not
    /// trusted or not valid for the host, no common version, an alert from the server).
    #[error("TLS error: {0}")]
    Tls(String),
    /// The WebSocket upgrade failed (an HTTP error, a missing or different subprotocol) or the
    /// server broke the WebSocket protocol.
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    /// The SOCKS5 proxy refused the credentials or could not connect to the server, or is not
    /// a SOCKS5 proxy. (Failing to reach the proxy at all is [`ClientError::Io`].)
    #[error("SOCKS5 proxy error: {message}")]
    Proxy {
        /// What went wrong, for programs to act on.
        kind: ProxyErrorKind,
        /// What went wrong, for people.
        message: String,
    },
}

/// What went wrong with a SOCKS5 proxy (see [`ClientError::Proxy`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyErrorKind {
    /// The proxy refused the user name and password.
    AuthenticationFailed,
    /// The proxy accepts none of the authentication methods offered (typically: it wants a
    /// user name and password and none was given).
    NoAcceptableMethod,
    /// The user name or password cannot be sent: RFC 1929 needs both, of 1 to 255 bytes each.
    InvalidCredentials,
    /// The proxy could not connect to the server (refused, unreachable, not allowed).
    ConnectFailed,
    /// Anything else: the proxy broke the SOCKS5 protocol or closed the connection.
    Other,
}
