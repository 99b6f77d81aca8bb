//! Opening the connection of a tool from its [`ConnectOptions`], and the messages Mosquitto's
//! clients print when that fails.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mqtt_client::{
    connect, Client, ClientError, ClientOptions, Direction, Message, Messages, PacketObserver,
    Transport,
};
use mqtt_codec::{ConnAck, LastWill, MqttString, Packet, ProtocolVersion, PublishQos, ReasonCode};
use tokio::sync::Notify;

use crate::args::{ConnectOptions, Tool};
use crate::args::{TlsOptions as TlsArgs, TlsVersion as TlsVersionArg};
use mqtt_client::{rustls, ProxyErrorKind, Socks5Proxy, TlsOptions, TlsVersion};

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
    let tls = c
        .tls
        .as_ref()
        .map(|t| tls_options(t, c.debug))
        .transpose()?;
    let transport = match &c.unix {
        Some(path) => Transport::Unix(path.clone()),
        None => Transport::Tcp {
            host: c.host.clone(),
            port: c.port,
        },
    };
    let mut o = ClientOptions::new(transport).version(c.version);
    o.tls = tls;
    o.proxy = c.proxy.as_ref().map(socks5_proxy);
    o.bind_address = c.bind_address.clone();
    o.nodelay = c.nodelay;
    o.connect_timeout = Duration::from_secs(60);
    let connect = &mut o.connect;
    connect.clean_start = c.clean_session;
    connect.keep_alive = c.keep_alive;
    let id = match (&c.client_id, c.version) {
        (Some(id), _) => id.clone(),
        // MQTT 3.1 servers refuse an empty client id; libmosquitto makes one up.
        (None, ProtocolVersion::V3_1) => random_client_id(),
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

/// The client's TLS options for `--cafile`, `--capath`, `--cert`/`--key`, `--insecure`,
/// `--tls-version`, `--tls-alpn` and `--tls-use-os-certs`, with the files loaded now, failing
/// as `mosquitto_tls_set` and libmosquitto's connect do.
///
/// `--ciphers` is ignored: it names OpenSSL cipher lists, which rustls has no equivalent of
/// (rustls only offers its own safe suites). `--tls-version tlsv1.2` and `tlsv1.1` are
/// minimums for libmosquitto, so they allow TLS 1.2 and 1.3 here; `tlsv1.3` allows TLS 1.3
/// only.
fn tls_options(t: &TlsArgs, debug: bool) -> Result<TlsOptions, ConnectFailure> {
    // mosquitto_tls_set opens these before anything else.
    for path in [&t.cafile, &t.cert, &t.key].into_iter().flatten() {
        if std::fs::File::open(path).is_err() {
            return Err(fail("Error: Problem setting TLS options: File not found."));
        }
    }
    let mut tls = TlsOptions::new();
    tls.ca_file = t.cafile.clone();
    // OpenSSL looks into the directory only while verifying, so a missing one merely trusts
    // nothing.
    tls.ca_dir = t
        .capath
        .clone()
        .filter(|dir| std::fs::read_dir(dir).is_ok());
    tls.use_os_certs = t.use_os_certs;
    tls.client_cert = t.cert.clone();
    tls.client_key = t.key.clone();
    tls.insecure = t.insecure;
    tls.alpn = t.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    if t.version == Some(TlsVersionArg::Tls1_3) {
        tls.versions = vec![TlsVersion::Tls13];
    }
    // OpenSSL verifies against an empty store when the only CA source is a --capath without
    // certificates: the handshake then fails. rustls wants at least one trusted CA.
    let trusts_nothing = t.cafile.is_none()
        && !t.use_os_certs
        && t.capath
            .as_ref()
            .is_none_or(|dir| TlsOptions::new().with_ca_dir(dir).client_config().is_err());
    if trusts_nothing {
        return trust_nothing(&tls)
            .map_err(|e| fail(format!("Error: Problem setting TLS options: {e}.")));
    }
    // Load the files once now; reconnections reuse the configuration.
    match tls.client_config() {
        Ok(config) => Ok(TlsOptions::from_config(config)),
        Err(e) => {
            let mut messages = vec!["Unable to connect (A TLS error occurred.).".to_owned()];
            if debug {
                messages.push(format!("Error: {e}"));
            }
            Err(ConnectFailure { messages, code: 1 })
        }
    }
}

/// TLS options whose configuration trusts no server certificate (see [`TrustNothing`]), with
/// the versions and ALPN of `tls`.
fn trust_nothing(tls: &TlsOptions) -> Result<TlsOptions, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls.versions == [TlsVersion::Tls13] {
        &[&rustls::version::TLS13]
    } else {
        rustls::DEFAULT_VERSIONS
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(TrustNothing(provider)))
        .with_no_client_auth();
    config.alpn_protocols = tls.alpn.clone();
    Ok(TlsOptions::from_config(Arc::new(config)))
}

