//! Command-line parsing of `mqtt-pub`, `mqtt-sub` and `mqtt-rr`, option for option compatible
//! with `mosquitto_pub`, `mosquitto_sub` and `mosquitto_rr` 2.0.
//!
//! Scripts call these tools with Mosquitto's options and read their exit status and messages,
//! so the parser reproduces Mosquitto's behaviour, not just its option names: options are read
//! left to right (the first bad one is reported; a later one overrides an earlier one), numbers
//! are read with C's lenient `atoi` (`-q x` is QoS 0), the options file
//! (`~/.config/mqtt_pub`, else `~/.config/mosquitto_pub`) is applied first, and every error prints
//! Mosquitto's message followed by `Use 'mqtt-pub --help' to see usage.` and exits with status 1.
//! `--help` prints the usage to stdout and also exits with 1; `-h` is the host and `-V` the
//! protocol version.
//!
//! The options are defined once, with clap's derive API (`cli.rs`), which also renders `--help`
//! and `--completions`; the left-to-right pass (`parser.rs`), the checks made once all options
//! are read (`finish.rs`), `-D` properties (`property.rs`) and URLs (`url.rs`) follow Mosquitto.
//!
//! Parsing does no network I/O and prints nothing: it returns the options, or an [`Exit`] that
//! says what to print and which status to exit with. It reads the options file and, like
//! `mosquitto_pub`, checks that the file of `-f` can be opened before reporting a missing topic.
//!
//! ```
//! use mqtt_cli::args::{parse_sub_with_options_file, Tool};
//!
//! let opts = parse_sub_with_options_file(["mqtt-sub", "-t", "a/#", "-t", "b", "-q", "1"], None)
//!     .expect("valid options");
//! assert_eq!(opts.topics.len(), 2);
//! assert_eq!(opts.connect.port, 1883);
//!
//! let exit = parse_sub_with_options_file(["mqtt-sub", "-t", "a/#/b"], None).unwrap_err();
//! assert_eq!(exit.code, 1);
//! assert_eq!(
//!     exit.stderr,
//!     "Error: Invalid subscription topic 'a/#/b', are all '+' and '#' wildcards correct?\n\
//!      \nUse 'mqtt-sub --help' to see usage.\n"
//! );
//! # let _ = Tool::Sub;
//! ```

mod cli;
mod finish;
mod numbers;
mod options_file;
mod parser;
mod property;
mod topic;
mod url;

use std::ffi::OsString;
use std::num::NonZeroU16;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use mqtt_codec::{
    ConnectProperties, Disconnect, DisconnectProperties, LastWill, ProtocolVersion,
    PublishProperties, QoS, RetainHandling, SubscribeProperties, SubscriptionOptions, TopicFilter,
    TopicName, UnsubscribeProperties, WillProperties,
};

pub use options_file::{options_file_candidates, read_default_options_file};
pub use url::Socks5Proxy;

/// One of the three tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tool {
    /// `mqtt-pub`, for `mosquitto_pub`.
    Pub,
    /// `mqtt-sub`, for `mosquitto_sub`.
    Sub,
    /// `mqtt-rr`, for `mosquitto_rr`.
    Rr,
}

impl Tool {
    /// The tool's own name, used in its messages (`Use 'mqtt-pub --help' to see usage.`).
    pub fn name(self) -> &'static str {
        match self {
            Tool::Pub => "mqtt-pub",
            Tool::Sub => "mqtt-sub",
            Tool::Rr => "mqtt-rr",
        }
    }

    /// The Mosquitto tool it replaces.
    pub fn mosquitto_name(self) -> &'static str {
        match self {
            Tool::Pub => "mosquitto_pub",
            Tool::Sub => "mosquitto_sub",
            Tool::Rr => "mosquitto_rr",
        }
    }

    /// The name of its own options file in the configuration directory.
    pub fn options_file_name(self) -> &'static str {
        match self {
            Tool::Pub => "mqtt_pub",
            Tool::Sub => "mqtt_sub",
            Tool::Rr => "mqtt_rr",
        }
    }

    /// The name of Mosquitto's options file, read when the tool's own is missing.
    pub fn mosquitto_options_file_name(self) -> &'static str {
        self.mosquitto_name()
    }
}

