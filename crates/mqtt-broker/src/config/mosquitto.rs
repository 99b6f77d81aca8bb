//! `mosquitto.conf`: the line syntax, and the meaning of every option (shared with the TOML
//! form, which is turned into the same directives).
//!
//! The reader follows Mosquitto 2.0's `config__read_file_core` (`src/conf.c`), checked against
//! `mosquitto` 2.0.11:
//! - a line is skipped when its *first byte* is `#`, CR or LF; an indented `# x` is the unknown
//!   option `#`;
//! - trailing CR/LF are removed; words are separated by single spaces only (a tab is part of a
//!   word, so `port\t1883` is the unknown option `port\t1883`);
//! - booleans and numbers take the next word, so `max_qos 1 # note` works; strings, paths and
//!   `include_dir` take the rest of the line, so a trailing `# note` is part of the value;
//! - state that Mosquitto keeps per file (the current listener, the current bridge, the current
//!   plugin) restarts in every included file.
//!
//! We are stricter than Mosquitto where it silently accepts nonsense: numbers must be integers
//! (Mosquitto's `atoi` reads `12abc` as 12 and `abc` as 0), negative values are refused instead
//! of being clamped (except `max_connections -1`), and an empty `log_type`, `max_connections`
//! or `persistent_client_expiration` is an error rather than a logged message.

use core::cmp::Ordering;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mqtt_codec::QoS;

use super::bridge::{self, BridgeDraft};
use super::error::{ConfigError, ConfigWarning, WarningKind};
use super::types::{
    loopback_listeners, Config, Listener, ListenerProtocol, Log, LogDest, LogFacility, LogTypes,
    Persistence, PersistenceSync, Security, SocketDomain, Tls, TlsVersion, DEFAULT_PORT,
};
use super::Loaded;

/// Largest MQTT payload (`MQTT_MAX_PAYLOAD`), the ceiling of `message_size_limit`.
const MAX_PAYLOAD: i64 = 268_435_455;
/// Mosquitto reads numbers into a C `int`.
const INT_MAX: i64 = i32::MAX as i64;

/// The syntax of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Syntax {
    /// `name value` lines.
    Mosquitto,
    /// TOML (the file name ends in `.toml`).
    Toml,
}

impl Syntax {
    /// The syntax of a file, from its name.
    pub(super) fn of(path: &Path) -> Syntax {
        let is_toml = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".toml"));
        if is_toml {
            Syntax::Toml
        } else {
            Syntax::Mosquitto
        }
    }

    /// The file-name suffix `include_dir` loads for files of this syntax.
    fn include_suffix(self) -> &'static str {
        match self {
            Syntax::Mosquitto => ".conf",
            Syntax::Toml => ".toml",
        }
    }
}

/// Where an option is meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// Applies to the whole broker.
    Global,
    /// Applies to the current listener.
    Listener,
    /// A security option: the current listener with `per_listener_settings true`, else global.
    Security,
    /// Belongs to the current bridge (`connection` block).
    Bridge,
}

/// Options we implement, with their scope. `listener`, `port` and `bind_address` are listener
/// definitions; `include_dir` is global.
pub(super) const SUPPORTED: &[(&str, Scope)] = &[
    ("listener", Scope::Listener),
    ("port", Scope::Listener),
    ("bind_address", Scope::Listener),
    ("socket_domain", Scope::Listener),
    ("protocol", Scope::Listener),
    ("max_connections", Scope::Listener),
    ("max_qos", Scope::Listener),
    ("maximum_qos", Scope::Listener),
    ("max_topic_alias", Scope::Listener),
    ("mount_point", Scope::Listener),
    ("cafile", Scope::Listener),
    ("capath", Scope::Listener),
    ("certfile", Scope::Listener),
    ("keyfile", Scope::Listener),
    ("ciphers", Scope::Listener),
    ("ciphers_tls1.3", Scope::Listener),
    ("crlfile", Scope::Listener),
    ("tls_version", Scope::Listener),
    ("require_certificate", Scope::Listener),
    ("use_identity_as_username", Scope::Listener),
    ("use_subject_as_username", Scope::Listener),
    ("acl_file", Scope::Security),
    ("password_file", Scope::Security),
    ("allow_anonymous", Scope::Security),
    ("allow_zero_length_clientid", Scope::Security),
    ("auto_id_prefix", Scope::Security),
    ("check_retain_source", Scope::Global),
    ("per_listener_settings", Scope::Global),
    ("allow_duplicate_messages", Scope::Global),
    ("autosave_interval", Scope::Global),
    ("autosave_on_changes", Scope::Global),
    ("connection_messages", Scope::Global),
    ("include_dir", Scope::Global),
    ("log_dest", Scope::Global),
    ("log_type", Scope::Global),
    ("log_timestamp", Scope::Global),
    ("log_facility", Scope::Global),
    ("log_timestamp_format", Scope::Global),
    ("max_inflight_bytes", Scope::Global),
    ("max_inflight_messages", Scope::Global),
    ("max_keepalive", Scope::Global),
    ("max_packet_size", Scope::Global),
    ("max_queued_bytes", Scope::Global),
    ("max_queued_messages", Scope::Global),
    ("message_size_limit", Scope::Global),
    ("persistence", Scope::Global),
    ("retained_persistence", Scope::Global),
    ("persistence_file", Scope::Global),
    ("persistence_location", Scope::Global),
    ("persistence_sync", Scope::Global),
    ("persistent_client_expiration", Scope::Global),
    ("pid_file", Scope::Global),
    ("queue_qos0_messages", Scope::Global),
    ("retain_available", Scope::Global),
    ("set_tcp_nodelay", Scope::Global),
    ("sys_interval", Scope::Global),
    ("upgrade_outgoing_qos", Scope::Global),
    ("user", Scope::Global),
    ("worker_threads", Scope::Global),
];

