//! Topic names and topic filters (spec 4.7), as validated newtypes.

use alloc::string::String;
use core::{borrow::Borrow, fmt, ops::Deref};

use bytes::Bytes;
use bytestring::ByteString;

use crate::error::DecodeError;
use crate::string::{contains_any, InvalidString, MqttString};

/// Why a string is not a valid topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTopic {
    /// Topic names and filters are at least one character long [MQTT-4.7.3-1].
    #[error("topic is empty")]
    Empty,
    /// Longer than 65,535 bytes [MQTT-4.7.3-3].
    #[error("topic of {0} bytes is longer than 65535 bytes")]
    TooLong(usize),
    /// Contains U+0000 [MQTT-4.7.3-2].
    #[error("topic contains the null character U+0000")]
    NullCharacter,
    /// A topic name containing `+` or `#` [MQTT-3.3.2-2].
    #[error("topic name contains a wildcard")]
    WildcardInName,
    /// `#` that is not alone in the last level [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2]).
    #[error("'#' must be the last character and alone in its level")]
    MisplacedMultiLevelWildcard,
    /// `+` that does not occupy a whole level [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]).
    #[error("'+' must occupy a whole topic level")]
    MisplacedSingleLevelWildcard,
    /// `$share/` with an empty ShareName or one containing `/`, `+` or `#` [MQTT-4.8.2-1].
    #[error("invalid shared subscription share name")]
    InvalidShareName,
    /// `$share/{ShareName}` without a topic filter after it [MQTT-4.8.2-2].
    #[error("shared subscription without a topic filter")]
    EmptySharedFilter,
}

impl From<InvalidString> for InvalidTopic {
    fn from(e: InvalidString) -> Self {
        match e {
            InvalidString::TooLong(n) => InvalidTopic::TooLong(n),
            InvalidString::NullCharacter => InvalidTopic::NullCharacter,
        }
    }
}

/// A Topic Name (spec 4.7): the topic of a PUBLISH. At least one character, no wildcards.
///
/// The one exception is the empty topic of an MQTT 5 PUBLISH that relies on a Topic Alias; the
/// decoder produces it ([`TopicName::is_empty`]) and the receiver's session replaces it with the
/// topic the alias stands for.
///
/// ```
/// use mqtt_codec::TopicName;
/// let t = TopicName::new("sport/tennis/player1").unwrap();
/// assert_eq!(t.levels().count(), 3);
/// assert!(TopicName::new("sport/+").is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct TopicName(ByteString);

impl TopicName {
    /// A topic name, checked against the rules of spec 4.7.
    pub fn new(topic: impl Into<String>) -> Result<Self, InvalidTopic> {
        let topic: String = topic.into();
        validate_name(topic.as_bytes())?;
        Ok(TopicName(ByteString::from(topic)))
    }

    /// A topic name from a `&'static str`, checked like [`TopicName::new`].
    pub fn from_static(topic: &'static str) -> Result<Self, InvalidTopic> {
        validate_name(topic.as_bytes())?;
        Ok(TopicName(ByteString::from_static(topic)))
    }

    /// The empty topic of an MQTT 5 PUBLISH that uses a Topic Alias (spec 3.3.2.3.4).
    pub const fn alias_only() -> Self {
        TopicName(ByteString::new())
    }

    /// A topic name from a string already checked as an MQTT string (length, U+0000): only
    /// the topic rules are left (runs for every PUBLISH received).
    #[inline]
    pub(crate) fn from_mqtt_string(s: MqttString) -> Result<Self, InvalidTopic> {
        if s.is_empty() {
            return Err(InvalidTopic::Empty);
        }
        if has_wildcard(s.as_bytes()) {
            return Err(InvalidTopic::WildcardInName);
        }
        Ok(TopicName(s.into_inner()))
    }

    /// The Topic Name of a received PUBLISH, checked in one pass over its bytes for U+0000 and
    /// wildcards, then for UTF-8 (this runs for every PUBLISH received). Only a name that fails
    /// the fast pass takes the slow one, which reports the first rule broken in the order a
    /// separate string and topic check would. `allow_empty` is for MQTT 5 (Topic Alias).
    #[inline(always)]
    pub(crate) fn from_wire(bytes: Bytes, allow_empty: bool) -> Result<Self, DecodeError> {
        if bytes.is_empty() {
            return if allow_empty {
                Ok(TopicName::alias_only())
            } else {
                Err(InvalidTopic::Empty.into())
            };
        }
        if has_nul_or_wildcard(&bytes) {
            return Self::from_wire_refused(bytes);
        }
        // Not `map`/`map_err`: passing the `Result` through them stored its fields at odd offsets
        // and reloaded them as whole words, a store-forwarding stall on every PUBLISH.
        let Ok(topic) = ByteString::try_from(bytes) else {
            return Err(DecodeError::InvalidUtf8);
        };
        Ok(TopicName(topic))
    }

