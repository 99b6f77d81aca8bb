//! The typed configuration: plain data with Mosquitto 2.0 defaults.
//!
//! Nothing here parses text; `mosquitto.rs` and `toml.rs` build these values. Every default is
//! the one Mosquitto 2.0 uses (`mosquitto.conf(5)`, `src/conf.c`), so a broker driven by a
//! `Config` behaves like Mosquitto given the same file.

use core::fmt;
use core::ops::{BitOr, BitOrAssign};
use std::path::PathBuf;
use std::time::Duration;

use mqtt_codec::QoS;

/// The port Mosquitto listens on when none is given.
pub const DEFAULT_PORT: u16 = 1883;

/// The whole broker configuration.
///
/// Built by [`Config::load`], [`Config::parse_mosquitto`] or [`Config::parse_toml`]; the
/// [`Default`] is the configuration Mosquitto runs with when it is given no file
/// (see [`Config::local_only`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The listeners to open, in the order Mosquitto opens them: `listener` blocks in file
    /// order, then the default listener (deprecated `port` / `bind_address`, or listener options
    /// given before the first `listener`). Never empty: without a listener this holds the
    /// loopback pair of [`Config::local_only`]. Each [`Listener::security`] is the effective
    /// one (global settings already applied when `per_listener_settings` is false).
    pub listeners: Vec<Listener>,
    /// The bridges (`connection` blocks), in file order. Not changed by a reload (SIGHUP), as
    /// in Mosquitto.
    pub bridges: Vec<crate::bridge::Bridge>,
    /// True when the file defined no listener (no `listener`, `port` or `bind_address`), so
    /// [`Config::listeners`] is the loopback pair with anonymous access. Mosquitto's `-p` option
    /// replaces their port in that case and is ignored otherwise.
    pub local_only: bool,
    /// `per_listener_settings`: security options apply to the listener they follow rather than
    /// to every listener. Default false.
    pub per_listener_settings: bool,
    /// The global security options as written (used by every listener when
    /// `per_listener_settings` is false). `allow_anonymous` stays `None` when the file does not
    /// set it; the listeners carry the resolved value.
    pub security: Security,
    /// `check_retain_source`: re-check the publisher's ACL before sending a retained message.
    /// Default true.
    pub check_retain_source: bool,
    /// `max_packet_size`: the largest packet accepted (and announced to MQTT 5 clients).
    /// `None` = no limit (Mosquitto's 0).
    pub max_packet_size: Option<u32>,
    /// `message_size_limit`: the largest PUBLISH payload forwarded. `None` = no limit
    /// (Mosquitto's 0).
    pub message_size_limit: Option<u32>,
    /// `max_inflight_messages`: outgoing QoS 1 and 2 messages in flight per client; 0 = no
    /// limit. Default 20.
    pub max_inflight_messages: u16,
    /// `max_inflight_bytes`: the same limit counted in payload bytes; 0 = no limit.
    pub max_inflight_bytes: usize,
    /// `max_queued_messages`: QoS 1 and 2 messages queued per client beyond the in-flight ones;
    /// 0 = no limit. Default 1000.
    pub max_queued_messages: usize,
    /// `max_queued_bytes`: the same limit counted in payload bytes; 0 = no limit.
    pub max_queued_bytes: usize,
    /// `queue_qos0_messages`: queue QoS 0 messages for offline persistent clients. Default false.
    pub queue_qos0_messages: bool,
    /// `max_keepalive`: the largest keep alive an MQTT 5 client may use (10..=65535). Default
    /// 65535.
    pub max_keepalive: u16,
    /// `retain_available`: whether retained messages are allowed. Default true.
    pub retain_available: bool,
    /// `persistent_client_expiration`: forget persistent sessions not seen for this long.
    /// `None` = never.
    pub persistent_client_expiration: Option<Duration>,
    /// `sys_interval`: seconds between `$SYS` updates; 0 disables `$SYS`. Default 10.
    pub sys_interval: u32,
    /// Logging: `log_dest`, `log_type`, `log_timestamp`, `log_timestamp_format`.
    pub log: Log,
    /// `connection_messages`: log connects and disconnects. Default true.
    pub connection_messages: bool,
    /// `set_tcp_nodelay`: set `TCP_NODELAY` on client sockets. Default true (Mosquitto:
    /// false): the broker coalesces its own writes, so Nagle's algorithm saves nothing and
    /// adds delayed-ACK stalls of up to 40 ms.
    pub set_tcp_nodelay: bool,
    /// Persistence: `persistence`, `persistence_location`, `persistence_file`,
    /// `autosave_interval`, `autosave_on_changes` and our `persistence_sync`.
    pub persistence: Persistence,
    /// `pid_file`: where to write the process id. Default none.
    pub pid_file: Option<PathBuf>,
    /// `user`: the user to drop privileges to when started as root. Default `mosquitto`.
    pub user: String,
    /// `upgrade_outgoing_qos`: deliver at the subscription's QoS (non-standard). Default false.
    pub upgrade_outgoing_qos: bool,
    /// `allow_duplicate_messages` (deprecated in Mosquitto 2.0). Default true.
    pub allow_duplicate_messages: bool,
    /// `worker_threads` (ours): threads that serve connections; 0 (the default) = one per
    /// core the process may run on. Read at start only.
    pub worker_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config::local_only(None)
    }
}

