//! The sender's side of the QoS flows (spec 4.3): the queue of messages waiting for an in-flight
//! slot, the in-flight window in send order, and packet identifier allocation.

use std::collections::VecDeque;
use std::num::NonZeroU16;

use mqtt_codec::PacketId;

use crate::event::MessageId;
use crate::message::Message;
use crate::time::Instant;

/// Where an in-flight QoS 1 or 2 message is in its flow (spec 4.3.2, 4.3.3, sender side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OutState {
    /// QoS 1: PUBLISH sent, PUBACK expected.
    AwaitingPubAck,
    /// QoS 2: PUBLISH sent, PUBREC expected.
    AwaitingPubRec,
    /// QoS 2: PUBREL sent, PUBCOMP expected. The message itself is no longer needed.
    AwaitingPubComp,
}

/// A message waiting to be sent.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Queued {
    pub(crate) id: MessageId,
    pub(crate) message: Message,
    /// When its Message Expiry Interval ends.
    pub(crate) expires_at: Option<Instant>,
}

/// A QoS 1 or 2 message in flight.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Inflight {
    pub(crate) id: MessageId,
    pub(crate) packet_id: PacketId,
    pub(crate) state: OutState,
    /// Kept for re-sending on resume; dropped once PUBREC arrives.
    pub(crate) message: Option<Message>,
    /// The PUBLISH must be re-sent on this connection and has not been yet (resumption waits
    /// for room in the peer's Receive Maximum).
    #[serde(skip)]
    pub(crate) resend: bool,
    /// Its first PUBLISH waits in the transmit queue, to be built from this entry: the peer
    /// cannot have acknowledged it yet.
    #[serde(skip)]
    pub(crate) unsent: bool,
}

/// Outgoing messages of one session.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outbound {
    pub(crate) queue: VecDeque<Queued>,
    pub(crate) queued_bytes: usize,
    /// In the order the PUBLISH packets were first sent: re-sends keep it [MQTT-4.6.0-1].
    pub(crate) inflight: VecDeque<Inflight>,
    next_packet_id: u16,
    next_message_id: u64,
    /// Packet identifiers of SUBSCRIBE and UNSUBSCRIBE awaiting their acknowledgement.
    pub(crate) requests: Vec<PacketId>,
    /// How many in-flight entries have `resend` set.
    pub(crate) pending_resends: usize,
}

impl Outbound {
    pub(crate) fn new_message_id(&mut self) -> MessageId {
        self.next_message_id += 1;
        MessageId(self.next_message_id)
    }

    fn in_use(&self, id: PacketId) -> bool {
        self.inflight.iter().any(|m| m.packet_id == id) || self.requests.contains(&id)
    }

