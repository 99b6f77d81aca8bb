//! SUBSCRIBE and SUBACK (spec 3.8, 3.9).

use alloc::vec::Vec;

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{AckProperties, PropertySet, SubscribeProperties};
use crate::publish::{read_packet_id, PacketId};
use crate::qos::QoS;
use crate::reason::ReasonCode;
use crate::topic::TopicFilter;
use crate::version::ProtocolVersion;
use crate::wire::{prefixed_len, write_prefixed, Reader};

/// Whether retained messages are sent when a subscription is made (spec 3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not exist before.
    SendAtNewSubscribe = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

/// The Subscription Options byte (spec 3.8.3.1). Before 5.0 only the QoS exists.
///
/// ```
/// use mqtt_codec::{QoS, RetainHandling, SubscriptionOptions};
/// let o = SubscriptionOptions { qos: QoS::AtLeastOnce, no_local: true, ..Default::default() };
/// assert_eq!(o.to_byte(), 0b0000_0101);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SubscriptionOptions {
    /// Maximum QoS of the messages sent for this subscription.
    pub qos: QoS,
    /// Do not send the subscriber its own publications (MQTT 5).
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages (MQTT 5).
    pub retain_as_published: bool,
    /// When to send retained messages (MQTT 5).
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with only a QoS, the whole of a 3.1.1 subscription.
    pub const fn with_qos(qos: QoS) -> Self {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }

    /// The options byte.
    pub const fn to_byte(self) -> u8 {
        self.qos as u8
            | (self.no_local as u8) << 2
            | (self.retain_as_published as u8) << 3
            | (self.retain_handling as u8) << 4
    }

    fn from_byte(byte: u8, version: ProtocolVersion) -> Result<Self, DecodeError> {
        // [MQTT-3.8.3-5] (5.0) bits 6-7 reserved; 3.1.1 [MQTT-3-8.3-4] reserves bits 2-7.
        let reserved = if version.is_v5() {
            0b1100_0000
        } else {
            0b1111_1100
        };
        if byte & reserved != 0 {
            return Err(DecodeError::SubscriptionOptionsReserved);
        }
        let qos = QoS::try_from(byte & 0b11).map_err(|_| DecodeError::InvalidQoS)?;
        let retain_handling = match (byte >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtNewSubscribe,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & 0b0100 != 0,
            retain_as_published: byte & 0b1000 != 0,
            retain_handling,
        })
    }
}

/// A SUBSCRIBE packet (spec 3.8).
///
/// ```
/// use mqtt_codec::{Packet, ProtocolVersion, QoS, Subscribe, SubscriptionOptions, TopicFilter};
/// let subscribe = Subscribe::new(
///     1.try_into()?,
///     vec![(TopicFilter::new("a/+")?, SubscriptionOptions::with_qos(QoS::AtLeastOnce))],
/// );
/// let mut buf = bytes::BytesMut::new();
/// Packet::Subscribe(subscribe).encode(ProtocolVersion::V3_1_1, &mut buf)?;
/// assert_eq!(&buf[..], b"\x82\x08\x00\x01\x00\x03a/+\x01");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Subscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// MQTT 5 properties.
    pub properties: SubscribeProperties,
    /// Topic filters with their options, in order; at least one [MQTT-3.8.3-3].
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
}

impl Subscribe {
    /// A SUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, filters: Vec<(TopicFilter, SubscriptionOptions)>) -> Self {
        Subscribe {
            packet_id,
            properties: SubscribeProperties::default(),
            filters,
        }
    }

    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = if version.is_v5() {
            SubscribeProperties::decode(r, PacketType::Subscribe)?
        } else {
            SubscribeProperties::default()
        };
        let mut filters = Vec::with_capacity(count_entries(r.as_slice(), 1));
        while !r.is_empty() {
            let filter = TopicFilter::from_wire(r.binary()?)?;
            let options = SubscriptionOptions::from_byte(r.u8()?, version)?;
            // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error.
            if options.no_local && filter.is_shared() {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            filters.push((filter, options));
        }
        // [MQTT-3.8.3-3] (3.1.1) / [MQTT-3.8.3-2] (5.0): at least one filter.
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters(PacketType::Subscribe));
        }
        Ok(Subscribe {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::EmptyPayload(PacketType::Subscribe));
        }
        let mut len = 2;
        if version.is_v5() {
            len += self.properties.encoded_len()?;
        }
        for (filter, options) in &self.filters {
            // [MQTT-3.8.3-4] (5.0; No Local does not exist before).
            if version.is_v5() && options.no_local && filter.is_shared() {
                return Err(EncodeError::NoLocalOnSharedSubscription);
            }
            len += prefixed_len(filter.as_bytes())? + 1;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.extend_from_slice(&(self.packet_id.get()).to_be_bytes());
        if version.is_v5() {
            self.properties.encode(buf);
        }
        for (filter, options) in &self.filters {
            write_prefixed(buf, filter.as_bytes());
            let byte = if version.is_v5() {
                options.to_byte()
            } else {
                options.qos as u8
            };
            buf.extend_from_slice(&[byte]);
        }
    }
}

