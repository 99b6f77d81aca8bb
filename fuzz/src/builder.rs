//! Builds valid packets from `arbitrary` input, for the structured round-trip target.
//!
//! Every field gets a value that the decoder accepts and that survives a round trip for the
//! chosen version: properties, MQTT 5 reason codes and MQTT 5 subscription options only where
//! the version has them. A few packets are deliberately built that the encoder documents it
//! refuses (see [`expected_rejection`]), so that the target can check the encoder refuses those
//! and nothing else.

use core::num::{NonZeroU16, NonZeroU32};

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;
use mqtt_codec::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, EncodeError, LastWill, MqttString, Packet, PacketType,
    ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, PublishQos, QoS,
    ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName, UnsubAck, Unsubscribe, UnsubscribeProperties, UserProperty,
    WillProperties, MAX_VARIABLE_BYTE_INTEGER,
};

/// The three protocol versions.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Version {
    V3_1,
    V3_1_1,
    V5,
}

impl From<Version> for ProtocolVersion {
    fn from(v: Version) -> Self {
        match v {
            Version::V3_1 => ProtocolVersion::V3_1,
            Version::V3_1_1 => ProtocolVersion::V3_1_1,
            Version::V5 => ProtocolVersion::V5,
        }
    }
}

/// The 15 packet types.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connect,
    ConnAck,
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    PingReq,
    PingResp,
    Disconnect,
    Auth,
}

/// One input of the structured target.
#[derive(Debug)]
pub struct Case {
    /// The version of the connection the packet is encoded for.
    pub version: ProtocolVersion,
    /// The packet.
    pub packet: Packet,
    /// Where the encoding is split in two when it is fed to the decoder.
    pub split: usize,
    /// Decode a CONNECT with a server decoder (unknown version) rather than a client's.
    pub server: bool,
    /// Position (modulo the length) of the byte changed in the mutation step.
    pub mutate_at: usize,
    /// Non-zero value XORed into that byte.
    pub mutate_xor: u8,
}

impl<'a> Arbitrary<'a> for Case {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let version = ProtocolVersion::from(u.arbitrary::<Version>()?);
        let kind: Kind = u.arbitrary()?;
        let packet = packet(u, kind, version)?;
        let split = u.arbitrary()?;
        let server = u.arbitrary()?;
        let mutate_at = u.arbitrary()?;
        let mutate_xor = match u.arbitrary::<u8>()? {
            0 => 0xFF,
            x => x,
        };
        Ok(Case {
            version,
            packet,
            split,
            server,
            mutate_at,
            mutate_xor,
        })
    }
}

/// The error the encoder documents for `packet` encoded as `version`, if any.
pub fn expected_rejection(packet: &Packet, version: ProtocolVersion) -> Option<EncodeError> {
    let v5 = version.is_v5();
    match packet {
        Packet::Auth(_) if !v5 => Some(EncodeError::UnsupportedPacket {
            packet: PacketType::Auth,
            version,
        }),
        Packet::Connect(c) if c.protocol != version => Some(EncodeError::VersionMismatch {
            packet: c.protocol,
            requested: version,
        }),
        Packet::Connect(c) if !v5 && c.password.is_some() && c.username.is_none() => {
            Some(EncodeError::PasswordWithoutUsername)
        }
        Packet::Connect(c) if !v5 && c.client_id.is_empty() && !c.clean_start => {
            Some(EncodeError::EmptyClientIdWithoutCleanSession)
        }
        Packet::Publish(p) if p.topic.is_empty() && (!v5 || p.topic_alias.is_none()) => {
            Some(EncodeError::EmptyTopic)
        }
        Packet::Subscribe(s)
            if v5
                && s.filters
                    .iter()
                    .any(|(f, o)| f.is_shared() && o.no_local) =>
        {
            Some(EncodeError::NoLocalOnSharedSubscription)
        }
        Packet::Auth(a)
            if v5
                && a.properties.authentication_method.is_none()
                && !(a.reason_code == ReasonCode::Success && a.properties.is_empty()) =>
        {
            Some(EncodeError::AuthWithoutMethod)
        }
        _ => None,
    }
}

