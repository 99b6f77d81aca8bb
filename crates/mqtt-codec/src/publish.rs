//! PUBLISH (spec 3.3).

use core::num::NonZeroU16;

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{PropertySet, PublishProperties};
use crate::qos::QoS;
use crate::topic::TopicName;
use crate::version::ProtocolVersion;
use crate::wire::{prefixed_len, write_prefixed, Reader};

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
/// message can be shared by every subscriber without copying.
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
    /// MQTT 5 properties.
    pub properties: PublishProperties,
    /// Application Message.
    pub payload: Bytes,
}

impl Publish {
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
        let topic = r.string()?;
        let topic = if version.is_v5() {
            TopicName::from_mqtt_string_or_empty(topic)?
        } else {
            // [MQTT-4.7.3-1] Topic Names are at least one character long.
            TopicName::from_mqtt_string(topic)?
        };
        let qos = match qos {
            QoS::AtMostOnce => PublishQos::AtMostOnce,
            QoS::AtLeastOnce => PublishQos::AtLeastOnce(read_packet_id(r)?),
            QoS::ExactlyOnce => PublishQos::ExactlyOnce(read_packet_id(r)?),
        };
        let properties = if version.is_v5() {
            let props = PublishProperties::decode(r, PacketType::Publish)?;
            // Spec 3.3.2.3.4: an empty Topic Name needs a Topic Alias.
            if topic.is_empty() && props.topic_alias.is_none() {
                return Err(DecodeError::EmptyTopicWithoutAlias);
            }
            props
        } else {
            PublishProperties::default()
        };
        Ok(Publish {
            dup,
            qos,
            retain,
            topic,
            properties,
            payload: r.rest(),
        })
    }

    pub(crate) fn fixed_header_flags(&self) -> u8 {
        let qos = self.qos.qos();
        let dup = self.dup && qos != QoS::AtMostOnce;
        u8::from(dup) << 3 | (qos as u8) << 1 | u8::from(self.retain)
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.topic.is_empty() && (!version.is_v5() || self.properties.topic_alias.is_none()) {
            return Err(EncodeError::EmptyTopic);
        }
        let mut len = prefixed_len(self.topic.as_bytes())? + self.payload.len();
        if self.qos.packet_id().is_some() {
            len += 2;
        }
        if version.is_v5() {
            len += self.properties.encoded_len()?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        write_prefixed(buf, self.topic.as_bytes());
        if let Some(id) = self.qos.packet_id() {
            buf.extend_from_slice(&(id.get()).to_be_bytes());
        }
        if version.is_v5() {
            self.properties.encode(buf);
        }
        buf.extend_from_slice(&self.payload);
    }
}
