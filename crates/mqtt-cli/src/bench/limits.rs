//! Operating-system limits on the number of connections: open files and local ports.

/// File descriptors the process needs besides its connections (runtime, stdio, slack).
pub const FD_MARGIN: u64 = 64;

/// The open-file limit after trying to raise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit now in force (`None` when unknown, e.g. not on Unix).
    pub soft: Option<u64>,
    /// The hard limit.
    pub hard: Option<u64>,
}

impl FdLimit {
    /// How many connections the limit allows, if known.
    pub fn max_connections(&self) -> Option<u64> {
        self.soft.map(|s| s.saturating_sub(FD_MARGIN))
    }

    /// Whether `connections` exceed what the limit allows.
    pub fn limits(&self, connections: u64) -> bool {
        self.max_connections().is_some_and(|m| connections > m)
    }
}

/// Raises `RLIMIT_NOFILE`'s soft limit to the hard limit.
#[cfg(unix)]
pub fn raise_fd_limit() -> FdLimit {
    use rlimit::{getrlimit, Resource};
    if let Ok((_, hard)) = getrlimit(Resource::NOFILE) {
        let _ = rlimit::increase_nofile_limit(hard);
    }
    match getrlimit(Resource::NOFILE) {
        Ok((soft, hard)) => FdLimit {
            soft: Some(soft),
            hard: Some(hard),
        },
        Err(_) => FdLimit {
            soft: None,
            hard: None,
        },
    }
}

/// Raises `RLIMIT_NOFILE`'s soft limit to the hard limit (nothing to do here).
#[cfg(not(unix))]
pub fn raise_fd_limit() -> FdLimit {
    FdLimit {
        soft: None,
        hard: None,
    }
}

/// How many local ports one source address can use towards one server (Linux's
/// `ip_local_port_range`), if known.
pub fn local_ports() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(str::parse::<u64>);
    let low = parts.next()?.ok()?;
    let high = parts.next()?.ok()?;
    Some(high.saturating_sub(low) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margin() {
        let l = FdLimit {
            soft: Some(20_000),
            hard: Some(20_000),
        };
        assert_eq!(l.max_connections(), Some(20_000 - FD_MARGIN));
        assert!(l.limits(20_000));
        assert!(!l.limits(1000));
        assert!(!FdLimit {
            soft: None,
            hard: None
        }
        .limits(u64::MAX));
    }
}
