//! PUBLISH (spec 3.3).

use core::num::NonZeroU16;

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{
    first_time, PropertyCodec, PropertyId, PropertySet, PublishProperties, SharedPublishProperties,
    TwoByteNonZero,
};
use crate::qos::QoS;
use crate::topic::TopicName;
use crate::version::ProtocolVersion;
use crate::wire::{prefixed_len, varint_len, write_prefixed, write_varint, Reader};

/// A Packet Identifier (spec 2.2.1): never 0 [MQTT-2.2.1-3].
pub type PacketId = NonZeroU16;

pub(crate) fn read_packet_id(r: &mut Reader) -> Result<PacketId, DecodeError> {
    NonZeroU16::new(r.u16()?).ok_or(DecodeError::ZeroPacketId)
}

/// The QoS of a PUBLISH together with its Packet Identifier, which QoS 1 and 2 need and QoS 0
/// must not have [MQTT-2.2.1-2].
///
/// ```
/// use mqtt_codec::{PublishQos, QoS};
/// let q = PublishQos::ExactlyOnce(3.try_into().unwrap());
/// assert_eq!(q.qos(), QoS::ExactlyOnce);
/// assert_eq!(q.packet_id().map(|id| id.get()), Some(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PublishQos {
    /// QoS 0, no Packet Identifier.
    #[default]
    AtMostOnce,
    /// QoS 1 with its Packet Identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its Packet Identifier.
    ExactlyOnce(PacketId),
}

