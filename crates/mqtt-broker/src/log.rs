//! Logging in Mosquitto's format: `<timestamp>: <message>`, to the configured destinations.
//!
//! The destinations (`log_dest`), the types (`log_type`) and the timestamp (`log_timestamp`,
//! `log_timestamp_format`) can change while the broker runs: [`Logger::reconfigure`] applies a
//! reloaded configuration (SIGHUP), [`Logger::reopen`] reopens the log file (logrotate).
//!
//! Each line has one of Mosquitto's types ([`LogType`]), told by its level and, for the types
//! that share a level, its target ([`target`]). The type decides whether `log_type` lets the
//! line through, its `$SYS/broker/log/...` topic (`log_dest topic`) and its syslog severity
//! (`log_dest syslog`).

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::format::Item;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

use crate::config::{Config, LogDest, LogTypes};
use crate::hub::Hub;

/// Targets of the events whose level alone does not tell their [`LogType`]: an `info!` is a
/// notice and a `debug!` is debug output unless they name one of these.
///
/// ```
/// tracing::info!(target: mqtt_broker::log::target::INFORMATION, "Config loaded from x.conf.");
/// tracing::debug!(target: mqtt_broker::log::target::SUBSCRIBE, "client-1 0 a/b");
/// ```
pub mod target {
    /// `information` (at INFO level): start-up, configuration, listeners.
    pub const INFORMATION: &str = "mqtt_broker::information";
    /// `subscribe` (at DEBUG level): `<client id> <qos> <filter>` of each subscription.
    pub const SUBSCRIBE: &str = "mqtt_broker::subscribe";
    /// `unsubscribe` (at DEBUG level): `<client id> <filter>` of each unsubscription.
    pub const UNSUBSCRIBE: &str = "mqtt_broker::unsubscribe";
}

/// The type of a log line, one of Mosquitto's `log_type` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogType {
    /// `error`: ERROR level.
    Error,
    /// `warning`: WARN level.
    Warning,
    /// `notice`: INFO level (connections, disconnections).
    Notice,
    /// `information`: INFO level with target [`target::INFORMATION`].
    Information,
    /// `debug`: DEBUG and TRACE levels.
    Debug,
    /// `subscribe`: DEBUG level with target [`target::SUBSCRIBE`].
    Subscribe,
    /// `unsubscribe`: DEBUG level with target [`target::UNSUBSCRIBE`].
    Unsubscribe,
}

impl LogType {
    /// The type of an event.
    pub fn of(meta: &Metadata<'_>) -> LogType {
        match *meta.level() {
            Level::ERROR => LogType::Error,
            Level::WARN => LogType::Warning,
            Level::INFO if meta.target() == target::INFORMATION => LogType::Information,
            Level::INFO => LogType::Notice,
            _ => match meta.target() {
                target::SUBSCRIBE => LogType::Subscribe,
                target::UNSUBSCRIBE => LogType::Unsubscribe,
                _ => LogType::Debug,
            },
        }
    }

    /// Its `log_type` flag.
    pub fn flag(self) -> LogTypes {
        match self {
            LogType::Error => LogTypes::ERROR,
            LogType::Warning => LogTypes::WARNING,
            LogType::Notice => LogTypes::NOTICE,
            LogType::Information => LogTypes::INFORMATION,
            LogType::Debug => LogTypes::DEBUG,
            LogType::Subscribe => LogTypes::SUBSCRIBE,
            LogType::Unsubscribe => LogTypes::UNSUBSCRIBE,
        }
    }

    /// The topic its lines are published on with `log_dest topic`, as Mosquitto's. Debug
    /// lines are never published (Mosquitto's rule, which also keeps the publication of a log
    /// line, logged at debug level, from being published in turn).
    pub fn topic(self) -> Option<&'static str> {
        match self {
            LogType::Error => Some("$SYS/broker/log/E"),
            LogType::Warning => Some("$SYS/broker/log/W"),
            LogType::Notice => Some("$SYS/broker/log/N"),
            LogType::Information => Some("$SYS/broker/log/I"),
            LogType::Subscribe => Some("$SYS/broker/log/M/subscribe"),
            LogType::Unsubscribe => Some("$SYS/broker/log/M/unsubscribe"),
            LogType::Debug => None,
        }
    }

    /// Its syslog severity, as Mosquitto's (subscribe and unsubscribe are notices).
    pub fn syslog_severity(self) -> u8 {
        match self {
            LogType::Error => 3,
            LogType::Warning => 4,
            LogType::Notice | LogType::Subscribe | LogType::Unsubscribe => 5,
            LogType::Information => 6,
            LogType::Debug => 7,
        }
    }
}

