//! What to connect to and how.

use std::path::PathBuf;
use std::sync::Arc;
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
    /// TLS on top of the TCP connection (or of the proxy's tunnel, or the Unix socket); `None`
    /// for none. See [`TlsOptions`].
    pub tls: Option<TlsOptions>,
    /// MQTT over WebSocket (on top of TLS when [`ClientOptions::tls`] is set: `wss`); `None` for
    /// MQTT directly on the stream. See [`WebSocketOptions`].
    pub websocket: Option<WebSocketOptions>,
    /// Reach a [`Transport::Tcp`] server through this SOCKS5 proxy, which resolves the host
    /// name (`socks5h`); `None` to connect directly.
    pub proxy: Option<Socks5Proxy>,
    /// Sees every packet sent and received (debug output); `None` by default.
    pub observer: Option<crate::PacketObserver>,
    /// Reconnect automatically when an established connection is lost; `None` (the default)
    /// ends the client instead.
    pub reconnect: Option<Reconnect>,
    /// Leave the acknowledgement of received QoS 1 and 2 messages to the application (false by
    /// default: the client sends PUBACK or PUBREC as soon as a message arrives, before the
    /// application has seen it). With manual acks, [`crate::Messages::recv_with_ack`] hands
    /// out each message with an [`crate::AckToken`], and the PUBACK or PUBREC leaves only when
    /// the application passes it to [`crate::Client::ack`], e.g. once the message is stored:
    /// if the application or the connection fails first, the server still holds the message
    /// and sends it again to a connection that resumes the session. A message the application
    /// never takes from [`crate::Messages`] is never acknowledged. (This sets
    /// [`mqtt_session::Config::manual_acks`] of [`ClientOptions::session`].)
    pub manual_acks: bool,
}

/// How to reconnect after losing an established connection.
///
/// The client waits `min_delay`, opens the transport again and sends CONNECT, doubling the wait
/// after each failed attempt up to `max_delay`, until it is connected again, the application
/// disconnects, or the server refuses the CONNECT. On the new connection the session resumes:
/// unacknowledged QoS 1 and 2 messages are sent again (with Clean Start they are sent as new
/// messages), and when the server has no session (Session Present 0) the client subscribes again
/// to everything it was subscribed to. Messages published while offline wait in the session
/// (QoS 1 and 2) or are dropped (QoS 0, their [`crate::Delivery`] fails). A subscribe or
/// unsubscribe in progress when the connection drops fails with
/// [`crate::ClientError::ConnectionClosed`]; one requested while offline is sent once
/// connected. An MQTT 5 server's Assigned Client Identifier is reused, so that a session with a
/// Session Expiry Interval can resume.
///
/// ```
/// use std::time::Duration;
/// use mqtt_client::{ClientOptions, Reconnect};
/// let mut options = ClientOptions::tcp("localhost", 1883);
/// options.reconnect = Some(Reconnect { min_delay: Duration::from_secs(1), max_delay: Duration::from_secs(30) });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// The wait before the first attempt.
    pub min_delay: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for Reconnect {
    /// One second, doubling up to 30 seconds.
    fn default() -> Self {
        Reconnect {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
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
            tls: None,
            websocket: None,
            proxy: None,
            observer: None,
            reconnect: None,
            manual_acks: false,
        }
    }

    /// Sets the protocol version of the CONNECT.
    pub fn version(mut self, version: ProtocolVersion) -> Self {
        self.connect.protocol = version;
        self
    }
}