/// What parsing produced when it did not produce options: text for stdout and stderr, and the
/// status to exit with. The binary prints both (stdout first) and exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Text for standard output (the usage for `--help`, a completion script, ...).
    pub stdout: String,
    /// Text for standard error (error messages, already ending in a newline).
    pub stderr: String,
    /// The exit status: 1 for errors, `--help` and `--version` (as Mosquitto), 0 for
    /// `--completions`.
    pub code: i32,
}

/// Why the options did not produce a configuration; turned into an [`Exit`] for a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// An option error: the message (possibly empty), then Mosquitto's
    /// "Use '... --help' to see usage." line, status 1.
    Usage(String),
    /// `--help`: the usage on stdout, status 1.
    Help,
    /// `--version`: the version on stdout, status 1.
    Version,
    /// `--completions`: the script on stdout, status 0.
    Completions(String),
    /// Anything else, printed as is.
    Plain {
        stdout: String,
        stderr: String,
        code: i32,
    },
}

impl Failure {
    /// A message on stderr alone, with status 1.
    pub(crate) fn stderr(message: impl Into<String>) -> Failure {
        Failure::Plain {
            stdout: String::new(),
            stderr: message.into(),
            code: 1,
        }
    }

    fn into_exit(self, tool: Tool) -> Exit {
        let (stdout, stderr, code) = match self {
            Failure::Usage(message) => (
                String::new(),
                format!("{message}\nUse '{} --help' to see usage.\n", tool.name()),
                1,
            ),
            Failure::Help => (cli::help_text(tool), String::new(), 1),
            Failure::Version => (cli::version_text(tool), String::new(), 1),
            Failure::Completions(script) => (script, String::new(), 0),
            Failure::Plain {
                stdout,
                stderr,
                code,
            } => (stdout, stderr, code),
        };
        Exit {
            stdout,
            stderr,
            code,
        }
    }
}

/// The TLS versions `--tls-version` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsVersion {
    /// `tlsv1.1`.
    Tls1_1,
    /// `tlsv1.2`.
    Tls1_2,
    /// `tlsv1.3`.
    Tls1_3,
}

/// How to secure the connection; present when the connection uses TLS: `--cafile`, `--capath`,
/// `--tls-use-os-certs`, an `mqtts://` URL, or port 8883 given explicitly (Mosquitto then trusts
/// the operating system's certificates).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// `--cafile`: trusted CA certificates (PEM).
    pub cafile: Option<PathBuf>,
    /// `--capath`: a directory of trusted CA certificates.
    pub capath: Option<PathBuf>,
    /// `--cert`: the client certificate (always given together with `key`).
    pub cert: Option<PathBuf>,
    /// `--key`: the client certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// Trust the operating system's CA certificates (`--tls-use-os-certs`, `mqtts://`, or
    /// `-p 8883` without `--cafile`/`--capath`).
    pub use_os_certs: bool,
    /// `--insecure`: do not check that the certificate's name matches the host.
    pub insecure: bool,
    /// `--tls-version`; `None` lets the library choose.
    pub version: Option<TlsVersion>,
    /// `--tls-alpn`: the ALPN protocol to offer.
    pub alpn: Option<String>,
    /// `--ciphers`: an OpenSSL cipher list, kept for callers that can use it.
    pub ciphers: Option<String>,
}

/// The will (`--will-topic` and friends, and `-D will ...` properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WillOptions {
    /// `--will-topic`.
    pub topic: TopicName,
    /// `--will-payload`; empty when not given.
    pub payload: Bytes,
    /// `--will-qos`.
    pub qos: QoS,
    /// `--will-retain`.
    pub retain: bool,
    /// `-D will ...` properties (MQTT 5).
    pub properties: WillProperties,
}

impl WillOptions {
    /// The will as the codec's CONNECT carries it.
    pub fn to_last_will(&self) -> LastWill {
        LastWill {
            topic: self.topic.clone(),
            payload: self.payload.clone(),
            qos: self.qos,
            retain: self.retain,
            properties: self.properties.clone(),
        }
    }
}

