//! The packets waiting to be sent, in the order they must go.
//!
//! Most are queued as the packet itself. Two kinds, one or two per message, are queued as what
//! they are built from instead and built when [`crate::Session::poll_transmit`] hands them out:
//! the first PUBLISH of an in-flight message (built from its in-flight entry, which keeps the
//! message anyway) and the acknowledgements without properties. A packet built field by field
//! and copied into the queue at once is read back before its stores have reached the cache,
//! a store-forwarding stall per packet; a small marker costs neither the copy nor the stall.

use std::collections::VecDeque;
use std::num::NonZeroU16;

use mqtt_codec::{AckProperties, Packet, PacketId, PubAck, PubComp, PubRec, PubRel, ReasonCode};

use crate::alias::Outgoing;

/// What waits to be sent: the order of everything, and the packets queued built.
///
/// Two queues, so that an entry of the order is a few bytes, written and read in place, rather
/// than the size of the largest packet.
#[derive(Debug, Default)]
pub(crate) struct TransmitQueue {
    /// Each entry a [`Transmit`] packed into one word ([`Transmit::pack`]): written with one
    /// store and read with one load. Read field by field, or copied whole right after being
    /// written field by field, it would stall on the narrower stores.
    order: VecDeque<u64>,
    packets: VecDeque<Packet>,
}

/// One entry of the transmit queue.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Transmit {
    /// The next of the packets queued built.
    Packet,
    /// The first PUBLISH of the in-flight message with this Packet Identifier, its topic sent as
    /// decided when it went in flight (aliases are assigned in send order).
    Publish {
        packet_id: PacketId,
        topic: Outgoing,
    },
    /// PUBACK, PUBREC, PUBREL or PUBCOMP without properties.
    Ack(Ack),
}

impl Transmit {
    // Layout of the word: bits 0-7 the kind, 8-15 the reason code of an acknowledgement or
    // how a PUBLISH sends its topic, 16-31 the Packet Identifier, 32-47 the topic alias.
    const PACKET: u64 = 0;
    const PUBLISH: u64 = 1;
    const PUBACK: u64 = 2;
    const PUBREC: u64 = 3;
    const PUBREL: u64 = 4;
    const PUBCOMP: u64 = 5;

    #[inline(always)]
    fn pack(self) -> u64 {
        let (kind, byte, packet_id, alias) = match self {
            Transmit::Packet => (Self::PACKET, 0, 0, 0),
            Transmit::Publish { packet_id, topic } => {
                let (how, alias) = match topic {
                    Outgoing::Plain => (0, 0),
                    Outgoing::Define(alias) => (1, alias.get()),
                    Outgoing::Use(alias) => (2, alias.get()),
                };
                (Self::PUBLISH, how, packet_id.get(), alias)
            }
            Transmit::Ack(Ack {
                kind,
                packet_id,
                reason_code,
            }) => {
                let kind = match kind {
                    AckKind::Ack => Self::PUBACK,
                    AckKind::Rec => Self::PUBREC,
                    AckKind::Rel => Self::PUBREL,
                    AckKind::Comp => Self::PUBCOMP,
                };
                (kind, u8::from(reason_code), packet_id.get(), 0)
            }
        };
        kind | u64::from(byte) << 8 | u64::from(packet_id) << 16 | u64::from(alias) << 32
    }

    #[inline(always)]
    fn unpack(word: u64) -> Transmit {
        let byte = (word >> 8) as u8;
        let packet_id = PacketId::new((word >> 16) as u16);
        let alias = NonZeroU16::new((word >> 32) as u16);
        let (Some(packet_id), kind) = (packet_id, word & 0xff) else {
            return Transmit::Packet;
        };
        let ack = |kind| {
            // Success, the usual code, without the lookup.
            let reason_code = match byte {
                0 => ReasonCode::Success,
                b => ReasonCode::try_from(b).unwrap_or(ReasonCode::Success),
            };
            Transmit::Ack(Ack {
                kind,
                packet_id,
                reason_code,
            })
        };
        match kind {
            Self::PUBLISH => {
                let topic = match (byte, alias) {
                    (1, Some(alias)) => Outgoing::Define(alias),
                    (2, Some(alias)) => Outgoing::Use(alias),
                    _ => Outgoing::Plain,
                };
                Transmit::Publish { packet_id, topic }
            }
            Self::PUBACK => ack(AckKind::Ack),
            Self::PUBREC => ack(AckKind::Rec),
            Self::PUBREL => ack(AckKind::Rel),
            Self::PUBCOMP => ack(AckKind::Comp),
            _ => Transmit::Packet,
        }
    }
}

