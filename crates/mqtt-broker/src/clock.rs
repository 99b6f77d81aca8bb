//! The broker's clock: wall-clock milliseconds, so that instants stored with session state
//! (message expiry) keep their meaning across restarts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mqtt_session::Instant;

/// Now, as the sessions see it.
pub(crate) fn now() -> Instant {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Instant::from_millis(ms)
}

/// How long from `now` until `deadline`, for tokio timers.
pub(crate) fn until(now: Instant, deadline: Instant) -> Duration {
    deadline.saturating_since(now)
}