/// What starts a log line (`log_timestamp`, `log_timestamp_format`).
#[derive(Debug, Clone, Default)]
pub enum Timestamp {
    /// No timestamp (`log_timestamp false`).
    None,
    /// Seconds since the epoch, Mosquitto's default: `1700000000: message`.
    #[default]
    Epoch,
    /// Local time in a `strftime` format (`log_timestamp_format`), e.g. `%Y-%m-%dT%H:%M:%S`
    /// gives `2024-05-01T12:00:00: message`.
    Format(Vec<Item<'static>>),
}

impl Timestamp {
    /// The timestamp the logging options of `config` ask for. A `log_timestamp_format` that is
    /// not a valid `strftime` format gives seconds since the epoch, and the error to log.
    pub fn of(config: &Config) -> (Timestamp, Option<String>) {
        if !config.log.timestamp {
            return (Timestamp::None, None);
        }
        match &config.log.timestamp_format {
            None => (Timestamp::Epoch, None),
            Some(format) => match chrono::format::StrftimeItems::new(format).parse_to_owned() {
                Ok(items) => (Timestamp::Format(items), None),
                Err(e) => (
                    Timestamp::Epoch,
                    Some(format!(
                        "Warning: Invalid log_timestamp_format \"{format}\" ({e}); using seconds since the epoch."
                    )),
                ),
            },
        }
    }

    fn write(&self, writer: &mut Writer<'_>) -> fmt::Result {
        match self {
            Timestamp::None => Ok(()),
            Timestamp::Epoch => {
                let secs = crate::clock::now().as_millis() / 1000;
                write!(writer, "{secs}: ")
            }
            Timestamp::Format(items) => {
                write!(
                    writer,
                    "{}: ",
                    chrono::Local::now().format_with_items(items.iter())
                )
            }
        }
    }
}

/// Formats events as Mosquitto does: the timestamp, a colon, the message.
#[derive(Debug, Clone, Default)]
pub struct MosquittoFormat {
    timestamp: Arc<RwLock<Timestamp>>,
}

impl MosquittoFormat {
    /// A format starting each line with `timestamp`.
    pub fn new(timestamp: Timestamp) -> Self {
        MosquittoFormat {
            timestamp: Arc::new(RwLock::new(timestamp)),
        }
    }

    /// Changes the timestamp of the lines to come.
    pub fn set_timestamp(&self, timestamp: Timestamp) {
        *self.timestamp.write().unwrap_or_else(|p| p.into_inner()) = timestamp;
    }
}

impl<S, N> FormatEvent<S, N> for MosquittoFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        self.timestamp
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .write(&mut writer)?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// The destinations in force.
#[derive(Debug, Default)]
struct Destinations {
    /// The `log_type`s written (`-v`: all).
    types: LogTypes,
    stdout: bool,
    stderr: bool,
    file: Option<(PathBuf, Option<std::fs::File>)>,
    /// The queue of the thread that writes to the system logger.
    syslog: Option<Syslog>,
    topic: bool,
}

/// The system log's socket, as syslog(3) uses it.
const SYSLOG_SOCKET: &str = "/dev/log";

/// How long the syslog thread waits for a system logger that does not read (then the line is
/// dropped, and the socket kept).
const SYSLOG_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// How many lines may wait for the syslog thread; past that, lines are not sent to the system
/// logger (they still reach the other destinations).
const SYSLOG_QUEUE: usize = 1024;

/// How long the syslog thread waits before trying again to reach a system logger it could not
/// connect to (meanwhile, lines are dropped).
const SYSLOG_RETRY: Duration = Duration::from_secs(1);

/// `log_dest syslog`: each line is one datagram on the system log's socket, in the format
/// glibc's syslog(3) sends (what Mosquitto's `openlog("mosquitto", LOG_PID, facility)` gives),
/// `<PRI>Mmm dd hh:mm:ss mqtt-broker[PID]: LINE`, PRI being facility × 8 + severity.
///
/// Written here rather than through libc's syslog(3) (which this crate's `forbid(unsafe_code)`
/// and its fixed socket path rule out) or the `syslog` crate (UTC timestamps, no reconnection):
/// the format is one line, and the socket path can be pointed elsewhere by the tests.
///
/// The lines go through a bounded queue to a thread of their own, which does the (blocking)
/// sending: a logging thread, which may hold the broker's locks, never waits for the system
/// logger; when the queue is full the line is dropped, as the system logger itself does when
/// it cannot keep up.
#[derive(Debug)]
struct Syslog {
    /// `log_facility` as a syslog facility code: 3 (daemon) or 16-23 (local0-7).
    facility: u8,
    /// The datagrams for the thread; the thread ends when this is dropped.
    queue: std::sync::mpsc::SyncSender<Vec<u8>>,
}

impl Syslog {
    /// Starts the thread that sends to the socket at `path`; `None` (said on stderr) if no
    /// thread can be started.
    fn start(path: PathBuf, facility: u8) -> Option<Self> {
        let (queue, datagrams) = std::sync::mpsc::sync_channel(SYSLOG_QUEUE);
        let writer = SyslogWriter {
            path,
            socket: None,
            retry_at: None,
            warned: false,
        };
        std::thread::Builder::new()
            .name("syslog".to_owned())
            .spawn(move || writer.run(&datagrams))
            .map_err(|e| eprintln!("Error: Unable to start the syslog thread: {e}"))
            .ok()?;
        Some(Syslog { facility, queue })
    }

