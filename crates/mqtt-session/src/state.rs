//! The persistent part of a session, as a serializable value.

use mqtt_codec::{PacketId, ProtocolVersion};

use crate::event::MessageId;
use crate::message::Message;
use crate::outbound::{Inflight, OutState, Queued};
use crate::session::Role;
use crate::time::Instant;

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
    /// A message in flight that must be re-sent was not attached to a state taken without
    /// its messages ([`SessionState::attach_message`]).
    #[error("in-flight message {0} is missing")]
    MissingMessage(u64),
}

/// A message a session holds for its peer (queued, or in flight and kept for re-sending), as
/// [`crate::Session::held_messages`] lists them.
///
/// A store that keeps each message as a record of its own (written once, deleted once
/// completed) pairs them with [`crate::Session::snapshot_without_messages`], which stays small
/// however long the queue, and puts them back with [`SessionState::attach_message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldMessage<'a> {
    /// Its identifier in the session, unique for the session's lifetime.
    pub id: MessageId,
    /// The message.
    pub message: &'a Message,
    /// When its Message Expiry Interval ends (queued messages only).
    pub expires_at: Option<Instant>,
}

impl SessionState {
    /// Puts back a message stored apart from a state taken with
    /// [`crate::Session::snapshot_without_messages`]: into its in-flight entry if it has one,
    /// else into the queue. The queue is put in order by [`crate::Session::restore`]
    /// (identifiers increase in the order messages were queued).
    ///
    /// A message whose in-flight entry does not need it (past PUBREC, or already attached) is
    /// ignored: queued again it would be a second delivery [MQTT-4.3.3-6].
    pub fn attach_message(&mut self, id: MessageId, message: Message, expires_at: Option<Instant>) {
        if let Some(m) = self.inflight.iter_mut().find(|m| m.id == id) {
            if m.message.is_none() && m.state != OutState::AwaitingPubComp {
                m.message = Some(message);
            }
            return;
        }
        self.queue.push(Queued {
            id,
            message,
            expires_at,
        });
    }
}