/// How to secure the connection with TLS (rustls, with the *ring* crypto provider).
///
/// The server's certificate chain must lead to a trusted CA: the certificates of
/// [`ca_file`](TlsOptions::ca_file), of every PEM file in [`ca_dir`](TlsOptions::ca_dir), and,
/// with [`use_os_certs`](TlsOptions::use_os_certs), the operating system's. Its name must match
/// the host connected to (or [`server_name`](TlsOptions::server_name)) unless
/// [`insecure`](TlsOptions::insecure) is set. A ready-made rustls configuration can be given
/// instead with [`TlsOptions::from_config`].
///
/// ```
/// use mqtt_client::{ClientOptions, TlsOptions, TlsVersion};
/// let tls = TlsOptions::new()
///     .with_ca_file("/etc/mosquitto/ca_certificates/ca.crt")
///     .with_client_certificate("client.crt", "client.key")
///     .with_alpn(b"mqtt")
///     .with_versions(&[TlsVersion::Tls13]);
/// let mut options = ClientOptions::tcp("broker.example.com", 8883);
/// options.tls = Some(tls);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Trusted CA certificates: a PEM file holding one or more certificates (`--cafile`).
    pub ca_file: Option<PathBuf>,
    /// A directory of trusted CA certificates (`--capath`): every file in it that holds PEM
    /// certificates is loaded; other files are skipped.
    pub ca_dir: Option<PathBuf>,
    /// Trust the operating system's CA certificates too (`--tls-use-os-certs`).
    pub use_os_certs: bool,
    /// The client's certificate chain (PEM), to authenticate to the server (`--cert`); needs
    /// [`client_key`](TlsOptions::client_key).
    pub client_cert: Option<PathBuf>,
    /// The private key of [`client_cert`](TlsOptions::client_cert) (PEM: PKCS #8, PKCS #1 or
    /// SEC1; `--key`).
    pub client_key: Option<PathBuf>,
    /// Do not check that the server's certificate names the host (`--insecure`). The chain is
    /// still verified against the trusted CAs: only the host-name check is skipped.
    pub insecure: bool,
    /// ALPN protocols to offer, most preferred first (`--tls-alpn`); none by default.
    pub alpn: Vec<Vec<u8>>,
    /// The TLS versions allowed; empty (the default) allows TLS 1.2 and 1.3.
    pub versions: Vec<TlsVersion>,
    /// The name to send as SNI and to check the certificate against, instead of the host of
    /// [`Transport::Tcp`] (`localhost` for a Unix socket). An IP address is checked against the
    /// certificate's IP addresses and not sent as SNI.
    pub server_name: Option<String>,
    /// A complete rustls configuration to use as is: the trust, client certificate, ALPN and
    /// version options above are then ignored (only [`server_name`](TlsOptions::server_name)
    /// still applies).
    pub config: Option<Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl TlsOptions {
    /// No trusted CA yet: set at least one of [`ca_file`](TlsOptions::ca_file),
    /// [`ca_dir`](TlsOptions::ca_dir) or [`use_os_certs`](TlsOptions::use_os_certs).
    pub fn new() -> Self {
        TlsOptions::default()
    }

    /// TLS with the operating system's trusted CA certificates.
    pub fn os_certs() -> Self {
        TlsOptions {
            use_os_certs: true,
            ..TlsOptions::default()
        }
    }

    /// TLS with a caller-built rustls configuration (see [`TlsOptions::config`]).
    pub fn from_config(config: Arc<tokio_rustls::rustls::ClientConfig>) -> Self {
        TlsOptions {
            config: Some(config),
            ..TlsOptions::default()
        }
    }

    /// Sets [`ca_file`](TlsOptions::ca_file).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sets [`ca_dir`](TlsOptions::ca_dir).
    pub fn with_ca_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_dir = Some(path.into());
        self
    }

    /// Sets [`client_cert`](TlsOptions::client_cert) and [`client_key`](TlsOptions::client_key).
    pub fn with_client_certificate(
        mut self,
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some(cert.into());
        self.client_key = Some(key.into());
        self
    }

    /// Sets [`insecure`](TlsOptions::insecure).
    pub fn with_insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// Adds an ALPN protocol to offer (see [`alpn`](TlsOptions::alpn)).
    pub fn with_alpn(mut self, protocol: impl AsRef<[u8]>) -> Self {
        self.alpn.push(protocol.as_ref().to_vec());
        self
    }

    /// Sets the allowed TLS versions (see [`versions`](TlsOptions::versions)).
    pub fn with_versions(mut self, versions: &[TlsVersion]) -> Self {
        self.versions = versions.to_vec();
        self
    }

    /// Sets [`server_name`](TlsOptions::server_name).
    pub fn with_server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

/// A TLS protocol version (rustls implements no older ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

/// MQTT over WebSocket, as Mosquitto's `protocol websockets` listeners and paho serve it: an
/// HTTP/1.1 upgrade asking for the `mqtt` subprotocol, then MQTT packets in binary frames.
///
/// ```
/// use mqtt_client::{ClientOptions, TlsOptions, WebSocketOptions};
/// let mut options = ClientOptions::tcp("broker.example.com", 8081);
/// // wss://broker.example.com:8081/mqtt
/// options.websocket = Some(WebSocketOptions::new().with_header("Authorization", "Bearer x"));
/// options.tls = Some(TlsOptions::os_certs());
/// assert_eq!(options.websocket.as_ref().map(|w| w.path.as_str()), Some("/mqtt"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebSocketOptions {
    /// The path of the request; `/mqtt` by default.
    pub path: String,
    /// The subprotocol to ask for (`Sec-WebSocket-Protocol`); `mqtt` by default (MQTT 3.1
    /// servers of old may want `mqttv3.1`). The server must answer with it.
    pub subprotocol: String,
    /// Further request headers (e.g. `Authorization`), sent as given.
    pub headers: Vec<(String, String)>,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            path: "/mqtt".to_owned(),
            subprotocol: "mqtt".to_owned(),
            headers: Vec::new(),
        }
    }
}

impl WebSocketOptions {
    /// Path `/mqtt`, subprotocol `mqtt`, no extra headers.
    pub fn new() -> Self {
        WebSocketOptions::default()
    }

    /// Sets the request [`path`](WebSocketOptions::path).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Adds a request header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A SOCKS5 proxy (RFC 1928) to reach the server through, as `--proxy
/// socks5h://[username[:password]@]hostname[:port]`: the proxy is asked to connect to the
/// server's host name, which it resolves itself.
///
/// ```
/// use mqtt_client::{ClientOptions, Socks5Proxy};
/// let mut options = ClientOptions::tcp("broker.example.com", 1883);
/// options.proxy = Some(Socks5Proxy::new("proxy.example.com", 1080).with_credentials("me", "secret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Socks5Proxy {
    /// The proxy's host name or address.
    pub host: String,
    /// The proxy's port (1080 is usual).
    pub port: u16,
    /// User name for the "username/password" method (RFC 1929); `None` offers only "no
    /// authentication".
    pub username: Option<String>,
    /// Password for the "username/password" method.
    pub password: Option<String>,
}

impl Socks5Proxy {
    /// A proxy without authentication.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Socks5Proxy {
            host: host.into(),
            port,
            username: None,
            password: None,
        }
    }

    /// Sets the user name and password.
    pub fn with_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }
}

impl std::fmt::Debug for Socks5Proxy {
    /// Shows everything but the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socks5Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}
