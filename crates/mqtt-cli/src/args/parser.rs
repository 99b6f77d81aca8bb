//! The left-to-right pass over the options, as Mosquitto's `client_config_line_proc` makes it.
//!
//! Each word is looked up, exactly, among the spellings clap defines for the tool (so `-cd`,
//! `-tfoo` and `--topic=foo` are unknown options, as in Mosquitto), and applied to a [`Config`]
//! at once: values are converted and checked as they are met, so the first bad option is the
//! one reported, and a later option overrides an earlier one.

use std::time::Duration;

use mqtt_codec::ProtocolVersion;

use super::cli::{self, Arity, Spelling};
use super::numbers::{atof, atoi, strtol};
use super::property::{self, PropertyLists};
use super::topic::{pub_topic_ok, sub_topic_ok, valid_utf8};
use super::url::{parse_broker_url, parse_proxy_url, Socks5Proxy};
use super::{Failure, Tool};

/// How a publishing tool gets its payload (Mosquitto's `pub_mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PubMode {
    None,
    Message(Vec<u8>),
    File(Vec<u8>),
    StdinFile,
    StdinLine,
    Null,
}

/// Everything the options set, in Mosquitto's raw form (its `struct mosq_config`); `finish.rs`
/// validates the whole and turns it into the public option types.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) tool: Tool,
    /// `None` until -p, -L or --unix sets it ("PORT_UNDEFINED"); -L may set any `int`.
    pub(crate) port: Option<i64>,
    pub(crate) host: Option<Vec<u8>>,
    pub(crate) bind_address: Option<Vec<u8>>,
    pub(crate) nodelay: bool,
    pub(crate) use_srv: bool,
    pub(crate) proxy: Option<Socks5Proxy>,
    pub(crate) protocol_version: ProtocolVersion,
    pub(crate) id: Option<Vec<u8>>,
    pub(crate) id_prefix: Option<Vec<u8>>,
    pub(crate) keepalive: u16,
    pub(crate) clean_session: bool,
    /// -1 while unset ("the user can't set it to -1": `-x -1` stores `u32::MAX`).
    pub(crate) session_expiry_interval: i64,
    /// `-M`, when given.
    pub(crate) max_inflight: Option<i32>,
    pub(crate) username: Option<Vec<u8>>,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) will_topic: Option<Vec<u8>>,
    pub(crate) will_payload: Option<Vec<u8>>,
    pub(crate) will_qos: u8,
    pub(crate) will_retain: bool,
    pub(crate) debug: bool,
    pub(crate) quiet: bool,
    pub(crate) props: PropertyLists,

    pub(crate) cafile: Option<Vec<u8>>,
    pub(crate) capath: Option<Vec<u8>>,
    pub(crate) certfile: Option<Vec<u8>>,
    pub(crate) keyfile: Option<Vec<u8>>,
    pub(crate) keyform: Option<Vec<u8>>,
    pub(crate) ciphers: Option<Vec<u8>>,
    pub(crate) tls_version: Option<Vec<u8>>,
    pub(crate) tls_alpn: Option<Vec<u8>>,
    pub(crate) tls_engine: Option<Vec<u8>>,
    pub(crate) tls_engine_kpass_sha1: Option<Vec<u8>>,
    pub(crate) tls_use_os_certs: bool,
    pub(crate) insecure: bool,
    pub(crate) psk: Option<Vec<u8>>,
    pub(crate) psk_identity: Option<Vec<u8>>,

    /// The publish topic of mqtt-pub and mqtt-rr (the last -t or -L wins).
    pub(crate) topic: Option<Vec<u8>>,
    pub(crate) response_topic: Option<Vec<u8>>,
    pub(crate) pub_mode: PubMode,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    pub(crate) repeat_count: u32,
    pub(crate) repeat_delay: Duration,

    /// The subscriptions of mqtt-sub (-t and -L accumulate).
    pub(crate) topics: Vec<Vec<u8>>,
    pub(crate) filter_outs: Vec<Vec<u8>>,
    pub(crate) unsub_topics: Vec<Vec<u8>>,
    pub(crate) msg_count: Option<u32>,
    pub(crate) timeout: Option<u32>,
    pub(crate) exit_after_sub: bool,
    pub(crate) no_retain: bool,
    pub(crate) retained_only: bool,
    pub(crate) remove_retained: bool,
    pub(crate) retain_as_published: bool,
    pub(crate) no_local: bool,
    pub(crate) random_filter: Option<f64>,
    pub(crate) verbose: bool,
    pub(crate) eol: bool,
    pub(crate) format: Option<String>,
    pub(crate) pretty: bool,
}

