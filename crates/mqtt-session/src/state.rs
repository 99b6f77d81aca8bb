//! The persistent part of a session, as a serializable value.

use mqtt_codec::{PacketId, ProtocolVersion};

use crate::outbound::{Inflight, Queued};
use crate::session::Role;

/// The format version written in every [`SessionState`]. Bumped whenever the layout changes;
/// [`crate::Session::restore`] refuses any other.
pub const STATE_FORMAT: u32 = 1;

/// Everything a session must keep across connections and restarts (spec 4.1): outgoing QoS 1
/// and 2 messages in flight (with their state) and waiting, the identifiers of incoming QoS 2
/// messages awaiting PUBREL, and the identifier counters.
///
/// Per-connection state (topic aliases, keep-alive, unsent packets) is not part of it.
/// Serialize it with any serde format; restore it with [`crate::Session::restore`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionState {
    /// Layout version, [`STATE_FORMAT`] when written by this crate.
    pub format: u32,
    pub(crate) role: Role,
    pub(crate) version: ProtocolVersion,
    pub(crate) next_packet_id: u16,
    pub(crate) next_message_id: u64,
    pub(crate) inflight: Vec<Inflight>,
    pub(crate) queue: Vec<Queued>,
    pub(crate) awaiting_pubrel: Vec<PacketId>,
    pub(crate) session_expiry_interval: u32,
}

/// Why a [`SessionState`] cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The state was written in another layout version.
    #[error("session state format {found} is not supported (expected {expected})")]
    UnsupportedFormat {
        /// The format in the state.
        found: u32,
        /// The format this version of the crate reads.
        expected: u32,
    },
}
