//! One test per validation rule: raw bytes that break exactly one rule, the error the decoder
//! must report, and the MQTT 5 reason code a receiver answers it with. Each test names the
//! normative statement it checks (3.1.1 and 5.0 numbering is given where they differ).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::{Bytes, BytesMut};
use mqtt_codec::*;

const V31: ProtocolVersion = ProtocolVersion::V3_1;
const V4: ProtocolVersion = ProtocolVersion::V3_1_1;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn decode(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
    Packet::decode(bytes, version)
}

fn err(bytes: &[u8], version: ProtocolVersion) -> DecodeError {
    decode(bytes, version).expect_err("must be rejected")
}

/// A fixed header with a one-byte Remaining Length in front of `body`.
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut v = vec![first, body.len() as u8];
    v.extend_from_slice(body);
    v
}

/// A 3.1.1 / 5.0 CONNECT body with the given flags and payload.
fn connect_body(level: u8, flags: u8, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut v = b"\x00\x04MQTT".to_vec();
    v.push(level);
    v.push(flags);
    v.extend_from_slice(&[0, 60]);
    if level == 5 {
        v.extend_from_slice(props);
    }
    v.extend_from_slice(payload);
    v
}

// ---------------------------------------------------------------------------------------------
// Fixed header (spec 2.1)

#[test]
fn mqtt_2_1_3_1_reserved_fixed_header_flags() {
    // [MQTT-2.1.3-1] Where a flag bit is marked as "Reserved", it is reserved for future use and
    // MUST be set to the value listed.
    let cases: &[(u8, &[u8], PacketType)] = &[
        (0x41, &[0, 1], PacketType::PubAck),
        (0x60, &[0, 1], PacketType::PubRel), // PUBREL needs 0b0010
        (0x80, &[0, 1, 0, 1, b'a', 0], PacketType::Subscribe),
        (0xA0, &[0, 1, 0, 1, b'a'], PacketType::Unsubscribe),
        (0xC1, &[], PacketType::PingReq),
        (0xD8, &[], PacketType::PingResp),
        (0xE2, &[], PacketType::Disconnect),
        (0x24, &[0, 0], PacketType::ConnAck),
    ];
    for (first, body, packet_type) in cases {
        let e = err(&packet(*first, body), V4);
        assert_eq!(
            e,
            DecodeError::InvalidFixedHeaderFlags {
                packet: *packet_type,
                flags: first & 0x0F
            }
        );
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

#[test]
fn packet_type_0_and_auth_before_v5_are_invalid() {
    assert_eq!(err(&[0x00, 0x00], V4), DecodeError::InvalidPacketType(0));
    // Type 15 is reserved in 3.1.1 and AUTH in 5.0.
    assert_eq!(err(&[0xF0, 0x00], V4), DecodeError::InvalidPacketType(15));
    assert!(matches!(decode(&[0xF0, 0x00], V5), Ok(Packet::Auth(_))));
}

#[test]
fn remaining_length_over_four_bytes_is_malformed() {
    // Spec 1.5.5 / 2.2.3: at most four bytes.
    let mut decoder = Decoder::new(V5);
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01][..]);
    let e = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(e, DecodeError::VarIntTooLong);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn mqtt_1_5_5_1_remaining_length_in_minimal_form() {
    // [MQTT-1.5.5-1] The encoded value MUST use the minimum number of bytes necessary.
    assert_eq!(err(&[0xC0, 0x80, 0x00], V5), DecodeError::NonMinimalVarInt);
}

#[test]
fn remaining_length_longer_than_content_is_malformed() {
    // PINGREQ has no body; 3.1.1 PUBACK has exactly two bytes.
    assert_eq!(err(&[0xC0, 0x01, 0x00], V4), DecodeError::TrailingBytes(1));
    assert_eq!(
        err(&[0x40, 0x03, 0x00, 0x01, 0x00], V4),
        DecodeError::TrailingBytes(1)
    );
    // A 3.1.1 DISCONNECT has no body either.
    assert_eq!(err(&[0xE0, 0x01, 0x00], V4), DecodeError::TrailingBytes(1));
}

#[test]
fn remaining_length_shorter_than_content_is_malformed() {
    // PUBACK needs two bytes of Packet Identifier.
    let e = err(&[0x40, 0x01, 0x00], V4);
    assert_eq!(e, DecodeError::Truncated);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    // A topic length pointing past the end of the packet.
    assert_eq!(
        err(&packet(0x30, &[0, 9, b'a']), V4),
        DecodeError::Truncated
    );
}

// ---------------------------------------------------------------------------------------------
// Maximum packet size: refused from the fixed header, before the body is buffered.

#[test]
fn oversized_packet_is_refused_before_its_body_arrives() {
    let mut decoder = Decoder::new(V5);
    decoder.set_max_packet_size(1024);
    // A hostile peer announces a 256 MB PUBLISH and sends only the header.
    let mut buf = BytesMut::from(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F][..]);
    let capacity_before = buf.capacity();
    let e = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(
        e,
        DecodeError::PacketTooLarge {
            size: 268_435_455 + 5,
            max: 1024
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::PacketTooLarge);
    assert_eq!(
        buf.capacity(),
        capacity_before,
        "nothing reserved for the body"
    );
}

#[test]
fn packet_of_exactly_the_maximum_size_is_accepted() {
    let mut decoder = Decoder::new(V4);
    decoder.set_max_packet_size(7);
    // 30 05 00 01 61 68 69: 7 bytes.
    let mut buf = BytesMut::from(&b"\x30\x05\x00\x01ahi"[..]);
    assert!(decoder.decode(&mut buf).unwrap().is_some());
    decoder.set_max_packet_size(6);
    let mut buf = BytesMut::from(&b"\x30\x05\x00\x01ahi"[..]);
    assert!(matches!(
        decoder.decode(&mut buf),
        Err(DecodeError::PacketTooLarge { size: 7, max: 6 })
    ));
}

#[test]
fn decoder_reserves_room_for_a_partial_packet_it_accepts() {
    let mut decoder = Decoder::new(V4);
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x01, 0x00][..]); // 128-byte body announced
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(buf.capacity() >= 131);
}

