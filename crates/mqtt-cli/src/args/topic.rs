//! The checks libmosquitto applies to topics and strings given on the command line.
//!
//! They are looser than [`mqtt_codec::TopicName`] and [`mqtt_codec::TopicFilter`] in some ways
//! (an empty topic passes, `$share/` is not examined) and stricter in others (control characters
//! and Unicode non-characters are refused). The parser applies these first, in Mosquitto's order and
//! with its messages, and only then builds the codec's types.

/// `mosquitto_validate_utf8`: well-formed UTF-8 of at most 65,536 bytes, without NUL, UTF-16
/// surrogates, overlong forms, non-characters or control characters (C0 and C1).
pub(crate) fn valid_utf8(bytes: &[u8]) -> bool {
    if bytes.len() > 65_536 {
        return false;
    }
    let Ok(s) = std::str::from_utf8(bytes) else {
        // Rust's decoder already refuses surrogates, overlong forms and values past U+10FFFF,
        // which is everything libmosquitto refuses at the byte level.
        return false;
    };
    s.chars().all(|c| {
        let cp = u32::from(c);
        let non_character = (0xFDD0..=0xFDEF).contains(&cp) || (cp & 0xFFFE) == 0xFFFE;
        let control = cp <= 0x1F || (0x7F..=0x9F).contains(&cp);
        !non_character && !control
    })
}

/// `mosquitto_pub_topic_check`: no `+` or `#`, at most 65,535 bytes (the empty topic passes).
pub(crate) fn pub_topic_ok(topic: &[u8]) -> bool {
    topic.len() <= 65_535 && !topic.iter().any(|&b| b == b'+' || b == b'#')
}

/// `mosquitto_sub_topic_check`: `+` alone in its level, `#` alone in the last level, at most
/// 65,535 bytes (the empty filter passes).
pub(crate) fn sub_topic_ok(filter: &[u8]) -> bool {
    if filter.len() > 65_535 {
        return false;
    }
    let mut prev: Option<u8> = None;
    for (i, &b) in filter.iter().enumerate() {
        let next = filter.get(i + 1).copied();
        let starts_level = matches!(prev, None | Some(b'/'));
        match b {
            b'+' if !starts_level || !matches!(next, None | Some(b'/')) => return false,
            b'#' if !starts_level || next.is_some() => return false,
            _ => {}
        }
        prev = Some(b);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_rules_follow_libmosquitto() {
        assert!(valid_utf8(b"sensors/kitchen"));
        assert!(valid_utf8("caf\u{e9}/\u{1F600}".as_bytes()));
        assert!(valid_utf8(b""));
        assert!(!valid_utf8(b"a\tb"));
        assert!(!valid_utf8(b"a\x7fb"));
        assert!(!valid_utf8("a\u{85}".as_bytes()));
        assert!(!valid_utf8("\u{FDD0}".as_bytes()));
        assert!(!valid_utf8("\u{FFFF}".as_bytes()));
        assert!(!valid_utf8("\u{1FFFE}".as_bytes()));
        assert!(!valid_utf8(b"\xC0\x80"));
        assert!(!valid_utf8(b"\xED\xA0\x80"));
        assert!(!valid_utf8(b"\xFF"));
        assert!(valid_utf8(&[b'a'; 65_536]));
        assert!(!valid_utf8(&[b'a'; 65_537]));
    }

    #[test]
    fn publish_topics_refuse_wildcards() {
        assert!(pub_topic_ok(b"a/b"));
        assert!(pub_topic_ok(b""));
        assert!(!pub_topic_ok(b"a/+"));
        assert!(!pub_topic_ok(b"a/#"));
        assert!(!pub_topic_ok(b"a+b"));
        assert!(!pub_topic_ok(&[b'a'; 65_536]));
    }

    #[test]
    fn subscription_wildcards_must_fill_their_level() {
        for ok in ["#", "+", "a/#", "a/+/b", "+/+", "/#", "", "$SYS/#", "a//b"] {
            assert!(sub_topic_ok(ok.as_bytes()), "{ok}");
        }
        for bad in ["a#", "a/#/b", "a+", "+a", "a/+b", "##", "#/"] {
            assert!(!sub_topic_ok(bad.as_bytes()), "{bad}");
        }
    }
}