impl Config {
    /// Mosquitto's `init_config`: the defaults before any option.
    pub(crate) fn new(tool: Tool) -> Config {
        Config {
            tool,
            port: None,
            host: None,
            bind_address: None,
            nodelay: false,
            use_srv: false,
            proxy: None,
            protocol_version: match tool {
                Tool::Rr => ProtocolVersion::V5,
                Tool::Pub | Tool::Sub => ProtocolVersion::V3_1_1,
            },
            id: None,
            id_prefix: None,
            keepalive: 60,
            clean_session: true,
            session_expiry_interval: -1,
            max_inflight: None,
            username: None,
            password: None,
            will_topic: None,
            will_payload: None,
            will_qos: 0,
            will_retain: false,
            debug: false,
            quiet: false,
            props: PropertyLists::default(),
            cafile: None,
            capath: None,
            certfile: None,
            keyfile: None,
            keyform: None,
            ciphers: None,
            tls_version: None,
            tls_alpn: None,
            tls_engine: None,
            tls_engine_kpass_sha1: None,
            tls_use_os_certs: false,
            insecure: false,
            psk: None,
            psk_identity: None,
            topic: None,
            response_topic: None,
            pub_mode: PubMode::None,
            qos: 0,
            retain: false,
            repeat_count: 1,
            repeat_delay: Duration::ZERO,
            topics: Vec::new(),
            filter_outs: Vec::new(),
            unsub_topics: Vec::new(),
            msg_count: None,
            timeout: None,
            exit_after_sub: false,
            no_retain: false,
            retained_only: false,
            remove_retained: false,
            retain_as_published: false,
            no_local: false,
            random_filter: None,
            verbose: false,
            eol: true,
            format: None,
            pretty: false,
        }
    }

    /// Text for messages that quote an argument.
    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    /// A message Mosquitto prints with `err_printf`, which `--quiet` silences.
    pub(crate) fn err(&self, message: String) -> String {
        if self.quiet {
            String::new()
        } else {
            message
        }
    }
}

/// The accepted spellings of a tool, looked up word by word.
pub(crate) struct OptionTable {
    spellings: Vec<Spelling>,
}

impl OptionTable {
    /// The table of `tool`, from its clap definition.
    pub(crate) fn new(tool: Tool) -> OptionTable {
        OptionTable {
            spellings: cli::spellings(tool),
        }
    }

    fn lookup(&self, word: &[u8]) -> Option<&Spelling> {
        self.spellings.iter().find(|s| s.word.as_bytes() == word)
    }
}

/// A parse error that Mosquitto follows with "Use '... --help' to see usage.".
fn usage(message: impl Into<String>) -> Failure {
    Failure::Usage(message.into())
}