// ---------------------------------------------------------------------------------------------
// CONNECT (spec 3.1)

#[test]
fn mqtt_3_1_0_1_first_packet_must_be_connect() {
    // [MQTT-3.1.0-1] After a Network Connection is established by a Client to a Server, the first
    // packet sent from the Client to the Server MUST be a CONNECT packet.
    let mut decoder = Decoder::new_server();
    let mut buf = BytesMut::from(&b"\x30\x05\x00\x01ahi"[..]);
    let e = decoder.decode(&mut buf).unwrap_err();
    assert_eq!(e, DecodeError::ExpectedConnect(PacketType::Publish));
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn server_decoder_adopts_the_version_of_connect() {
    for (level, version) in [(4u8, V4), (5, V5)] {
        let mut decoder = Decoder::new_server();
        let props: &[u8] = &[0];
        let mut buf = BytesMut::from(&packet(0x10, &connect_body(level, 0x02, props, &[0, 0]))[..]);
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Packet::Connect(_)))
        ));
        assert_eq!(decoder.version(), Some(version));
    }
    let mut decoder = Decoder::new_server();
    let mut buf = BytesMut::from(&b"\x10\x0e\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x00"[..]);
    assert!(matches!(
        decoder.decode(&mut buf),
        Ok(Some(Packet::Connect(_)))
    ));
    assert_eq!(decoder.version(), Some(V31));
}

#[test]
fn mqtt_3_1_2_1_protocol_name() {
    // [MQTT-3.1.2-1] If the protocol name is incorrect the Server MAY disconnect the Client.
    let body = b"\x00\x04MQTX\x04\x02\x00\x3c\x00\x00";
    let e = err(&packet(0x10, body), V4);
    assert_eq!(e, DecodeError::InvalidProtocolName);
    assert_eq!(e.reason_code(), ReasonCode::UnsupportedProtocolVersion);
    // "MQIsdp" is the name of level 3 only, "MQTT" of levels 4 and 5.
    let body = b"\x00\x06MQIsdp\x04\x02\x00\x3c\x00\x00";
    assert_eq!(
        err(&packet(0x10, body), V4),
        DecodeError::UnsupportedProtocolLevel(4)
    );
}

#[test]
fn mqtt_3_1_2_2_unsupported_protocol_level() {
    // [MQTT-3.1.2-2] (3.1.1) The Server MUST respond to the CONNECT Packet with a CONNACK return
    // code 0x01 (unacceptable protocol level) and then disconnect the Client if the Protocol Level
    // is not supported. (5.0: reason code 0x84.)
    let e = err(&packet(0x10, &connect_body(6, 0x02, &[], &[0, 0])), V4);
    assert_eq!(e, DecodeError::UnsupportedProtocolLevel(6));
    assert_eq!(e.reason_code(), ReasonCode::UnsupportedProtocolVersion);
    assert_eq!(e.reason_code().to_v3_connack(), 1);
}