/// Options Mosquitto 2.0 knows and we accept with a warning, without effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsupported {
    /// A global option.
    Global(&'static str),
    /// A listener option; `triggers` when Mosquitto creates the default listener for it.
    Listener {
        reason: &'static str,
        triggers: bool,
    },
    /// A security option (TLS-PSK's `psk_file`).
    Security(&'static str),
    /// A bridge option: only after `connection` in the same file.
    Bridge,
    /// `auth_plugin` / `plugin`: a security option that starts a plugin block.
    Plugin,
    /// A plugin option: only after a plugin in the same file.
    PluginOption,
}

fn unsupported(option: &str) -> Option<Unsupported> {
    const NOT_YET: &str = "not supported yet";
    let kind = match option {
        o if bridge::UNSUPPORTED.contains(&o) => Unsupported::Bridge,
        "auth_plugin" | "plugin" => Unsupported::Plugin,
        "auth_plugin_deny_special_chars" => Unsupported::PluginOption,
        o if o.starts_with("auth_opt_") || o.starts_with("plugin_opt_") => {
            Unsupported::PluginOption
        }
        "psk_file" => Unsupported::Security("TLS-PSK is not supported yet"),
        "psk_hint" => Unsupported::Listener {
            reason: "TLS-PSK is not supported yet",
            triggers: true,
        },
        "dhparamfile"
        | "tls_engine"
        | "tls_engine_kpass_sha1"
        | "tls_keyform"
        | "use_username_as_clientid"
        | "bind_interface" => Unsupported::Listener {
            reason: NOT_YET,
            triggers: true,
        },
        "http_dir" => Unsupported::Listener {
            reason: "serving HTTP files is not supported",
            triggers: false,
        },
        "websockets_log_level" | "websockets_headers_size" | "memory_limit" => {
            Unsupported::Global(NOT_YET)
        }
        "clientid_prefixes" => Unsupported::Global("deprecated by Mosquitto, not supported"),
        "retry_interval" => Unsupported::Global("removed in Mosquitto 2.0"),
        _ => return None,
    };
    Some(kind)
}

/// The scope of any option Mosquitto 2.0 knows, supported or not; `None` for unknown names.
pub(super) fn scope_of(option: &str) -> Option<Scope> {
    if let Some((_, scope)) = SUPPORTED.iter().find(|(name, _)| *name == option) {
        return Some(*scope);
    }
    if option == "connection" || bridge::SUPPORTED.contains(&option) {
        return Some(Scope::Bridge);
    }
    unsupported(option).map(|kind| match kind {
        Unsupported::Global(_) => Scope::Global,
        Unsupported::Listener { .. } => Scope::Listener,
        Unsupported::Security(_) | Unsupported::Plugin | Unsupported::PluginOption => {
            Scope::Security
        }
        Unsupported::Bridge => Scope::Bridge,
    })
}

/// Word splitting as Mosquitto's `strtok_r` does it, with a single space as separator.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tokens<'a> {
    rest: Option<&'a str>,
}

impl<'a> Tokens<'a> {
    /// Tokens of `text` (what follows the option name and its separating space).
    pub(super) fn new(text: &'a str) -> Tokens<'a> {
        Tokens { rest: Some(text) }
    }

    /// The next space-separated word (`strtok_r(NULL, " ", ..)`).
    pub(super) fn next_word(&mut self) -> Option<&'a str> {
        let text = self.rest?.trim_start_matches(' ');
        if text.is_empty() {
            self.rest = None;
            return None;
        }
        match text.split_once(' ') {
            Some((word, rest)) => {
                self.rest = Some(rest);
                Some(word)
            }
            None => {
                self.rest = None;
                Some(text)
            }
        }
    }

    /// The rest of the line, untouched (`strtok_r(NULL, "", ..)`).
    fn rest(&mut self) -> Option<&'a str> {
        self.rest.take().filter(|s| !s.is_empty())
    }
}

/// C's `isspace`.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// One line being applied: where it is, and the option it sets.
#[derive(Debug, Clone)]
pub(super) struct Ctx {
    pub(super) file: PathBuf,
    pub(super) line: usize,
    pub(super) option: String,
}

impl Ctx {
    pub(super) fn empty(&self) -> ConfigError {
        ConfigError::EmptyValue {
            file: self.file.clone(),
            line: self.line,
            option: self.option.clone(),
        }
    }

    pub(super) fn invalid(&self, message: String) -> ConfigError {
        ConfigError::InvalidValue {
            file: self.file.clone(),
            line: self.line,
            option: self.option.clone(),
            message,
        }
    }

    pub(super) fn invalid_value(&self, value: impl core::fmt::Display) -> ConfigError {
        self.invalid(format!("Invalid {} value ({value})", self.option))
    }

    pub(super) fn duplicate(&self) -> ConfigError {
        ConfigError::Duplicate {
            file: self.file.clone(),
            line: self.line,
            option: self.option.clone(),
        }
    }

    pub(super) fn misplaced(&self, message: String) -> ConfigError {
        ConfigError::Misplaced {
            file: self.file.clone(),
            line: self.line,
            option: self.option.clone(),
            message,
        }
    }

    pub(super) fn warning(&self, kind: WarningKind, message: String) -> ConfigWarning {
        ConfigWarning {
            file: self.file.clone(),
            line: self.line,
            option: self.option.clone(),
            kind,
            message,
        }
    }

    /// A boolean: `true`/`1` or `false`/`0` (`conf__parse_bool`).
    pub(super) fn bool(&self, tokens: &mut Tokens<'_>) -> Result<bool, ConfigError> {
        match tokens.next_word() {
            None => Err(self.empty()),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(other) => Err(self.invalid_value(other)),
        }
    }

    /// A word, required.
    pub(super) fn word<'a>(&self, tokens: &mut Tokens<'a>) -> Result<&'a str, ConfigError> {
        tokens.next_word().ok_or_else(|| self.empty())
    }

    /// An integer in `min..=max` (`conf__parse_int`, but strict).
    pub(super) fn int(
        &self,
        tokens: &mut Tokens<'_>,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        let word = self.word(tokens)?;
        let value: i64 = word.parse().map_err(|_| self.invalid_value(word))?;
        if value < min || value > max {
            return Err(self.invalid(format!(
                "Invalid {} value ({value}), must be between {min} and {max}",
                self.option
            )));
        }
        Ok(value)
    }

    /// The rest of the line, trimmed, for an option that may be set once (`conf__parse_string`).
    pub(super) fn string(
        &self,
        tokens: &mut Tokens<'_>,
        already_set: bool,
    ) -> Result<String, ConfigError> {
        let rest = tokens.rest().ok_or_else(|| self.empty())?;
        if already_set {
            return Err(self.duplicate());
        }
        let value = rest.trim_matches(is_c_space);
        if value.is_empty() {
            return Err(self.empty());
        }
        if value.len() > usize::from(u16::MAX) {
            return Err(self.invalid(format!("{} value too long", self.option)));
        }
        Ok(value.to_owned())
    }

    fn origin(&self) -> Ctx {
        self.clone()
    }
}