/// The capacity to reserve for the entries of a SUBSCRIBE or UNSUBSCRIBE payload `body`, each a
/// length prefixed Topic Filter followed by `trailer` bytes, counted from the length prefixes
/// alone. The vector of filters is then allocated once, where growing it by doubling cost three
/// allocations and copies for ten filters. The count stops at an empty filter (which fails to
/// decode) and at [`PRESIZE_LIMIT`], so a hostile packet cannot make the decoder reserve more
/// than a few KiB before its first filter is checked; a longer list grows as it is decoded.
pub(crate) fn count_entries(mut body: &[u8], trailer: usize) -> usize {
    let mut n = 0;
    while let [hi, lo, rest @ ..] = body {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if len == 0 || n == PRESIZE_LIMIT {
            break;
        }
        n += 1;
        body = rest.get(len + trailer..).unwrap_or_default();
    }
    n
}

/// The most entries [`count_entries`] reserves room for.
const PRESIZE_LIMIT: usize = 32;

/// A SUBACK packet (spec 3.9): one reason code per topic filter, in order.
///
/// Before 5.0 the codes are the granted QoS (0x00, 0x01, 0x02) or 0x80 for failure; every MQTT 5
/// failure code is sent as 0x80 then.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SubAck {
    /// Packet Identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// MQTT 5 properties.
    pub properties: AckProperties,
    /// One code per filter of the SUBSCRIBE.
    pub reason_codes: Vec<ReasonCode>,
}

impl SubAck {
    /// A SUBACK without properties.
    pub fn new(packet_id: PacketId, reason_codes: Vec<ReasonCode>) -> Self {
        SubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes,
        }
    }

    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = if version.is_v5() {
            AckProperties::decode(r, PacketType::SubAck)?
        } else {
            AckProperties::default()
        };
        let mut reason_codes = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            let code = r.u8()?;
            let rc = match ReasonCode::try_from(code) {
                Ok(rc) if version.is_v5() && rc.is_valid_for(PacketType::SubAck) => rc,
                // 3.1.1 spec 3.9.3: 0x00, 0x01, 0x02 and 0x80 only.
                Ok(
                    rc @ (ReasonCode::Success | ReasonCode::GrantedQoS1 | ReasonCode::GrantedQoS2),
                )
                | Ok(rc @ ReasonCode::UnspecifiedError) => rc,
                _ => {
                    return Err(DecodeError::InvalidReasonCode {
                        packet: PacketType::SubAck,
                        code,
                    })
                }
            };
            reason_codes.push(rc);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::Truncated);
        }
        Ok(SubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::EmptyPayload(PacketType::SubAck));
        }
        if let Some(&code) = self
            .reason_codes
            .iter()
            .find(|rc| !rc.is_valid_for(PacketType::SubAck))
        {
            return Err(EncodeError::InvalidReasonCode {
                packet: PacketType::SubAck,
                code,
            });
        }
        let props = if version.is_v5() {
            self.properties.encoded_len()?
        } else {
            0
        };
        Ok(2 + props + self.reason_codes.len())
    }

    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.extend_from_slice(&(self.packet_id.get()).to_be_bytes());
        if version.is_v5() {
            self.properties.encode(buf);
            for rc in &self.reason_codes {
                buf.extend_from_slice(&[*rc as u8]);
            }
        } else {
            for rc in &self.reason_codes {
                buf.extend_from_slice(&[if rc.is_error() { 0x80 } else { *rc as u8 }]);
            }
        }
    }
}
