//! proptest strategies that build arbitrary *valid* packets for a protocol version.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;
use mqtt_codec::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

pub fn versions() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![
        Just(ProtocolVersion::V3_1),
        Just(ProtocolVersion::V3_1_1),
        Just(ProtocolVersion::V5)
    ]
}

pub fn mqtt_string() -> impl Strategy<Value = MqttString> {
    "[^\u{0}]{0,12}".prop_map(|s| MqttString::new(s).unwrap())
}

pub fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn level() -> impl Strategy<Value = String> {
    "[^+#/\u{0}]{0,6}"
}

pub fn topic_name() -> impl Strategy<Value = TopicName> {
    vec(level(), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("non-empty", |s| !s.is_empty())
        .prop_map(|s| TopicName::new(s).unwrap())
}

pub fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    let level = prop_oneof![3 => level(), 1 => Just("+".to_string())];
    (
        vec(level, 1..5),
        any::<bool>(),
        option::weighted(0.2, "[a-z]{1,5}"),
    )
        .prop_map(|(mut levels, hash, share)| {
            if hash {
                levels.push("#".into());
            }
            let filter = levels.join("/");
            match share {
                Some(g) => format!("$share/{g}/{filter}"),
                None => filter,
            }
        })
        .prop_filter_map("valid filter", |s| TopicFilter::new(s).ok())
}

pub fn user_properties() -> impl Strategy<Value = Vec<UserProperty>> {
    vec((mqtt_string(), mqtt_string()), 0..3)
}

fn nz16() -> impl Strategy<Value = NonZeroU16> {
    (1..=u16::MAX).prop_map(|v| NonZeroU16::new(v).unwrap())
}

fn nz32() -> impl Strategy<Value = NonZeroU32> {
    (1..=u32::MAX).prop_map(|v| NonZeroU32::new(v).unwrap())
}

fn sub_id() -> impl Strategy<Value = NonZeroU32> {
    (1..=268_435_455u32).prop_map(|v| NonZeroU32::new(v).unwrap())
}

pub fn packet_id() -> impl Strategy<Value = PacketId> {
    nz16()
}

pub fn reason_code_for(packet: PacketType) -> impl Strategy<Value = ReasonCode> {
    let codes: Vec<ReasonCode> = (0..=255u8)
        .filter_map(|b| ReasonCode::try_from(b).ok())
        .filter(|rc| rc.is_valid_for(packet))
        .collect();
    proptest::sample::select(codes)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        (
            option::of(any::<u32>()),
            option::of(nz16()),
            option::of(nz32()),
            option::of(any::<u16>()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
        ),
        option::of((mqtt_string(), option::of(binary()))),
        user_properties(),
    )
        .prop_map(|((sei, rm, mps, tam, rri, rpi), auth, up)| {
            let (authentication_method, authentication_data) = match auth {
                Some((m, d)) => (Some(m), d),
                None => (None, None),
            };
            ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                authentication_method,
                authentication_data,
                user_properties: up,
            }
        })
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        option::of(any::<u32>()),
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(topic_name()),
        option::of(binary()),
        user_properties(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, up)| WillProperties {
            will_delay_interval: wdi,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
        })
}

pub fn connect(version: ProtocolVersion) -> impl Strategy<Value = Connect> {
    let v5 = version.is_v5();
    (
        any::<bool>(),
        any::<u16>(),
        mqtt_string(),
        option::of((
            topic_name(),
            binary(),
            qos(),
            any::<bool>(),
            will_properties(),
        )),
        option::of(mqtt_string()),
        option::of(binary()),
        connect_properties(),
    )
        .prop_map(move |(clean, ka, id, will, user, pass, props)| {
            // Before 5.0 a password needs a user name [MQTT-3.1.2-22], and an empty client
            // identifier needs Clean Session [MQTT-3.1.3-7].
            let pass = if v5 || user.is_some() { pass } else { None };
            let clean = clean || (!v5 && id.is_empty());
            Connect {
                protocol: version,
                clean_start: clean,
                keep_alive: ka,
                client_id: id,
                will: will.map(|(topic, payload, qos, retain, p)| LastWill {
                    topic,
                    payload,
                    qos,
                    retain,
                    properties: if v5 { p } else { Default::default() },
                }),
                username: user,
                password: pass,
                properties: if v5 { props } else { Default::default() },
                bridge: false,
            }
        })
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    (
        (
            option::of(any::<u32>()),
            option::of(nz16()),
            option::of(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
            option::of(any::<bool>()),
            option::of(nz32()),
            option::of(mqtt_string()),
            option::of(any::<u16>()),
            option::of(mqtt_string()),
        ),
        (
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<bool>()),
            option::of(any::<u16>()),
            option::of(mqtt_string()),
            option::of(mqtt_string()),
            option::of((mqtt_string(), option::of(binary()))),
            user_properties(),
        ),
    )
        .prop_map(
            |((sei, rm, mq, ra, mps, aci, tam, rs), (wsa, sia, ssa, ska, ri, sr, auth, up))| {
                let (authentication_method, authentication_data) = match auth {
                    Some((m, d)) => (Some(m), d),
                    None => (None, None),
                };
                ConnAckProperties {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    wildcard_subscription_available: wsa,
                    subscription_identifiers_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method,
                    authentication_data,
                    user_properties: up,
                }
            },
        )
}

