//! The benchmark payload: a 24-byte header followed by zero padding up to `--size`.
//!
//! | bytes  | field                                                                        |
//! |--------|------------------------------------------------------------------------------|
//! | 0..8   | sequence number, local to the publisher, from 0 (big endian)                 |
//! | 8..16  | send time: nanoseconds since the run's start `Instant` (big endian)          |
//! | 16..20 | publisher number within the run (big endian)                                 |
//! | 20..24 | run tag: random per process, so that messages of another run are recognised  |
//!
//! The send time is only meaningful inside the process that wrote it, which is where latency is
//! measured: the scenarios `fan-in`, `fan-out` and `pairs` publish and receive in one process.

use bytes::{BufMut, Bytes, BytesMut};

/// Size of the header, and so the smallest `--size`.
pub const HEADER_LEN: usize = 24;

/// What a payload's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The publisher's sequence number of the message.
    pub seq: u64,
    /// Nanoseconds since the run's start when the message was handed to the client.
    pub sent_ns: u64,
    /// The publisher's number.
    pub publisher: u32,
    /// The run's tag.
    pub run: u32,
}

/// A payload of `size` bytes (at least [`HEADER_LEN`]) carrying `header`.
pub fn encode(header: Header, size: usize) -> Bytes {
    let mut buf = BytesMut::with_capacity(size.max(HEADER_LEN));
    buf.put_u64(header.seq);
    buf.put_u64(header.sent_ns);
    buf.put_u32(header.publisher);
    buf.put_u32(header.run);
    buf.resize(size.max(HEADER_LEN), 0);
    buf.freeze()
}

/// The header of a payload, or `None` when it is shorter than [`HEADER_LEN`].
pub fn decode(payload: &[u8]) -> Option<Header> {
    let seq = u64::from_be_bytes(payload.get(0..8)?.try_into().ok()?);
    let sent_ns = u64::from_be_bytes(payload.get(8..16)?.try_into().ok()?);
    let publisher = u32::from_be_bytes(payload.get(16..20)?.try_into().ok()?);
    let run = u32::from_be_bytes(payload.get(20..24)?.try_into().ok()?);
    Some(Header {
        seq,
        sent_ns,
        publisher,
        run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let header = Header {
            seq: 0x0102_0304_0506_0708,
            sent_ns: 987_654_321,
            publisher: 42,
            run: 0xdead_beef,
        };
        let payload = encode(header, 100);
        assert_eq!(payload.len(), 100);
        assert_eq!(&payload[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(payload[HEADER_LEN..].iter().all(|b| *b == 0));
        assert_eq!(decode(&payload), Some(header));
    }

    #[test]
    fn never_shorter_than_the_header() {
        let header = Header {
            seq: 7,
            sent_ns: 1,
            publisher: 0,
            run: 1,
        };
        let payload = encode(header, 3);
        assert_eq!(payload.len(), HEADER_LEN);
        assert_eq!(decode(&payload), Some(header));
    }

    #[test]
    fn short_payloads_are_not_ours() {
        assert_eq!(decode(b""), None);
        assert_eq!(decode(&[0; HEADER_LEN - 1]), None);
    }
}