    /// The datagram of `line` (without its newline).
    fn datagram(&self, severity: u8, line: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "<{}>{} mqtt-broker[{}]: ",
            u16::from(self.facility) * 8 + u16::from(severity),
            chrono::Local::now().format("%b %e %H:%M:%S"),
            std::process::id()
        )
        .into_bytes();
        out.extend_from_slice(line);
        out
    }

    /// Queues a line for the system logger; never waits (a line that finds the queue full is
    /// dropped).
    fn send(&self, severity: u8, line: &[u8]) {
        let _ = self.queue.try_send(self.datagram(severity, line));
    }
}

/// The syslog thread's side: the socket, connected on first use and again when the logger
/// went away (it restarted).
struct SyslogWriter {
    path: PathBuf,
    socket: Option<std::os::unix::net::UnixDatagram>,
    /// After a failed connection, no new attempt before this.
    retry_at: Option<std::time::Instant>,
    /// The logger's absence was said on stderr.
    warned: bool,
}

impl SyslogWriter {
    fn run(mut self, datagrams: &std::sync::mpsc::Receiver<Vec<u8>>) {
        while let Ok(datagram) = datagrams.recv() {
            self.send(&datagram);
        }
    }

    /// Whether a socket is connected (connecting it if need be, at most once per
    /// [`SYSLOG_RETRY`]).
    fn connect(&mut self) -> bool {
        if self.socket.is_some() {
            return true;
        }
        let now = std::time::Instant::now();
        if self.retry_at.is_some_and(|at| now < at) {
            return false;
        }
        let connected = std::os::unix::net::UnixDatagram::unbound().and_then(|socket| {
            socket.connect(&self.path)?;
            socket.set_write_timeout(Some(SYSLOG_SEND_TIMEOUT))?;
            Ok(socket)
        });
        match connected {
            Ok(socket) => {
                self.socket = Some(socket);
                self.retry_at = None;
                true
            }
            Err(e) => {
                if !self.warned {
                    self.warned = true;
                    eprintln!(
                        "Warning: Unable to reach the system logger at {}: {e}; log lines for syslog are dropped until it can be reached.",
                        self.path.display()
                    );
                }
                self.retry_at = now.checked_add(SYSLOG_RETRY);
                false
            }
        }
    }

    /// Sends a datagram; one the system logger cannot take is dropped (as syslog(3) does).
    fn send(&mut self, datagram: &[u8]) {
        // One retry on a fresh socket: the logger may have restarted since the last line.
        for _ in 0..2 {
            if !self.connect() {
                return;
            }
            let Some(socket) = &self.socket else { return };
            match socket.send(datagram) {
                Ok(_) => return,
                // A logger that does not keep up: this line is dropped, the socket kept.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return
                }
                Err(_) => self.socket = None,
            }
        }
    }
}