    /// The slow pass of [`TopicName::from_wire`], out of line so that the fast one stays small
    /// enough to inline into the decoder. It fails for every input the fast pass sends here.
    #[cold]
    #[inline(never)]
    fn from_wire_refused(bytes: Bytes) -> Result<Self, DecodeError> {
        Ok(TopicName::from_mqtt_string(MqttString::from_wire(bytes)?)?)
    }

    /// The topic.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bytes, shared with the buffer the topic was decoded from.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The topic levels, split at `/` (spec 4.7.1.1).
    pub fn levels(&self) -> core::str::Split<'_, char> {
        self.as_str().split('/')
    }

    /// True only for the empty topic of a PUBLISH that relies on a Topic Alias.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for topics beginning with `$`, such as `$SYS/...`, which wildcards at the first level
    /// do not match [MQTT-4.7.2-1].
    pub fn is_dollar(&self) -> bool {
        self.as_bytes().first() == Some(&b'$')
    }
}

fn validate_name(topic: &[u8]) -> Result<(), InvalidTopic> {
    if topic.is_empty() {
        return Err(InvalidTopic::Empty);
    }
    if topic.len() > usize::from(u16::MAX) {
        return Err(InvalidTopic::TooLong(topic.len()));
    }
    // One pass for every byte rule: this runs for each PUBLISH received.
    for &b in topic {
        match b {
            0 => return Err(InvalidTopic::NullCharacter),
            b'+' | b'#' => return Err(InvalidTopic::WildcardInName),
            _ => {}
        }
    }
    Ok(())
}

/// Whether `bytes` contain `+` or `#`.
#[inline]
fn has_wildcard(bytes: &[u8]) -> bool {
    contains_any(bytes, [b'+', b'#'])
}

/// Whether `bytes` contain U+0000's zero byte, `+` or `#`.
#[inline]
fn has_nul_or_wildcard(bytes: &[u8]) -> bool {
    contains_any(bytes, [0, b'+', b'#'])
}

/// A Topic Filter (spec 4.7): the filter of a subscription, with `+` and `#` wildcards, and
/// optionally a shared subscription `$share/{ShareName}/{filter}` (spec 4.8.2).
///
/// ```
/// use mqtt_codec::{TopicFilter, TopicName};
/// let f = TopicFilter::new("$share/workers/jobs/+/new").unwrap();
/// assert_eq!(f.share_name(), Some("workers"));
/// assert_eq!(f.filter(), "jobs/+/new");
/// assert!(f.matches(&TopicName::new("jobs/print/new").unwrap()));
/// assert!(TopicFilter::new("sport/tennis#").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "String", into = "String")
)]
pub struct TopicFilter {
    full: ByteString,
    /// Byte offset of the filter proper: 0, or past `$share/{ShareName}/`.
    filter_start: usize,
    has_wildcards: bool,
}

const SHARE_PREFIX: &[u8] = b"$share/";

impl TopicFilter {
    /// A topic filter, checked against the rules of spec 4.7.1 and 4.8.2.
    pub fn new(filter: impl Into<String>) -> Result<Self, InvalidTopic> {
        let filter: String = filter.into();
        Self::from_byte_string(ByteString::from(filter))
    }

    /// A topic filter from a `&'static str`, checked like [`TopicFilter::new`].
    pub fn from_static(filter: &'static str) -> Result<Self, InvalidTopic> {
        Self::from_byte_string(ByteString::from_static(filter))
    }

    pub(crate) fn from_mqtt_string(s: MqttString) -> Result<Self, InvalidTopic> {
        Self::from_byte_string(s.into_inner())
    }