impl TransmitQueue {
    /// Entries waiting, packets and markers alike.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.order.clear();
        self.packets.clear();
    }

    /// Frees the room of both queues if they are empty.
    pub(crate) fn shrink_idle(&mut self) {
        if self.order.is_empty() && self.order.capacity() != 0 {
            self.order = VecDeque::new();
        }
        if self.packets.is_empty() && self.packets.capacity() != 0 {
            self.packets = VecDeque::new();
        }
    }

    /// Queues a built packet.
    pub(crate) fn push_packet(&mut self, packet: Packet) {
        self.packets.push_back(packet);
        self.order.push_back(Transmit::Packet.pack());
    }

    /// Queues a marker (not [`Transmit::Packet`]: see [`TransmitQueue::push_packet`]).
    #[inline]
    pub(crate) fn push(&mut self, marker: Transmit) {
        self.order.push_back(marker.pack());
    }

    /// What is next, read in place.
    #[inline]
    pub(crate) fn front(&self) -> Option<Transmit> {
        self.order.front().map(|&word| Transmit::unpack(word))
    }

    /// Removes the next entry, a marker.
    #[inline]
    pub(crate) fn pop_marker(&mut self) {
        self.order.pop_front();
    }

    /// Removes the next entry, a built packet, and returns the packet.
    #[inline]
    pub(crate) fn pop_packet(&mut self) -> Option<Packet> {
        self.order.pop_front();
        self.packets.pop_front()
    }

    /// The next entry if it is a built packet.
    pub(crate) fn front_packet_mut(&mut self) -> Option<&mut Packet> {
        match self.front() {
            Some(Transmit::Packet) => self.packets.front_mut(),
            _ => None,
        }
    }

    /// Replaces the marker of the first PUBLISH of `packet_id` with the packet `build` makes
    /// from its topic; false if there is no such marker.
    pub(crate) fn build_publish(
        &mut self,
        packet_id: PacketId,
        build: impl FnOnce(Outgoing) -> Packet,
    ) -> bool {
        let mut before = 0;
        for entry in self.order.iter_mut() {
            match Transmit::unpack(*entry) {
                Transmit::Packet => before += 1,
                Transmit::Publish {
                    packet_id: p,
                    topic,
                } if p == packet_id => {
                    *entry = Transmit::Packet.pack();
                    self.packets.insert(before, build(topic));
                    return true;
                }
                _ => {}
            }
        }
        false
    }
}

/// An acknowledgement without properties.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ack {
    kind: AckKind,
    packet_id: PacketId,
    reason_code: ReasonCode,
}

#[derive(Debug, Clone, Copy)]
/// PUBACK, PUBREC, PUBREL, PUBCOMP.
enum AckKind {
    Ack,
    Rec,
    Rel,
    Comp,
}

impl Ack {
    pub(crate) fn puback(packet_id: PacketId, reason_code: ReasonCode) -> Transmit {
        Ack::marker(AckKind::Ack, packet_id, reason_code)
    }

    pub(crate) fn pubrec(packet_id: PacketId, reason_code: ReasonCode) -> Transmit {
        Ack::marker(AckKind::Rec, packet_id, reason_code)
    }

    pub(crate) fn pubrel(packet_id: PacketId, reason_code: ReasonCode) -> Transmit {
        Ack::marker(AckKind::Rel, packet_id, reason_code)
    }

    pub(crate) fn pubcomp(packet_id: PacketId, reason_code: ReasonCode) -> Transmit {
        Ack::marker(AckKind::Comp, packet_id, reason_code)
    }

    fn marker(kind: AckKind, packet_id: PacketId, reason_code: ReasonCode) -> Transmit {
        Transmit::Ack(Ack {
            kind,
            packet_id,
            reason_code,
        })
    }

    /// The packet, built where the caller wants it.
    #[inline(always)]
    pub(crate) fn packet(self) -> Packet {
        let Ack {
            kind,
            packet_id,
            reason_code,
        } = self;
        let properties = AckProperties::default();
        match kind {
            AckKind::Ack => Packet::PubAck(PubAck {
                packet_id,
                reason_code,
                properties,
            }),
            AckKind::Rec => Packet::PubRec(PubRec {
                packet_id,
                reason_code,
                properties,
            }),
            AckKind::Rel => Packet::PubRel(PubRel {
                packet_id,
                reason_code,
                properties,
            }),
            AckKind::Comp => Packet::PubComp(PubComp {
                packet_id,
                reason_code,
                properties,
            }),
        }
    }
}
