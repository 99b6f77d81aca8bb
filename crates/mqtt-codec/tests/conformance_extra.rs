//! Tests for normative statements that the codec already enforces or produces but that no other
//! test checked (the `codec (gap)` rows of `docs/conformance.md`).
//!
//! Each test names one statement and quotes it. Where MQTT 3.1.1 and 5.0 state the same rule
//! under different numbers, the test is named after the 5.0 number, its comment gives both, and
//! it checks both versions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use mqtt_codec::*;

const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn decode(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
    Packet::decode(bytes, version)
}

fn err(bytes: &[u8], version: ProtocolVersion) -> DecodeError {
    decode(bytes, version).expect_err("must be rejected")
}

fn encode(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    packet.encode(version, &mut buf).unwrap();
    buf.to_vec()
}

/// A fixed header with a one-byte Remaining Length in front of `body`.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut v = vec![first, body.len() as u8];
    v.extend_from_slice(body);
    v
}

/// A whole 3.1.1 (level 4) or 5.0 (level 5) CONNECT with the given flags, properties (5.0 only)
/// and payload; Keep Alive is 60.
fn connect(level: u8, flags: u8, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = b"\x00\x04MQTT".to_vec();
    body.push(level);
    body.push(flags);
    body.extend_from_slice(&[0, 60]);
    if level == 5 {
        body.extend_from_slice(props);
    }
    body.extend_from_slice(payload);
    packet(0x10, &body)
}

fn version_of(level: u8) -> ProtocolVersion {
    ProtocolVersion::from_level(level).unwrap()
}

fn decode_connect(bytes: &[u8]) -> Connect {
    let connect = match decode(bytes, V4).unwrap() {
        Packet::Connect(c) => Some(c),
        _ => None,
    };
    *connect.expect("a CONNECT")
}

/// The Will Properties (5.0 only, here an empty set) followed by `rest`.
fn will_fields(level: u8, rest: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    if level == 5 {
        v.push(0);
    }
    v.extend_from_slice(rest);
    v
}