impl Config {
    /// The configuration without a file: Mosquitto 2.0 listens on `127.0.0.1` and `::1` only,
    /// port 1883 (or `port`), and allows anonymous clients.
    ///
    /// ```
    /// use mqtt_broker::config::Config;
    /// let config = Config::local_only(Some(1884));
    /// assert_eq!(config.listeners.len(), 2);
    /// assert_eq!(config.listeners[0].bind_address.as_deref(), Some("127.0.0.1"));
    /// assert_eq!(config.listeners[1].bind_address.as_deref(), Some("::1"));
    /// assert!(config.listeners.iter().all(|l| l.port == 1884 && l.security.anonymous_allowed()));
    /// ```
    pub fn local_only(port: Option<u16>) -> Config {
        let port = port.unwrap_or(DEFAULT_PORT);
        let security = Security {
            allow_anonymous: Some(true),
            ..Security::default()
        };
        Config {
            listeners: loopback_listeners(port, &Listener::default(), &security),
            bridges: Vec::new(),
            local_only: true,
            per_listener_settings: false,
            security: Security::default(),
            check_retain_source: true,
            max_packet_size: None,
            message_size_limit: None,
            max_inflight_messages: 20,
            max_inflight_bytes: 0,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            queue_qos0_messages: false,
            max_keepalive: 65535,
            retain_available: true,
            persistent_client_expiration: None,
            sys_interval: 10,
            log: Log::default(),
            connection_messages: true,
            set_tcp_nodelay: true,
            persistence: Persistence::default(),
            pid_file: None,
            user: "mosquitto".to_owned(),
            upgrade_outgoing_qos: false,
            allow_duplicate_messages: true,
            worker_threads: 0,
        }
    }
}

/// The two loopback listeners of local-only mode, built from `template`.
pub(super) fn loopback_listeners(
    port: u16,
    template: &Listener,
    security: &Security,
) -> Vec<Listener> {
    ["127.0.0.1", "::1"]
        .into_iter()
        .map(|address| Listener {
            port,
            bind_address: Some(address.to_owned()),
            unix_socket: None,
            security: security.clone(),
            ..template.clone()
        })
        .collect()
}

/// One listening socket and its options (`listener port [address|path]` and what follows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// TCP port; 0 for a Unix domain socket.
    pub port: u16,
    /// Address or host name to bind; `None` = all interfaces.
    pub bind_address: Option<String>,
    /// Unix domain socket path (`listener 0 /path`); then `port` is 0.
    pub unix_socket: Option<PathBuf>,
    /// `protocol mqtt|websockets`. Default MQTT over TCP.
    pub protocol: ListenerProtocol,
    /// `socket_domain ipv4|ipv6`; `None` = both.
    pub socket_domain: Option<SocketDomain>,
    /// `max_connections`; `None` = unlimited (Mosquitto's -1; 0 is unlimited too).
    pub max_connections: Option<usize>,
    /// `mount_point`: prefix added to the topics of this listener's clients.
    pub mount_point: Option<String>,
    /// `max_qos`: the highest QoS clients of this listener may use. Default 2.
    pub max_qos: QoS,
    /// `max_topic_alias`: topic aliases an MQTT 5 client may create. Default 10.
    pub max_topic_alias: u16,
    /// TLS, when `certfile` and `keyfile` are set.
    pub tls: Option<Tls>,
    /// The effective security options of this listener.
    pub security: Security,
}

