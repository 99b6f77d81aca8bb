//! The options of the three tools, defined once with clap's derive API.
//!
//! These definitions are the single source of each option's names, value names and help text:
//! `--help` and `--completions` are rendered from them, and the parser in `parser.rs` builds its
//! table of accepted spellings from them. The values themselves are not filled in by clap,
//! because Mosquitto's clients are parsed by hand, left to right, and scripts depend on that
//! order: the first bad option is the one reported, a later option overrides an earlier one
//! (`-L` then `-p`), `-t` accumulates in `mqtt-sub` but not in `mqtt-pub`, `-D` takes three or four
//! words depending on the property, and a value may start with `-`. Clap cannot express those
//! rules, so the structs below are never instantiated from arguments (hence `dead_code`).
#![allow(dead_code)]

use clap::{ArgAction, Args, CommandFactory, Parser};

use super::Tool;

/// Options shared by the three tools: where to connect, as whom, and how.
#[derive(Args, Debug)]
#[command(next_help_heading = "Connection")]
pub(crate) struct ConnectArgs {
    /// Broker host name or address [default: localhost]
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    host: Option<String>,
    /// Broker port [default: 1883, or 8883 when --cafile or --capath is given]
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    port: Option<String>,
    /// Connect through this Unix domain socket instead of TCP
    #[arg(long = "unix", value_name = "PATH")]
    unix: Option<String>,
    /// Broker, credentials and topic as one URL: mqtt(s)://[user[:password]@]host[:port]/topic
    #[arg(short = 'L', long = "url", value_name = "URL")]
    url: Option<String>,
    /// Local address to bind the connection to (chooses the network interface)
    #[arg(short = 'A', value_name = "ADDRESS")]
    bind_address: Option<String>,
    /// Disable Nagle's algorithm: lower latency at the cost of more, smaller packets
    #[arg(long = "nodelay")]
    nodelay: bool,
    /// Find the broker through a DNS SRV lookup of _mqtt._tcp.HOST
    #[arg(short = 'S')]
    srv: bool,
    /// SOCKS5 proxy to connect through: socks5h://[user[:password]@]host[:port]
    #[arg(long = "proxy", value_name = "URL")]
    proxy: Option<String>,
    /// MQTT version: 5 (mqttv5), 311 (mqttv311) or 31 (mqttv31)
    #[arg(short = 'V', long = "protocol-version", value_name = "VERSION")]
    protocol_version: Option<String>,
    /// Client identifier [default: none; the broker assigns one]
    #[arg(short = 'i', long = "id", value_name = "ID")]
    id: Option<String>,
    /// Client identifier made of this prefix and the process id
    #[arg(short = 'I', long = "id-prefix", value_name = "PREFIX")]
    id_prefix: Option<String>,
    /// Keep-alive interval, 5 to 65535 seconds [default: 60]
    #[arg(short = 'k', long = "keepalive", value_name = "SECONDS")]
    keepalive: Option<String>,
    /// Keep the session when disconnected (persistent session; requires -i)
    #[arg(short = 'c', long = "disable-clean-session")]
    disable_clean_session: bool,
    /// MQTT 5 session expiry: 0-4294967294 seconds, or -1, 4294967295 or ∞ for never
    /// [default: -1 with -c, else 0]
    #[arg(short = 'x', value_name = "SECONDS", allow_hyphen_values = true)]
    session_expiry: Option<String>,
    /// Maximum QoS 1 and 2 messages in flight at once [default: 20]
    #[arg(short = 'M', value_name = "COUNT")]
    max_inflight: Option<String>,
    /// User name to authenticate with
    #[arg(
        short = 'u',
        long = "username",
        value_name = "USER",
        help_heading = "Authentication"
    )]
    username: Option<String>,
    /// Password to authenticate with
    #[arg(
        short = 'P',
        long = "pw",
        value_name = "PASSWORD",
        help_heading = "Authentication"
    )]
    password: Option<String>,
    /// Topic of the will, published by the broker if the connection is lost
    #[arg(long = "will-topic", value_name = "TOPIC", help_heading = "Will")]
    will_topic: Option<String>,
    /// Payload of the will [default: empty]
    #[arg(long = "will-payload", value_name = "PAYLOAD", help_heading = "Will")]
    will_payload: Option<String>,
    /// QoS of the will: 0, 1 or 2 [default: 0]
    #[arg(long = "will-qos", value_name = "QOS", help_heading = "Will")]
    will_qos: Option<String>,
    /// Ask the broker to retain the will
    #[arg(long = "will-retain", help_heading = "Will")]
    will_retain: bool,
}