/// A packet of the given kind for a connection of the given version.
pub fn packet(u: &mut Unstructured<'_>, kind: Kind, version: ProtocolVersion) -> Result<Packet> {
    let v5 = version.is_v5();
    Ok(match kind {
        Kind::Connect => Packet::from(connect(u, version)?),
        Kind::ConnAck => {
            let reason_code = if v5 {
                reason(u, PacketType::ConnAck)?
            } else {
                let code = u.int_in_range(0..=5u8)?;
                ReasonCode::from_v3_connack(code).unwrap_or(ReasonCode::Success)
            };
            // No Session Present with a refusal [MQTT-3.2.2-4], nor in 3.1 at all.
            let session_present =
                version != ProtocolVersion::V3_1 && !reason_code.is_error() && u.arbitrary()?;
            Packet::from(ConnAck {
                session_present,
                reason_code,
                properties: if v5 {
                    connack_props(u)?
                } else {
                    Default::default()
                },
            })
        }
        Kind::Publish => {
            let qos = publish_qos(u)?;
            let dup = qos != PublishQos::AtMostOnce && u.arbitrary()?;
            let retain = u.arbitrary()?;
            let (topic_alias, properties) = if v5 {
                (opt(u, packet_id)?, publish_props(u)?)
            } else {
                Default::default()
            };
            // The empty topic stands for a Topic Alias (5.0 only); now and then it is also used
            // without one, which the encoder must refuse.
            let alias_only = if topic_alias.is_some() {
                u.ratio(1u8, 3)?
            } else {
                u.ratio(1u8, 32)?
            };
            let topic = if alias_only {
                TopicName::alias_only()
            } else {
                topic_name(u)?
            };
            Packet::Publish(Publish {
                dup,
                qos,
                retain,
                topic,
                topic_alias,
                properties: properties.into(),
                payload: bytes(u)?,
            })
        }
        Kind::PubAck => {
            let (packet_id, reason_code, properties) = ack(u, version, PacketType::PubAck)?;
            Packet::PubAck(PubAck {
                packet_id,
                reason_code,
                properties,
            })
        }
        Kind::PubRec => {
            let (packet_id, reason_code, properties) = ack(u, version, PacketType::PubRec)?;
            Packet::PubRec(PubRec {
                packet_id,
                reason_code,
                properties,
            })
        }
        Kind::PubRel => {
            let (packet_id, reason_code, properties) = ack(u, version, PacketType::PubRel)?;
            Packet::PubRel(PubRel {
                packet_id,
                reason_code,
                properties,
            })
        }
        Kind::PubComp => {
            let (packet_id, reason_code, properties) = ack(u, version, PacketType::PubComp)?;
            Packet::PubComp(PubComp {
                packet_id,
                reason_code,
                properties,
            })
        }
        Kind::Subscribe => {
            let packet_id = packet_id(u)?;
            let properties = if v5 {
                SubscribeProperties {
                    subscription_identifier: opt(u, subscription_id)?,
                    user_properties: user_props(u)?,
                }
            } else {
                Default::default()
            };
            let n = u.int_in_range(1..=4u8)?;
            let mut filters = Vec::new();
            for _ in 0..n {
                let filter = topic_filter(u)?;
                let qos = qos(u)?;
                let options = if v5 {
                    SubscriptionOptions {
                        qos,
                        // No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4].
                        no_local: !filter.is_shared() && u.arbitrary()?,
                        retain_as_published: u.arbitrary()?,
                        retain_handling: *u.choose(&[
                            RetainHandling::SendAtSubscribe,
                            RetainHandling::SendAtNewSubscribe,
                            RetainHandling::DoNotSend,
                        ])?,
                    }
                } else {
                    SubscriptionOptions::with_qos(qos)
                };
                filters.push((filter, options));
            }
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters,
            })
        }
        Kind::SubAck => {
            let packet_id = packet_id(u)?;
            let properties = if v5 {
                ack_props(u)?
            } else {
                Default::default()
            };
            let n = u.int_in_range(1..=4u8)?;
            let mut reason_codes = Vec::new();
            for _ in 0..n {
                reason_codes.push(if v5 {
                    reason(u, PacketType::SubAck)?
                } else {
                    // 3.1.1 return codes: granted QoS 0-2 or 0x80 Failure.
                    *u.choose(&[
                        ReasonCode::Success,
                        ReasonCode::GrantedQoS1,
                        ReasonCode::GrantedQoS2,
                        ReasonCode::UnspecifiedError,
                    ])?
                });
            }
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        }
        Kind::Unsubscribe => {
            let packet_id = packet_id(u)?;
            let properties = if v5 {
                UnsubscribeProperties {
                    user_properties: user_props(u)?,
                }
            } else {
                Default::default()
            };
            let n = u.int_in_range(1..=4u8)?;
            let mut filters = Vec::new();
            for _ in 0..n {
                filters.push(topic_filter(u)?);
            }
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        }
        Kind::UnsubAck => {
            let packet_id = packet_id(u)?;
            if v5 {
                let properties = ack_props(u)?;
                let n = u.int_in_range(1..=4u8)?;
                let mut reason_codes = Vec::new();
                for _ in 0..n {
                    reason_codes.push(reason(u, PacketType::UnsubAck)?);
                }
                Packet::UnsubAck(UnsubAck {
                    packet_id,
                    properties,
                    reason_codes,
                })
            } else {
                Packet::UnsubAck(UnsubAck::new(packet_id, Vec::new()))
            }
        }
        Kind::PingReq => Packet::PingReq,
        Kind::PingResp => Packet::PingResp,
        Kind::Disconnect => {
            if v5 {
                Packet::from(Disconnect {
                    reason_code: reason(u, PacketType::Disconnect)?,
                    properties: DisconnectProperties {
                        session_expiry_interval: opt(u, |u| u.arbitrary())?,
                        reason_string: opt(u, string)?,
                        server_reference: opt(u, string)?,
                        user_properties: user_props(u)?,
                    },
                })
            } else {
                Packet::from(Disconnect::default())
            }
        }
        // Built for every version: before 5.0 the encoder must refuse it.
        Kind::Auth => {
            let authentication_method = opt(u, string)?;
            let authentication_data = if authentication_method.is_some() {
                opt(u, bytes)?
            } else {
                None
            };
            Packet::from(Auth {
                reason_code: reason(u, PacketType::Auth)?,
                properties: AuthProperties {
                    authentication_method,
                    authentication_data,
                    reason_string: opt(u, string)?,
                    user_properties: user_props(u)?,
                },
            })
        }
    })
}

