//! Property tests: encoding then decoding is the identity for every valid packet of every version;
//! decoding never panics on arbitrary input; a stream decodes the same wherever it is split.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use bytes::BytesMut;
use mqtt_codec::{Decoder, Packet, ProtocolVersion};
use proptest::collection::vec;
use proptest::prelude::*;

fn decoder_for(version: ProtocolVersion, packet: &Packet) -> Decoder {
    match packet {
        // Exercise version discovery from CONNECT.
        Packet::Connect(_) => Decoder::new_server(),
        _ => Decoder::new(version),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn encode_then_decode_is_identity((version, packet) in common::versioned_packet()) {
        let mut buf = BytesMut::new();
        packet.encode(version, &mut buf).unwrap();
        prop_assert_eq!(buf.len(), packet.encoded_len(version).unwrap());
        let mut decoder = decoder_for(version, &packet);
        let decoded = decoder.decode(&mut buf).unwrap().expect("whole packet");
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded, packet);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(
        mode in 0u8..4,
        bytes in vec(any::<u8>(), 0..600),
    ) {
        let mut decoder = match mode {
            0 => Decoder::new_server(),
            n => Decoder::new(ProtocolVersion::from_level(n + 2).unwrap()),
        };
        let mut buf = BytesMut::from(&bytes[..]);
        // Either packets, a request for more bytes, or an error; never a panic.
        while let Ok(Some(packet)) = decoder.decode(&mut buf) {
            // Whatever decodes is valid, so it re-encodes.
            let version = decoder.version().unwrap();
            let version = match &packet { Packet::Connect(c) => c.protocol, _ => version };
            prop_assert!(packet.encoded_len(version).is_ok());
        }
    }

    #[test]
    fn arbitrary_bodies_behind_valid_headers_never_panic(
        version in common::versions(),
        first_byte in any::<u8>(),
        body in vec(any::<u8>(), 0..300),
    ) {
        // Random bytes rarely form a plausible fixed header; this reaches every body decoder.
        let mut wire = vec![first_byte];
        if body.len() < 128 {
            wire.push(body.len() as u8);
        } else {
            wire.extend_from_slice(&[(body.len() % 128) as u8 | 0x80, (body.len() / 128) as u8]);
        }
        wire.extend_from_slice(&body);
        let _ = Packet::decode(&wire, version);
    }

    #[test]
    fn stream_in_random_chunks_decodes_the_same(
        (version, packets) in common::versions()
            .prop_flat_map(|v| (Just(v), vec(common::packet(v), 1..8))),
        chunks in vec(1usize..64, 1..50),
    ) {
        let wire = encode_all(version, &packets);
        let mut decoder = Decoder::new(version);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pos = 0;
        for n in chunks.iter().cycle() {
            if pos == wire.len() {
                break;
            }
            let end = (pos + n).min(wire.len());
            buf.extend_from_slice(&wire[pos..end]);
            pos = end;
            while let Some(p) = decoder.decode(&mut buf).unwrap() {
                out.push(p);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(out, packets);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn stream_split_at_every_point_decodes_the_same(
        (version, packets) in common::versions()
            .prop_flat_map(|v| (Just(v), vec(common::packet(v), 1..5))),
    ) {
        let wire = encode_all(version, &packets);
        for split in 0..=wire.len() {
            let mut decoder = Decoder::new(version);
            let mut buf = BytesMut::from(&wire[..split]);
            let mut out = Vec::new();
            while let Some(p) = decoder.decode(&mut buf).unwrap() {
                out.push(p);
            }
            buf.extend_from_slice(&wire[split..]);
            while let Some(p) = decoder.decode(&mut buf).unwrap() {
                out.push(p);
            }
            prop_assert!(buf.is_empty(), "split at {}", split);
            prop_assert_eq!(&out, &packets, "split at {}", split);
        }
    }
}

fn encode_all(version: ProtocolVersion, packets: &[Packet]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    for p in packets {
        p.encode(version, &mut wire).unwrap();
    }
    wire.to_vec()
}