/// TLS options, shared by the three tools.
#[derive(Args, Debug)]
#[command(next_help_heading = "TLS")]
pub(crate) struct TlsArgs {
    /// File of trusted CA certificates (PEM); enables TLS
    #[arg(long = "cafile", value_name = "FILE")]
    cafile: Option<String>,
    /// Directory of trusted CA certificates (PEM); enables TLS
    #[arg(long = "capath", value_name = "DIR")]
    capath: Option<String>,
    /// Client certificate (PEM), for brokers that require one; needs --key
    #[arg(long = "cert", value_name = "FILE")]
    cert: Option<String>,
    /// Private key of the client certificate (PEM); needs --cert
    #[arg(long = "key", value_name = "FILE")]
    key: Option<String>,
    /// Format of --key: pem (engine is not supported)
    #[arg(long = "keyform", value_name = "FORM")]
    keyform: Option<String>,
    /// Trust the operating system's CA certificates; enables TLS
    #[arg(long = "tls-use-os-certs")]
    tls_use_os_certs: bool,
    /// Do not check that the certificate's name matches the host (insecure)
    #[arg(long = "insecure")]
    insecure: bool,
    /// TLS version: tlsv1.3, tlsv1.2 or tlsv1.1
    #[arg(long = "tls-version", value_name = "VERSION")]
    tls_version: Option<String>,
    /// ALPN protocol to offer during the TLS handshake
    #[arg(long = "tls-alpn", value_name = "PROTOCOL")]
    tls_alpn: Option<String>,
    /// OpenSSL cipher list (accepted for compatibility)
    #[arg(long = "ciphers", value_name = "CIPHERS")]
    ciphers: Option<String>,
    /// OpenSSL engine (not supported)
    #[arg(long = "tls-engine", value_name = "ENGINE")]
    tls_engine: Option<String>,
    /// SHA-1 of the key password for the OpenSSL engine (not supported)
    #[arg(long = "tls-engine-kpass-sha1", value_name = "SHA1")]
    tls_engine_kpass_sha1: Option<String>,
    /// TLS-PSK key in hexadecimal (not supported)
    #[arg(long = "psk", value_name = "HEX")]
    psk: Option<String>,
    /// TLS-PSK identity (not supported)
    #[arg(long = "psk-identity", value_name = "IDENTITY")]
    psk_identity: Option<String>,
}

/// `-D`, shared by the three tools.
#[derive(Args, Debug)]
#[command(next_help_heading = "MQTT 5")]
pub(crate) struct PropertyArgs {
    /// MQTT 5 property: COMMAND is connect, publish, subscribe, unsubscribe, disconnect or will;
    /// user-property takes a name and a value (implies -V 5)
    #[arg(
        short = 'D',
        long = "property",
        value_names = ["COMMAND", "PROPERTY", "VALUE"],
        num_args = 3..=4,
        allow_hyphen_values = true
    )]
    property: Vec<String>,
}

/// Diagnostics, and options about the program itself.
#[derive(Args, Debug)]
#[command(next_help_heading = "Other")]
pub(crate) struct MetaArgs {
    /// Print debug messages (packets sent and received)
    #[arg(short = 'd', long = "debug")]
    debug: bool,
    /// Do not print error messages
    #[arg(long = "quiet")]
    quiet: bool,
    /// Print this help and exit (with status 1, as Mosquitto does)
    #[arg(long = "help")]
    help: bool,
    /// Print the version and exit (with status 1, as Mosquitto does)
    #[arg(long = "version")]
    version: bool,
    /// Print a completion script for SHELL and exit
    #[arg(
        long = "completions",
        value_name = "SHELL",
        value_parser = ["bash", "zsh", "fish", "elvish", "powershell"]
    )]
    completions: Option<String>,
}