fn connect(u: &mut Unstructured<'_>, version: ProtocolVersion) -> Result<Connect> {
    // Mostly the connection's version; now and then another, which the encoder must refuse.
    let protocol = if u.ratio(1u8, 16)? {
        ProtocolVersion::from(u.arbitrary::<Version>()?)
    } else {
        version
    };
    let v5 = protocol.is_v5();
    let properties = if v5 {
        let authentication_method = opt(u, string)?;
        let authentication_data = if authentication_method.is_some() {
            opt(u, bytes)?
        } else {
            None
        };
        ConnectProperties {
            session_expiry_interval: opt(u, |u| u.arbitrary())?,
            receive_maximum: opt(u, packet_id)?,
            maximum_packet_size: opt(u, |u| {
                Ok(NonZeroU32::new(u.arbitrary()?).unwrap_or(NonZeroU32::MIN))
            })?,
            topic_alias_maximum: opt(u, |u| u.arbitrary())?,
            request_response_information: opt(u, |u| u.arbitrary())?,
            request_problem_information: opt(u, |u| u.arbitrary())?,
            authentication_method,
            authentication_data,
            user_properties: user_props(u)?,
        }
    } else {
        ConnectProperties::default()
    };
    let will = if u.arbitrary()? {
        Some(LastWill {
            topic: topic_name(u)?,
            payload: bytes(u)?,
            qos: qos(u)?,
            retain: u.arbitrary()?,
            properties: if v5 {
                WillProperties {
                    will_delay_interval: opt(u, |u| u.arbitrary())?,
                    payload_format_indicator: opt(u, |u| u.arbitrary())?,
                    message_expiry_interval: opt(u, |u| u.arbitrary())?,
                    content_type: opt(u, string)?,
                    response_topic: opt(u, topic_name)?,
                    correlation_data: opt(u, bytes)?,
                    user_properties: user_props(u)?,
                }
            } else {
                WillProperties::default()
            },
        })
    } else {
        None
    };
    let password = opt(u, bytes)?;
    let mut username = opt(u, string)?;
    // Before 5.0 a password needs a user name [MQTT-3.1.2-22]; now and then leave it out
    // anyway, which the encoder must refuse.
    if !v5 && password.is_some() && username.is_none() && !u.ratio(1u8, 8)? {
        username = Some(string(u)?);
    }
    Ok(Connect {
        protocol,
        clean_start: u.arbitrary()?,
        keep_alive: u.arbitrary()?,
        client_id: string(u)?,
        will,
        username,
        password,
        properties,
        bridge: u.arbitrary()?,
    })
}