/// The options every tool shares: where and how to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `-h`, `-L` or `--unix` [default: `localhost`]; the socket path when `unix` is set.
    pub host: String,
    /// The port: `-p` or `-L`, else 8883 with `--cafile`/`--capath`, else 1883; 0 for a Unix
    /// socket.
    pub port: u16,
    /// The Unix domain socket to connect to (`--unix`, or port 0 from `-p 0`), instead of TCP.
    pub unix: Option<PathBuf>,
    /// `-A`: the local address to bind to.
    pub bind_address: Option<String>,
    /// `--nodelay`: disable Nagle's algorithm.
    pub nodelay: bool,
    /// `-S`: find the broker with a DNS SRV lookup of `_mqtt._tcp.<host>`.
    pub use_srv: bool,
    /// `-V`, or MQTT 5 after `-D`; default 3.1.1 (`mqtt-rr`: 5).
    pub version: ProtocolVersion,
    /// `-i`, or the `-I` prefix followed by the process id; `None` lets the broker assign one
    /// (Mosquitto 2.0.11 sends an empty client identifier too).
    pub client_id: Option<String>,
    /// `-k` [default: 60].
    pub keep_alive: u16,
    /// False with `-c`.
    pub clean_session: bool,
    /// The Session Expiry Interval CONNECT carries (MQTT 5 only; `None` when absent, meaning 0):
    /// from `-x` (`-1`, `4294967295` and `∞` give `u32::MAX`, never expiring; with `-c` the
    /// default is `u32::MAX`) or `-D connect session-expiry-interval`. Also in
    /// `connect_properties`.
    pub session_expiry: Option<u32>,
    /// `-u`.
    pub username: Option<String>,
    /// `-P` (non-UTF-8 bytes are replaced by U+FFFD).
    pub password: Option<String>,
    /// The will, when `--will-topic` is given.
    pub will: Option<WillOptions>,
    /// `-M`: QoS 1 and 2 messages in flight at once; `None` for the default (20). Values above
    /// 65,535, which libmosquitto ignores, are `None` too.
    pub max_inflight: Option<u16>,
    /// TLS, when the connection uses it.
    pub tls: Option<TlsOptions>,
    /// `--proxy`: a SOCKS5 proxy to connect through.
    pub proxy: Option<Socks5Proxy>,
    /// `-d`: print debug messages.
    pub debug: bool,
    /// `--quiet`: print no error messages.
    pub quiet: bool,
    /// `-D connect ...` properties, with the session expiry of `-x` (MQTT 5).
    pub connect_properties: ConnectProperties,
    /// `-D disconnect ...` properties (MQTT 5).
    pub disconnect_properties: DisconnectProperties,
}

impl ConnectOptions {
    /// The DISCONNECT the tools send, with the `-D disconnect` properties: a normal one, or
    /// (`with_will`) "Disconnect with Will Message" (MQTT 5), as Mosquitto's tools send on `-W`
    /// or a signal so that the broker still publishes the will.
    pub fn disconnect(&self, with_will: bool) -> Disconnect {
        Disconnect {
            reason_code: if with_will {
                mqtt_codec::ReasonCode::DisconnectWithWillMessage
            } else {
                mqtt_codec::ReasonCode::Success
            },
            properties: self.disconnect_properties.clone(),
        }
    }
}

/// Where `mqtt-pub` and `mqtt-rr` take the payload from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSource {
    /// `-m`: this payload (bytes as given, not necessarily UTF-8).
    Message(Vec<u8>),
    /// `-f`: the contents of this file.
    File(PathBuf),
    /// `-s`: all of standard input, as one message.
    Stdin,
    /// `-l`: one message per line of standard input (`mqtt-pub` only).
    Lines,
    /// `-n`: an empty payload.
    Null,
}

/// The options of `mqtt-pub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubOptions {
    /// How to connect.
    pub connect: ConnectOptions,
    /// `-t` (or the topic of `-L`).
    pub topic: TopicName,
    /// The payload source.
    pub message: MessageSource,
    /// `-q` [default: 0].
    pub qos: QoS,
    /// `-r`.
    pub retain: bool,
    /// `--repeat`: how many times to publish [default: 1].
    pub repeat: u32,
    /// `--repeat-delay`: the pause between repeated publications [default: 0].
    pub repeat_delay: Duration,
    /// `-D publish ...` properties, except the Topic Alias (MQTT 5).
    pub properties: PublishProperties,
    /// `-D publish topic-alias N` (MQTT 5).
    pub topic_alias: Option<NonZeroU16>,
}

