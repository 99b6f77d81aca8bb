//! Opening the connection of a tool from its [`ConnectOptions`], and the messages Mosquitto's
//! clients print when that fails.

use std::time::Duration;

use mqtt_client::{connect, Client, ClientError, ClientOptions, Messages, Transport};
use mqtt_codec::{ConnAck, LastWill, MqttString, ProtocolVersion, ReasonCode};

use crate::args::ConnectOptions;

/// A failure to connect, already worded as Mosquitto's tools word it, with their exit code.
#[derive(Debug)]
pub struct ConnectFailure {
    /// Lines for stderr (without trailing newline), printed unless `--quiet`.
    pub messages: Vec<String>,
    /// The exit code: 1, or the CONNACK's return / reason code.
    pub code: i32,
}

/// Builds the client options: transport, CONNECT (version, id, clean start, keep alive,
/// credentials, will, properties) and the in-flight window.
pub fn client_options(c: &ConnectOptions) -> Result<ClientOptions, ConnectFailure> {
    if c.tls.is_some() {
        return Err(fail(
            "Error: TLS is not supported by this version of the tools yet.",
        ));
    }
    if c.proxy.is_some() {
        return Err(fail(
            "Error: --proxy is not supported by this version of the tools yet.",
        ));
    }
    let transport = match &c.unix {
        Some(path) => Transport::Unix(path.clone()),
        None => Transport::Tcp {
            host: c.host.clone(),
            port: c.port,
        },
    };
    let mut o = ClientOptions::new(transport).version(c.version);
    o.bind_address = c.bind_address.clone();
    o.nodelay = c.nodelay;
    o.connect_timeout = Duration::from_secs(60);
    let connect = &mut o.connect;
    connect.clean_start = c.clean_session;
    connect.keep_alive = c.keep_alive;
    let id = match (&c.client_id, c.version) {
        (Some(id), _) => id.clone(),
        // MQTT 3.1 servers refuse an empty client id; libmosquitto makes one up.
        (None, ProtocolVersion::V3_1) => format!("mosq-{:x}", std::process::id()),
        (None, _) => String::new(),
    };
    connect.client_id = string(&id)?;
    connect.username = c.username.as_deref().map(string).transpose()?;
    connect.password = c.password.clone().map(|p| p.into_bytes().into());
    connect.will = c.will.as_ref().map(|w| LastWill {
        topic: w.topic.clone(),
        payload: w.payload.clone(),
        qos: w.qos,
        retain: w.retain,
        properties: w.properties.clone(),
    });
    connect.properties = c.connect_properties.clone();
    if c.version.is_v5() {
        if let Some(expiry) = c.session_expiry {
            connect.properties.session_expiry_interval = Some(expiry);
        }
    }
    if let Some(max) = c.max_inflight {
        o.session.max_inflight = max;
    }
    Ok(o)
}

fn string(s: &str) -> Result<MqttString, ConnectFailure> {
    MqttString::new(s).map_err(|e| fail(format!("Error: {e}")))
}

fn fail(message: impl Into<String>) -> ConnectFailure {
    ConnectFailure::new(message)
}

impl ConnectFailure {
    /// One error line and exit code 1.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectFailure {
            messages: vec![message.into()],
            code: 1,
        }
    }
}

/// The `main` of a tool: prints what parsing produced instead of options (help, errors), or
/// runs the tool on a single-threaded runtime and prints its failure unless `quiet`. `run`
/// returns the exit code.
pub fn main_of<O, F>(
    parsed: Result<O, crate::args::Exit>,
    quiet: impl FnOnce(&O) -> bool,
    run: impl FnOnce(O) -> F,
) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<u8, ConnectFailure>>,
{
    use std::io::Write;
    use std::process::ExitCode;
    let options = match parsed {
        Ok(options) => options,
        Err(exit) => {
            print!("{}", exit.stdout);
            eprint!("{}", exit.stderr);
            let _ = std::io::stdout().flush();
            return ExitCode::from(u8::try_from(exit.code).unwrap_or(1));
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let quiet = quiet(&options);
    match runtime.block_on(run(options)) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if !quiet {
                for line in &failure.messages {
                    eprintln!("{line}");
                }
            }
            ExitCode::from(u8::try_from(failure.code).unwrap_or(1))
        }
    }
}

/// Connects; on failure returns Mosquitto's wording and exit code. `tool_refusal` is the extra
/// line `mosquitto_pub` prints after a refused CONNACK.
pub async fn open(
    c: &ConnectOptions,
    tool_refusal: bool,
) -> Result<(Client, Messages, ConnAck), ConnectFailure> {
    let mut options = client_options(c)?;
    if c.debug {
        options.observer = Some(crate::debug::observer(
            c.version,
            options.connect.client_id.as_str(),
        ));
    }
    match connect(options).await {
        Ok(connected) => Ok(connected),
        Err(ClientError::Refused(connack)) => {
            let code = i32::from(u8::from(connack.reason_code));
            let mut messages = vec![format!(
                "Connection error: {}",
                connack_string(c.version, connack.reason_code)
            )];
            if tool_refusal {
                messages.push(if c.version.is_v5() {
                    "Error: A network protocol error occurred when communicating with the broker."
                        .to_owned()
                } else {
                    "Error: The connection was refused.".to_owned()
                });
            }
            Err(ConnectFailure { messages, code })
        }
        Err(ClientError::Io(e)) => Err(fail(format!("Error: {}", io_message(&e)))),
        Err(e) => Err(fail(format!("Error: {e}"))),
    }
}

/// The text libmosquitto gives for an I/O error (`strerror`).
fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
        std::io::ErrorKind::TimedOut => "Connection timed out".to_owned(),
        _ => {
            let text = e.to_string();
            // std appends " (os error N)"; strerror does not.
            match text.find(" (os error") {
                Some(at) => text.get(..at).unwrap_or(&text).to_owned(),
                None => text,
            }
        }
    }
}

/// `mosquitto_connack_string` (3.1.1) and `mosquitto_reason_string` (5.0).
pub fn connack_string(version: ProtocolVersion, code: ReasonCode) -> String {
    let n = u8::from(code);
    if !version.is_v5() {
        return match n {
            0 => "Connection Accepted.",
            1 => "Connection Refused: unacceptable protocol version.",
            2 => "Connection Refused: identifier rejected.",
            3 => "Connection Refused: broker unavailable.",
            4 => "Connection Refused: bad user name or password.",
            5 => "Connection Refused: not authorised.",
            _ => "Connection Refused: unknown reason.",
        }
        .to_owned();
    }
    match n {
        0x80 => "Unspecified error",
        0x81 => "Malformed packet",
        0x82 => "Protocol error",
        0x83 => "Implementation specific error",
        0x84 => "Unsupported protocol version",
        0x85 => "Client identifier not valid",
        0x86 => "Bad username or password",
        0x87 => "Not authorized",
        0x88 => "Server unavailable",
        0x89 => "Server busy",
        0x8A => "Banned",
        0x8C => "Bad authentication method",
        0x90 => "Topic Name invalid",
        0x95 => "Packet too large",
        0x97 => "Quota exceeded",
        0x99 => "Payload format invalid",
        0x9A => "Retain not supported",
        0x9B => "QoS not supported",
        0x9C => "Use another server",
        0x9D => "Server moved",
        0x9F => "Connection rate exceeded",
        _ => "Unknown reason",
    }
    .to_owned()
}