/// How the received messages are printed (mqtt-sub and mqtt-rr).
#[derive(Args, Debug)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Print the topic before each payload
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Do not print a newline after each payload
    #[arg(short = 'N')]
    no_eol: bool,
    /// Print each message with this format (%t topic, %p payload, %j JSON, ...; see the manual)
    #[arg(short = 'F', value_name = "FORMAT", allow_hyphen_values = true)]
    format: Option<String>,
    /// Indent the JSON of -F %j and %J
    #[arg(long = "pretty")]
    pretty: bool,
}

/// mqtt-pub: publish one message, a file, or stdin, then exit.
#[derive(Parser, Debug)]
#[command(
    name = "mqtt-pub",
    about = "mqtt-pub publishes a message to an MQTT broker, then exits.",
    override_usage = "mqtt-pub {[-h HOST] [-p PORT] [-u USER [-P PASSWORD]] -t TOPIC | -L URL}\n                {-m MESSAGE | -f FILE | -s | -l | -n} [OPTIONS]",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub(crate) struct PubCli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    publish: PublishArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    properties: PropertyArgs,
    #[command(flatten)]
    meta: MetaArgs,
}

/// What mqtt-pub publishes, and how.
#[derive(Args, Debug)]
#[command(next_help_heading = "Publishing")]
pub(crate) struct PublishArgs {
    /// Topic to publish to
    #[arg(
        short = 't',
        long = "topic",
        value_name = "TOPIC",
        allow_hyphen_values = true
    )]
    topic: Option<String>,
    /// Payload to publish
    #[arg(
        short = 'm',
        long = "message",
        value_name = "MESSAGE",
        allow_hyphen_values = true
    )]
    message: Option<String>,
    /// Publish the contents of FILE as the payload
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,
    /// Publish all of stdin as one payload
    #[arg(short = 's', long = "stdin-file")]
    stdin_file: bool,
    /// Publish each line of stdin as a separate message
    #[arg(short = 'l', long = "stdin-line")]
    stdin_line: bool,
    /// Publish an empty (zero length) payload
    #[arg(short = 'n', long = "null-message")]
    null_message: bool,
    /// QoS of the message: 0, 1 or 2 [default: 0]
    #[arg(short = 'q', long = "qos", value_name = "QOS")]
    qos: Option<String>,
    /// Ask the broker to retain the message
    #[arg(short = 'r', long = "retain")]
    retain: bool,
    /// With -m, -f or -s: publish the message COUNT times [default: 1]
    #[arg(long = "repeat", value_name = "COUNT")]
    repeat: Option<String>,
    /// Seconds to wait between repeated messages, may be fractional [default: 0]
    #[arg(long = "repeat-delay", value_name = "SECONDS")]
    repeat_delay: Option<String>,
}

/// mqtt-sub: subscribe and print the messages received.
#[derive(Parser, Debug)]
#[command(
    name = "mqtt-sub",
    about = "mqtt-sub subscribes to topics on an MQTT broker and prints the messages it receives.",
    override_usage = "mqtt-sub {[-h HOST] [-p PORT] [-u USER [-P PASSWORD]] -t TOPIC... | -L URL [-t TOPIC...]}\n                [-C COUNT] [-W SECONDS] [-v] [-F FORMAT] [OPTIONS]",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub(crate) struct SubCli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    subscribe: SubscribeArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    properties: PropertyArgs,
    #[command(flatten)]
    meta: MetaArgs,
}

