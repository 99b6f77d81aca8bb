//! UTF-8 Encoded Strings (spec 1.5.4) as zero-copy, validated values.

use alloc::string::String;
use core::{borrow::Borrow, fmt, ops::Deref};

use bytes::Bytes;
use bytestring::ByteString;

use crate::error::DecodeError;

/// A UTF-8 Encoded String as MQTT defines it (spec 1.5.4): well-formed UTF-8 [MQTT-1.5.4-1],
/// without U+0000 [MQTT-1.5.4-2], at most 65,535 bytes long.
///
/// Decoded strings share the packet's buffer, so cloning one is a reference count increment.
///
/// ```
/// use mqtt_codec::MqttString;
/// let s = MqttString::new("client-1").unwrap();
/// assert_eq!(s, "client-1");
/// assert!(MqttString::new("a\0b").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct MqttString(ByteString);

/// Why a string cannot be sent as an MQTT UTF-8 Encoded String.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidString {
    /// Longer than 65,535 bytes.
    #[error("string of {0} bytes is longer than 65535 bytes")]
    TooLong(usize),
    /// Contains the null character U+0000 [MQTT-1.5.4-2].
    #[error("string contains the null character U+0000")]
    NullCharacter,
}

impl MqttString {
    /// The empty string.
    pub const fn empty() -> Self {
        MqttString(ByteString::new())
    }

    /// A string from a `&'static str`, checked like [`MqttString::new`].
    pub fn from_static(s: &'static str) -> Result<Self, InvalidString> {
        check(s.as_bytes())?;
        Ok(MqttString(ByteString::from_static(s)))
    }

    /// A string that satisfies the rules of spec 1.5.4.
    pub fn new(s: impl Into<String>) -> Result<Self, InvalidString> {
        let s: String = s.into();
        check(s.as_bytes())?;
        Ok(MqttString(ByteString::from(s)))
    }

    /// Validates bytes received from the network.
    #[inline]
    pub(crate) fn from_wire(bytes: Bytes) -> Result<Self, DecodeError> {
        // Length is bounded by the two-byte prefix already; U+0000 is the only code point whose
        // UTF-8 form contains a zero byte, so a byte search finds it (a word at a time: MQTT
        // strings are mostly shorter than the setup of a call to `memchr`).
        if contains_any(&bytes, [0]) {
            return Err(DecodeError::NullCharacter);
        }
        ByteString::try_from(bytes)
            .map(MqttString)
            .map_err(|_| DecodeError::InvalidUtf8)
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bytes, shared with the buffer the string was decoded from.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The underlying bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    pub(crate) fn into_inner(self) -> ByteString {
        self.0
    }

    pub(crate) fn from_inner(s: ByteString) -> Self {
        MqttString(s)
    }
}

/// Whether any byte of `bytes` is one of `needles`, eight bytes at a time (a branch per byte
/// costs more than the rest of decoding a small PUBLISH). The words are checked without an early
/// exit: valid topics, the case that matters, have no hit to exit on, and the loop stays small
/// enough to inline into the decoder.
#[inline(always)]
pub(crate) fn contains_any<const N: usize>(bytes: &[u8], needles: [u8; N]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A zero byte in `x` sets its high bit in the result (the classic "has zero byte" test);
    // `word ^ broadcast(needle)` has a zero byte where `word` holds `needle`.
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let broadcast = needles.map(|b| u64::from_ne_bytes([b; 8]));
    let hits = |word: [u8; 8]| {
        let v = u64::from_ne_bytes(word);
        broadcast.iter().fold(0, |hits, &n| hits | zero_byte(v ^ n))
    };
    let mut found = 0;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        found |= hits(word);
    }
    let rest = chunks.remainder();
    if let Some(&first) = rest.first() {
        // One more word rather than a loop over up to seven bytes: the last eight bytes
        // (overlapping some already checked) or, for a shorter input, the input padded with its
        // own first byte, which adds no byte that was not there.
        let mut word = [first; 8];
        match bytes
            .len()
            .checked_sub(8)
            .and_then(|start| bytes.get(start..))
        {
            Some(last) => word.copy_from_slice(last),
            None => {
                if let Some(head) = word.get_mut(..rest.len()) {
                    head.copy_from_slice(rest);
                }
            }
        }
        found |= hits(word);
    }
    found != 0
}

pub(crate) fn check(bytes: &[u8]) -> Result<(), InvalidString> {
    if bytes.len() > usize::from(u16::MAX) {
        return Err(InvalidString::TooLong(bytes.len()));
    }
    if bytes.contains(&0) {
        return Err(InvalidString::NullCharacter);
    }
    Ok(())
}

impl Deref for MqttString {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for MqttString {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for MqttString {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for MqttString {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MqttString {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl TryFrom<&str> for MqttString {
    type Error = InvalidString;

    fn try_from(s: &str) -> Result<Self, InvalidString> {
        MqttString::new(s)
    }
}

impl TryFrom<String> for MqttString {
    type Error = InvalidString;

    fn try_from(s: String) -> Result<Self, InvalidString> {
        MqttString::new(s)
    }
}

impl From<MqttString> for String {
    fn from(s: MqttString) -> String {
        String::from(s.as_str())
    }
}

impl fmt::Debug for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for MqttString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_1_5_4_1_ill_formed_utf8_is_malformed() {
        // [MQTT-1.5.4-1] ill-formed UTF-8, including encoded surrogates U+D800..U+DFFF.
        for bad in [
            &[0xC3u8, 0x28][..],
            &[0xED, 0xA0, 0x80],
            &[0xFF],
            &[0xF0, 0x9F, 0x98],
        ] {
            assert_eq!(
                MqttString::from_wire(Bytes::copy_from_slice(bad)),
                Err(DecodeError::InvalidUtf8)
            );
        }
    }

    #[test]
    fn mqtt_1_5_4_2_null_character_is_malformed() {
        // [MQTT-1.5.4-2] A UTF-8 Encoded String MUST NOT include an encoding of U+0000.
        assert_eq!(
            MqttString::from_wire(Bytes::from_static(b"a\0")),
            Err(DecodeError::NullCharacter)
        );
        assert_eq!(MqttString::new("a\0"), Err(InvalidString::NullCharacter));
    }

    #[test]
    fn mqtt_1_5_4_3_bom_is_kept() {
        // [MQTT-1.5.4-3] A UTF-8 encoded sequence 0xEF 0xBB 0xBF is always interpreted as
        // U+FEFF and MUST NOT be skipped over or stripped off.
        let s = MqttString::from_wire(Bytes::from_static(b"\xEF\xBB\xBFx")).unwrap();
        assert_eq!(s.as_str(), "\u{FEFF}x");
    }

    #[test]
    fn strings_longer_than_65535_bytes_are_refused() {
        let long = "a".repeat(65_536);
        assert_eq!(MqttString::new(long), Err(InvalidString::TooLong(65_536)));
        assert!(MqttString::new("a".repeat(65_535)).is_ok());
    }

    #[test]
    fn non_characters_are_accepted() {
        // Spec 1.5.4: U+FFFF and other non-characters SHOULD NOT be rejected by a receiver.
        assert!(MqttString::from_wire(Bytes::from("\u{FFFF}")).is_ok());
    }
}