/// Which listener the options of a file apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Current {
    /// The default listener (options before any `listener` line of this file).
    Default,
    /// `listeners[i]`.
    Listener(usize),
}

/// State Mosquitto keeps per file.
#[derive(Debug)]
pub(super) struct FileState {
    file: PathBuf,
    level: usize,
    syntax: Syntax,
    current: Current,
    /// The bridge of the last `connection` line of this file (index in `Parser::bridges`).
    bridge: Option<usize>,
    has_plugin: bool,
}

impl FileState {
    /// The state at the start of the main file.
    pub(super) fn main(file: &Path, syntax: Syntax) -> FileState {
        FileState::new(file.to_path_buf(), 0, syntax)
    }

    fn new(file: PathBuf, level: usize, syntax: Syntax) -> FileState {
        FileState {
            file,
            level,
            syntax,
            current: Current::Default,
            bridge: None,
            has_plugin: false,
        }
    }

    /// The file being read.
    pub(super) fn file(&self) -> &Path {
        &self.file
    }

    /// Ends the current bridge block (a TOML `[[connection]]` table is over).
    pub(super) fn end_bridge(&mut self) {
        self.bridge = None;
    }
}

/// Security options while they are being read.
#[derive(Debug, Clone)]
struct SecurityDraft {
    allow_anonymous: Option<bool>,
    allow_anonymous_at: Option<Ctx>,
    password_file: Option<PathBuf>,
    acl_file: Option<PathBuf>,
    allow_zero_length_clientid: bool,
    auto_id_prefix: Option<String>,
    /// `psk_file` or a plugin was given (they make Mosquitto create the default listener).
    unsupported_trigger: bool,
}

impl Default for SecurityDraft {
    fn default() -> Self {
        SecurityDraft {
            allow_anonymous: None,
            allow_anonymous_at: None,
            password_file: None,
            acl_file: None,
            allow_zero_length_clientid: true,
            auto_id_prefix: None,
            unsupported_trigger: false,
        }
    }
}

impl SecurityDraft {
    /// The security options as written, `auto_id_prefix` defaulted.
    fn as_written(&self) -> Security {
        Security {
            allow_anonymous: self.allow_anonymous,
            password_file: self.password_file.clone(),
            acl_file: self.acl_file.clone(),
            allow_zero_length_clientid: self.allow_zero_length_clientid,
            auto_id_prefix: self
                .auto_id_prefix
                .clone()
                .unwrap_or_else(|| Security::default().auto_id_prefix),
        }
    }

    /// The effective options: `allow_anonymous` resolved with Mosquitto's default rule.
    fn effective(&self, anonymous_by_default: bool) -> Security {
        Security {
            allow_anonymous: Some(self.allow_anonymous.unwrap_or(anonymous_by_default)),
            ..self.as_written()
        }
    }
}

/// A listener while it is being read.
#[derive(Debug, Clone)]
struct ListenerDraft {
    /// The `listener` line; `None` for the default listener.
    origin: Option<Ctx>,
    port: u16,
    bind_address: Option<String>,
    unix_socket: Option<PathBuf>,
    protocol: ListenerProtocol,
    socket_domain: Option<SocketDomain>,
    max_connections: Option<usize>,
    mount_point: Option<String>,
    max_qos: QoS,
    max_topic_alias: u16,
    cafile: Option<PathBuf>,
    capath: Option<PathBuf>,
    certfile: Option<PathBuf>,
    keyfile: Option<PathBuf>,
    crlfile: Option<PathBuf>,
    ciphers: Option<String>,
    ciphers_tls13: Option<String>,
    tls_version: Option<TlsVersion>,
    require_certificate: bool,
    use_identity_as_username: bool,
    use_subject_as_username: bool,
    /// The first TLS option line.
    tls_at: Option<Ctx>,
    /// The first `certfile` or `keyfile` line.
    cert_at: Option<Ctx>,
    /// An unsupported option that makes Mosquitto create the default listener was given.
    unsupported_trigger: bool,
    security: SecurityDraft,
}

impl ListenerDraft {
    fn new(origin: Option<Ctx>) -> ListenerDraft {
        let defaults = Listener::default();
        ListenerDraft {
            origin,
            port: defaults.port,
            bind_address: None,
            unix_socket: None,
            protocol: defaults.protocol,
            socket_domain: None,
            max_connections: None,
            mount_point: None,
            max_qos: defaults.max_qos,
            max_topic_alias: defaults.max_topic_alias,
            cafile: None,
            capath: None,
            certfile: None,
            keyfile: None,
            crlfile: None,
            ciphers: None,
            ciphers_tls13: None,
            tls_version: None,
            require_certificate: false,
            use_identity_as_username: false,
            use_subject_as_username: false,
            tls_at: None,
            cert_at: None,
            unsupported_trigger: false,
            security: SecurityDraft::default(),
        }
    }

    /// Whether Mosquitto turns the default listener into a real one (`config__parse_args`):
    /// any of these options differs from its default.
    fn is_configured(&self) -> bool {
        self.bind_address.is_some()
            || self.unsupported_trigger
            || self.cafile.is_some()
            || self.capath.is_some()
            || self.certfile.is_some()
            || self.keyfile.is_some()
            || self.ciphers.is_some()
            || self.ciphers_tls13.is_some()
            || self.crlfile.is_some()
            || self.require_certificate
            || self.use_identity_as_username
            || self.use_subject_as_username
            || self.max_connections.is_some()
            || self.max_qos != QoS::ExactlyOnce
            || self.mount_point.is_some()
            || self.protocol != ListenerProtocol::Mqtt
            || self.socket_domain.is_some()
            || self.security.password_file.is_some()
            || self.security.unsupported_trigger
            || !self.security.allow_zero_length_clientid
    }

    fn record_tls(&mut self, ctx: &Ctx) {
        if self.tls_at.is_none() {
            self.tls_at = Some(ctx.origin());
        }
    }