impl Default for Listener {
    fn default() -> Self {
        Listener {
            port: DEFAULT_PORT,
            bind_address: None,
            unix_socket: None,
            protocol: ListenerProtocol::Mqtt,
            socket_domain: None,
            max_connections: None,
            mount_point: None,
            max_qos: QoS::ExactlyOnce,
            max_topic_alias: 10,
            tls: None,
            security: Security::default(),
        }
    }
}

/// What a listener speaks (`protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListenerProtocol {
    /// MQTT over TCP (or TLS, or a Unix socket).
    #[default]
    Mqtt,
    /// MQTT over WebSockets.
    WebSockets,
}

/// The address family a listener is restricted to (`socket_domain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocketDomain {
    /// IPv4 only.
    Ipv4,
    /// IPv6 only.
    Ipv6,
}

/// Certificate-based TLS on a listener. Present only when both `certfile` and `keyfile` are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// `cafile`: CA certificates that verify client certificates.
    pub cafile: Option<PathBuf>,
    /// `capath`: directory of hashed CA certificates.
    pub capath: Option<PathBuf>,
    /// `certfile`: the server certificate (PEM).
    pub certfile: PathBuf,
    /// `keyfile`: the server private key (PEM).
    pub keyfile: PathBuf,
    /// `require_certificate`: clients must present a valid certificate. Default false.
    pub require_certificate: bool,
    /// `use_identity_as_username`: the certificate's CN is the username. Default false.
    pub use_identity_as_username: bool,
    /// `use_subject_as_username`: the certificate's whole subject is the username. Default false.
    pub use_subject_as_username: bool,
    /// `tls_version`: the minimum version; `None` = TLS 1.2 and 1.3.
    pub tls_version: Option<TlsVersion>,
    /// `ciphers`: OpenSSL cipher list for TLS 1.2 and below.
    pub ciphers: Option<String>,
    /// `ciphers_tls1.3`: TLS 1.3 cipher suites.
    pub ciphers_tls13: Option<String>,
    /// `crlfile`: certificate revocation list.
    pub crlfile: Option<PathBuf>,
}

/// Minimum TLS version of a listener (`tls_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TlsVersion {
    /// `tlsv1.1`.
    Tls1_1,
    /// `tlsv1.2`.
    Tls1_2,
    /// `tlsv1.3`.
    Tls1_3,
}

impl TlsVersion {
    /// Parses Mosquitto's spelling (`tlsv1.1`, `tlsv1.2`, `tlsv1.3`).
    pub fn from_mosquitto(name: &str) -> Option<TlsVersion> {
        match name {
            "tlsv1.1" => Some(TlsVersion::Tls1_1),
            "tlsv1.2" => Some(TlsVersion::Tls1_2),
            "tlsv1.3" => Some(TlsVersion::Tls1_3),
            _ => None,
        }
    }
}

/// Authentication and authorisation options (global, or per listener with
/// `per_listener_settings true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// `allow_anonymous`. `None` = not set: Mosquitto then allows anonymous clients only when the
    /// configuration defines no listener. In [`Listener::security`] this is always `Some`.
    pub allow_anonymous: Option<bool>,
    /// `password_file`: `user:hash` lines.
    pub password_file: Option<PathBuf>,
    /// `acl_file`: topic access rules.
    pub acl_file: Option<PathBuf>,
    /// `allow_zero_length_clientid`: let clients connect with an empty client id. Default true.
    pub allow_zero_length_clientid: bool,
    /// `auto_id_prefix`: prefix of the client ids the broker generates. Default `auto-`.
    pub auto_id_prefix: String,
}