/// Mosquitto's message for an option given last, without its value. The text names the short
/// form even when the long one was used, as Mosquitto does.
fn missing_value(id: &str) -> String {
    let (option, what) = match id {
        "bind_address" => ("-A", "no address specified"),
        "cafile" => ("--cafile", "no file specified"),
        "capath" => ("--capath", "no directory specified"),
        "cert" => ("--cert", "no file specified"),
        "ciphers" => ("--ciphers", "no ciphers specified"),
        "count" => ("-C", "no count specified"),
        "response_topic" => ("-e", "no response topic specified"),
        "file" => ("-f", "no file specified"),
        "format" => ("-F", "no format specified"),
        "host" => ("-h", "no host specified"),
        "id" => ("-i", "no id specified"),
        "id_prefix" => ("-I", "no id prefix specified"),
        "keepalive" => ("-k", "no keepalive specified"),
        "key" => ("--key", "no file specified"),
        "keyform" => ("--keyform", "no keyform specified"),
        "url" => ("-L", "no URL specified"),
        "message" => ("-m", "no message specified"),
        "max_inflight" => ("-M", "max_inflight not specified"),
        "port" => ("-p", "no port specified"),
        "password" => ("-P", "no password specified"),
        "proxy" => ("--proxy", "no proxy url specified"),
        "psk" => ("--psk", "no key specified"),
        "psk_identity" => ("--psk-identity", "no identity specified"),
        "qos" => ("-q", "no QoS specified"),
        "random_filter" => ("--random-filter", "no chance specified"),
        "repeat" => ("--repeat", "no count specified"),
        "repeat_delay" => ("--repeat-delay", "no time specified"),
        "topic" => ("-t", "no topic specified"),
        "filter_out" => ("-T", "no topic filter specified"),
        "tls_alpn" => ("--tls-alpn", "no protocol specified"),
        "tls_engine" => ("--tls-engine", "no engine_id specified"),
        "tls_engine_kpass_sha1" => ("--tls-engine-kpass-sha1", "no kpass sha1 specified"),
        "tls_version" => ("--tls-version", "no version specified"),
        "unsubscribe" => ("-U", "no unsubscribe topic specified"),
        "username" => ("-u", "no username specified"),
        "unix" => ("--unix", "no socket path specified"),
        "protocol_version" => ("--protocol-version", "no version specified"),
        "timeout" => ("-W", "no timeout specified"),
        "will_payload" => ("--will-payload", "no will payload specified"),
        "will_qos" => ("--will-qos", "no will QoS specified"),
        "will_topic" => ("--will-topic", "no will topic specified"),
        "session_expiry" => ("-x", "no session expiry interval specified"),
        "completions" => ("--completions", "no shell specified"),
        _ => ("An option", "no value specified"),
    };
    format!("Error: {option} argument given but {what}.\n\n")
}

/// Mosquitto's `cfg_add_topic` for a publish topic (`-t` of mqtt-pub and mqtt-rr, `-L`).
fn check_publish_topic(topic: &[u8], what: &str) -> Result<(), Failure> {
    if !valid_utf8(topic) {
        return Err(usage(format!(
            "Error: Malformed UTF-8 in {what} argument.\n\n"
        )));
    }
    if !pub_topic_ok(topic) {
        return Err(usage(format!(
            "Error: Invalid publish topic '{}', does it contain '+' or '#'?\n",
            Config::text(topic)
        )));
    }
    Ok(())
}

/// `cfg_add_topic` for a subscription (`-t` of mqtt-sub, `-L`): also checked by the codec, whose
/// stricter rules (no empty filter, a valid `$share/` name) get Mosquitto's message too.
fn check_subscription(filter: &[u8], what: &str) -> Result<(), Failure> {
    check_filter(filter, what, "subscription")
}

fn check_filter(filter: &[u8], what: &str, kind: &str) -> Result<(), Failure> {
    if !valid_utf8(filter) {
        return Err(usage(format!(
            "Error: Malformed UTF-8 in {what} argument.\n\n"
        )));
    }
    let codec_ok =
        std::str::from_utf8(filter).is_ok_and(|f| mqtt_codec::TopicFilter::new(f).is_ok());
    if !sub_topic_ok(filter) || !codec_ok {
        return Err(usage(format!(
            "Error: Invalid {kind} topic '{}', are all '+' and '#' wildcards correct?\n",
            Config::text(filter)
        )));
    }
    Ok(())
}

/// Adds the topic of `-t` or `-L` to the tool's topic(s).
fn add_topic(cfg: &mut Config, topic: &[u8], what: &str) -> Result<(), Failure> {
    match cfg.tool {
        Tool::Pub | Tool::Rr => {
            check_publish_topic(topic, what)?;
            cfg.topic = Some(topic.to_vec());
        }
        Tool::Sub => {
            check_subscription(topic, what)?;
            cfg.topics.push(topic.to_vec());
        }
    }
    Ok(())
}

/// A QoS as Mosquitto reads it (`atoi`, then 0-2).
fn qos_value(value: &[u8]) -> Option<u8> {
    u8::try_from(atoi(value)).ok().filter(|q| *q <= 2)
}

