//! The options of a bridge (`connection` block), read as Mosquitto 2.0 reads them
//! (`src/conf.c`), into a [`Bridge`].

use std::path::PathBuf;
use std::time::Duration;

use mqtt_codec::{ProtocolVersion, QoS, TopicFilter, TopicName};

use super::error::{ConfigError, ConfigWarning, WarningKind};
use super::mosquitto::{Ctx, Tokens};
use super::types::TlsVersion;
use crate::bridge::{
    Bridge, BridgeAddress, BridgeTls, BridgeTopic, Direction, RestartTimeout, StartType,
};

/// The bridge options we implement (`connection` starts a block and is handled by the parser).
pub(super) const SUPPORTED: &[&str] = &[
    "address",
    "addresses",
    "bridge_alpn",
    "bridge_bind_address",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_insecure",
    "bridge_keyfile",
    "bridge_outgoing_retain",
    "bridge_protocol_version",
    "bridge_tls_version",
    "cleansession",
    "clientid",
    "keepalive_interval",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "notification_topic",
    "notifications",
    "notifications_local_only",
    "password",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "restart_timeout",
    "round_robin",
    "start_type",
    "topic",
    "try_private",
    "username",
];

/// Bridge options Mosquitto knows that we accept with a warning, without effect.
pub(super) const UNSUPPORTED: &[&str] = &[
    "bridge_attempt_unsubscribe",
    "bridge_identity",
    "bridge_max_packet_size",
    "bridge_psk",
    "bridge_require_ocsp",
    "idle_timeout",
    "threshold",
];

/// A bridge while it is being read.
#[derive(Debug)]
pub(super) struct BridgeDraft {
    /// The `connection` line.
    pub(super) at: Ctx,
    pub(super) name: String,
    addresses: Vec<BridgeAddress>,
    round_robin: bool,
    topics: Vec<BridgeTopic>,
    protocol: ProtocolVersion,
    clean_session: bool,
    local_clean_session: Option<bool>,
    remote_clientid: Option<String>,
    local_clientid: Option<String>,
    remote_username: Option<String>,
    remote_password: Option<String>,
    local_username: Option<String>,
    local_password: Option<String>,
    keepalive: u16,
    restart_timeout: RestartTimeout,
    start_type: StartType,
    try_private: bool,
    notifications: bool,
    notification_topic: Option<String>,
    notifications_local_only: bool,
    tls: BridgeTls,
    /// The first `bridge_certfile` / `bridge_keyfile` line, for the error when one lacks the
    /// other.
    cert_at: Option<Ctx>,
    /// The first TLS option line, for the warning when TLS is not enabled.
    tls_at: Option<Ctx>,
    bind_address: Option<String>,
    outgoing_retain: bool,
}

impl BridgeDraft {
    /// A bridge with Mosquitto's defaults.
    pub(super) fn new(at: Ctx, name: String) -> BridgeDraft {
        BridgeDraft {
            at,
            name,
            addresses: Vec::new(),
            round_robin: false,
            topics: Vec::new(),
            protocol: ProtocolVersion::V3_1_1,
            clean_session: false,
            local_clean_session: None,
            remote_clientid: None,
            local_clientid: None,
            remote_username: None,
            remote_password: None,
            local_username: None,
            local_password: None,
            keepalive: 60,
            restart_timeout: RestartTimeout::default(),
            start_type: StartType::Automatic,
            try_private: true,
            notifications: true,
            notification_topic: None,
            notifications_local_only: false,
            tls: BridgeTls::default(),
            cert_at: None,
            tls_at: None,
            bind_address: None,
            outgoing_retain: true,
        }
    }