fn ack(
    u: &mut Unstructured<'_>,
    version: ProtocolVersion,
    packet: PacketType,
) -> Result<(NonZeroU16, ReasonCode, AckProperties)> {
    let id = packet_id(u)?;
    if version.is_v5() {
        Ok((id, reason(u, packet)?, ack_props(u)?))
    } else {
        Ok((id, ReasonCode::Success, AckProperties::default()))
    }
}

fn ack_props(u: &mut Unstructured<'_>) -> Result<AckProperties> {
    Ok(AckProperties {
        reason_string: opt(u, string)?,
        user_properties: user_props(u)?,
    })
}

fn connack_props(u: &mut Unstructured<'_>) -> Result<ConnAckProperties> {
    let authentication_method = opt(u, string)?;
    let authentication_data = if authentication_method.is_some() {
        opt(u, bytes)?
    } else {
        None
    };
    Ok(ConnAckProperties {
        session_expiry_interval: opt(u, |u| u.arbitrary())?,
        receive_maximum: opt(u, packet_id)?,
        // Maximum QoS 2 is expressed by leaving the property out.
        maximum_qos: opt(u, |u| Ok(*u.choose(&[QoS::AtMostOnce, QoS::AtLeastOnce])?))?,
        retain_available: opt(u, |u| u.arbitrary())?,
        maximum_packet_size: opt(u, |u| {
            Ok(NonZeroU32::new(u.arbitrary()?).unwrap_or(NonZeroU32::MIN))
        })?,
        assigned_client_identifier: opt(u, string)?,
        topic_alias_maximum: opt(u, |u| u.arbitrary())?,
        reason_string: opt(u, string)?,
        wildcard_subscription_available: opt(u, |u| u.arbitrary())?,
        subscription_identifiers_available: opt(u, |u| u.arbitrary())?,
        shared_subscription_available: opt(u, |u| u.arbitrary())?,
        server_keep_alive: opt(u, |u| u.arbitrary())?,
        response_information: opt(u, string)?,
        server_reference: opt(u, string)?,
        authentication_method,
        authentication_data,
        user_properties: user_props(u)?,
    })
}

fn publish_props(u: &mut Unstructured<'_>) -> Result<PublishProperties> {
    let n = u.int_in_range(0..=3u8)?;
    let mut subscription_identifiers = Vec::new();
    for _ in 0..n {
        subscription_identifiers.push(subscription_id(u)?);
    }
    Ok(PublishProperties {
        payload_format_indicator: opt(u, |u| u.arbitrary())?,
        message_expiry_interval: opt(u, |u| u.arbitrary())?,
        response_topic: opt(u, topic_name)?,
        correlation_data: opt(u, bytes)?,
        content_type: opt(u, string)?,
        subscription_identifiers,
        user_properties: user_props(u)?,
    })
}

/// `Some(f(u))` or `None`, half and half.
fn opt<'a, T>(
    u: &mut Unstructured<'a>,
    f: impl FnOnce(&mut Unstructured<'a>) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
}