/// Applies all options in `args` (which does not include the program name) to `cfg`.
pub(crate) fn apply_all(
    cfg: &mut Config,
    table: &OptionTable,
    args: &[Vec<u8>],
) -> Result<(), Failure> {
    let mut i = 0;
    while let Some(word) = args.get(i) {
        let Some(spelling) = table.lookup(word) else {
            return Err(usage(format!(
                "Error: Unknown option '{}'.\n",
                Config::text(word)
            )));
        };
        i = match spelling.arity {
            Arity::None => {
                apply_flag(cfg, &spelling.id, word)?;
                i + 1
            }
            Arity::One => {
                apply_valued(cfg, &spelling.id, word, args.get(i + 1).map(Vec::as_slice))?;
                i + 2
            }
            Arity::Property => {
                let last = property::parse(&mut cfg.props, args, i + 1)
                    .map_err(|e| Failure::Usage(e.message))?;
                // Any -D makes the connection MQTT 5 (a later -V may still change it).
                cfg.protocol_version = ProtocolVersion::V5;
                last + 1
            }
        };
    }
    Ok(())
}

/// Applies an option that takes no value.
fn apply_flag(cfg: &mut Config, id: &str, word: &[u8]) -> Result<(), Failure> {
    match id {
        "nodelay" => cfg.nodelay = true,
        "srv" => cfg.use_srv = true,
        "disable_clean_session" => cfg.clean_session = false,
        "will_retain" => cfg.will_retain = true,
        "debug" => cfg.debug = true,
        "quiet" => cfg.quiet = true,
        "tls_use_os_certs" => cfg.tls_use_os_certs = true,
        "insecure" => cfg.insecure = true,
        "help" => return Err(Failure::Help),
        "version" => return Err(Failure::Version),
        "stdin_file" => set_pub_mode(cfg, PubMode::StdinFile)?,
        "stdin_line" => set_pub_mode(cfg, PubMode::StdinLine)?,
        "null_message" => set_pub_mode(cfg, PubMode::Null)?,
        "retain" => cfg.retain = true,
        "exit_after_sub" => cfg.exit_after_sub = true,
        "no_retained" => cfg.no_retain = true,
        "retained_only" => cfg.retained_only = true,
        "remove_retained" => cfg.remove_retained = true,
        "retain_as_published" => cfg.retain_as_published = true,
        "no_local" => cfg.no_local = true,
        "verbose" => cfg.verbose = true,
        "no_eol" => cfg.eol = false,
        "pretty" => cfg.pretty = true,
        // Only reachable if cli.rs gains an option this match lacks; a test guards it.
        _ => {
            return Err(usage(format!(
                "Error: Unknown option '{}'.\n",
                Config::text(word)
            )))
        }
    }
    Ok(())
}

/// Sets the message source, refusing a second one (-m, -f, -s, -l, -n are exclusive).
fn set_pub_mode(cfg: &mut Config, mode: PubMode) -> Result<(), Failure> {
    if cfg.pub_mode != PubMode::None {
        return Err(usage(
            "Error: Only one type of message can be sent at once.\n\n",
        ));
    }
    cfg.pub_mode = mode;
    Ok(())
}

