//! Counters behind the `$SYS/broker/...` topics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Broker-wide counters, updated with relaxed atomics on the hot path.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) clients_connected: AtomicU64,
    pub(crate) clients_maximum: AtomicU64,
    pub(crate) clients_total_connects: AtomicU64,
    pub(crate) messages_received: AtomicU64,
    pub(crate) messages_sent: AtomicU64,
    pub(crate) messages_dropped: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) publish_received: AtomicU64,
    pub(crate) publish_sent: AtomicU64,
}

impl Metrics {
    pub(crate) fn client_connected(&self) {
        let now = self.clients_connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.clients_maximum.fetch_max(now, Ordering::Relaxed);
        self.clients_total_connects.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn client_disconnected(&self) {
        // Never below zero, whatever the order of events.
        let _ = self
            .clients_connected
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub(crate) fn message_received(&self, payload: usize) {
        self.publish_received.fetch_add(1, Ordering::Relaxed);
        self.messages_received.fetch_add(1, Ordering::Relaxed);
        self.bytes_received
            .fetch_add(payload as u64, Ordering::Relaxed);
    }

    pub(crate) fn message_sent(&self, payload: usize) {
        self.publish_sent.fetch_add(1, Ordering::Relaxed);
        self.messages_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(payload as u64, Ordering::Relaxed);
    }

    pub(crate) fn message_dropped(&self) {
        self.messages_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Clients connected now.
    pub fn connected(&self) -> u64 {
        self.clients_connected.load(Ordering::Relaxed)
    }
}
