//! Decode and encode errors, each tied to the reason code the specification prescribes.

use crate::packet::PacketType;
use crate::properties::PropertyId;
use crate::reason::ReasonCode;
use crate::topic::InvalidTopic;

/// Why bytes received from a peer are not a valid packet.
///
/// Every variant maps to the MQTT 5 reason code a receiver must answer it with
/// ([`DecodeError::reason_code`]): the DISCONNECT (or, for a bad CONNECT, CONNACK) reason before
/// closing the connection. MQTT 3.1.1 receivers close the connection without a reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Packet type 0, or 15 (AUTH) before MQTT 5.
    #[error("invalid packet type {0}")]
    InvalidPacketType(u8),
    /// Fixed header flags that the packet type reserves [MQTT-2.1.3-1].
    #[error("invalid fixed header flags {flags:#06b} for {packet}")]
    InvalidFixedHeaderFlags {
        /// The packet type.
        packet: PacketType,
        /// The low four bits of the first byte.
        flags: u8,
    },
    /// A Variable Byte Integer of more than four bytes (spec 1.5.5).
    #[error("variable byte integer longer than 4 bytes")]
    VarIntTooLong,
    /// A Variable Byte Integer not in its shortest form [MQTT-1.5.5-1].
    #[error("variable byte integer not in its minimal encoding")]
    NonMinimalVarInt,
    /// The packet is larger than the receiver's maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// The size announced by the fixed header.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// A field runs past the end of the packet (the Remaining Length is too short).
    #[error("packet is shorter than its contents")]
    Truncated,
    /// Bytes left over after the last field (the Remaining Length is too long).
    #[error("{0} unexpected bytes after the end of the packet")]
    TrailingBytes(usize),
    /// A string that is not well-formed UTF-8 [MQTT-1.5.4-1].
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A string containing U+0000 [MQTT-1.5.4-2].
    #[error("string contains the null character U+0000")]
    NullCharacter,
    /// The first packet on a connection is not CONNECT [MQTT-3.1.0-1].
    #[error("expected CONNECT as the first packet, got {0}")]
    ExpectedConnect(PacketType),
    /// A CONNECT with a Protocol Name other than `MQTT` (or `MQIsdp` for level 3) [MQTT-3.1.2-1].
    #[error("invalid protocol name in CONNECT")]
    InvalidProtocolName,
    /// A CONNECT with a Protocol Level other than 3, 4 or 5 [MQTT-3.1.2-2].
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolLevel(u8),
    /// The CONNECT flags' reserved bit is set [MQTT-3.1.2-3].
    #[error("CONNECT reserved flag is set")]
    ConnectReservedFlag,
    /// Will QoS or Will Retain set without the Will Flag, or Will QoS 3
    /// [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-14] [MQTT-3.1.2-15].
    #[error("invalid will flags in CONNECT")]
    InvalidWillFlags,
    /// Password flag without the User Name flag, before MQTT 5 [MQTT-3.1.2-22].
    #[error("password flag set without user name flag")]
    PasswordWithoutUsername,
    /// CONNACK acknowledge flags with reserved bits set [MQTT-3.2.2-1].
    #[error("CONNACK reserved flags are set")]
    ConnAckReservedFlags,
    /// CONNACK with Session Present set and a failure code [MQTT-3.2.2-4] [MQTT-3.2.2-6].
    #[error("CONNACK with session present and a failure code")]
    SessionPresentWithError,
    /// A return or reason code not allowed in this packet.
    #[error("reason code {code:#04x} is not valid in {packet}")]
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The value received.
        code: u8,
    },
    /// A QoS of 3 [MQTT-3.3.1-4].
    #[error("invalid QoS 3")]
    InvalidQoS,
    /// DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2].
    #[error("DUP flag set on a QoS 0 PUBLISH")]
    DupWithQoS0,
    /// A Packet Identifier of 0 [MQTT-2.2.1-3].
    #[error("packet identifier 0")]
    ZeroPacketId,
    /// A topic name or filter that breaks the topic rules of spec 4.7.
    #[error("invalid topic: {0}")]
    InvalidTopic(#[from] InvalidTopic),
    /// An empty topic name in an MQTT 5 PUBLISH without a Topic Alias.
    #[error("empty topic name without a topic alias")]
    EmptyTopicWithoutAlias,
    /// SUBSCRIBE or UNSUBSCRIBE with no topic filter [MQTT-3.8.3-3] [MQTT-3.10.3-2].
    #[error("{0} without any topic filter")]
    NoTopicFilters(PacketType),
    /// Subscription options with reserved bits set [MQTT-3.8.3-5].
    #[error("reserved subscription option bits are set")]
    SubscriptionOptionsReserved,
    /// Retain Handling of 3 (spec 3.8.3.1).
    #[error("invalid retain handling 3")]
    InvalidRetainHandling,
    /// No Local on a shared subscription [MQTT-3.8.3-4].
    #[error("no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// An unknown property identifier (spec 2.2.2.2).
    #[error("unknown property identifier {0:#04x}")]
    UnknownProperty(u32),
    /// A property that is not allowed in this packet (spec 2.2.2.2).
    #[error("property {property:?} is not allowed in {packet}")]
    PropertyNotAllowed {
        /// The property.
        property: PropertyId,
        /// The packet type.
        packet: PacketType,
    },
    /// A property that may appear once appears again.
    #[error("property {0:?} appears more than once")]
    DuplicateProperty(PropertyId),
    /// A property with a value the specification forbids (e.g. Receive Maximum 0).
    #[error("invalid value for property {0:?}")]
    InvalidPropertyValue(PropertyId),
    /// Authentication Data without an Authentication Method (spec 3.1.2.11.10).
    #[error("authentication data without authentication method")]
    AuthDataWithoutMethod,
    /// An AUTH packet with content but no Authentication Method (spec 3.15.2.2.2).
    #[error("AUTH without authentication method")]
    AuthWithoutMethod,
}