    /// Applies one bridge option line (one of [`SUPPORTED`]).
    pub(super) fn apply(
        &mut self,
        ctx: &Ctx,
        t: &mut Tokens<'_>,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<(), ConfigError> {
        match ctx.option.as_str() {
            "address" | "addresses" => {
                if !self.addresses.is_empty() {
                    return Err(ctx.misplaced(format!(
                        "Invalid bridge configuration: bridge \"{}\" already has addresses",
                        self.name
                    )));
                }
                while let Some(word) = t.next_word() {
                    if word.starts_with('#') {
                        break;
                    }
                    self.addresses.push(parse_address(ctx, word)?);
                }
                if self.addresses.is_empty() {
                    return Err(ctx.empty());
                }
            }
            "round_robin" => self.round_robin = ctx.bool(t)?,
            "topic" => self.topics.push(parse_topic(ctx, t)?),
            "bridge_protocol_version" => {
                self.protocol = match ctx.word(t)? {
                    "mqttv50" => ProtocolVersion::V5,
                    "mqttv311" => ProtocolVersion::V3_1_1,
                    "mqttv31" => ProtocolVersion::V3_1,
                    other => {
                        return Err(ctx.invalid(format!(
                            "Invalid bridge_protocol_version value ({other}), must be mqttv50, mqttv311 or mqttv31"
                        )))
                    }
                }
            }
            "cleansession" => self.clean_session = ctx.bool(t)?,
            "local_cleansession" => self.local_clean_session = Some(ctx.bool(t)?),
            "remote_clientid" | "clientid" => {
                let id = ctx.string(t, self.remote_clientid.is_some())?;
                self.remote_clientid = Some(id);
            }
            "local_clientid" => {
                let id = ctx.string(t, self.local_clientid.is_some())?;
                self.local_clientid = Some(id);
            }
            "remote_username" | "username" => {
                let v = ctx.string(t, self.remote_username.is_some())?;
                self.remote_username = Some(v);
            }
            "remote_password" | "password" => {
                let v = ctx.string(t, self.remote_password.is_some())?;
                self.remote_password = Some(v);
            }
            "local_username" => {
                let v = ctx.string(t, self.local_username.is_some())?;
                self.local_username = Some(v);
            }
            "local_password" => {
                let v = ctx.string(t, self.local_password.is_some())?;
                self.local_password = Some(v);
            }
            "keepalive_interval" => {
                let secs = ctx.int(t, 0, i64::from(u16::MAX))?;
                self.keepalive = u16::try_from(secs).map_err(|_| ctx.invalid_value(secs))?;
            }
            "restart_timeout" => {
                let base = secs(ctx, t)?;
                self.restart_timeout = match t.next_word().filter(|w| !w.starts_with('#')) {
                    None => RestartTimeout::Constant(base),
                    Some(word) => {
                        let cap = parse_secs(ctx, word)?;
                        if cap < base {
                            return Err(ctx.invalid(
                                "Invalid restart_timeout value: the cap is below the base"
                                    .to_owned(),
                            ));
                        }
                        RestartTimeout::Backoff { base, cap }
                    }
                };
            }
            "start_type" => {
                self.start_type = match ctx.word(t)? {
                    "automatic" => StartType::Automatic,
                    "once" => StartType::Once,
                    "lazy" => {
                        warnings.push(ctx.warning(
                            WarningKind::Unsupported,
                            "start_type lazy is not supported; the bridge starts automatically"
                                .to_owned(),
                        ));
                        StartType::Lazy
                    }
                    other => {
                        return Err(ctx.invalid(format!(
                            "Invalid start_type value ({other}), must be automatic, lazy or once"
                        )))
                    }
                }
            }
            "try_private" => self.try_private = ctx.bool(t)?,
            "notifications" => self.notifications = ctx.bool(t)?,
            "notifications_local_only" => self.notifications_local_only = ctx.bool(t)?,
            "notification_topic" => {
                let topic = ctx.string(t, self.notification_topic.is_some())?;
                if TopicName::new(topic.as_str()).is_err() {
                    return Err(ctx.invalid(format!(
                        "Invalid notification_topic value ({topic}): not a valid topic name"
                    )));
                }
                self.notification_topic = Some(topic);
            }
            "bridge_cafile" => {
                self.record_tls(ctx);
                let set = self.tls.cafile.is_some();
                self.tls.cafile = Some(PathBuf::from(ctx.string(t, set)?));
            }
            "bridge_capath" => {
                self.record_tls(ctx);
                let set = self.tls.capath.is_some();
                self.tls.capath = Some(PathBuf::from(ctx.string(t, set)?));
            }
            "bridge_certfile" => {
                self.record_cert(ctx);
                let set = self.tls.certfile.is_some();
                self.tls.certfile = Some(PathBuf::from(ctx.string(t, set)?));
            }
            "bridge_keyfile" => {
                self.record_cert(ctx);
                let set = self.tls.keyfile.is_some();
                self.tls.keyfile = Some(PathBuf::from(ctx.string(t, set)?));
            }
            "bridge_insecure" => {
                self.record_tls(ctx);
                self.tls.insecure = ctx.bool(t)?;
            }
            "bridge_tls_version" => {
                self.record_tls(ctx);
                self.tls.version = Some(match ctx.word(t)? {
                    "tlsv1.3" => TlsVersion::Tls1_3,
                    "tlsv1.2" => TlsVersion::Tls1_2,
                    other => {
                        return Err(ctx.invalid(format!(
                            "Invalid bridge_tls_version value ({other}), must be tlsv1.3 or tlsv1.2 (TLS 1.1 is not supported)"
                        )))
                    }
                });
            }
            "bridge_alpn" => {
                self.record_tls(ctx);
                let set = self.tls.alpn.is_some();
                self.tls.alpn = Some(ctx.string(t, set)?);
            }
            "bridge_bind_address" => {
                let set = self.bind_address.is_some();
                self.bind_address = Some(ctx.string(t, set)?);
            }
            "bridge_outgoing_retain" => self.outgoing_retain = ctx.bool(t)?,
            // Only names from SUPPORTED reach here.
            _ => return Err(ctx.invalid_value(&ctx.option)),
        }
        Ok(())
    }

