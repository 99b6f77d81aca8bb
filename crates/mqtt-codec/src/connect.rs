//! CONNECT (spec 3.1): the first packet a client sends.

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::properties::{ConnectProperties, PropertySet, WillProperties};
use crate::qos::QoS;
use crate::string::MqttString;
use crate::topic::TopicName;
use crate::version::ProtocolVersion;
use crate::wire::{prefixed_len, write_prefixed, Reader};

/// A CONNECT packet (spec 3.1).
///
/// ```
/// use mqtt_codec::{Connect, MqttString, Packet, ProtocolVersion};
/// let connect = Connect {
///     protocol: ProtocolVersion::V3_1_1,
///     client_id: MqttString::new("sensor-1")?,
///     username: Some(MqttString::new("test")?),
///     password: Some("123123".into()),
///     ..Connect::default()
/// };
/// let mut buf = bytes::BytesMut::new();
/// Packet::from(connect).encode(ProtocolVersion::V3_1_1, &mut buf)?;
/// assert_eq!(&buf[..12], b"\x10\x22\x00\x04MQTT\x04\xc2\x00\x3c");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Connect {
    /// The protocol version the client speaks (Protocol Name and Level).
    pub protocol: ProtocolVersion,
    /// Clean Session (3.1.1) or Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 disables it.
    pub keep_alive: u16,
    /// Client Identifier; may be empty (spec 3.1.3.1).
    pub client_id: MqttString,
    /// The Will Message.
    pub will: Option<LastWill>,
    /// User Name.
    pub username: Option<MqttString>,
    /// Password: binary data in 5.0, a string before, up to 65,535 bytes either way.
    pub password: Option<Bytes>,
    /// MQTT 5 properties (ignored when encoding an earlier version).
    pub properties: ConnectProperties,
    /// Mosquitto's bridge extension (`try_private`): an MQTT 3.1 or 3.1.1 CONNECT whose
    /// Protocol Level has its top bit set (0x83, 0x84) comes from a bridge, which asks the
    /// server not to send it back its own messages and to keep their RETAIN flag. Not part of
    /// the MQTT specification; ignored when encoding MQTT 5, which has No Local and Retain As
    /// Published instead. Default false.
    pub bridge: bool,
}

impl Default for Connect {
    /// An MQTT 5 CONNECT with Clean Start, a 60 second Keep Alive and an empty client identifier.
    fn default() -> Self {
        Connect {
            protocol: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 60,
            client_id: MqttString::empty(),
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
            bridge: false,
        }
    }
}

/// The Will Message of a CONNECT (spec 3.1.2.5, 3.1.3.2-3.1.3.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LastWill {
    /// Will Topic.
    pub topic: TopicName,
    /// Will Payload.
    pub payload: Bytes,
    /// Will QoS.
    pub qos: QoS,
    /// Will Retain.
    pub retain: bool,
    /// MQTT 5 Will Properties.
    pub properties: WillProperties,
}

const USERNAME: u8 = 0x80;
const PASSWORD: u8 = 0x40;
const WILL_RETAIN: u8 = 0x20;
const WILL_QOS_SHIFT: u8 = 3;
const WILL: u8 = 0x04;
const CLEAN_START: u8 = 0x02;
const RESERVED: u8 = 0x01;

