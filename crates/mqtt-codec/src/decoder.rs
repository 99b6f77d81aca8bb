//! Incremental decoding from a receive buffer, with the maximum packet size enforced as soon as
//! the fixed header is read.

use bytes::{Buf, BytesMut};

use crate::error::DecodeError;
use crate::packet::{Packet, PacketType};
use crate::publish::Publish;
use crate::version::ProtocolVersion;
use crate::wire::{read_varint, Reader, VarInt, MAX_REMAINING_LENGTH};

/// The default maximum packet size: the largest packet MQTT can express (268,435,460 bytes).
/// Servers should set a smaller one.
pub const DEFAULT_MAX_PACKET_SIZE: usize = MAX_REMAINING_LENGTH + 5;

/// Decodes packets from a growing buffer of received bytes.
///
/// Call [`Decoder::decode`] each time bytes are appended; it returns `Ok(None)` until a whole
/// packet is buffered, then removes that packet's bytes from the buffer and returns it. A
/// packet larger than the maximum packet size is refused from its fixed header alone, before its
/// body is received or any memory is reserved for it.
///
/// A server's decoder starts with [`Decoder::new_server`]: it accepts only CONNECT and then
/// adopts the version that CONNECT names [MQTT-3.1.0-1].
///
/// ```
/// use bytes::BytesMut;
/// use mqtt_codec::{Decoder, Packet, ProtocolVersion};
///
/// let mut decoder = Decoder::new_server();
/// // A 3.1.1 CONNECT arriving in two pieces.
/// let wire = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00";
/// let mut buf = BytesMut::from(&wire[..5]);
/// assert_eq!(decoder.decode(&mut buf)?, None);
/// buf.extend_from_slice(&wire[5..]);
/// let packet = decoder.decode(&mut buf)?.unwrap();
/// assert!(matches!(packet, Packet::Connect(_)));
/// assert_eq!(decoder.version(), Some(ProtocolVersion::V3_1_1));
/// # Ok::<(), mqtt_codec::DecodeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    version: Option<ProtocolVersion>,
    max_packet_size: usize,
}

impl Decoder {
    /// A decoder for a connection whose protocol version is known (a client's).
    pub fn new(version: ProtocolVersion) -> Self {
        Decoder {
            version: Some(version),
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
        }
    }

    /// A decoder for the server side of a new connection: the first packet must be CONNECT,
    /// whose Protocol Level then sets the version for the rest of the connection.
    pub fn new_server() -> Self {
        Decoder {
            version: None,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
        }
    }

    /// The protocol version in use, once known.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// Sets the protocol version, e.g. after the client's CONNACK.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = Some(version);
    }

    /// The largest packet accepted, fixed header included.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// Sets the largest packet accepted, fixed header included (the Maximum Packet Size this side
    /// announces in MQTT 5). Values above [`DEFAULT_MAX_PACKET_SIZE`] change nothing.
    pub fn set_max_packet_size(&mut self, max: usize) {
        self.max_packet_size = max;
    }

    /// Decodes the next packet from the front of `buf`.
    ///
    /// Returns `Ok(None)` when more bytes are needed (and reserves room for the rest of the packet
    /// once its size is known), `Ok(Some(packet))` after removing its bytes from `buf`, or an error
    /// after which the connection must be closed: the stream can no longer be framed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let Some(&first_byte) = buf.first() else {
            return Ok(None);
        };
        let packet_type = PacketType::from_first_byte(first_byte);
        if self.version.is_none() && packet_type != Some(PacketType::Connect) {
            // [MQTT-3.1.0-1] the first packet from the client MUST be CONNECT.
            return Err(match packet_type {
                Some(t) => DecodeError::ExpectedConnect(t),
                None => DecodeError::InvalidPacketType(first_byte >> 4),
            });
        }
        let rest = buf.get(1..).unwrap_or_default();
        let (remaining, len_bytes) = match read_varint(rest)? {
            VarInt::Complete(value, len) => (value as usize, len),
            VarInt::Incomplete => return Ok(None),
        };
        let header = 1 + len_bytes;
        let size = header + remaining;
        if size > self.max_packet_size {
            return Err(DecodeError::PacketTooLarge {
                size,
                max: self.max_packet_size,
            });
        }
        if buf.len() < size {
            buf.reserve(size - buf.len());
            return Ok(None);
        }
        // One out-of-line call into `bytes` per packet: the frame is cut whole and its fixed
        // header skipped by `Bytes::advance`, which is inlined (`BytesMut::advance` is not).
        let mut body = buf.split_to(size).freeze();
        body.advance(header);
        let version = self.version.unwrap_or(ProtocolVersion::V3_1_1);
        if packet_type == Some(PacketType::Publish) {
            // The packet that matters for throughput, decoded in place (PUBLISH takes the whole
            // body: the payload is the rest of it).
            let publish = Publish::decode(first_byte & 0x0F, &mut Reader::new(body), version)?;
            return Ok(Some(Packet::Publish(publish)));
        }
        let packet = Packet::decode_body(first_byte, body, version)?;
        if let (None, Packet::Connect(connect)) = (self.version, &packet) {
            self.version = Some(connect.protocol);
        }
        Ok(Some(packet))
    }
}