thread_local! {
    /// Set while this thread publishes a log line (`log_dest topic`): whatever it logs
    /// meanwhile is not published in turn, so that a log line can never feed itself.
    static PUBLISHING_LOG: Cell<bool> = const { Cell::new(false) };
}

/// A log line on its way to its `$SYS/broker/log/...` topic.
type TopicLine = (&'static str, Bytes);

/// How many log lines may wait for publication; past that, lines are not published (they
/// still reach the other destinations).
const TOPIC_QUEUE: usize = 1024;

/// Where log lines go: `log_dest stdout|stderr|file|syslog|topic`. Shared with the SIGHUP
/// handler, which reopens the file (as Mosquitto does, for logrotate) and applies a reloaded
/// `log_dest`.
#[derive(Debug)]
pub struct Sinks {
    destinations: RwLock<Destinations>,
    /// The system log's socket (a test's own socket in tests).
    syslog_path: PathBuf,
    /// `log_dest topic`: the queue of the task that publishes, once the broker runs
    /// ([`Logger::publish_to`]). A logging thread never publishes itself: publishing takes
    /// the broker's locks and logs, and logging happens under them.
    topic: OnceLock<tokio::sync::mpsc::Sender<TopicLine>>,
}

impl Default for Sinks {
    fn default() -> Self {
        Sinks {
            destinations: RwLock::default(),
            syslog_path: PathBuf::from(SYSLOG_SOCKET),
            topic: OnceLock::new(),
        }
    }
}

impl Sinks {
    fn open(path: &Path) -> Option<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| eprintln!("Error: Unable to open log file {}: {e}", path.display()))
            .ok()
    }

    /// Sinks for the `log_dest` options of `config`, writing the lines of `types`.
    fn of(config: &Config, types: LogTypes) -> Sinks {
        let sinks = Sinks::default();
        sinks.set(config, types);
        sinks
    }

    /// Switches to the `log_dest` options of `config` and to the lines of `types`. The log
    /// file is reopened only if its path changed.
    fn set(&self, config: &Config, types: LogTypes) {
        let mut wanted = Destinations {
            types,
            ..Destinations::default()
        };
        let mut file = None;
        let mut wanted_syslog = None;
        for dest in &config.log.dest {
            match dest {
                LogDest::Stdout => wanted.stdout = true,
                LogDest::Stderr => wanted.stderr = true,
                LogDest::File(path) => file = Some(path.clone()),
                LogDest::Syslog => wanted_syslog = Some(config.log.facility.code()),
                LogDest::Topic => wanted.topic = true,
                LogDest::None => {}
                // DLT (automotive) is not supported: fall back to stderr so that nothing is lost
                // silently.
                LogDest::Dlt => wanted.stderr = true,
            }
        }
        let mut current = self.destinations.write().unwrap_or_else(|p| p.into_inner());
        // A running syslog thread (and its open socket) stays, with the new facility.
        wanted.syslog = match (wanted_syslog, current.syslog.take()) {
            (Some(facility), Some(running)) => Some(Syslog {
                facility,
                queue: running.queue,
            }),
            (Some(facility), None) => Syslog::start(self.syslog_path.clone(), facility),
            (None, _) => None,
        };
        wanted.file = match (file, current.file.take()) {
            (Some(path), Some((open_path, handle))) if path == open_path => Some((path, handle)),
            (Some(path), _) => {
                let handle = Self::open(&path);
                Some((path, handle))
            }
            (None, _) => None,
        };
        *current = wanted;
    }

    /// Reopens the log file (after logrotate moved it).
    pub fn reopen(&self) {
        let mut current = self.destinations.write().unwrap_or_else(|p| p.into_inner());
        if let Some((path, file)) = &mut current.file {
            *file = Self::open(path);
        }
    }

    fn write_line(&self, kind: LogType, line: &[u8]) {
        use std::io::Write;
        let current = self.destinations.read().unwrap_or_else(|p| p.into_inner());
        if !current.types.contains(kind.flag()) {
            return;
        }
        if current.stdout {
            let _ = std::io::stdout().lock().write_all(line);
        }
        if current.stderr {
            let _ = std::io::stderr().lock().write_all(line);
        }
        if let Some((_, Some(mut file))) = current.file.as_ref().map(|(p, f)| (p, f.as_ref())) {
            let _ = file.write_all(line);
        }
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        if let Some(syslog) = &current.syslog {
            syslog.send(kind.syslog_severity(), text);
        }
        if current.topic && !PUBLISHING_LOG.with(Cell::get) {
            if let (Some(topic), Some(queue)) = (kind.topic(), self.topic.get()) {
                // Never waits: when the queue is full, the line is not published.
                let _ = queue.try_send((topic, Bytes::copy_from_slice(text)));
            }
        }
    }
}