/// Applies an option that takes one value; `value` is `None` when the option came last.
fn apply_valued(
    cfg: &mut Config,
    id: &str,
    word: &[u8],
    value: Option<&[u8]>,
) -> Result<(), Failure> {
    // Checks Mosquitto makes before it looks for the value.
    match id {
        "message" | "file" if cfg.pub_mode != PubMode::None => {
            return Err(usage(
                "Error: Only one type of message can be sent at once.\n\n",
            ));
        }
        "id" if cfg.id_prefix.is_some() => {
            return Err(usage(
                "Error: -i and -I argument cannot be used together.\n\n",
            ));
        }
        "id_prefix" if cfg.id.is_some() => {
            return Err(usage(
                "Error: -i and -I argument cannot be used together.\n\n",
            ));
        }
        _ => {}
    }
    let Some(v) = value else {
        return Err(usage(missing_value(id)));
    };
    let owned = || Some(v.to_vec());
    match id {
        "host" => cfg.host = owned(),
        "port" => {
            let port = atoi(v);
            if !(0..=65535).contains(&port) {
                return Err(usage(format!("Error: Invalid port given: {port}\n")));
            }
            cfg.port = Some(i64::from(port));
        }
        "unix" => {
            // Port 0 is how libmosquitto says "the host is a socket path".
            cfg.host = owned();
            cfg.port = Some(0);
        }
        "url" => apply_url(cfg, v)?,
        "bind_address" => cfg.bind_address = owned(),
        "proxy" => {
            cfg.proxy = Some(parse_proxy_url(v).map_err(|e| Failure::Usage(cfg.err(e.message())))?)
        }
        "protocol_version" => {
            cfg.protocol_version = match v {
                b"mqttv31" | b"31" => ProtocolVersion::V3_1,
                b"mqttv311" | b"311" => ProtocolVersion::V3_1_1,
                b"mqttv5" | b"5" => ProtocolVersion::V5,
                _ => return Err(usage("Error: Invalid protocol version argument given.\n\n")),
            }
        }
        "id" => cfg.id = owned(),
        "id_prefix" => cfg.id_prefix = owned(),
        "keepalive" => {
            cfg.keepalive = u16::try_from(atoi(v))
                .ok()
                .filter(|k| *k >= 5)
                .ok_or_else(|| {
                    usage(
                    "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n",
                )
                })?
        }
        "session_expiry" => cfg.session_expiry_interval = session_expiry(v)?,
        "max_inflight" => {
            let n = atoi(v);
            if n < 1 {
                return Err(usage(
                    "Error: Maximum inflight messages must be greater than 0.\n\n",
                ));
            }
            cfg.max_inflight = Some(n);
        }
        "username" => cfg.username = owned(),
        "password" => cfg.password = owned(),
        "will_topic" => {
            if !valid_utf8(v) {
                return Err(usage(
                    "Error: Malformed UTF-8 in --will-topic argument.\n\n",
                ));
            }
            // An empty will topic passes libmosquitto's check but makes brokers drop the
            // connection; it gets the message of a wildcard here.
            if !pub_topic_ok(v) || v.is_empty() {
                return Err(usage(format!(
                    "Error: Invalid will topic '{}', does it contain '+' or '#'?\n",
                    Config::text(v)
                )));
            }
            cfg.will_topic = owned();
        }
        "will_payload" => cfg.will_payload = owned(),
        "will_qos" => {
            let q = atoi(v);
            cfg.will_qos =
                qos_value(v).ok_or_else(|| usage(format!("Error: Invalid will QoS {q}.\n\n")))?;
        }
        "cafile" => cfg.cafile = owned(),
        "capath" => cfg.capath = owned(),
        "cert" => cfg.certfile = owned(),
        "key" => cfg.keyfile = owned(),
        "keyform" => cfg.keyform = owned(),
        "ciphers" => cfg.ciphers = owned(),
        "tls_version" => cfg.tls_version = owned(),
        "tls_alpn" => cfg.tls_alpn = owned(),
        "tls_engine" => cfg.tls_engine = owned(),
        "tls_engine_kpass_sha1" => cfg.tls_engine_kpass_sha1 = owned(),
        "psk" => cfg.psk = owned(),
        "psk_identity" => cfg.psk_identity = owned(),
        "completions" => {
            let shell = Config::text(v);
            return Err(match cli::completion_script(cfg.tool, &shell) {
                Some(script) => Failure::Completions(script),
                None => usage(format!(
                    "Error: Unknown shell '{shell}' for --completions: use bash, zsh, fish, elvish or powershell.\n\n"
                )),
            });
        }
        "topic" => add_topic(cfg, v, "-t")?,
        "response_topic" => {
            if !valid_utf8(v) {
                return Err(usage("Error: Malformed UTF-8 in -e argument.\n\n"));
            }
            // An empty response topic would make mqtt-rr wait on a subscription brokers
            // refuse; it is refused here with the message of a wildcard.
            if !pub_topic_ok(v) || v.is_empty() {
                return Err(usage(format!(
                    "Error: Invalid response topic '{}', does it contain '+' or '#'?\n",
                    Config::text(v)
                )));
            }
            cfg.response_topic = owned();
        }
        "message" => {
            // The longest payload MQTT can carry (spec 2.1.4: 268,435,455 bytes in all).
            if v.len() > 268_435_455 {
                return Err(usage(
                    "Error: Message length must be less than 268435455 bytes.\n\n",
                ));
            }
            cfg.pub_mode = PubMode::Message(v.to_vec());
        }
        "file" => cfg.pub_mode = PubMode::File(v.to_vec()),
        "qos" => {
            let q = atoi(v);
            cfg.qos =
                qos_value(v).ok_or_else(|| usage(format!("Error: Invalid QoS given: {q}\n")))?;
        }
        "repeat" => {
            cfg.repeat_count = u32::try_from(atoi(v))
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| usage("Error: --repeat argument must be >0.\n\n"))?
        }
        "repeat_delay" => {
            // Mosquitto converts through a float and keeps whole microseconds.
            let seconds = atof(v) as f32;
            if seconds < 0.0 {
                return Err(usage("Error: --repeat-delay argument must be >=0.0.\n\n"));
            }
            cfg.repeat_delay = Duration::from_micros((seconds * 1.0e6) as u64);
        }
        "filter_out" => {
            check_filter(v, "-T", "filter")?;
            cfg.filter_outs.push(v.to_vec());
        }
        "unsubscribe" => {
            check_filter(v, "-U", "unsubscribe")?;
            cfg.unsub_topics.push(v.to_vec());
        }
        "count" => {
            let n = atoi(v);
            cfg.msg_count = Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| usage(format!("Error: Invalid message count \"{n}\".\n\n")))?,
            );
        }
        "timeout" => {
            let n = atoi(v);
            cfg.timeout = Some(
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| usage(format!("Error: Invalid timeout \"{n}\".\n\n")))?,
            );
        }
        "random_filter" => {
            // Mosquitto 2.0.11 stores ten times the percentage as an int and accepts 1 to
            // 10000 of those units, so 0.1 to 1000 are accepted; above 100 means "all".
            let percent = atof(v);
            let units = (10.0 * percent) as i32;
            if !(1..=10_000).contains(&units) {
                return Err(usage(
                    "Error: --random-filter chance must be between 0.1-100.0\n\n",
                ));
            }
            cfg.random_filter = Some(f64::from(units) / 10.0);
        }
        "format" => {
            let format =
                std::str::from_utf8(v).map_err(|_| usage("Error: Invalid format specifier.\n"))?;
            check_format(format)?;
            cfg.format = Some(format.to_owned());
        }
        // Only reachable if cli.rs gains an option this match lacks; a test guards it.
        _ => {
            return Err(usage(format!(
                "Error: Unknown option '{}'.\n",
                Config::text(word)
            )))
        }
    }
    Ok(())
}