/// A reason code that the specification allows in `packet`.
fn reason(u: &mut Unstructured<'_>, packet: PacketType) -> Result<ReasonCode> {
    let valid: Vec<ReasonCode> = (0..=255u8)
        .filter_map(|b| ReasonCode::try_from(b).ok())
        .filter(|rc| rc.is_valid_for(packet))
        .collect();
    Ok(*u.choose(&valid)?)
}

fn qos(u: &mut Unstructured<'_>) -> Result<QoS> {
    Ok(*u.choose(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])?)
}

fn publish_qos(u: &mut Unstructured<'_>) -> Result<PublishQos> {
    let qos = qos(u)?;
    Ok(PublishQos::new(qos, packet_id(u)?))
}

fn packet_id(u: &mut Unstructured<'_>) -> Result<NonZeroU16> {
    Ok(NonZeroU16::new(u.arbitrary()?).unwrap_or(NonZeroU16::MIN))
}

fn subscription_id(u: &mut Unstructured<'_>) -> Result<NonZeroU32> {
    let id = u.int_in_range(1..=MAX_VARIABLE_BYTE_INTEGER)?;
    Ok(NonZeroU32::new(id).unwrap_or(NonZeroU32::MIN))
}

fn bytes(u: &mut Unstructured<'_>) -> Result<Bytes> {
    let v: Vec<u8> = u.arbitrary()?;
    Ok(Bytes::from(v))
}

/// A UTF-8 string without U+0000.
fn string(u: &mut Unstructured<'_>) -> Result<MqttString> {
    let s: String = u.arbitrary()?;
    Ok(MqttString::new(s.replace('\0', "")).unwrap_or_default())
}

/// Topic levels that make interesting names and filters.
const WORDS: &[&str] = &[
    "a", "b", "sport", "tennis", "player1", "", "$SYS", "$share", " ", "é", "ü/", "\u{FEFF}",
    "\u{FFFF}",
];

fn word(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(if u.ratio(1u8, 4)? {
        u.arbitrary::<&str>()?.to_owned()
    } else {
        (*u.choose(WORDS)?).to_owned()
    })
}

/// A valid topic name (never empty); falls back to a fixed one when the input gives none.
fn topic_name(u: &mut Unstructured<'_>) -> Result<TopicName> {
    let raw = if u.ratio(1u8, 3)? {
        u.arbitrary::<String>()?
    } else {
        let n = u.int_in_range(1..=4u8)?;
        let mut levels = Vec::new();
        for _ in 0..n {
            levels.push(word(u)?);
        }
        levels.join("/")
    };
    Ok(TopicName::new(raw).unwrap_or_else(|_| fallback_name()))
}

fn fallback_name() -> TopicName {
    TopicName::from_static("fuzz/fallback").expect("a valid topic name")
}

/// A valid topic filter, with wildcards and shared subscriptions; falls back to `#`.
fn topic_filter(u: &mut Unstructured<'_>) -> Result<TopicFilter> {
    let raw = if u.ratio(1u8, 4)? {
        u.arbitrary::<String>()?
    } else {
        let mut s = String::new();
        if u.ratio(1u8, 4)? {
            s.push_str("$share/");
            s.push_str(&word(u)?);
            s.push('/');
        }
        let n = u.int_in_range(1..=4u8)?;
        let mut levels = Vec::new();
        for i in 0..n {
            let last = i + 1 == n;
            levels.push(match u.int_in_range(0..=3u8)? {
                0 => "+".to_owned(),
                1 if last => "#".to_owned(),
                _ => word(u)?,
            });
        }
        s.push_str(&levels.join("/"));
        s
    };
    Ok(TopicFilter::new(raw)
        .unwrap_or_else(|_| TopicFilter::from_static("#").expect("a valid topic filter")))
}

fn user_props(u: &mut Unstructured<'_>) -> Result<Vec<UserProperty>> {
    let n = u.int_in_range(0..=3u8)?;
    let mut props = Vec::new();
    for _ in 0..n {
        props.push((string(u)?, string(u)?));
    }
    Ok(props)
}