    /// The finished listener. `security` is the effective security.
    fn build(
        self,
        security: Security,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Listener, ConfigError> {
        let tls = match (self.certfile, self.keyfile) {
            (Some(certfile), Some(keyfile)) => Some(Tls {
                cafile: self.cafile,
                capath: self.capath,
                certfile,
                keyfile,
                require_certificate: self.require_certificate,
                use_identity_as_username: self.use_identity_as_username,
                use_subject_as_username: self.use_subject_as_username,
                tls_version: self.tls_version,
                ciphers: self.ciphers,
                ciphers_tls13: self.ciphers_tls13,
                crlfile: self.crlfile,
            }),
            (None, None) => {
                if let Some(at) = &self.tls_at {
                    warnings.push(at.warning(
                        WarningKind::Ignored,
                        format!(
                            "TLS option \"{}\" has no effect on a listener without certfile and keyfile",
                            at.option
                        ),
                    ));
                }
                None
            }
            (certfile, _) => {
                let missing = if certfile.is_some() {
                    "keyfile"
                } else {
                    "certfile"
                };
                let at = self.cert_at.or(self.origin).unwrap_or(Ctx {
                    file: PathBuf::new(),
                    line: 0,
                    option: String::new(),
                });
                return Err(at.invalid(format!(
                    "{} given without {missing}: a TLS listener needs both certfile and keyfile",
                    at.option
                )));
            }
        };
        Ok(Listener {
            port: self.port,
            bind_address: self.bind_address,
            unix_socket: self.unix_socket,
            protocol: self.protocol,
            socket_domain: self.socket_domain,
            max_connections: self.max_connections,
            mount_point: self.mount_point,
            max_qos: self.max_qos,
            max_topic_alias: self.max_topic_alias,
            tls,
            security,
        })
    }
}

/// Reads configuration files into a [`Config`], option by option, as Mosquitto does.
#[derive(Debug)]
pub(super) struct Parser {
    /// Global values, starting at their defaults. Listeners and security are built at the end.
    config: Config,
    per_listener_settings: bool,
    /// A security option was seen (Mosquitto's `cur_security_options != NULL`).
    security_touched: bool,
    global_security: SecurityDraft,
    default_listener: ListenerDraft,
    default_port: Option<u16>,
    /// The first line that applied to the default listener.
    default_at: Option<Ctx>,
    listeners: Vec<ListenerDraft>,
    log_dest: Option<Vec<LogDest>>,
    log_file_set: bool,
    log_types: Option<LogTypes>,
    user: Option<String>,
    persistence_file: Option<String>,
    bridges: Vec<BridgeDraft>,
    warnings: Vec<ConfigWarning>,
}

impl Parser {
    /// A parser with nothing read yet.
    pub(super) fn new() -> Parser {
        Parser {
            config: Config::default(),
            per_listener_settings: false,
            security_touched: false,
            global_security: SecurityDraft::default(),
            default_listener: ListenerDraft::new(None),
            default_port: None,
            default_at: None,
            listeners: Vec::new(),
            log_dest: None,
            log_file_set: false,
            log_types: None,
            user: None,
            persistence_file: None,
            bridges: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Reads a file from disk, in its syntax.
    pub(super) fn read_file(&mut self, state: &mut FileState) -> Result<(), ConfigError> {
        let bytes = read_bytes(&state.file)?;
        match state.syntax {
            Syntax::Mosquitto => self.read_mosquitto(&bytes, state),
            Syntax::Toml => {
                let text = core::str::from_utf8(&bytes).map_err(|e| {
                    let line = line_of_offset(&bytes, e.valid_up_to());
                    ConfigError::InvalidValue {
                        file: state.file.clone(),
                        line,
                        option: String::new(),
                        message: "Malformed UTF-8 in configuration".to_owned(),
                    }
                })?;
                super::toml::read_toml(self, text, state)
            }
        }
    }

    /// Reads `mosquitto.conf` text.
    pub(super) fn read_mosquitto(
        &mut self,
        bytes: &[u8],
        state: &mut FileState,
    ) -> Result<(), ConfigError> {
        for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let line = index + 1;
            if matches!(raw.first(), None | Some(b'#' | b'\r')) {
                continue;
            }
            let mut raw = raw;
            while let [rest @ .., b'\r'] = raw {
                raw = rest;
            }
            let text = match core::str::from_utf8(raw) {
                Ok(text) => text,
                Err(_) => {
                    let lossy = String::from_utf8_lossy(raw);
                    let option = Tokens::new(&lossy)
                        .next_word()
                        .unwrap_or_default()
                        .to_owned();
                    return Err(ConfigError::InvalidValue {
                        file: state.file.clone(),
                        line,
                        option,
                        message: "Malformed UTF-8 in configuration".to_owned(),
                    });
                }
            };
            let mut tokens = Tokens::new(text);
            let Some(option) = tokens.next_word() else {
                continue;
            };
            self.directive(state, line, option, tokens)?;
        }
        Ok(())
    }

    /// Applies one `option value` line.
    pub(super) fn directive(
        &mut self,
        state: &mut FileState,
        line: usize,
        option: &str,
        mut tokens: Tokens<'_>,
    ) -> Result<(), ConfigError> {
        let ctx = Ctx {
            file: state.file.clone(),
            line,
            option: option.to_owned(),
        };
        let t = &mut tokens;
        let known = self.listener_option(state, &ctx, t)?
            || self.security_option(state, &ctx, t)?
            || self.global_option(state, &ctx, t)?
            || self.bridge_option(state, &ctx, t)?;
        if known {
            return Ok(());
        }
        match unsupported(option) {
            Some(kind) => self.unsupported(state, &ctx, t, kind),
            None => Err(ConfigError::UnknownOption {
                file: ctx.file,
                line,
                option: ctx.option,
            }),
        }
    }

    /// `connection` and the bridge options; false when `ctx.option` is not one. A bridge
    /// option applies to the bridge of the last `connection` line of the same file.
    fn bridge_option(
        &mut self,
        state: &mut FileState,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
    ) -> Result<bool, ConfigError> {
        if ctx.option == "connection" {
            let name = ctx.word(t)?;
            if self.bridges.iter().any(|b| b.name == name) {
                return Err(ctx.invalid(format!("Duplicate bridge name \"{name}\"")));
            }
            self.bridges
                .push(BridgeDraft::new(ctx.origin(), name.to_owned()));
            state.bridge = Some(self.bridges.len().saturating_sub(1));
            return Ok(true);
        }
        if !bridge::SUPPORTED.contains(&ctx.option.as_str()) {
            return Ok(false);
        }
        let Some(draft) = state.bridge.and_then(|i| self.bridges.get_mut(i)) else {
            return Err(bridge_misplaced(ctx));
        };
        draft.apply(ctx, t, &mut self.warnings)?;
        Ok(true)
    }

    /// Listener definitions and listener options; false when `ctx.option` is not one.
    fn listener_option(
        &mut self,
        state: &mut FileState,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
    ) -> Result<bool, ConfigError> {
        let option = ctx.option.as_str();
        match option {
            "listener" => self.listener(state, ctx, t)?,
            "port" => {
                self.deprecated(
                    ctx,
                    "The 'port' option is deprecated; use 'listener' instead",
                );
                if self.default_port.is_some() {
                    self.warnings.push(ctx.warning(
                        WarningKind::Notice,
                        "Default listener port specified multiple times; only the latest is used"
                            .to_owned(),
                    ));
                }
                let port = ctx.int(t, 1, 65535)?;
                self.default_port = u16::try_from(port).ok();
                self.touch_default(ctx);
            }
            "bind_address" => {
                self.deprecated(
                    ctx,
                    "The 'bind_address' option is deprecated; use 'listener' instead",
                );
                let set = self.default_listener.bind_address.is_some();
                self.default_listener.bind_address = Some(ctx.string(t, set)?);
                self.touch_default(ctx);
            }

            "socket_domain" => {
                let domain = match ctx.word(t)? {
                    "ipv4" => SocketDomain::Ipv4,
                    "ipv6" => SocketDomain::Ipv6,
                    other => {
                        return Err(ctx.invalid(format!(
                            "Invalid socket_domain value \"{other}\" in configuration"
                        )))
                    }
                };
                self.listener_mut(state, ctx).socket_domain = Some(domain);
            }
            "protocol" => {
                let protocol = match ctx.word(t)? {
                    "mqtt" => ListenerProtocol::Mqtt,
                    "websockets" => ListenerProtocol::WebSockets,
                    other => return Err(ctx.invalid_value(other)),
                };
                self.listener_mut(state, ctx).protocol = protocol;
            }
            "max_connections" => {
                let value = ctx.int(t, -1, INT_MAX)?;
                // Mosquitto: -1 is unlimited, and a limit of 0 is never enforced.
                let limit = usize::try_from(value).ok().filter(|v| *v > 0);
                self.listener_mut(state, ctx).max_connections = limit;
            }
            "max_qos" | "maximum_qos" => {
                let value = ctx.int(t, 0, 2)?;
                let qos = u8::try_from(value)
                    .ok()
                    .and_then(|v| QoS::try_from(v).ok())
                    .ok_or_else(|| ctx.invalid_value(value))?;
                self.listener_mut(state, ctx).max_qos = qos;
            }
            "max_topic_alias" => {
                let value = ctx.int(t, 0, 65535)?;
                self.listener_mut(state, ctx).max_topic_alias =
                    u16::try_from(value).map_err(|_| ctx.invalid_value(value))?;
            }
            "mount_point" => {
                if self.listeners.is_empty() {
                    return Err(ctx.misplaced(
                        "You must create a listener before using the mount_point option".to_owned(),
                    ));
                }
                let listener = self.listener_mut(state, ctx);
                let value = ctx.string(t, listener.mount_point.is_some())?;
                if value.contains(['+', '#']) {
                    return Err(ctx.invalid(format!(
                        "Invalid mount_point '{value}'. Does it contain a wildcard character?"
                    )));
                }
                listener.mount_point = Some(value);
            }
            "cafile" | "capath" | "certfile" | "keyfile" | "crlfile" => {
                let listener = self.listener_mut(state, ctx);
                let slot = match option {
                    "cafile" => &mut listener.cafile,
                    "capath" => &mut listener.capath,
                    "certfile" => &mut listener.certfile,
                    "keyfile" => &mut listener.keyfile,
                    _ => &mut listener.crlfile,
                };
                *slot = Some(PathBuf::from(ctx.string(t, slot.is_some())?));
                listener.record_tls(ctx);
                if matches!(option, "certfile" | "keyfile") && listener.cert_at.is_none() {
                    listener.cert_at = Some(ctx.origin());
                }
            }
            "ciphers" | "ciphers_tls1.3" => {
                let listener = self.listener_mut(state, ctx);
                let slot = if option == "ciphers" {
                    &mut listener.ciphers
                } else {
                    &mut listener.ciphers_tls13
                };
                *slot = Some(ctx.string(t, slot.is_some())?);
                listener.record_tls(ctx);
            }
            "tls_version" => {
                let listener = self.listener_mut(state, ctx);
                let value = ctx.string(t, listener.tls_version.is_some())?;
                let version = TlsVersion::from_mosquitto(&value)
                    .ok_or_else(|| ctx.invalid(format!("Unsupported tls_version \"{value}\"")))?;
                listener.tls_version = Some(version);
                listener.record_tls(ctx);
            }
            "require_certificate" | "use_identity_as_username" | "use_subject_as_username" => {
                let value = ctx.bool(t)?;
                let listener = self.listener_mut(state, ctx);
                match option {
                    "require_certificate" => listener.require_certificate = value,
                    "use_identity_as_username" => listener.use_identity_as_username = value,
                    _ => listener.use_subject_as_username = value,
                }
                listener.record_tls(ctx);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Security options; false when `ctx.option` is not one.
    fn security_option(
        &mut self,
        state: &mut FileState,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
    ) -> Result<bool, ConfigError> {
        let option = ctx.option.as_str();
        match option {
            "acl_file" | "password_file" => {
                let security = self.security_mut(state, ctx);
                let slot = if option == "acl_file" {
                    &mut security.acl_file
                } else {
                    &mut security.password_file
                };
                *slot = Some(PathBuf::from(ctx.string(t, slot.is_some())?));
            }
            "allow_anonymous" => {
                let value = ctx.bool(t)?;
                let security = self.security_mut(state, ctx);
                security.allow_anonymous = Some(value);
                security.allow_anonymous_at = Some(ctx.origin());
            }
            "allow_zero_length_clientid" => {
                let value = ctx.bool(t)?;
                self.security_mut(state, ctx).allow_zero_length_clientid = value;
            }
            "auto_id_prefix" => {
                let security = self.security_mut(state, ctx);
                security.auto_id_prefix = Some(ctx.string(t, security.auto_id_prefix.is_some())?);
            }
            "check_retain_source" => {
                self.security_touched = true;
                self.config.check_retain_source = ctx.bool(t)?;
            }
            "per_listener_settings" => {
                let value = ctx.bool(t)?;
                if self.per_listener_settings {
                    // Mosquitto: "Once this is set, don't let it be unset."
                    if !value {
                        self.warnings.push(ctx.warning(
                            WarningKind::Ignored,
                            "per_listener_settings cannot be turned off once it is true".to_owned(),
                        ));
                    }
                } else if value && self.security_touched {
                    return Err(ConfigError::PerListenerSettingsTooLate {
                        file: ctx.file.clone(),
                        line: ctx.line,
                        option: ctx.option.clone(),
                    });
                } else {
                    self.per_listener_settings = value;
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Global options; false when `ctx.option` is not one.
    fn global_option(
        &mut self,
        state: &mut FileState,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
    ) -> Result<bool, ConfigError> {
        let option = ctx.option.as_str();
        match option {
            "allow_duplicate_messages" => {
                self.deprecated(
                    ctx,
                    "The 'allow_duplicate_messages' option is deprecated; duplicates are always allowed in future versions",
                );
                self.config.allow_duplicate_messages = ctx.bool(t)?;
            }
            "autosave_interval" => {
                self.config.persistence.autosave_interval = to_u32(ctx, ctx.int(t, 0, INT_MAX)?)?
            }
            "autosave_on_changes" => self.config.persistence.autosave_on_changes = ctx.bool(t)?,
            "connection_messages" => self.config.connection_messages = ctx.bool(t)?,
            "include_dir" => self.include_dir(state, ctx, t)?,
            "log_dest" => self.log_dest(ctx, t)?,
            "log_type" => {
                let word = ctx.word(t)?;
                let types = LogTypes::from_name(word).ok_or_else(|| ctx.invalid_value(word))?;
                let current = self.log_types.get_or_insert(LogTypes::NONE);
                if types.is_empty() {
                    *current = LogTypes::NONE;
                } else {
                    current.insert(types);
                }
            }
            "log_timestamp" => self.config.log.timestamp = ctx.bool(t)?,
            "log_facility" => {
                let word = ctx.word(t)?;
                let value: i64 = word.parse().map_err(|_| ctx.invalid_value(word))?;
                self.config.log.facility = u8::try_from(value)
                    .ok()
                    .and_then(LogFacility::local)
                    .ok_or_else(|| ctx.invalid(format!("Invalid log_facility value ({value})")))?;
            }
            "log_timestamp_format" => {
                let set = self.config.log.timestamp_format.is_some();
                self.config.log.timestamp_format = Some(ctx.string(t, set)?);
            }
            "max_inflight_bytes" => {
                self.config.max_inflight_bytes = to_usize(ctx, ctx.int(t, 0, INT_MAX)?)?
            }
            "max_inflight_messages" => {
                let value = ctx.int(t, 0, 65535)?;
                // Mosquitto treats 65535 as "no limit", like 0.
                let value = if value == 65535 { 0 } else { value };
                self.config.max_inflight_messages =
                    u16::try_from(value).map_err(|_| ctx.invalid_value(value))?;
            }
            "max_keepalive" => {
                let value = ctx.int(t, 10, 65535)?;
                self.config.max_keepalive =
                    u16::try_from(value).map_err(|_| ctx.invalid_value(value))?;
            }
            "max_packet_size" => {
                self.config.max_packet_size = Some(to_u32(ctx, ctx.int(t, 20, INT_MAX)?)?)
            }
            "max_queued_bytes" => {
                self.config.max_queued_bytes = to_usize(ctx, ctx.int(t, 0, INT_MAX)?)?
            }
            "max_queued_messages" => {
                self.config.max_queued_messages = to_usize(ctx, ctx.int(t, 0, INT_MAX)?)?
            }
            "message_size_limit" => {
                self.warnings.push(
                    ctx.warning(
                        WarningKind::Notice,
                        "It is recommended to replace `message_size_limit` with `max_packet_size`"
                            .to_owned(),
                    ),
                );
                let value = to_u32(ctx, ctx.int(t, 0, MAX_PAYLOAD)?)?;
                self.config.message_size_limit = Some(value).filter(|v| *v > 0);
            }
            "persistence" | "retained_persistence" => {
                self.config.persistence.enabled = ctx.bool(t)?
            }
            "persistence_file" => {
                self.persistence_file = Some(ctx.string(t, self.persistence_file.is_some())?)
            }
            "persistence_location" => {
                let set = self.config.persistence.location.is_some();
                self.config.persistence.location = Some(PathBuf::from(ctx.string(t, set)?));
            }
            "persistence_sync" => {
                self.config.persistence.sync = match ctx.word(t)? {
                    "ack" => PersistenceSync::Ack,
                    "periodic" => PersistenceSync::Periodic,
                    other => return Err(ctx.invalid_value(other)),
                }
            }
            "persistent_client_expiration" => {
                let word = ctx.word(t)?;
                self.config.persistent_client_expiration = Some(parse_expiration(ctx, word)?);
            }
            "pid_file" => {
                let set = self.config.pid_file.is_some();
                self.config.pid_file = Some(PathBuf::from(ctx.string(t, set)?));
            }
            "queue_qos0_messages" => self.config.queue_qos0_messages = ctx.bool(t)?,
            "retain_available" => self.config.retain_available = ctx.bool(t)?,
            "set_tcp_nodelay" => self.config.set_tcp_nodelay = ctx.bool(t)?,
            "sys_interval" => self.config.sys_interval = to_u32(ctx, ctx.int(t, 0, 65535)?)?,
            "upgrade_outgoing_qos" => self.config.upgrade_outgoing_qos = ctx.bool(t)?,
            "user" => self.user = Some(ctx.string(t, self.user.is_some())?),
            "worker_threads" => self.config.worker_threads = to_usize(ctx, ctx.int(t, 0, 1024)?)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// `listener <port> [<address>|<unix socket path>]`.
    fn listener(
        &mut self,
        state: &mut FileState,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
    ) -> Result<(), ConfigError> {
        let word = ctx.word(t)?;
        let port: i64 = word
            .parse()
            .map_err(|_| ctx.invalid(format!("Invalid port value ({word})")))?;
        let port =
            u16::try_from(port).map_err(|_| ctx.invalid(format!("Invalid port value ({port})")))?;
        let address = t.next_word().filter(|a| !a.starts_with('#'));
        let mut listener = ListenerDraft::new(Some(ctx.origin()));
        listener.port = port;
        match (port, address) {
            (0, None) => {
                return Err(ctx
                    .invalid("A listener with port 0 must provide a Unix socket path".to_owned()))
            }
            (0, Some(path)) => listener.unix_socket = Some(PathBuf::from(path)),
            (_, address) => listener.bind_address = address.map(str::to_owned),
        }
        self.listeners.push(listener);
        state.current = Current::Listener(self.listeners.len().saturating_sub(1));
        Ok(())
    }

    /// `include_dir <dir>`: the `*.conf` files of `dir` (`*.toml` from a TOML file), in
    /// Mosquitto's order, only from the main file.
    fn include_dir(
        &mut self,
        state: &FileState,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
    ) -> Result<(), ConfigError> {
        // Mosquitto takes the rest of the line as it is, without trimming.
        let dir = PathBuf::from(t.rest().ok_or_else(|| ctx.empty())?);
        if state.level > 0 {
            self.warnings.push(ctx.warning(
                WarningKind::Ignored,
                "include_dir is only read in the main configuration file".to_owned(),
            ));
            return Ok(());
        }
        let files = list_include_dir(&dir, state.syntax.include_suffix()).map_err(|source| {
            ConfigError::IncludeDir {
                file: ctx.file.clone(),
                line: ctx.line,
                option: ctx.option.clone(),
                dir: dir.clone(),
                source,
            }
        })?;
        for file in files {
            let mut included = FileState::new(file, state.level + 1, state.syntax);
            self.read_file(&mut included)?;
        }
        Ok(())
    }

    /// `log_dest stdout|stderr|syslog|topic|dlt|none|file <path>`.
    fn log_dest(&mut self, ctx: &Ctx, t: &mut Tokens<'_>) -> Result<(), ConfigError> {
        let dest = match ctx.word(t)? {
            "none" => {
                self.log_dest = Some(vec![LogDest::None]);
                return Ok(());
            }
            "stdout" => LogDest::Stdout,
            "stderr" => LogDest::Stderr,
            "syslog" => LogDest::Syslog,
            "topic" => LogDest::Topic,
            "dlt" => LogDest::Dlt,
            "file" => {
                if self.log_file_set {
                    return Err(ctx.invalid("Duplicate \"log_dest file\" value".to_owned()));
                }
                let path = t
                    .rest()
                    .map(|p| p.trim_start_matches([' ', '\t']))
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        ctx.invalid("Empty \"log_dest file\" value in configuration".to_owned())
                    })?;
                self.log_file_set = true;
                LogDest::File(PathBuf::from(path))
            }
            other => return Err(ctx.invalid_value(other)),
        };
        let dests = self.log_dest.get_or_insert_with(Vec::new);
        if dests.as_slice() == [LogDest::None] {
            dests.clear();
        }
        if !dests.contains(&dest) {
            dests.push(dest);
        }
        Ok(())
    }

    /// An option Mosquitto knows that we do not implement: checked for its place, then ignored
    /// with a warning.
    fn unsupported(
        &mut self,
        state: &mut FileState,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
        kind: Unsupported,
    ) -> Result<(), ConfigError> {
        let value = t
            .rest()
            .map(|v| v.trim_matches(is_c_space))
            .unwrap_or_default();
        if value.is_empty() {
            return Err(ctx.empty());
        }
        let reason = match kind {
            Unsupported::Global(reason) => reason,
            Unsupported::Listener { reason, triggers } => {
                let listener = self.listener_mut(state, ctx);
                listener.unsupported_trigger |= triggers;
                reason
            }
            Unsupported::Security(reason) => {
                self.security_mut(state, ctx).unsupported_trigger = true;
                reason
            }
            Unsupported::Plugin => {
                self.security_mut(state, ctx).unsupported_trigger = true;
                state.has_plugin = true;
                "plugins are not supported"
            }
            Unsupported::PluginOption => {
                if !state.has_plugin {
                    return Err(ctx.misplaced(format!(
                        "{} must follow an auth_plugin or plugin line",
                        ctx.option
                    )));
                }
                "plugins are not supported"
            }
            Unsupported::Bridge => {
                if state.bridge.is_none() {
                    return Err(bridge_misplaced(ctx));
                }
                "not supported yet"
            }
        };
        self.warnings.push(ctx.warning(
            WarningKind::Unsupported,
            format!("Unsupported option \"{}\" ignored ({reason})", ctx.option),
        ));
        Ok(())
    }

    fn deprecated(&mut self, ctx: &Ctx, message: &str) {
        self.warnings
            .push(ctx.warning(WarningKind::Deprecated, message.to_owned()));
    }

    fn touch_default(&mut self, ctx: &Ctx) {
        if self.default_at.is_none() {
            self.default_at = Some(ctx.origin());
        }
    }

    /// The listener the options of this file currently apply to.
    fn listener_mut(&mut self, state: &FileState, ctx: &Ctx) -> &mut ListenerDraft {
        if let Current::Listener(index) = state.current {
            if let Some(listener) = self.listeners.get_mut(index) {
                return listener;
            }
        }
        if self.default_at.is_none() {
            self.default_at = Some(ctx.origin());
        }
        &mut self.default_listener
    }

    /// Where a security option goes (`conf__set_cur_security_options`).
    fn security_mut(&mut self, state: &FileState, ctx: &Ctx) -> &mut SecurityDraft {
        self.security_touched = true;
        if self.per_listener_settings {
            &mut self.listener_mut(state, ctx).security
        } else {
            &mut self.global_security
        }
    }

    /// The finished configuration.
    pub(super) fn finish(mut self) -> Result<Loaded, ConfigError> {
        let mut warnings = core::mem::take(&mut self.warnings);
        let mut bridges: Vec<crate::bridge::Bridge> = Vec::with_capacity(self.bridges.len());
        if !self.bridges.is_empty() {
            let hostname = bridge::hostname();
            for draft in core::mem::take(&mut self.bridges) {
                let at = draft.at.clone();
                let bridge = draft.build(&hostname, &mut warnings)?;
                // Two bridges with one local client identifier would take the local session
                // from each other for ever (each attach closes the other's).
                let clash = bridges
                    .iter()
                    .find(|b| b.local_clientid == bridge.local_clientid);
                if let Some(other) = clash {
                    return Err(at.invalid(format!(
                        "Invalid bridge configuration: bridges \"{}\" and \"{}\" have the same local client identifier \"{}\" (set local_clientid or remote_clientid)",
                        other.name, bridge.name, bridge.local_clientid
                    )));
                }
                bridges.push(bridge);
            }
        }
        let mut drafts = core::mem::take(&mut self.listeners);
        let mut default = core::mem::replace(&mut self.default_listener, ListenerDraft::new(None));
        default.origin = self.default_at.clone();
        if let Some(port) = self.default_port {
            default.port = port;
        }

        // Mosquitto appends the default listener when `port`, `bind_address` or a listener
        // option was given before the first `listener` line.
        if self.default_port.is_some() || default.is_configured() {
            if self.default_port.is_none() && default.bind_address.is_none() {
                if let Some(at) = &self.default_at {
                    warnings.push(at.warning(
                        WarningKind::Notice,
                        format!(
                            "listener options before the first listener line (from \"{}\" on) create a default listener on port {DEFAULT_PORT} on all interfaces (as Mosquitto does)",
                            at.option
                        ),
                    ));
                }
            }
            drafts.push(default.clone());
        }

        let local_only = drafts.is_empty();
        let mut listeners = Vec::with_capacity(drafts.len().max(2));
        for draft in drafts {
            let security = if self.per_listener_settings {
                draft.security.effective(false)
            } else {
                self.global_security.effective(false)
            };
            listeners.push(draft.build(security, &mut warnings)?);
        }
        if local_only {
            // No listener: loopback only, anonymous allowed unless the file says otherwise.
            let draft = if self.per_listener_settings {
                &default.security
            } else {
                &self.global_security
            };
            if let (Some(false), Some(at)) = (draft.allow_anonymous, &draft.allow_anonymous_at) {
                warnings.push(at.warning(
                    WarningKind::Notice,
                    "allow_anonymous false also applies to the local-only listeners (Mosquitto 2.0 ignores it when no listener is defined)".to_owned(),
                ));
            }
            let security = draft.effective(true);
            let template = default.build(security.clone(), &mut warnings)?;
            listeners = loopback_listeners(DEFAULT_PORT, &template, &security);
        }

        let config = Config {
            listeners,
            bridges,
            local_only,
            per_listener_settings: self.per_listener_settings,
            security: self.global_security.as_written(),
            log: Log {
                dest: self.log_dest.unwrap_or_else(|| Log::default().dest),
                types: self.log_types.unwrap_or_default(),
                ..self.config.log
            },
            user: self.user.unwrap_or(self.config.user),
            persistence: Persistence {
                file: self
                    .persistence_file
                    .unwrap_or(self.config.persistence.file),
                ..self.config.persistence
            },
            ..self.config
        };
        Ok(Loaded { config, warnings })
    }
}

/// A bridge option outside a `connection` block.
fn bridge_misplaced(ctx: &Ctx) -> ConfigError {
    ctx.misplaced(format!(
        "Invalid bridge configuration: {} must follow a connection line",
        ctx.option
    ))
}

fn to_u32(ctx: &Ctx, value: i64) -> Result<u32, ConfigError> {
    u32::try_from(value).map_err(|_| ctx.invalid_value(value))
}

fn to_usize(ctx: &Ctx, value: i64) -> Result<usize, ConfigError> {
    usize::try_from(value).map_err(|_| ctx.invalid_value(value))
}

/// `<n>h|d|w|m|y` (months are 30 days, years 365), as Mosquitto reads it.
fn parse_expiration(ctx: &Ctx, word: &str) -> Result<Duration, ConfigError> {
    let invalid =
        || ctx.invalid("Invalid persistent_client_expiration duration in configuration".to_owned());
    let mut chars = word.chars();
    let unit = chars.next_back().ok_or_else(invalid)?;
    let seconds_per_unit: u64 = match unit {
        'h' => 3600,
        'd' => 86_400,
        'w' => 86_400 * 7,
        'm' => 86_400 * 30,
        'y' => 86_400 * 365,
        _ => return Err(invalid()),
    };
    let count: u64 = chars.as_str().parse().map_err(|_| invalid())?;
    let seconds = count.checked_mul(seconds_per_unit).ok_or_else(invalid)?;
    if seconds == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(seconds))
}

/// The 1-based line of byte `offset`.
pub(super) fn line_of_offset(bytes: &[u8], offset: usize) -> usize {
    bytes.iter().take(offset).filter(|b| **b == b'\n').count() + 1
}

/// Reads a whole configuration file.
fn read_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    if path.is_dir() {
        return Err(ConfigError::IsDirectory {
            file: path.to_path_buf(),
        });
    }
    fs::read(path).map_err(|source| ConfigError::Read {
        file: path.to_path_buf(),
        source,
    })
}

/// The files of `dir` whose name ends in `suffix` (and is longer than it), sorted as Mosquitto
/// sorts them. Hidden files count; sub-directories named `*.conf` are listed too (reading them
/// fails, as in Mosquitto).
fn list_include_dir(dir: &Path, suffix: &str) -> io::Result<Vec<PathBuf>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let bytes = name.as_encoded_bytes();
        if bytes.len() > suffix.len() && bytes.ends_with(suffix.as_bytes()) {
            names.push(name);
        }
    }
    names.sort_by(|a, b| mosquitto_order(a.as_encoded_bytes(), b.as_encoded_bytes()));
    Ok(names.into_iter().map(|name| dir.join(name)).collect())
}

/// Mosquitto's `include_dir` order: byte by byte, first ignoring case (by upper case, so `_`
/// sorts after letters), then upper case before lower case; a prefix sorts first. Bytes are
/// signed, as C's `char` is on x86.
pub(super) fn mosquitto_order(a: &[u8], b: &[u8]) -> Ordering {
    fn signed(byte: u8) -> i16 {
        i16::from(byte as i8)
    }
    fn upper(c: i16) -> i16 {
        if (i16::from(b'a')..=i16::from(b'z')).contains(&c) {
            c - 32
        } else {
            c
        }
    }
    let mut a = a.iter().copied().map(signed);
    let mut b = b.iter().copied().map(signed);
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) => {
                let order = upper(x).cmp(&upper(y)).then(x.cmp(&y));
                if order != Ordering::Equal {
                    return order;
                }
            }
            (x, y) => return x.unwrap_or(0).cmp(&y.unwrap_or(0)),
        }
    }
}