/// Publishes the log lines queued by the sinks, as the broker's own messages: QoS 2, not
/// retained, with a Message Expiry Interval of 20 s (as Mosquitto). The payload is the line
/// with its timestamp, without the newline.
async fn publish_lines(hub: Arc<Hub>, mut lines: tokio::sync::mpsc::Receiver<TopicLine>) {
    while let Some((topic, line)) = lines.recv().await {
        let Ok(topic) = mqtt_codec::TopicName::new(topic) else {
            continue;
        };
        let mut message = mqtt_session::Message::new(topic, line, mqtt_codec::QoS::ExactlyOnce);
        message.properties.message_expiry_interval = Some(20);
        // Routing takes no `.await`: the flag covers everything it logs on this thread.
        PUBLISHING_LOG.with(|p| p.set(true));
        hub.publish_internal(message);
        PUBLISHING_LOG.with(|p| p.set(false));
    }
}

/// One formatted event, written to every sink when dropped (so lines never interleave).
pub struct LineWriter<'a> {
    sinks: &'a Sinks,
    kind: LogType,
    buf: Vec<u8>,
}

impl std::io::Write for LineWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        self.sinks.write_line(self.kind, &self.buf);
    }
}

/// The `MakeWriter` over shared sinks.
#[derive(Clone)]
pub struct SinksWriter(pub Arc<Sinks>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SinksWriter {
    type Writer = LineWriter<'a>;
    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            sinks: &self.0,
            kind: LogType::Notice,
            buf: Vec::with_capacity(128),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LineWriter<'a> {
        LineWriter {
            sinks: &self.0,
            kind: LogType::of(meta),
            buf: Vec::with_capacity(128),
        }
    }
}

/// The most verbose level the `log_type` options let through (a quick first filter; the
/// sinks then keep the lines of the types asked for only).
///
/// Mosquitto's types map onto levels as [`LogType`] says: `debug`/`subscribe`/`unsubscribe` →
/// DEBUG, `notice`/`information` → INFO, `warning` → WARN, `error` → ERROR.
fn level(types: LogTypes) -> LevelFilter {
    if types.contains(LogTypes::DEBUG)
        || types.contains(LogTypes::SUBSCRIBE)
        || types.contains(LogTypes::UNSUBSCRIBE)
    {
        LevelFilter::DEBUG
    } else if types.contains(LogTypes::INFORMATION) || types.contains(LogTypes::NOTICE) {
        LevelFilter::INFO
    } else if types.contains(LogTypes::WARNING) {
        LevelFilter::WARN
    } else if types.contains(LogTypes::ERROR) {
        LevelFilter::ERROR
    } else {
        LevelFilter::OFF
    }
}

/// The broker's logging, installed by [`init`]; kept by the SIGHUP handler.
pub struct Logger {
    sinks: Arc<Sinks>,
    format: MosquittoFormat,
    level: reload::Handle<LevelFilter, Registry>,
    /// `-v`: every type, whatever the configuration says.
    verbose: bool,
}

impl Logger {
    /// Reopens the log file (after logrotate moved it).
    pub fn reopen(&self) {
        self.sinks.reopen();
    }

    /// Starts publishing log lines on `$SYS/broker/log/...` through `hub` (`log_dest topic`,
    /// now or after a reload). Lines logged before are not published. Call it once, from
    /// within the broker's tokio runtime.
    pub fn publish_to(&self, hub: Arc<Hub>) {
        let (queue, lines) = tokio::sync::mpsc::channel(TOPIC_QUEUE);
        if self.sinks.topic.set(queue).is_ok() {
            tokio::spawn(publish_lines(hub, lines));
        }
    }

    /// Applies the logging options of a reloaded configuration: `log_dest`, `log_type` (unless
    /// `-v` was given), `log_facility`, `log_timestamp` and `log_timestamp_format`.
    pub fn reconfigure(&self, config: &Config) {
        let types = if self.verbose {
            LogTypes::ALL
        } else {
            config.log.types
        };
        self.sinks.set(config, types);
        let (timestamp, error) = Timestamp::of(config);
        self.format.set_timestamp(timestamp);
        if let Err(e) = self.level.reload(level(types)) {
            eprintln!("Error: Unable to change the log types: {e}");
        }
        if let Some(error) = error {
            tracing::warn!("{error}");
        }
    }
}

