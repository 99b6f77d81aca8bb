//! The live one-line progress display on stderr, once a second.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::scenario::Shared;
use super::stats::Counters;

/// A snapshot of the counters, to compute per-second rates from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Connections established.
    pub connected: u64,
    /// Connection failures.
    pub connect_failed: u64,
    /// Connections lost.
    pub lost: u64,
    /// Messages sent.
    pub sent: u64,
    /// Messages received (duplicates included).
    pub received: u64,
    /// Publication errors.
    pub publish_errors: u64,
    /// Topic filters granted.
    pub subscribed: u64,
}

impl Snapshot {
    /// Reads the counters.
    pub fn of(c: &Counters) -> Self {
        Snapshot {
            connected: Counters::get(&c.connected),
            connect_failed: Counters::get(&c.connect_failed),
            lost: Counters::get(&c.lost),
            sent: Counters::get(&c.sent),
            received: Counters::get(&c.received) + Counters::get(&c.foreign),
            publish_errors: Counters::get(&c.publish_errors),
            subscribed: Counters::get(&c.subscriptions_granted),
        }
    }
}

/// The progress line for `now` after `previous`, `seconds` apart, `elapsed` since the start;
/// with `subscriptions` (the total to subscribe, shown when subscribers have many filters),
/// the topic filters granted so far.
pub fn line(
    elapsed: Duration,
    now: Snapshot,
    previous: Snapshot,
    seconds: f64,
    clients: u64,
    subscriptions: Option<u64>,
) -> String {
    let per_s = |a: u64, b: u64| (a.saturating_sub(b) as f64 / seconds.max(1e-9)).round();
    let mut text = format!(
        "[{:>5.0}s] conn {}/{} ({}/s, {} failed, {} lost){}  sent {} ({}/s)  recv {} ({}/s)",
        elapsed.as_secs_f64(),
        now.connected,
        clients,
        per_s(now.connected, previous.connected),
        now.connect_failed,
        now.lost,
        subscriptions.map_or_else(String::new, |total| format!(
            "  subs {}/{} ({}/s)",
            now.subscribed,
            total,
            per_s(now.subscribed, previous.subscribed)
        )),
        now.sent,
        per_s(now.sent, previous.sent),
        now.received,
        per_s(now.received, previous.received),
    );
    if now.publish_errors > 0 {
        text.push_str(&format!("  errors {}", now.publish_errors));
    }
    text
}

/// Prints the progress line every second until `stop` becomes true: rewritten in place when
/// stderr is a terminal, one line each time otherwise. `subscriptions`: see [`line()`].
pub async fn run(
    shared: Arc<Shared>,
    clients: u64,
    subscriptions: Option<u64>,
    start: Instant,
    mut stop: watch::Receiver<bool>,
) {
    let terminal = std::io::stderr().is_terminal();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    let mut previous = Snapshot::of(&shared.counters);
    let mut previous_at = Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let now = Snapshot::of(&shared.counters);
        let at = Instant::now();
        let text = line(
            start.elapsed(),
            now,
            previous,
            at.duration_since(previous_at).as_secs_f64(),
            clients,
            subscriptions,
        );
        let mut err = std::io::stderr().lock();
        let _ = if terminal {
            write!(err, "\r{text}\x1b[K")
        } else {
            writeln!(err, "{text}")
        };
        let _ = err.flush();
        previous = now;
        previous_at = at;
    }
    if terminal {
        let _ = writeln!(std::io::stderr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_per_second() {
        let previous = Snapshot {
            connected: 10,
            sent: 100,
            received: 50,
            ..Snapshot::default()
        };
        let now = Snapshot {
            connected: 20,
            sent: 300,
            received: 250,
            ..Snapshot::default()
        };
        let l = line(Duration::from_secs(3), now, previous, 2.0, 20, None);
        assert_eq!(
            l,
            "[    3s] conn 20/20 (5/s, 0 failed, 0 lost)  sent 300 (100/s)  recv 250 (100/s)"
        );
        let now = Snapshot {
            subscribed: 5000,
            ..now
        };
        let l = line(Duration::from_secs(3), now, previous, 2.0, 20, Some(10_000));
        assert_eq!(
            l,
            "[    3s] conn 20/20 (5/s, 0 failed, 0 lost)  subs 5000/10000 (2500/s)  sent 300 \
             (100/s)  recv 250 (100/s)"
        );
    }
}
