//! Helpers for the workspace's integration tests (never published).
//!
//! The interop tests compare our crates with the real Mosquitto 2.0. Every test that needs a
//! Mosquitto program finds it with [`tool`], which panics with installation advice when it is
//! missing, so such a test can never pass without its reference. [`Mosquitto`] runs a private
//! broker on a free loopback port and lets a test await what the broker logs instead of
//! sleeping. [`pki::Pki`] makes the certificates of the TLS tests.
#![allow(clippy::panic, clippy::expect_used)]

pub mod pki;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any single wait may take before a helper gives up with a message.
pub const WAIT: Duration = Duration::from_secs(15);

/// Finds `name` on `PATH` or in the sbin directories Debian installs `mosquitto` into; panics
/// with installation advice if it is absent.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` was not found on PATH or in /usr/sbin: these tests compare against the real \
         Mosquitto 2.0; install it with `apt-get install -y mosquitto mosquitto-clients`"
    );
}

/// A free TCP port on the loopback interface, for a listener a child process will open.
///
/// Chosen at random below the kernel's ephemeral range (32768-60999 on Linux), so that an
/// outgoing connection of a concurrent test cannot take it as its source port between this
/// probe and the child's bind (which made Mosquitto fail with "Address already in use").
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..1000 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port between 20000 and 32000");
}

/// A scratch directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates a fresh directory under the system's temporary directory; `label` appears in its
    /// name.
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mqtt-test-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        TempDir(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A private `mosquitto` on a free loopback port with `log_type all`; its log lines (stdout and
/// stderr) arrive on a channel so that tests can wait for events such as "Sending SUBACK to x".
/// Killed (only this process, by its handle) when dropped.
#[derive(Debug)]
pub struct Mosquitto {
    child: Child,
    port: u16,
    log: Receiver<String>,
    dir: TempDir,
}

impl Mosquitto {
    /// A broker with a plain listener on 127.0.0.1 that allows anonymous clients.
    pub fn start() -> Mosquitto {
        Mosquitto::with_config(|_, _| String::new())
    }

    /// A broker whose configuration file is the plain listener on `port` followed by what
    /// `extra(port, dir)` returns; `dir` is the broker's scratch directory (for password files,
    /// certificates, further listeners). The first line of the file is `listener <port>
    /// 127.0.0.1`, so `extra` applies to that listener until it opens another one.
    pub fn with_config(extra: impl Fn(u16, &Path) -> String) -> Mosquitto {
        let mosquitto = tool("mosquitto");
        // Another process may grab the port between our probe and mosquitto's bind; retry.
        let mut last_failure = String::new();
        for _ in 0..5 {
            let dir = TempDir::new("mosquitto");
            let port = free_port();
            let config = dir.path().join("mosquitto.conf");
            let text = format!(
                "log_type all\nlog_dest stderr\npersistence false\nlistener {port} 127.0.0.1\n\
                 allow_anonymous true\n{}\n",
                extra(port, dir.path())
            );
            std::fs::write(&config, text)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
            let mut child = Command::new(&mosquitto)
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", mosquitto.display()));
            let (tx, rx) = mpsc::channel();
            let outputs: [Option<Box<dyn std::io::Read + Send>>; 2] = [
                child.stdout.take().map(|s| Box::new(s) as _),
                child.stderr.take().map(|s| Box::new(s) as _),
            ];
            for stream in outputs.into_iter().flatten() {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                });
            }
            let mut broker = Mosquitto {
                child,
                port,
                log: rx,
                dir,
            };
            match broker.wait_for_log(&format!("Opening ipv4 listen socket on port {port}.")) {
                Ok(()) if broker.accepts_connections() => return broker,
                Ok(()) => last_failure = "the port never accepted connections".into(),
                Err(log) => last_failure = log,
            }
            // Dropping `broker` ends that mosquitto; try another port.
        }
        panic!("mosquitto did not start: {last_failure}");
    }

    /// The port of the plain listener.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The plain listener's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The broker's scratch directory (holds `mosquitto.conf`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Polls the port with a short, bounded backoff.
    fn accepts_connections(&self) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut pause = Duration::from_millis(2);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        false
    }

    /// Reads the broker's log until a line ends with `suffix`; on timeout or exit returns the
    /// lines seen, for the failure message.
    pub fn wait_for_log(&mut self, suffix: &str) -> Result<(), String> {
        self.wait_for_log_matching(|line| line.ends_with(suffix))
            .map_err(|seen| {
                format!("waited for a log line ending with {suffix:?}; broker said:\n{seen}")
            })
    }

    /// Reads the broker's log until `matches` accepts a line; on timeout returns the lines seen.
    pub fn wait_for_log_matching(&mut self, matches: impl Fn(&str) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if matches(&line) => return Ok(()),
                Ok(line) => seen.push(line),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return Err(seen.join("\n"))
                }
            }
        }
    }

    /// Like [`Mosquitto::wait_for_log`], panicking with the broker's log on failure.
    pub fn expect_log(&mut self, suffix: &str) {
        if let Err(e) = self.wait_for_log(suffix) {
            panic!("{e}");
        }
    }

    /// Discards the log lines received so far.
    pub fn drain_log(&mut self) {
        while self.log.try_recv().is_ok() {}
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
