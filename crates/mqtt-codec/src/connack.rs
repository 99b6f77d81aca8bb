//! CONNACK (spec 3.2): the server's answer to CONNECT.

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{ConnAckProperties, PropertySet};
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::Reader;

/// A CONNACK packet (spec 3.2).
///
/// Before 5.0 the reason code travels as a CONNACK return code: see
/// [`ReasonCode::to_v3_connack`] for how MQTT 5 codes are mapped.
///
/// ```
/// use mqtt_codec::{ConnAck, Packet, ProtocolVersion, ReasonCode};
/// let refused = ConnAck { reason_code: ReasonCode::NotAuthorized, ..ConnAck::default() };
/// let mut buf = bytes::BytesMut::new();
/// Packet::from(refused).encode(ProtocolVersion::V3_1_1, &mut buf).unwrap();
/// assert_eq!(&buf[..], [0x20, 0x02, 0x00, 0x05]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ConnAck {
    /// Session Present (always false in MQTT 3.1, which has no such flag).
    pub session_present: bool,
    /// Connect Reason Code, or the return code mapped onto it.
    pub reason_code: ReasonCode,
    /// MQTT 5 properties.
    pub properties: ConnAckProperties,
}

impl Default for ConnAck {
    /// A successful CONNACK without a session.
    fn default() -> Self {
        ConnAck {
            session_present: false,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties::default(),
        }
    }
}

impl ConnAck {
    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let flags = r.u8()?;
        // [MQTT-3.2.2-1] bits 7-1 of the Acknowledge Flags are reserved.
        if flags & 0xFE != 0 {
            return Err(DecodeError::ConnAckReservedFlags);
        }
        let code = r.u8()?;
        let invalid = DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code,
        };
        let reason_code = if version.is_v5() {
            ReasonCode::try_from(code)
                .ok()
                .filter(|rc| rc.is_valid_for(PacketType::ConnAck))
                .ok_or(invalid)?
        } else {
            ReasonCode::from_v3_connack(code).ok_or(invalid)?
        };
        // MQTT 3.1 has no Session Present flag; the byte was reserved.
        let session_present = flags & 1 != 0 && version != ProtocolVersion::V3_1;
        // [MQTT-3.2.2-4] (3.1.1) / [MQTT-3.2.2-6] (5.0): a refusal has Session Present 0.
        if session_present && reason_code.is_error() {
            return Err(DecodeError::SessionPresentWithError);
        }
        let properties = if version.is_v5() {
            ConnAckProperties::decode(r, PacketType::ConnAck)?
        } else {
            ConnAckProperties::default()
        };
        Ok(ConnAck {
            session_present,
            reason_code,
            properties,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if version.is_v5() {
            if !self.reason_code.is_valid_for(PacketType::ConnAck) {
                return Err(EncodeError::InvalidReasonCode {
                    packet: PacketType::ConnAck,
                    code: self.reason_code,
                });
            }
            Ok(2 + self.properties.encoded_len()?)
        } else {
            Ok(2)
        }
    }

    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        let session_present = self.session_present
            && !self.reason_code.is_error()
            && version != ProtocolVersion::V3_1;
        buf.extend_from_slice(&[u8::from(session_present)]);
        if version.is_v5() {
            buf.extend_from_slice(&[self.reason_code as u8]);
            self.properties.encode(buf);
        } else {
            buf.extend_from_slice(&[self.reason_code.to_v3_connack()]);
        }
    }
}