/// Installs the global subscriber from `log_dest`, `log_type`, `log_timestamp` and
/// `log_timestamp_format`; `-v` enables every type. Returns the [`Logger`] that reopens and
/// reconfigures it on SIGHUP.
pub fn init(config: &Config, verbose: bool) -> Logger {
    let types = if verbose {
        LogTypes::ALL
    } else {
        config.log.types
    };
    let sinks = Arc::new(Sinks::of(config, types));
    let (timestamp, error) = Timestamp::of(config);
    let format = MosquittoFormat::new(timestamp);
    let (filter, handle) = reload::Layer::new(level(types));
    let _ = subscriber(filter, &sinks, &format).try_init();
    if let Some(error) = error {
        tracing::warn!("{error}");
    }
    Logger {
        sinks,
        format,
        level: handle,
        verbose,
    }
}

/// The subscriber [`init`] installs: `filter`, then lines formatted by `format` into `sinks`.
fn subscriber<F>(filter: F, sinks: &Arc<Sinks>, format: &MosquittoFormat) -> impl Subscriber
where
    F: tracing_subscriber::Layer<Registry> + Send + Sync + 'static,
{
    tracing_subscriber::registry().with(filter).with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(SinksWriter(Arc::clone(sinks)))
            .event_format(format.clone()),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::LogFacility;

    fn config(text: &str) -> Config {
        Config::parse_mosquitto(text, Path::new("t.conf"))
            .unwrap()
            .config
    }

    fn render(timestamp: &Timestamp) -> String {
        let mut out = String::new();
        timestamp.write(&mut Writer::new(&mut out)).unwrap();
        out
    }

    #[test]
    fn timestamps_follow_log_timestamp_and_its_format() {
        let (t, e) = Timestamp::of(&config("log_timestamp false\n"));
        assert_eq!((render(&t), e), (String::new(), None));
        let (t, _) = Timestamp::of(&config(""));
        let epoch = render(&t);
        let secs = epoch.strip_suffix(": ").unwrap();
        assert!(
            secs.len() >= 10 && secs.bytes().all(|b| b.is_ascii_digit()),
            "{epoch}"
        );
        let (t, e) = Timestamp::of(&config("log_timestamp_format %Y-%m-%dT%H:%M:%S\n"));
        assert_eq!(e, None);
        let stamped = render(&t);
        // 2024-05-01T12:00:00: and nothing else.
        let b = stamped.as_bytes();
        assert_eq!(stamped.len(), 21, "{stamped}");
        assert!(stamped.ends_with(": "));
        for (i, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
            assert_eq!(b.get(i), Some(&sep), "{stamped}");
        }
        // Literal text is kept, as strftime keeps it.
        let (t, _) = Timestamp::of(&config("log_timestamp_format [%Y] broker\n"));
        let literal = render(&t);
        assert!(
            literal.starts_with('[') && literal.ends_with("] broker: "),
            "{literal}"
        );
    }

    #[test]
    fn an_invalid_timestamp_format_falls_back_to_the_epoch_with_a_warning() {
        let (t, e) = Timestamp::of(&config("log_timestamp_format %Q\n"));
        assert!(matches!(t, Timestamp::Epoch));
        assert!(e.unwrap().contains("log_timestamp_format"));
    }

    #[test]
    fn log_types_map_onto_levels() {
        assert_eq!(level(LogTypes::default()), LevelFilter::INFO);
        assert_eq!(level(LogTypes::ERROR), LevelFilter::ERROR);
        assert_eq!(
            level(LogTypes::ERROR | LogTypes::WARNING),
            LevelFilter::WARN
        );
        assert_eq!(level(LogTypes::ALL), LevelFilter::DEBUG);
        assert_eq!(level(LogTypes::NONE), LevelFilter::OFF);
    }

    #[test]
    fn sinks_follow_log_dest_and_keep_an_unchanged_file_open() {
        let dir = std::env::temp_dir().join(format!("mqtt-broker-log-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.log");
        let sinks = Sinks::of(
            &config(&format!("log_dest file {}\n", path.display())),
            LogTypes::ALL,
        );
        sinks.write_line(LogType::Notice, b"one\n");
        std::fs::rename(&path, dir.join("a.log.1")).unwrap();
        // Same path: the file stays open (the line goes to the moved file)...
        sinks.set(
            &config(&format!("log_dest file {}\n", path.display())),
            LogTypes::ALL,
        );
        sinks.write_line(LogType::Notice, b"two\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("a.log.1")).unwrap(),
            "one\ntwo\n"
        );
        // ...until it is reopened.
        sinks.reopen();
        sinks.write_line(LogType::Notice, b"three\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        // No file any more: nothing is written to it.
        sinks.set(&config("log_dest none\n"), LogTypes::ALL);
        sinks.write_line(LogType::Notice, b"four\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A socket of the test's own that plays the system logger (`/dev/log`).
    fn fake_syslog(dir: &Path) -> (PathBuf, std::os::unix::net::UnixDatagram) {
        let path = dir.join("log.sock");
        let _ = std::fs::remove_file(&path);
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (path, socket)
    }

    fn received(socket: &std::os::unix::net::UnixDatagram) -> String {
        let mut buf = [0u8; 2048];
        let n = socket.recv(&mut buf).unwrap();
        String::from_utf8(buf.get(..n).unwrap().to_vec()).unwrap()
    }

    /// Every event type of the broker, logged through the subscriber `init` installs.
    fn log_one_of_each(sinks: &Arc<Sinks>) {
        let format = MosquittoFormat::new(Timestamp::None);
        let subscriber = subscriber(LevelFilter::DEBUG, sinks, &format);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("n");
            tracing::info!(target: target::INFORMATION, "i");
            tracing::debug!("d");
            tracing::debug!(target: target::SUBSCRIBE, "s");
            tracing::debug!(target: target::UNSUBSCRIBE, "u");
        });
    }

    #[test]
    fn syslog_lines_carry_the_facility_and_the_severity_of_their_type() {
        let dir = test_support::TempDir::new("log-syslog");
        let (path, logger) = fake_syslog(dir.path());
        let sinks = Arc::new(Sinks {
            syslog_path: path.clone(),
            ..Sinks::default()
        });
        sinks.set(&config("log_dest syslog\nlog_facility 3\n"), LogTypes::ALL);
        log_one_of_each(&sinks);
        let pid = std::process::id();
        // LOG_LOCAL3 = 19: priority 19 × 8 + severity (err 3 ... debug 7; subscribe and
        // unsubscribe are notices, as in Mosquitto).
        for (priority, line) in [
            (155, "e"),
            (156, "w"),
            (157, "n"),
            (158, "i"),
            (159, "d"),
            (157, "s"),
            (157, "u"),
        ] {
            let got = received(&logger);
            // <157>Nov  2 10:22:11 mqtt-broker[PID]: n (glibc's syslog(3) format).
            let (head, rest) = got.split_once('>').unwrap();
            assert_eq!(head, format!("<{priority}"), "{got}");
            let stamp = rest.get(..15).unwrap();
            assert!(
                chrono::NaiveTime::parse_from_str(stamp.get(7..).unwrap(), "%H:%M:%S").is_ok(),
                "{got}"
            );
            assert_eq!(
                rest.get(15..).unwrap(),
                format!(" mqtt-broker[{pid}]: {line}"),
                "{got}"
            );
        }

        // The default facility is daemon (3); a logger that restarted is reconnected to.
        drop(logger);
        let (_, logger) = fake_syslog(dir.path());
        sinks.set(&config("log_dest syslog\n"), LogTypes::ALL);
        tracing::subscriber::with_default(
            subscriber(
                LevelFilter::DEBUG,
                &sinks,
                &MosquittoFormat::new(Timestamp::None),
            ),
            || tracing::warn!("again"),
        );
        let got = received(&logger);
        assert!(
            got.starts_with("<28>") && got.ends_with("]: again"),
            "{got}"
        );
    }

    #[test]
    fn a_system_logger_that_does_not_read_does_not_hold_up_the_logging_thread() {
        let dir = test_support::TempDir::new("log-syslog-stuck");
        let (path, logger) = fake_syslog(dir.path());
        let sinks = Arc::new(Sinks {
            syslog_path: path,
            ..Sinks::default()
        });
        sinks.set(&config("log_dest syslog\n"), LogTypes::ALL);
        // Far more lines than the logger's socket and the queue hold: sent synchronously,
        // with a wait on each line the logger does not take, this would take many minutes.
        const LINES: usize = 20 * SYSLOG_QUEUE;
        let (done, finished) = std::sync::mpsc::channel();
        let s = sinks.clone();
        std::thread::spawn(move || {
            let subscriber = subscriber(
                LevelFilter::DEBUG,
                &s,
                &MosquittoFormat::new(Timestamp::None),
            );
            tracing::subscriber::with_default(subscriber, || {
                for i in 0..LINES {
                    tracing::warn!("line {i}");
                }
            });
            let _ = done.send(());
        });
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("logging waited for the system logger");
        // The lines came in order, from the first; those the logger could not take were
        // dropped. Once it reads again, new lines reach it.
        let subscriber = subscriber(
            LevelFilter::DEBUG,
            &sinks,
            &MosquittoFormat::new(Timestamp::None),
        );
        tracing::subscriber::with_default(subscriber, || {
            assert!(received(&logger).ends_with("]: line 0"));
            let mut lines = 1;
            let mut last = 0;
            loop {
                tracing::warn!("after");
                let got = received(&logger);
                if got.ends_with("]: after") {
                    break;
                }
                let (_, n) = got.rsplit_once("]: line ").unwrap();
                let n: usize = n.parse().unwrap();
                assert!(n > last, "{got} after line {last}");
                last = n;
                lines += 1;
                assert!(lines < LINES, "every line was kept, none dropped");
            }
        });
    }

    #[test]
    fn log_type_keeps_the_lines_of_each_type_asked_for() {
        let dir = test_support::TempDir::new("log-types");
        let (path, logger) = fake_syslog(dir.path());
        let sinks = Arc::new(Sinks {
            syslog_path: path,
            ..Sinks::default()
        });
        sinks.set(
            &config("log_dest syslog\n"),
            LogTypes::NOTICE | LogTypes::SUBSCRIBE,
        );
        log_one_of_each(&sinks);
        assert!(received(&logger).ends_with(": n"));
        assert!(received(&logger).ends_with(": s"));
        // Sending is synchronous: anything else would already be waiting.
        logger.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(
            logger.recv(&mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        // The quick level filter lets through what the types need.
        assert_eq!(level(LogTypes::SUBSCRIBE), LevelFilter::DEBUG);
        assert_eq!(level(LogTypes::INFORMATION), LevelFilter::INFO);
    }

    #[test]
    fn topic_lines_are_queued_on_their_type_topic_but_never_debug_nor_their_own() {
        let sinks = Arc::new(Sinks::default());
        let (queue, mut lines) = tokio::sync::mpsc::channel(16);
        sinks.topic.set(queue).unwrap();
        sinks.set(&config("log_dest topic\n"), LogTypes::ALL);
        log_one_of_each(&sinks);
        let mut got = Vec::new();
        while let Ok((topic, line)) = lines.try_recv() {
            got.push(format!("{topic} {}", String::from_utf8_lossy(&line)));
        }
        assert_eq!(
            got,
            [
                "$SYS/broker/log/E e",
                "$SYS/broker/log/W w",
                "$SYS/broker/log/N n",
                "$SYS/broker/log/I i",
                "$SYS/broker/log/M/subscribe s",
                "$SYS/broker/log/M/unsubscribe u",
            ]
        );
        // What is logged while a log line is being published is not published in turn.
        PUBLISHING_LOG.with(|p| p.set(true));
        log_one_of_each(&sinks);
        PUBLISHING_LOG.with(|p| p.set(false));
        assert!(lines.try_recv().is_err());
        // Without log_dest topic, nothing is queued.
        sinks.set(&config("log_dest none\n"), LogTypes::ALL);
        log_one_of_each(&sinks);
        assert!(lines.try_recv().is_err());
    }

    #[test]
    fn log_facility_is_local0_to_local7() {
        assert_eq!(config("").log.facility, LogFacility::Daemon);
        assert_eq!(
            config("log_facility 7\n").log.facility,
            LogFacility::Local(7)
        );
        for bad in ["8", "-1", "x"] {
            let e = Config::parse_mosquitto(&format!("log_facility {bad}\n"), Path::new("t.conf"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("log_facility"), "{e}");
        }
    }
}