pub fn connack(version: ProtocolVersion) -> BoxedStrategy<ConnAck> {
    if version.is_v5() {
        (
            any::<bool>(),
            reason_code_for(PacketType::ConnAck),
            connack_properties(),
        )
            .prop_map(|(sp, rc, properties)| ConnAck {
                session_present: sp && !rc.is_error(),
                reason_code: rc,
                properties,
            })
            .boxed()
    } else {
        (any::<bool>(), 0..=5u8)
            .prop_map(move |(sp, code)| {
                let rc = ReasonCode::from_v3_connack(code).unwrap();
                ConnAck {
                    session_present: sp && code == 0 && version != ProtocolVersion::V3_1,
                    reason_code: rc,
                    properties: Default::default(),
                }
            })
            .boxed()
    }
}

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        option::of(any::<bool>()),
        option::of(any::<u32>()),
        option::of(topic_name()),
        option::of(binary()),
        option::of(mqtt_string()),
        vec(sub_id(), 0..3),
        user_properties(),
    )
        .prop_map(|(pfi, mei, rt, cd, ct, sids, up)| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            response_topic: rt,
            correlation_data: cd,
            content_type: ct,
            subscription_identifiers: sids,
            user_properties: up,
        })
}

pub fn publish(version: ProtocolVersion) -> impl Strategy<Value = Publish> {
    let v5 = version.is_v5();
    (
        any::<bool>(),
        qos(),
        packet_id(),
        any::<bool>(),
        topic_name(),
        any::<bool>(),
        (option::of(nz16()), publish_properties()),
        vec(any::<u8>(), 0..300),
    )
        .prop_map(
            move |(dup, qos, id, retain, topic, alias_only, (alias, props), payload)| {
                let qos = PublishQos::new(qos, id);
                let (topic_alias, properties) = if v5 {
                    (alias, props)
                } else {
                    Default::default()
                };
                let topic = if v5 && alias_only && topic_alias.is_some() {
                    TopicName::alias_only()
                } else {
                    topic
                };
                Publish {
                    dup: dup && qos != PublishQos::AtMostOnce,
                    qos,
                    retain,
                    topic,
                    topic_alias,
                    properties: properties.into(),
                    payload: payload.into(),
                }
            },
        )
}

fn ack_properties(version: ProtocolVersion) -> BoxedStrategy<AckProperties> {
    if version.is_v5() {
        (option::of(mqtt_string()), user_properties())
            .prop_map(|(rs, up)| AckProperties {
                reason_string: rs,
                user_properties: up,
            })
            .boxed()
    } else {
        Just(AckProperties::default()).boxed()
    }
}

