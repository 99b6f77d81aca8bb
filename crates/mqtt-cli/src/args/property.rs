//! `-D command identifier value` (`--property`): MQTT 5 properties named on the command line.
//!
//! Mosquitto parses them in three stages, each with its own messages, and scripts see the
//! difference: the words are checked as they are read (`cfg_parse_property`), the whole list of
//! each packet is checked once all options are read (`mosquitto_property_check_all`: zero values,
//! duplicates), and only then are they used. This module keeps the same stages: [`parse`] reads
//! one `-D` into a [`RawProperty`], [`check_all`] checks a packet's list, and the `into_*`
//! functions build the codec's typed property sets.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use mqtt_codec::{
    ConnectProperties, DisconnectProperties, MqttString, PropertyId, PublishProperties,
    SubscribeProperties, TopicName, UnsubscribeProperties, UserProperty, WillProperties,
};

use super::numbers::atol;
use super::topic::valid_utf8;

/// The packet a `-D` names: Mosquitto's `mosquitto_string_to_command` set, plus `will`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PropCommand {
    Connect,
    Connack,
    Publish,
    Puback,
    Pubrec,
    Pubrel,
    Pubcomp,
    Subscribe,
    Suback,
    Unsubscribe,
    Unsuback,
    Disconnect,
    Auth,
    Will,
}

impl PropCommand {
    /// The command for a name, compared without regard to case (`strcasecmp`).
    fn from_name(name: &[u8]) -> Option<PropCommand> {
        const NAMES: [(&str, PropCommand); 14] = [
            ("connect", PropCommand::Connect),
            ("connack", PropCommand::Connack),
            ("publish", PropCommand::Publish),
            ("puback", PropCommand::Puback),
            ("pubrec", PropCommand::Pubrec),
            ("pubrel", PropCommand::Pubrel),
            ("pubcomp", PropCommand::Pubcomp),
            ("subscribe", PropCommand::Subscribe),
            ("suback", PropCommand::Suback),
            ("unsubscribe", PropCommand::Unsubscribe),
            ("unsuback", PropCommand::Unsuback),
            ("disconnect", PropCommand::Disconnect),
            ("auth", PropCommand::Auth),
            ("will", PropCommand::Will),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            .map(|&(_, c)| c)
    }
}

/// The data type of a property, numbered as libmosquitto numbers them (its "Error adding
/// property NAME TYPE" message prints the number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PropType {
    Byte = 1,
    Int16 = 2,
    Int32 = 3,
    Varint = 4,
    Binary = 5,
    String = 6,
    StringPair = 7,
}

/// Every property name libmosquitto knows, with its identifier and type.
const PROPERTIES: [(&str, PropertyId, PropType); 27] = [
    (
        "payload-format-indicator",
        PropertyId::PayloadFormatIndicator,
        PropType::Byte,
    ),
    (
        "message-expiry-interval",
        PropertyId::MessageExpiryInterval,
        PropType::Int32,
    ),
    ("content-type", PropertyId::ContentType, PropType::String),
    (
        "response-topic",
        PropertyId::ResponseTopic,
        PropType::String,
    ),
    (
        "correlation-data",
        PropertyId::CorrelationData,
        PropType::Binary,
    ),
    (
        "subscription-identifier",
        PropertyId::SubscriptionIdentifier,
        PropType::Varint,
    ),
    (
        "session-expiry-interval",
        PropertyId::SessionExpiryInterval,
        PropType::Int32,
    ),
    (
        "assigned-client-identifier",
        PropertyId::AssignedClientIdentifier,
        PropType::String,
    ),
    (
        "server-keep-alive",
        PropertyId::ServerKeepAlive,
        PropType::Int16,
    ),
    (
        "authentication-method",
        PropertyId::AuthenticationMethod,
        PropType::String,
    ),
    (
        "authentication-data",
        PropertyId::AuthenticationData,
        PropType::Binary,
    ),
    (
        "request-problem-information",
        PropertyId::RequestProblemInformation,
        PropType::Byte,
    ),
    (
        "will-delay-interval",
        PropertyId::WillDelayInterval,
        PropType::Int32,
    ),
    (
        "request-response-information",
        PropertyId::RequestResponseInformation,
        PropType::Byte,
    ),
    (
        "response-information",
        PropertyId::ResponseInformation,
        PropType::String,
    ),
    (
        "server-reference",
        PropertyId::ServerReference,
        PropType::String,
    ),
    ("reason-string", PropertyId::ReasonString, PropType::String),
    (
        "receive-maximum",
        PropertyId::ReceiveMaximum,
        PropType::Int16,
    ),
    (
        "topic-alias-maximum",
        PropertyId::TopicAliasMaximum,
        PropType::Int16,
    ),
    ("topic-alias", PropertyId::TopicAlias, PropType::Int16),
    ("maximum-qos", PropertyId::MaximumQoS, PropType::Byte),
    (
        "retain-available",
        PropertyId::RetainAvailable,
        PropType::Byte,
    ),
    (
        "user-property",
        PropertyId::UserProperty,
        PropType::StringPair,
    ),
    (
        "maximum-packet-size",
        PropertyId::MaximumPacketSize,
        PropType::Int32,
    ),
    (
        "wildcard-subscription-available",
        PropertyId::WildcardSubscriptionAvailable,
        PropType::Byte,
    ),
    (
        "subscription-identifier-available",
        PropertyId::SubscriptionIdentifierAvailable,
        PropType::Byte,
    ),
    (
        "shared-subscription-available",
        PropertyId::SharedSubscriptionAvailable,
        PropType::Byte,
    ),
];