impl Connect {
    pub(crate) fn decode(r: &mut Reader) -> Result<Connect, DecodeError> {
        // Compared in place: the name is not kept.
        enum Name {
            MqIsdp,
            Mqtt,
            Other,
        }
        let name = r.binary_with(|name| match name {
            b"MQIsdp" => Name::MqIsdp,
            b"MQTT" => Name::Mqtt,
            _ => Name::Other,
        })?;
        let raw_level = r.u8()?;
        // Mosquitto's bridges (`try_private`) set the top bit of an MQTT 3.1 / 3.1.1 level.
        let bridge = matches!(raw_level, 0x83 | 0x84);
        let level = raw_level & if bridge { 0x7F } else { 0xFF };
        let protocol = match (name, level) {
            (Name::MqIsdp, 3) => ProtocolVersion::V3_1,
            (Name::Mqtt, 4) => ProtocolVersion::V3_1_1,
            (Name::Mqtt, 5) => ProtocolVersion::V5,
            // [MQTT-3.1.2-2] a known name with a level we do not speak: CONNACK 0x01 / 0x84.
            (Name::MqIsdp | Name::Mqtt, _) => {
                return Err(DecodeError::UnsupportedProtocolLevel(raw_level))
            }
            // [MQTT-3.1.2-1] any other name.
            (Name::Other, _) => return Err(DecodeError::InvalidProtocolName),
        };
        let flags = r.u8()?;
        // [MQTT-3.1.2-3] 3.1.1 and 5.0 reserve bit 0; MQTT 3.1 did not define it.
        if flags & RESERVED != 0 && protocol != ProtocolVersion::V3_1 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let will_flag = flags & WILL != 0;
        let will_qos = QoS::try_from((flags >> WILL_QOS_SHIFT) & 0x03)
            .map_err(|_| DecodeError::InvalidWillFlags)?;
        let will_retain = flags & WILL_RETAIN != 0;
        // [MQTT-3.1.2-11] [MQTT-3.1.2-13] without a will, Will QoS and Will Retain are 0.
        if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::InvalidWillFlags);
        }
        // [MQTT-3.1.2-22] (3.1.1): no password without a user name; 5.0 allows it.
        if flags & PASSWORD != 0 && flags & USERNAME == 0 && !protocol.is_v5() {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = r.u16()?;
        let properties = if protocol.is_v5() {
            let props = ConnectProperties::decode(r, PacketType::Connect)?;
            if props.authentication_data.is_some() && props.authentication_method.is_none() {
                return Err(DecodeError::AuthDataWithoutMethod);
            }
            props
        } else {
            ConnectProperties::default()
        };
        let client_id = r.string()?;
        let will = if will_flag {
            let properties = if protocol.is_v5() {
                WillProperties::decode(r, PacketType::Connect)?
            } else {
                WillProperties::default()
            };
            let topic = TopicName::from_mqtt_string(r.string()?)?;
            let payload = r.binary()?;
            Some(LastWill {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
                properties,
            })
        } else {
            None
        };
        let username = if flags & USERNAME != 0 {
            Some(r.string()?)
        } else {
            None
        };
        let password = if flags & PASSWORD != 0 {
            Some(r.binary()?)
        } else {
            None
        };
        Ok(Connect {
            protocol,
            clean_start: flags & CLEAN_START != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties,
            bridge,
        })
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= WILL | (will.qos as u8) << WILL_QOS_SHIFT;
            if will.retain {
                flags |= WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= USERNAME;
        }
        if self.password.is_some() {
            flags |= PASSWORD;
        }
        flags
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        if version != self.protocol {
            return Err(EncodeError::VersionMismatch {
                packet: self.protocol,
                requested: version,
            });
        }
        let v5 = version.is_v5();
        if !v5 && self.password.is_some() && self.username.is_none() {
            return Err(EncodeError::PasswordWithoutUsername);
        }
        // [MQTT-3.1.3-7] (3.1.1): a zero-byte ClientId needs CleanSession 1. 5.0 lets the server
        // assign one either way.
        if !v5 && self.client_id.is_empty() && !self.clean_start {
            return Err(EncodeError::EmptyClientIdWithoutCleanSession);
        }
        let mut len = 2 + version.protocol_name().len() + 1 + 1 + 2;
        if v5 {
            if self.properties.authentication_data.is_some()
                && self.properties.authentication_method.is_none()
            {
                return Err(EncodeError::AuthDataWithoutMethod);
            }
            len += self.properties.encoded_len()?;
        }
        len += prefixed_len(self.client_id.as_bytes())?;
        if let Some(will) = &self.will {
            if v5 {
                len += will.properties.encoded_len()?;
            }
            len += prefixed_len(will.topic.as_bytes())?;
            len += prefixed_len(&will.payload)?;
        }
        if let Some(username) = &self.username {
            len += prefixed_len(username.as_bytes())?;
        }
        if let Some(password) = &self.password {
            len += prefixed_len(password)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, buf: &mut BytesMut) {
        let v5 = self.protocol.is_v5();
        write_prefixed(buf, self.protocol.protocol_name().as_bytes());
        let level = self.protocol.level();
        let level = if self.bridge && !v5 {
            level | 0x80
        } else {
            level
        };
        buf.extend_from_slice(&[level]);
        buf.extend_from_slice(&[self.flags()]);
        buf.extend_from_slice(&(self.keep_alive).to_be_bytes());
        if v5 {
            self.properties.encode(buf);
        }
        write_prefixed(buf, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if v5 {
                will.properties.encode(buf);
            }
            write_prefixed(buf, will.topic.as_bytes());
            write_prefixed(buf, &will.payload);
        }
        if let Some(username) = &self.username {
            write_prefixed(buf, username.as_bytes());
        }
        if let Some(password) = &self.password {
            write_prefixed(buf, password);
        }
    }
}