impl Default for Security {
    fn default() -> Self {
        Security {
            allow_anonymous: None,
            password_file: None,
            acl_file: None,
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".to_owned(),
        }
    }
}

impl Security {
    /// Whether clients without a username are let in (`allow_anonymous`, false when unset).
    pub fn anonymous_allowed(&self) -> bool {
        self.allow_anonymous.unwrap_or(false)
    }
}

/// Logging options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// `log_dest` (repeatable), in the order given, without duplicates. Never empty:
    /// `[LogDest::None]` means logging is off. Default `[Stderr]`.
    pub dest: Vec<LogDest>,
    /// `log_type` (repeatable). Default error, warning, notice and information.
    pub types: LogTypes,
    /// `log_timestamp`: prefix each line with a timestamp. Default true.
    pub timestamp: bool,
    /// `log_timestamp_format`: `strftime` format; `None` = seconds since the epoch.
    pub timestamp_format: Option<String>,
    /// `log_facility`: the syslog facility of `log_dest syslog`. Default daemon.
    pub facility: LogFacility,
}

/// The syslog facility of `log_dest syslog` (`log_facility`).
///
/// ```
/// use mqtt_broker::config::LogFacility;
/// assert_eq!(LogFacility::default().code(), 3); // LOG_DAEMON
/// assert_eq!(LogFacility::local(5).map(LogFacility::code), Some(21)); // LOG_LOCAL5
/// assert_eq!(LogFacility::local(8), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFacility {
    /// `LOG_DAEMON`, Mosquitto's default.
    #[default]
    Daemon,
    /// `LOG_LOCAL0` to `LOG_LOCAL7` (`log_facility 0` to `7`); always at most 7.
    Local(u8),
}

impl LogFacility {
    /// `LOG_LOCALn` for `n` in 0..=7.
    pub fn local(n: u8) -> Option<LogFacility> {
        (n <= 7).then_some(LogFacility::Local(n))
    }

    /// The facility's code (the priority of a syslog message is code × 8 + severity).
    pub fn code(self) -> u8 {
        match self {
            LogFacility::Daemon => 3,
            LogFacility::Local(n) => 16 + n.min(7),
        }
    }
}

impl Default for Log {
    fn default() -> Self {
        Log {
            dest: vec![LogDest::Stderr],
            types: LogTypes::default(),
            timestamp: true,
            timestamp_format: None,
            facility: LogFacility::Daemon,
        }
    }
}

/// Where log lines go (`log_dest`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LogDest {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// The system log.
    Syslog,
    /// `$SYS/broker/log/<level>` topics.
    Topic,
    /// A file (`log_dest file <path>`; only one file is allowed).
    File(PathBuf),
    /// Diagnostic Log and Trace (automotive).
    Dlt,
    /// No logging.
    None,
}

/// A set of log message types (`log_type`).
///
/// ```
/// use mqtt_broker::config::LogTypes;
/// let types = LogTypes::ERROR | LogTypes::WARNING;
/// assert!(types.contains(LogTypes::ERROR));
/// assert!(!types.contains(LogTypes::DEBUG));
/// assert_eq!(LogTypes::from_name("all"), Some(LogTypes::ALL));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogTypes(u16);

impl LogTypes {
    /// No type (`none`).
    pub const NONE: LogTypes = LogTypes(0);
    /// `information`.
    pub const INFORMATION: LogTypes = LogTypes(1);
    /// `notice`.
    pub const NOTICE: LogTypes = LogTypes(1 << 1);
    /// `warning`.
    pub const WARNING: LogTypes = LogTypes(1 << 2);
    /// `error`.
    pub const ERROR: LogTypes = LogTypes(1 << 3);
    /// `debug`.
    pub const DEBUG: LogTypes = LogTypes(1 << 4);
    /// `subscribe`.
    pub const SUBSCRIBE: LogTypes = LogTypes(1 << 5);
    /// `unsubscribe`.
    pub const UNSUBSCRIBE: LogTypes = LogTypes(1 << 6);
    /// `websockets`.
    pub const WEBSOCKETS: LogTypes = LogTypes(1 << 7);
    /// `internal`.
    pub const INTERNAL: LogTypes = LogTypes(1 << 8);
    /// Every type (`all`, or the `-v` command-line flag).
    pub const ALL: LogTypes = LogTypes((1 << 9) - 1);