fn property_from_name(name: &[u8]) -> Option<(PropertyId, PropType)> {
    PROPERTIES
        .iter()
        .find(|(n, _, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|&(_, id, ty)| (id, ty))
}

/// `mosquitto_property_check_command`: may this property appear in this packet at all?
fn allowed_in(command: PropCommand, id: PropertyId) -> bool {
    use PropCommand as C;
    use PropertyId as P;
    match id {
        P::PayloadFormatIndicator
        | P::MessageExpiryInterval
        | P::ContentType
        | P::ResponseTopic
        | P::CorrelationData => matches!(command, C::Publish | C::Will),
        P::SubscriptionIdentifier => matches!(command, C::Publish | C::Subscribe),
        P::SessionExpiryInterval => matches!(command, C::Connect | C::Connack | C::Disconnect),
        P::AuthenticationMethod | P::AuthenticationData => {
            matches!(command, C::Connect | C::Connack | C::Auth)
        }
        P::AssignedClientIdentifier
        | P::ServerKeepAlive
        | P::ResponseInformation
        | P::MaximumQoS
        | P::RetainAvailable
        | P::WildcardSubscriptionAvailable
        | P::SubscriptionIdentifierAvailable
        | P::SharedSubscriptionAvailable => command == C::Connack,
        P::WillDelayInterval => command == C::Will,
        P::RequestProblemInformation | P::RequestResponseInformation => command == C::Connect,
        P::ServerReference => matches!(command, C::Connack | C::Disconnect),
        P::ReasonString => !matches!(
            command,
            C::Connect | C::Publish | C::Subscribe | C::Unsubscribe
        ),
        P::ReceiveMaximum | P::TopicAliasMaximum | P::MaximumPacketSize => {
            matches!(command, C::Connect | C::Connack)
        }
        P::TopicAlias => command == C::Publish,
        P::UserProperty => true,
    }
}

/// A property value as libmosquitto stores it before the packet is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawValue {
    Byte(u8),
    Int16(u16),
    Int32(u32),
    Varint(u32),
    Binary(Vec<u8>),
    String(String),
    Pair(String, String),
}

/// One property read from `-D` (or added by `-x`), not yet checked against its packet's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawProperty {
    /// Which property.
    pub(crate) id: PropertyId,
    /// Its value.
    pub(crate) value: RawValue,
}

/// The property lists of the packets a client can send, in the order `-D` options added them.
#[derive(Debug, Clone, Default)]
pub(crate) struct PropertyLists {
    pub(crate) connect: Vec<RawProperty>,
    pub(crate) publish: Vec<RawProperty>,
    pub(crate) subscribe: Vec<RawProperty>,
    pub(crate) unsubscribe: Vec<RawProperty>,
    pub(crate) disconnect: Vec<RawProperty>,
    pub(crate) will: Vec<RawProperty>,
}

/// Why one `-D` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PropertyError {
    /// Mosquitto's message, with its trailing newlines; empty where Mosquitto prints none.
    pub(crate) message: String,
}

fn error(message: String) -> PropertyError {
    PropertyError { message }
}

