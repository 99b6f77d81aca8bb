//! What a `connection` block of `mosquitto.conf` configures: plain data with Mosquitto 2.0's
//! defaults (`mosquitto.conf(5)`, `src/conf.c`). The parser (`config`) builds these values.

use std::path::PathBuf;
use std::time::Duration;

use mqtt_codec::{ProtocolVersion, QoS};

use crate::config::TlsVersion;

/// One bridge: a `connection NAME` block and the options that follow it.
///
/// ```
/// use std::path::Path;
/// use mqtt_broker::bridge::{Direction, StartType};
/// use mqtt_broker::config::Config;
///
/// let text = "connection cloud\naddress mqtt.example.com:8883\n\
///             topic sensors/# out 1 \"\" site1/\nremote_clientid site1\n";
/// let config = Config::parse_mosquitto(text, Path::new("m.conf"))?.config;
/// let bridge = &config.bridges[0];
/// assert_eq!(bridge.name, "cloud");
/// assert_eq!(bridge.addresses[0].port, 8883);
/// assert_eq!(bridge.topics[0].direction, Direction::Out);
/// assert_eq!(bridge.topics[0].remote_filter(), "site1/sensors/#");
/// assert_eq!(bridge.local_clientid, "local.site1");
/// assert_eq!(bridge.notification_topic, "$SYS/broker/connection/site1/state");
/// assert_eq!(bridge.start_type, StartType::Automatic);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The name given to `connection`.
    pub name: String,
    /// `address` / `addresses`: the remote brokers, in order (more than one: fail-over).
    /// Never empty.
    pub addresses: Vec<BridgeAddress>,
    /// `round_robin`: after a failure, try the next address and stay there (true), or treat the
    /// first address as the main one and go back to it whenever the connection is lost
    /// (false, the default).
    pub round_robin: bool,
    /// `topic` lines, in file order. Never empty.
    pub topics: Vec<BridgeTopic>,
    /// `bridge_protocol_version`: MQTT 3.1.1 by default.
    pub protocol: ProtocolVersion,
    /// `cleansession`: Clean Session / Clean Start on the remote broker. Default false.
    pub clean_session: bool,
    /// `local_cleansession`: whether the bridge's session in this broker (its local
    /// subscriptions and the messages queued while the remote broker is unreachable) is
    /// discarded each time the bridge connects. Default: `cleansession`.
    pub local_clean_session: bool,
    /// `remote_clientid` (`clientid`): the client identifier on the remote broker. Default
    /// `<hostname>.<name>`, as Mosquitto.
    pub remote_clientid: String,
    /// `local_clientid`: the bridge's client identifier in this broker. Default
    /// `local.<remote_clientid>`.
    pub local_clientid: String,
    /// `remote_username` (`username`).
    pub remote_username: Option<String>,
    /// `remote_password` (`password`).
    pub remote_password: Option<String>,
    /// `local_username`: the user name of the bridge's session in this broker (bridges bypass
    /// authentication and ACLs, so it only names the session).
    pub local_username: Option<String>,
    /// `local_password`: accepted for compatibility; bridges are not authenticated locally.
    pub local_password: Option<String>,
    /// `keepalive_interval` in seconds (0 disables). Default 60.
    pub keepalive: u16,
    /// `restart_timeout`: how long to wait before connecting again.
    pub restart_timeout: RestartTimeout,
    /// `start_type`. Default [`StartType::Automatic`].
    pub start_type: StartType,
    /// `try_private`: connect with Mosquitto's bridge protocol level (0x83 / 0x84) so that the
    /// remote broker does not send back our own messages and keeps their retain flag (MQTT 5
    /// bridges use No Local and Retain As Published instead). Default true.
    pub try_private: bool,
    /// `notifications`: publish the bridge's state (retained `1` / `0`) on
    /// [`Bridge::notification_topic`]. Default true.
    pub notifications: bool,
    /// `notification_topic`. Default `$SYS/broker/connection/<remote_clientid>/state`.
    pub notification_topic: String,
    /// `notifications_local_only`: publish the state in this broker only (no will and no
    /// publication on the remote broker). Default false.
    pub notifications_local_only: bool,
    /// TLS to the remote broker, when `bridge_cafile` or `bridge_capath` is set.
    pub tls: Option<BridgeTls>,
    /// `bridge_bind_address`: the local address to connect from.
    pub bind_address: Option<String>,
    /// `bridge_outgoing_retain`: keep the retain flag of messages sent to the remote broker.
    /// Default true.
    pub outgoing_retain: bool,
}