    /// A Packet Identifier that is not in use [MQTT-2.2.1-3]; None when all 65,535 are.
    ///
    /// Identifiers are handed out in sequence, so the next one is almost always free; the scan
    /// over the in-flight window is short because the window is bounded by Receive Maximum.
    pub(crate) fn allocate_packet_id(&mut self) -> Option<PacketId> {
        if self.inflight.len() + self.requests.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            self.next_packet_id = self.next_packet_id.checked_add(1).unwrap_or(1);
            let id = NonZeroU16::new(self.next_packet_id)?;
            if !self.in_use(id) {
                return Some(id);
            }
        }
    }

    pub(crate) fn push_queue(&mut self, q: Queued) {
        self.queued_bytes += q.message.payload.len();
        self.queue.push_back(q);
    }

    pub(crate) fn pop_queue(&mut self) -> Option<Queued> {
        let q = self.queue.pop_front()?;
        self.queued_bytes -= q.message.payload.len();
        Some(q)
    }

    pub(crate) fn position(&self, packet_id: PacketId) -> Option<usize> {
        // Flows mostly complete in the order they started: the oldest is the likely one.
        match self.inflight.front() {
            Some(m) if m.packet_id == packet_id => Some(0),
            _ => self.inflight.iter().position(|m| m.packet_id == packet_id),
        }
    }

    /// Takes the in-flight message with `packet_id` out of the window if it is in `state` and
    /// was sent, and returns its id and whether it was waiting to be re-sent.
    ///
    /// The entry is dropped where it is, not returned: moving it out is a copy of the whole
    /// entry only to read two fields.
    pub(crate) fn remove(
        &mut self,
        packet_id: PacketId,
        state: OutState,
    ) -> Option<(MessageId, bool)> {
        // Flows mostly complete in the order they started: the oldest is the likely one.
        let pos = self.position(packet_id)?;
        let m = self.inflight.get(pos)?;
        if m.state != state || m.unsent {
            return None;
        }
        let done = (m.id, m.resend);
        if pos == 0 {
            self.inflight.pop_front();
        } else {
            self.inflight.remove(pos);
        }
        Some(done)
    }

    /// Restores counters from persisted state.
    pub(crate) fn set_counters(&mut self, next_packet_id: u16, next_message_id: u64) {
        self.next_packet_id = next_packet_id;
        self.next_message_id = next_message_id;
    }

    pub(crate) fn counters(&self) -> (u16, u64) {
        (self.next_packet_id, self.next_message_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflight(id: u16) -> Inflight {
        Inflight {
            id: MessageId(u64::from(id)),
            packet_id: PacketId::new(id).unwrap(),
            state: OutState::AwaitingPubAck,
            message: None,
            resend: false,
            unsent: false,
        }
    }

    #[test]
    fn mqtt_2_2_1_3_packet_ids_in_use_are_skipped() {
        // [MQTT-2.2.1-3] a new PUBLISH (QoS > 0), SUBSCRIBE or UNSUBSCRIBE MUST use a non-zero
        // Packet Identifier that is currently unused.
        let mut out = Outbound::default();
        out.inflight.push_back(inflight(1));
        out.inflight.push_back(inflight(3));
        out.requests.push(PacketId::new(2).unwrap());
        assert_eq!(out.allocate_packet_id().map(|p| p.get()), Some(4));
    }

    #[test]
    fn packet_ids_wrap_around_and_skip_zero() {
        let mut out = Outbound::default();
        out.set_counters(u16::MAX - 1, 0);
        assert_eq!(out.allocate_packet_id().map(|p| p.get()), Some(u16::MAX));
        assert_eq!(out.allocate_packet_id().map(|p| p.get()), Some(1));
    }

    #[test]
    fn completed_flows_leave_the_window_in_any_order() {
        let mut out = Outbound::default();
        for id in 1..=3 {
            out.inflight.push_back(inflight(id));
        }
        let pid = |n| PacketId::new(n).unwrap();
        // In the wrong state nothing is removed, at the front or further in.
        assert!(out.remove(pid(1), OutState::AwaitingPubRec).is_none());
        assert!(out.remove(pid(2), OutState::AwaitingPubComp).is_none());
        assert_eq!(
            out.remove(pid(2), OutState::AwaitingPubAck).map(|m| m.0 .0),
            Some(2)
        );
        assert!(out.remove(pid(2), OutState::AwaitingPubAck).is_none());
        assert_eq!(
            out.remove(pid(1), OutState::AwaitingPubAck).map(|m| m.0 .0),
            Some(1)
        );
        let left: Vec<u64> = out.inflight.iter().map(|m| m.id.0).collect();
        assert_eq!(left, [3]);
        assert_eq!(out.position(pid(3)), Some(0));
        assert_eq!(out.position(pid(1)), None);
    }

    #[test]
    fn exhausted_packet_ids_are_reported() {
        let mut out = Outbound::default();
        for id in 1..=u16::MAX {
            out.inflight.push_back(inflight(id));
        }
        assert_eq!(out.allocate_packet_id(), None);
    }
}