#[test]
fn mosquitto_bridge_levels_0x83_and_0x84_decode_as_bridges() {
    // Not in the specification: Mosquitto's bridges with `try_private` send the 3.1 / 3.1.1
    // level with the top bit set; Mosquitto accepts them and treats the client as a bridge.
    let bytes = packet(0x10, &connect_body(0x84, 0x02, &[], &[0, 1, b'b']));
    let Ok(Packet::Connect(c)) = decode(&bytes, V4) else {
        panic!("0x84 must decode");
    };
    assert_eq!(c.protocol, V4);
    assert!(c.bridge);
    // Encoding puts the bit back: the same bytes.
    let mut buf = BytesMut::new();
    Packet::Connect(c).encode(V4, &mut buf).unwrap();
    assert_eq!(buf.as_ref(), bytes.as_slice());

    let mut body = b"\x00\x06MQIsdp\x83\x02\x00\x3c".to_vec();
    body.extend_from_slice(&[0, 1, b'b']);
    let Ok(Packet::Connect(c)) = decode(&packet(0x10, &body), V31) else {
        panic!("0x83 must decode");
    };
    assert_eq!((c.protocol, c.bridge), (V31, true));

    // A plain level is no bridge; 5.0 has no bridge level (0x85 stays unsupported), and the
    // flag is not encoded for 5.0.
    let Ok(Packet::Connect(c)) = decode(&packet(0x10, &connect_body(4, 0x02, &[], &[0, 0])), V4)
    else {
        panic!("level 4 must decode");
    };
    assert!(!c.bridge);
    assert_eq!(
        err(&packet(0x10, &connect_body(0x85, 0x02, &[0], &[0, 0])), V4),
        DecodeError::UnsupportedProtocolLevel(0x85)
    );
    let v5 = Connect {
        bridge: true,
        ..Connect::default()
    };
    let mut buf = BytesMut::new();
    Packet::from(v5).encode(V5, &mut buf).unwrap();
    assert_eq!(buf.get(8), Some(&5));
}

