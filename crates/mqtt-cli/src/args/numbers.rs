//! The C library's number conversions, as Mosquitto's clients use them.
//!
//! `mosquitto_pub -q x` publishes at QoS 0 and `-p 1883abc` connects to port 1883, because the
//! clients read numbers with `atoi`, `atol` and `atof`, which stop at the first character that
//! is not part of a number and yield 0 when there is none. Scripts written against Mosquitto may
//! depend on that leniency, so these functions reproduce glibc's results instead of Rust's stricter
//! `str::parse`.

/// The white space `isspace` accepts in the C locale; `strtol` and `strtod` skip it first.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The value of `b` as a digit in `radix`, if it is one.
fn digit_value(b: u8, radix: u32) -> Option<u32> {
    char::from(b).to_digit(radix)
}

/// What `strtol` read: the value (saturated at the `long` limits, as glibc does on overflow) and
/// how many bytes it consumed (0 when it found no number at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Strtol {
    /// The converted value.
    pub(crate) value: i64,
    /// Bytes consumed; `strtol` sets `endptr` to the input's start when this is 0.
    pub(crate) consumed: usize,
}

/// `strtol(s, &end, base)` for base 10 or base 0 (0 means: `0x` prefix for hex, a leading `0` for
/// octal, decimal otherwise).
pub(crate) fn strtol(s: &[u8], base: u32) -> Strtol {
    let byte = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while is_c_space(byte(i)) {
        i += 1;
    }
    let negative = byte(i) == b'-';
    if matches!(byte(i), b'+' | b'-') {
        i += 1;
    }
    let mut radix = if base == 0 { 10 } else { base };
    if base == 0 || base == 16 {
        // "0x" counts as a prefix only when a hex digit follows; otherwise strtol reads the
        // "0" alone and stops at the "x".
        if byte(i) == b'0'
            && matches!(byte(i + 1), b'x' | b'X')
            && digit_value(byte(i + 2), 16).is_some()
        {
            radix = 16;
            i += 2;
        } else if base == 0 && byte(i) == b'0' {
            radix = 8;
        }
    }
    let digits_start = i;
    // Accumulate as a negative number so that LONG_MIN is representable, like glibc.
    let mut acc: i64 = 0;
    let mut overflow = false;
    while let Some(d) = digit_value(byte(i), radix) {
        match acc
            .checked_mul(i64::from(radix))
            .and_then(|v| v.checked_sub(i64::from(d)))
        {
            Some(v) => acc = v,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits_start {
        return Strtol {
            value: 0,
            consumed: 0,
        };
    }
    let value = if overflow {
        if negative {
            i64::MIN
        } else {
            i64::MAX
        }
    } else if negative {
        acc
    } else {
        acc.checked_neg().unwrap_or(i64::MAX)
    };
    Strtol { value, consumed: i }
}

/// `atol(s)`: `strtol(s, NULL, 10)`.
pub(crate) fn atol(s: &[u8]) -> i64 {
    strtol(s, 10).value
}

/// `atoi(s)`: glibc computes `(int) strtol(s, NULL, 10)`, so values beyond `int` wrap.
pub(crate) fn atoi(s: &[u8]) -> i32 {
    // Truncation to the low 32 bits is exactly what the C cast does.
    atol(s) as i32
}

/// `atof(s)`: the longest prefix of `s` that `strtod` accepts as a decimal number, infinity or
/// NaN, or 0.0 when there is none. (Hexadecimal floating-point input is not recognised; no
/// option of the clients documents it.)
pub(crate) fn atof(s: &[u8]) -> f64 {
    let byte = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut start = 0;
    while is_c_space(byte(start)) {
        start += 1;
    }
    let mut i = start;
    if matches!(byte(i), b'+' | b'-') {
        i += 1;
    }
    let rest = s.get(i..).unwrap_or_default();
    for word in [&b"infinity"[..], b"inf", b"nan"] {
        if rest.len() >= word.len()
            && rest
                .get(..word.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(word))
        {
            return parse_prefix(s.get(start..i + word.len()).unwrap_or_default());
        }
    }
    let int_start = i;
    while byte(i).is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if byte(i) == b'.' {
        i += 1;
        let frac_start = i;
        while byte(i).is_ascii_digit() {
            i += 1;
        }
        digits += i - frac_start;
    }
    if digits == 0 {
        return 0.0;
    }
    if matches!(byte(i), b'e' | b'E') {
        let mut j = i + 1;
        if matches!(byte(j), b'+' | b'-') {
            j += 1;
        }
        if byte(j).is_ascii_digit() {
            while byte(j).is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    parse_prefix(s.get(start..i).unwrap_or_default())
}

/// Parses a prefix already known to follow C's floating-point syntax.
fn parse_prefix(p: &[u8]) -> f64 {
    std::str::from_utf8(p)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_stops_at_the_first_non_digit_like_glibc() {
        assert_eq!(atoi(b"1883abc"), 1883);
        assert_eq!(atoi(b"x"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"  -12"), -12);
        assert_eq!(atoi(b"+7"), 7);
        assert_eq!(atoi(b"- 7"), 0);
        // (int) of a long: wraps to the low 32 bits.
        assert_eq!(atoi(b"4294967297"), 1);
        assert_eq!(atoi(b"99999999999999999999999"), -1);
    }

    #[test]
    fn atol_saturates_on_overflow() {
        assert_eq!(atol(b"4294967296"), 4_294_967_296);
        assert_eq!(atol(b"99999999999999999999999"), i64::MAX);
        assert_eq!(atol(b"-99999999999999999999999"), i64::MIN);
        assert_eq!(atol(b"-9223372036854775808"), i64::MIN);
    }

    #[test]
    fn strtol_base_0_reads_hex_and_octal() {
        assert_eq!(
            strtol(b"0x10", 0),
            Strtol {
                value: 16,
                consumed: 4
            }
        );
        assert_eq!(
            strtol(b"010", 0),
            Strtol {
                value: 8,
                consumed: 3
            }
        );
        assert_eq!(
            strtol(b"0", 0),
            Strtol {
                value: 0,
                consumed: 1
            }
        );
        assert_eq!(
            strtol(b"0x", 0),
            Strtol {
                value: 0,
                consumed: 1
            }
        );
        assert_eq!(
            strtol(b"09", 0),
            Strtol {
                value: 0,
                consumed: 1
            }
        );
        assert_eq!(
            strtol(b" 5", 0),
            Strtol {
                value: 5,
                consumed: 2
            }
        );
        assert_eq!(
            strtol(b"-1", 0),
            Strtol {
                value: -1,
                consumed: 2
            }
        );
        assert_eq!(strtol(b"", 0).consumed, 0);
        assert_eq!(strtol(b"abc", 0).consumed, 0);
    }

    #[test]
    fn atof_reads_the_longest_numeric_prefix() {
        assert_eq!(atof(b"1.5s"), 1.5);
        assert_eq!(atof(b"1e3"), 1000.0);
        assert_eq!(atof(b"1e"), 1.0);
        assert_eq!(atof(b".5"), 0.5);
        assert_eq!(atof(b"5."), 5.0);
        assert_eq!(atof(b"-0.25"), -0.25);
        assert_eq!(atof(b"abc"), 0.0);
        assert_eq!(atof(b"."), 0.0);
        assert!(atof(b"inf").is_infinite());
        assert!(atof(b"NaN").is_nan());
    }
}
