//! The few pieces of C's `printf` that `mosquitto_sub` relies on, reproduced byte for byte.
//!
//! Mosquitto hands its field widths and precisions straight to `printf("%*d")`, `printf("%.*s")`
//! and friends, so the corner cases (negative widths, `0` with `-`, precision on strings) are
//! those of C, not of Rust's `format!`.

/// Appends `value` as C's `printf` prints an `int` with the given field width and flags.
///
/// A negative `width` means "left-justify in `|width|` columns", as with `printf("%*d", -5, v)`;
/// `zero` is ignored when left-justifying, as in C.
pub(crate) fn int(out: &mut Vec<u8>, value: i32, width: i32, left: bool, zero: bool) {
    let left = left || width < 0;
    let width = usize::try_from(width.unsigned_abs()).unwrap_or(usize::MAX);
    let digits = value.unsigned_abs().to_string();
    let sign: &[u8] = if value < 0 { b"-" } else { b"" };
    let len = sign.len() + digits.len();
    let fill = width.saturating_sub(len);
    if left {
        out.extend_from_slice(sign);
        out.extend_from_slice(digits.as_bytes());
        repeat(out, b' ', fill);
    } else if zero {
        // C puts the zeros between the sign and the digits: `%05d` of -42 is "-0042".
        out.extend_from_slice(sign);
        repeat(out, b'0', fill);
        out.extend_from_slice(digits.as_bytes());
    } else {
        repeat(out, b' ', fill);
        out.extend_from_slice(sign);
        out.extend_from_slice(digits.as_bytes());
    }
}

/// Appends `value` as `printf("%*.*s", width, precision, value)` would, with `left` for `%-`.
///
/// A negative precision means "no precision", a negative width means left-justification; both
/// count bytes, not characters, exactly like C.
pub(crate) fn string(out: &mut Vec<u8>, value: &[u8], width: i32, precision: i32, left: bool) {
    let value = c_str(value);
    let value = match usize::try_from(precision) {
        Ok(max) => value.get(..max).unwrap_or(value),
        Err(_) => value,
    };
    let left = left || width < 0;
    let width = usize::try_from(width.unsigned_abs()).unwrap_or(usize::MAX);
    let fill = width.saturating_sub(value.len());
    if !left {
        repeat(out, b' ', fill);
    }
    out.extend_from_slice(value);
    if left {
        repeat(out, b' ', fill);
    }
}

/// The bytes C sees of `value`: everything before the first NUL, since Mosquitto passes its
/// strings around as NUL-terminated `char *`.
pub(crate) fn c_str(value: &[u8]) -> &[u8] {
    match value.iter().position(|&b| b == 0) {
        Some(end) => value.get(..end).unwrap_or(value),
        None => value,
    }
}

/// Appends `count` copies of `byte`.
pub(crate) fn repeat(out: &mut Vec<u8>, byte: u8, count: usize) {
    out.resize(out.len().saturating_add(count), byte);
}

/// Appends `value` as C's `printf("%0*ld", width, value)` for a non-negative value (used for
/// nanoseconds and microseconds).
pub(crate) fn zero_padded(out: &mut Vec<u8>, value: u64, width: usize) {
    let digits = value.to_string();
    repeat(out, b'0', width.saturating_sub(digits.len()));
    out.extend_from_slice(digits.as_bytes());
}

/// Formats a finite `value` as C's `printf("%1.<precision>g", value)`.
///
/// `%g` picks scientific notation when the decimal exponent (after rounding to `precision`
/// significant digits) is below -4 or at least `precision`, and drops trailing zeros either way.
/// Rust's `{:e}` and `{:.N}` are correctly rounded from the exact binary value, like glibc's, so
/// the digits agree.
pub(crate) fn general(value: f64, precision: usize) -> String {
    let precision = precision.max(1);
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let scientific = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = match scientific.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (scientific.as_str(), 0),
    };
    let precision_i = i64::try_from(precision).unwrap_or(i64::MAX);
    if exponent < -4 || exponent >= precision_i {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else {
        let decimals = usize::try_from(precision_i - 1 - exponent).unwrap_or(0);
        strip_fraction_zeros(&format!("{value:.decimals$}")).to_owned()
    }
}

/// Removes trailing zeros after a decimal point, and the point itself if nothing follows it.
fn strip_fraction_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn int_s(value: i32, width: i32, left: bool, zero: bool) -> String {
        let mut out = Vec::new();
        int(&mut out, value, width, left, zero);
        String::from_utf8(out).unwrap()
    }

    fn str_s(value: &str, width: i32, precision: i32, left: bool) -> String {
        let mut out = Vec::new();
        string(&mut out, value.as_bytes(), width, precision, left);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn int_matches_c_printf() {
        assert_eq!(int_s(5, 0, false, false), "5");
        assert_eq!(int_s(5, 5, false, false), "    5");
        assert_eq!(int_s(5, 5, true, false), "5    ");
        assert_eq!(int_s(5, 5, false, true), "00005");
        assert_eq!(int_s(-42, 5, false, true), "-0042");
        assert_eq!(int_s(-42, 5, true, true), "-42  ");
        assert_eq!(int_s(-42, -5, false, true), "-42  ");
        assert_eq!(int_s(123_456, 3, false, false), "123456");
        assert_eq!(int_s(i32::MIN, 0, false, false), "-2147483648");
    }

    #[test]
    fn string_matches_c_printf() {
        assert_eq!(str_s("hello", 0, -1, false), "hello");
        assert_eq!(str_s("hello", 8, -1, false), "   hello");
        assert_eq!(str_s("hello", 8, -1, true), "hello   ");
        assert_eq!(str_s("hello", 0, 3, false), "hel");
        assert_eq!(str_s("hello", 6, 3, false), "   hel");
        assert_eq!(str_s("hello", 6, 0, true), "      ");
        assert_eq!(str_s("hello", -7, -1, false), "hello  ");
        assert_eq!(str_s("he\0llo", 4, -1, false), "  he");
    }

    #[test]
    fn general_matches_c_percent_g() {
        let cases: &[(f64, usize, &str)] = &[
            (0.0, 15, "0"),
            (-0.0, 15, "-0"),
            (1.0, 15, "1"),
            (2.5, 15, "2.5"),
            (1000.0, 15, "1000"),
            (0.1, 15, "0.1"),
            (0.1, 17, "0.10000000000000001"),
            (1.5e-7, 15, "1.5e-07"),
            (0.0001, 15, "0.0001"),
            (0.00001, 15, "1e-05"),
            (123_456_789_012.0, 15, "123456789012"),
            (1e15, 15, "1e+15"),
            (999_999_999_999_999.0, 15, "999999999999999"),
            (1e300, 15, "1e+300"),
            (4_294_967_295.0, 15, "4294967295"),
            (-2.5e-300, 15, "-2.5e-300"),
        ];
        for &(value, precision, expected) in cases {
            assert_eq!(
                general(value, precision),
                expected,
                "{value:e} at {precision}"
            );
        }
    }
}