    /// A Topic Filter received in a SUBSCRIBE or UNSUBSCRIBE: a UTF-8 Encoded String that must
    /// also satisfy the filter rules. The filter rules only concern ASCII bytes, so they are
    /// checked first, on the raw bytes, and they find U+0000 too; the string is then checked
    /// for UTF-8 once. A filter that breaks a rule takes the slow path, which reports the first
    /// rule broken in the order a separate string and filter check would.
    #[inline]
    pub(crate) fn from_wire(bytes: Bytes) -> Result<Self, DecodeError> {
        let Ok((filter_start, has_wildcards)) = check_filter(&bytes) else {
            return Self::from_wire_refused(bytes);
        };
        let full = ByteString::try_from(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
        Ok(TopicFilter {
            full,
            filter_start,
            has_wildcards,
        })
    }

    /// The slow path of [`TopicFilter::from_wire`]; it fails for every input sent here.
    #[cold]
    #[inline(never)]
    fn from_wire_refused(bytes: Bytes) -> Result<Self, DecodeError> {
        Ok(TopicFilter::from_mqtt_string(MqttString::from_wire(
            bytes,
        )?)?)
    }

    fn from_byte_string(full: ByteString) -> Result<Self, InvalidTopic> {
        let (filter_start, has_wildcards) = check_filter(full.as_bytes())?;
        Ok(TopicFilter {
            full,
            filter_start,
            has_wildcards,
        })
    }

    /// The whole filter as sent, including any `$share/{ShareName}/` prefix.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The bytes of the whole filter, shared with the buffer it was decoded from.
    pub fn as_bytes(&self) -> &Bytes {
        self.full.as_bytes()
    }

    /// The filter that topics are matched against: without the `$share/{ShareName}/` prefix.
    pub fn filter(&self) -> &str {
        self.full.get(self.filter_start..).unwrap_or_default()
    }

    /// The ShareName of a shared subscription (spec 4.8.2).
    pub fn share_name(&self) -> Option<&str> {
        if self.filter_start == 0 {
            return None;
        }
        self.full.get(SHARE_PREFIX.len()..self.filter_start - 1)
    }

    /// True for `$share/...` filters.
    pub fn is_shared(&self) -> bool {
        self.filter_start != 0
    }

    /// True when the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.has_wildcards
    }

    /// The levels of [`TopicFilter::filter`], split at `/`.
    pub fn levels(&self) -> core::str::Split<'_, char> {
        self.filter().split('/')
    }

    /// Whether a PUBLISH to `topic` matches this filter (spec 4.7), including the rule that a
    /// filter starting with a wildcard does not match topics starting with `$` [MQTT-4.7.2-1].
    pub fn matches(&self, topic: &TopicName) -> bool {
        let filter = self.filter().as_bytes();
        if !self.has_wildcards {
            return filter == topic.as_bytes().as_ref();
        }
        topic_matches(filter, topic.as_bytes())
    }
}

/// Checks a whole filter, `$share/{ShareName}/` prefix included, against spec 4.7.1, 4.7.3 and
/// 4.8.2; returns where the filter proper starts and whether it has wildcards.
#[inline]
fn check_filter(bytes: &[u8]) -> Result<(usize, bool), InvalidTopic> {
    if bytes.len() > usize::from(u16::MAX) {
        return Err(InvalidTopic::TooLong(bytes.len()));
    }
    let filter_start = match bytes.strip_prefix(SHARE_PREFIX) {
        Some(rest) => {
            let group_len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let group = rest.get(..group_len).unwrap_or_default();
            if group.contains(&0) {
                return Err(InvalidTopic::NullCharacter);
            }
            if group.is_empty() || group.iter().any(|&b| b == b'+' || b == b'#') {
                return Err(InvalidTopic::InvalidShareName);
            }
            if group_len + 1 >= rest.len() {
                return Err(InvalidTopic::EmptySharedFilter);
            }
            SHARE_PREFIX.len() + group_len + 1
        }
        None => 0,
    };
    let filter = bytes.get(filter_start..).unwrap_or_default();
    Ok((filter_start, validate_filter(filter)?))
}

