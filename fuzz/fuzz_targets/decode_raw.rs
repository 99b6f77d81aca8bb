//! Raw bytes into the incremental decoder.
//!
//! Input layout: one mode byte, then (if bit 2 of the mode is set) a big-endian u16 maximum
//! packet size, then the stream.
//!
//! - mode bits 0-1: 0 = server decoder (version unknown until CONNECT), 1 = MQTT 3.1,
//!   2 = MQTT 3.1.1, 3 = MQTT 5.0 (so protocol level L is mode L - 2);
//! - mode bit 2: a maximum packet size follows;
//! - mode bits 3-7: 0 feeds the stream at once, any other value seeds the chunk sizes it is fed in.
//!
//! Invariants: no panic; every decoded packet re-encodes (CONNECT with its own version) to bytes
//! that decode to an equal packet, `encoded_len` is the encoded length, and no decoded packet is
//! larger than the maximum packet size (see `mqtt_codec_fuzz::drain`).
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mqtt_codec::{Decoder, ProtocolVersion};
use mqtt_codec_fuzz::drain;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut decoder = match mode & 0b11 {
        0 => Decoder::new_server(),
        1 => Decoder::new(ProtocolVersion::V3_1),
        2 => Decoder::new(ProtocolVersion::V3_1_1),
        _ => Decoder::new(ProtocolVersion::V5),
    };
    if mode & 0b100 != 0 {
        let Some((max, tail)) = rest.split_first_chunk::<2>() else {
            return;
        };
        decoder.set_max_packet_size(usize::from(u16::from_be_bytes(*max)));
        rest = tail;
    }
    let mut buf = BytesMut::new();
    let chunk_seed = mode >> 3;
    if chunk_seed == 0 {
        buf.extend_from_slice(rest);
        drain(&mut decoder, &mut buf);
        return;
    }
    // Chunks of 1 to 2 * seed bytes, sizes from a xorshift generator seeded by the mode.
    let max_chunk = usize::from(chunk_seed) * 2;
    let mut state = u32::from(chunk_seed).wrapping_mul(0x9E37_79B9) | 1;
    while !rest.is_empty() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (1 + state as usize % max_chunk).min(rest.len());
        let (chunk, tail) = rest.split_at(n);
        buf.extend_from_slice(chunk);
        rest = tail;
        if !drain(&mut decoder, &mut buf) {
            return;
        }
    }
});
