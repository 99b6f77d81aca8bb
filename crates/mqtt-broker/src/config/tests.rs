//! Tests of the configuration module. Behaviour noted "Mosquitto:" was checked against
//! `mosquitto -c` 2.0.11.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mqtt_codec::QoS;

use super::mosquitto::{mosquitto_order, scope_of, Scope, SUPPORTED};
use super::*;

fn conf(text: &str) -> Loaded {
    Config::parse_mosquitto(text, Path::new("test.conf")).unwrap_or_else(|e| panic!("{e}"))
}

fn conf_err(text: &str) -> ConfigError {
    match Config::parse_mosquitto(text, Path::new("test.conf")) {
        Ok(loaded) => panic!("expected an error, got {loaded:?}"),
        Err(e) => e,
    }
}

fn toml(text: &str) -> Loaded {
    Config::parse_toml(text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn toml_err(text: &str) -> ConfigError {
    match Config::parse_toml(text, Path::new("test.toml")) {
        Ok(loaded) => panic!("expected an error, got {loaded:?}"),
        Err(e) => e,
    }
}

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-broker-config-{}-{tag}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn ports(config: &Config) -> Vec<u16> {
    config.listeners.iter().map(|l| l.port).collect()
}

fn warning_lines(loaded: &Loaded, kind: WarningKind) -> Vec<(usize, &str)> {
    loaded
        .warnings
        .iter()
        .filter(|w| w.kind == kind)
        .map(|w| (w.line, w.option.as_str()))
        .collect()
}

// ---------------------------------------------------------------- defaults

#[test]
fn defaults_are_mosquitto_2_0() {
    let c = Config::default();
    assert_eq!(c, Config::local_only(None));
    assert!(c.local_only);
    assert!(!c.per_listener_settings);
    assert!(c.check_retain_source);
    assert_eq!(c.max_packet_size, None);
    assert_eq!(c.message_size_limit, None);
    assert_eq!(c.max_inflight_messages, 20);
    assert_eq!(c.max_inflight_bytes, 0);
    assert_eq!(c.max_queued_messages, 1000);
    assert_eq!(c.max_queued_bytes, 0);
    assert!(!c.queue_qos0_messages);
    assert_eq!(c.max_keepalive, 65535);
    assert!(c.retain_available);
    assert_eq!(c.persistent_client_expiration, None);
    assert_eq!(c.sys_interval, 10);
    assert_eq!(c.worker_threads, 0);
    assert_eq!(c.log.dest, vec![LogDest::Stderr]);
    assert_eq!(
        c.log.types,
        LogTypes::ERROR | LogTypes::WARNING | LogTypes::NOTICE | LogTypes::INFORMATION
    );
    assert!(c.log.timestamp);
    assert_eq!(c.log.timestamp_format, None);
    assert!(c.connection_messages);
    // Unlike Mosquitto (docs/migrating-from-mosquitto.md).
    assert!(c.set_tcp_nodelay);
    assert!(!c.persistence.enabled);
    assert_eq!(c.persistence.location, None);
    assert_eq!(c.persistence.file, "mqtt-broker.db");
    assert_eq!(c.persistence.autosave_interval, 1800);
    assert!(!c.persistence.autosave_on_changes);
    assert_eq!(c.persistence.sync, PersistenceSync::Ack);
    assert_eq!(c.persistence.path(), PathBuf::from("mqtt-broker.db"));
    assert_eq!(c.pid_file, None);
    assert_eq!(c.user, "mosquitto");
    assert!(!c.upgrade_outgoing_qos);
    assert!(c.allow_duplicate_messages);
    assert_eq!(c.security, Security::default());
    assert_eq!(c.security.allow_anonymous, None);
    assert!(c.security.allow_zero_length_clientid);
    assert_eq!(c.security.auto_id_prefix, "auto-");
}

#[test]
fn no_file_means_loopback_listeners_with_anonymous_access() {
    let c = Config::local_only(None);
    let addresses: Vec<_> = c
        .listeners
        .iter()
        .map(|l| l.bind_address.as_deref())
        .collect();
    assert_eq!(addresses, [Some("127.0.0.1"), Some("::1")]);
    for l in &c.listeners {
        assert_eq!(l.port, 1883);
        assert_eq!(l.security.allow_anonymous, Some(true));
        assert_eq!(l.max_qos, QoS::ExactlyOnce);
        assert_eq!(l.max_topic_alias, 10);
        assert_eq!(l.max_connections, None);
        assert_eq!(l.tls, None);
        assert_eq!(l.protocol, ListenerProtocol::Mqtt);
    }
    assert_eq!(ports(&Config::local_only(Some(1999))), [1999, 1999]);
}

#[test]
fn empty_file_is_the_default() {
    let loaded = conf("");
    assert_eq!(loaded.config, Config::default());
    assert!(loaded.warnings.is_empty());
    assert_eq!(toml("").config, Config::default());
}

#[test]
fn a_listener_disables_anonymous_access_by_default() {
    let c = conf("listener 1883\n").config;
    assert!(!c.local_only);
    assert_eq!(ports(&c), [1883]);
    let l = &c.listeners[0];
    assert_eq!(l.bind_address, None);
    assert_eq!(l.unix_socket, None);
    assert_eq!(l.security.allow_anonymous, Some(false));
    assert!(!l.security.anonymous_allowed());
    assert_eq!(l.security.auto_id_prefix, "auto-");
    // The global block stays as written.
    assert_eq!(c.security.allow_anonymous, None);
}

// ---------------------------------------------------------------- line syntax

#[test]
fn comments_blank_lines_and_line_endings() {
    // Mosquitto: `#` only as the first byte; blank and whitespace-only lines are skipped;
    // CRLF works; extra words after booleans and numbers are ignored.
    let c = conf(
        "# comment\n\n   \nlistener 1883 # public\r\n  allow_anonymous  true # note\n\
         max_inflight_messages 10 # note\n#max_qos 0\n",
    )
    .config;
    assert_eq!(ports(&c), [1883]);
    assert_eq!(c.listeners[0].bind_address, None);
    assert!(c.listeners[0].security.anonymous_allowed());
    assert_eq!(c.max_inflight_messages, 10);
    assert_eq!(c.listeners[0].max_qos, QoS::ExactlyOnce);
    // No final newline.
    assert_eq!(conf("listener 1884").config.listeners[0].port, 1884);
}

#[test]
fn indented_comment_is_an_unknown_option() {
    // Mosquitto: Error: Unknown configuration variable "#". / Error found at x.conf:2.
    let e = conf_err("listener 1883\n  # indented\n");
    assert_eq!(
        e.to_string(),
        "Error: Unknown configuration variable \"#\" at test.conf:2."
    );
    let e = conf_err("listener 1883\n\t# tab\n");
    assert!(matches!(&e, ConfigError::UnknownOption { option, line: 2, .. } if option == "\t#"));
}

#[test]
fn tabs_do_not_separate_words() {
    // Mosquitto: Error: Unknown configuration variable "listener	1883".
    let e = conf_err("listener\t1883\n");
    assert!(
        matches!(&e, ConfigError::UnknownOption { option, line: 1, .. } if option == "listener\t1883")
    );
    let e = conf_err("\tlistener 1883\n");
    assert!(matches!(&e, ConfigError::UnknownOption { option, .. } if option == "\tlistener"));
}

#[test]
fn option_names_are_case_sensitive() {
    assert!(matches!(
        conf_err("LISTENER 1883\n"),
        ConfigError::UnknownOption { line: 1, .. }
    ));
}

#[test]
fn string_values_take_the_rest_of_the_line() {
    // Mosquitto: `password_file /tmp/pw # c` opens "/tmp/pw # c". Surrounding blanks are
    // trimmed.
    let c = conf("listener 1883\npassword_file   /etc/pw # c  \t\nauto_id_prefix a b\n").config;
    assert_eq!(c.security.password_file, Some(PathBuf::from("/etc/pw # c")));
    assert_eq!(c.security.auto_id_prefix, "a b");
}

#[test]
fn unknown_option_error_names_file_line_and_option() {
    let e = conf_err("listener 1883\n\nfoo bar\n");
    assert_eq!(e.file(), Path::new("test.conf"));
    assert_eq!(e.line(), Some(3));
    assert_eq!(e.option(), Some("foo"));
    assert_eq!(
        e.to_string(),
        "Error: Unknown configuration variable \"foo\" at test.conf:3."
    );
}

#[test]
fn malformed_utf8_is_an_error_except_in_comments() {
    let mut parser = super::mosquitto::Parser::new();
    let mut state =
        super::mosquitto::FileState::main(Path::new("x.conf"), super::mosquitto::Syntax::Mosquitto);
    let e = parser
        .read_mosquitto(b"listener 1883\npassword_file /tmp/\xff\n", &mut state)
        .unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert!(e.to_string().contains("Malformed UTF-8"));

    let dir = TempDir::new("utf8");
    let path = dir.0.join("c.conf");
    fs::write(&path, b"# \xff comment\nlistener 1883\n").unwrap();
    assert_eq!(ports(&Config::load(&path).unwrap().config), [1883]);
}

// ---------------------------------------------------------------- listeners

#[test]
fn listener_blocks_scope_the_options_that_follow() {
    let c = conf(
        "listener 1883 127.0.0.1\nmax_connections 10\nmax_qos 1\nmount_point inside/\n\
         listener 8080\nprotocol websockets\nsocket_domain ipv6\nmax_topic_alias 0\n\
         listener 0 /run/mqtt.sock\nmax_connections -1\n",
    )
    .config;
    assert_eq!(ports(&c), [1883, 8080, 0]);
    let [a, b, s] = &c.listeners[..] else {
        panic!("three listeners expected")
    };
    assert_eq!(a.bind_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(a.max_connections, Some(10));
    assert_eq!(a.max_qos, QoS::AtLeastOnce);
    assert_eq!(a.mount_point.as_deref(), Some("inside/"));
    assert_eq!(a.protocol, ListenerProtocol::Mqtt);
    assert_eq!(b.bind_address, None);
    assert_eq!(b.protocol, ListenerProtocol::WebSockets);
    assert_eq!(b.socket_domain, Some(SocketDomain::Ipv6));
    assert_eq!(b.max_topic_alias, 0);
    assert_eq!(b.max_qos, QoS::ExactlyOnce);
    assert_eq!(b.mount_point, None);
    assert_eq!(s.unix_socket, Some(PathBuf::from("/run/mqtt.sock")));
    assert_eq!(s.bind_address, None);
    assert_eq!(s.max_connections, None);
    assert_eq!(
        conf("listener 1883\nmaximum_qos 0\n").config.listeners[0].max_qos,
        QoS::AtMostOnce
    );
    assert_eq!(
        conf("listener 1883\nmax_connections 0\n").config.listeners[0].max_connections,
        None
    );
}

#[test]
fn listener_errors() {
    // Mosquitto 2.0.11 messages in the comments.
    let cases: &[(&str, usize, &str)] = &[
        // Error: Invalid port value (70000).
        ("listener 70000\n", 1, "Error: Invalid port value (70000) at test.conf:1."),
        ("listener -1\n", 1, "Error: Invalid port value (-1) at test.conf:1."),
        ("listener abc\n", 1, "Error: Invalid port value (abc) at test.conf:1."),
        // Error: A listener with port 0 must provide a Unix socket path.
        (
            "listener 1883\nlistener 0\n",
            2,
            "Error: A listener with port 0 must provide a Unix socket path at test.conf:2.",
        ),
        (
            "listener 0 # no path\n",
            1,
            "Error: A listener with port 0 must provide a Unix socket path at test.conf:1.",
        ),
        // Error: Empty listener value in configuration.
        ("listener\n", 1, "Error: Empty listener value in configuration at test.conf:1."),
        // Error: Invalid socket_domain value "ipv5" in configuration.
        (
            "listener 1883\nsocket_domain ipv5\n",
            2,
            "Error: Invalid socket_domain value \"ipv5\" in configuration at test.conf:2.",
        ),
        // Error: Invalid protocol value (foo).
        ("listener 1883\nprotocol foo\n", 2, "Error: Invalid protocol value (foo) at test.conf:2."),
        // Error: You must use create a listener before using the mount_point option...
        (
            "mount_point foo/\n",
            1,
            "Error: You must create a listener before using the mount_point option at test.conf:1.",
        ),
        // Error: Invalid mount_point 'foo/+'. Does it contain a wildcard character?
        (
            "listener 1883\nmount_point foo/+\n",
            2,
            "Error: Invalid mount_point 'foo/+'. Does it contain a wildcard character? at test.conf:2.",
        ),
        // Error: Duplicate mount_point value in configuration.
        (
            "listener 1883\nmount_point a/\nmount_point b/\n",
            3,
            "Error: Duplicate mount_point value in configuration at test.conf:3.",
        ),
        (
            "listener 1883\nmax_qos 3\n",
            2,
            "Error: Invalid max_qos value (3), must be between 0 and 2 at test.conf:2.",
        ),
        (
            "listener 1883\nmax_qos -1\n",
            2,
            "Error: Invalid max_qos value (-1), must be between 0 and 2 at test.conf:2.",
        ),
        (
            "listener 1883\nmax_topic_alias 70000\n",
            2,
            "Error: Invalid max_topic_alias value (70000), must be between 0 and 65535 at test.conf:2.",
        ),
        (
            "listener 1883\nmax_connections -5\n",
            2,
            "Error: Invalid max_connections value (-5), must be between -1 and 2147483647 at test.conf:2.",
        ),
        (
            "listener 1883\nmax_connections\n",
            2,
            "Error: Empty max_connections value in configuration at test.conf:2.",
        ),
    ];
    for (text, line, message) in cases {
        let e = conf_err(text);
        assert_eq!(e.line(), Some(*line), "{text:?}");
        assert_eq!(e.to_string(), *message, "{text:?}");
    }
}

#[test]
fn deprecated_port_and_bind_address_make_the_default_listener() {
    let loaded = conf("port 1884\n");
    assert_eq!(ports(&loaded.config), [1884]);
    assert_eq!(loaded.config.listeners[0].bind_address, None);
    assert!(!loaded.config.local_only);
    assert!(!loaded.config.listeners[0].security.anonymous_allowed());
    assert_eq!(
        warning_lines(&loaded, WarningKind::Deprecated),
        [(1, "port")]
    );

    let c = conf("bind_address 127.0.0.1\n").config;
    assert_eq!(ports(&c), [1883]);
    assert_eq!(c.listeners[0].bind_address.as_deref(), Some("127.0.0.1"));

    // Options before the first listener apply to the default listener, which Mosquitto opens
    // after the `listener` ones.
    let c = conf("port 1885\nbind_address ::1\nmax_qos 1\nlistener 1886\nmax_qos 0\n").config;
    assert_eq!(ports(&c), [1886, 1885]);
    assert_eq!(c.listeners[0].max_qos, QoS::AtMostOnce);
    assert_eq!(c.listeners[1].max_qos, QoS::AtLeastOnce);
    assert_eq!(c.listeners[1].bind_address.as_deref(), Some("::1"));

    // Mosquitto: "Warning: Default listener port specified multiple times. Only the latest
    // will be used."
    let loaded = conf("port 1884\nport 1885\n");
    assert_eq!(ports(&loaded.config), [1885]);
    assert_eq!(warning_lines(&loaded, WarningKind::Notice), [(2, "port")]);

    // Mosquitto: Error: Invalid port value (0). / Duplicate default listener bind_address.
    assert_eq!(conf_err("port 0\n").line(), Some(1));
    assert_eq!(conf_err("port 70000\n").line(), Some(1));
    assert!(matches!(
        conf_err("bind_address a\nbind_address b\n"),
        ConfigError::Duplicate { line: 2, .. }
    ));
}

#[test]
fn listener_options_before_any_listener_create_a_default_listener() {
    // Mosquitto 2.0.11 opens 1884 and 1883 for this file.
    let loaded = conf("max_qos 1\nlistener 1884\n");
    assert_eq!(ports(&loaded.config), [1884, 1883]);
    assert_eq!(loaded.config.listeners[1].max_qos, QoS::AtLeastOnce);
    assert_eq!(
        warning_lines(&loaded, WarningKind::Notice),
        [(1, "max_qos")]
    );

    // Mosquitto opens 0.0.0.0:1883 for `max_connections 10` alone.
    let c = conf("max_connections 10\n").config;
    assert!(!c.local_only);
    assert_eq!(ports(&c), [1883]);
    assert_eq!(c.listeners[0].bind_address, None);
    assert_eq!(c.listeners[0].max_connections, Some(10));

    // Options that keep their default value, or that Mosquitto does not count, do not.
    assert!(conf("max_qos 2\n").config.local_only);
    assert!(conf("max_topic_alias 5\n").config.local_only);
    assert!(conf("max_connections -1\n").config.local_only);
    // ... but they still apply to the loopback listeners.
    assert!(conf("max_topic_alias 5\n")
        .config
        .listeners
        .iter()
        .all(|l| l.max_topic_alias == 5));
}

#[test]
fn a_file_without_listener_is_local_only() {
    let loaded = conf("persistence true\nallow_anonymous true\n");
    let c = &loaded.config;
    assert!(c.local_only);
    assert_eq!(c.listeners, Config::local_only(None).listeners);
    assert!(loaded.warnings.is_empty());

    // Mosquitto 2.0 ignores `allow_anonymous false` here; we honour it and say so.
    let loaded = conf("allow_anonymous false\npassword_file /etc/pw\n");
    assert!(loaded.config.local_only);
    for l in &loaded.config.listeners {
        assert_eq!(l.security.allow_anonymous, Some(false));
        assert_eq!(l.security.password_file, Some(PathBuf::from("/etc/pw")));
    }
    assert_eq!(
        warning_lines(&loaded, WarningKind::Notice),
        [(1, "allow_anonymous")]
    );
}

// ---------------------------------------------------------------- security

#[test]
fn without_per_listener_settings_security_is_global() {
    let c = conf(
        "listener 1883\nallow_anonymous true\nlistener 8883\npassword_file /etc/pw\n\
         acl_file /etc/acl\nallow_zero_length_clientid false\nauto_id_prefix gen-\n",
    )
    .config;
    assert!(!c.per_listener_settings);
    let expected = Security {
        allow_anonymous: Some(true),
        password_file: Some(PathBuf::from("/etc/pw")),
        acl_file: Some(PathBuf::from("/etc/acl")),
        allow_zero_length_clientid: false,
        auto_id_prefix: "gen-".to_owned(),
    };
    assert_eq!(c.security, expected);
    assert!(c.listeners.iter().all(|l| l.security == expected));
}

#[test]
fn per_listener_settings_scopes_security_to_each_listener() {
    let c = conf(
        "per_listener_settings true\nlistener 1883\nallow_anonymous true\n\
         listener 8883\npassword_file /etc/pw\nauto_id_prefix x-\n",
    )
    .config;
    assert!(c.per_listener_settings);
    let [open, closed] = &c.listeners[..] else {
        panic!("two listeners expected")
    };
    assert_eq!(open.security.allow_anonymous, Some(true));
    assert_eq!(open.security.password_file, None);
    assert_eq!(open.security.auto_id_prefix, "auto-");
    assert_eq!(closed.security.allow_anonymous, Some(false));
    assert_eq!(
        closed.security.password_file,
        Some(PathBuf::from("/etc/pw"))
    );
    assert_eq!(closed.security.auto_id_prefix, "x-");
    assert_eq!(c.security, Security::default());
}

#[test]
fn per_listener_settings_must_come_before_security_options() {
    // Mosquitto: Error: per_listener_settings must be set before any other security
    // settings. / Error found at x.conf:3.
    for option in [
        "allow_anonymous true",
        "password_file /etc/pw",
        "acl_file /etc/acl",
        "allow_zero_length_clientid true",
        "auto_id_prefix x",
        "check_retain_source true",
        "psk_file /etc/psk",
        "auth_plugin /x.so",
    ] {
        let text = format!("listener 1883\n{option}\nper_listener_settings true\n");
        let e = conf_err(&text);
        assert!(
            matches!(e, ConfigError::PerListenerSettingsTooLate { line: 3, .. }),
            "{option}: {e}"
        );
        assert_eq!(
            e.to_string(),
            "Error: per_listener_settings must be set before any other security settings at test.conf:3."
        );
    }
    // Setting it false afterwards is fine (Mosquitto too), and once true it stays true.
    assert!(
        !conf("allow_anonymous true\nper_listener_settings false\nlistener 1\n")
            .config
            .per_listener_settings
    );
    let loaded = conf("per_listener_settings true\nlistener 1883\nper_listener_settings false\n");
    assert!(loaded.config.per_listener_settings);
    assert_eq!(
        warning_lines(&loaded, WarningKind::Ignored),
        [(3, "per_listener_settings")]
    );
}

#[test]
fn security_errors() {
    // Mosquitto: Error: Duplicate password_file value in configuration.
    let e = conf_err("listener 1883\npassword_file /a\npassword_file /b\n");
    assert_eq!(
        e.to_string(),
        "Error: Duplicate password_file value in configuration at test.conf:3."
    );
    // Per listener, each listener has its own.
    let c = conf(
        "per_listener_settings true\nlistener 1\npassword_file /a\nlistener 2\npassword_file /b\n",
    )
    .config;
    assert_eq!(
        c.listeners[1].security.password_file,
        Some(PathBuf::from("/b"))
    );
    // Mosquitto: Error: Invalid allow_anonymous value (yes). / Empty allow_anonymous value.
    let e = conf_err("listener 1883\nallow_anonymous yes\n");
    assert_eq!(
        e.to_string(),
        "Error: Invalid allow_anonymous value (yes) at test.conf:2."
    );
    let e = conf_err("listener 1883\nallow_anonymous\n");
    assert_eq!(
        e.to_string(),
        "Error: Empty allow_anonymous value in configuration at test.conf:2."
    );
    // Mosquitto: Error: Empty acl_file value in configuration (blanks only).
    assert!(matches!(
        conf_err("listener 1883\nacl_file   \n"),
        ConfigError::EmptyValue { line: 2, .. }
    ));
    // `1` and `0` are booleans too.
    assert!(conf("listener 1\nallow_anonymous 1\n").config.listeners[0]
        .security
        .anonymous_allowed());
}

// ---------------------------------------------------------------- TLS

#[test]
fn tls_listener() {
    let c = conf(
        "listener 8883\ncafile /ca.pem\ncapath /certs\ncertfile /c.pem\nkeyfile /k.pem\n\
         require_certificate true\nuse_identity_as_username true\nuse_subject_as_username false\n\
         tls_version tlsv1.3\nciphers ECDHE-RSA-AES128-GCM-SHA256\n\
         ciphers_tls1.3 TLS_AES_128_GCM_SHA256\ncrlfile /crl.pem\nlistener 1883\n",
    )
    .config;
    let tls = c.listeners[0].tls.clone().unwrap();
    assert_eq!(
        tls,
        Tls {
            cafile: Some(PathBuf::from("/ca.pem")),
            capath: Some(PathBuf::from("/certs")),
            certfile: PathBuf::from("/c.pem"),
            keyfile: PathBuf::from("/k.pem"),
            require_certificate: true,
            use_identity_as_username: true,
            use_subject_as_username: false,
            tls_version: Some(TlsVersion::Tls1_3),
            ciphers: Some("ECDHE-RSA-AES128-GCM-SHA256".to_owned()),
            ciphers_tls13: Some("TLS_AES_128_GCM_SHA256".to_owned()),
            crlfile: Some(PathBuf::from("/crl.pem")),
        }
    );
    assert_eq!(c.listeners[1].tls, None);
    for (name, version) in [
        ("tlsv1.1", TlsVersion::Tls1_1),
        ("tlsv1.2", TlsVersion::Tls1_2),
        ("tlsv1.3", TlsVersion::Tls1_3),
    ] {
        let text = format!("listener 8883\ncertfile /c\nkeyfile /k\ntls_version {name}\n");
        let tls = conf(&text).config.listeners[0].tls.clone().unwrap();
        assert_eq!(tls.tls_version, Some(version));
    }
}

#[test]
fn tls_errors_and_ignored_options() {
    // Mosquitto fails at start-up: Error: Unsupported tls_version "tlsv9".
    let e = conf_err("listener 8883\ncertfile /c\nkeyfile /k\ntls_version tlsv9\n");
    assert_eq!(
        e.to_string(),
        "Error: Unsupported tls_version \"tlsv9\" at test.conf:4."
    );
    // Mosquitto: Error: Duplicate certfile value in configuration.
    assert!(matches!(
        conf_err("listener 8883\ncertfile /c\nkeyfile /k\ncertfile /c\n"),
        ConfigError::Duplicate { line: 4, .. }
    ));
    // Mosquitto silently serves plain MQTT; we refuse half a TLS configuration.
    let e = conf_err("listener 1883\nlistener 8883\ncertfile /c\n");
    assert_eq!(e.line(), Some(3));
    assert_eq!(e.option(), Some("certfile"));
    let e = conf_err("listener 8883\nkeyfile /k\n");
    assert_eq!(e.option(), Some("keyfile"));
    // TLS options without a certificate have no effect (as in Mosquitto): a warning.
    let loaded = conf("listener 1883\nrequire_certificate true\ncafile /ca\n");
    assert_eq!(loaded.config.listeners[0].tls, None);
    assert_eq!(
        warning_lines(&loaded, WarningKind::Ignored),
        [(2, "require_certificate")]
    );
}

// ---------------------------------------------------------------- global options

#[test]
fn every_global_option() {
    let loaded = conf(
        "listener 1883\n\
         allow_duplicate_messages false\n\
         autosave_interval 60\n\
         autosave_on_changes true\n\
         check_retain_source false\n\
         connection_messages false\n\
         log_timestamp false\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S\n\
         max_inflight_bytes 4096\n\
         max_inflight_messages 5\n\
         max_keepalive 120\n\
         max_packet_size 1024\n\
         max_queued_bytes 65536\n\
         max_queued_messages 0\n\
         message_size_limit 512\n\
         persistence true\n\
         persistence_file broker.db\n\
         persistence_location /var/lib/mqtt/\n\
         persistence_sync periodic\n\
         persistent_client_expiration 2w\n\
         pid_file /run/mqtt.pid\n\
         queue_qos0_messages true\n\
         retain_available false\n\
         set_tcp_nodelay false\n\
         sys_interval 0\n\
         upgrade_outgoing_qos true\n\
         user nobody\n\
         worker_threads 1\n",
    );
    let c = &loaded.config;
    assert!(!c.allow_duplicate_messages);
    assert_eq!(c.persistence.autosave_interval, 60);
    assert!(c.persistence.autosave_on_changes);
    assert!(!c.check_retain_source);
    assert!(!c.connection_messages);
    assert!(!c.log.timestamp);
    assert_eq!(c.log.timestamp_format.as_deref(), Some("%Y-%m-%dT%H:%M:%S"));
    assert_eq!(c.max_inflight_bytes, 4096);
    assert_eq!(c.max_inflight_messages, 5);
    assert_eq!(c.max_keepalive, 120);
    assert_eq!(c.max_packet_size, Some(1024));
    assert_eq!(c.max_queued_bytes, 65536);
    assert_eq!(c.max_queued_messages, 0);
    assert_eq!(c.message_size_limit, Some(512));
    assert!(c.persistence.enabled);
    assert_eq!(c.persistence.file, "broker.db");
    assert_eq!(
        c.persistence.location,
        Some(PathBuf::from("/var/lib/mqtt/"))
    );
    assert_eq!(
        c.persistence.path(),
        PathBuf::from("/var/lib/mqtt/broker.db")
    );
    assert_eq!(c.persistence.sync, PersistenceSync::Periodic);
    assert_eq!(
        c.persistent_client_expiration,
        Some(Duration::from_secs(14 * 86_400))
    );
    assert_eq!(c.pid_file, Some(PathBuf::from("/run/mqtt.pid")));
    assert!(c.queue_qos0_messages);
    assert!(!c.retain_available);
    assert!(!c.set_tcp_nodelay);
    assert_eq!(c.sys_interval, 0);
    assert!(c.upgrade_outgoing_qos);
    assert_eq!(c.user, "nobody");
    assert_eq!(c.worker_threads, 1);
    // Mosquitto's notices: allow_duplicate_messages is deprecated, message_size_limit should
    // be max_packet_size.
    assert_eq!(
        warning_lines(&loaded, WarningKind::Deprecated),
        [(2, "allow_duplicate_messages")]
    );
    assert_eq!(
        warning_lines(&loaded, WarningKind::Notice),
        [(15, "message_size_limit")]
    );
}

#[test]
fn numeric_limits() {
    let c =
        conf("listener 1\nmax_inflight_messages 65535\nmessage_size_limit 0\nmax_keepalive 10\n")
            .config;
    // Mosquitto treats 65535 in-flight messages as no limit.
    assert_eq!(c.max_inflight_messages, 0);
    assert_eq!(c.message_size_limit, None);
    assert_eq!(c.max_keepalive, 10);
    assert_eq!(
        conf("persistence_sync ack\n").config.persistence.sync,
        PersistenceSync::Ack
    );
    assert_eq!(
        conf("max_packet_size 20\n").config.max_packet_size,
        Some(20)
    );
    assert_eq!(
        conf("message_size_limit 268435455\n")
            .config
            .message_size_limit,
        Some(268_435_455)
    );
}

#[test]
fn out_of_range_values_are_errors_with_their_line() {
    let cases: &[(&str, &str)] = &[
        // Mosquitto: Error: Invalid max_packet_size value (19).
        (
            "max_packet_size 19",
            "Invalid max_packet_size value (19), must be between 20 and 2147483647",
        ),
        (
            "max_packet_size 0",
            "Invalid max_packet_size value (0), must be between 20 and 2147483647",
        ),
        // Mosquitto: Error: Invalid max_keepalive value (9). (and 0, 65536)
        (
            "max_keepalive 9",
            "Invalid max_keepalive value (9), must be between 10 and 65535",
        ),
        (
            "max_keepalive 65536",
            "Invalid max_keepalive value (65536), must be between 10 and 65535",
        ),
        // Mosquitto: Error: max_inflight_messages must be <= 65535.
        (
            "max_inflight_messages 70000",
            "Invalid max_inflight_messages value (70000), must be between 0 and 65535",
        ),
        // Mosquitto: Error: Invalid sys_interval value (-1).
        (
            "sys_interval -1",
            "Invalid sys_interval value (-1), must be between 0 and 65535",
        ),
        (
            "sys_interval 70000",
            "Invalid sys_interval value (70000), must be between 0 and 65535",
        ),
        (
            "worker_threads -1",
            "Invalid worker_threads value (-1), must be between 0 and 1024",
        ),
        (
            "worker_threads 2000",
            "Invalid worker_threads value (2000), must be between 0 and 1024",
        ),
        // Mosquitto: Error: Invalid message_size_limit value (300000000).
        (
            "message_size_limit 300000000",
            "Invalid message_size_limit value (300000000), must be between 0 and 268435455",
        ),
        // Mosquitto clamps these negative values to 0; we refuse them.
        (
            "max_queued_messages -1",
            "Invalid max_queued_messages value (-1), must be between 0 and 2147483647",
        ),
        (
            "autosave_interval -1",
            "Invalid autosave_interval value (-1), must be between 0 and 2147483647",
        ),
        (
            "max_inflight_bytes -1",
            "Invalid max_inflight_bytes value (-1), must be between 0 and 2147483647",
        ),
        // Mosquitto reads these as 0 and 12 (atoi); we refuse them.
        (
            "max_inflight_messages abc",
            "Invalid max_inflight_messages value (abc)",
        ),
        (
            "max_inflight_messages 12abc",
            "Invalid max_inflight_messages value (12abc)",
        ),
        (
            "max_queued_messages 99999999999",
            "Invalid max_queued_messages value (99999999999), must be between 0 and 2147483647",
        ),
        // Mosquitto: Error: Invalid autosave_on_changes value (2).
        (
            "autosave_on_changes 2",
            "Invalid autosave_on_changes value (2)",
        ),
        (
            "persistence_sync always",
            "Invalid persistence_sync value (always)",
        ),
    ];
    for (line, message) in cases {
        let text = format!("listener 1883\n# comment\n{line}\n");
        let e = conf_err(&text);
        assert_eq!(e.line(), Some(3), "{line}");
        assert_eq!(
            e.to_string(),
            format!("Error: {message} at test.conf:3."),
            "{line}"
        );
    }
}

#[test]
fn empty_and_duplicate_values() {
    for option in [
        "max_inflight_messages",
        "user",
        "log_timestamp_format",
        "pid_file",
        "persistence_location",
        "log_type",
        "log_dest",
        "persistent_client_expiration",
        "include_dir",
    ] {
        let e = conf_err(&format!("listener 1883\n{option}\n"));
        assert_eq!(
            e.to_string(),
            format!("Error: Empty {option} value in configuration at test.conf:2."),
        );
    }
    // Mosquitto 2.0.11: Duplicate user / log_timestamp_format / persistence_location value.
    for option in [
        "user a",
        "log_timestamp_format %H",
        "persistence_location /tmp/",
        "pid_file /p",
        "persistence_file f",
    ] {
        let e = conf_err(&format!("{option}\n{option}\n"));
        assert!(
            matches!(e, ConfigError::Duplicate { line: 2, .. }),
            "{option}: {e}"
        );
    }
}

#[test]
fn persistent_client_expiration_units() {
    for (value, seconds) in [
        ("1h", 3600),
        ("2d", 2 * 86_400),
        ("3w", 3 * 7 * 86_400),
        ("2m", 2 * 30 * 86_400),
        ("1y", 365 * 86_400),
    ] {
        let c = conf(&format!("persistent_client_expiration {value}\n")).config;
        assert_eq!(
            c.persistent_client_expiration,
            Some(Duration::from_secs(seconds)),
            "{value}"
        );
    }
    // Mosquitto: Error: Invalid persistent_client_expiration duration in configuration.
    for value in ["1x", "0d", "-1d", "d", "1.5d", "h1"] {
        let e = conf_err(&format!("persistent_client_expiration {value}\n"));
        assert_eq!(
            e.to_string(),
            "Error: Invalid persistent_client_expiration duration in configuration at test.conf:1.",
            "{value}"
        );
    }
}

// ---------------------------------------------------------------- logging

#[test]
fn log_dest_accumulates_and_none_resets() {
    let c = conf("log_dest stdout\nlog_dest syslog\nlog_dest stdout\nlog_dest topic\n").config;
    assert_eq!(
        c.log.dest,
        [LogDest::Stdout, LogDest::Syslog, LogDest::Topic]
    );
    let c = conf("log_dest stdout\nlog_dest none\n").config;
    assert_eq!(c.log.dest, [LogDest::None]);
    let c = conf("log_dest none\nlog_dest stderr\nlog_dest dlt\n").config;
    assert_eq!(c.log.dest, [LogDest::Stderr, LogDest::Dlt]);
    // `file` takes the rest of the line (leading blanks skipped); other words only one word.
    let c = conf("log_dest file  /var/log/my broker.log\nlog_dest stdout stderr\n").config;
    assert_eq!(
        c.log.dest,
        [
            LogDest::File(PathBuf::from("/var/log/my broker.log")),
            LogDest::Stdout
        ]
    );
    // Mosquitto: Error: Duplicate "log_dest file" value. / Empty "log_dest file" value.
    assert_eq!(
        conf_err("log_dest file /a\nlog_dest none\nlog_dest file /b\n").to_string(),
        "Error: Duplicate \"log_dest file\" value at test.conf:3."
    );
    assert_eq!(
        conf_err("log_dest file\n").to_string(),
        "Error: Empty \"log_dest file\" value in configuration at test.conf:1."
    );
    // Mosquitto: Error: Invalid log_dest value (foo).
    assert_eq!(
        conf_err("log_dest foo\n").to_string(),
        "Error: Invalid log_dest value (foo) at test.conf:1."
    );
}

#[test]
fn log_type_replaces_the_default_set() {
    let c = conf("log_type error\nlog_type subscribe\n").config;
    assert_eq!(c.log.types, LogTypes::ERROR | LogTypes::SUBSCRIBE);
    assert_eq!(conf("log_type all\n").config.log.types, LogTypes::ALL);
    assert!(conf("log_type debug\nlog_type none\n")
        .config
        .log
        .types
        .is_empty());
    let c = conf(
        "log_type debug\nlog_type information\nlog_type notice\nlog_type warning\n\
         log_type unsubscribe\nlog_type websockets\nlog_type internal\n",
    )
    .config;
    assert!(c
        .log
        .types
        .contains(LogTypes::DEBUG | LogTypes::WEBSOCKETS | LogTypes::INTERNAL));
    assert!(!c.log.types.contains(LogTypes::ERROR));
    assert_eq!(
        format!("{:?}", LogTypes::ERROR | LogTypes::DEBUG),
        "{error, debug}"
    );
    // Mosquitto: Error: Invalid log_type value (foo).
    assert_eq!(
        conf_err("log_type foo\n").to_string(),
        "Error: Invalid log_type value (foo) at test.conf:1."
    );
}

// ---------------------------------------------------------------- unsupported options

#[test]
fn bridge_blocks_are_read_and_unsupported_bridge_options_warn() {
    let loaded = conf(
        "listener 1883\nconnection cloud\naddress mqtt.example.com:8883\n\
         topic sensors/# out 1 \"\" site1/\nremote_username u\nbridge_cafile /ca\n\
         cleansession true\nbridge_attempt_unsubscribe false\nthreshold 10\nmax_qos 1\n",
    );
    assert_eq!(
        warning_lines(&loaded, WarningKind::Unsupported),
        [(8, "bridge_attempt_unsubscribe"), (9, "threshold")]
    );
    assert_eq!(
        loaded.warnings[0].to_string(),
        "Warning: Unsupported option \"bridge_attempt_unsubscribe\" ignored (not supported yet) at test.conf:8."
    );
    let bridge = &loaded.config.bridges[0];
    assert_eq!(bridge.name, "cloud");
    assert_eq!(bridge.remote_username.as_deref(), Some("u"));
    assert!(bridge.clean_session && bridge.local_clean_session);
    assert!(bridge.tls.is_some());
    // A connection block does not end the listener block.
    assert_eq!(loaded.config.listeners[0].max_qos, QoS::AtLeastOnce);
    // Mosquitto: Error: Invalid bridge configuration. / Empty connection value in configuration.
    let e = conf_err("listener 1883\ntopic foo\n");
    assert!(matches!(&e, ConfigError::Misplaced { line: 2, option, .. } if option == "topic"));
    assert!(e
        .to_string()
        .starts_with("Error: Invalid bridge configuration"));
    assert!(matches!(
        conf_err("listener 1883\nconnection\n"),
        ConfigError::EmptyValue { line: 2, .. }
    ));
    // Mosquitto checks bridges it will start: "Invalid bridge configuration: no remote
    // addresses defined." / "no topics defined." / "Duplicate bridge name".
    let e = conf_err("listener 1883\nconnection a\ntopic x\nconnection b\naddress h\ntopic y\n");
    assert_eq!(
        e.to_string(),
        "Error: Invalid bridge configuration: no remote addresses defined for bridge \"a\" at test.conf:2."
    );
    let e = conf_err("connection a\naddress h\n");
    assert!(e.to_string().contains("no topics defined"), "{e}");
    let e = conf_err("connection a\naddress h\ntopic x\nconnection a\n");
    assert_eq!(e.line(), Some(4));
    let e = conf_err("connection a\naddress h\naddresses h2\n");
    assert!(matches!(e, ConfigError::Misplaced { line: 3, .. }));
    // Two bridges with one local client identifier would take the local session from each
    // other: refused at the second.
    let e = conf_err(
        "connection a\naddress h\ntopic x\nlocal_clientid same\n\
         connection b\naddress h2\ntopic y\nlocal_clientid same\n",
    );
    assert_eq!(e.line(), Some(5), "{e}");
    assert!(
        e.to_string()
            .contains("same local client identifier \"same\""),
        "{e}"
    );
    conf("connection a\naddress h\ntopic x\nconnection b\naddress h\ntopic y\n");
    // The current bridge is per file, like the current listener.
    let dir = TempDir::new("bridgefile");
    let inc = dir.path().join("inc");
    fs::create_dir(&inc).unwrap();
    fs::write(inc.join("b.conf"), "topic x\n").unwrap();
    let main = dir.write(
        "m.conf",
        &format!("connection a\naddress h\ninclude_dir {}\n", inc.display()),
    );
    let e = Config::load(&main).unwrap_err();
    assert!(matches!(e, ConfigError::Misplaced { line: 1, .. }), "{e}");
}

#[test]
fn other_unsupported_options_are_accepted_with_warnings() {
    let loaded = conf(
        "per_listener_settings true\nlistener 8883\nplugin /usr/lib/dynsec.so\n\
         plugin_opt_config_file /etc/dynsec.json\nauth_plugin_deny_special_chars false\n\
         psk_hint hint\npsk_file /etc/psk\nhttp_dir /www\nwebsockets_log_level 0\n\
         websockets_headers_size 1024\nmemory_limit 0\nclientid_prefixes x\n\
         retry_interval 20\ndhparamfile /dh.pem\ntls_engine e\ntls_keyform pem\n\
         tls_engine_kpass_sha1 00\nuse_username_as_clientid true\nbind_interface eth0\n\
         auth_opt_x y\n",
    );
    let unsupported = warning_lines(&loaded, WarningKind::Unsupported);
    let options: Vec<_> = unsupported.iter().map(|(_, o)| *o).collect();
    assert_eq!(
        options,
        [
            "plugin",
            "plugin_opt_config_file",
            "auth_plugin_deny_special_chars",
            "psk_hint",
            "psk_file",
            "http_dir",
            "websockets_log_level",
            "websockets_headers_size",
            "memory_limit",
            "clientid_prefixes",
            "retry_interval",
            "dhparamfile",
            "tls_engine",
            "tls_keyform",
            "tls_engine_kpass_sha1",
            "use_username_as_clientid",
            "bind_interface",
            "auth_opt_x",
        ]
    );
    assert_eq!(unsupported[0].0, 3);
    // Mosquitto: Error: An auth_opt_ option exists in the config file without an auth_plugin.
    let e = conf_err("listener 1883\nplugin_opt_key value\n");
    assert!(matches!(e, ConfigError::Misplaced { line: 2, .. }));
    let e = conf_err("listener 1883\nauth_plugin_deny_special_chars false\n");
    assert!(matches!(e, ConfigError::Misplaced { line: 2, .. }));
    // Options Mosquitto 2.1 added are unknown to 2.0 and to us.
    for option in [
        "global_max_clients 5",
        "accept_protocol_versions 5",
        "max_topic_alias_broker 5",
        "listen 1883",
    ] {
        assert!(matches!(
            conf_err(&format!("listener 1883\n{option}\n")),
            ConfigError::UnknownOption { line: 2, .. }
        ));
    }
}

#[test]
fn every_supported_option_is_known() {
    for (option, _) in SUPPORTED {
        let text = format!("listener 1883\n{option} x\n");
        if let Err(e) = Config::parse_mosquitto(&text, Path::new("t.conf")) {
            assert!(!matches!(e, ConfigError::UnknownOption { .. }), "{option}");
        }
        assert!(scope_of(option).is_some());
    }
    assert_eq!(scope_of("topic"), Some(Scope::Bridge));
    assert_eq!(scope_of("psk_hint"), Some(Scope::Listener));
    assert_eq!(scope_of("plugin_opt_x"), Some(Scope::Security));
    assert_eq!(scope_of("nonsense"), None);
}

#[test]
fn documentation_lists_every_option() {
    let doc = include_str!("../../../../docs/configuration.md");
    for (option, _) in SUPPORTED {
        assert!(
            doc.contains(&format!("`{option}")),
            "{option} is not documented"
        );
    }
    for option in super::bridge::SUPPORTED
        .iter()
        .chain(super::bridge::UNSUPPORTED)
    {
        assert!(
            doc.contains(&format!("`{option}")),
            "bridge option {option} is not documented"
        );
    }
    for option in [
        "connection",
        "address",
        "topic",
        "auth_plugin",
        "plugin",
        "plugin_opt_",
        "auth_opt_",
        "psk_hint",
        "psk_file",
        "http_dir",
        "websockets_log_level",
        "memory_limit",
        "bind_interface",
        "use_username_as_clientid",
        "dhparamfile",
        "tls_engine",
    ] {
        assert!(
            doc.contains(&format!("`{option}")),
            "{option} is not documented"
        );
    }
}

// ---------------------------------------------------------------- include_dir

#[test]
fn include_dir_reads_conf_files_in_mosquitto_order() {
    let dir = TempDir::new("order");
    let conf_d = dir.path().join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    // Each file opens one listener; the listener order is the file order. The names and the
    // order are the ones `mosquitto -c` 2.0.11 printed ("Loading config file ...").
    let expected = [
        ".hidden.conf",
        "1.conf",
        "A.conf",
        "Ab.conf",
        "a-.conf",
        "a.conf",
        "aa.conf",
        "aB.conf",
        "ab.conf",
        "ab.conf.conf",
        "abc.conf",
        "a_.conf",
        "B.conf",
        "b.conf",
        "Z.conf",
        "z.conf",
        "_x.conf",
    ];
    let mut creation_order = expected.to_vec();
    creation_order.reverse();
    for (name, port) in creation_order.iter().zip(1u16..) {
        let port = expected.len() as u16 + 1 - port;
        fs::write(conf_d.join(name), format!("listener {port}\n")).unwrap();
    }
    // Not loaded: wrong suffix, and `.conf` alone.
    fs::write(conf_d.join("x.CONF"), "listener 9999\n").unwrap();
    fs::write(conf_d.join("c.txt"), "listener 9999\n").unwrap();
    fs::write(conf_d.join(".conf"), "listener 9999\n").unwrap();
    fs::write(conf_d.join("README"), "listener 9999\n").unwrap();
    let main = dir.write(
        "mosquitto.conf",
        &format!(
            "listener 1883\ninclude_dir {}\nlistener 1884\n",
            conf_d.display()
        ),
    );
    let c = Config::load(&main).unwrap().config;
    let mut expected_ports = vec![1883];
    expected_ports.extend(1..=expected.len() as u16);
    expected_ports.push(1884);
    assert_eq!(ports(&c), expected_ports);
}

#[test]
fn mosquitto_include_order() {
    let mut names: Vec<&[u8]> = vec![
        b"b.conf", b"_x.conf", b"B.conf", b"a.conf", b"A.conf", b"ab", b"a",
    ];
    names.sort_by(|a, b| mosquitto_order(a, b));
    let expected: Vec<&[u8]> = vec![
        b"A.conf", b"a", b"a.conf", b"ab", b"B.conf", b"b.conf", b"_x.conf",
    ];
    assert_eq!(names, expected);
    // Bytes are signed chars: non-ASCII sorts before ASCII, as in Mosquitto on x86.
    assert_eq!(
        mosquitto_order("é.conf".as_bytes(), b"a.conf"),
        core::cmp::Ordering::Less
    );
}

#[test]
fn included_files_restart_the_listener_block_and_report_their_own_lines() {
    let dir = TempDir::new("include");
    let conf_d = dir.path().join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    fs::write(
        conf_d.join("a.conf"),
        "# websockets\nlistener 8080\nprotocol websockets\n",
    )
    .unwrap();
    // Before its own listener line, an included file configures the default listener.
    fs::write(conf_d.join("b.conf"), "max_qos 1\n").unwrap();
    let main = dir.write(
        "main.conf",
        &format!(
            "listener 1883\ninclude_dir {}\nmax_connections 5\n",
            conf_d.display()
        ),
    );
    let c = Config::load(&main).unwrap().config;
    assert_eq!(ports(&c), [1883, 8080, 1883]);
    // The main file's listener block continues after include_dir.
    assert_eq!(c.listeners[0].max_connections, Some(5));
    assert_eq!(c.listeners[1].protocol, ListenerProtocol::WebSockets);
    assert_eq!(c.listeners[2].max_qos, QoS::AtLeastOnce);

    // Mosquitto: Error: Unknown configuration variable "foo". / Error found at
    // /…/conf.d/c.conf:3. / Error found at main.conf:2.
    let bad = conf_d.join("c.conf");
    fs::write(&bad, "listener 1885\n\nfoo bar\n").unwrap();
    let e = Config::load(&main).unwrap_err();
    assert_eq!(e.file(), bad);
    assert_eq!(e.line(), Some(3));
    assert_eq!(
        e.to_string(),
        format!(
            "Error: Unknown configuration variable \"foo\" at {}:3.",
            bad.display()
        )
    );
}

#[test]
fn include_dir_only_in_the_main_file() {
    let dir = TempDir::new("nested");
    let outer = dir.path().join("outer");
    let inner = dir.path().join("inner");
    fs::create_dir(&outer).unwrap();
    fs::create_dir(&inner).unwrap();
    fs::write(inner.join("x.conf"), "listener 2000\n").unwrap();
    let nested = outer.join("a.conf");
    fs::write(
        &nested,
        format!("listener 1999\ninclude_dir {}\n", inner.display()),
    )
    .unwrap();
    let main = dir.write("main.conf", &format!("include_dir {}\n", outer.display()));
    // Mosquitto silently skips include_dir in included files; we warn.
    let loaded = Config::load(&main).unwrap();
    assert_eq!(ports(&loaded.config), [1999]);
    let w = &loaded.warnings[0];
    assert_eq!(
        (w.kind, w.line, w.option.as_str()),
        (WarningKind::Ignored, 2, "include_dir")
    );
    assert_eq!(w.file, nested);
}

#[test]
fn include_dir_errors() {
    let dir = TempDir::new("includeerr");
    // Mosquitto: Error: Unable to open include_dir '/nonexistent'. / Error found at x.conf:2.
    let missing = dir.path().join("missing");
    let main = dir.write(
        "main.conf",
        &format!("listener 1883\ninclude_dir {}\n", missing.display()),
    );
    let e = Config::load(&main).unwrap_err();
    assert!(matches!(&e, ConfigError::IncludeDir { line: 2, dir, .. } if *dir == missing));
    assert_eq!(e.file(), main);
    let message = e.to_string();
    assert!(message.starts_with(&format!(
        "Error: Unable to open include_dir '{}' (",
        missing.display()
    )));
    assert!(message.ends_with(&format!(" at {}:2.", main.display())));
    assert!(!message.contains('\n'));
    // Mosquitto keeps trailing blanks: `include_dir /dir ` is the directory "/dir ".
    let conf_d = dir.path().join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    let main = dir.write(
        "blank.conf",
        &format!("include_dir {} \n", conf_d.display()),
    );
    assert!(matches!(
        Config::load(&main),
        Err(ConfigError::IncludeDir { .. })
    ));
    // A directory named *.conf. Mosquitto: Error: Config file …/sub.conf is a directory.
    fs::create_dir(conf_d.join("sub.conf")).unwrap();
    let main = dir.write(
        "sub.conf.main",
        &format!("include_dir {}\n", conf_d.display()),
    );
    let e = Config::load(&main).unwrap_err();
    assert!(matches!(&e, ConfigError::IsDirectory { file } if *file == conf_d.join("sub.conf")));
}

// ---------------------------------------------------------------- files

#[test]
fn load_errors_name_the_file() {
    let dir = TempDir::new("load");
    let missing = dir.path().join("missing.conf");
    let e = Config::load(&missing).unwrap_err();
    assert!(matches!(&e, ConfigError::Read { file, .. } if *file == missing));
    assert_eq!(e.line(), None);
    assert!(e.to_string().starts_with(&format!(
        "Error: Unable to open config file {} (",
        missing.display()
    )));
    // Mosquitto: Error: Config file /tmp is a directory.
    let e = Config::load(dir.path()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Error: Config file {} is a directory.",
            dir.path().display()
        )
    );
}

#[test]
fn load_picks_the_syntax_from_the_file_name() {
    let dir = TempDir::new("syntax");
    let toml_path = dir.write("broker.toml", "[[listener]]\nport = 1884\n");
    assert_eq!(ports(&Config::load(&toml_path).unwrap().config), [1884]);
    let conf_path = dir.write("broker.conf", "listener 1885\n");
    assert_eq!(ports(&Config::load(&conf_path).unwrap().config), [1885]);
    // Anything not ending in `.toml` is mosquitto.conf syntax.
    let other = dir.write("broker.cfg", "listener 1886\n");
    assert_eq!(ports(&Config::load(&other).unwrap().config), [1886]);
}

/// `/etc/mosquitto/mosquitto.conf` as shipped by Debian's `mosquitto` 2.0.11 package.
const DEBIAN_CONF: &str = "\
# Place your local configuration in /etc/mosquitto/conf.d/
#
# A full description of the configuration file is at
# /usr/share/doc/mosquitto/examples/mosquitto.conf.example

pid_file /run/mosquitto/mosquitto.pid

persistence true
persistence_location /var/lib/mosquitto/

log_dest file /var/log/mosquitto/mosquitto.log

include_dir /etc/mosquitto/conf.d
";

/// `/etc/mosquitto/conf.d/README` from the same package (not loaded: not `*.conf`).
const DEBIAN_CONF_D_README: &str = "\
Any files placed in this directory that have a .conf ending will be loaded as
config files by the broker. Use this to make your local config.
";

#[test]
fn debian_default_configuration_loads() {
    let dir = TempDir::new("debian");
    let conf_d = dir.path().join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    fs::write(conf_d.join("README"), DEBIAN_CONF_D_README).unwrap();
    let text = DEBIAN_CONF.replace("/etc/mosquitto/conf.d", &conf_d.display().to_string());
    let main = dir.write("mosquitto.conf", &text);
    let loaded = Config::load(&main).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(
        c.pid_file,
        Some(PathBuf::from("/run/mosquitto/mosquitto.pid"))
    );
    assert!(c.persistence.enabled);
    // Our own file name beside Mosquitto's: its mosquitto.db (another format) is left alone.
    assert_eq!(
        c.persistence.path(),
        PathBuf::from("/var/lib/mosquitto/mqtt-broker.db")
    );
    assert_eq!(
        c.log.dest,
        [LogDest::File(PathBuf::from(
            "/var/log/mosquitto/mosquitto.log"
        ))]
    );
    // No listener: loopback only, anonymous allowed.
    assert!(c.local_only);
    assert_eq!(c.listeners, Config::local_only(None).listeners);

    // A typical local addition in conf.d.
    fs::write(
        conf_d.join("local.conf"),
        "listener 1883\nallow_anonymous false\npassword_file /etc/mosquitto/passwd\n",
    )
    .unwrap();
    let c = Config::load(&main).unwrap().config;
    assert!(!c.local_only);
    assert_eq!(ports(&c), [1883]);
    assert_eq!(
        c.listeners[0].security.password_file,
        Some(PathBuf::from("/etc/mosquitto/passwd"))
    );
}

// ---------------------------------------------------------------- TOML

const FULL_CONF: &str = "\
per_listener_settings true
max_inflight_messages 10
max_queued_messages 500
max_packet_size 65536
persistent_client_expiration 1d
sys_interval 30
log_dest stderr
log_dest file /var/log/x.log
log_type error
log_type warning
log_timestamp_format %H:%M:%S
persistence true
persistence_location /var/lib/mqtt/
persistence_sync periodic
user mqtt
listener 1883 127.0.0.1
allow_anonymous true
max_connections 100
listener 8883
certfile /c.pem
keyfile /k.pem
tls_version tlsv1.2
require_certificate true
use_identity_as_username true
password_file /etc/pw
acl_file /etc/acl
max_qos 1
listener 0 /run/mqtt.sock
allow_anonymous true
listener 9001
protocol websockets
mount_point ws/
";

const FULL_TOML: &str = r#"
max_inflight_messages = 10
max_queued_messages = 500
max_packet_size = 65536
persistent_client_expiration = "1d"
sys_interval = 30
log_dest = ["stderr", "file /var/log/x.log"]
log_type = ["error", "warning"]
log_timestamp_format = "%H:%M:%S"
persistence = true
persistence_location = "/var/lib/mqtt/"
persistence_sync = "periodic"
user = "mqtt"
# TOML has no order of meaning: this is applied first.
per_listener_settings = true

[[listener]]
port = 1883
bind_address = "127.0.0.1"
allow_anonymous = true
max_connections = 100

[[listener]]
port = 8883
certfile = "/c.pem"
keyfile = "/k.pem"
tls_version = "tlsv1.2"
require_certificate = true
use_identity_as_username = true
password_file = "/etc/pw"
acl_file = "/etc/acl"
max_qos = 1

[[listener]]
unix_socket = "/run/mqtt.sock"
allow_anonymous = true

[[listener]]
port = 9001
protocol = "websockets"
mount_point = "ws/"
"#;

#[test]
fn toml_and_mosquitto_syntax_give_the_same_config() {
    let a = conf(FULL_CONF);
    let b = toml(FULL_TOML);
    assert_eq!(a.config, b.config);
    assert!(a.warnings.is_empty() && b.warnings.is_empty());
    let c = a.config;
    assert_eq!(ports(&c), [1883, 8883, 0, 9001]);
    assert!(c.listeners[0].security.anonymous_allowed());
    assert!(!c.listeners[1].security.anonymous_allowed());
    assert!(c.listeners[1].tls.is_some());
    assert_eq!(
        c.listeners[2].unix_socket,
        Some(PathBuf::from("/run/mqtt.sock"))
    );
    assert_eq!(
        c.log.dest,
        [
            LogDest::Stderr,
            LogDest::File(PathBuf::from("/var/log/x.log"))
        ]
    );

    // The deprecated default listener works in TOML too.
    assert_eq!(
        conf("port 1884\nmax_qos 1\nlistener 1885\n").config,
        toml("port = 1884\nmax_qos = 1\n[[listener]]\nport = 1885\n").config
    );
    // So do warnings.
    let t = toml("connection = \"b\"\naddress = \"h:1883\"\ntopic = \"# both 0\"\nthreshold = 5\n");
    assert_eq!(
        warning_lines(&t, WarningKind::Unsupported),
        [(4, "threshold")]
    );
}

#[test]
fn toml_errors_name_the_key_and_its_line() {
    let e = toml_err("sys_interval = 5\n\nfoo = 1\n");
    assert_eq!(
        e.to_string(),
        "Error: Unknown configuration variable \"foo\" at test.toml:3."
    );
    let e = toml_err("[[listener]]\nport = 1883\n\nmax_qos = 3\n");
    assert_eq!(e.line(), Some(4));
    assert_eq!(e.option(), Some("max_qos"));
    let e = toml_err("[[listener]]\nport = 70000\n");
    assert_eq!(
        e.to_string(),
        "Error: Invalid port value (70000) at test.toml:1."
    );
    let e = toml_err("log_dest = [\"stderr\",\n  \"bogus\"]\n");
    assert_eq!(
        e.to_string(),
        "Error: Invalid log_dest value (bogus) at test.toml:2."
    );
    let e = toml_err("[bridge]\naddress = \"x\"\n");
    assert!(matches!(&e, ConfigError::UnknownOption { line: 1, option, .. } if option == "bridge"));
    let e = toml_err("sys_interval = 1.5\n");
    assert_eq!(
        e.to_string(),
        "Error: Invalid sys_interval value (1.5) at test.toml:1."
    );
    let e = toml_err("allow_anonymous = true\nper_listener_settings = false\n\n\"foo bar\" = 1\n");
    assert!(
        matches!(&e, ConfigError::UnknownOption { line: 4, option, .. } if option == "foo bar")
    );
    // Applied first: the security option after it is fine.
    assert!(
        toml("allow_anonymous = true\nper_listener_settings = true\n")
            .config
            .per_listener_settings
    );
}

#[test]
fn toml_syntax_errors_have_a_line() {
    let e = toml_err("sys_interval = 5\nmax_qos = \n");
    assert!(matches!(e, ConfigError::Toml { line: 2, .. }), "{e}");
    assert!(!e.to_string().contains('\n'));
    let e = toml_err("sys_interval = 5\nstarted = 1979-05-27\n");
    assert_eq!(e.line(), Some(2));
    assert!(e.to_string().contains("dates and times"), "{e}");
    let e = toml_err("a = 1\na = 2\n");
    assert!(matches!(e, ConfigError::Toml { line: 2, .. }), "{e}");
}

#[test]
fn toml_listener_tables() {
    let e = toml_err("[[listener]]\nbind_address = \"::1\"\n");
    assert_eq!(e.line(), Some(1));
    assert_eq!(e.option(), Some("listener"));
    let e = toml_err("[[listener]]\nport = 1\nunix_socket = \"/s\"\n");
    assert_eq!(e.line(), Some(3));
    let e = toml_err("[[listener]]\nport = \"1883\"\n");
    assert_eq!(e.line(), Some(2));
    let e = toml_err("[[listener]]\nport = 1883\nsys_interval = 5\n");
    assert!(
        matches!(&e, ConfigError::Misplaced { line: 3, option, .. } if option == "sys_interval")
    );
    let e = toml_err("[[listener]]\nport = 1883\n\n[listener.listener]\nport = 1\n");
    assert!(matches!(e, ConfigError::Misplaced { line: 4, .. }), "{e}");
    let e = toml_err("[[listener]]\nport = 1883\nbind_address = \"a b\"\n");
    assert_eq!(e.line(), Some(3));
    // A single [listener] table, and `bind_address` with port 0 as in mosquitto.conf.
    let c = toml("[listener]\nport = 0\nbind_address = \"/s\"\n").config;
    assert_eq!(c.listeners[0].unix_socket, Some(PathBuf::from("/s")));
    let c = toml("listener = [{ port = 1 }, { port = 2, max_qos = 0 }]\n").config;
    assert_eq!(ports(&c), [1, 2]);
    assert_eq!(c.listeners[1].max_qos, QoS::AtMostOnce);
}

#[test]
fn toml_include_dir_reads_toml_files() {
    let dir = TempDir::new("tomlinclude");
    let conf_d = dir.path().join("conf.d");
    fs::create_dir(&conf_d).unwrap();
    fs::write(conf_d.join("b.toml"), "[[listener]]\nport = 2\n").unwrap();
    fs::write(conf_d.join("a.toml"), "[[listener]]\nport = 1\n").unwrap();
    fs::write(conf_d.join("c.conf"), "listener 3\n").unwrap();
    let main = dir.write(
        "main.toml",
        &format!(
            "include_dir = {:?}\n[[listener]]\nport = 1883\n",
            conf_d.display().to_string()
        ),
    );
    assert_eq!(ports(&Config::load(&main).unwrap().config), [1, 2, 1883]);
    fs::write(conf_d.join("c.toml"), "\n\nbogus = 1\n").unwrap();
    let e = Config::load(&main).unwrap_err();
    assert_eq!(e.file(), conf_d.join("c.toml"));
    assert_eq!(e.line(), Some(3));
}

// ---------------------------------------------------------------- robustness

#[test]
fn errors_are_one_line() {
    let inputs = [
        "foo\n",
        "listener 99999\n",
        "listener 1\nmax_qos x\n",
        "per_listener_settings\n",
        "listener 1\nallow_anonymous true\nper_listener_settings true\n",
        "topic x\n",
        "mount_point x\n",
        "log_dest file /a\nlog_dest file /b\n",
    ];
    for input in inputs {
        let e = conf_err(input);
        let text = e.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.starts_with("Error: ") && text.ends_with('.'), "{text}");
        assert!(text.contains("test.conf:"), "{text}");
        assert!(e.option().is_some());
    }
}

#[test]
fn arbitrary_input_never_panics() {
    let fragments = [
        "listener",
        "port",
        "0",
        "1883",
        "-1",
        "#",
        " ",
        "\t",
        "\r",
        "\n",
        "max_qos",
        "include_dir",
        "log_dest",
        "file",
        "per_listener_settings",
        "true",
        "topic",
        "connection",
        "é",
        "\"",
        "persistent_client_expiration",
        "1y",
        "m",
        "mount_point",
        "+",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..2000 {
        let mut text = String::new();
        for _ in 0..12 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            text.push_str(fragments[(seed % fragments.len() as u64) as usize]);
            if seed % 3 == 0 {
                text.push(' ');
            }
        }
        let _ = Config::parse_mosquitto(&text, Path::new("fuzz.conf"));
        let _ = Config::parse_toml(&text, Path::new("fuzz.toml"));
    }
}