/// Checks the wildcard rules of spec 4.7.1 and the null character, in one pass; returns
/// whether the filter has wildcards.
#[inline]
fn validate_filter(filter: &[u8]) -> Result<bool, InvalidTopic> {
    if filter.is_empty() {
        return Err(InvalidTopic::Empty);
    }
    // Most bytes are ordinary: a word of eight at a time yields a mask of the bytes that may be
    // U+0000, `+` or `#` (SUBSCRIBE carries many filters, and a branch per byte cost more than
    // the rest of decoding). Only those bytes are looked at, in order, so the first rule broken
    // is the one reported.
    let mut has_wildcards = false;
    let mut base = 0;
    let mut chunks = filter.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        has_wildcards |= check_candidates(filter, base, special_bytes(word))?;
        base += 8;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Padding with `/` adds no candidate; the mask is cut to the real bytes anyway.
        let mut word = [b'/'; 8];
        if let Some(head) = word.get_mut(..rest.len()) {
            head.copy_from_slice(rest);
        }
        let real = u64::MAX >> (8 * (8 - rest.len()));
        has_wildcards |= check_candidates(filter, base, special_bytes(word) & real)?;
    }
    Ok(has_wildcards)
}

/// A mask with the high bit of each byte of `word` (in memory order, lowest byte first) that
/// may be U+0000, `+` or `#`. The lowest bit set is exact; bits above it may be false positives
/// (a borrow of the subtraction), so each candidate is checked against its byte.
#[inline(always)]
fn special_bytes(word: [u8; 8]) -> u64 {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let v = u64::from_le_bytes(word);
    zero_byte(v)
        | zero_byte(v ^ u64::from_le_bytes([b'+'; 8]))
        | zero_byte(v ^ u64::from_le_bytes([b'#'; 8]))
}

/// Applies the wildcard and null character rules to the candidate bytes of `mask`, which are
/// bytes `base..base + 8` of `filter`; returns whether one is a wildcard.
#[inline(always)]
fn check_candidates(filter: &[u8], base: usize, mut mask: u64) -> Result<bool, InvalidTopic> {
    let mut has_wildcards = false;
    while mask != 0 {
        let i = base + (mask.trailing_zeros() / 8) as usize;
        mask &= mask - 1;
        let at_level_start = i == 0 || filter.get(i.wrapping_sub(1)) == Some(&b'/');
        match filter.get(i) {
            // [MQTT-4.7.1-2]: '+' occupies an entire level.
            Some(b'+') => {
                if !at_level_start || !matches!(filter.get(i + 1), None | Some(b'/')) {
                    return Err(InvalidTopic::MisplacedSingleLevelWildcard);
                }
                has_wildcards = true;
            }
            // [MQTT-4.7.1-1]: '#' alone in the last level.
            Some(b'#') => {
                if !at_level_start || i + 1 != filter.len() {
                    return Err(InvalidTopic::MisplacedMultiLevelWildcard);
                }
                has_wildcards = true;
            }
            Some(0) => return Err(InvalidTopic::NullCharacter),
            _ => {}
        }
    }
    Ok(has_wildcards)
}

