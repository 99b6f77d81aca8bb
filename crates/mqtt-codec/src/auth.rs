//! AUTH (spec 3.15), MQTT 5 only.

use bytes::BytesMut;

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{AuthProperties, PropertySet};
use crate::reason::ReasonCode;
use crate::version::ProtocolVersion;
use crate::wire::Reader;

/// An AUTH packet (spec 3.15), for extended authentication in MQTT 5.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Auth {
    /// Authenticate Reason Code: Success, Continue authentication or Re-authenticate.
    pub reason_code: ReasonCode,
    /// Properties, normally the Authentication Method and Data.
    pub properties: AuthProperties,
}

impl Auth {
    pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        // Spec 3.15.2.1: a Remaining Length of 0 means Success without properties.
        if r.is_empty() {
            return Ok(Auth::default());
        }
        let code = r.u8()?;
        let reason_code = ReasonCode::try_from(code)
            .ok()
            .filter(|rc| rc.is_valid_for(PacketType::Auth))
            .ok_or(DecodeError::InvalidReasonCode {
                packet: PacketType::Auth,
                code,
            })?;
        let properties = if r.is_empty() {
            AuthProperties::default()
        } else {
            AuthProperties::decode(r, PacketType::Auth)?
        };
        // Spec 3.15.2.2.2: omitting the Authentication Method is a Protocol Error.
        if properties.authentication_method.is_none() {
            return Err(DecodeError::AuthWithoutMethod);
        }
        Ok(Auth {
            reason_code,
            properties,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if !version.is_v5() {
            return Err(EncodeError::UnsupportedPacket {
                packet: PacketType::Auth,
                version,
            });
        }
        if !self.reason_code.is_valid_for(PacketType::Auth) {
            return Err(EncodeError::InvalidReasonCode {
                packet: PacketType::Auth,
                code: self.reason_code,
            });
        }
        if self.reason_code == ReasonCode::Success && self.properties.is_empty() {
            return Ok(0);
        }
        if self.properties.authentication_method.is_none() {
            return Err(EncodeError::AuthWithoutMethod);
        }
        Ok(1 + self.properties.encoded_len()?)
    }

    pub(crate) fn write_body(&self, buf: &mut BytesMut) {
        if self.reason_code == ReasonCode::Success && self.properties.is_empty() {
            return;
        }
        buf.extend_from_slice(&[self.reason_code as u8]);
        self.properties.encode(buf);
    }
}