/// Reads the words of one `-D` starting at `args[idx]` (the word after `-D`), adds the property
/// to `lists`, and returns the index of the last word consumed (`cfg_parse_property`).
pub(crate) fn parse(
    lists: &mut PropertyLists,
    args: &[Vec<u8>],
    idx: usize,
) -> Result<usize, PropertyError> {
    let not_enough =
        || error("Error: --property argument given but not enough arguments specified.\n\n".into());
    let (Some(cmd_name), Some(prop_name), Some(_)) =
        (args.get(idx), args.get(idx + 1), args.get(idx + 2))
    else {
        return Err(not_enough());
    };
    let command = PropCommand::from_name(cmd_name)
        .ok_or_else(|| error("Error: Invalid command given in --property argument.\n\n".into()))?;
    let (id, ty) = property_from_name(prop_name).ok_or_else(|| {
        error("Error: Invalid property name given in --property argument.\n\n".into())
    })?;
    let prop_text = String::from_utf8_lossy(prop_name).into_owned();
    let cmd_text = String::from_utf8_lossy(cmd_name).into_owned();
    if !allowed_in(command, id) {
        return Err(error(format!(
            "Error: {prop_text} property not allowed for {cmd_text} in --property argument.\n\n"
        )));
    }
    let (key, value, last) = if id == PropertyId::UserProperty {
        match (args.get(idx + 2), args.get(idx + 3)) {
            (Some(k), Some(v)) => (Some(k), v, idx + 3),
            _ => return Err(not_enough()),
        }
    } else {
        match args.get(idx + 2) {
            Some(v) => (None, v, idx + 2),
            None => return Err(not_enough()),
        }
    };
    let not_supported = || {
        error(format!(
            "Error: {prop_text} property not supported for {cmd_text} in --property argument.\n\n"
        ))
    };
    let list = match command {
        PropCommand::Connect => &mut lists.connect,
        PropCommand::Publish if id == PropertyId::SubscriptionIdentifier => {
            return Err(not_supported())
        }
        PropCommand::Publish => &mut lists.publish,
        PropCommand::Subscribe => &mut lists.subscribe,
        PropCommand::Unsubscribe => &mut lists.unsubscribe,
        PropCommand::Disconnect => &mut lists.disconnect,
        PropCommand::Will => &mut lists.will,
        PropCommand::Auth
        | PropCommand::Puback
        | PropCommand::Pubrec
        | PropCommand::Pubrel
        | PropCommand::Pubcomp
        | PropCommand::Suback
        | PropCommand::Unsuback => return Err(not_supported()),
        // libmosquitto has no list for CONNACK and fails without a word.
        PropCommand::Connack => return Err(error(String::new())),
    };
    let out_of_range = |v: i64| {
        error(format!(
            "Error: Property value ({v}) out of range for property {prop_text}.\n\n"
        ))
    };
    let add_failed = || error(format!("Error adding property {prop_text} {}\n", ty as u8));
    let raw = match ty {
        PropType::Byte => {
            let v = atol(value);
            RawValue::Byte(u8::try_from(v).map_err(|_| out_of_range(v))?)
        }
        PropType::Int16 => {
            let v = atol(value);
            RawValue::Int16(u16::try_from(v).map_err(|_| out_of_range(v))?)
        }
        PropType::Int32 => {
            let v = atol(value);
            RawValue::Int32(u32::try_from(v).map_err(|_| out_of_range(v))?)
        }
        PropType::Varint => {
            let v = atol(value);
            let v = u32::try_from(v).map_err(|_| out_of_range(v))?;
            // The largest Variable Byte Integer (spec 1.5.5).
            if v > 268_435_455 {
                return Err(add_failed());
            }
            RawValue::Varint(v)
        }
        PropType::Binary => {
            if value.len() > usize::from(u16::MAX) {
                return Err(error(format!(
                    "Error: Property value too long for property {prop_text}.\n\n"
                )));
            }
            RawValue::Binary(value.clone())
        }
        PropType::String => {
            if !valid_utf8(value) {
                return Err(add_failed());
            }
            RawValue::String(String::from_utf8_lossy(value).into_owned())
        }
        PropType::StringPair => {
            let key = key.map(Vec::as_slice).unwrap_or_default();
            // libmosquitto 2.0.11 checks the name with its UTF-8 rules but, through a bug,
            // not the value; the value must still be UTF-8 to be sent as an MQTT string.
            let (true, Ok(v)) = (valid_utf8(key), std::str::from_utf8(value)) else {
                return Err(add_failed());
            };
            RawValue::Pair(String::from_utf8_lossy(key).into_owned(), v.to_owned())
        }
    };
    list.push(RawProperty { id, value: raw });
    Ok(last)
}

