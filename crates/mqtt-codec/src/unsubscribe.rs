//! UNSUBSCRIBE and UNSUBACK (spec 3.10, 3.11).

use alloc::vec::Vec;

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{AckProperties, PropertySet, UnsubscribeProperties};
use crate::publish::{read_packet_id, PacketId};
use crate::reason::ReasonCode;
use crate::subscribe::count_entries;
use crate::topic::TopicFilter;
use crate::version::ProtocolVersion;
use crate::wire::{prefixed_len, write_prefixed, Reader};

/// An UNSUBSCRIBE packet (spec 3.10).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Unsubscribe {
    /// Packet Identifier.
    pub packet_id: PacketId,
    /// MQTT 5 properties.
    pub properties: UnsubscribeProperties,
    /// Topic filters, at least one [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter>,
}

impl Unsubscribe {
    /// An UNSUBSCRIBE without properties.
    pub fn new(packet_id: PacketId, filters: Vec<TopicFilter>) -> Self {
        Unsubscribe {
            packet_id,
            properties: UnsubscribeProperties::default(),
            filters,
        }
    }

    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        let properties = if version.is_v5() {
            UnsubscribeProperties::decode(r, PacketType::Unsubscribe)?
        } else {
            UnsubscribeProperties::default()
        };
        let mut filters = Vec::with_capacity(count_entries(r.as_slice(), 0));
        while !r.is_empty() {
            filters.push(TopicFilter::from_wire(r.binary()?)?);
        }
        // [MQTT-3.10.3-2] The Payload MUST contain at least one Topic Filter.
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters(PacketType::Unsubscribe));
        }
        Ok(Unsubscribe {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::EmptyPayload(PacketType::Unsubscribe));
        }
        let mut len = 2;
        if version.is_v5() {
            len += self.properties.encoded_len()?;
        }
        for filter in &self.filters {
            len += prefixed_len(filter.as_bytes())?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.extend_from_slice(&(self.packet_id.get()).to_be_bytes());
        if version.is_v5() {
            self.properties.encode(buf);
        }
        for filter in &self.filters {
            write_prefixed(buf, filter.as_bytes());
        }
    }
}

/// An UNSUBACK packet (spec 3.11). Reason codes exist only in 5.0 (one per filter); before,
/// the packet carries only the Packet Identifier and `reason_codes` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UnsubAck {
    /// Packet Identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// MQTT 5 properties.
    pub properties: AckProperties,
    /// MQTT 5: one code per filter of the UNSUBSCRIBE.
    pub reason_codes: Vec<ReasonCode>,
}

impl UnsubAck {
    /// An UNSUBACK without properties.
    pub fn new(packet_id: PacketId, reason_codes: Vec<ReasonCode>) -> Self {
        UnsubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes,
        }
    }

    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let packet_id = read_packet_id(r)?;
        if !version.is_v5() {
            return Ok(UnsubAck::new(packet_id, Vec::new()));
        }
        let properties = AckProperties::decode(r, PacketType::UnsubAck)?;
        let mut reason_codes = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            let code = r.u8()?;
            let rc = ReasonCode::try_from(code)
                .ok()
                .filter(|rc| rc.is_valid_for(PacketType::UnsubAck))
                .ok_or(DecodeError::InvalidReasonCode {
                    packet: PacketType::UnsubAck,
                    code,
                })?;
            reason_codes.push(rc);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::Truncated);
        }
        Ok(UnsubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !version.is_v5() {
            return Ok(2);
        }
        if self.reason_codes.is_empty() {
            return Err(EncodeError::EmptyPayload(PacketType::UnsubAck));
        }
        if let Some(&code) = self
            .reason_codes
            .iter()
            .find(|rc| !rc.is_valid_for(PacketType::UnsubAck))
        {
            return Err(EncodeError::InvalidReasonCode {
                packet: PacketType::UnsubAck,
                code,
            });
        }
        Ok(2 + self.properties.encoded_len()? + self.reason_codes.len())
    }

    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        buf.extend_from_slice(&(self.packet_id.get()).to_be_bytes());
        if version.is_v5() {
            self.properties.encode(buf);
            for rc in &self.reason_codes {
                buf.extend_from_slice(&[*rc as u8]);
            }
        }
    }
}