fn id(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn s(text: &str) -> MqttString {
    MqttString::new(text).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Data representation and packet format (chapters 1 and 2)

#[test]
fn mqtt_1_5_7_1_user_property_strings_are_utf8() {
    // [MQTT-1.5.7-1] Both strings MUST comply with the requirements for UTF-8 Encoded Strings.
    let publish_with = |props: &[u8]| {
        let mut body = b"\x00\x01a".to_vec();
        body.push(props.len() as u8);
        body.extend_from_slice(props);
        packet(0x30, &body)
    };
    // Ill-formed UTF-8 in the name, then in the value.
    let e = err(&publish_with(b"\x26\x00\x02\xC3\x28\x00\x01v"), V5);
    assert_eq!(e, DecodeError::InvalidUtf8);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(
        err(&publish_with(b"\x26\x00\x01k\x00\x03\xED\xA0\x80"), V5),
        DecodeError::InvalidUtf8
    );
    // U+0000 in the name, then in the value.
    assert_eq!(
        err(&publish_with(b"\x26\x00\x01\x00\x00\x01v"), V5),
        DecodeError::NullCharacter
    );
    assert_eq!(
        err(&publish_with(b"\x26\x00\x01k\x00\x02v\x00"), V5),
        DecodeError::NullCharacter
    );
    // The same rule in another packet's property set (DISCONNECT).
    assert_eq!(
        err(b"\xE0\x09\x00\x07\x26\x00\x01k\x00\x01\x00", V5),
        DecodeError::NullCharacter
    );
    // A well-formed pair decodes to exactly its two strings.
    match decode(&publish_with(b"\x26\x00\x01k\x00\x02\xC3\xA9"), V5).unwrap() {
        Packet::Publish(p) => assert_eq!(p.properties.user_properties, [(s("k"), s("é"))]),
        other => panic!("{other:?}"),
    }
    // A sender cannot build a pair with U+0000 in either string.
    assert_eq!(MqttString::new("k\0"), Err(InvalidString::NullCharacter));
}

#[test]
fn mqtt_2_2_1_2_qos0_publish_has_no_packet_id() {
    // 5.0 [MQTT-2.2.1-2] / 3.1.1 [MQTT-2.3.1-5]: A PUBLISH packet MUST NOT contain a Packet
    // Identifier if its QoS value is set to 0.
    let publish = Publish {
        qos: PublishQos::new(QoS::AtMostOnce, id(7)),
        topic: TopicName::new("a").unwrap(),
        payload: Bytes::from_static(b"hi"),
        ..Publish::default()
    };
    assert_eq!(publish.qos.packet_id(), None, "QoS 0 drops the identifier");
    let packet = Packet::Publish(publish);
    // Topic, then (5.0) the Property Length, then the payload: no two-byte identifier.
    assert_eq!(encode(&packet, V4), b"\x30\x05\x00\x01ahi");
    assert_eq!(encode(&packet, V5), b"\x30\x06\x00\x01a\x00hi");
    // On receipt, the two bytes after a QoS 0 topic are payload, not an identifier ...
    for (bytes, version) in [
        (&b"\x30\x05\x00\x01a\x00\x07"[..], V4),
        (b"\x30\x06\x00\x01a\x00\x00\x07", V5),
    ] {
        match decode(bytes, version).unwrap() {
            Packet::Publish(p) => {
                assert_eq!(p.qos, PublishQos::AtMostOnce);
                assert_eq!(&p.payload[..], b"\x00\x07");
            }
            other => panic!("{other:?}"),
        }
    }
    // ... while the same bytes under QoS 1 are the identifier.
    match decode(b"\x32\x05\x00\x01a\x00\x07", V4).unwrap() {
        Packet::Publish(p) => {
            assert_eq!(p.qos, PublishQos::AtLeastOnce(id(7)));
            assert!(p.payload.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mqtt_2_2_2_1_no_properties_is_property_length_zero() {
    // [MQTT-2.2.2-1] If there are no properties, this MUST be indicated by including a Property
    // Length of zero.
    let publish = Packet::Publish(Publish {
        topic: TopicName::new("a").unwrap(),
        payload: Bytes::from_static(b"hi"),
        ..Publish::default()
    });
    assert_eq!(encode(&publish, V5), b"\x30\x06\x00\x01a\x00hi");
    let subscribe = Packet::Subscribe(Subscribe::new(
        id(1),
        vec![(
            TopicFilter::new("a").unwrap(),
            SubscriptionOptions::default(),
        )],
    ));
    assert_eq!(encode(&subscribe, V5), b"\x82\x07\x00\x01\x00\x00\x01a\x00");
    let unsubscribe = Packet::Unsubscribe(Unsubscribe::new(
        id(1),
        vec![TopicFilter::new("a").unwrap()],
    ));
    assert_eq!(encode(&unsubscribe, V5), b"\xA2\x06\x00\x01\x00\x00\x01a");
    let connect = Packet::Connect(Box::default());
    assert_eq!(
        encode(&connect, V5),
        b"\x10\x0D\x00\x04MQTT\x05\x02\x00\x3C\x00\x00\x00"
    );
    let connack = Packet::ConnAck(Box::default());
    assert_eq!(encode(&connack, V5), b"\x20\x03\x00\x00\x00");
    // The receiver reads the zero as the Property Length, not as content ...
    match decode(b"\x30\x06\x00\x01a\x00hi", V5).unwrap() {
        Packet::Publish(p) => {
            assert!(p.properties.is_empty());
            assert_eq!(&p.payload[..], b"hi");
        }
        other => panic!("{other:?}"),
    }
    // ... and a packet that leaves it out is malformed.
    assert_eq!(err(b"\x30\x03\x00\x01a", V5), DecodeError::Truncated);
    assert_eq!(
        err(b"\x82\x06\x00\x01\x00\x01a\x00", V5),
        DecodeError::Truncated
    );
    assert_eq!(err(b"\x20\x02\x00\x00", V5), DecodeError::Truncated);
}

// ---------------------------------------------------------------------------------------------
// CONNECT flags and payload (spec 3.1.2, 3.1.3)

#[test]
fn mqtt_3_1_2_9_will_fields_present_with_will_flag() {
    // [MQTT-3.1.2-9] (5.0) If the Will Flag is set to 1, the Will Properties, Will Topic, and Will
    // Payload fields MUST be present in the Payload. (3.1.1 [MQTT-3.1.2-9]: the Will Topic and
    // Will Message fields MUST be present in the payload.)
    for level in [4u8, 5] {
        let will = 0x02 | 0x04;
        // Only the Client Identifier: the will fields are missing.
        let e = err(&connect(level, will, &[0], b"\x00\x00"), V4);
        assert_eq!(e, DecodeError::Truncated, "level {level}");
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        // Will Topic without Will Payload.
        let payload = [&b"\x00\x00"[..], &will_fields(level, b"\x00\x01t")].concat();
        assert_eq!(
            err(&connect(level, will, &[0], &payload), V4),
            DecodeError::Truncated
        );
        // All present.
        let payload = [
            &b"\x00\x00"[..],
            &will_fields(level, b"\x00\x01t\x00\x02hi"),
        ]
        .concat();
        let c = decode_connect(&connect(level, will, &[0], &payload));
        let w = c.will.expect("will decoded");
        assert_eq!(w.topic, "t");
        assert_eq!(&w.payload[..], b"hi");
    }
    // 5.0: the Will Properties come first; a payload that leaves them out is misread and fails.
    let payload = b"\x00\x00\x00\x01t\x00\x02hi";
    assert_eq!(
        err(&connect(5, 0x06, &[0], payload), V5),
        DecodeError::Truncated
    );
    // The encoder sets the Will Flag exactly when it writes the will fields.
    let c = Connect {
        protocol: V4,
        will: Some(LastWill {
            topic: TopicName::new("t").unwrap(),
            payload: Bytes::from_static(b"hi"),
            qos: QoS::AtLeastOnce,
            ..LastWill::default()
        }),
        ..Connect::default()
    };
    assert_eq!(
        encode(&Packet::Connect(Box::new(c)), V4),
        b"\x10\x13\x00\x04MQTT\x04\x0E\x00\x3C\x00\x00\x00\x01t\x00\x02hi"
    );
}

#[test]
fn mqtt_3_1_2_11_will_flag_0_means_no_will() {
    // 5.0 [MQTT-3.1.2-11] If the Will Flag is set to 0, then the Will QoS MUST be set to 0;
    // 5.0 [MQTT-3.1.2-13] If the Will Flag is set to 0, then Will Retain MUST be set to 0.
    // 3.1.1 [MQTT-3.1.2-11] If the Will Flag is set to 0 the Will QoS and Will Retain fields in the
    // Connect Flags MUST be set to zero and the Will Topic and Will Message fields MUST NOT be
    // present in the payload (also [MQTT-3.1.2-13], [MQTT-3.1.2-15]).
    for level in [4u8, 5] {
        for flags in [
            0x02 | 0x08,
            0x02 | 0x10,
            0x02 | 0x18,
            0x02 | 0x20,
            0x02 | 0x28,
        ] {
            let e = err(&connect(level, flags, &[0], b"\x00\x00"), V4);
            assert_eq!(
                e,
                DecodeError::InvalidWillFlags,
                "level {level} flags {flags:#x}"
            );
            assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        }
        // Will fields after the Client Identifier without the Will Flag are not read as a will.
        let payload = [&b"\x00\x00"[..], &will_fields(level, b"\x00\x01t\x00\x00")].concat();
        let extra = payload.len() - 2;
        assert_eq!(
            err(&connect(level, 0x02, &[0], &payload), V4),
            DecodeError::TrailingBytes(extra)
        );
        assert_eq!(
            decode_connect(&connect(level, 0x02, &[0], b"\x00\x00")).will,
            None
        );
    }
    // Without a will the encoder leaves the Will Flag, Will QoS and Will Retain bits at 0.
    for version in [V4, V5] {
        let c = Connect {
            protocol: version,
            ..Connect::default()
        };
        let bytes = encode(&Packet::Connect(Box::new(c)), version);
        assert_eq!(bytes[9] & 0b0011_1100, 0, "{version}");
    }
}

#[test]
fn mqtt_3_1_2_12_will_qos_0_1_2_allowed_3_malformed() {
    // 5.0 [MQTT-3.1.2-12] If the Will Flag is set to 1, the value of Will QoS can be 0 (0x00),
    // 1 (0x01), or 2 (0x02). (3.1.1 [MQTT-3.1.2-14] adds: It MUST NOT be 3 (0x03).)
    for level in [4u8, 5] {
        let payload = [&b"\x00\x00"[..], &will_fields(level, b"\x00\x01t\x00\x00")].concat();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let flags = 0x06 | (qos as u8) << 3;
            let c = decode_connect(&connect(level, flags, &[0], &payload));
            assert_eq!(c.will.unwrap().qos, qos, "level {level}");
        }
        let e = err(&connect(level, 0x06 | 0x18, &[0], &payload), V4);
        assert_eq!(e, DecodeError::InvalidWillFlags);
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

#[test]
fn mqtt_3_1_2_16_user_name_flag_0_no_user_name() {
    // 5.0 [MQTT-3.1.2-16] / 3.1.1 [MQTT-3.1.2-18]: If the User Name Flag is set to 0, a User Name
    // MUST NOT be present in the Payload.
    for level in [4u8, 5] {
        let c = decode_connect(&connect(level, 0x02, &[0], b"\x00\x00"));
        assert_eq!(c.username, None);
        // A User Name after the Client Identifier without the flag is left over.
        assert_eq!(
            err(&connect(level, 0x02, &[0], b"\x00\x00\x00\x01u"), V4),
            DecodeError::TrailingBytes(3)
        );
        let bytes = encode(
            &Packet::Connect(Box::new(Connect {
                protocol: version_of(level),
                ..Connect::default()
            })),
            version_of(level),
        );
        assert_eq!(bytes[9] & 0x80, 0);
        // The payload is the empty Client Identifier only.
        assert_eq!(bytes.len(), if level == 5 { 15 } else { 14 });
    }
}

#[test]
fn mqtt_3_1_2_17_user_name_flag_1_user_name_present() {
    // 5.0 [MQTT-3.1.2-17] / 3.1.1 [MQTT-3.1.2-19]: If the User Name Flag is set to 1, a User Name
    // MUST be present in the Payload.
    for level in [4u8, 5] {
        let e = err(&connect(level, 0x82, &[0], b"\x00\x00"), V4);
        assert_eq!(e, DecodeError::Truncated);
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        let c = decode_connect(&connect(level, 0x82, &[0], b"\x00\x00\x00\x01u"));
        assert_eq!(c.username.as_deref(), Some("u"));
        let bytes = encode(
            &Packet::Connect(Box::new(Connect {
                protocol: version_of(level),
                username: Some(s("u")),
                ..Connect::default()
            })),
            version_of(level),
        );
        assert_eq!(bytes[9] & 0x80, 0x80);
        assert!(bytes.ends_with(b"\x00\x00\x00\x01u"));
    }
}

#[test]
fn mqtt_3_1_2_18_password_flag_0_no_password() {
    // 5.0 [MQTT-3.1.2-18] / 3.1.1 [MQTT-3.1.2-20]: If the Password Flag is set to 0, a Password
    // MUST NOT be present in the Payload.
    for level in [4u8, 5] {
        let c = decode_connect(&connect(level, 0x82, &[0], b"\x00\x00\x00\x01u"));
        assert_eq!(c.password, None);
        assert_eq!(
            err(
                &connect(level, 0x82, &[0], b"\x00\x00\x00\x01u\x00\x02pw"),
                V4
            ),
            DecodeError::TrailingBytes(4)
        );
        let bytes = encode(
            &Packet::Connect(Box::new(Connect {
                protocol: version_of(level),
                username: Some(s("u")),
                ..Connect::default()
            })),
            version_of(level),
        );
        assert_eq!(bytes[9] & 0x40, 0);
        assert!(bytes.ends_with(b"\x00\x01u"));
    }
}

#[test]
fn mqtt_3_1_2_19_password_flag_1_password_present() {
    // 5.0 [MQTT-3.1.2-19] / 3.1.1 [MQTT-3.1.2-21]: If the Password Flag is set to 1, a Password
    // MUST be present in the Payload.
    for level in [4u8, 5] {
        let e = err(&connect(level, 0xC2, &[0], b"\x00\x00\x00\x01u"), V4);
        assert_eq!(e, DecodeError::Truncated);
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        let c = decode_connect(&connect(level, 0xC2, &[0], b"\x00\x00\x00\x01u\x00\x02pw"));
        assert_eq!(c.password.as_deref(), Some(&b"pw"[..]));
        let bytes = encode(
            &Packet::Connect(Box::new(Connect {
                protocol: version_of(level),
                username: Some(s("u")),
                password: Some(Bytes::from_static(b"pw")),
                ..Connect::default()
            })),
            version_of(level),
        );
        assert_eq!(bytes[9] & 0x40, 0x40);
        assert!(bytes.ends_with(b"\x00\x01u\x00\x02pw"));
    }
}

#[test]
fn mqtt_3_1_3_1_payload_field_order() {
    // 5.0 [MQTT-3.1.3-1] These fields, if present, MUST appear in the order Client Identifier,
    // Will Properties, Will Topic, Will Payload, User Name, Password.
    // (3.1.1 [MQTT-3.1.3-1]: Client Identifier, Will Topic, Will Message, User Name, Password.)
    let every_field = |version: ProtocolVersion| Connect {
        protocol: version,
        client_id: s("c"),
        will: Some(LastWill {
            topic: TopicName::new("w").unwrap(),
            payload: Bytes::from_static(b"m"),
            properties: WillProperties {
                will_delay_interval: Some(10),
                ..WillProperties::default()
            },
            ..LastWill::default()
        }),
        username: Some(s("u")),
        password: Some(Bytes::from_static(b"p")),
        ..Connect::default()
    };
    let v4 = b"\x10\x19\x00\x04MQTT\x04\xC6\x00\x3C\
               \x00\x01c\x00\x01w\x00\x01m\x00\x01u\x00\x01p";
    let v5 = b"\x10\x20\x00\x04MQTT\x05\xC6\x00\x3C\x00\
               \x00\x01c\x05\x18\x00\x00\x00\x0A\x00\x01w\x00\x01m\x00\x01u\x00\x01p";
    for (version, wire) in [(V4, &v4[..]), (V5, &v5[..])] {
        let mut expected = every_field(version);
        if version == V4 {
            // 3.1.1 has no Will Properties; they are neither sent nor received.
            expected.will.as_mut().unwrap().properties = WillProperties::default();
        }
        assert_eq!(
            encode(&Packet::Connect(Box::new(every_field(version))), version),
            wire
        );
        // Each field is taken from its position: distinct one-letter values land where they belong.
        assert_eq!(decode_connect(wire), expected, "{version}");
    }
}

#[test]
fn mqtt_3_1_3_3_client_id_present_and_first() {
    // 5.0 [MQTT-3.1.3-3] The ClientID MUST be present and is the first field in the CONNECT packet
    // Payload. (3.1.1 [MQTT-3.1.3-3]: MUST be present and MUST be the first field.)
    for level in [4u8, 5] {
        // No payload at all: the Client Identifier is missing.
        let e = err(&connect(level, 0x02, &[0], b""), V4);
        assert_eq!(e, DecodeError::Truncated, "level {level}");
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        // The first field of the payload is the Client Identifier, even with a user name after it.
        let c = decode_connect(&connect(level, 0x82, &[0], b"\x00\x02id\x00\x01u"));
        assert_eq!(c.client_id, "id");
        assert_eq!(c.username.as_deref(), Some("u"));
        // The encoder writes it right after the variable header, even when empty.
        let version = version_of(level);
        let header_len = if level == 5 { 13 } else { 12 };
        for client_id in ["", "id"] {
            let bytes = encode(
                &Packet::Connect(Box::new(Connect {
                    protocol: version,
                    client_id: s(client_id),
                    username: Some(s("u")),
                    ..Connect::default()
                })),
                version,
            );
            let field = [&[0, client_id.len() as u8][..], client_id.as_bytes()].concat();
            assert_eq!(&bytes[header_len..header_len + field.len()], &field[..]);
        }
    }
}

#[test]
fn mqtt_3_1_3_11_will_topic_is_utf8() {
    // 5.0 [MQTT-3.1.3-11] / 3.1.1 [MQTT-3.1.3-10]: The Will Topic MUST be a UTF-8 Encoded String.
    for level in [4u8, 5] {
        for (topic, expected) in [
            (&b"\x00\x02\xC3\x28"[..], DecodeError::InvalidUtf8),
            (b"\x00\x03\xED\xA0\x80", DecodeError::InvalidUtf8),
            (b"\x00\x02t\x00", DecodeError::NullCharacter),
        ] {
            let will = [topic, b"\x00\x00"].concat();
            let payload = [&b"\x00\x00"[..], &will_fields(level, &will)].concat();
            let e = err(&connect(level, 0x06, &[0], &payload), V4);
            assert_eq!(e, expected, "level {level}");
            assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        }
    }
}

#[test]
fn mqtt_3_1_3_12_user_name_is_utf8() {
    // 5.0 [MQTT-3.1.3-12] / 3.1.1 [MQTT-3.1.3-11]: The User Name MUST be a UTF-8 Encoded String.
    for level in [4u8, 5] {
        for (name, expected) in [
            (&b"\x00\x02\xC3\x28"[..], DecodeError::InvalidUtf8),
            (b"\x00\x03\xED\xA0\x80", DecodeError::InvalidUtf8),
            (b"\x00\x02u\x00", DecodeError::NullCharacter),
        ] {
            let payload = [&b"\x00\x00"[..], name].concat();
            let e = err(&connect(level, 0x82, &[0], &payload), V4);
            assert_eq!(e, expected, "level {level}");
            assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH properties and acknowledgement reason codes (spec 3.3-3.7)

#[test]
fn mqtt_3_3_2_13_response_topic_is_utf8() {
    // [MQTT-3.3.2-13] The Response Topic MUST be a UTF-8 Encoded String.
    for (value, expected) in [
        (&b"\x00\x02\xC3\x28"[..], DecodeError::InvalidUtf8),
        (b"\x00\x02r\x00", DecodeError::NullCharacter),
    ] {
        let mut props = vec![0x08];
        props.extend_from_slice(value);
        let mut body = b"\x00\x01a".to_vec();
        body.push(props.len() as u8);
        body.extend_from_slice(&props);
        let e = err(&packet(0x30, &body), V5);
        assert_eq!(e, expected);
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
    // The same property in the Will Properties of CONNECT.
    let will = b"\x05\x08\x00\x02\xC3\x28\x00\x01t\x00\x00";
    let payload = [&b"\x00\x00"[..], &will[..]].concat();
    assert_eq!(
        err(&connect(5, 0x06, &[0], &payload), V5),
        DecodeError::InvalidUtf8
    );
}

/// Decodes every one-byte Reason Code in a 5.0 acknowledgement whose body is `prefix` then the
/// code, and returns the codes that were accepted.
fn accepted_codes(first: u8, prefix: &[u8]) -> Vec<u8> {
    let mut accepted = Vec::new();
    for code in 0..=255u8 {
        let mut body = prefix.to_vec();
        body.push(code);
        match decode(&packet(first, &body), V5) {
            Ok(_) => accepted.push(code),
            Err(e) => {
                assert!(
                    matches!(e, DecodeError::InvalidReasonCode { code: c, .. } if c == code),
                    "{code:#04x}: {e:?}"
                );
                assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
            }
        }
    }
    accepted
}

#[test]
fn mqtt_3_5_2_1_pubrec_reason_codes() {
    // [MQTT-3.5.2-1] The Client or Server sending the PUBREC packet MUST use one of the PUBREC
    // Reason Code values.
    assert_eq!(
        accepted_codes(0x50, b"\x00\x01"),
        [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
    );
    let bad = PubRec {
        reason_code: ReasonCode::PacketIdentifierNotFound,
        ..PubRec::new(id(1))
    };
    assert!(matches!(
        Packet::PubRec(bad).encoded_len(V5),
        Err(EncodeError::InvalidReasonCode {
            packet: PacketType::PubRec,
            code: ReasonCode::PacketIdentifierNotFound
        })
    ));
    let ok = PubRec {
        reason_code: ReasonCode::QuotaExceeded,
        ..PubRec::new(id(1))
    };
    assert_eq!(encode(&Packet::PubRec(ok), V5), b"\x50\x03\x00\x01\x97");
}

#[test]
fn mqtt_3_7_2_1_pubcomp_reason_codes() {
    // [MQTT-3.7.2-1] The Client or Server sending the PUBCOMP packet MUST use one of the PUBCOMP
    // Reason Code values.
    assert_eq!(accepted_codes(0x70, b"\x00\x01"), [0x00, 0x92]);
    let bad = PubComp {
        reason_code: ReasonCode::NoMatchingSubscribers,
        ..PubComp::new(id(1))
    };
    assert!(matches!(
        Packet::PubComp(bad).encoded_len(V5),
        Err(EncodeError::InvalidReasonCode {
            packet: PacketType::PubComp,
            ..
        })
    ));
    let ok = PubComp {
        reason_code: ReasonCode::PacketIdentifierNotFound,
        ..PubComp::new(id(1))
    };
    assert_eq!(encode(&Packet::PubComp(ok), V5), b"\x70\x03\x00\x01\x92");
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, AUTH (spec 3.8-3.11, 3.15)

#[test]
fn mqtt_3_8_3_1_subscribe_topic_filters_are_utf8() {
    // 5.0 [MQTT-3.8.3-1] The Topic Filters MUST be a UTF-8 Encoded String.
    // (3.1.1 [MQTT-3.8.3-1]: The Topic Filters in a SUBSCRIBE packet payload MUST be UTF-8
    // encoded strings.)
    for (version, header) in [(V4, &b"\x00\x01"[..]), (V5, b"\x00\x01\x00")] {
        for (filter, expected) in [
            (&b"\x00\x02\xC3\x28"[..], DecodeError::InvalidUtf8),
            (b"\x00\x03\xED\xA0\x80", DecodeError::InvalidUtf8),
            (b"\x00\x02a\x00", DecodeError::NullCharacter),
        ] {
            // A valid first filter, then the bad one.
            let body = [header, b"\x00\x01a\x00", filter, b"\x00"].concat();
            let e = err(&packet(0x82, &body), version);
            assert_eq!(e, expected, "{version}");
            assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        }
    }
}

#[test]
fn mqtt_3_9_3_2_suback_reason_codes() {
    // 5.0 [MQTT-3.9.3-2] The Server sending a SUBACK packet MUST use one of the Subscribe Reason
    // Codes for each Topic Filter received. (3.1.1 [MQTT-3.9.3-2]: SUBACK return codes other than
    // 0x00, 0x01, 0x02 and 0x80 are reserved and MUST NOT be used.)
    assert_eq!(
        accepted_codes(0x90, b"\x00\x01\x00"),
        [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
    );
    let v311: Vec<u8> = (0..=255u8)
        .filter(|&code| decode(&packet(0x90, &[0, 1, code]), V4).is_ok())
        .collect();
    assert_eq!(v311, [0x00, 0x01, 0x02, 0x80]);
    // The encoder refuses a code that is not a Subscribe Reason Code, in any version ...
    for version in [V4, V5] {
        let bad = SubAck::new(
            id(1),
            vec![ReasonCode::GrantedQoS1, ReasonCode::NoMatchingSubscribers],
        );
        assert!(matches!(
            Packet::SubAck(bad).encoded_len(version),
            Err(EncodeError::InvalidReasonCode {
                packet: PacketType::SubAck,
                code: ReasonCode::NoMatchingSubscribers
            })
        ));
    }
    // ... and sends 5.0 failure codes to a 3.1.1 client as 0x80.
    let mixed = Packet::SubAck(SubAck::new(
        id(1),
        vec![ReasonCode::QuotaExceeded, ReasonCode::GrantedQoS2],
    ));
    assert_eq!(encode(&mixed, V5), b"\x90\x05\x00\x01\x00\x97\x02");
    assert_eq!(encode(&mixed, V4), b"\x90\x04\x00\x01\x80\x02");
}

#[test]
fn mqtt_3_10_3_1_unsubscribe_topic_filters_are_utf8() {
    // 5.0 [MQTT-3.10.3-1] The Topic Filters in an UNSUBSCRIBE packet MUST be UTF-8 Encoded
    // Strings. (3.1.1 [MQTT-3.10.3-1]: ... MUST be UTF-8 encoded strings as defined in Section
    // 1.5.3, packed contiguously.)
    for (version, header) in [(V4, &b"\x00\x01"[..]), (V5, b"\x00\x01\x00")] {
        for (filter, expected) in [
            (&b"\x00\x02\xC3\x28"[..], DecodeError::InvalidUtf8),
            (b"\x00\x03\xED\xA0\x80", DecodeError::InvalidUtf8),
            (b"\x00\x02a\x00", DecodeError::NullCharacter),
        ] {
            let body = [header, b"\x00\x01a", filter].concat();
            let e = err(&packet(0xA2, &body), version);
            assert_eq!(e, expected, "{version}");
            assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
        }
        // Packed contiguously: one length-prefixed string after the other, nothing between.
        let filters = vec![
            TopicFilter::new("a").unwrap(),
            TopicFilter::new("b/+").unwrap(),
        ];
        let wire = [
            &[0xA2, header.len() as u8 + 8][..],
            header,
            b"\x00\x01a\x00\x03b/+",
        ]
        .concat();
        let unsubscribe = Packet::Unsubscribe(Unsubscribe::new(id(1), filters));
        assert_eq!(encode(&unsubscribe, version), wire);
        assert_eq!(decode(&wire, version).unwrap(), unsubscribe);
    }
}

#[test]
fn mqtt_3_11_3_2_unsuback_reason_codes() {
    // [MQTT-3.11.3-2] The Server sending an UNSUBACK packet MUST use one of the Unsubscribe Reason
    // Code values for each Topic Filter received.
    assert_eq!(
        accepted_codes(0xB0, b"\x00\x01\x00"),
        [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
    );
    let bad = UnsubAck::new(id(1), vec![ReasonCode::Success, ReasonCode::GrantedQoS1]);
    assert!(matches!(
        Packet::UnsubAck(bad).encoded_len(V5),
        Err(EncodeError::InvalidReasonCode {
            packet: PacketType::UnsubAck,
            code: ReasonCode::GrantedQoS1
        })
    ));
    let ok = Packet::UnsubAck(UnsubAck::new(
        id(1),
        vec![ReasonCode::NoSubscriptionExisted, ReasonCode::Success],
    ));
    assert_eq!(encode(&ok, V5), b"\xB0\x05\x00\x01\x00\x11\x00");
}

#[test]
fn mqtt_3_15_1_1_auth_reserved_flags() {
    // [MQTT-3.15.1-1] Bits 3,2,1 and 0 of the Fixed Header of the AUTH packet are reserved and
    // MUST all be set to 0. The Client or Server MUST treat any other value as malformed and close
    // the Network Connection.
    for flags in 1..=15u8 {
        let e = err(&[0xF0 | flags, 0x00], V5);
        assert_eq!(
            e,
            DecodeError::InvalidFixedHeaderFlags {
                packet: PacketType::Auth,
                flags
            }
        );
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
    assert_eq!(
        decode(&[0xF0, 0x00], V5).unwrap(),
        Packet::from(Auth::default())
    );
    let auth = Packet::from(Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some(s("SCRAM-SHA-1")),
            ..AuthProperties::default()
        },
    });
    assert_eq!(encode(&auth, V5)[0], 0xF0);
}