/// `mosquitto_strerror(MOSQ_ERR_PROTOCOL)`.
pub(crate) const PROTOCOL_ERROR: &str =
    "A network protocol error occurred when communicating with the broker.";
/// `mosquitto_strerror(MOSQ_ERR_DUPLICATE_PROPERTY)`.
const DUPLICATE_ERROR: &str = "Duplicate property in property list";

/// `mosquitto_property_check_all`: the checks made on a packet's whole list, returning
/// libmosquitto's description of the first problem.
pub(crate) fn check_all(command: PropCommand, list: &[RawProperty]) -> Result<(), &'static str> {
    for (i, p) in list.iter().enumerate() {
        let invalid = match (&p.value, p.id) {
            // Flags must be 0 or 1. libmosquitto 2.0.11 forgets the Payload Format Indicator
            // here and lets a broker reject the packet; refusing it now is kinder.
            (
                RawValue::Byte(v),
                PropertyId::RequestProblemInformation
                | PropertyId::PayloadFormatIndicator
                | PropertyId::RequestResponseInformation
                | PropertyId::MaximumQoS
                | PropertyId::RetainAvailable
                | PropertyId::WildcardSubscriptionAvailable
                | PropertyId::SubscriptionIdentifierAvailable
                | PropertyId::SharedSubscriptionAvailable,
            ) => *v > 1,
            (RawValue::Int32(0), PropertyId::MaximumPacketSize) => true,
            (RawValue::Int16(0), PropertyId::ReceiveMaximum | PropertyId::TopicAlias) => true,
            _ => false,
        };
        if invalid || !allowed_in(command, p.id) {
            return Err(PROTOCOL_ERROR);
        }
        if p.id != PropertyId::UserProperty && list.iter().skip(i + 1).any(|later| later.id == p.id)
        {
            return Err(DUPLICATE_ERROR);
        }
    }
    Ok(())
}

/// Marker for a value the typed property sets cannot hold although libmosquitto would send it
/// (and a broker would then refuse the packet): reported as a protocol error.
#[derive(Debug)]
pub(crate) struct Unrepresentable;

fn mqtt_string(s: &str) -> Result<MqttString, Unrepresentable> {
    MqttString::new(s).map_err(|_| Unrepresentable)
}

fn user_property(k: &str, v: &str) -> Result<UserProperty, Unrepresentable> {
    Ok((mqtt_string(k)?, mqtt_string(v)?))
}

fn topic(s: &str) -> Result<TopicName, Unrepresentable> {
    TopicName::new(s).map_err(|_| Unrepresentable)
}

/// The CONNECT properties of a checked list.
pub(crate) fn into_connect(list: &[RawProperty]) -> Result<ConnectProperties, Unrepresentable> {
    let mut props = ConnectProperties::default();
    for p in list {
        match (p.id, &p.value) {
            (PropertyId::SessionExpiryInterval, RawValue::Int32(v)) => {
                props.session_expiry_interval = Some(*v)
            }
            (PropertyId::ReceiveMaximum, RawValue::Int16(v)) => {
                props.receive_maximum = Some(NonZeroU16::new(*v).ok_or(Unrepresentable)?)
            }
            (PropertyId::MaximumPacketSize, RawValue::Int32(v)) => {
                props.maximum_packet_size = Some(NonZeroU32::new(*v).ok_or(Unrepresentable)?)
            }
            (PropertyId::TopicAliasMaximum, RawValue::Int16(v)) => {
                props.topic_alias_maximum = Some(*v)
            }
            (PropertyId::RequestResponseInformation, RawValue::Byte(v)) => {
                props.request_response_information = Some(*v == 1)
            }
            (PropertyId::RequestProblemInformation, RawValue::Byte(v)) => {
                props.request_problem_information = Some(*v == 1)
            }
            (PropertyId::AuthenticationMethod, RawValue::String(s)) => {
                props.authentication_method = Some(mqtt_string(s)?)
            }
            (PropertyId::AuthenticationData, RawValue::Binary(b)) => {
                props.authentication_data = Some(Bytes::copy_from_slice(b))
            }
            (PropertyId::UserProperty, RawValue::Pair(k, v)) => {
                props.user_properties.push(user_property(k, v)?)
            }
            _ => return Err(Unrepresentable),
        }
    }
    Ok(props)
}