#[test]
fn mqtt_3_1_2_3_connect_reserved_flag() {
    // [MQTT-3.1.2-3] The Server MUST validate that the reserved flag in the CONNECT packet is set
    // to 0 and disconnect the Client if it is not.
    for level in [4u8, 5] {
        let e = err(&packet(0x10, &connect_body(level, 0x03, &[0], &[0, 0])), V4);
        assert_eq!(e, DecodeError::ConnectReservedFlag);
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

#[test]
fn mqtt_3_1_2_11_and_13_will_qos_and_retain_need_the_will_flag() {
    // 3.1.1 [MQTT-3.1.2-13] / 5.0 [MQTT-3.1.2-11]: if the Will Flag is 0, Will QoS MUST be 0.
    let e = err(
        &packet(0x10, &connect_body(4, 0x02 | 0x08, &[], &[0, 0])),
        V4,
    );
    assert_eq!(e, DecodeError::InvalidWillFlags);
    // 3.1.1 [MQTT-3.1.2-15] / 5.0 [MQTT-3.1.2-13]: if the Will Flag is 0, Will Retain MUST be 0.
    let e = err(
        &packet(0x10, &connect_body(5, 0x02 | 0x20, &[0], &[0, 0])),
        V5,
    );
    assert_eq!(e, DecodeError::InvalidWillFlags);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn mqtt_3_1_2_14_will_qos_3_is_malformed() {
    // 3.1.1 [MQTT-3.1.2-14] / 5.0 [MQTT-3.1.2-12]: Will QoS MUST NOT be 3.
    let payload = b"\x00\x00\x00\x01t\x00\x00";
    let e = err(
        &packet(0x10, &connect_body(4, 0x02 | 0x04 | 0x18, &[], payload)),
        V4,
    );
    assert_eq!(e, DecodeError::InvalidWillFlags);
}

#[test]
fn mqtt_3_1_2_22_password_needs_user_name_before_v5() {
    // [MQTT-3.1.2-22] (3.1.1) If the User Name Flag is set to 0, the Password Flag MUST be 0.
    let payload = b"\x00\x00\x00\x02pw";
    let e = err(
        &packet(0x10, &connect_body(4, 0x02 | 0x40, &[], payload)),
        V4,
    );
    assert_eq!(e, DecodeError::PasswordWithoutUsername);
    // MQTT 5 allows a password without a user name (spec 3.1.2.9).
    let ok = decode(
        &packet(0x10, &connect_body(5, 0x02 | 0x40, &[0], payload)),
        V5,
    )
    .unwrap();
    match ok {
        Packet::Connect(c) => assert_eq!(c.password.as_deref(), Some(&b"pw"[..])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mqtt_3_1_3_client_id_must_be_valid_utf8() {
    // 3.1.1 [MQTT-3.1.3-4] / 5.0 [MQTT-3.1.3-4]: The ClientID MUST be a UTF-8 Encoded String.
    let e = err(
        &packet(0x10, &connect_body(4, 0x02, &[], b"\x00\x02\xC3\x28")),
        V4,
    );
    assert_eq!(e, DecodeError::InvalidUtf8);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn will_topic_must_be_a_valid_topic_name() {
    // [MQTT-3.1.3-11] (5.0) The Will Topic MUST be a UTF-8 Encoded String; it is a Topic Name.
    let payload = b"\x00\x00\x00\x03a/#\x00\x00";
    let e = err(
        &packet(0x10, &connect_body(4, 0x02 | 0x04, &[], payload)),
        V4,
    );
    assert_eq!(e, DecodeError::InvalidTopic(InvalidTopic::WildcardInName));
}

#[test]
fn authentication_data_needs_a_method() {
    // Spec 3.1.2.11.10: It is a Protocol Error to include Authentication Data if there is no
    // Authentication Method.
    let props = [3, 0x16, 0, 0];
    let e = err(&packet(0x10, &connect_body(5, 0x02, &props, &[0, 0])), V5);
    assert_eq!(e, DecodeError::AuthDataWithoutMethod);
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
}

// ---------------------------------------------------------------------------------------------
// CONNACK (spec 3.2)

#[test]
fn mqtt_3_2_2_1_connack_reserved_flags() {
    // [MQTT-3.2.2-1] Byte 1 is the "Connect Acknowledge Flags". Bits 7-1 are reserved and MUST be 0.
    let e = err(&[0x20, 0x02, 0x02, 0x00], V4);
    assert_eq!(e, DecodeError::ConnAckReservedFlags);
}

#[test]
fn mqtt_3_2_2_4_and_6_no_session_present_on_refusal() {
    // 3.1.1 [MQTT-3.2.2-4] / 5.0 [MQTT-3.2.2-6]: a non-zero return/reason code MUST come with
    // Session Present 0.
    assert_eq!(
        err(&[0x20, 0x02, 0x01, 0x05], V4),
        DecodeError::SessionPresentWithError
    );
    assert_eq!(
        err(&[0x20, 0x03, 0x01, 0x87, 0x00], V5),
        DecodeError::SessionPresentWithError
    );
}

#[test]
fn connack_return_codes() {
    // 3.1.1 spec 3.2.2.3: 0-5 are defined, 6-255 reserved.
    assert_eq!(
        err(&[0x20, 0x02, 0x00, 0x06], V4),
        DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code: 6
        }
    );
    // 5.0: only the codes of table 3-1 (0x8E Session taken over is a DISCONNECT code).
    assert_eq!(
        err(&[0x20, 0x03, 0x00, 0x8E, 0x00], V5),
        DecodeError::InvalidReasonCode {
            packet: PacketType::ConnAck,
            code: 0x8E
        }
    );
    // MQTT 3.1 has no Session Present flag: the reserved bit is ignored.
    match decode(&[0x20, 0x02, 0x01, 0x00], V31).unwrap() {
        Packet::ConnAck(c) => assert!(!c.session_present),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH (spec 3.3)

#[test]
fn mqtt_3_3_1_4_qos_3_is_malformed() {
    // [MQTT-3.3.1-4] A PUBLISH Packet MUST NOT have both QoS bits set to 1.
    let e = err(&packet(0x36, b"\x00\x01a\x00\x01"), V4);
    assert_eq!(e, DecodeError::InvalidQoS);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn mqtt_3_3_1_2_dup_must_be_0_for_qos_0() {
    // [MQTT-3.3.1-2] The DUP flag MUST be set to 0 for all QoS 0 messages.
    assert_eq!(
        err(&packet(0x38, b"\x00\x01a"), V4),
        DecodeError::DupWithQoS0
    );
}

#[test]
fn mqtt_2_2_1_3_packet_identifier_is_never_0() {
    // 3.1.1 [MQTT-2.3.1-1] / 5.0 [MQTT-2.2.1-3]: SUBSCRIBE, UNSUBSCRIBE and PUBLISH (QoS > 0)
    // MUST contain a non-zero Packet Identifier.
    let cases: [&[u8]; 5] = [
        &packet(0x32, b"\x00\x01a\x00\x00"),
        &packet(0x82, b"\x00\x00\x00\x01a\x00"),
        &packet(0xA2, b"\x00\x00\x00\x01a"),
        &packet(0x40, b"\x00\x00"),
        &packet(0x62, b"\x00\x00"),
    ];
    for bytes in cases {
        let e = err(bytes, V4);
        assert_eq!(e, DecodeError::ZeroPacketId);
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
}

#[test]
fn mqtt_3_3_2_2_topic_name_without_wildcards() {
    // [MQTT-3.3.2-2] The Topic Name in the PUBLISH Packet MUST NOT contain wildcard characters.
    for topic in [&b"a/+"[..], b"#", b"a/#"] {
        let mut body = vec![0, topic.len() as u8];
        body.extend_from_slice(topic);
        let e = err(&packet(0x30, &body), V4);
        assert_eq!(e, DecodeError::InvalidTopic(InvalidTopic::WildcardInName));
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

#[test]
fn mqtt_4_7_3_1_empty_topic_name() {
    // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
    assert_eq!(
        err(&packet(0x30, b"\x00\x00hi"), V4),
        DecodeError::InvalidTopic(InvalidTopic::Empty)
    );
    // 5.0 allows an empty Topic Name only together with a Topic Alias (spec 3.3.2.3.4) ...
    let e = err(&packet(0x30, b"\x00\x00\x00hi"), V5);
    assert_eq!(e, DecodeError::EmptyTopicWithoutAlias);
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    // ... where the receiver resolves the alias.
    match decode(&packet(0x30, b"\x00\x00\x03\x23\x00\x01hi"), V5).unwrap() {
        Packet::Publish(p) => {
            assert!(p.topic.is_empty());
            assert_eq!(p.topic_alias.map(|a| a.get()), Some(1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn mqtt_1_5_4_1_topic_must_be_well_formed_utf8() {
    // [MQTT-1.5.4-1] ill-formed UTF-8 (here an encoded surrogate, U+D800).
    let e = err(&packet(0x30, b"\x00\x03\xED\xA0\x80"), V4);
    assert_eq!(e, DecodeError::InvalidUtf8);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn mqtt_1_5_4_2_null_character_in_a_string() {
    // [MQTT-1.5.4-2] A UTF-8 Encoded String MUST NOT include an encoding of the null character.
    let e = err(&packet(0x30, b"\x00\x03a\x00b"), V4);
    assert_eq!(e, DecodeError::NullCharacter);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn mqtt_3_3_2_14_response_topic_without_wildcards() {
    // [MQTT-3.3.2-14] The Response Topic MUST NOT contain wildcard characters.
    let body = b"\x00\x01a\x06\x08\x00\x03r/#";
    let e = err(&packet(0x30, body), V5);
    assert_eq!(e, DecodeError::InvalidTopic(InvalidTopic::WildcardInName));
}

#[test]
fn payload_is_a_zero_copy_slice_of_the_input() {
    let mut buf = BytesMut::from(&b"\x30\x07\x00\x03a/bhi"[..]);
    let base = buf.as_ptr() as usize;
    let packet = Decoder::new(V4).decode(&mut buf).unwrap().unwrap();
    let Packet::Publish(p) = packet else {
        panic!("not a publish")
    };
    // The payload and topic point into the original allocation: nothing was copied.
    assert_eq!(p.payload.as_ptr() as usize, base + 7);
    assert_eq!(p.topic.as_bytes().as_ptr() as usize, base + 4);
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE / UNSUBSCRIBE (spec 3.8, 3.10)

#[test]
fn mqtt_4_7_1_wildcard_placement_in_subscribe() {
    // 5.0 [MQTT-4.7.1-1] '#' must be last and alone in its level; [MQTT-4.7.1-2] '+' must
    // occupy a whole level (3.1.1: [MQTT-4.7.1-2], [MQTT-4.7.1-3]).
    for (filter, expected) in [
        (&b"a/#/b"[..], InvalidTopic::MisplacedMultiLevelWildcard),
        (b"a#", InvalidTopic::MisplacedMultiLevelWildcard),
        (b"a+/b", InvalidTopic::MisplacedSingleLevelWildcard),
    ] {
        let mut body = vec![0, 1, 0, filter.len() as u8];
        body.extend_from_slice(filter);
        body.push(0);
        let e = err(&packet(0x82, &body), V4);
        assert_eq!(e, DecodeError::InvalidTopic(expected));
        assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    }
}

#[test]
fn mqtt_3_8_3_3_subscribe_needs_a_filter() {
    // 3.1.1 [MQTT-3.8.3-3] / 5.0 [MQTT-3.8.3-2]: the payload MUST contain at least one Topic
    // Filter / Subscription Options pair.
    let e = err(&packet(0x82, b"\x00\x01"), V4);
    assert_eq!(e, DecodeError::NoTopicFilters(PacketType::Subscribe));
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    assert_eq!(
        err(&packet(0x82, b"\x00\x01\x00"), V5),
        DecodeError::NoTopicFilters(PacketType::Subscribe)
    );
}

#[test]
fn mqtt_3_10_3_2_unsubscribe_needs_a_filter() {
    // [MQTT-3.10.3-2] The Payload of an UNSUBSCRIBE packet MUST contain at least one Topic Filter.
    assert_eq!(
        err(&packet(0xA2, b"\x00\x01"), V4),
        DecodeError::NoTopicFilters(PacketType::Unsubscribe)
    );
}

#[test]
fn mqtt_3_8_3_4_v311_reserved_subscription_bits() {
    // 3.1.1 [MQTT-3-8.3-4]: malformed if any reserved bit of the requested QoS byte is non-zero,
    // or QoS is not 0, 1 or 2.
    assert_eq!(
        err(&packet(0x82, b"\x00\x01\x00\x01a\x04"), V4),
        DecodeError::SubscriptionOptionsReserved
    );
    assert_eq!(
        err(&packet(0x82, b"\x00\x01\x00\x01a\x03"), V4),
        DecodeError::InvalidQoS
    );
}

#[test]
fn mqtt_3_8_3_5_v5_reserved_subscription_bits() {
    // [MQTT-3.8.3-5] The Server MUST treat a SUBSCRIBE packet as malformed if any of the
    // Reserved bits in the Payload are non-zero.
    let e = err(&packet(0x82, b"\x00\x01\x00\x00\x01a\x40"), V5);
    assert_eq!(e, DecodeError::SubscriptionOptionsReserved);
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    // Spec 3.8.3.1: It is a Protocol Error to send a Retain Handling value of 3.
    let e = err(&packet(0x82, b"\x00\x01\x00\x00\x01a\x30"), V5);
    assert_eq!(e, DecodeError::InvalidRetainHandling);
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn mqtt_3_8_3_4_no_local_on_shared_subscription() {
    // [MQTT-3.8.3-4] It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription.
    let body = b"\x00\x01\x00\x00\x0a$share/g/a\x04";
    let e = err(&packet(0x82, body), V5);
    assert_eq!(e, DecodeError::NoLocalOnSharedSubscription);
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
}

#[test]
fn mqtt_4_8_2_shared_subscription_syntax_in_subscribe() {
    // [MQTT-4.8.2-1] ShareName at least one character, no '/', '+', '#'; [MQTT-4.8.2-2] a filter
    // follows.
    assert_eq!(
        err(&packet(0x82, b"\x00\x01\x00\x08$share/g\x00"), V4),
        DecodeError::InvalidTopic(InvalidTopic::EmptySharedFilter)
    );
    assert_eq!(
        err(&packet(0x82, b"\x00\x01\x00\x0a$share/+/a\x00"), V4),
        DecodeError::InvalidTopic(InvalidTopic::InvalidShareName)
    );
}

#[test]
fn suback_codes() {
    // 3.1.1 spec 3.9.3: 0x00, 0x01, 0x02 or 0x80; anything else is invalid.
    assert_eq!(
        err(&packet(0x90, b"\x00\x01\x03"), V4),
        DecodeError::InvalidReasonCode {
            packet: PacketType::SubAck,
            code: 3
        }
    );
    match decode(&packet(0x90, b"\x00\x01\x00\x80"), V4).unwrap() {
        Packet::SubAck(s) => assert_eq!(
            s.reason_codes,
            [ReasonCode::GRANTED_QOS_0, ReasonCode::UnspecifiedError]
        ),
        other => panic!("{other:?}"),
    }
    // Every 5.0 failure code goes out as 0x80 to a 3.1.1 subscriber.
    let suback = SubAck::new(
        1.try_into().unwrap(),
        vec![ReasonCode::NotAuthorized, ReasonCode::GrantedQoS1],
    );
    let mut buf = BytesMut::new();
    Packet::SubAck(suback).encode(V4, &mut buf).unwrap();
    assert_eq!(&buf[..], b"\x90\x04\x00\x01\x80\x01");
}

// ---------------------------------------------------------------------------------------------
// Acknowledgements, DISCONNECT and AUTH in 5.0 (spec 3.4-3.7, 3.14, 3.15)

#[test]
fn v5_acks_short_forms() {
    // Spec 3.4.2.1: Remaining Length 2 means Success; spec 3.4.2.2.1: below 4, no properties.
    for bytes in [
        &b"\x40\x02\x00\x01"[..],
        b"\x40\x03\x00\x01\x00",
        b"\x40\x04\x00\x01\x00\x00",
    ] {
        match decode(bytes, V5).unwrap() {
            Packet::PubAck(a) => {
                assert_eq!(a.reason_code, ReasonCode::Success);
                assert!(a.properties.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
    match decode(b"\x50\x03\x00\x01\x10", V5).unwrap() {
        Packet::PubRec(a) => assert_eq!(a.reason_code, ReasonCode::NoMatchingSubscribers),
        other => panic!("{other:?}"),
    }
}

#[test]
fn reason_codes_must_belong_to_the_packet() {
    // PUBACK cannot carry 0x8E Session taken over; PUBREL only 0x00 and 0x92.
    for (bytes, packet) in [
        (&b"\x40\x03\x00\x01\x8E"[..], PacketType::PubAck),
        (b"\x62\x03\x00\x01\x87", PacketType::PubRel),
        (b"\xE0\x01\x19", PacketType::Disconnect),
        (b"\xF0\x02\x87\x00", PacketType::Auth),
    ] {
        let e = err(bytes, V5);
        assert!(
            matches!(e, DecodeError::InvalidReasonCode { packet: p, .. } if p == packet),
            "{e:?}"
        );
        assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    }
}

#[test]
fn disconnect_forms() {
    // Spec 3.14.2.1: Remaining Length 0 means Normal disconnection.
    assert_eq!(
        decode(b"\xE0\x00", V5).unwrap(),
        Packet::from(Disconnect::default())
    );
    assert_eq!(
        decode(b"\xE0\x01\x04", V5).unwrap(),
        Packet::from(Disconnect::new(ReasonCode::DisconnectWithWillMessage))
    );
}

// ---------------------------------------------------------------------------------------------
// Properties (spec 2.2.2)

fn publish_with_props(props: &[u8]) -> Vec<u8> {
    let mut body = b"\x00\x01a".to_vec();
    body.push(props.len() as u8);
    body.extend_from_slice(props);
    body.extend_from_slice(b"hi");
    packet(0x30, &body)
}

#[test]
fn unknown_property_is_malformed() {
    // Spec 2.2.2.2: an Identifier which is not valid for its packet type is a Malformed Packet.
    let e = err(&publish_with_props(&[0x7F, 0]), V5);
    assert_eq!(e, DecodeError::UnknownProperty(0x7F));
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
}

#[test]
fn property_not_allowed_in_packet_is_malformed() {
    // Session Expiry Interval is a CONNECT/CONNACK/DISCONNECT property, not a PUBLISH one.
    let e = err(&publish_with_props(&[0x11, 0, 0, 0, 1]), V5);
    assert_eq!(
        e,
        DecodeError::PropertyNotAllowed {
            property: PropertyId::SessionExpiryInterval,
            packet: PacketType::Publish
        }
    );
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    // Topic Alias is not a CONNECT property.
    let e = err(
        &packet(0x10, &connect_body(5, 0x02, &[3, 0x23, 0, 1], &[0, 0])),
        V5,
    );
    assert!(matches!(
        e,
        DecodeError::PropertyNotAllowed {
            property: PropertyId::TopicAlias,
            ..
        }
    ));
}

#[test]
fn duplicate_property_is_a_protocol_error() {
    // E.g. spec 3.3.2.3.2: It is a Protocol Error to include the Message Expiry Interval more
    // than once.
    let e = err(
        &publish_with_props(&[0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2]),
        V5,
    );
    assert_eq!(
        e,
        DecodeError::DuplicateProperty(PropertyId::MessageExpiryInterval)
    );
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    // Spec 3.8.2.1.2: more than one Subscription Identifier in SUBSCRIBE is a Protocol Error.
    let body = b"\x00\x01\x04\x0b\x01\x0b\x02\x00\x01a\x00";
    assert_eq!(
        err(&packet(0x82, body), V5),
        DecodeError::DuplicateProperty(PropertyId::SubscriptionIdentifier)
    );
}

#[test]
fn user_properties_repeat_and_keep_their_order() {
    // Spec 3.3.2.3.7: User Property may appear multiple times; the order is preserved
    // [MQTT-3.3.2-18] (forwarding keeps it).
    let props = b"\x26\x00\x01k\x00\x012\x26\x00\x01a\x00\x011\x26\x00\x01k\x00\x011";
    match decode(&publish_with_props(props), V5).unwrap() {
        Packet::Publish(p) => {
            let pairs: Vec<(&str, &str)> = p
                .properties
                .user_properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(pairs, [("k", "2"), ("a", "1"), ("k", "1")]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn subscription_identifiers_repeat_in_publish() {
    // Spec 3.3.2.3.8: multiple Subscription Identifiers are included when several subscriptions
    // matched.
    match decode(&publish_with_props(&[0x0B, 0x01, 0x0B, 0x80, 0x01]), V5).unwrap() {
        Packet::Publish(p) => {
            let ids: Vec<u32> = p
                .properties
                .subscription_identifiers
                .iter()
                .map(|i| i.get())
                .collect();
            assert_eq!(ids, [1, 128]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn forbidden_property_values_are_protocol_errors() {
    let cases: [(&[u8], PropertyId); 4] = [
        // Spec 3.3.2.3.8: Subscription Identifier 0.
        (&[0x0B, 0x00], PropertyId::SubscriptionIdentifier),
        // [MQTT-3.3.2-8] (Topic Alias 0 is not permitted).
        (&[0x23, 0, 0], PropertyId::TopicAlias),
        // Payload Format Indicator is 0 or 1.
        (&[0x01, 2], PropertyId::PayloadFormatIndicator),
        // Message expiry is fine; Content Type must be UTF-8.
        (&[0x03, 0, 1, 0xFF], PropertyId::ContentType),
    ];
    for (props, id) in cases {
        let e = err(&publish_with_props(props), V5);
        if id == PropertyId::ContentType {
            assert_eq!(e, DecodeError::InvalidUtf8);
        } else {
            assert_eq!(e, DecodeError::InvalidPropertyValue(id));
            assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
        }
    }
    // Spec 3.1.2.11.3: Receive Maximum 0 is a Protocol Error; 3.1.2.11.4 Maximum Packet Size 0;
    // 3.1.2.11.7 Request Problem Information other than 0/1.
    for (props, id) in [
        (&[3u8, 0x21, 0, 0][..], PropertyId::ReceiveMaximum),
        (&[5, 0x27, 0, 0, 0, 0], PropertyId::MaximumPacketSize),
        (&[2, 0x17, 2], PropertyId::RequestProblemInformation),
        (&[2, 0x19, 7], PropertyId::RequestResponseInformation),
    ] {
        let e = err(&packet(0x10, &connect_body(5, 0x02, props, &[0, 0])), V5);
        assert_eq!(e, DecodeError::InvalidPropertyValue(id));
    }
    // Spec 3.2.2.3.4: Maximum QoS is 0 or 1.
    assert_eq!(
        err(&[0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02], V5),
        DecodeError::InvalidPropertyValue(PropertyId::MaximumQoS)
    );
}

#[test]
fn property_length_past_the_packet_is_malformed() {
    let e = err(&packet(0x30, b"\x00\x01a\x09\x02\x00"), V5);
    assert_eq!(e, DecodeError::Truncated);
    // A property whose value runs past the property length.
    let e = err(&publish_with_props(&[0x02, 0, 0]), V5);
    assert_eq!(e, DecodeError::Truncated);
}

// ---------------------------------------------------------------------------------------------
// Encoding refuses what cannot be sent.

#[test]
fn encoder_refuses_unsendable_packets() {
    let id = PacketId::new(1).unwrap();
    let auth = Packet::from(Auth::default());
    assert!(matches!(
        auth.encoded_len(V4),
        Err(EncodeError::UnsupportedPacket { .. })
    ));
    let too_long = Connect {
        protocol: V4,
        username: Some(MqttString::new("u").unwrap()),
        password: Some(Bytes::from(vec![0u8; 65_536])),
        ..Connect::default()
    };
    assert_eq!(
        Packet::Connect(Box::new(too_long)).encoded_len(V4),
        Err(EncodeError::BinaryTooLong(65_536))
    );
    let pw_only = Connect {
        protocol: V4,
        password: Some(Bytes::from_static(b"pw")),
        ..Connect::default()
    };
    assert_eq!(
        Packet::Connect(Box::new(pw_only)).encoded_len(V4),
        Err(EncodeError::PasswordWithoutUsername)
    );
    assert_eq!(
        Packet::Subscribe(Subscribe::new(id, vec![])).encoded_len(V4),
        Err(EncodeError::EmptyPayload(PacketType::Subscribe))
    );
    let alias_only = Publish {
        topic: TopicName::alias_only(),
        ..Publish::default()
    };
    assert_eq!(
        Packet::Publish(alias_only).encoded_len(V4),
        Err(EncodeError::EmptyTopic)
    );
    let huge = Publish {
        topic: TopicName::new("t").unwrap(),
        payload: Bytes::from(vec![0u8; 268_435_455]),
        ..Publish::default()
    };
    assert_eq!(
        Packet::Publish(huge).encoded_len(V4),
        Err(EncodeError::PacketTooLarge(268_435_455 + 3))
    );
    let bad_code = PubAck {
        reason_code: ReasonCode::SessionTakenOver,
        ..PubAck::new(id)
    };
    assert!(matches!(
        Packet::PubAck(bad_code).encoded_len(V5),
        Err(EncodeError::InvalidReasonCode { .. })
    ));
    let max_qos_2 = ConnAck {
        properties: ConnAckProperties {
            maximum_qos: Some(QoS::ExactlyOnce),
            ..Default::default()
        },
        ..ConnAck::default()
    };
    assert_eq!(
        Packet::ConnAck(Box::new(max_qos_2)).encoded_len(V5),
        Err(EncodeError::InvalidPropertyValue(PropertyId::MaximumQoS))
    );
    let mut buf = BytesMut::new();
    assert!(Packet::from(Auth::default()).encode(V4, &mut buf).is_err());
    assert!(buf.is_empty(), "nothing written on error");
}

#[test]
fn auth_needs_an_authentication_method() {
    // Spec 3.15.2.2.2: It is a Protocol Error to omit the Authentication Method.
    let e = err(b"\xF0\x02\x18\x00", V5);
    assert_eq!(e, DecodeError::AuthWithoutMethod);
    assert_eq!(e.reason_code(), ReasonCode::ProtocolError);
    let ok = decode(b"\xF0\x0A\x18\x08\x15\x00\x05SCRAM", V5).unwrap();
    assert!(matches!(ok, Packet::Auth(a) if a.properties.authentication_method.is_some()));
    let continue_without_method = Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        ..Auth::default()
    };
    assert_eq!(
        Packet::from(continue_without_method).encoded_len(V5),
        Err(EncodeError::AuthWithoutMethod)
    );
}

#[test]
fn mqtt_3_8_3_4_encoder_refuses_no_local_on_shared_subscription() {
    // [MQTT-3.8.3-4] It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription.
    let subscribe = Subscribe::new(
        PacketId::new(1).unwrap(),
        vec![(
            TopicFilter::new("$share/g/a").unwrap(),
            SubscriptionOptions {
                no_local: true,
                ..SubscriptionOptions::default()
            },
        )],
    );
    assert_eq!(
        Packet::Subscribe(subscribe).encoded_len(V5),
        Err(EncodeError::NoLocalOnSharedSubscription)
    );
}

#[test]
fn mqtt_3_1_3_7_empty_client_id_needs_clean_session() {
    // [MQTT-3.1.3-7] (3.1.1) If the Client supplies a zero-byte ClientId, the Client MUST also
    // set CleanSession to 1. The decoder accepts it so that a server can answer 0x02.
    let connect = Connect {
        protocol: V4,
        clean_start: false,
        ..Connect::default()
    };
    assert_eq!(
        Packet::Connect(Box::new(connect)).encoded_len(V4),
        Err(EncodeError::EmptyClientIdWithoutCleanSession)
    );
    let decoded = decode(&packet(0x10, &connect_body(4, 0x00, &[], &[0, 0])), V4).unwrap();
    assert!(matches!(decoded, Packet::Connect(c) if !c.clean_start && c.client_id.is_empty()));
}