/// What mqtt-sub subscribes to, and when it stops.
#[derive(Args, Debug)]
#[command(next_help_heading = "Subscribing")]
pub(crate) struct SubscribeArgs {
    /// Topic filter to subscribe to (may be repeated)
    #[arg(
        short = 't',
        long = "topic",
        value_name = "FILTER",
        allow_hyphen_values = true
    )]
    topic: Vec<String>,
    /// Do not print messages whose topic matches FILTER (may be repeated)
    #[arg(
        short = 'T',
        long = "filter-out",
        value_name = "FILTER",
        allow_hyphen_values = true
    )]
    filter_out: Vec<String>,
    /// Unsubscribe from FILTER after subscribing (may be repeated)
    #[arg(
        short = 'U',
        long = "unsubscribe",
        value_name = "FILTER",
        allow_hyphen_values = true
    )]
    unsubscribe: Vec<String>,
    /// QoS of the subscriptions: 0, 1 or 2 [default: 0]
    #[arg(short = 'q', long = "qos", value_name = "QOS")]
    qos: Option<String>,
    /// Exit after printing COUNT messages
    #[arg(short = 'C', value_name = "COUNT")]
    count: Option<String>,
    /// Exit with status 27 if no message arrives within SECONDS
    #[arg(short = 'W', value_name = "SECONDS")]
    timeout: Option<String>,
    /// Exit as soon as the broker has acknowledged the subscriptions
    #[arg(short = 'E')]
    exit_after_sub: bool,
    /// Do not print retained (stale) messages
    #[arg(short = 'R')]
    no_retained: bool,
    /// Print only retained messages; exit at the first message that is not retained
    #[arg(long = "retained-only")]
    retained_only: bool,
    /// Clear each retained message received (publish an empty retained message); honours -T
    #[arg(long = "remove-retained")]
    remove_retained: bool,
    /// MQTT 5: keep the retain flag of messages as published
    #[arg(long = "retain-as-published")]
    retain_as_published: bool,
    /// MQTT 5: do not receive the messages this client publishes (not in Mosquitto)
    #[arg(long = "no-local")]
    no_local: bool,
    /// Print only this percentage of the messages received (0.1 to 100)
    #[arg(long = "random-filter", value_name = "PERCENT")]
    random_filter: Option<String>,
}

/// mqtt-rr: publish a request and print the response.
#[derive(Parser, Debug)]
#[command(
    name = "mqtt-rr",
    about = "mqtt-rr publishes a request and waits for its response (MQTT 5 request/response by default).",
    override_usage = "mqtt-rr {[-h HOST] [-p PORT] [-u USER [-P PASSWORD]] -t TOPIC | -L URL} -e RESPONSE_TOPIC\n               {-m MESSAGE | -f FILE | -s | -n} [OPTIONS]",
    disable_help_flag = true,
    disable_version_flag = true
)]
pub(crate) struct RrCli {
    #[command(flatten)]
    connect: ConnectArgs,
    #[command(flatten)]
    request: RequestArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    tls: TlsArgs,
    #[command(flatten)]
    properties: PropertyArgs,
    #[command(flatten)]
    meta: MetaArgs,
}

/// The request mqtt-rr sends and the response it waits for.
#[derive(Args, Debug)]
#[command(next_help_heading = "Request")]
pub(crate) struct RequestArgs {
    /// Topic to publish the request to
    #[arg(
        short = 't',
        long = "topic",
        value_name = "TOPIC",
        allow_hyphen_values = true
    )]
    topic: Option<String>,
    /// Topic to subscribe to for the response (sent as the Response Topic)
    #[arg(short = 'e', value_name = "TOPIC", allow_hyphen_values = true)]
    response_topic: Option<String>,
    /// Payload of the request
    #[arg(
        short = 'm',
        long = "message",
        value_name = "MESSAGE",
        allow_hyphen_values = true
    )]
    message: Option<String>,
    /// Accepted as by mosquitto_rr 2.0.11, which never reads FILE: the request is empty
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<String>,
    /// Accepted as by mosquitto_rr 2.0.11, which never reads stdin: the request is empty
    #[arg(short = 's', long = "stdin-file")]
    stdin_file: bool,
    /// Send an empty (zero length) request
    #[arg(short = 'n', long = "null-message")]
    null_message: bool,
    /// QoS of the request and of the response subscription: 0, 1 or 2 [default: 0]
    #[arg(short = 'q', long = "qos", value_name = "QOS")]
    qos: Option<String>,
    /// Exit with status 27 if no response arrives within SECONDS
    #[arg(short = 'W', value_name = "SECONDS")]
    timeout: Option<String>,
    /// Accepted and ignored, as by mosquitto_rr 2.0.11 (a retained response is printed)
    #[arg(short = 'R')]
    no_retained: bool,
    /// Accepted and ignored, as by mosquitto_rr 2.0.11
    #[arg(long = "retain-as-published")]
    retain_as_published: bool,
}

/// The help layout: Mosquitto's order (what it is, its version, usage, options), our words.
const HELP_TEMPLATE: &str = "\
{about}
{name} version {version}