    fn record_tls(&mut self, ctx: &Ctx) {
        if self.tls_at.is_none() {
            self.tls_at = Some(ctx.clone());
        }
    }

    fn record_cert(&mut self, ctx: &Ctx) {
        self.record_tls(ctx);
        if self.cert_at.is_none() {
            self.cert_at = Some(ctx.clone());
        }
    }

    /// The finished bridge; `hostname` makes the default remote client identifier.
    pub(super) fn build(
        self,
        hostname: &str,
        warnings: &mut Vec<ConfigWarning>,
    ) -> Result<Bridge, ConfigError> {
        // Mosquitto: "Invalid bridge configuration: no remote addresses defined." /
        // "no topics defined."
        let missing = match (self.addresses.is_empty(), self.topics.is_empty()) {
            (true, _) => Some("no remote addresses defined"),
            (false, true) => Some("no topics defined"),
            (false, false) => None,
        };
        if let Some(missing) = missing {
            return Err(self.at.invalid(format!(
                "Invalid bridge configuration: {missing} for bridge \"{}\"",
                self.name
            )));
        }
        let tls_enabled = self.tls.cafile.is_some() || self.tls.capath.is_some();
        if self.tls.certfile.is_some() != self.tls.keyfile.is_some() {
            let at = self.cert_at.as_ref().unwrap_or(&self.at);
            return Err(at.invalid(format!(
                "Invalid bridge configuration: bridge \"{}\" needs both bridge_certfile and bridge_keyfile",
                self.name
            )));
        }
        if let (false, Some(at)) = (tls_enabled, &self.tls_at) {
            warnings.push(at.warning(
                WarningKind::Ignored,
                format!(
                    "TLS option \"{}\" has no effect on a bridge without bridge_cafile or bridge_capath",
                    at.option
                ),
            ));
        }
        let remote_clientid = self
            .remote_clientid
            .unwrap_or_else(|| format!("{hostname}.{}", self.name));
        let local_clientid = self
            .local_clientid
            .unwrap_or_else(|| format!("local.{remote_clientid}"));
        let notification_topic = self
            .notification_topic
            .unwrap_or_else(|| format!("$SYS/broker/connection/{remote_clientid}/state"));
        if TopicName::new(notification_topic.as_str()).is_err() {
            return Err(self.at.invalid(format!(
                "Invalid bridge configuration: the notification topic of bridge \"{}\" ({notification_topic}) is not a valid topic name",
                self.name
            )));
        }
        Ok(Bridge {
            name: self.name,
            addresses: self.addresses,
            round_robin: self.round_robin,
            topics: self.topics,
            protocol: self.protocol,
            clean_session: self.clean_session,
            local_clean_session: self.local_clean_session.unwrap_or(self.clean_session),
            remote_clientid,
            local_clientid,
            remote_username: self.remote_username,
            remote_password: self.remote_password,
            local_username: self.local_username,
            local_password: self.local_password,
            keepalive: self.keepalive,
            restart_timeout: self.restart_timeout,
            start_type: self.start_type,
            try_private: self.try_private,
            notifications: self.notifications,
            notification_topic,
            notifications_local_only: self.notifications_local_only,
            tls: tls_enabled.then_some(self.tls),
            bind_address: self.bind_address,
            outgoing_retain: self.outgoing_retain,
        })
    }
}

