//! PUBACK, PUBREC, PUBREL and PUBCOMP (spec 3.4-3.7): four packets of one shape.

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{AckProperties, PropertySet};
use crate::publish::{read_packet_id, PacketId};
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::Reader;

/// Reads the body shared by the four acknowledgements: a Packet Identifier, then in 5.0 an
/// optional Reason Code and optional properties (spec 3.4.2.1: "If the Remaining Length is 2 ...
/// a Reason Code of 0x00 is used; if it is less than 4 there is no Property Length").
fn decode_ack(
    r: &mut Reader,
    version: ProtocolVersion,
    packet: PacketType,
) -> Result<(PacketId, ReasonCode, AckProperties), DecodeError> {
    let packet_id = read_packet_id(r)?;
    if !version.is_v5() || r.is_empty() {
        return Ok((packet_id, ReasonCode::Success, AckProperties::default()));
    }
    let code = r.u8()?;
    let reason_code = ReasonCode::try_from(code)
        .ok()
        .filter(|rc| rc.is_valid_for(packet))
        .ok_or(DecodeError::InvalidReasonCode { packet, code })?;
    let properties = if r.is_empty() {
        AckProperties::default()
    } else {
        AckProperties::decode(r, packet)?
    };
    Ok((packet_id, reason_code, properties))
}

/// Body length of an acknowledgement; the short forms are used whenever they carry everything.
fn ack_len(
    version: ProtocolVersion,
    packet: PacketType,
    reason_code: ReasonCode,
    properties: &AckProperties,
) -> Result<usize, EncodeError> {
    if !version.is_v5() {
        return Ok(2);
    }
    if !reason_code.is_valid_for(packet) {
        return Err(EncodeError::InvalidReasonCode {
            packet,
            code: reason_code,
        });
    }
    if !properties.is_empty() {
        Ok(3 + properties.encoded_len()?)
    } else if reason_code != ReasonCode::Success {
        Ok(3)
    } else {
        Ok(2)
    }
}

fn write_ack(
    version: ProtocolVersion,
    packet_id: PacketId,
    reason_code: ReasonCode,
    properties: &AckProperties,
    buf: &mut BytesMut,
) {
    buf.extend_from_slice(&(packet_id.get()).to_be_bytes());
    if !version.is_v5() {
        return;
    }
    if !properties.is_empty() {
        buf.extend_from_slice(&[reason_code as u8]);
        properties.encode(buf);
    } else if reason_code != ReasonCode::Success {
        buf.extend_from_slice(&[reason_code as u8]);
    }
}

macro_rules! ack_packet {
    ($(#[$doc:meta])* $name:ident, $packet:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name {
            /// Packet Identifier of the PUBLISH (or PUBREL) being acknowledged.
            pub packet_id: PacketId,
            /// Reason Code (MQTT 5; always Success before).
            pub reason_code: ReasonCode,
            /// MQTT 5 properties.
            pub properties: AckProperties,
        }

        impl $name {
            /// A successful acknowledgement without properties.
            pub fn new(packet_id: PacketId) -> Self {
                $name {
                    packet_id,
                    reason_code: ReasonCode::Success,
                    properties: AckProperties::default(),
                }
            }

            pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
                let (packet_id, reason_code, properties) =
                    decode_ack(r, version, PacketType::$packet)?;
                Ok($name { packet_id, reason_code, properties })
            }

            pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
                ack_len(version, PacketType::$packet, self.reason_code, &self.properties)
            }

            pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
                write_ack(version, self.packet_id, self.reason_code, &self.properties, buf)
            }
        }
    };
}

ack_packet!(
    /// PUBACK (spec 3.4): the answer to a QoS 1 PUBLISH.
    ///
    /// ```
    /// use mqtt_codec::{Packet, ProtocolVersion, PubAck};
    /// let mut buf = bytes::BytesMut::new();
    /// Packet::PubAck(PubAck::new(10.try_into().unwrap()))
    ///     .encode(ProtocolVersion::V5, &mut buf)
    ///     .unwrap();
    /// assert_eq!(&buf[..], [0x40, 0x02, 0x00, 0x0A]);
    /// ```
    PubAck,
    PubAck
);
ack_packet!(
    /// PUBREC (spec 3.5): the first answer to a QoS 2 PUBLISH.
    PubRec,
    PubRec
);
ack_packet!(
    /// PUBREL (spec 3.6): the answer to PUBREC.
    PubRel,
    PubRel
);
ack_packet!(
    /// PUBCOMP (spec 3.7): the answer to PUBREL, completing QoS 2.
    PubComp,
    PubComp
);