fn ack_parts(
    version: ProtocolVersion,
    packet: PacketType,
) -> impl Strategy<Value = (PacketId, ReasonCode, AckProperties)> {
    let rc = if version.is_v5() {
        reason_code_for(packet).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    (packet_id(), rc, ack_properties(version))
}

fn suback_code(version: ProtocolVersion) -> BoxedStrategy<ReasonCode> {
    if version.is_v5() {
        reason_code_for(PacketType::SubAck).boxed()
    } else {
        proptest::sample::select(vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed()
    }
}

fn subscription_options(version: ProtocolVersion) -> BoxedStrategy<SubscriptionOptions> {
    if version.is_v5() {
        (
            qos(),
            any::<bool>(),
            any::<bool>(),
            prop_oneof![
                Just(RetainHandling::SendAtSubscribe),
                Just(RetainHandling::SendAtNewSubscribe),
                Just(RetainHandling::DoNotSend)
            ],
        )
            .prop_map(|(qos, nl, rap, rh)| SubscriptionOptions {
                qos,
                no_local: nl,
                retain_as_published: rap,
                retain_handling: rh,
            })
            .boxed()
    } else {
        qos().prop_map(SubscriptionOptions::with_qos).boxed()
    }
}

pub fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let v5 = version.is_v5();
    let subscribe = (
        packet_id(),
        option::of(sub_id()),
        user_properties(),
        vec((topic_filter(), subscription_options(version)), 1..5),
    )
        .prop_map(move |(id, sid, up, filters)| {
            // [MQTT-3.8.3-4] No Local is not allowed on shared subscriptions.
            let filters = filters
                .into_iter()
                .map(|(f, mut o)| {
                    if f.is_shared() {
                        o.no_local = false;
                    }
                    (f, o)
                })
                .collect();
            Packet::Subscribe(Subscribe {
                packet_id: id,
                properties: if v5 {
                    SubscribeProperties {
                        subscription_identifier: sid,
                        user_properties: up,
                    }
                } else {
                    Default::default()
                },
                filters,
            })
        });
    let unsubscribe = (packet_id(), user_properties(), vec(topic_filter(), 1..5)).prop_map(
        move |(id, up, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id: id,
                properties: if v5 {
                    UnsubscribeProperties {
                        user_properties: up,
                    }
                } else {
                    Default::default()
                },
                filters,
            })
        },
    );
    let suback = (
        packet_id(),
        ack_properties(version),
        vec(suback_code(version), 1..5),
    )
        .prop_map(|(id, properties, codes)| {
            Packet::SubAck(SubAck {
                packet_id: id,
                properties,
                reason_codes: codes,
            })
        });
    let unsuback = (
        packet_id(),
        ack_properties(version),
        vec(reason_code_for(PacketType::UnsubAck), 1..5),
    )
        .prop_map(move |(id, properties, codes)| {
            Packet::UnsubAck(if v5 {
                UnsubAck {
                    packet_id: id,
                    properties,
                    reason_codes: codes,
                }
            } else {
                UnsubAck::new(id, Vec::new())
            })
        });
    let disconnect = (
        reason_code_for(PacketType::Disconnect),
        option::of(any::<u32>()),
        option::of(mqtt_string()),
        option::of(mqtt_string()),
        user_properties(),
    )
        .prop_map(move |(rc, sei, rs, sr, up)| {
            Packet::from(if v5 {
                Disconnect {
                    reason_code: rc,
                    properties: DisconnectProperties {
                        session_expiry_interval: sei,
                        reason_string: rs,
                        server_reference: sr,
                        user_properties: up,
                    },
                }
            } else {
                Disconnect::default()
            })
        });
    let mut options: Vec<BoxedStrategy<Packet>> = vec![
        connect(version).prop_map(Packet::from).boxed(),
        connack(version).prop_map(Packet::from).boxed(),
        publish(version).prop_map(Packet::Publish).boxed(),
        ack_parts(version, PacketType::PubAck)
            .prop_map(|(packet_id, reason_code, properties)| {
                Packet::PubAck(PubAck {
                    packet_id,
                    reason_code,
                    properties,
                })
            })
            .boxed(),
        ack_parts(version, PacketType::PubRec)
            .prop_map(|(packet_id, reason_code, properties)| {
                Packet::PubRec(PubRec {
                    packet_id,
                    reason_code,
                    properties,
                })
            })
            .boxed(),
        ack_parts(version, PacketType::PubRel)
            .prop_map(|(packet_id, reason_code, properties)| {
                Packet::PubRel(PubRel {
                    packet_id,
                    reason_code,
                    properties,
                })
            })
            .boxed(),
        ack_parts(version, PacketType::PubComp)
            .prop_map(|(packet_id, reason_code, properties)| {
                Packet::PubComp(PubComp {
                    packet_id,
                    reason_code,
                    properties,
                })
            })
            .boxed(),
        subscribe.boxed(),
        suback.boxed(),
        unsubscribe.boxed(),
        unsuback.boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect.boxed(),
    ];
    if v5 {
        let auth = (
            reason_code_for(PacketType::Auth),
            option::of((mqtt_string(), option::of(binary()))),
            option::of(mqtt_string()),
            user_properties(),
        )
            .prop_map(|(rc, auth, rs, up)| {
                // Spec 3.15.2.2.2: every AUTH with content names its method.
                let (m, d) = auth.unwrap_or((MqttString::new("SCRAM").unwrap(), None));
                let (authentication_method, authentication_data) = (Some(m), d);
                Packet::from(Auth {
                    reason_code: rc,
                    properties: AuthProperties {
                        authentication_method,
                        authentication_data,
                        reason_string: rs,
                        user_properties: up,
                    },
                })
            });
        options.push(auth.boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

/// A version and a packet valid in it.
pub fn versioned_packet() -> impl Strategy<Value = (ProtocolVersion, Packet)> {
    versions().prop_flat_map(|v| (Just(v), packet(v)))
}
