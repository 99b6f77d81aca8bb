//! The fixed header (spec 2.1) and the [`Packet`] enum that dispatches to one module per packet.

use alloc::boxed::Box;
use bytes::{Bytes, BytesMut};
use core::fmt;

use crate::ack::{PubAck, PubComp, PubRec, PubRel};
use crate::auth::Auth;
use crate::connack::ConnAck;
use crate::connect::Connect;
use crate::disconnect::Disconnect;
use crate::error::{DecodeError, EncodeError};
use crate::publish::Publish;
use crate::subscribe::{SubAck, Subscribe};
use crate::unsubscribe::{UnsubAck, Unsubscribe};
use crate::version::ProtocolVersion;
use crate::wire::{varint_len, write_varint, Reader, MAX_REMAINING_LENGTH};

/// The MQTT control packet types (spec 2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // the variants are the spec's packet names
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    /// The packet type in the high four bits of a fixed header's first byte.
    pub const fn from_first_byte(byte: u8) -> Option<PacketType> {
        Some(match byte >> 4 {
            1 => PacketType::Connect,
            2 => PacketType::ConnAck,
            3 => PacketType::Publish,
            4 => PacketType::PubAck,
            5 => PacketType::PubRec,
            6 => PacketType::PubRel,
            7 => PacketType::PubComp,
            8 => PacketType::Subscribe,
            9 => PacketType::SubAck,
            10 => PacketType::Unsubscribe,
            11 => PacketType::UnsubAck,
            12 => PacketType::PingReq,
            13 => PacketType::PingResp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// The flags the fixed header must carry for every type but PUBLISH (spec 2.1.3, table 2-2).
    const fn required_flags(self) -> u8 {
        match self {
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
            _ => 0,
        }
    }

    /// The name of the packet type as the specification writes it.
    pub const fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::ConnAck => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::PubAck => "PUBACK",
            PacketType::PubRec => "PUBREC",
            PacketType::PubRel => "PUBREL",
            PacketType::PubComp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::SubAck => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::UnsubAck => "UNSUBACK",
            PacketType::PingReq => "PINGREQ",
            PacketType::PingResp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An MQTT control packet.
///
/// Encoding needs the protocol version of the connection (acknowledgements, for instance, carry
/// reason codes and properties only in 5.0); CONNECT carries its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // each variant holds the struct of the same name
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Packet {
    // CONNECT, CONNACK, DISCONNECT and AUTH are boxed: they are rare and large, and every packet
    // decoded, queued or copied costs the size of the largest variant.
    Connect(Box<Connect>),
    ConnAck(Box<ConnAck>),
    Publish(Publish),
    PubAck(PubAck),
    PubRec(PubRec),
    PubRel(PubRel),
    PubComp(PubComp),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Box<Disconnect>),
    Auth(Box<Auth>),
}

impl Packet {
    /// The packet's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::Publish(_) => PacketType::Publish,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }

    /// Decodes one whole packet: fixed header, then exactly the Remaining Length it announces.
    ///
    /// Most callers want [`crate::Decoder`], which also handles partial input and size limits.
    ///
    /// ```
    /// use mqtt_codec::{Packet, ProtocolVersion};
    /// let packet = Packet::decode(&[0xC0, 0x00], ProtocolVersion::V3_1_1).unwrap();
    /// assert_eq!(packet, Packet::PingReq);
    /// ```
    pub fn decode(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
        let mut buf = BytesMut::from(bytes);
        let mut decoder = crate::Decoder::new(version);
        decoder.set_max_packet_size(MAX_REMAINING_LENGTH + 5);
        match decoder.decode(&mut buf)? {
            Some(packet) if buf.is_empty() => Ok(packet),
            Some(_) => Err(DecodeError::TrailingBytes(buf.len())),
            None => Err(DecodeError::Truncated),
        }
    }

    /// Decodes the body of a packet whose fixed header has been read.
    pub(crate) fn decode_body(
        first_byte: u8,
        body: Bytes,
        version: ProtocolVersion,
    ) -> Result<Packet, DecodeError> {
        let packet_type = match PacketType::from_first_byte(first_byte) {
            Some(PacketType::Auth) if !version.is_v5() => {
                return Err(DecodeError::InvalidPacketType(15))
            }
            Some(t) => t,
            None => return Err(DecodeError::InvalidPacketType(first_byte >> 4)),
        };
        let flags = first_byte & 0x0F;
        if packet_type != PacketType::Publish && flags != packet_type.required_flags() {
            // [MQTT-2.1.3-1] reserved flags must be as table 2-2 lists them.
            return Err(DecodeError::InvalidFixedHeaderFlags {
                packet: packet_type,
                flags,
            });
        }
        let mut r = Reader::new(body);
        let packet = match packet_type {
            PacketType::Connect => Packet::Connect(Box::new(Connect::decode(&mut r)?)),
            PacketType::ConnAck => Packet::ConnAck(Box::new(ConnAck::decode(&mut r, version)?)),
            PacketType::Publish => Packet::Publish(Publish::decode(flags, &mut r, version)?),
            PacketType::PubAck => Packet::PubAck(PubAck::decode(&mut r, version)?),
            PacketType::PubRec => Packet::PubRec(PubRec::decode(&mut r, version)?),
            PacketType::PubRel => Packet::PubRel(PubRel::decode(&mut r, version)?),
            PacketType::PubComp => Packet::PubComp(PubComp::decode(&mut r, version)?),
            PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(&mut r, version)?),
            PacketType::SubAck => Packet::SubAck(SubAck::decode(&mut r, version)?),
            PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(&mut r, version)?),
            PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(&mut r, version)?),
            PacketType::PingReq => Packet::PingReq,
            PacketType::PingResp => Packet::PingResp,
            PacketType::Disconnect => {
                Packet::Disconnect(Box::new(Disconnect::decode(&mut r, version)?))
            }
            PacketType::Auth => Packet::Auth(Box::new(Auth::decode(&mut r)?)),
        };
        r.finish()?;
        Ok(packet)
    }

    /// The first byte of the fixed header: type and flags.
    fn first_byte(&self) -> u8 {
        let packet_type = self.packet_type();
        let flags = match self {
            Packet::Publish(p) => p.fixed_header_flags(),
            _ => packet_type.required_flags(),
        };
        (packet_type as u8) << 4 | flags
    }

    /// The Remaining Length for this version, after checking that the packet can be encoded.
    fn remaining_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let len = match self {
            Packet::Connect(p) => p.body_len(version)?,
            Packet::ConnAck(p) => p.body_len(version)?,
            Packet::Publish(p) => p.body_len(version)?,
            Packet::PubAck(p) => p.body_len(version)?,
            Packet::PubRec(p) => p.body_len(version)?,
            Packet::PubRel(p) => p.body_len(version)?,
            Packet::PubComp(p) => p.body_len(version)?,
            Packet::Subscribe(p) => p.body_len(version)?,
            Packet::SubAck(p) => p.body_len(version)?,
            Packet::Unsubscribe(p) => p.body_len(version)?,
            Packet::UnsubAck(p) => p.body_len(version)?,
            Packet::PingReq | Packet::PingResp => 0,
            Packet::Disconnect(p) => p.body_len(version)?,
            Packet::Auth(p) => p.body_len(version)?,
        };
        if len > MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge(len));
        }
        Ok(len)
    }

    /// The number of bytes [`Packet::encode`] writes for this version, computed without encoding;
    /// compare it with the peer's Maximum Packet Size before sending.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len(version)?;
        Ok(1 + varint_len(remaining) + remaining)
    }

    /// Appends the packet, encoded for `version`, to `buf`. On error nothing is written.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let remaining = self.remaining_len(version)?;
        buf.reserve(1 + varint_len(remaining) + remaining);
        buf.extend_from_slice(&[self.first_byte()]);
        write_varint(buf, remaining);
        match self {
            Packet::Connect(p) => p.write_body(buf),
            Packet::ConnAck(p) => p.write_body(version, buf),
            Packet::Publish(p) => p.write_body(version, buf),
            Packet::PubAck(p) => p.write_body(version, buf),
            Packet::PubRec(p) => p.write_body(version, buf),
            Packet::PubRel(p) => p.write_body(version, buf),
            Packet::PubComp(p) => p.write_body(version, buf),
            Packet::Subscribe(p) => p.write_body(version, buf),
            Packet::SubAck(p) => p.write_body(version, buf),
            Packet::Unsubscribe(p) => p.write_body(version, buf),
            Packet::UnsubAck(p) => p.write_body(version, buf),
            Packet::PingReq | Packet::PingResp => {}
            Packet::Disconnect(p) => p.write_body(version, buf),
            Packet::Auth(p) => p.write_body(buf),
        }
        Ok(())
    }
}

macro_rules! from_packet_struct {
    ($($name:ident),*) => {$(
        impl From<$name> for Packet {
            fn from(p: $name) -> Packet {
                Packet::$name(p)
            }
        }
    )*};
}

macro_rules! from_boxed_packet_struct {
    ($($name:ident),*) => {$(
        impl From<$name> for Packet {
            fn from(p: $name) -> Packet {
                Packet::$name(Box::new(p))
            }
        }
    )*};
}

from_boxed_packet_struct!(Connect, ConnAck, Disconnect, Auth);

from_packet_struct!(
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck
);
