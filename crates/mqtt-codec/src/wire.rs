//! The data representations of spec 1.5: integers, variable byte integers, strings, binary data.
//!
//! Decoding reads from a [`Reader`] over a `Bytes` that holds exactly one packet body, so every
//! string and binary field it returns is a zero-copy slice of that body.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::string::MqttString;

/// The largest value a Variable Byte Integer can hold (spec 1.5.5): 268,435,455.
pub const MAX_VARIABLE_BYTE_INTEGER: u32 = 268_435_455;

/// The largest Remaining Length of a packet (spec 2.1.4), the same as [`MAX_VARIABLE_BYTE_INTEGER`].
pub const MAX_REMAINING_LENGTH: usize = MAX_VARIABLE_BYTE_INTEGER as usize;

/// Outcome of reading a Variable Byte Integer from the start of a slice.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum VarInt {
    /// The value and how many bytes encoded it.
    Complete(u32, usize),
    /// The slice ends before the last byte of the integer.
    Incomplete,
}

/// Reads a Variable Byte Integer (spec 1.5.5) from the start of `src`.
///
/// More than four bytes, or a value not in its shortest form [MQTT-1.5.5-1], is malformed.
#[inline]
pub(crate) fn read_varint(src: &[u8]) -> Result<VarInt, DecodeError> {
    let mut value: u32 = 0;
    for (i, &byte) in src.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let len = i + 1;
            // A last byte of zero after a continuation byte means a shorter encoding existed.
            if len > 1 && byte == 0 {
                return Err(DecodeError::NonMinimalVarInt);
            }
            return Ok(VarInt::Complete(value, len));
        }
    }
    if src.len() >= 4 {
        Err(DecodeError::VarIntTooLong)
    } else {
        Ok(VarInt::Incomplete)
    }
}

/// How many bytes the Variable Byte Integer encoding of `value` takes.
#[inline]
pub(crate) const fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes `value`, which the caller has checked is at most [`MAX_VARIABLE_BYTE_INTEGER`].
#[inline]
pub(crate) fn write_varint(buf: &mut BytesMut, value: usize) {
    let mut value = value;
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        buf.extend_from_slice(&[byte]);
        if value == 0 {
            break;
        }
    }
}

/// Length on the wire of a two-byte length prefixed field.
#[inline]
pub(crate) fn prefixed_len(data: &[u8]) -> Result<usize, EncodeError> {
    if data.len() > usize::from(u16::MAX) {
        return Err(EncodeError::BinaryTooLong(data.len()));
    }
    Ok(2 + data.len())
}

/// Writes a two-byte length prefixed field whose length [`prefixed_len`] has checked.
#[inline]
pub(crate) fn write_prefixed(buf: &mut BytesMut, data: &[u8]) {
    buf.extend_from_slice(&(data.len() as u16).to_be_bytes());
    buf.extend_from_slice(data);
}

/// A cursor over one packet body; every read checks bounds and reports truncation as malformed.
pub(crate) struct Reader {
    buf: Bytes,
    /// Bytes at the end of `buf` that the current read must not reach: those after a span that
    /// [`Reader::within`] is reading, such as a Property Length's.
    tail: usize,
}

impl Reader {
    #[inline]
    pub(crate) fn new(buf: Bytes) -> Self {
        Reader { buf, tail: 0 }
    }

    #[inline(always)]
    pub(crate) fn remaining(&self) -> usize {
        // Never saturates: reads stop at `tail`.
        self.buf.len().saturating_sub(self.tail)
    }