/// Matches a topic name against a topic filter, both as bytes already validated (spec 4.7).
///
/// Exposed for routers that keep filters in their own structures.
///
/// ```
/// use mqtt_codec::topic_matches;
/// assert!(topic_matches(b"sport/#", b"sport"));
/// assert!(topic_matches(b"+/+", b"/finance"));
/// assert!(!topic_matches(b"#", b"$SYS/broker/uptime"));
/// assert!(topic_matches(b"$SYS/#", b"$SYS/broker/uptime"));
/// ```
pub fn topic_matches(filter: &[u8], topic: &[u8]) -> bool {
    if topic.first() == Some(&b'$') && matches!(filter.first(), Some(b'+' | b'#')) {
        return false;
    }
    let mut f = filter.split(|&b| b == b'/');
    let mut t = topic.split(|&b| b == b'/');
    loop {
        match (f.next(), t.next()) {
            // "sport/#" also matches "sport": '#' includes the parent level (spec 4.7.1.2).
            (Some(b"#"), _) => return true,
            (Some(b"+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

macro_rules! string_like {
    ($ty:ident, $field:tt) => {
        impl Deref for $ty {
            type Target = str;
            fn deref(&self) -> &str {
                self.as_str()
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = InvalidTopic;
            fn try_from(s: &str) -> Result<Self, InvalidTopic> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = InvalidTopic;
            fn try_from(s: String) -> Result<Self, InvalidTopic> {
                $ty::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(t: $ty) -> String {
                String::from(t.as_str())
            }
        }

        impl From<$ty> for MqttString {
            fn from(t: $ty) -> MqttString {
                MqttString::from_inner(t.$field)
            }
        }
    };
}

string_like!(TopicName, 0);
string_like!(TopicFilter, full);

impl Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    #[test]
    fn mqtt_3_3_2_2_topic_name_has_no_wildcards() {
        // [MQTT-3.3.2-2] The Topic Name in the PUBLISH packet MUST NOT contain wildcard characters.
        assert_eq!(TopicName::new("a/+"), Err(InvalidTopic::WildcardInName));
        assert_eq!(TopicName::new("a/#"), Err(InvalidTopic::WildcardInName));
        assert_eq!(TopicName::new("a+b"), Err(InvalidTopic::WildcardInName));
    }

    #[test]
    fn mqtt_4_7_3_1_topics_are_not_empty() {
        // [MQTT-4.7.3-1] All Topic Names and Topic Filters MUST be at least one character long.
        assert_eq!(TopicName::new(""), Err(InvalidTopic::Empty));
        assert_eq!(TopicFilter::new(""), Err(InvalidTopic::Empty));
    }

    #[test]
    fn mqtt_4_7_3_2_topics_have_no_null_character() {
        // [MQTT-4.7.3-2] Topic Names and Topic Filters MUST NOT include the null character.
        assert_eq!(TopicName::new("a\0"), Err(InvalidTopic::NullCharacter));
        assert_eq!(TopicFilter::new("a\0"), Err(InvalidTopic::NullCharacter));
    }

    #[test]
    fn mqtt_4_7_3_3_topics_are_at_most_65535_bytes() {
        // [MQTT-4.7.3-3] Topic Names and Topic Filters are UTF-8 Encoded Strings; they MUST NOT
        // encode to more than 65,535 bytes.
        assert_eq!(
            TopicName::new("a".repeat(65_536)),
            Err(InvalidTopic::TooLong(65_536))
        );
        assert!(TopicFilter::new("a".repeat(65_535)).is_ok());
    }

    #[test]
    fn mqtt_4_7_1_1_multi_level_wildcard_placement() {
        // [MQTT-4.7.1-1] (5.0) / [MQTT-4.7.1-2] (3.1.1): '#' on its own or after '/', and last.
        for ok in ["#", "sport/#", "sport/tennis/#", "/#", "+/#"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in ["sport/tennis#", "sport/tennis/#/ranking", "#/a", "a#", "##"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(InvalidTopic::MisplacedMultiLevelWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn mqtt_4_7_1_2_single_level_wildcard_placement() {
        // [MQTT-4.7.1-2] (5.0) / [MQTT-4.7.1-3] (3.1.1): '+' occupies an entire level.
        for ok in ["+", "+/tennis/#", "sport/+/player1", "/+", "+/+", "+/"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in ["sport+", "sport/+tennis", "a/b+/c", "++"] {
            assert_eq!(
                TopicFilter::new(bad),
                Err(InvalidTopic::MisplacedSingleLevelWildcard),
                "{bad}"
            );
        }
    }

    #[test]
    fn spec_4_7_1_examples_match() {
        // Non-normative examples of spec 4.7.1.2 and 4.7.1.3.
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
                true,
            ),
            ("sport/#", "sport", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("#", "a/b/c", true),
            ("a/b", "a/b", true),
            ("a/b", "a/b/c", false),
            ("a/b/c", "a/b", false),
            ("ACCOUNTS", "Accounts", false),
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
        ];
        for (f, t, expected) in cases {
            assert_eq!(filter(f).matches(&name(t)), expected, "{f} vs {t}");
        }
    }

    #[test]
    fn mqtt_4_7_2_1_wildcards_do_not_match_dollar_topics() {
        // [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a wildcard
        // character (# or +) with Topic Names beginning with a $ character.
        assert!(!filter("#").matches(&name("$SYS/broker/uptime")));
        assert!(!filter("+/monitor/Clients").matches(&name("$SYS/monitor/Clients")));
        assert!(filter("$SYS/#").matches(&name("$SYS/monitor/Clients")));
        assert!(filter("$SYS/monitor/+").matches(&name("$SYS/monitor/Clients")));
        // '$' later in the topic is an ordinary character.
        assert!(filter("#").matches(&name("a/$b")));
    }

    #[test]
    fn mqtt_4_8_2_shared_subscription_syntax() {
        // [MQTT-4.8.2-1] ShareName is at least one character, without '/', '+' or '#'.
        // [MQTT-4.8.2-2] It is followed by '/' and a Topic Filter.
        let f = filter("$share/g1/a/+/c");
        assert!(f.is_shared());
        assert_eq!(f.share_name(), Some("g1"));
        assert_eq!(f.filter(), "a/+/c");
        assert!(f.matches(&name("a/b/c")));
        assert_eq!(
            TopicFilter::new("$share//a"),
            Err(InvalidTopic::InvalidShareName)
        );
        assert_eq!(
            TopicFilter::new("$share/g+/a"),
            Err(InvalidTopic::InvalidShareName)
        );
        assert_eq!(
            TopicFilter::new("$share/g#/a"),
            Err(InvalidTopic::InvalidShareName)
        );
        assert_eq!(
            TopicFilter::new("$share/g"),
            Err(InvalidTopic::EmptySharedFilter)
        );
        assert_eq!(
            TopicFilter::new("$share/g/"),
            Err(InvalidTopic::EmptySharedFilter)
        );
        assert_eq!(
            TopicFilter::new("$share/g/a#"),
            Err(InvalidTopic::MisplacedMultiLevelWildcard)
        );
        // Not a shared subscription: the prefix must be exactly "$share/".
        assert!(!filter("$shared/g/a").is_shared());
        assert!(!filter("$share").is_shared());
    }

    #[test]
    fn wildcard_scan_finds_them_at_every_position() {
        for len in 0..40 {
            assert!(!has_wildcard(&vec![b'a'; len]));
            for pos in 0..len {
                for w in [b'+', b'#'] {
                    let mut t = vec![b'a'; len];
                    t[pos] = w;
                    assert!(has_wildcard(&t), "{len} {pos}");
                }
                // Bytes next to the wildcards' values are not wildcards.
                for other in [b'*', b',', b'"', b'$', 0xAB, 0xA3] {
                    let mut t = vec![b'a'; len];
                    t[pos] = other;
                    assert!(!has_wildcard(&t), "{len} {pos} {other}");
                }
            }
        }
    }

    /// The rules of `validate_filter`, one byte at a time.
    fn validate_filter_bytewise(filter: &[u8]) -> Result<bool, InvalidTopic> {
        if filter.is_empty() {
            return Err(InvalidTopic::Empty);
        }
        let mut has_wildcards = false;
        for (i, &b) in filter.iter().enumerate() {
            let at_level_start = i == 0 || filter[i - 1] == b'/';
            match b {
                b'+' if !at_level_start || !matches!(filter.get(i + 1), None | Some(b'/')) => {
                    return Err(InvalidTopic::MisplacedSingleLevelWildcard)
                }
                b'#' if !at_level_start || i + 1 != filter.len() => {
                    return Err(InvalidTopic::MisplacedMultiLevelWildcard)
                }
                b'+' | b'#' => has_wildcards = true,
                0 => return Err(InvalidTopic::NullCharacter),
                _ => {}
            }
        }
        Ok(has_wildcards)
    }

    #[test]
    fn word_at_a_time_filter_check_agrees_with_bytewise_rules() {
        // Every filter of up to 5 bytes over an alphabet with the special bytes, their neighbours
        // in value (false positives of the word test) and `/`, then the same at the end of and
        // across the eight-byte words of longer filters.
        let alphabet = [b'a', b'/', b'+', b'#', 0, b'*', b'"', 0x01, 0xAB];
        let mut cases: Vec<Vec<u8>> = vec![vec![]];
        let mut frontier = cases.clone();
        for _ in 0..5 {
            frontier = frontier
                .iter()
                .flat_map(|f| {
                    alphabet.iter().map(move |&b| {
                        let mut f = f.clone();
                        f.push(b);
                        f
                    })
                })
                .collect();
            cases.extend(frontier.iter().cloned());
        }
        for case in cases {
            for prefix in [
                &b""[..],
                b"abc/",
                b"abcdefg",
                b"abcdefgh/",
                b"a/+/b/c/d/e/f/",
            ] {
                let mut f = prefix.to_vec();
                f.extend_from_slice(&case);
                assert_eq!(validate_filter(&f), validate_filter_bytewise(&f), "{:?}", f);
            }
        }
    }

    #[test]
    fn exact_filters_match_by_equality() {
        let f = filter("a/b");
        assert!(!f.has_wildcards());
        assert!(f.matches(&name("a/b")));
        assert!(!f.matches(&name("a/c")));
    }
}
