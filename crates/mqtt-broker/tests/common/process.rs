//! The broker binary as a child process: started on a configuration file, killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::WAIT;

/// A running broker process; killed when dropped.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// SIGKILL: no shutdown, no final save.
    pub fn sigkill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// Starts the broker binary `bin` on `conf` and returns once it has restored its store (the
/// "Restored" line of `persistence true`).
pub fn start_restored(bin: &str, conf: &Path) -> Running {
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
    let running = Running(child);
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("broker did not start: {lines:?}"));
        if line.contains("Restored") {
            break;
        }
        lines.push(line);
    }
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