/// One remote broker of [`Bridge::addresses`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BridgeAddress {
    /// Host name or IP address.
    pub host: String,
    /// Port; 1883 when not given.
    pub port: u16,
}

impl core::fmt::Display for BridgeAddress {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Which way a [`BridgeTopic`] carries messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// `out`: from this broker to the remote one (the default).
    #[default]
    Out,
    /// `in`: from the remote broker to this one.
    In,
    /// `both`.
    Both,
}

impl Direction {
    /// Whether messages go from this broker to the remote one.
    pub const fn is_out(self) -> bool {
        matches!(self, Direction::Out | Direction::Both)
    }

    /// Whether messages come from the remote broker into this one.
    pub const fn is_in(self) -> bool {
        matches!(self, Direction::In | Direction::Both)
    }
}

/// `topic pattern [[[out|in|both] qos] local-prefix remote-prefix]`.
///
/// The bridge subscribes to `local_prefix + pattern` in this broker (out) and to
/// `remote_prefix + pattern` on the remote broker (in); a message's topic has its prefix
/// replaced by the other side's on the way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BridgeTopic {
    /// The topic filter, without prefix (empty for `""`: the prefixes are then the topics).
    pub pattern: String,
    /// Which way messages go. Default [`Direction::Out`].
    pub direction: Direction,
    /// The highest QoS messages are carried with (subscription QoS). Default 0.
    pub qos: QoS,
    /// Prepended to the pattern in this broker (empty for none).
    pub local_prefix: String,
    /// Prepended to the pattern on the remote broker (empty for none).
    pub remote_prefix: String,
}

impl BridgeTopic {
    /// The filter subscribed to in this broker: `local_prefix + pattern`.
    pub fn local_filter(&self) -> String {
        format!("{}{}", self.local_prefix, self.pattern)
    }

    /// The filter subscribed to on the remote broker: `remote_prefix + pattern`.
    pub fn remote_filter(&self) -> String {
        format!("{}{}", self.remote_prefix, self.pattern)
    }
}

/// `restart_timeout`: the wait before connecting again after the connection failed or was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartTimeout {
    /// `restart_timeout N`: always N seconds.
    Constant(Duration),
    /// `restart_timeout base cap`: a random wait that grows from `base` up to `cap` with each
    /// failed attempt (Mosquitto's backoff with jitter). The default is 5 and 30 seconds.
    Backoff {
        /// The shortest wait.
        base: Duration,
        /// The longest wait.
        cap: Duration,
    },
}

impl Default for RestartTimeout {
    fn default() -> Self {
        RestartTimeout::Backoff {
            base: Duration::from_secs(5),
            cap: Duration::from_secs(30),
        }
    }
}

/// `start_type`: when the bridge connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StartType {
    /// `automatic`: at start-up, and again after `restart_timeout` whenever the connection
    /// fails or is lost (the default).
    #[default]
    Automatic,
    /// `lazy`: accepted with a warning and run as `automatic` (Mosquitto starts such a bridge
    /// only once `threshold` messages are queued for it).
    Lazy,
    /// `once`: at start-up only; not again once the connection fails or is lost.
    Once,
}

/// TLS to the remote broker (`bridge_cafile`, `bridge_capath`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeTls {
    /// `bridge_cafile`: trusted CA certificates (PEM).
    pub cafile: Option<PathBuf>,
    /// `bridge_capath`: a directory of trusted CA certificates.
    pub capath: Option<PathBuf>,
    /// `bridge_certfile`: the bridge's client certificate (PEM).
    pub certfile: Option<PathBuf>,
    /// `bridge_keyfile`: its private key (PEM).
    pub keyfile: Option<PathBuf>,
    /// `bridge_insecure`: do not check that the remote certificate names the host. Default
    /// false.
    pub insecure: bool,
    /// `bridge_tls_version`: the only version to use; `None` allows TLS 1.2 and 1.3.
    pub version: Option<TlsVersion>,
    /// `bridge_alpn`: the ALPN protocol to offer.
    pub alpn: Option<String>,
}
