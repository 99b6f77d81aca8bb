//! Logging in Mosquitto's format: `<unix time>: <message>`, to the configured destinations.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as Mosquitto does: seconds since the epoch, a colon, the message.
pub struct MosquittoFormat {
    /// Prefix each line with the timestamp (`log_timestamp`).
    pub timestamp: bool,
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
        if self.timestamp {
            let secs = crate::clock::now().as_millis() / 1000;
            write!(writer, "{secs}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// Where log lines go: `log_dest stdout|stderr|file`. Shared with the SIGHUP handler, which
/// reopens the file (as Mosquitto does, for logrotate).
#[derive(Debug, Default)]
pub struct Sinks {
    stdout: bool,
    stderr: bool,
    file: Option<(std::path::PathBuf, std::sync::Mutex<Option<std::fs::File>>)>,
}

impl Sinks {
    fn open(path: &std::path::Path) -> Option<std::fs::File> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| eprintln!("Error: Unable to open log file {}: {e}", path.display()))
            .ok()
    }

    /// Reopens the log file (after logrotate moved it).
    pub fn reopen(&self) {
        if let Some((path, file)) = &self.file {
            let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
            *guard = Self::open(path);
        }
    }

    fn write_line(&self, line: &[u8]) {
        use std::io::Write;
        if self.stdout {
            let _ = std::io::stdout().lock().write_all(line);
        }
        if self.stderr {
            let _ = std::io::stderr().lock().write_all(line);
        }
        if let Some((_, file)) = &self.file {
            let mut guard = file.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(f) = guard.as_mut() {
                let _ = f.write_all(line);
            }
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
pub struct SinksWriter(pub std::sync::Arc<Sinks>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SinksWriter {
    type Writer = LineWriter<'a>;
    fn make_writer(&'a self) -> LineWriter<'a> {
        LineWriter {
            sinks: &self.0,
            buf: Vec::with_capacity(128),
        }
    }
}

/// Installs the global subscriber from `log_dest`, `log_type` and `log_timestamp`; `-v` enables
/// every type. Returns the sinks, for reopening the file on SIGHUP.
///
/// Mosquitto's types map onto levels: `debug` → DEBUG, `notice`/`information`/`subscribe`/
/// `unsubscribe` → INFO, `warning` → WARN, `error` → ERROR.
pub fn init(config: &crate::config::Config, verbose: bool) -> std::sync::Arc<Sinks> {
    use crate::config::{LogDest, LogTypes};
    use tracing_subscriber::filter::LevelFilter;
    let mut sinks = Sinks::default();
    for dest in &config.log.dest {
        match dest {
            LogDest::Stdout => sinks.stdout = true,
            LogDest::Stderr => sinks.stderr = true,
            LogDest::File(path) => {
                sinks.file = Some((path.clone(), std::sync::Mutex::new(Sinks::open(path))));
            }
            LogDest::None => {}
            // Not supported yet: fall back to stderr so that nothing is lost silently.
            LogDest::Syslog | LogDest::Topic | LogDest::Dlt => sinks.stderr = true,
        }
    }
    let types = if verbose {
        LogTypes::ALL
    } else {
        config.log.types
    };
    let level = if types.contains(LogTypes::DEBUG) {
        LevelFilter::DEBUG
    } else if types.contains(LogTypes::INFORMATION) || types.contains(LogTypes::NOTICE) {
        LevelFilter::INFO
    } else if types.contains(LogTypes::WARNING) {
        LevelFilter::WARN
    } else if types.contains(LogTypes::ERROR) {
        LevelFilter::ERROR
    } else {
        LevelFilter::OFF
    };
    let sinks = std::sync::Arc::new(sinks);
    let _ = tracing_subscriber::fmt()
        .with_writer(SinksWriter(std::sync::Arc::clone(&sinks)))
        .with_max_level(level)
        .event_format(MosquittoFormat {
            timestamp: config.log.timestamp,
        })
        .try_init();
    sinks
}