/// The PUBLISH properties of a checked list, and its Topic Alias (which the codec keeps apart).
pub(crate) fn into_publish(
    list: &[RawProperty],
) -> Result<(PublishProperties, Option<NonZeroU16>), Unrepresentable> {
    let mut props = PublishProperties::default();
    let mut alias = None;
    for p in list {
        match (p.id, &p.value) {
            (PropertyId::PayloadFormatIndicator, RawValue::Byte(v)) => {
                props.payload_format_indicator = Some(*v == 1)
            }
            (PropertyId::MessageExpiryInterval, RawValue::Int32(v)) => {
                props.message_expiry_interval = Some(*v)
            }
            (PropertyId::ContentType, RawValue::String(s)) => {
                props.content_type = Some(mqtt_string(s)?)
            }
            (PropertyId::ResponseTopic, RawValue::String(s)) => {
                props.response_topic = Some(topic(s)?)
            }
            (PropertyId::CorrelationData, RawValue::Binary(b)) => {
                props.correlation_data = Some(Bytes::copy_from_slice(b))
            }
            (PropertyId::TopicAlias, RawValue::Int16(v)) => {
                alias = Some(NonZeroU16::new(*v).ok_or(Unrepresentable)?)
            }
            (PropertyId::UserProperty, RawValue::Pair(k, v)) => {
                props.user_properties.push(user_property(k, v)?)
            }
            _ => return Err(Unrepresentable),
        }
    }
    Ok((props, alias))
}

/// The SUBSCRIBE properties of a checked list.
pub(crate) fn into_subscribe(list: &[RawProperty]) -> Result<SubscribeProperties, Unrepresentable> {
    let mut props = SubscribeProperties::default();
    for p in list {
        match (p.id, &p.value) {
            // 0 is a Protocol Error (spec 3.8.2.1.2) that libmosquitto leaves to the broker.
            (PropertyId::SubscriptionIdentifier, RawValue::Varint(v)) => {
                props.subscription_identifier = Some(NonZeroU32::new(*v).ok_or(Unrepresentable)?)
            }
            (PropertyId::UserProperty, RawValue::Pair(k, v)) => {
                props.user_properties.push(user_property(k, v)?)
            }
            _ => return Err(Unrepresentable),
        }
    }
    Ok(props)
}

/// The UNSUBSCRIBE properties of a checked list.
pub(crate) fn into_unsubscribe(
    list: &[RawProperty],
) -> Result<UnsubscribeProperties, Unrepresentable> {
    let mut props = UnsubscribeProperties::default();
    for p in list {
        match (p.id, &p.value) {
            (PropertyId::UserProperty, RawValue::Pair(k, v)) => {
                props.user_properties.push(user_property(k, v)?)
            }
            _ => return Err(Unrepresentable),
        }
    }
    Ok(props)
}

/// The DISCONNECT properties of a checked list.
pub(crate) fn into_disconnect(
    list: &[RawProperty],
) -> Result<DisconnectProperties, Unrepresentable> {
    let mut props = DisconnectProperties::default();
    for p in list {
        match (p.id, &p.value) {
            (PropertyId::SessionExpiryInterval, RawValue::Int32(v)) => {
                props.session_expiry_interval = Some(*v)
            }
            (PropertyId::ReasonString, RawValue::String(s)) => {
                props.reason_string = Some(mqtt_string(s)?)
            }
            (PropertyId::ServerReference, RawValue::String(s)) => {
                props.server_reference = Some(mqtt_string(s)?)
            }
            (PropertyId::UserProperty, RawValue::Pair(k, v)) => {
                props.user_properties.push(user_property(k, v)?)
            }
            _ => return Err(Unrepresentable),
        }
    }
    Ok(props)
}

