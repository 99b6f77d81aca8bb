//! Logging in Mosquitto's format: `<timestamp>: <message>`, to the configured destinations.
//!
//! The destinations (`log_dest`), the types (`log_type`) and the timestamp (`log_timestamp`,
//! `log_timestamp_format`) can change while the broker runs: [`Logger::reconfigure`] applies a
//! reloaded configuration (SIGHUP), [`Logger::reopen`] reopens the log file (logrotate).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::format::Item;
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

use crate::config::{Config, LogDest, LogTypes};

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
    stdout: bool,
    stderr: bool,
    file: Option<(PathBuf, Option<std::fs::File>)>,
}

/// Where log lines go: `log_dest stdout|stderr|file`. Shared with the SIGHUP handler, which
/// reopens the file (as Mosquitto does, for logrotate) and applies a reloaded `log_dest`.
#[derive(Debug, Default)]
pub struct Sinks {
    destinations: RwLock<Destinations>,
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

    /// Sinks for the `log_dest` options of `config`.
    fn of(config: &Config) -> Sinks {
        let sinks = Sinks::default();
        sinks.set(config);
        sinks
    }

    /// Switches to the `log_dest` options of `config`. The log file is reopened only if its
    /// path changed.
    fn set(&self, config: &Config) {
        let mut wanted = Destinations::default();
        let mut file = None;
        for dest in &config.log.dest {
            match dest {
                LogDest::Stdout => wanted.stdout = true,
                LogDest::Stderr => wanted.stderr = true,
                LogDest::File(path) => file = Some(path.clone()),
                LogDest::None => {}
                // Not supported yet: fall back to stderr so that nothing is lost silently.
                LogDest::Syslog | LogDest::Topic | LogDest::Dlt => wanted.stderr = true,
            }
        }
        let mut current = self.destinations.write().unwrap_or_else(|p| p.into_inner());
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

    fn write_line(&self, line: &[u8]) {
        use std::io::Write;
        let current = self.destinations.read().unwrap_or_else(|p| p.into_inner());
        if current.stdout {
            let _ = std::io::stdout().lock().write_all(line);
        }
        if current.stderr {
            let _ = std::io::stderr().lock().write_all(line);
        }
        if let Some((_, Some(mut file))) = current.file.as_ref().map(|(p, f)| (p, f.as_ref())) {
            let _ = file.write_all(line);
        }
    }
}

/// One formatted event, written to every sink when dropped (so lines never interleave).
pub struct LineWriter<'a> {
    sinks: &'a Sinks,
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
        self.sinks.write_line(&self.buf);
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
            buf: Vec::with_capacity(128),
        }
    }
}

/// The most verbose level the `log_type` options let through.
///
/// Mosquitto's types map onto levels: `debug` → DEBUG, `notice`/`information`/`subscribe`/
/// `unsubscribe` → INFO, `warning` → WARN, `error` → ERROR.
fn level(types: LogTypes) -> LevelFilter {
    if types.contains(LogTypes::DEBUG) {
        LevelFilter::DEBUG
    } else if types.contains(LogTypes::INFORMATION)
        || types.contains(LogTypes::NOTICE)
        || types.contains(LogTypes::SUBSCRIBE)
        || types.contains(LogTypes::UNSUBSCRIBE)
    {
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

    /// Applies the logging options of a reloaded configuration: `log_dest`, `log_type` (unless
    /// `-v` was given), `log_timestamp` and `log_timestamp_format`.
    pub fn reconfigure(&self, config: &Config) {
        self.sinks.set(config);
        let (timestamp, error) = Timestamp::of(config);
        self.format.set_timestamp(timestamp);
        let types = if self.verbose {
            LogTypes::ALL
        } else {
            config.log.types
        };
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
    let sinks = Arc::new(Sinks::of(config));
    let (timestamp, error) = Timestamp::of(config);
    let format = MosquittoFormat::new(timestamp);
    let types = if verbose {
        LogTypes::ALL
    } else {
        config.log.types
    };
    let (filter, handle) = reload::Layer::new(level(types));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(SinksWriter(Arc::clone(&sinks)))
                .event_format(format.clone()),
        )
        .try_init();
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
        let sinks = Sinks::of(&config(&format!("log_dest file {}\n", path.display())));
        sinks.write_line(b"one\n");
        std::fs::rename(&path, dir.join("a.log.1")).unwrap();
        // Same path: the file stays open (the line goes to the moved file)...
        sinks.set(&config(&format!("log_dest file {}\n", path.display())));
        sinks.write_line(b"two\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("a.log.1")).unwrap(),
            "one\ntwo\n"
        );
        // ...until it is reopened.
        sinks.reopen();
        sinks.write_line(b"three\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        // No file any more: nothing is written to it.
        sinks.set(&config("log_dest none\n"));
        sinks.write_line(b"four\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