/// The output options shared by `mqtt-sub` and `mqtt-rr`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// `-v`: print the topic before the payload.
    pub verbose: bool,
    /// `-N`: no newline after each message.
    pub no_eol: bool,
    /// `-F`: the output format (checked as Mosquitto checks it).
    pub format: Option<String>,
    /// `--pretty`: indent JSON output.
    pub pretty: bool,
}

/// The options of `mqtt-sub`.
#[derive(Debug, Clone, PartialEq)]
pub struct SubOptions {
    /// How to connect.
    pub connect: ConnectOptions,
    /// `-t` and the topic of `-L`, in order (at least one).
    pub topics: Vec<TopicFilter>,
    /// `-T`: topics whose messages are not printed.
    pub filter_out: Vec<TopicFilter>,
    /// `-U`: filters to unsubscribe from, after subscribing.
    pub unsubscribe: Vec<TopicFilter>,
    /// `-q` [default: 0].
    pub qos: QoS,
    /// `-C`: exit after this many messages.
    pub count: Option<u32>,
    /// `-W`: exit with status 27 after this many seconds.
    pub timeout: Option<u32>,
    /// `-R`: do not print retained messages.
    pub no_retained: bool,
    /// `--retained-only`: print retained messages, exit at the first one that is not.
    pub retained_only: bool,
    /// `--remove-retained`: clear the retained messages received.
    pub remove_retained: bool,
    /// `-E`: exit once subscribed.
    pub exit_after_sub: bool,
    /// `--no-local` (MQTT 5; an addition to Mosquitto's options).
    pub no_local: bool,
    /// `--retain-as-published` (MQTT 5).
    pub retain_as_published: bool,
    /// `Some(DoNotSend)` with `-R` (Mosquitto asks an MQTT 5 broker not to send retained
    /// messages then); `None` leaves the default.
    pub retain_handling: Option<RetainHandling>,
    /// `-D subscribe ...` properties (MQTT 5).
    pub subscribe_properties: SubscribeProperties,
    /// `-D unsubscribe ...` properties (MQTT 5).
    pub unsubscribe_properties: UnsubscribeProperties,
    /// `--random-filter`: the percentage of messages to print (0.1 to 1000 as Mosquitto 2.0.11
    /// accepts; 100 or more prints all).
    pub random_filter: Option<f64>,
    /// `-v`.
    pub verbose: bool,
    /// `-N`.
    pub no_eol: bool,
    /// `-F`.
    pub format: Option<String>,
    /// `--pretty`.
    pub pretty: bool,
}

impl SubOptions {
    /// The subscription options byte of every `-t`.
    pub fn subscription_options(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            qos: self.qos,
            no_local: self.no_local,
            retain_as_published: self.retain_as_published,
            retain_handling: self.retain_handling.unwrap_or_default(),
        }
    }

    /// The output options.
    pub fn output(&self) -> OutputOptions {
        OutputOptions {
            verbose: self.verbose,
            no_eol: self.no_eol,
            format: self.format.clone(),
            pretty: self.pretty,
        }
    }
}

/// The options of `mqtt-rr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrOptions {
    /// How to connect (MQTT 5 unless `-V` says otherwise).
    pub connect: ConnectOptions,
    /// `-t` (or the topic of `-L`): where the request is published.
    pub topic: TopicName,
    /// `-e`: where the response is awaited (also in `properties.response_topic`).
    pub response_topic: TopicName,
    /// The request payload (`-m`, `-f`, `-s` or `-n`; `mosquitto_rr` 2.0.11 reads neither the
    /// file of `-f` nor stdin for `-s` and sends an empty request, and so does `mqtt-rr`).
    pub message: MessageSource,
    /// `-q`: QoS of the request and of the response subscription [default: 0].
    pub qos: QoS,
    /// `-W`: exit with status 27 after this many seconds without a response.
    pub timeout: Option<u32>,
    /// `-R` (accepted, then ignored by `mosquitto_rr` 2.0.11 and `mqtt-rr`).
    pub no_retained: bool,
    /// `--retain-as-published` (accepted, then ignored like `-R`).
    pub retain_as_published: bool,
    /// `Some(DoNotSend)` with `-R` (unused, like `-R`).
    pub retain_handling: Option<RetainHandling>,
    /// `-D publish ...` properties of the request, with the Response Topic of `-e`.
    pub properties: PublishProperties,
    /// `-D publish topic-alias N`.
    pub topic_alias: Option<NonZeroU16>,
    /// `-D subscribe ...` properties of the response subscription.
    pub subscribe_properties: SubscribeProperties,
    /// How the response is printed.
    pub output: OutputOptions,
}