impl DecodeError {
    /// The reason code to send (in DISCONNECT, or CONNACK while connecting) before closing.
    ///
    /// ```
    /// use mqtt_codec::{DecodeError, ReasonCode};
    /// assert_eq!(DecodeError::InvalidQoS.reason_code(), ReasonCode::MalformedPacket);
    /// assert_eq!(
    ///     DecodeError::PacketTooLarge { size: 10, max: 5 }.reason_code(),
    ///     ReasonCode::PacketTooLarge
    /// );
    /// ```
    pub const fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            InvalidProtocolName | UnsupportedProtocolLevel(_) => {
                ReasonCode::UnsupportedProtocolVersion
            }
            ExpectedConnect(_)
            | SessionPresentWithError
            | InvalidReasonCode { .. }
            | ZeroPacketId
            | EmptyTopicWithoutAlias
            | NoTopicFilters(_)
            | InvalidRetainHandling
            | NoLocalOnSharedSubscription
            | DuplicateProperty(_)
            | InvalidPropertyValue(_)
            | AuthDataWithoutMethod
            | AuthWithoutMethod => ReasonCode::ProtocolError,
            InvalidPacketType(_)
            | InvalidFixedHeaderFlags { .. }
            | VarIntTooLong
            | NonMinimalVarInt
            | Truncated
            | TrailingBytes(_)
            | InvalidUtf8
            | NullCharacter
            | ConnectReservedFlag
            | InvalidWillFlags
            | PasswordWithoutUsername
            | ConnAckReservedFlags
            | InvalidQoS
            | DupWithQoS0
            | InvalidTopic(_)
            | SubscriptionOptionsReserved
            | UnknownProperty(_)
            | PropertyNotAllowed { .. } => ReasonCode::MalformedPacket,
        }
    }
}

/// Why a packet cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Binary data (password, will payload, correlation or authentication data) over 65,535 bytes.
    #[error("binary field of {0} bytes is longer than 65535 bytes")]
    BinaryTooLong(usize),
    /// The packet would exceed the largest Remaining Length, 268,435,455 bytes.
    #[error("packet body of {0} bytes exceeds the maximum remaining length")]
    PacketTooLarge(usize),
    /// The packet type does not exist in the chosen protocol version (AUTH before 5.0).
    #[error("{packet} does not exist in {version}")]
    UnsupportedPacket {
        /// The packet type.
        packet: PacketType,
        /// The version asked for.
        version: crate::ProtocolVersion,
    },
    /// SUBSCRIBE or UNSUBSCRIBE without topic filters, SUBACK or UNSUBACK without results.
    #[error("{0} needs at least one entry")]
    EmptyPayload(PacketType),
    /// A reason code that the packet does not allow.
    #[error("reason code {code} is not valid in {packet}")]
    InvalidReasonCode {
        /// The packet type.
        packet: PacketType,
        /// The code.
        code: ReasonCode,
    },
    /// A Subscription Identifier above 268,435,455.
    #[error("subscription identifier {0} is larger than 268435455")]
    SubscriptionIdTooLarge(u32),
    /// An empty topic name in a PUBLISH without a Topic Alias, or before MQTT 5.
    #[error("empty topic name requires an MQTT 5 topic alias")]
    EmptyTopic,
    /// A CONNECT encoded for a version other than its own.
    #[error("CONNECT for {packet} cannot be encoded as {requested}")]
    VersionMismatch {
        /// The version in the CONNECT.
        packet: crate::ProtocolVersion,
        /// The version asked for.
        requested: crate::ProtocolVersion,
    },
    /// Authentication Data without an Authentication Method.
    #[error("authentication data without authentication method")]
    AuthDataWithoutMethod,
    /// An AUTH packet with content but no Authentication Method (spec 3.15.2.2.2).
    #[error("AUTH without authentication method")]
    AuthWithoutMethod,
    /// No Local on a shared subscription [MQTT-3.8.3-4].
    #[error("no local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// An empty client identifier without Clean Session, before MQTT 5 [MQTT-3.1.3-7].
    #[error("an empty client identifier requires clean session")]
    EmptyClientIdWithoutCleanSession,
    /// A password without a user name, which MQTT 3.1 and 3.1.1 do not allow [MQTT-3.1.2-22].
    #[error("password without user name is not allowed before MQTT 5")]
    PasswordWithoutUsername,
    /// A property value the specification forbids (Maximum QoS 2 must be left out).
    #[error("invalid value for property {0:?}")]
    InvalidPropertyValue(PropertyId),
}
