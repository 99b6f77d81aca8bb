//! The checks made once every option is read, and the building of the public option types.
//!
//! Mosquitto checks in three places after the left-to-right pass, and the order decides which
//! message a script sees when several things are wrong: the end of `client_config_load`
//! (combinations of options, session expiry, property lists), then each tool's `main` (topic and
//! message present), then the library calls that configure the connection (client id, user
//! name, TLS options, port). The functions below keep that order.

use std::ffi::OsString;
use std::num::NonZeroU16;
use std::path::PathBuf;

use bytes::Bytes;
use mqtt_codec::{
    ConnectProperties, DisconnectProperties, ProtocolVersion, PublishProperties, QoS,
    RetainHandling, SubscribeProperties, TopicFilter, TopicName, UnsubscribeProperties,
    WillProperties,
};

use super::parser::{Config, PubMode};
use super::property::{self, PropCommand, RawProperty, RawValue, Unrepresentable};
use super::topic::valid_utf8;
use super::{
    cli, ConnectOptions, Failure, MessageSource, OutputOptions, PubOptions, RrOptions, SubOptions,
    TlsOptions, TlsVersion, Tool, WillOptions,
};

/// The property lists of the packets, typed.
struct Typed {
    connect: ConnectProperties,
    publish: PublishProperties,
    topic_alias: Option<NonZeroU16>,
    subscribe: SubscribeProperties,
    unsubscribe: UnsubscribeProperties,
    disconnect: DisconnectProperties,
    will: WillProperties,
}

fn usage(message: &str) -> Failure {
    Failure::Usage(message.to_owned())
}