/// `-L`: scheme, topic, credentials, host and port, applied in Mosquitto's order.
fn apply_url(cfg: &mut Config, url: &[u8]) -> Result<(), Failure> {
    let parsed = parse_broker_url(url).map_err(|e| usage(e.message()))?;
    if parsed.tls {
        cfg.tls_use_os_certs = true;
    }
    add_topic(cfg, &parsed.topic, "-L topic")?;
    if parsed.username.is_some() {
        cfg.username = parsed.username;
    }
    if parsed.password.is_some() {
        cfg.password = parsed.password;
    }
    cfg.host = Some(parsed.host);
    cfg.port = Some(parsed.port);
    Ok(())
}

/// `-x`: `∞`, or a whole `strtol` (base 0) from -1 to 4294967295, where -1 means 4294967295.
fn session_expiry(v: &[u8]) -> Result<i64, Failure> {
    if v == "∞".as_bytes() {
        return Ok(i64::from(u32::MAX));
    }
    let parsed = strtol(v, 0);
    if parsed.consumed == 0 || parsed.consumed != v.len() {
        return Err(usage("Error: session-expiry-interval not a number.\n\n"));
    }
    if parsed.value > i64::from(u32::MAX) || parsed.value < -1 {
        return Err(usage("Error: session-expiry-interval out of range.\n\n"));
    }
    Ok(if parsed.value == -1 {
        i64::from(u32::MAX)
    } else {
        parsed.value
    })
}

