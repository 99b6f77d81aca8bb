//! Time as an input: the session never reads a clock.

use core::ops::Add;
use core::time::Duration;

/// A point in time, in milliseconds since an epoch the driver chooses.
///
/// The session only compares and adds instants. A driver that persists session state (so that
/// message expiry survives a restart) should use wall-clock milliseconds since the Unix epoch;
/// tests can start at zero.
///
/// ```
/// use std::time::Duration;
/// use mqtt_session::Instant;
/// let t = Instant::from_millis(1_000) + Duration::from_secs(2);
/// assert_eq!(t.as_millis(), 3_000);
/// ```
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Instant(u64);

impl Instant {
    /// The instant `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, d: Duration) -> Instant {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(ms))
    }
}
