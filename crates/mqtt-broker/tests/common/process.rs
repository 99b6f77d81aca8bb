//! The broker binary as a child process: started on a configuration file, killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;

use super::WAIT;

/// A running broker process; killed when dropped.
pub struct Running {
    child: Child,
    /// Its stderr, line by line.
    lines: Receiver<String>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    /// SIGKILL: no shutdown, no final save.
    pub fn sigkill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for a log line containing `needle` and returns it.
    pub fn wait_for_line(&self, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("no log line with {needle:?} in {seen:?}"));
            if line.contains(needle) {
                return line;
            }
            seen.push(line);
        }
    }
}

/// Spawns the broker binary `bin` with `-c conf`; its stderr arrives line by line on the
/// receiver.
pub fn spawn_logged(bin: &str, conf: &Path) -> (Child, Receiver<String>) {
    let mut child = Command::new(bin)
        .arg("-c")
        .arg(conf)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Starts the broker binary `bin` on `conf` and returns once it has restored its store (the
/// "Restored" line of `persistence true`).
pub fn start_restored(bin: &str, conf: &Path) -> Running {
    let (child, lines) = spawn_logged(bin, conf);
    let running = Running { child, lines };
    running.wait_for_line("Restored");
    running
}

/// Writes a configuration with one listener on `port` and `persistence true` in `dir`, plus
/// `extra` lines, and returns its path.
pub fn persistent_conf(dir: &Path, port: u16, extra: &str) -> std::path::PathBuf {
    let conf = dir.join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}\n{extra}",
            dir.display()
        ),
    )
    .unwrap();
    conf
}
