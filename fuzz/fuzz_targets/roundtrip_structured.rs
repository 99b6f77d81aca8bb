//! Valid packets built from `arbitrary` input: encode for a version, decode, compare; then
//! corrupt one byte of the encoding and decode that too.
//!
//! Invariants: the encoder refuses exactly the combinations it documents
//! (`mqtt_codec_fuzz::builder::expected_rejection`) and writes nothing then; otherwise
//! `encoded_len` is the encoded length, the bytes decode (fed in two pieces) to an equal packet
//! that re-encodes to the same bytes; the corrupted encoding never makes the decoder panic, and
//! whatever it still decodes passes the same canonical round-trip checks as in `decode_raw`.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqtt_codec::{Decoder, Packet};
use mqtt_codec_fuzz::builder::{expected_rejection, Case};
use mqtt_codec_fuzz::{drain, hex};

fuzz_target!(|case: Case| {
    let Case {
        version,
        packet,
        split,
        server,
        mutate_at,
        mutate_xor,
    } = case;

    let mut wire = BytesMut::new();
    let encoded = packet.encode(version, &mut wire);
    let len = packet.encoded_len(version);
    if let Some(expected) = expected_rejection(&packet, version) {
        assert_eq!(encoded, Err(expected.clone()), "{packet:?} as {version:?}");
        assert_eq!(len, Err(expected));
        assert!(
            wire.is_empty(),
            "a refused packet wrote {} bytes",
            wire.len()
        );
        return;
    }
    if let Err(e) = encoded {
        panic!("encoder refused a valid packet for {version:?}: {e:?}\n{packet:?}");
    }
    assert_eq!(len, Ok(wire.len()), "encoded_len disagrees with encode");

    // Decode, fed in two pieces.
    let is_connect = matches!(packet, Packet::Connect(_));
    let new_decoder = || {
        if server && is_connect {
            Decoder::new_server()
        } else {
            Decoder::new(version)
        }
    };
    let mut decoder = new_decoder();
    let k = split % (wire.len() + 1);
    let mut buf = BytesMut::from(&wire[..k]);
    if k < wire.len() {
        assert_eq!(
            decoder.decode(&mut buf),
            Ok(None),
            "partial packet, {k} of {} bytes",
            wire.len()
        );
        buf.extend_from_slice(&wire[k..]);
    }
    let decoded = match decoder.decode(&mut buf) {
        Ok(Some(p)) => p,
        other => panic!(
            "valid packet did not decode ({version:?}): {other:?}\npacket: {packet:?}\nbytes: {}",
            hex(&wire)
        ),
    };
    assert!(buf.is_empty(), "{} bytes left after the packet", buf.len());
    assert_eq!(
        decoded,
        packet,
        "decode(encode(p)) != p for {version:?}, bytes {}",
        hex(&wire)
    );
    assert_eq!(decoder.version(), Some(version));
    let mut again = BytesMut::new();
    decoded
        .encode(version, &mut again)
        .expect("re-encoding the decoded packet");
    assert_eq!(again, wire, "re-encoding gave different bytes");

    // One corrupted byte: Ok or Err, never a panic (and anything decoded is still canonical).
    let mut mutated = wire;
    let pos = mutate_at % mutated.len();
    mutated[pos] ^= mutate_xor;
    let mut decoder = new_decoder();
    drain(&mut decoder, &mut mutated);
});
