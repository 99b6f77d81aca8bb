//! DISCONNECT (spec 3.14).

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{DisconnectProperties, PropertySet};
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::Reader;

/// A DISCONNECT packet (spec 3.14). Before 5.0 it has no content.
///
/// ```
/// use mqtt_codec::{Disconnect, Packet, ProtocolVersion, ReasonCode};
/// let d = Disconnect::new(ReasonCode::SessionTakenOver);
/// let mut buf = bytes::BytesMut::new();
/// Packet::from(d).encode(ProtocolVersion::V5, &mut buf).unwrap();
/// assert_eq!(&buf[..], [0xE0, 0x01, 0x8E]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Disconnect {
    /// Disconnect Reason Code (MQTT 5); 0x00 is Normal disconnection.
    pub reason_code: ReasonCode,
    /// MQTT 5 properties.
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A DISCONNECT with a reason and no properties.
    pub fn new(reason_code: ReasonCode) -> Self {
        Disconnect {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn decode(r: &mut Reader, version: ProtocolVersion) -> Result<Self, DecodeError> {
        // Before 5.0 the body is empty; Packet::decode_body rejects leftover bytes.
        if !version.is_v5() || r.is_empty() {
            return Ok(Disconnect::default());
        }
        let code = r.u8()?;
        let reason_code = ReasonCode::try_from(code)
            .ok()
            .filter(|rc| rc.is_valid_for(PacketType::Disconnect))
            .ok_or(DecodeError::InvalidReasonCode {
                packet: PacketType::Disconnect,
                code,
            })?;
        // Spec 3.14.2.2.1: with a Remaining Length under 2 the Property Length is absent.
        let properties = if r.is_empty() {
            DisconnectProperties::default()
        } else {
            DisconnectProperties::decode(r, PacketType::Disconnect)?
        };
        Ok(Disconnect {
            reason_code,
            properties,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !version.is_v5() {
            return Ok(0);
        }
        if !self.reason_code.is_valid_for(PacketType::Disconnect) {
            return Err(EncodeError::InvalidReasonCode {
                packet: PacketType::Disconnect,
                code: self.reason_code,
            });
        }
        if !self.properties.is_empty() {
            Ok(1 + self.properties.encoded_len()?)
        } else if self.reason_code != ReasonCode::Success {
            Ok(1)
        } else {
            Ok(0)
        }
    }

    pub(crate) fn write_body(&self, version: ProtocolVersion, buf: &mut BytesMut) {
        if !version.is_v5() {
            return;
        }
        if !self.properties.is_empty() {
            buf.extend_from_slice(&[self.reason_code as u8]);
            self.properties.encode(buf);
        } else if self.reason_code != ReasonCode::Success {
            buf.extend_from_slice(&[self.reason_code as u8]);
        }
    }
}