/// The Will properties of a checked list. (A Reason String passes libmosquitto's checks for the
/// will but has no place in it; it is refused here.)
pub(crate) fn into_will(list: &[RawProperty]) -> Result<WillProperties, Unrepresentable> {
    let mut props = WillProperties::default();
    for p in list {
        match (p.id, &p.value) {
            (PropertyId::WillDelayInterval, RawValue::Int32(v)) => {
                props.will_delay_interval = Some(*v)
            }
            (PropertyId::PayloadFormatIndicator, RawValue::Byte(v)) => {
                props.payload_format_indicator = Some(*v == 1)
            }
            (PropertyId::MessageExpiryInterval, RawValue::Int32(v)) => {
                props.message_expiry_interval = Some(*v)
            }
            (PropertyId::ContentType, RawValue::String(s)) => {
                props.content_type = Some(mqtt_string(s)?)
            }
            (PropertyId::ResponseTopic, RawValue::String(s)) => {
                props.response_topic = Some(topic(s)?)
            }
            (PropertyId::CorrelationData, RawValue::Binary(b)) => {
                props.correlation_data = Some(Bytes::copy_from_slice(b))
            }
            (PropertyId::UserProperty, RawValue::Pair(k, v)) => {
                props.user_properties.push(user_property(k, v)?)
            }
            _ => return Err(Unrepresentable),
        }
    }
    Ok(props)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|w| w.as_bytes().to_vec()).collect()
    }

    fn parse_one(s: &str) -> Result<(PropertyLists, usize), String> {
        let mut lists = PropertyLists::default();
        let args = words(s);
        parse(&mut lists, &args, 0)
            .map(|last| (lists, last))
            .map_err(|e| e.message)
    }

    #[test]
    fn user_properties_take_four_words() {
        let (lists, last) = parse_one("publish user-property key value").unwrap();
        assert_eq!(last, 3);
        assert_eq!(
            lists.publish,
            vec![RawProperty {
                id: PropertyId::UserProperty,
                value: RawValue::Pair("key".into(), "value".into())
            }]
        );
        let (lists, last) = parse_one("CONNECT Session-Expiry-Interval 60").unwrap();
        assert_eq!(last, 2);
        assert_eq!(lists.connect.len(), 1);
    }

    #[test]
    fn errors_come_in_mosquittos_order() {
        assert_eq!(
            parse_one("publish").unwrap_err(),
            "Error: --property argument given but not enough arguments specified.\n\n"
        );
        assert_eq!(
            parse_one("nope foo bar").unwrap_err(),
            "Error: Invalid command given in --property argument.\n\n"
        );
        assert_eq!(
            parse_one("publish foo bar").unwrap_err(),
            "Error: Invalid property name given in --property argument.\n\n"
        );
        assert_eq!(
            parse_one("connect content-type x").unwrap_err(),
            "Error: content-type property not allowed for connect in --property argument.\n\n"
        );
        assert_eq!(
            parse_one("connect user-property k").unwrap_err(),
            "Error: --property argument given but not enough arguments specified.\n\n"
        );
        assert_eq!(
            parse_one("publish subscription-identifier 1").unwrap_err(),
            "Error: subscription-identifier property not supported for publish in --property argument.\n\n"
        );
        assert_eq!(parse_one("connack maximum-qos 1").unwrap_err(), "");
        assert_eq!(
            parse_one("publish topic-alias 70000").unwrap_err(),
            "Error: Property value (70000) out of range for property topic-alias.\n\n"
        );
        assert_eq!(
            parse_one("subscribe subscription-identifier 268435456").unwrap_err(),
            "Error adding property subscription-identifier 4\n"
        );
        assert_eq!(
            parse_one("publish content-type a\tb").unwrap_err(),
            "Error adding property content-type 6\n"
        );
    }

    #[test]
    fn check_all_finds_zero_values_and_duplicates() {
        let alias0 = RawProperty {
            id: PropertyId::TopicAlias,
            value: RawValue::Int16(0),
        };
        assert_eq!(
            check_all(PropCommand::Publish, &[alias0]),
            Err(PROTOCOL_ERROR)
        );
        let ct = RawProperty {
            id: PropertyId::ContentType,
            value: RawValue::String("a".into()),
        };
        assert_eq!(
            check_all(PropCommand::Publish, &[ct.clone(), ct.clone()]),
            Err(DUPLICATE_ERROR)
        );
        let up = RawProperty {
            id: PropertyId::UserProperty,
            value: RawValue::Pair("a".into(), "b".into()),
        };
        assert_eq!(
            check_all(PropCommand::Publish, &[up.clone(), up, ct]),
            Ok(())
        );
    }

    #[test]
    fn every_property_name_is_known() {
        for (name, _, _) in PROPERTIES {
            assert!(property_from_name(name.to_uppercase().as_bytes()).is_some());
        }
    }
}
