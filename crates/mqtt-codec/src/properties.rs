//! MQTT 5 properties (spec 2.2.2): one typed set per packet, so a property that a packet does not
//! allow cannot be put in it.
//!
//! Every set is decoded by the same loop: read an identifier, refuse it if the packet does not
//! allow it or if it repeats when it may appear once, read its value with the codec of its data
//! type, and check the value against the rules of its section.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::PacketType;
use crate::qos::QoS;
use crate::string::MqttString;
use crate::topic::TopicName;
use crate::wire::{
    prefixed_len, varint_len, write_prefixed, write_varint, Reader, MAX_VARIABLE_BYTE_INTEGER,
};

/// A User Property (spec 3.1.2.11.8): a name and a value, which may repeat and keep their order.
pub type UserProperty = (MqttString, MqttString);

/// The 27 property identifiers of MQTT 5 (spec 2.2.2.2, table 2-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)] // the variant names are the spec's property names
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQoS = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

impl PropertyId {
    /// Every property, in identifier order.
    pub const ALL: [PropertyId; 27] = [
        PropertyId::PayloadFormatIndicator,
        PropertyId::MessageExpiryInterval,
        PropertyId::ContentType,
        PropertyId::ResponseTopic,
        PropertyId::CorrelationData,
        PropertyId::SubscriptionIdentifier,
        PropertyId::SessionExpiryInterval,
        PropertyId::AssignedClientIdentifier,
        PropertyId::ServerKeepAlive,
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
        PropertyId::RequestProblemInformation,
        PropertyId::WillDelayInterval,
        PropertyId::RequestResponseInformation,
        PropertyId::ResponseInformation,
        PropertyId::ServerReference,
        PropertyId::ReasonString,
        PropertyId::ReceiveMaximum,
        PropertyId::TopicAliasMaximum,
        PropertyId::TopicAlias,
        PropertyId::MaximumQoS,
        PropertyId::RetainAvailable,
        PropertyId::UserProperty,
        PropertyId::MaximumPacketSize,
        PropertyId::WildcardSubscriptionAvailable,
        PropertyId::SubscriptionIdentifierAvailable,
        PropertyId::SharedSubscriptionAvailable,
    ];

    /// The property with this identifier.
    pub fn from_id(id: u32) -> Option<PropertyId> {
        PropertyId::ALL.into_iter().find(|p| *p as u32 == id)
    }
}

/// The data type codec of one property value (spec 2.2.2.2, table 2-4).
pub(crate) trait PropertyCodec {
    type Value;
    fn read(r: &mut Reader, id: PropertyId) -> Result<Self::Value, DecodeError>;
    fn len(v: &Self::Value) -> Result<usize, EncodeError>;
    fn write(v: &Self::Value, buf: &mut BytesMut);
}

/// Byte that must be 0 or 1 (every Byte property but Maximum QoS is a flag).
pub(crate) struct Flag;
/// Byte holding a Maximum QoS: 0 or 1 (spec 3.2.2.3.4).
pub(crate) struct MaxQos;
pub(crate) struct TwoByte;
pub(crate) struct TwoByteNonZero;
pub(crate) struct FourByte;
pub(crate) struct FourByteNonZero;
/// Subscription Identifier: a Variable Byte Integer from 1 to 268,435,455 (spec 3.3.2.3.8).
pub(crate) struct SubscriptionId;
pub(crate) struct Utf8;
pub(crate) struct Topic;
pub(crate) struct Binary;