/// `host[:port]`; an IPv6 address needs its port (`::1:1883`), as in Mosquitto, or brackets
/// (`[::1]:1883`).
fn parse_address(ctx: &Ctx, word: &str) -> Result<BridgeAddress, ConfigError> {
    let invalid = || ctx.invalid(format!("Invalid bridge address ({word})"));
    let (host, port) = if let Some(rest) = word.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(invalid()),
        }
    } else {
        match word.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (word, None),
        }
    };
    if host.is_empty() {
        return Err(invalid());
    }
    let port = match port {
        None => crate::config::DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => {
                return Err(ctx.invalid(format!(
                    "Invalid bridge address ({word}): the port must be between 1 and 65535"
                )))
            }
        },
    };
    Ok(BridgeAddress {
        host: host.to_owned(),
        port,
    })
}

/// `topic pattern [[[out|in|both] qos] local-prefix remote-prefix]`.
fn parse_topic(ctx: &Ctx, t: &mut Tokens<'_>) -> Result<BridgeTopic, ConfigError> {
    let unquote = |w: &str| {
        if w == "\"\"" {
            String::new()
        } else {
            w.to_owned()
        }
    };
    let pattern = unquote(ctx.word(t)?);
    let mut words = Vec::new();
    while let Some(word) = t.next_word() {
        if word.starts_with('#') {
            break;
        }
        words.push(word);
    }
    let mut words = words.into_iter();
    let direction = match words.next() {
        None => Direction::Out,
        Some(w) if w.eq_ignore_ascii_case("out") => Direction::Out,
        Some(w) if w.eq_ignore_ascii_case("in") => Direction::In,
        Some(w) if w.eq_ignore_ascii_case("both") => Direction::Both,
        Some(w) => {
            return Err(ctx.invalid(format!(
                "Invalid bridge topic direction '{w}', must be out, in or both"
            )))
        }
    };
    let qos = match words.next() {
        None => QoS::AtMostOnce,
        Some(w) => match w.parse::<u8>().ok().and_then(|q| QoS::try_from(q).ok()) {
            Some(q) => q,
            None => {
                return Err(
                    ctx.invalid(format!("Invalid bridge QoS level '{w}', must be 0, 1 or 2"))
                )
            }
        },
    };
    let (local_prefix, remote_prefix) = match (words.next(), words.next()) {
        (None, _) => (String::new(), String::new()),
        (Some(_), None) => return Err(ctx.invalid(
            "Invalid bridge topic: a local prefix needs a remote prefix after it (\"\" for none)"
                .to_owned(),
        )),
        (Some(local), Some(remote)) => (unquote(local), unquote(remote)),
    };
    if let Some(extra) = words.next() {
        return Err(ctx.invalid(format!("Invalid bridge topic: unexpected '{extra}'")));
    }
    for (side, prefix) in [("local", &local_prefix), ("remote", &remote_prefix)] {
        if prefix.contains(['+', '#'])
            || (!prefix.is_empty() && TopicName::new(prefix.as_str()).is_err())
        {
            return Err(ctx.invalid(format!("Invalid bridge topic {side} prefix '{prefix}'")));
        }
    }
    if pattern.is_empty() && (local_prefix.is_empty() || remote_prefix.is_empty()) {
        return Err(ctx.invalid(
            "Invalid bridge topic: an empty pattern (\"\") needs a local and a remote prefix"
                .to_owned(),
        ));
    }
    let topic = BridgeTopic {
        pattern,
        direction,
        qos,
        local_prefix,
        remote_prefix,
    };
    for filter in [topic.local_filter(), topic.remote_filter()] {
        if TopicFilter::new(filter.as_str()).is_err() {
            return Err(ctx.invalid(format!(
                "Invalid bridge topic '{filter}': not a valid topic filter"
            )));
        }
    }
    Ok(topic)
}

fn secs(ctx: &Ctx, t: &mut Tokens<'_>) -> Result<Duration, ConfigError> {
    parse_secs(ctx, ctx.word(t)?)
}

fn parse_secs(ctx: &Ctx, word: &str) -> Result<Duration, ConfigError> {
    match word.parse::<u32>() {
        Ok(s) if s >= 1 => Ok(Duration::from_secs(u64::from(s))),
        _ => Err(ctx.invalid(format!(
            "Invalid {} value ({word}), must be a number of seconds of at least 1",
            ctx.option
        ))),
    }
}