impl RrOptions {
    /// The subscription options of the response subscription: the QoS of `-q` alone, as
    /// `mosquitto_rr` 2.0.11 subscribes (its `-R` and `--retain-as-published` change nothing).
    pub fn subscription_options(&self) -> SubscriptionOptions {
        SubscriptionOptions::with_qos(self.qos)
    }
}

/// The bytes of an argument, as the C clients see them.
fn arg_bytes(arg: OsString) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        arg.into_vec()
    }
    #[cfg(not(unix))]
    {
        arg.to_string_lossy().into_owned().into_bytes()
    }
}

/// Reads the options file and the arguments (without the program name) into a raw
/// configuration, in Mosquitto's order.
fn load<I, T>(tool: Tool, args: I, options_file: Option<&[u8]>) -> Result<parser::Config, Failure>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<Vec<u8>> = args
        .into_iter()
        .skip(1)
        .map(|a| arg_bytes(a.into()))
        .collect();
    let table = parser::OptionTable::new(tool);
    let mut cfg = parser::Config::new(tool);
    if let Some(contents) = options_file {
        for line in options_file::lines(contents) {
            parser::apply_all(&mut cfg, &table, &line)?;
        }
    }
    parser::apply_all(&mut cfg, &table, &args)?;
    Ok(cfg)
}

/// Parses `mqtt-pub`'s arguments (`args[0]` is the program name) after its default options file.
pub fn parse_pub<I, T>(args: I) -> Result<PubOptions, Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let file = read_default_options_file(Tool::Pub);
    parse_pub_with_options_file(args, file.as_deref())
}

/// Parses `mqtt-pub`'s arguments after the given options-file contents (`None`: no file).
pub fn parse_pub_with_options_file<I, T>(
    args: I,
    options_file: Option<&[u8]>,
) -> Result<PubOptions, Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    load(Tool::Pub, args, options_file)
        .and_then(finish::pub_options)
        .map_err(|f| f.into_exit(Tool::Pub))
}

/// Parses `mqtt-sub`'s arguments (`args[0]` is the program name) after its default options file.
pub fn parse_sub<I, T>(args: I) -> Result<SubOptions, Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let file = read_default_options_file(Tool::Sub);
    parse_sub_with_options_file(args, file.as_deref())
}

/// Parses `mqtt-sub`'s arguments after the given options-file contents (`None`: no file).
pub fn parse_sub_with_options_file<I, T>(
    args: I,
    options_file: Option<&[u8]>,
) -> Result<SubOptions, Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    load(Tool::Sub, args, options_file)
        .and_then(finish::sub_options)
        .map_err(|f| f.into_exit(Tool::Sub))
}

/// Parses `mqtt-rr`'s arguments (`args[0]` is the program name) after its default options file.
pub fn parse_rr<I, T>(args: I) -> Result<RrOptions, Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let file = read_default_options_file(Tool::Rr);
    parse_rr_with_options_file(args, file.as_deref())
}

/// Parses `mqtt-rr`'s arguments after the given options-file contents (`None`: no file).
pub fn parse_rr_with_options_file<I, T>(
    args: I,
    options_file: Option<&[u8]>,
) -> Result<RrOptions, Exit>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    load(Tool::Rr, args, options_file)
        .and_then(finish::rr_options)
        .map_err(|f| f.into_exit(Tool::Rr))
}

/// The usage text `--help` prints (also printed to stdout with "Both topic and message must be
/// supplied").
pub fn help(tool: Tool) -> String {
    cli::help_text(tool)
}

/// The clap command of `tool`, the definition `--help` and `--completions` render (also used
/// to generate the man pages and the packaged completion scripts).
pub fn command(tool: Tool) -> clap::Command {
    cli::command(tool)
}

/// The completion script of `tool` for `shell` (`bash`, `zsh`, `fish`, `elvish` or
/// `powershell`), as `--completions` prints it.
pub fn completions(tool: Tool, shell: &str) -> Option<String> {
    cli::completion_script(tool, shell)
}

#[cfg(test)]
mod tests;