    const NAMES: [(&'static str, LogTypes); 9] = [
        ("information", LogTypes::INFORMATION),
        ("notice", LogTypes::NOTICE),
        ("warning", LogTypes::WARNING),
        ("error", LogTypes::ERROR),
        ("debug", LogTypes::DEBUG),
        ("subscribe", LogTypes::SUBSCRIBE),
        ("unsubscribe", LogTypes::UNSUBSCRIBE),
        ("websockets", LogTypes::WEBSOCKETS),
        ("internal", LogTypes::INTERNAL),
    ];

    /// Parses one `log_type` word (`debug`, ..., `all`, `none`).
    pub fn from_name(name: &str) -> Option<LogTypes> {
        match name {
            "all" => Some(LogTypes::ALL),
            "none" => Some(LogTypes::NONE),
            _ => LogTypes::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t),
        }
    }

    /// Whether every type in `other` is in `self`.
    pub const fn contains(self, other: LogTypes) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Adds the types of `other`.
    pub fn insert(&mut self, other: LogTypes) {
        self.0 |= other.0;
    }
}

impl Default for LogTypes {
    fn default() -> Self {
        LogTypes::ERROR | LogTypes::WARNING | LogTypes::NOTICE | LogTypes::INFORMATION
    }
}

impl BitOr for LogTypes {
    type Output = LogTypes;

    fn bitor(self, rhs: LogTypes) -> LogTypes {
        LogTypes(self.0 | rhs.0)
    }
}

impl BitOrAssign for LogTypes {
    fn bitor_assign(&mut self, rhs: LogTypes) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for LogTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        for (name, t) in LogTypes::NAMES {
            if self.contains(t) {
                set.entry(&format_args!("{name}"));
            }
        }
        set.finish()
    }
}

/// Persistence options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    /// `persistence`: keep sessions, subscriptions, queued and retained messages across
    /// restarts. Default false.
    pub enabled: bool,
    /// `persistence_location`: directory of the database; `None` = current directory.
    pub location: Option<PathBuf>,
    /// `persistence_file`: database file name. Default `mqtt-broker.db` (ours: not
    /// Mosquitto's file, whose format differs).
    pub file: String,
    /// `autosave_interval`: seconds between saves (or changes between saves with
    /// `autosave_on_changes`); 0 = only at shutdown. Default 1800.
    pub autosave_interval: u32,
    /// `autosave_on_changes`: count `autosave_interval` in changes, not seconds. Default false.
    pub autosave_on_changes: bool,
    /// `persistence_sync` (ours, not Mosquitto's). Default [`PersistenceSync::Ack`].
    pub sync: PersistenceSync,
}

impl Default for Persistence {
    fn default() -> Self {
        Persistence {
            enabled: false,
            location: None,
            file: "mqtt-broker.db".to_owned(),
            autosave_interval: 1800,
            autosave_on_changes: false,
            sync: PersistenceSync::Ack,
        }
    }
}

impl Persistence {
    /// The database path: `location` joined with `file` (just `file` without a location).
    pub fn path(&self) -> PathBuf {
        match &self.location {
            Some(dir) => dir.join(&self.file),
            None => PathBuf::from(&self.file),
        }
    }
}

/// When persistent state reaches the disk (`persistence_sync`, our own option).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PersistenceSync {
    /// `ack`: a change is durable before the broker acknowledges it (PUBACK, PUBREC, SUBACK,
    /// CONNACK of a persistent session).
    #[default]
    Ack,
    /// `periodic`: Mosquitto's behaviour, a snapshot every `autosave_interval` and at shutdown;
    /// a crash loses what changed since the last snapshot.
    Periodic,
}