/// This machine's host name, for default bridge client identifiers (`localhost` when unknown).
pub(super) fn hostname() -> String {
    #[cfg(unix)]
    {
        if let Ok(name) = nix::unistd::gethostname() {
            if let Some(name) = name.to_str().filter(|n| !n.is_empty()) {
                return name.to_owned();
            }
        }
    }
    "localhost".to_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, ConfigError};

    fn bridge(text: &str) -> Bridge {
        let loaded =
            Config::parse_mosquitto(text, Path::new("b.conf")).unwrap_or_else(|e| panic!("{e}"));
        loaded
            .config
            .bridges
            .into_iter()
            .next()
            .expect("one bridge")
    }

    fn error(text: &str) -> ConfigError {
        match Config::parse_mosquitto(text, Path::new("b.conf")) {
            Ok(l) => panic!("expected an error, got {:?}", l.config.bridges),
            Err(e) => e,
        }
    }

    #[test]
    fn defaults_are_mosquittos() {
        let b = bridge("connection br\naddress broker.example\ntopic a/#\n");
        assert_eq!(
            b.addresses,
            [BridgeAddress {
                host: "broker.example".into(),
                port: 1883
            }]
        );
        let t = &b.topics[0];
        assert_eq!((t.direction, t.qos), (Direction::Out, QoS::AtMostOnce));
        assert_eq!(
            (t.local_filter(), t.remote_filter()),
            ("a/#".into(), "a/#".into())
        );
        assert_eq!(b.protocol, ProtocolVersion::V3_1_1);
        assert!(!b.clean_session && !b.local_clean_session);
        let host = hostname();
        assert_eq!(b.remote_clientid, format!("{host}.br"));
        assert_eq!(b.local_clientid, format!("local.{host}.br"));
        assert_eq!(
            b.notification_topic,
            format!("$SYS/broker/connection/{host}.br/state")
        );
        assert_eq!(b.keepalive, 60);
        assert_eq!(b.restart_timeout, RestartTimeout::default());
        assert_eq!(b.start_type, StartType::Automatic);
        assert!(b.try_private && b.notifications && !b.notifications_local_only);
        assert!(!b.round_robin && b.outgoing_retain);
        assert_eq!(b.tls, None);
    }

    #[test]
    fn every_option_is_read() {
        let b = bridge(
            "connection br\naddresses h1:1884 [::1]:1885 10.0.0.1\nround_robin true\n\
             topic a/# both 2 loc/ rem/\ntopic \"\" in 1 local/status remote/status\n\
             bridge_protocol_version mqttv50\ncleansession true\nlocal_cleansession false\n\
             remote_clientid r1\nlocal_clientid l1\nremote_username ru\nremote_password rp\n\
             local_username lu\nlocal_password lp\nkeepalive_interval 30\n\
             restart_timeout 2 20\nstart_type once\ntry_private false\nnotifications false\n\
             notification_topic n/state\nnotifications_local_only true\nbridge_cafile /ca.pem\n\
             bridge_capath /certs\nbridge_certfile /c.pem\nbridge_keyfile /k.pem\n\
             bridge_insecure true\nbridge_tls_version tlsv1.3\nbridge_alpn mqtt\n\
             bridge_bind_address 127.0.0.2\nbridge_outgoing_retain false\n",
        );
        let ports: Vec<(&str, u16)> = b
            .addresses
            .iter()
            .map(|a| (a.host.as_str(), a.port))
            .collect();
        assert_eq!(ports, [("h1", 1884), ("::1", 1885), ("10.0.0.1", 1883)]);
        assert!(b.round_robin);
        assert_eq!(b.topics[0].direction, Direction::Both);
        assert_eq!(b.topics[0].qos, QoS::ExactlyOnce);
        assert_eq!(b.topics[0].local_filter(), "loc/a/#");
        assert_eq!(b.topics[0].remote_filter(), "rem/a/#");
        assert_eq!(b.topics[1].pattern, "");
        assert_eq!(b.topics[1].local_filter(), "local/status");
        assert_eq!(b.protocol, ProtocolVersion::V5);
        assert!(b.clean_session && !b.local_clean_session);
        assert_eq!(
            (b.remote_clientid.as_str(), b.local_clientid.as_str()),
            ("r1", "l1")
        );
        assert_eq!(b.remote_username.as_deref(), Some("ru"));
        assert_eq!(b.remote_password.as_deref(), Some("rp"));
        assert_eq!(b.local_username.as_deref(), Some("lu"));
        assert_eq!(b.local_password.as_deref(), Some("lp"));
        assert_eq!(b.keepalive, 30);
        assert_eq!(
            b.restart_timeout,
            RestartTimeout::Backoff {
                base: Duration::from_secs(2),
                cap: Duration::from_secs(20)
            }
        );
        assert_eq!(b.start_type, StartType::Once);
        assert!(!b.try_private && !b.notifications && b.notifications_local_only);
        assert_eq!(b.notification_topic, "n/state");
        let tls = b.tls.expect("TLS");
        assert_eq!(tls.cafile.as_deref(), Some(Path::new("/ca.pem")));
        assert_eq!(tls.capath.as_deref(), Some(Path::new("/certs")));
        assert_eq!(tls.certfile.as_deref(), Some(Path::new("/c.pem")));
        assert_eq!(tls.keyfile.as_deref(), Some(Path::new("/k.pem")));
        assert!(tls.insecure);
        assert_eq!(tls.version, Some(TlsVersion::Tls1_3));
        assert_eq!(tls.alpn.as_deref(), Some("mqtt"));
        assert_eq!(b.bind_address.as_deref(), Some("127.0.0.2"));
        assert!(!b.outgoing_retain);
        // Deprecated names, and one restart_timeout value: a constant delay.
        let b = bridge(
            "connection br\naddress h\ntopic x\nclientid c\nusername u\npassword p\n\
             restart_timeout 3\n",
        );
        assert_eq!(b.remote_clientid, "c");
        assert_eq!(b.remote_username.as_deref(), Some("u"));
        assert_eq!(b.remote_password.as_deref(), Some("p"));
        assert_eq!(
            b.restart_timeout,
            RestartTimeout::Constant(Duration::from_secs(3))
        );
    }

    #[test]
    fn invalid_values_name_file_line_and_option() {
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "connection b\naddress h:0\ntopic x\n",
                2,
                "address",
                "Invalid bridge address (h:0)",
            ),
            (
                "connection b\naddress h:x\ntopic x\n",
                2,
                "address",
                "Invalid bridge address (h:x)",
            ),
            (
                "connection b\naddress h\ntopic x sideways\n",
                3,
                "topic",
                "Invalid bridge topic direction 'sideways'",
            ),
            (
                "connection b\naddress h\ntopic x in 3\n",
                3,
                "topic",
                "Invalid bridge QoS level '3'",
            ),
            (
                "connection b\naddress h\ntopic x in 1 loc/\n",
                3,
                "topic",
                "a local prefix needs a remote prefix",
            ),
            (
                "connection b\naddress h\ntopic x in 1 lo+c/ r/\n",
                3,
                "topic",
                "Invalid bridge topic local prefix 'lo+c/'",
            ),
            (
                "connection b\naddress h\ntopic x in 1 l/ r#/\n",
                3,
                "topic",
                "Invalid bridge topic remote prefix 'r#/'",
            ),
            (
                "connection b\naddress h\ntopic \"\" in 1 l/ \"\"\n",
                3,
                "topic",
                "an empty pattern",
            ),
            (
                "connection b\naddress h\ntopic a/#/b\n",
                3,
                "topic",
                "Invalid bridge topic 'a/#/b'",
            ),
            (
                "connection b\naddress h\ntopic x in 1 l/ r/ extra\n",
                3,
                "topic",
                "unexpected 'extra'",
            ),
            (
                "connection b\naddress h\ntopic x\nbridge_protocol_version mqttv6\n",
                4,
                "bridge_protocol_version",
                "must be mqttv50",
            ),
            (
                "connection b\naddress h\ntopic x\nstart_type sometimes\n",
                4,
                "start_type",
                "must be automatic, lazy or once",
            ),
            (
                "connection b\naddress h\ntopic x\nrestart_timeout 0\n",
                4,
                "restart_timeout",
                "at least 1",
            ),
            (
                "connection b\naddress h\ntopic x\nrestart_timeout 10 5\n",
                4,
                "restart_timeout",
                "the cap is below the base",
            ),
            (
                "connection b\naddress h\ntopic x\nkeepalive_interval 70000\n",
                4,
                "keepalive_interval",
                "between 0 and 65535",
            ),
            (
                "connection b\naddress h\ntopic x\ncleansession maybe\n",
                4,
                "cleansession",
                "Invalid cleansession value (maybe)",
            ),
            (
                "connection b\naddress h\ntopic x\nbridge_tls_version tlsv1.1\n",
                4,
                "bridge_tls_version",
                "TLS 1.1 is not supported",
            ),
            (
                "connection b\naddress h\ntopic x\nnotification_topic a/+/b\n",
                4,
                "notification_topic",
                "not a valid topic name",
            ),
            (
                "connection b\naddress h\ntopic x\nbridge_cafile /ca\nbridge_certfile /c\n",
                5,
                "bridge_certfile",
                "needs both bridge_certfile and bridge_keyfile",
            ),
            (
                "connection b\naddress h\ntopic x\nremote_clientid a\nremote_clientid b\n",
                5,
                "remote_clientid",
                "Duplicate remote_clientid value",
            ),
        ];
        for (text, line, option, message) in cases {
            let e = error(text);
            assert_eq!(e.line(), Some(*line), "{text}: {e}");
            assert_eq!(e.option(), Some(*option), "{text}: {e}");
            assert_eq!(e.file(), Path::new("b.conf"));
            assert!(e.to_string().contains(message), "{text}: {e}");
            assert!(
                e.to_string().ends_with(&format!(" at b.conf:{line}.")),
                "{e}"
            );
        }
    }

    #[test]
    fn start_type_lazy_and_tls_options_without_a_ca_warn() {
        let loaded = Config::parse_mosquitto(
            "connection b\naddress h\ntopic x\nstart_type lazy\nbridge_insecure true\n",
            Path::new("b.conf"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let lines: Vec<(usize, &str)> = loaded
            .warnings
            .iter()
            .map(|w| (w.line, w.option.as_str()))
            .collect();
        assert_eq!(lines, [(4, "start_type"), (5, "bridge_insecure")]);
        assert_eq!(loaded.config.bridges[0].start_type, StartType::Lazy);
        assert_eq!(loaded.config.bridges[0].tls, None);
    }

    #[test]
    fn toml_connection_tables_mean_the_same_as_connection_blocks() {
        let conf = Config::parse_mosquitto(
            "listener 1883\nconnection a\naddress h:1884\ntopic x/# both 1 l/ r/\n\
             topic \"\" in 0 s/t u/v\nremote_clientid rc\nconnection b\naddress h2\ntopic y\n",
            Path::new("b.conf"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let toml = Config::parse_toml(
            "[[listener]]\nport = 1883\n\n[[connection]]\nname = \"a\"\naddress = \"h:1884\"\n\
             topic = [\"x/# both 1 l/ r/\", '\"\" in 0 s/t u/v']\nremote_clientid = \"rc\"\n\n\
             [[connection]]\nname = \"b\"\naddress = \"h2\"\ntopic = \"y\"\n",
            Path::new("b.toml"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(conf.config, toml.config);
        assert_eq!(toml.config.bridges.len(), 2);
        // Errors name the key's line; a non-bridge option in a [[connection]] table is refused.
        let e = Config::parse_toml(
            "[[connection]]\nname = \"a\"\naddress = \"h\"\ntopic = \"x in 7\"\n",
            Path::new("b.toml"),
        )
        .unwrap_err();
        assert_eq!((e.line(), e.option()), (Some(4), Some("topic")));
        let e = Config::parse_toml(
            "[[connection]]\nname = \"a\"\naddress = \"h\"\ntopic = \"x\"\nmax_qos = 1\n",
            Path::new("b.toml"),
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Misplaced { line: 5, .. }), "{e}");
        let e = Config::parse_toml("[[connection]]\naddress = \"h\"\n", Path::new("b.toml"))
            .unwrap_err();
        assert_eq!((e.line(), e.option()), (Some(1), Some("connection")));
    }

    #[test]
    fn bridges_are_not_reloaded() {
        let running = Config::parse_mosquitto(
            "listener 1883\nconnection a\naddress h\ntopic x\n",
            Path::new("b.conf"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
        let new = Config::parse_mosquitto(
            "listener 1883\nconnection a\naddress other\ntopic y\n",
            Path::new("b.conf"),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .config;
        let reloaded = running.reload(new).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reloaded.config.bridges, running.bridges);
        assert!(reloaded
            .not_applied
            .iter()
            .any(|l| l.contains("Bridges are not reloaded")));
    }
}