/// Mosquitto's `check_format` for `-F`: every `%` and `@` sequence and `\` escape is complete
/// and known. (Formatting itself is `format.rs`'s job.)
pub(crate) fn check_format(format: &str) -> Result<(), Failure> {
    let s = format.as_bytes();
    let len = s.len();
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let incomplete = || usage("Error: Incomplete format specifier.\n");
    let mut i = 0;
    while i < len {
        match at(i) {
            b'%' => {
                if i == len - 1 {
                    return Err(incomplete());
                }
                if matches!(at(i + 1), b'0' | b'-') {
                    i += 1;
                    if i == len - 1 {
                        return Err(incomplete());
                    }
                }
                while at(i + 1).is_ascii_digit() {
                    i += 1;
                    if i == len - 1 {
                        return Err(incomplete());
                    }
                }
                if at(i + 1) == b'.' {
                    i += 1;
                    if i == len - 1 {
                        return Err(incomplete());
                    }
                    while at(i + 1).is_ascii_digit() {
                        i += 1;
                        if i == len - 1 {
                            return Err(incomplete());
                        }
                    }
                }
                let c = at(i + 1);
                if !b"%ACDEFIlmPpqRSrtjJUxX".contains(&c) {
                    return Err(usage(format!(
                        "Error: Invalid format specifier '{}'.\n",
                        char_at(format, i + 1)
                    )));
                }
                i += 1;
            }
            b'@' => {
                if i == len - 1 {
                    return Err(incomplete());
                }
                i += 1;
            }
            b'\\' => {
                if i == len - 1 {
                    return Err(usage("Error: Incomplete escape specifier.\n"));
                }
                if !b"\\0aenrtv".contains(&at(i + 1)) {
                    return Err(usage(format!(
                        "Error: Invalid escape specifier '{}'.\n",
                        char_at(format, i + 1)
                    )));
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The character starting at byte `i` (Mosquitto prints one byte; for ASCII that is the same).
fn char_at(s: &str, i: usize) -> char {
    s.get(i..).and_then(|t| t.chars().next()).unwrap_or('?')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_error(f: &str) -> String {
        match check_format(f) {
            Err(Failure::Usage(m)) => m,
            other => panic!("{f}: {other:?}"),
        }
    }

    #[test]
    fn formats_are_checked_like_mosquitto() {
        assert!(
            check_format("%t %p %x %X %l %m %q %r %j %J %I %U %A %C %D %E %F %P %R %S %%").is_ok()
        );
        assert!(check_format("%05t %-10.3p %.2t @Y-@m @@ \\n\\t\\\\ \\0 \\a \\e \\r \\v").is_ok());
        assert!(check_format("%00t").is_ok());
        assert_eq!(format_error("%z"), "Error: Invalid format specifier 'z'.\n");
        assert_eq!(
            format_error("%0-t"),
            "Error: Invalid format specifier '-'.\n"
        );
        for incomplete in ["%", "%-", "%10", "%10.", "%.5", "%05", "@"] {
            assert_eq!(
                format_error(incomplete),
                "Error: Incomplete format specifier.\n"
            );
        }
        assert_eq!(format_error("x\\"), "Error: Incomplete escape specifier.\n");
        assert_eq!(
            format_error("\\q"),
            "Error: Invalid escape specifier 'q'.\n"
        );
    }

    #[test]
    fn session_expiry_accepts_mosquittos_spellings() {
        let ok = |v: &str| session_expiry(v.as_bytes()).ok();
        assert_eq!(ok("0"), Some(0));
        assert_eq!(ok("-1"), Some(4_294_967_295));
        assert_eq!(ok("∞"), Some(4_294_967_295));
        assert_eq!(ok("4294967295"), Some(4_294_967_295));
        assert_eq!(ok("0x10"), Some(16));
        assert_eq!(ok("010"), Some(8));
        assert_eq!(ok(" 5"), Some(5));
        assert_eq!(ok("5 "), None);
        assert_eq!(ok(""), None);
        assert_eq!(ok("-2"), None);
        assert_eq!(ok("4294967296"), None);
    }

    #[test]
    fn every_clap_option_is_handled() {
        for tool in [Tool::Pub, Tool::Sub, Tool::Rr] {
            let table = OptionTable::new(tool);
            for s in &table.spellings {
                let mut cfg = Config::new(tool);
                let result = match s.arity {
                    Arity::None => apply_flag(&mut cfg, &s.id, s.word.as_bytes()),
                    Arity::One => apply_valued(&mut cfg, &s.id, s.word.as_bytes(), Some(b"1")),
                    Arity::Property => continue,
                };
                if let Err(Failure::Usage(m)) = &result {
                    assert!(
                        !m.contains("Unknown option"),
                        "{}: {} is not handled",
                        tool.name(),
                        s.word
                    );
                }
                assert!(
                    !missing_value(&s.id).starts_with("Error: An option") || s.arity == Arity::None,
                    "{}: {} has no missing-value message",
                    tool.name(),
                    s.word
                );
            }
        }
    }
}
