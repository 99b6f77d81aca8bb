//! What to connect to and how.

use std::path::PathBuf;
use std::time::Duration;

use mqtt_codec::{Connect, ProtocolVersion};
use mqtt_session::Config;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// TCP to a host name or address and a port.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix-domain stream socket (Mosquitto's `listener 0 /path` / `--unix`).
    Unix(PathBuf),
}

/// Everything [`crate::connect`] needs.
///
/// ```
/// use mqtt_client::ClientOptions;
/// use mqtt_codec::ProtocolVersion;
/// let mut options = ClientOptions::tcp("localhost", 1883).version(ProtocolVersion::V5);
/// options.connect.keep_alive = 30;
/// assert_eq!(options.connect.protocol, ProtocolVersion::V5);
/// ```
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Where to connect.
    pub transport: Transport,
    /// The CONNECT packet to send: version, client id, clean start, keep alive, credentials,
    /// will and MQTT 5 properties. Receive Maximum, Topic Alias Maximum and Maximum Packet
    /// Size are filled in from [`ClientOptions::session`].
    pub connect: Connect,
    /// Limits of the session (in-flight window, queues, topic aliases).
    pub session: Config,
    /// Local address to bind the socket to before connecting (`-A`).
    pub bind_address: Option<String>,
    /// Disable Nagle's algorithm (`--nodelay`).
    pub nodelay: bool,
    /// How long to wait for the TCP connection and the CONNACK.
    pub connect_timeout: Duration,
    /// Messages buffered for the application before the client stops reading from the socket.
    pub message_buffer: usize,
    /// Sees every packet sent and received (debug output); `None` by default.
    pub observer: Option<crate::PacketObserver>,
}

impl ClientOptions {
    /// Options for a TCP connection with an MQTT 3.1.1 CONNECT, Clean Session, a 60 second Keep
    /// Alive and an empty client id (the server assigns one), as `mosquitto_pub` sends by default.
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        ClientOptions::new(Transport::Tcp {
            host: host.into(),
            port,
        })
    }

    /// Options for any transport, with the defaults of [`ClientOptions::tcp`].
    pub fn new(transport: Transport) -> Self {
        let session = Config {
            // The application waits on its own futures; the session's queue only needs to hold
            // what the in-flight window cannot take yet (bounded by the driver's backpressure).
            max_queued_messages: 0,
            ..Config::default()
        };
        ClientOptions {
            transport,
            connect: Connect {
                protocol: ProtocolVersion::V3_1_1,
                ..Connect::default()
            },
            session,
            bind_address: None,
            nodelay: false,
            connect_timeout: Duration::from_secs(60),
            message_buffer: 1024,
            observer: None,
        }
    }

    /// Sets the protocol version of the CONNECT.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.connect.protocol = version;
        self
    }
}