/// An argument's bytes as a path (exactly, on Unix).
fn path(bytes: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        PathBuf::from(OsString::from_vec(bytes.to_vec()))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(OsString::from(String::from_utf8_lossy(bytes).into_owned()))
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn qos(level: u8) -> QoS {
    QoS::try_from(level).unwrap_or_default()
}

/// Checks one packet's property list and types it: "Error in CONNECT properties: ...".
fn checked<T>(
    cfg: &Config,
    command: PropCommand,
    packet: &str,
    list: &[RawProperty],
    convert: fn(&[RawProperty]) -> Result<T, Unrepresentable>,
) -> Result<T, Failure> {
    let fail =
        |why: &str| Failure::Usage(cfg.err(format!("Error in {packet} properties: {why}\n")));
    property::check_all(command, list).map_err(fail)?;
    convert(list).map_err(|_| fail(property::PROTOCOL_ERROR))
}

/// The end of Mosquitto's `client_config_load`.
fn config_load_tail(cfg: &mut Config) -> Result<Typed, Failure> {
    if cfg.will_payload.is_some() && cfg.will_topic.is_none() {
        return Err(usage(
            "Error: Will payload given, but no will topic given.\n",
        ));
    }
    if cfg.will_retain && cfg.will_topic.is_none() {
        return Err(usage(
            "Error: Will retain given, but no will topic given.\n",
        ));
    }
    if cfg.certfile.is_some() != cfg.keyfile.is_some() {
        return Err(usage(
            "Error: Both certfile and keyfile must be provided if one of them is set.\n",
        ));
    }
    if cfg.keyform.is_some() && cfg.keyfile.is_none() {
        return Err(usage(
            "Error: If keyform is set, keyfile must be also specified.\n",
        ));
    }
    if cfg.tls_engine_kpass_sha1.is_some() && (cfg.keyform.is_none() || cfg.tls_engine.is_none()) {
        return Err(usage("Error: when using tls-engine-kpass-sha1, both tls-engine and keyform must also be provided.\n"));
    }
    if (cfg.cafile.is_some() || cfg.capath.is_some()) && cfg.psk.is_some() {
        return Err(usage(
            "Error: Only one of --psk or --cafile/--capath may be used at once.\n",
        ));
    }
    if cfg.psk.is_some() && cfg.psk_identity.is_none() {
        return Err(usage("Error: --psk-identity required if --psk used.\n"));
    }
    let no_id = cfg.id_prefix.is_some() || cfg.id.is_none();
    if cfg.protocol_version == ProtocolVersion::V5 {
        // -c without -x means a session that never expires.
        if !cfg.clean_session && cfg.session_expiry_interval == -1 {
            cfg.session_expiry_interval = i64::from(u32::MAX);
        }
        if cfg.session_expiry_interval > 0 {
            if cfg.session_expiry_interval == i64::from(u32::MAX) && no_id {
                return Err(usage("Error: You must provide a client id if you are using an infinite session expiry interval.\n"));
            }
            let value = u32::try_from(cfg.session_expiry_interval).unwrap_or(u32::MAX);
            // Appended after the -D properties, so a -D of the same property is a duplicate.
            cfg.props.connect.push(RawProperty {
                id: mqtt_codec::PropertyId::SessionExpiryInterval,
                value: RawValue::Int32(value),
            });
        }
    } else if !cfg.clean_session && no_id {
        return Err(usage(
            "Error: You must provide a client id if you are using the -c option.\n",
        ));
    }
    if cfg.tool == Tool::Sub && cfg.topics.is_empty() {
        // 2.0.11 asks for a -t even when only -U is given.
        return Err(usage("Error: You must specify a topic to subscribe to.\n"));
    }
    let props = &cfg.props;
    let connect = checked(
        cfg,
        PropCommand::Connect,
        "CONNECT",
        &props.connect,
        property::into_connect,
    )?;
    let (publish, topic_alias) = checked(
        cfg,
        PropCommand::Publish,
        "PUBLISH",
        &props.publish,
        property::into_publish,
    )?;
    let subscribe = checked(
        cfg,
        PropCommand::Subscribe,
        "SUBSCRIBE",
        &props.subscribe,
        property::into_subscribe,
    )?;
    let unsubscribe = checked(
        cfg,
        PropCommand::Unsubscribe,
        "UNSUBSCRIBE",
        &props.unsubscribe,
        property::into_unsubscribe,
    )?;
    let disconnect = checked(
        cfg,
        PropCommand::Disconnect,
        "DISCONNECT",
        &props.disconnect,
        property::into_disconnect,
    )?;
    let will = checked(
        cfg,
        PropCommand::Will,
        "Will",
        &props.will,
        property::into_will,
    )?;
    Ok(Typed {
        connect,
        publish,
        topic_alias,
        subscribe,
        unsubscribe,
        disconnect,
        will,
    })
}

/// A publish topic that passed Mosquitto's checks but that no broker accepts: the empty topic.
/// libmosquitto refuses it only when publishing, with this message.
fn publish_topic(cfg: &Config, topic: &[u8]) -> Result<TopicName, Failure> {
    std::str::from_utf8(topic)
        .ok()
        .and_then(|t| TopicName::new(t).ok())
        .ok_or_else(|| {
            Failure::stderr(
                cfg.err("Error: Invalid input. Does your topic contain '+' or '#'?\n".to_owned()),
            )
        })
}

/// A filter already checked by the parser, typed.
fn filter(topic: &[u8]) -> Result<TopicFilter, Failure> {
    std::str::from_utf8(topic)
        .ok()
        .and_then(|t| TopicFilter::new(t).ok())
        .ok_or_else(|| {
            Failure::Usage(format!(
                "Error: Invalid subscription topic '{}', are all '+' and '#' wildcards correct?\n",
                text(topic)
            ))
        })
}

fn message_source(mode: &PubMode) -> Option<MessageSource> {
    match mode {
        PubMode::None => None,
        PubMode::Message(m) => Some(MessageSource::Message(m.clone())),
        PubMode::File(f) => Some(MessageSource::File(path(f))),
        PubMode::StdinFile => Some(MessageSource::Stdin),
        PubMode::StdinLine => Some(MessageSource::Lines),
        PubMode::Null => Some(MessageSource::Null),
    }
}

/// What Mosquitto does between parsing and connecting, and the resulting [`ConnectOptions`].
fn connection(cfg: &Config, typed: &Typed) -> Result<ConnectOptions, Failure> {
    let version = cfg.protocol_version;
    // client_id_generate: -I becomes the prefix and the process id.
    let id = match (&cfg.id_prefix, &cfg.id) {
        (Some(prefix), _) => {
            let mut id = prefix.clone();
            id.extend_from_slice(std::process::id().to_string().as_bytes());
            Some(id)
        }
        (None, id) => id.clone(),
    };
    // mosquitto_new refuses a persistent session without an id (possible in MQTT 5 with a
    // finite -x) and an empty id; a malformed id fails too, but without a message.
    let invalid_id = match cfg.tool {
        Tool::Pub => "Error: Invalid id.\n",
        Tool::Sub | Tool::Rr => "Error: Invalid id and/or clean_session.\n",
    };
    if (!cfg.clean_session && id.is_none()) || id.as_ref().is_some_and(Vec::is_empty) {
        return Err(Failure::stderr(cfg.err(invalid_id.to_owned())));
    }
    let client_id = match id {
        Some(id) if valid_utf8(&id) => Some(text(&id)),
        Some(_) => return Err(Failure::stderr(String::new())),
        None => None,
    };

    let will = match &cfg.will_topic {
        Some(topic) => {
            // libmosquitto refuses will properties on a connection that cannot carry them.
            if !typed.will.is_empty() && version != ProtocolVersion::V5 {
                return Err(Failure::stderr(
                    cfg.err("Error: Problem setting will.\n".to_owned()),
                ));
            }
            Some(WillOptions {
                topic: publish_topic(cfg, topic)?,
                payload: Bytes::from(cfg.will_payload.clone().unwrap_or_default()),
                qos: qos(cfg.will_qos),
                retain: cfg.will_retain,
                properties: typed.will.clone(),
            })
        }
        None => None,
    };

    if cfg.username.is_some() || cfg.password.is_some() {
        // MQTT 3 has no password without a user name; a user name is an MQTT string.
        let password_alone = version != ProtocolVersion::V5 && cfg.username.is_none();
        let bad_username = cfg
            .username
            .as_ref()
            .is_some_and(|u| u.len() > usize::from(u16::MAX) || !valid_utf8(u));
        let long_password = cfg
            .password
            .as_ref()
            .is_some_and(|p| p.len() > usize::from(u16::MAX));
        if (password_alone && cfg.password.is_some()) || bad_username || long_password {
            return Err(Failure::stderr(cfg.err(
                "Error: Problem setting username and/or password.\n".to_owned(),
            )));
        }
    }

    let tls = tls_options(cfg)?;

    let port = match cfg.port {
        Some(port) => port,
        None if cfg.cafile.is_some() || cfg.capath.is_some() || cfg.psk.is_some() => 8883,
        None => 1883,
    };
    // Only -L can give a port outside 0-65535; libmosquitto refuses it when connecting.
    let port = u16::try_from(port).map_err(|_| {
        Failure::stderr(
            cfg.err("Unable to connect (Invalid function arguments provided.).\n".to_owned()),
        )
    })?;
    let host = cfg
        .host
        .as_deref()
        .map(text)
        .unwrap_or_else(|| "localhost".to_owned());
    // Port 0 is libmosquitto's way of saying that the host is a Unix socket path.
    let unix = (port == 0).then(|| path(cfg.host.as_deref().unwrap_or(b"localhost")));

    Ok(ConnectOptions {
        host,
        port,
        unix,
        bind_address: cfg.bind_address.as_deref().map(text),
        nodelay: cfg.nodelay,
        use_srv: cfg.use_srv,
        version,
        client_id,
        keep_alive: cfg.keepalive,
        clean_session: cfg.clean_session,
        session_expiry: if version == ProtocolVersion::V5 {
            typed.connect.session_expiry_interval
        } else {
            None
        },
        username: cfg.username.as_deref().map(text),
        password: cfg.password.as_deref().map(text),
        will,
        max_inflight: cfg.max_inflight.and_then(|n| u16::try_from(n).ok()),
        tls,
        proxy: cfg.proxy.clone(),
        debug: cfg.debug,
        quiet: cfg.quiet,
        connect_properties: typed.connect.clone(),
        disconnect_properties: typed.disconnect.clone(),
    })
}

/// Mosquitto's `client_tls_opts_set`, minus the loading of files (left to the client).
fn tls_options(cfg: &Config) -> Result<Option<TlsOptions>, Failure> {
    let not_supported = |what: &str| {
        Failure::stderr(cfg.err(format!(
            "Error: {what} not supported by {}.\n",
            cfg.tool.name()
        )))
    };
    let has_ca = cfg.cafile.is_some() || cfg.capath.is_some();
    if !has_ca && cfg.psk.is_some() {
        return Err(not_supported("TLS-PSK (--psk, --psk-identity) is"));
    }
    if cfg.tls_engine.is_some() {
        return Err(not_supported("OpenSSL engines (--tls-engine) are"));
    }
    if let Some(form) = &cfg.keyform {
        if form.eq_ignore_ascii_case(b"engine") {
            return Err(not_supported("OpenSSL engine keys (--keyform engine) are"));
        }
        if !form.eq_ignore_ascii_case(b"pem") {
            return Err(Failure::stderr(
                cfg.err(
                    "Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n"
                        .to_owned(),
                ),
            ));
        }
    }
    let version = match &cfg.tls_version {
        None => None,
        Some(v) if v.eq_ignore_ascii_case(b"tlsv1.3") => Some(TlsVersion::Tls1_3),
        Some(v) if v.eq_ignore_ascii_case(b"tlsv1.2") => Some(TlsVersion::Tls1_2),
        Some(v) if v.eq_ignore_ascii_case(b"tlsv1.1") => Some(TlsVersion::Tls1_1),
        Some(_) => {
            return Err(Failure::stderr(cfg.err(
                "Error: Problem setting TLS options, check the options are valid.\n".to_owned(),
            )))
        }
    };
    // Explicit port 8883 without CA options makes libmosquitto trust the system's CAs.
    let use_os_certs = cfg.tls_use_os_certs || (!has_ca && cfg.port == Some(8883));
    if !has_ca && !use_os_certs {
        return Ok(None);
    }
    Ok(Some(TlsOptions {
        cafile: cfg.cafile.as_deref().map(path),
        capath: cfg.capath.as_deref().map(path),
        cert: cfg.certfile.as_deref().map(path),
        key: cfg.keyfile.as_deref().map(path),
        use_os_certs,
        insecure: cfg.insecure,
        version,
        alpn: cfg.tls_alpn.as_deref().map(text),
        ciphers: cfg.ciphers.as_deref().map(text),
    }))
}

/// `mqtt-pub`: the checks of `mosquitto_pub`'s `main`, then the options.
pub(crate) fn pub_options(mut cfg: Config) -> Result<PubOptions, Failure> {
    let typed = config_load_tail(&mut cfg)?;
    // mosquitto_pub loads -f before it looks for a topic, so an unreadable file is reported
    // first; the binary reads it again when publishing.
    if let PubMode::File(file) = &cfg.pub_mode {
        if std::fs::File::open(path(file)).is_err() {
            let name = text(file);
            return Err(Failure::stderr(cfg.err(format!(
                "Error: Unable to open file \"{name}\".\nError loading input file \"{name}\".\n"
            ))));
        }
    }
    let (Some(topic), Some(message)) = (&cfg.topic, message_source(&cfg.pub_mode)) else {
        return Err(Failure::Plain {
            stdout: cli::help_text(Tool::Pub),
            stderr: "Error: Both topic and message must be supplied.\n".to_owned(),
            code: 1,
        });
    };
    let topic = publish_topic(&cfg, topic)?;
    let connect = connection(&cfg, &typed)?;
    Ok(PubOptions {
        connect,
        topic,
        message,
        qos: qos(cfg.qos),
        retain: cfg.retain,
        repeat: cfg.repeat_count,
        repeat_delay: cfg.repeat_delay,
        properties: typed.publish,
        topic_alias: typed.topic_alias,
    })
}

/// `mqtt-sub`: the checks of `mosquitto_sub`'s `main`, then the options.
pub(crate) fn sub_options(mut cfg: Config) -> Result<SubOptions, Failure> {
    let typed = config_load_tail(&mut cfg)?;
    if cfg.no_retain && cfg.retained_only {
        return Err(Failure::stderr(
            "\nError: Combining '-R' and '--retained-only' makes no sense.\n",
        ));
    }
    let connect = connection(&cfg, &typed)?;
    let filters = |list: &[Vec<u8>]| {
        list.iter()
            .map(|t| filter(t))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(SubOptions {
        connect,
        topics: filters(&cfg.topics)?,
        filter_out: filters(&cfg.filter_outs)?,
        unsubscribe: filters(&cfg.unsub_topics)?,
        qos: qos(cfg.qos),
        count: cfg.msg_count,
        timeout: cfg.timeout,
        no_retained: cfg.no_retain,
        retained_only: cfg.retained_only,
        remove_retained: cfg.remove_retained,
        exit_after_sub: cfg.exit_after_sub,
        no_local: cfg.no_local,
        retain_as_published: cfg.retain_as_published,
        retain_handling: cfg.no_retain.then_some(RetainHandling::DoNotSend),
        subscribe_properties: typed.subscribe,
        unsubscribe_properties: typed.unsubscribe,
        random_filter: cfg.random_filter,
        verbose: cfg.verbose,
        no_eol: !cfg.eol,
        format: cfg.format.clone(),
        pretty: cfg.pretty,
    })
}

/// `mqtt-rr`: the checks of `mosquitto_rr`'s `main`, then the options.
pub(crate) fn rr_options(mut cfg: Config) -> Result<RrOptions, Failure> {
    let typed = config_load_tail(&mut cfg)?;
    let (Some(topic), Some(message), Some(response_topic)) = (
        &cfg.topic,
        message_source(&cfg.pub_mode),
        &cfg.response_topic,
    ) else {
        return Err(usage(
            "Error: All of topic, message, and response topic must be supplied.\n",
        ));
    };
    if typed.publish.response_topic.is_some() {
        return Err(Failure::stderr(cfg.err(
            "Error in PUBLISH properties: Duplicate response topic.\n".to_owned(),
        )));
    }
    let topic = publish_topic(&cfg, topic)?;
    let response_topic = publish_topic(&cfg, response_topic)?;
    let connect = connection(&cfg, &typed)?;
    let mut properties = typed.publish;
    properties.response_topic = Some(response_topic.clone());
    Ok(RrOptions {
        connect,
        topic,
        response_topic,
        message,
        qos: qos(cfg.qos),
        timeout: cfg.timeout,
        no_retained: cfg.no_retain,
        retain_as_published: cfg.retain_as_published,
        retain_handling: cfg.no_retain.then_some(RetainHandling::DoNotSend),
        properties,
        topic_alias: typed.topic_alias,
        subscribe_properties: typed.subscribe,
        output: OutputOptions {
            verbose: cfg.verbose,
            no_eol: !cfg.eol,
            format: cfg.format.clone(),
            pretty: cfg.pretty,
        },
    })
}