Usage: {usage}

{all-args}

Errors exit with status 1, as with Mosquitto; see the mosquitto_pub, mosquitto_sub and
mosquitto_rr manuals for the details every option shares with them.
";

/// The clap command of `tool`, as used for help and completions.
pub(crate) fn command(tool: Tool) -> clap::Command {
    let cmd = match tool {
        Tool::Pub => PubCli::command(),
        Tool::Sub => SubCli::command(),
        Tool::Rr => RrCli::command(),
    };
    cmd.version(env!("CARGO_PKG_VERSION"))
        .help_template(HELP_TEMPLATE)
}

/// `--help`: the full usage, for stdout.
pub(crate) fn help_text(tool: Tool) -> String {
    command(tool).render_help().to_string()
}

/// `--version`: one line, for stdout.
pub(crate) fn version_text(tool: Tool) -> String {
    format!(
        "{} version {} (command-line compatible with {} 2.0).\n",
        tool.name(),
        env!("CARGO_PKG_VERSION"),
        tool.mosquitto_name()
    )
}

/// `--completions SHELL`: the completion script, or `None` for a shell clap_complete lacks.
pub(crate) fn completion_script(tool: Tool, shell: &str) -> Option<String> {
    let shell: clap_complete::Shell = shell.parse().ok()?;
    let mut cmd = command(tool);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, tool.name(), &mut out);
    String::from_utf8(out).ok()
}

/// How many words an option consumes after itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arity {
    /// A flag.
    None,
    /// One value.
    One,
    /// `-D`: three or four words, decided by the property name.
    Property,
}

/// One spelling of an option (`-t` or `--topic`) and the clap id it stands for.
#[derive(Debug, Clone)]
pub(crate) struct Spelling {
    /// The exact word on the command line.
    pub(crate) word: String,
    /// The clap id (the field name above), which the parser dispatches on.
    pub(crate) id: String,
    /// The words it consumes.
    pub(crate) arity: Arity,
}

/// Every spelling `tool` accepts, from its clap definition.
pub(crate) fn spellings(tool: Tool) -> Vec<Spelling> {
    let cmd = command(tool);
    let mut out = Vec::new();
    for arg in cmd.get_arguments() {
        let id = arg.get_id().as_str().to_owned();
        let arity = if id == "property" {
            Arity::Property
        } else if matches!(arg.get_action(), ArgAction::SetTrue) {
            Arity::None
        } else {
            Arity::One
        };
        if let Some(short) = arg.get_short() {
            out.push(Spelling {
                word: format!("-{short}"),
                id: id.clone(),
                arity,
            });
        }
        if let Some(long) = arg.get_long() {
            out.push(Spelling {
                word: format!("--{long}"),
                id: id.clone(),
                arity,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        PubCli::command().debug_assert();
        SubCli::command().debug_assert();
        RrCli::command().debug_assert();
    }

    #[test]
    fn help_lists_every_option() {
        for tool in [Tool::Pub, Tool::Sub, Tool::Rr] {
            let help = help_text(tool);
            for s in spellings(tool) {
                assert!(
                    help.contains(&s.word),
                    "{} help lacks {}",
                    tool.name(),
                    s.word
                );
            }
            assert!(help.starts_with(&format!("{} ", tool.name())), "{help}");
        }
    }

    #[test]
    fn tool_specific_options_belong_to_their_tool() {
        let has = |tool, word: &str| spellings(tool).iter().any(|s| s.word == word);
        assert!(has(Tool::Pub, "-r") && !has(Tool::Sub, "-r") && !has(Tool::Rr, "-r"));
        assert!(has(Tool::Pub, "-l") && !has(Tool::Rr, "-l"));
        assert!(has(Tool::Rr, "-e") && !has(Tool::Pub, "-e") && !has(Tool::Sub, "-e"));
        assert!(has(Tool::Sub, "-C") && !has(Tool::Rr, "-C"));
        assert!(has(Tool::Rr, "-F") && !has(Tool::Pub, "-F"));
        assert!(has(Tool::Sub, "--disable-clean-session"));
        assert!(!has(Tool::Pub, "-h") || has(Tool::Pub, "--host"));
    }
}