    /// The bytes not read yet.
    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.remaining()).unwrap_or_default()
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        if self.remaining() < 1 {
            return Err(DecodeError::Truncated);
        }
        Ok(self.buf.get_u8())
    }

    #[inline(always)]
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        if self.remaining() < 2 {
            return Err(DecodeError::Truncated);
        }
        Ok(self.buf.get_u16())
    }

    #[inline]
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        if self.remaining() < 4 {
            return Err(DecodeError::Truncated);
        }
        Ok(self.buf.get_u32())
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u32, DecodeError> {
        match read_varint(self.as_slice())? {
            VarInt::Complete(value, len) => {
                self.buf.advance(len);
                Ok(value)
            }
            VarInt::Incomplete => Err(DecodeError::Truncated),
        }
    }

    /// The next `len` bytes, shared with the input buffer.
    #[inline(always)]
    pub(crate) fn take(&mut self, len: usize) -> Result<Bytes, DecodeError> {
        if self.remaining() < len {
            return Err(DecodeError::Truncated);
        }
        if len == 0 {
            // No handle on the buffer, so no reference count to pay for.
            return Ok(Bytes::new());
        }
        // `clone`, `truncate` and `advance` are inlined, unlike `Bytes::split_to`, whose
        // returned copy of the handle cost a call and a trip through memory per string field.
        let mut head = self.buf.clone();
        head.truncate(len);
        self.buf.advance(len);
        Ok(head)
    }

    /// Binary Data (spec 1.5.6): a two-byte length, then that many bytes.
    #[inline(always)]
    pub(crate) fn binary(&mut self) -> Result<Bytes, DecodeError> {
        let len = self.u16()?;
        self.take(usize::from(len))
    }

    /// Binary Data that is only looked at: `look` sees the bytes in place, without a handle on
    /// the buffer (and its two reference count updates) for data that is not kept.
    #[inline]
    pub(crate) fn binary_with<T>(
        &mut self,
        look: impl FnOnce(&[u8]) -> T,
    ) -> Result<T, DecodeError> {
        let len = usize::from(self.u16()?);
        let value = look(self.as_slice().get(..len).ok_or(DecodeError::Truncated)?);
        self.buf.advance(len);
        Ok(value)
    }

    /// UTF-8 Encoded String (spec 1.5.4), validated [MQTT-1.5.4-1] [MQTT-1.5.4-2].
    #[inline]
    pub(crate) fn string(&mut self) -> Result<MqttString, DecodeError> {
        MqttString::from_wire(self.binary()?)
    }

    /// Reads the next `len` bytes with `read` as if nothing came after them (the span of a
    /// Property Length): reading past them is truncation, and `read` must consume them all.
    /// Unlike a reader over [`Reader::take`]'s bytes, this takes no handle on the buffer, whose
    /// reference count would be updated twice per property block.
    #[inline]
    pub(crate) fn within<T>(
        &mut self,
        len: usize,
        read: impl FnOnce(&mut Reader) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let after = self
            .remaining()
            .checked_sub(len)
            .ok_or(DecodeError::Truncated)?;
        let outer_tail = self.tail;
        self.tail += after;
        let value = read(self);
        let left = self.remaining();
        self.tail = outer_tail;
        let value = value?;
        if left != 0 {
            return Err(DecodeError::TrailingBytes(left));
        }
        Ok(value)
    }

    /// Everything left in the body; not for use inside [`Reader::within`].
    ///
    /// Inlined, the reader's buffer is then known to be empty, and dropping it costs nothing
    /// (out of line, it cost an indirect call per PUBLISH).
    #[inline(always)]
    pub(crate) fn rest(&mut self) -> Bytes {
        debug_assert_eq!(self.tail, 0, "Reader::rest inside Reader::within");
        core::mem::take(&mut self.buf)
    }

    /// Fails if the body holds bytes beyond the last field (the Remaining Length disagrees).
    #[inline]
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(DecodeError::TrailingBytes(left)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: usize) -> BytesMut {
        let mut buf = BytesMut::new();
        write_varint(&mut buf, value);
        buf
    }

    #[test]
    fn varint_boundaries_use_the_documented_lengths() {
        // Table 1-1 of spec 1.5.5 (MQTT 5) / 2.2.3 (3.1.1).
        for (value, bytes) in [
            (0usize, &[0x00u8][..]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ] {
            assert_eq!(&encode(value)[..], bytes, "encoding {value}");
            assert_eq!(varint_len(value), bytes.len());
            assert_eq!(
                read_varint(bytes).unwrap(),
                VarInt::Complete(value as u32, bytes.len())
            );
        }
    }

    #[test]
    fn varint_over_four_bytes_is_malformed() {
        assert_eq!(
            read_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(DecodeError::VarIntTooLong)
        );
        assert_eq!(
            read_varint(&[0xFF, 0xFF, 0xFF, 0xFF]),
            Err(DecodeError::VarIntTooLong)
        );
    }

    #[test]
    fn varint_incomplete_asks_for_more() {
        assert_eq!(read_varint(&[]).unwrap(), VarInt::Incomplete);
        assert_eq!(read_varint(&[0x80, 0x80]).unwrap(), VarInt::Incomplete);
    }

    #[test]
    fn within_stops_reads_at_the_span_and_resumes_after_it() {
        // A two-byte span holding a string prefix that claims three bytes which lie past it.
        let mut r = Reader::new(Bytes::from_static(b"\x00\x03abc\x07"));
        assert_eq!(r.within(2, |r| r.binary()), Err(DecodeError::Truncated));
        let mut r = Reader::new(Bytes::from_static(b"\x00\x03abc\x07"));
        assert_eq!(r.within(8, |r| r.u8()), Err(DecodeError::Truncated));
        let mut r = Reader::new(Bytes::from_static(b"\x00\x03abc\x07"));
        assert_eq!(r.within(5, |r| r.u8()), Err(DecodeError::TrailingBytes(4)));
        let mut r = Reader::new(Bytes::from_static(b"\x00\x03abc\x07"));
        let s = r.within(5, |r| {
            let s = r.binary()?;
            assert!(r.is_empty());
            assert_eq!(r.varint(), Err(DecodeError::Truncated));
            Ok(s)
        });
        assert_eq!(s.as_deref(), Ok(&b"abc"[..]));
        assert_eq!(r.u8(), Ok(7));
        r.finish().unwrap();
    }

    #[test]
    fn mqtt_1_5_5_1_varint_must_be_minimal() {
        // [MQTT-1.5.5-1] The encoded value MUST use the minimum number of bytes necessary.
        assert_eq!(
            read_varint(&[0x80, 0x00]),
            Err(DecodeError::NonMinimalVarInt)
        );
        assert_eq!(
            read_varint(&[0xFF, 0x80, 0x00]),
            Err(DecodeError::NonMinimalVarInt)
        );
    }
}