impl PublishQos {
    /// The QoS level.
    pub const fn qos(self) -> QoS {
        match self {
            PublishQos::AtMostOnce => QoS::AtMostOnce,
            PublishQos::AtLeastOnce(_) => QoS::AtLeastOnce,
            PublishQos::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The Packet Identifier, for QoS 1 and 2.
    pub const fn packet_id(self) -> Option<PacketId> {
        match self {
            PublishQos::AtMostOnce => None,
            PublishQos::AtLeastOnce(id) | PublishQos::ExactlyOnce(id) => Some(id),
        }
    }

    /// A QoS with a Packet Identifier; `id` is ignored for QoS 0.
    pub const fn new(qos: QoS, id: PacketId) -> Self {
        match qos {
            QoS::AtMostOnce => PublishQos::AtMostOnce,
            QoS::AtLeastOnce => PublishQos::AtLeastOnce(id),
            QoS::ExactlyOnce => PublishQos::ExactlyOnce(id),
        }
    }
}

/// A PUBLISH packet (spec 3.3).
///
/// The payload is a [`Bytes`]: decoding slices it out of the received buffer, and one encoded
/// message can be shared by every subscriber without copying. The properties are shared too
/// ([`SharedPublishProperties`]), which keeps the packet small: decoding, queueing and copying a
/// PUBLISH moves 80 bytes, whatever properties it carries.
///
/// ```
/// use mqtt_codec::{Packet, ProtocolVersion, Publish, TopicName};
/// let publish = Publish {
///     topic: TopicName::new("a/b")?,
///     payload: "hi".into(),
///     retain: true,
///     ..Publish::default()
/// };
/// let mut buf = bytes::BytesMut::new();
/// Packet::Publish(publish).encode(ProtocolVersion::V3_1_1, &mut buf)?;
/// assert_eq!(&buf[..], b"\x31\x07\x00\x03a/bhi");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Publish {
    /// DUP: this may be a re-delivery (QoS 1 and 2 only; never encoded for QoS 0).
    pub dup: bool,
    /// QoS and Packet Identifier.
    pub qos: PublishQos,
    /// RETAIN.
    pub retain: bool,
    /// Topic Name; empty only in an MQTT 5 PUBLISH that carries a Topic Alias.
    pub topic: TopicName,
    /// MQTT 5 Topic Alias (spec 3.3.2.3.4): stands for the Topic Name on this connection. A
    /// property on the wire, a field here because it belongs to one hop, not to the message.
    pub topic_alias: Option<NonZeroU16>,
    /// The other MQTT 5 properties.
    pub properties: SharedPublishProperties,
    /// Application Message.
    pub payload: Bytes,
}

impl Publish {
    // Always inlined: the decoder then builds the packet where it returns it, instead of copying
    // it (a copy of a value just written field by field stalls store forwarding).
    #[inline(always)]
    pub(crate) fn decode(
        flags: u8,
        r: &mut Reader,
        version: ProtocolVersion,
    ) -> Result<Publish, DecodeError> {
        let dup = flags & 0b1000 != 0;
        let retain = flags & 0b0001 != 0;
        // [MQTT-3.3.1-4] A PUBLISH packet MUST NOT have both QoS bits set to 1.
        let qos = QoS::try_from((flags >> 1) & 0b11).map_err(|_| DecodeError::InvalidQoS)?;
        // [MQTT-3.3.1-2] The DUP flag MUST be set to 0 for all QoS 0 messages.
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupWithQoS0);
        }
        // [MQTT-4.7.3-1] Topic Names are at least one character long; an MQTT 5 PUBLISH may
        // leave it empty for a Topic Alias (checked with the properties).
        let topic = TopicName::from_wire(r.binary()?, version.is_v5())?;
        let qos = match qos {
            QoS::AtMostOnce => PublishQos::AtMostOnce,
            QoS::AtLeastOnce => PublishQos::AtLeastOnce(read_packet_id(r)?),
            QoS::ExactlyOnce => PublishQos::ExactlyOnce(read_packet_id(r)?),
        };
        let (topic_alias, properties) = if version.is_v5() {
            let (alias, props) = decode_properties(r)?;
            // Spec 3.3.2.3.4: an empty Topic Name needs a Topic Alias.
            if topic.is_empty() && alias.is_none() {
                return Err(DecodeError::EmptyTopicWithoutAlias);
            }
            (alias, props)
        } else {
            (None, SharedPublishProperties::default())
        };
        Ok(Publish {
            dup,
            qos,
            retain,
            topic,
            topic_alias,
            properties,
            payload: r.rest(),
        })
    }

    /// Property Length of an MQTT 5 PUBLISH, without its own prefix.
    #[inline]
    fn properties_body_len(&self) -> Result<usize, EncodeError> {
        let alias = if self.topic_alias.is_some() { 3 } else { 0 };
        if self.properties.is_unset() {
            // The common case: no set to walk.
            return Ok(alias);
        }
        Ok(alias + self.properties.body_len()?)
    }

    pub(crate) fn fixed_header_flags(&self) -> u8 {
        let qos = self.qos.qos();
        let dup = self.dup && qos != QoS::AtMostOnce;
        u8::from(dup) << 3 | (qos as u8) << 1 | u8::from(self.retain)
    }

    #[inline]
    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.topic.is_empty() && (!version.is_v5() || self.topic_alias.is_none()) {
            return Err(EncodeError::EmptyTopic);
        }
        let mut len = prefixed_len(self.topic.as_bytes())? + self.payload.len();
        if self.qos.packet_id().is_some() {
            len += 2;
        }
        if version.is_v5() {
            let props = self.properties_body_len()?;
            len += varint_len(props) + props;
        }
        Ok(len)
    }

    #[inline]
    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        write_prefixed(buf, self.topic.as_bytes());
        if let Some(id) = self.qos.packet_id() {
            buf.extend_from_slice(&(id.get()).to_be_bytes());
        }
        if version.is_v5() {
            // body_len checked the length before any byte of the packet was written.
            write_varint(buf, self.properties_body_len().unwrap_or(0));
            if let Some(alias) = &self.topic_alias {
                buf.extend_from_slice(&[PropertyId::TopicAlias as u8]);
                TwoByteNonZero::write(alias, buf);
            }
            if !self.properties.is_unset() {
                self.properties.write_body(buf);
            }
        }
        buf.extend_from_slice(&self.payload);
    }
}

/// Decodes the properties of an MQTT 5 PUBLISH: the Topic Alias apart, the rest into a set that
/// is allocated only when not empty.
fn decode_properties(
    r: &mut Reader,
) -> Result<(Option<NonZeroU16>, SharedPublishProperties), DecodeError> {
    let len = r.varint()? as usize;
    if len == 0 {
        return Ok((None, SharedPublishProperties::default()));
    }
    r.within(len, |props| {
        let mut set = PublishProperties::default();
        let mut alias = None;
        let mut seen = 0u64;
        while !props.is_empty() {
            let raw = props.varint()?;
            let id = PropertyId::from_id(raw).ok_or(DecodeError::UnknownProperty(raw))?;
            if id == PropertyId::TopicAlias {
                first_time(id, &mut seen)?;
                alias = Some(TwoByteNonZero::read(props, id)?);
            } else {
                set.decode_one(id, props, &mut seen, PacketType::Publish)?;
            }
        }
        Ok((alias, set.into()))
    })
}