/// A certificate verifier with no trusted CA: every server certificate has an unknown issuer.
#[derive(Debug)]
struct TrustNothing(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for TrustNothing {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `--proxy socks5h://...` for the client.
fn socks5_proxy(p: &crate::args::Socks5Proxy) -> Socks5Proxy {
    let mut proxy = Socks5Proxy::new(p.host.clone(), p.port);
    proxy.username = p.username.clone();
    proxy.password = p.password.clone();
    proxy
}

/// What `mosquitto_pub` and `mosquitto_sub` print when TLS or the SOCKS5 proxy fails once the
/// TCP connection is open, with their exit codes (libmosquitto's error numbers). `None` for
/// other errors.
///
/// - The TLS handshake fails: "A TLS error occurred." (8). libmosquitto runs the handshake
///   either inside `mosquitto_connect` or in its network loop, depending on how fast the server
///   answers, and prints "Unable to connect (A TLS error occurred.)." with exit code 1 in the
///   first case: these tools always answer as a server across a network makes it answer, from
///   the loop.
/// - The server ends the session with an alert after the handshake (such as a missing client
///   certificate under TLS 1.3): "The connection was lost." (7).
/// - The proxy refuses the password: "Invalid function arguments provided." (3); wants
///   credentials that were not given: "Authorisation failed." (11); cannot reach the server:
///   "The client is not currently connected." (4; `mosquitto_sub` retries silently for ever).
fn transport_failure(e: &ClientError, debug: bool) -> Option<ConnectFailure> {
    let (first, code) = match e {
        ClientError::Tls(_) => ("Error: A TLS error occurred.", 8),
        ClientError::Io(io)
            if io.kind() == std::io::ErrorKind::ConnectionAborted
                && io.to_string().starts_with("TLS: ") =>
        {
            ("Error: The connection was lost.", 7)
        }
        ClientError::Proxy { kind, .. } => match kind {
            ProxyErrorKind::AuthenticationFailed | ProxyErrorKind::InvalidCredentials => {
                ("Error: Invalid function arguments provided.", 3)
            }
            ProxyErrorKind::NoAcceptableMethod => ("Error: Authorisation failed.", 11),
            _ => ("Error: The client is not currently connected.", 4),
        },
        _ => return None,
    };
    let mut messages = vec![first.to_owned()];
    if debug {
        messages.push(format!("Error: {e}"));
    }
    Some(ConnectFailure { messages, code })
}

/// `mosq-` and 18 random letters and digits: the 23 characters an MQTT 3.1 server must accept,
/// made up like libmosquitto does when no id is given.
fn random_client_id() -> String {
    let mut id = String::from("mosq-");
    id.extend(std::iter::repeat_with(fastrand::alphanumeric).take(18));
    id
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

    /// Whether the server refused the connection in its CONNACK (rather than the connection
    /// failing to open).
    pub fn is_refusal(&self) -> bool {
        self.messages
            .first()
            .is_some_and(|m| m.starts_with("Connection error: "))
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

/// Connects; on failure returns Mosquitto's wording and exit code for `tool`: a refused CONNACK
/// gives `Connection error: ...` (`mosquitto_pub` adds a second line, `mosquitto_rr` words MQTT
/// 3.1.1 refusals with the MQTT 5 reason strings, as 2.0.11 does) and exits with the CONNACK's
/// code; a failure to open the connection exits with 1.
///
/// The [`Incoming`] messages come in the order, and with the message ids, that libmosquitto
/// hands them to Mosquitto's tools.
pub async fn open(
    c: &ConnectOptions,
    tool: Tool,
) -> Result<(Client, Incoming, ConnAck), ConnectFailure> {
    open_observed(c, tool, None).await
}

/// A callback that sees every packet of a connection (for `-d`); see [`open_observed`].
pub type PacketWatcher = Arc<dyn Fn(Direction, &Packet) + Send + Sync>;

/// Like [`open`], also passing every packet of the connection to `watch` (for debug output).
///
/// [`open`] installs its own [`PacketObserver`] to learn message ids, so a tool that wants to
/// see packets too must hand its callback here rather than set `ClientOptions::observer`.
pub async fn open_observed(
    c: &ConnectOptions,
    tool: Tool,
    watch: Option<PacketWatcher>,
) -> Result<(Client, Incoming, ConnAck), ConnectFailure> {
    let mut options = client_options(c)?;
    let watch = match watch {
        Some(watch) => Some(watch),
        // `-d`: libmosquitto's debug lines on stdout.
        None if c.debug => Some(crate::debug::watcher(
            c.version,
            options.connect.client_id.as_str(),
        )),
        None => None,
    };
    let shared = Arc::new(Shared::default());
    if options.observer.is_none() {
        let tracker = Arc::clone(&shared);
        options.observer = Some(PacketObserver::new(move |direction, packet| {
            if let Some(watch) = &watch {
                watch(direction, packet);
            }
            if direction == Direction::Received {
                tracker.saw(packet);
            }
        }));
    } else {
        // Somebody else observes the packets: message ids are unknown (printed as 0) and
        // messages come in the order they arrive.
        shared.untracked.store(true, Ordering::Relaxed);
    }
    match connect(options).await {
        Ok((client, messages, connack)) => Ok((client, Incoming::new(messages, shared), connack)),
        Err(ClientError::Refused(connack)) => Err(refused(c.version, tool, &connack)),
        Err(e) if transport_failure(&e, c.debug).is_some() => {
            Err(transport_failure(&e, c.debug).unwrap_or_else(|| fail(format!("Error: {e}"))))
        }
        Err(ClientError::Io(e)) => Err(fail(io_failure(&e))),
        Err(e) => Err(fail(format!("Error: {e}"))),
    }
}

/// The messages and exit code of a refused CONNACK.
fn refused(version: ProtocolVersion, tool: Tool, connack: &ConnAck) -> ConnectFailure {
    // What libmosquitto passes to the connect callback: the 3.1.1 return code, or the reason code.
    let code = if version.is_v5() {
        u8::from(connack.reason_code)
    } else {
        connack.reason_code.to_v3_connack()
    };
    let unsupported =
        version.is_v5() && connack.reason_code == ReasonCode::UnsupportedProtocolVersion;
    let first = match tool {
        Tool::Rr if unsupported => format!(
            "Connection error: {}. {} only supports connecting to an MQTT v5 broker",
            reason_string(code),
            tool.name()
        ),
        // mosquitto_rr words every refusal with the MQTT 5 strings, even 3.1.1 return codes.
        Tool::Rr => format!("Connection error: {}", reason_string(code)),
        _ if unsupported => format!(
            "Connection error: {}. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.",
            reason_string(code)
        ),
        _ => format!(
            "Connection error: {}",
            connack_string(version, connack.reason_code)
        ),
    };
    let mut messages = vec![first];
    if tool == Tool::Pub {
        messages.push(if version.is_v5() {
            "Error: A network protocol error occurred when communicating with the broker."
                .to_owned()
        } else {
            "Error: The connection was refused.".to_owned()
        });
    }
    ConnectFailure {
        messages,
        code: i32::from(code),
    }
}

/// What Mosquitto's tools print when the connection cannot be opened: `Unable to connect
/// (Lookup error.).` for a name that does not resolve, else `Error: <strerror>`.
fn io_failure(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.starts_with("failed to lookup address information")
        || text.ends_with("no address found")
    {
        return "Unable to connect (Lookup error.).".to_owned();
    }
    format!("Error: {}", io_message(e))
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

/// `mosquitto_connack_string` (3.1, 3.1.1) and `mosquitto_reason_string` (5.0) for a CONNACK.
/// The codec holds 3.1.1 return codes as reason codes; they are mapped back first.
pub fn connack_string(version: ProtocolVersion, code: ReasonCode) -> String {
    if !version.is_v5() {
        return match code.to_v3_connack() {
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
    reason_string(u8::from(code)).to_owned()
}

/// `mosquitto_reason_string` of libmosquitto 2.0.11: the text of an MQTT 5 reason code.
pub fn reason_string(code: u8) -> &'static str {
    match code {
        0x00 => "Success",
        0x01 => "Granted QoS 1",
        0x02 => "Granted QoS 2",
        0x04 => "Disconnect with Will Message",
        0x10 => "No matching subscribers",
        0x11 => "No subscription existed",
        0x18 => "Continue authentication",
        0x19 => "Re-authenticate",
        0x80 => "Unspecified error",
        0x81 => "Malformed Packet",
        0x82 => "Protocol Error",
        0x83 => "Implementation specific error",
        0x84 => "Unsupported Protocol Version",
        0x85 => "Client Identifier not valid",
        0x86 => "Bad User Name or Password",
        0x87 => "Not authorized",
        0x88 => "Server unavailable",
        0x89 => "Server busy",
        0x8A => "Banned",
        0x8B => "Server shutting down",
        0x8C => "Bad authentication method",
        0x8D => "Keep Alive timeout",
        0x8E => "Session taken over",
        0x8F => "Topic Filter invalid",
        0x90 => "Topic Name invalid",
        0x91 => "Packet Identifier in use",
        0x92 => "Packet Identifier not found",
        0x93 => "Receive Maximum exceeded",
        0x94 => "Topic Alias invalid",
        0x95 => "Packet too large",
        0x96 => "Message rate too high",
        0x97 => "Quota exceeded",
        0x98 => "Administrative action",
        0x99 => "Payload format invalid",
        0x9A => "Retain not supported",
        0x9B => "QoS not supported",
        0x9C => "Use another server",
        0x9D => "Server moved",
        0x9E => "Shared Subscriptions not supported",
        0x9F => "Connection rate exceeded",
        0xA0 => "Maximum connect time",
        0xA1 => "Subscription identifiers not supported",
        0xA2 => "Wildcard Subscriptions not supported",
        _ => "Unknown reason",
    }
}

/// A message as libmosquitto hands it to a tool: with its message id (the packet identifier, 0
/// for QoS 0), which `-F %m` prints.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The message.
    pub message: Message,
    /// Its packet identifier; 0 for QoS 0.
    pub mid: u16,
}

/// What the packet observer learnt, shared with [`Incoming`].
#[derive(Default)]
struct Shared {
    track: Mutex<Track>,
    changed: Notify,
    untracked: AtomicBool,
}

#[derive(Default)]
struct Track {
    /// PUBLISH packets that will reach the application so far (the sequence number of the next).
    published: u64,
    /// QoS 2 messages awaiting PUBREL: packet identifier and sequence number.
    awaiting_release: HashMap<u16, u64>,
    /// Messages libmosquitto would hand over, in its order: sequence number and message id.
    ready: VecDeque<(u64, u16)>,
}

impl Shared {
    fn saw(&self, packet: &Packet) {
        let Ok(mut track) = self.track.lock() else {
            return;
        };
        match packet {
            Packet::Publish(p) => {
                let mid = p.qos.packet_id().map_or(0, |id| id.get());
                match p.qos {
                    PublishQos::ExactlyOnce(_) => {
                        // A re-sent PUBLISH still awaiting PUBREL is not delivered twice.
                        if !track.awaiting_release.contains_key(&mid) {
                            let seq = track.published;
                            track.published += 1;
                            track.awaiting_release.insert(mid, seq);
                        }
                    }
                    _ => {
                        let seq = track.published;
                        track.published += 1;
                        track.ready.push_back((seq, mid));
                    }
                }
            }
            // libmosquitto hands a QoS 2 message over when the PUBREL arrives.
            Packet::PubRel(rel) => {
                let mid = rel.packet_id.get();
                if let Some(seq) = track.awaiting_release.remove(&mid) {
                    track.ready.push_back((seq, mid));
                }
            }
            _ => return,
        }
        drop(track);
        self.changed.notify_one();
    }
}

/// The messages of a connection as libmosquitto hands them to Mosquitto's tools: QoS 0 and 1
/// messages when their PUBLISH arrives, QoS 2 messages when their PUBREL arrives (so a later
/// QoS 0 message may come first), each with its message id.
pub struct Incoming {
    messages: Messages,
    shared: Arc<Shared>,
    /// Messages received from the client, by sequence number, not handed over yet.
    held: VecDeque<(u64, Message)>,
    /// The sequence number of the next message from the client.
    next: u64,
    /// The client has no more messages.
    ended: bool,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("held", &self.held.len())
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Incoming {
    fn new(messages: Messages, shared: Arc<Shared>) -> Incoming {
        Incoming {
            messages,
            shared,
            held: VecDeque::new(),
            next: 0,
            ended: false,
        }
    }

    /// The next message, or `None` once the connection has ended.
    pub async fn recv(&mut self) -> Option<Delivered> {
        if self.shared.untracked.load(Ordering::Relaxed) {
            let message = self.messages.recv().await?;
            return Some(Delivered { message, mid: 0 });
        }
        loop {
            if let Some(delivered) = self.take_ready() {
                return Some(delivered);
            }
            if self.ended {
                return None;
            }
            tokio::select! {
                message = self.messages.recv() => match message {
                    Some(message) => {
                        self.held.push_back((self.next, message));
                        self.next += 1;
                    }
                    None => self.ended = true,
                },
                () = self.shared.changed.notified() => {}
            }
        }
    }

    /// The message libmosquitto would hand over next, if it has arrived.
    fn take_ready(&mut self) -> Option<Delivered> {
        let mut track = self.shared.track.lock().ok()?;
        while let Some(&(seq, mid)) = track.ready.front() {
            if let Some(at) = self.held.iter().position(|(s, _)| *s == seq) {
                track.ready.pop_front();
                let (_, message) = self.held.remove(at)?;
                return Some(Delivered { message, mid });
            }
            if seq < self.next {
                // Never came from the client (cannot happen with its session); skip it.
                track.ready.pop_front();
                continue;
            }
            return None;
        }
        None
    }
}