impl PropertyCodec for Flag {
    type Value = bool;
    fn read(r: &mut Reader, id: PropertyId) -> Result<bool, DecodeError> {
        match r.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn len(_: &bool) -> Result<usize, EncodeError> {
        Ok(1)
    }
    fn write(v: &bool, buf: &mut BytesMut) {
        buf.extend_from_slice(&[u8::from(*v)]);
    }
}

impl PropertyCodec for MaxQos {
    type Value = QoS;
    fn read(r: &mut Reader, id: PropertyId) -> Result<QoS, DecodeError> {
        match r.u8()? {
            0 => Ok(QoS::AtMostOnce),
            1 => Ok(QoS::AtLeastOnce),
            _ => Err(DecodeError::InvalidPropertyValue(id)),
        }
    }
    fn len(v: &QoS) -> Result<usize, EncodeError> {
        // Maximum QoS 2 is expressed by leaving the property out (spec 3.2.2.3.4).
        if *v == QoS::ExactlyOnce {
            return Err(EncodeError::InvalidPropertyValue(PropertyId::MaximumQoS));
        }
        Ok(1)
    }
    fn write(v: &QoS, buf: &mut BytesMut) {
        buf.extend_from_slice(&[*v as u8]);
    }
}

impl PropertyCodec for TwoByte {
    type Value = u16;
    fn read(r: &mut Reader, _: PropertyId) -> Result<u16, DecodeError> {
        r.u16()
    }
    fn len(_: &u16) -> Result<usize, EncodeError> {
        Ok(2)
    }
    fn write(v: &u16, buf: &mut BytesMut) {
        buf.extend_from_slice(&(*v).to_be_bytes());
    }
}

impl PropertyCodec for TwoByteNonZero {
    type Value = NonZeroU16;
    fn read(r: &mut Reader, id: PropertyId) -> Result<NonZeroU16, DecodeError> {
        NonZeroU16::new(r.u16()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(_: &NonZeroU16) -> Result<usize, EncodeError> {
        Ok(2)
    }
    fn write(v: &NonZeroU16, buf: &mut BytesMut) {
        buf.extend_from_slice(&(v.get()).to_be_bytes());
    }
}

impl PropertyCodec for FourByte {
    type Value = u32;
    fn read(r: &mut Reader, _: PropertyId) -> Result<u32, DecodeError> {
        r.u32()
    }
    fn len(_: &u32) -> Result<usize, EncodeError> {
        Ok(4)
    }
    fn write(v: &u32, buf: &mut BytesMut) {
        buf.extend_from_slice(&(*v).to_be_bytes());
    }
}

impl PropertyCodec for FourByteNonZero {
    type Value = NonZeroU32;
    fn read(r: &mut Reader, id: PropertyId) -> Result<NonZeroU32, DecodeError> {
        NonZeroU32::new(r.u32()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(_: &NonZeroU32) -> Result<usize, EncodeError> {
        Ok(4)
    }
    fn write(v: &NonZeroU32, buf: &mut BytesMut) {
        buf.extend_from_slice(&(v.get()).to_be_bytes());
    }
}

impl PropertyCodec for SubscriptionId {
    type Value = NonZeroU32;
    fn read(r: &mut Reader, id: PropertyId) -> Result<NonZeroU32, DecodeError> {
        // Spec 3.8.2.1.2: a value of 0 is a Protocol Error.
        NonZeroU32::new(r.varint()?).ok_or(DecodeError::InvalidPropertyValue(id))
    }
    fn len(v: &NonZeroU32) -> Result<usize, EncodeError> {
        if v.get() > MAX_VARIABLE_BYTE_INTEGER {
            return Err(EncodeError::SubscriptionIdTooLarge(v.get()));
        }
        Ok(varint_len(v.get() as usize))
    }
    fn write(v: &NonZeroU32, buf: &mut BytesMut) {
        write_varint(buf, v.get() as usize);
    }
}

impl PropertyCodec for Utf8 {
    type Value = MqttString;
    fn read(r: &mut Reader, _: PropertyId) -> Result<MqttString, DecodeError> {
        r.string()
    }
    fn len(v: &MqttString) -> Result<usize, EncodeError> {
        prefixed_len(v.as_bytes())
    }
    fn write(v: &MqttString, buf: &mut BytesMut) {
        write_prefixed(buf, v.as_bytes());
    }
}

impl PropertyCodec for Topic {
    type Value = TopicName;
    fn read(r: &mut Reader, _: PropertyId) -> Result<TopicName, DecodeError> {
        // Response Topic is a Topic Name: no wildcards [MQTT-3.3.2-14], not empty.
        Ok(TopicName::from_mqtt_string(r.string()?)?)
    }
    fn len(v: &TopicName) -> Result<usize, EncodeError> {
        prefixed_len(v.as_bytes())
    }
    fn write(v: &TopicName, buf: &mut BytesMut) {
        write_prefixed(buf, v.as_bytes());
    }
}

impl PropertyCodec for Binary {
    type Value = Bytes;
    fn read(r: &mut Reader, _: PropertyId) -> Result<Bytes, DecodeError> {
        r.binary()
    }
    fn len(v: &Bytes) -> Result<usize, EncodeError> {
        prefixed_len(v)
    }
    fn write(v: &Bytes, buf: &mut BytesMut) {
        write_prefixed(buf, v);
    }
}

/// The shared behaviour of every property set.
pub(crate) trait PropertySet: Default {
    /// Decodes one property value whose identifier has been read.
    fn decode_one(
        &mut self,
        id: PropertyId,
        r: &mut Reader,
        seen: &mut u64,
        packet: PacketType,
    ) -> Result<(), DecodeError>;

    /// Length of the properties without the Property Length prefix.
    fn body_len(&self) -> Result<usize, EncodeError>;

    /// Writes the properties without the Property Length prefix.
    fn write_body(&self, buf: &mut BytesMut);

    /// Decodes a Property Length and the properties it covers.
    fn decode(r: &mut Reader, packet: PacketType) -> Result<Self, DecodeError> {
        let len = r.varint()? as usize;
        r.within(len, |props| {
            let mut set = Self::default();
            let mut seen = 0u64;
            while !props.is_empty() {
                let raw = props.varint()?;
                let id = PropertyId::from_id(raw).ok_or(DecodeError::UnknownProperty(raw))?;
                set.decode_one(id, props, &mut seen, packet)?;
            }
            Ok(set)
        })
    }

    /// Length with the Property Length prefix.
    fn encoded_len(&self) -> Result<usize, EncodeError> {
        let body = self.body_len()?;
        Ok(varint_len(body) + body)
    }

    /// Writes the Property Length and the properties.
    fn encode(&self, buf: &mut BytesMut) {
        // body_len was checked by encoded_len before any byte of the packet was written.
        let body = self.body_len().unwrap_or(0);
        write_varint(buf, body);
        self.write_body(buf);
    }
}

/// Records `id` in the `seen` mask; a second appearance is a Protocol Error.
pub(crate) fn first_time(id: PropertyId, seen: &mut u64) -> Result<(), DecodeError> {
    let bit = 1u64 << (id as u8);
    if *seen & bit != 0 {
        return Err(DecodeError::DuplicateProperty(id));
    }
    *seen |= bit;
    Ok(())
}

fn user_property_len((k, v): &UserProperty) -> Result<usize, EncodeError> {
    Ok(1 + prefixed_len(k.as_bytes())? + prefixed_len(v.as_bytes())?)
}

macro_rules! property_set {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $codec:ident = $id:ident, )*
        }
        $( repeated { $( $(#[$rmeta:meta])* $rfield:ident : $rty:ty => $rcodec:ident = $rid:ident, )* } )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<$ty>, )*
            $( $( $(#[$rmeta])* pub $rfield: Vec<$rty>, )* )?
            /// User Properties, in the order received (spec 3.1.2.11.8).
            pub user_properties: Vec<UserProperty>,
        }

        impl $name {
            /// True when no property is set.
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )*
                    $( $( && self.$rfield.is_empty() )* )?
                    && self.user_properties.is_empty()
            }
        }

        impl PropertySet for $name {
            fn decode_one(
                &mut self,
                id: PropertyId,
                r: &mut Reader,
                seen: &mut u64,
                packet: PacketType,
            ) -> Result<(), DecodeError> {
                // Sets without single-valued properties never consult the mask.
                let _ = &seen;
                match id {
                    $( PropertyId::$id => {
                        first_time(id, seen)?;
                        self.$field = Some($codec::read(r, id)?);
                    } )*
                    $( $( PropertyId::$rid => {
                        self.$rfield.push($rcodec::read(r, id)?);
                    } )* )?
                    PropertyId::UserProperty => {
                        let key = r.string()?;
                        let value = r.string()?;
                        self.user_properties.push((key, value));
                    }
                    #[allow(unreachable_patterns)]
                    _ => return Err(DecodeError::PropertyNotAllowed { property: id, packet }),
                }
                Ok(())
            }

            fn body_len(&self) -> Result<usize, EncodeError> {
                let mut len = 0;
                $( if let Some(v) = &self.$field {
                    len += 1 + $codec::len(v)?;
                } )*
                $( $( for v in &self.$rfield {
                    len += 1 + $rcodec::len(v)?;
                } )* )?
                for up in &self.user_properties {
                    len += user_property_len(up)?;
                }
                Ok(len)
            }

            fn write_body(&self, buf: &mut BytesMut) {
                $( if let Some(v) = &self.$field {
                    buf.extend_from_slice(&[PropertyId::$id as u8]);
                    $codec::write(v, buf);
                } )*
                $( $( for v in &self.$rfield {
                    buf.extend_from_slice(&[PropertyId::$rid as u8]);
                    $rcodec::write(v, buf);
                } )* )?
                for (k, v) in &self.user_properties {
                    buf.extend_from_slice(&[PropertyId::UserProperty as u8]);
                    write_prefixed(buf, k.as_bytes());
                    write_prefixed(buf, v.as_bytes());
                }
            }
        }
    };
}

property_set! {
    /// Properties of CONNECT (spec 3.1.2.11).
    ConnectProperties {
        /// Seconds the session outlives the connection; absent means 0 (spec 3.1.2.11.2).
        session_expiry_interval: u32 => FourByte = SessionExpiryInterval,
        /// QoS 1 and 2 publications the client will process at once; absent means 65,535.
        receive_maximum: NonZeroU16 => TwoByteNonZero = ReceiveMaximum,
        /// Largest packet the client accepts; absent means no limit beyond the protocol's.
        maximum_packet_size: NonZeroU32 => FourByteNonZero = MaximumPacketSize,
        /// Highest Topic Alias the client accepts from the server; absent means 0.
        topic_alias_maximum: u16 => TwoByte = TopicAliasMaximum,
        /// Asks for Response Information in CONNACK.
        request_response_information: bool => Flag = RequestResponseInformation,
        /// False asks the server not to send Reason Strings or User Properties on errors.
        request_problem_information: bool => Flag = RequestProblemInformation,
        /// Name of the extended authentication method.
        authentication_method: MqttString => Utf8 = AuthenticationMethod,
        /// Data of the extended authentication method.
        authentication_data: Bytes => Binary = AuthenticationData,
    }
}

property_set! {
    /// Properties of the Will in CONNECT (spec 3.1.3.2).
    WillProperties {
        /// Seconds to wait before publishing the will (spec 3.1.3.2.2).
        will_delay_interval: u32 => FourByte = WillDelayInterval,
        /// True when the payload is UTF-8 text.
        payload_format_indicator: bool => Flag = PayloadFormatIndicator,
        /// Lifetime of the will message in seconds.
        message_expiry_interval: u32 => FourByte = MessageExpiryInterval,
        /// MIME type of the payload.
        content_type: MqttString => Utf8 = ContentType,
        /// Topic for a response.
        response_topic: TopicName => Topic = ResponseTopic,
        /// Correlation data for a response.
        correlation_data: Bytes => Binary = CorrelationData,
    }
}

property_set! {
    /// Properties of PUBLISH (spec 3.3.2.3), all but the Topic Alias, which belongs to one hop of
    /// the message's path and is a field of [`crate::Publish`].
    PublishProperties {
        /// True when the payload is UTF-8 text.
        payload_format_indicator: bool => Flag = PayloadFormatIndicator,
        /// Remaining lifetime of the message in seconds.
        message_expiry_interval: u32 => FourByte = MessageExpiryInterval,
        /// Topic for a response; never a wildcard [MQTT-3.3.2-14].
        response_topic: TopicName => Topic = ResponseTopic,
        /// Correlation data for a response.
        correlation_data: Bytes => Binary = CorrelationData,
        /// MIME type of the payload.
        content_type: MqttString => Utf8 = ContentType,
    }
    repeated {
        /// Identifiers of the subscriptions that matched, server to client only (spec 3.3.2.3.8).
        subscription_identifiers: NonZeroU32 => SubscriptionId = SubscriptionIdentifier,
    }
}

property_set! {
    /// Properties of CONNACK (spec 3.2.2.3).
    ConnAckProperties {
        /// Session Expiry Interval the server uses, when it differs from the client's.
        session_expiry_interval: u32 => FourByte = SessionExpiryInterval,
        /// QoS 1 and 2 publications the server will process at once; absent means 65,535.
        receive_maximum: NonZeroU16 => TwoByteNonZero = ReceiveMaximum,
        /// Highest QoS the server supports: 0 or 1; absent means 2 (spec 3.2.2.3.4).
        maximum_qos: QoS => MaxQos = MaximumQoS,
        /// False when the server does not support retained messages.
        retain_available: bool => Flag = RetainAvailable,
        /// Largest packet the server accepts.
        maximum_packet_size: NonZeroU32 => FourByteNonZero = MaximumPacketSize,
        /// Client identifier the server assigned to a client that sent an empty one.
        assigned_client_identifier: MqttString => Utf8 = AssignedClientIdentifier,
        /// Highest Topic Alias the server accepts; absent means 0.
        topic_alias_maximum: u16 => TwoByte = TopicAliasMaximum,
        /// Human-readable diagnostic.
        reason_string: MqttString => Utf8 = ReasonString,
        /// False when wildcard subscriptions are not supported.
        wildcard_subscription_available: bool => Flag = WildcardSubscriptionAvailable,
        /// False when subscription identifiers are not supported.
        subscription_identifiers_available: bool => Flag = SubscriptionIdentifierAvailable,
        /// False when shared subscriptions are not supported.
        shared_subscription_available: bool => Flag = SharedSubscriptionAvailable,
        /// Keep Alive the client must use instead of its own (spec 3.2.2.3.14).
        server_keep_alive: u16 => TwoByte = ServerKeepAlive,
        /// Basis for response topics (spec 3.2.2.3.15).
        response_information: MqttString => Utf8 = ResponseInformation,
        /// Another server the client may use.
        server_reference: MqttString => Utf8 = ServerReference,
        /// Name of the extended authentication method.
        authentication_method: MqttString => Utf8 = AuthenticationMethod,
        /// Data of the extended authentication method.
        authentication_data: Bytes => Binary = AuthenticationData,
    }
}

property_set! {
    /// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK (spec 3.4.2.2 ...).
    AckProperties {
        /// Human-readable diagnostic.
        reason_string: MqttString => Utf8 = ReasonString,
    }
}

property_set! {
    /// Properties of SUBSCRIBE (spec 3.8.2.1).
    SubscribeProperties {
        /// Identifier attached to the messages this subscription delivers (spec 3.8.2.1.2).
        subscription_identifier: NonZeroU32 => SubscriptionId = SubscriptionIdentifier,
    }
}

property_set! {
    /// Properties of UNSUBSCRIBE (spec 3.10.2.1): User Properties only.
    UnsubscribeProperties {}
}

property_set! {
    /// Properties of DISCONNECT (spec 3.14.2.2).
    DisconnectProperties {
        /// New Session Expiry Interval, client to server only.
        session_expiry_interval: u32 => FourByte = SessionExpiryInterval,
        /// Human-readable diagnostic.
        reason_string: MqttString => Utf8 = ReasonString,
        /// Another server the client may use.
        server_reference: MqttString => Utf8 = ServerReference,
    }
}

property_set! {
    /// Properties of AUTH (spec 3.15.2.2).
    AuthProperties {
        /// Name of the extended authentication method.
        authentication_method: MqttString => Utf8 = AuthenticationMethod,
        /// Data of the extended authentication method.
        authentication_data: Bytes => Binary = AuthenticationData,
        /// Human-readable diagnostic.
        reason_string: MqttString => Utf8 = ReasonString,
    }
}

/// Nothing set: what an empty [`SharedPublishProperties`] dereferences to.
static NO_PUBLISH_PROPERTIES: PublishProperties = PublishProperties {
    payload_format_indicator: None,
    message_expiry_interval: None,
    response_topic: None,
    correlation_data: None,
    content_type: None,
    subscription_identifiers: Vec::new(),
    user_properties: Vec::new(),
};

/// The [`PublishProperties`] of a message, kept out of line and shared between copies.
///
/// Most PUBLISH packets carry no properties, and one message is copied to every subscriber; so
/// an empty set costs no allocation, a copy costs a reference count, and the packet stays small
/// enough to move cheaply (spec 3.3.2.3). It dereferences to [`PublishProperties`] for reading;
/// writing through it ([`DerefMut`](core::ops::DerefMut)) first makes the set its own
/// (copy-on-write), allocating only then.
///
/// ```
/// use mqtt_codec::{PublishProperties, SharedPublishProperties};
/// let mut props = SharedPublishProperties::default();
/// assert!(props.is_empty() && props.message_expiry_interval.is_none());
/// let shared = props.clone();
/// props.message_expiry_interval = Some(60);
/// assert_eq!(props.message_expiry_interval, Some(60));
/// assert!(shared.is_empty());
/// let props: SharedPublishProperties = PublishProperties::default().into();
/// assert_eq!(props, SharedPublishProperties::default());
/// ```
#[derive(Clone, Default)]
pub struct SharedPublishProperties(Option<Arc<PublishProperties>>);

impl SharedPublishProperties {
    /// The properties as an owned set (copied only when shared).
    pub fn into_owned(self) -> PublishProperties {
        match self.0 {
            Some(props) => Arc::unwrap_or_clone(props),
            None => PublishProperties::default(),
        }
    }

    /// True when no set was ever allocated: nothing to encode (checked without looking inside).
    #[inline]
    pub(crate) fn is_unset(&self) -> bool {
        self.0.is_none()
    }

    /// The properties for writing, or `None` when there are none (does not allocate).
    pub fn get_mut(&mut self) -> Option<&mut PublishProperties> {
        self.0.as_mut().map(Arc::make_mut)
    }
}

impl From<PublishProperties> for SharedPublishProperties {
    fn from(props: PublishProperties) -> Self {
        if props.is_empty() {
            SharedPublishProperties(None)
        } else {
            SharedPublishProperties(Some(Arc::new(props)))
        }
    }
}

impl core::ops::Deref for SharedPublishProperties {
    type Target = PublishProperties;
    fn deref(&self) -> &PublishProperties {
        self.0.as_deref().unwrap_or(&NO_PUBLISH_PROPERTIES)
    }
}

impl core::ops::DerefMut for SharedPublishProperties {
    fn deref_mut(&mut self) -> &mut PublishProperties {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
    }
}

impl PartialEq for SharedPublishProperties {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for SharedPublishProperties {}

impl core::fmt::Debug for SharedPublishProperties {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for SharedPublishProperties {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for SharedPublishProperties {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PublishProperties::deserialize(d).map(Self::from)
    }
}
