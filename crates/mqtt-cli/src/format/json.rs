//! The JSON of `%j` and `%J`, as the cJSON 1.7.15 library linked into `mosquitto_sub` 2.0.11
//! parses and prints it.
//!
//! A general JSON library will not do: to be byte-exact we must keep duplicate keys and their
//! order, print numbers through `%1.15g`/`%1.17g`, escape strings as cJSON does (raw bytes above
//! 0x7F, `\u00XX` for control bytes), truncate strings at a NUL like a C string, and accept
//! exactly what cJSON accepts (raw control characters in strings, `01`, `1.`, `-.5`, a UTF-8 BOM,
//! any byte up to 0x20 as white space) and nothing more.
//!
//! Debian's cJSON 1.7.15 carries the fix for CVE-2023-26819, which copies a number of any
//! length for `strtod` (upstream 1.7.15 stopped at 63 bytes); we follow the patched library.

use super::printf;

/// How deeply arrays and objects may nest (`CJSON_NESTING_LIMIT`).
const NESTING_LIMIT: usize = 1000;

/// One JSON value, as a cJSON tree holds it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    /// `null`.
    Null,
    /// `false` or `true`.
    Bool(bool),
    /// Every number is a C `double`.
    Number(f64),
    /// The bytes of a string: not necessarily UTF-8, and cut at the first NUL when printed.
    String(Vec<u8>),
    /// An array, in order.
    Array(Vec<Json>),
    /// An object: keys in order, duplicates kept.
    Object(Vec<(Vec<u8>, Json)>),
}

impl Json {
    /// A string value from anything byte-like.
    pub(crate) fn string(bytes: impl Into<Vec<u8>>) -> Self {
        Json::String(bytes.into())
    }

    /// A number value from an integer, as `cJSON_CreateNumber((double)value)`.
    pub(crate) fn int(value: impl Into<i64>) -> Self {
        // Every integer mosquitto_sub prints fits in 53 bits, so the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        Json::Number(value.into() as f64)
    }
}

/// Parses `payload` as `mosquitto_sub` does for `%J`: `cJSON_ParseWithOpts` with a required NUL
/// terminator, then a check that parsing stopped at the end of the payload.
///
/// Returns `None` when Mosquitto would report "Message payload is not valid JSON".
pub(crate) fn parse(payload: &[u8]) -> Option<Json> {
    // cJSON sees the payload as a C string, so an embedded NUL ends the text early and the end
    // check then fails: such a payload is never valid.
    if payload.contains(&0) {
        return None;
    }
    // The terminating NUL is part of the buffer cJSON walks (its `length` counts it).
    let mut buf = Vec::with_capacity(payload.len() + 1);
    buf.extend_from_slice(payload);
    buf.push(0);
    let mut parser = Parser {
        buf: &buf,
        pos: 0,
        depth: 0,
    };
    if buf.starts_with(b"\xEF\xBB\xBF") {
        parser.pos = 3;
    }
    parser.skip_whitespace();
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.byte(0) != Some(0) || parser.pos != payload.len() {
        return None;
    }
    Some(value)
}

/// A cursor over the NUL-terminated text, with cJSON's bounds rules.
struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    /// The byte `offset` places ahead, if inside the buffer.
    fn byte(&self, offset: usize) -> Option<u8> {
        self.buf.get(self.pos.checked_add(offset)?).copied()
    }

    /// `can_read(buffer, n)`: `n` more bytes exist (the terminator included).
    fn can_read(&self, n: usize) -> bool {
        self.pos.saturating_add(n) <= self.buf.len()
    }

    fn rest(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// `buffer_skip_whitespace`: every byte up to 0x20 is white space, the terminating NUL
    /// included; cJSON then steps back onto the terminator if it ran off the end.
    fn skip_whitespace(&mut self) {
        while matches!(self.byte(0), Some(b) if b <= 32) {
            self.pos += 1;
        }
        if self.pos == self.buf.len() {
            self.pos = self.pos.saturating_sub(1);
        }
    }

    /// `parse_value`.
    fn value(&mut self) -> Option<Json> {
        if self.can_read(4) && self.rest().starts_with(b"null") {
            self.pos += 4;
            return Some(Json::Null);
        }
        if self.can_read(5) && self.rest().starts_with(b"false") {
            self.pos += 5;
            return Some(Json::Bool(false));
        }
        if self.can_read(4) && self.rest().starts_with(b"true") {
            self.pos += 4;
            return Some(Json::Bool(true));
        }
        match self.byte(0)? {
            b'"' => self.string().map(Json::String),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' => self.array(),
            b'{' => self.object(),
            _ => None,
        }
    }

    /// `parse_number`: take the run of number-ish bytes, then let `strtod` use what it can.
    fn number(&mut self) -> Option<Json> {
        let rest = self.rest();
        let run = rest
            .iter()
            .take_while(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'e' | b'E' | b'.'))
            .count();
        let used = strtod_prefix(rest.get(..run)?);
        if used == 0 {
            return None;
        }
        let text = std::str::from_utf8(rest.get(..used)?).ok()?;
        // Rust's parser and glibc's strtod both round correctly, overflow to infinity included.
        let value: f64 = text.parse().ok()?;
        self.pos += used;
        Some(Json::Number(value))
    }

    /// `parse_string`: find the closing quote (skipping escaped bytes), then decode.
    fn string(&mut self) -> Option<Vec<u8>> {
        if self.byte(0) != Some(b'"') {
            return None;
        }
        let start = self.pos + 1;
        let mut end = start;
        while end < self.buf.len() && self.buf.get(end) != Some(&b'"') {
            if self.buf.get(end) == Some(&b'\\') {
                if end + 1 >= self.buf.len() {
                    return None;
                }
                end += 1;
            }
            end += 1;
        }
        if end >= self.buf.len() {
            return None;
        }
        let literal = self.buf.get(start..end)?;
        let mut decoded = Vec::with_capacity(literal.len());
        let mut i = 0;
        while let Some(&b) = literal.get(i) {
            if b != b'\\' {
                decoded.push(b);
                i += 1;
                continue;
            }
            let step = match literal.get(i + 1)? {
                b'b' => push(&mut decoded, 0x08),
                b'f' => push(&mut decoded, 0x0C),
                b'n' => push(&mut decoded, b'\n'),
                b'r' => push(&mut decoded, b'\r'),
                b't' => push(&mut decoded, b'\t'),
                &c @ (b'"' | b'\\' | b'/') => push(&mut decoded, c),
                b'u' => utf16_literal(literal.get(i..)?, &mut decoded)?,
                _ => return None,
            };
            i += step;
        }
        self.pos = end + 1;
        Some(decoded)
    }

    /// `parse_array`.
    fn array(&mut self) -> Option<Json> {
        if self.depth >= NESTING_LIMIT {
            return None;
        }
        self.depth += 1;
        self.pos += 1; // the '['
        self.skip_whitespace();
        let mut items = Vec::new();
        if self.byte(0) == Some(b']') {
            self.depth -= 1;
            self.pos += 1;
            return Some(Json::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value()?);
            self.skip_whitespace();
            if self.byte(0) != Some(b',') {
                break;
            }
            self.pos += 1;
        }
        if self.byte(0) != Some(b']') {
            return None;
        }
        self.depth -= 1;
        self.pos += 1;
        Some(Json::Array(items))
    }

    /// `parse_object`.
    fn object(&mut self) -> Option<Json> {
        if self.depth >= NESTING_LIMIT {
            return None;
        }
        self.depth += 1;
        self.pos += 1; // the '{'
        self.skip_whitespace();
        let mut members = Vec::new();
        if self.byte(0) == Some(b'}') {
            self.depth -= 1;
            self.pos += 1;
            return Some(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.skip_whitespace();
            if self.byte(0) != Some(b':') {
                return None;
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value()?;
            members.push((key, value));
            self.skip_whitespace();
            if self.byte(0) != Some(b',') {
                break;
            }
            self.pos += 1;
        }
        if self.byte(0) != Some(b'}') {
            return None;
        }
        self.depth -= 1;
        self.pos += 1;
        Some(Json::Object(members))
    }
}

/// Pushes one byte and returns the length of a two-byte escape, for the decoding loop.
fn push(out: &mut Vec<u8>, byte: u8) -> usize {
    out.push(byte);
    2
}

/// How many leading bytes of `s` glibc's `strtod` would convert (0 for none). `s` only holds
/// digits, signs, `e`/`E` and `.`, so hexadecimal, `inf` and `nan` cannot occur.
fn strtod_prefix(s: &[u8]) -> usize {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut i = 0;
    if matches!(at(i), b'+' | b'-') {
        i += 1;
    }
    let int_start = i;
    while at(i).is_ascii_digit() {
        i += 1;
    }
    let mut digits = i - int_start;
    if at(i) == b'.' {
        let frac_start = i + 1;
        let mut j = frac_start;
        while at(j).is_ascii_digit() {
            j += 1;
        }
        digits += j - frac_start;
        if digits > 0 {
            i = j;
        }
    }
    if digits == 0 {
        return 0;
    }
    // An exponent counts only if at least one digit follows `e` and its optional sign.
    if matches!(at(i), b'e' | b'E') {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            while at(j).is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    i
}

/// cJSON's `parse_hex4`: four hex digits, or 0 if any of them is not one (a quirk: `\uZZZZ`
/// decodes to U+0000 rather than failing).
fn hex4(digits: &[u8]) -> u32 {
    let mut value = 0;
    for i in 0..4 {
        let nibble = match digits.get(i).copied().unwrap_or(0) {
            c @ b'0'..=b'9' => c - b'0',
            c @ b'A'..=b'F' => c - b'A' + 10,
            c @ b'a'..=b'f' => c - b'a' + 10,
            _ => return 0,
        };
        value = (value << 4) | u32::from(nibble);
    }
    value
}

/// cJSON's `utf16_literal_to_utf8`: decodes `\uXXXX` (or a surrogate pair `\uXXXX\uXXXX`) at the
/// start of `literal` into UTF-8, returning how many input bytes it used, or `None` on error.
fn utf16_literal(literal: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    if literal.len() < 6 {
        return None;
    }
    let first = hex4(literal.get(2..)?);
    if (0xDC00..=0xDFFF).contains(&first) {
        return None;
    }
    let (codepoint, used) = if (0xD800..=0xDBFF).contains(&first) {
        let second = literal.get(6..)?;
        if second.len() < 6 || !second.starts_with(b"\\u") {
            return None;
        }
        let low = hex4(second.get(2..)?);
        if !(0xDC00..=0xDFFF).contains(&low) {
            return None;
        }
        (0x10000 + (((first & 0x3FF) << 10) | (low & 0x3FF)), 12)
    } else {
        (first, 6)
    };
    // Surrogates never reach here and every value is at most U+10FFFF, so this is real UTF-8.
    let mut encoded = [0u8; 4];
    let text = char::from_u32(codepoint)?.encode_utf8(&mut encoded);
    out.extend_from_slice(text.as_bytes());
    Some(used)
}

/// Appends `value` as `cJSON_PrintUnformatted` (or `cJSON_Print` when `pretty`) would.
pub(crate) fn print(out: &mut Vec<u8>, value: &Json, pretty: bool) {
    print_value(out, value, pretty, 0);
}

fn print_value(out: &mut Vec<u8>, value: &Json, pretty: bool, depth: usize) {
    match value {
        Json::Null => out.extend_from_slice(b"null"),
        Json::Bool(false) => out.extend_from_slice(b"false"),
        Json::Bool(true) => out.extend_from_slice(b"true"),
        Json::Number(n) => print_number(out, *n),
        Json::String(s) => print_string(out, s),
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(if pretty { b", " } else { b"," });
                }
                print_value(out, item, pretty, depth + 1);
            }
            out.push(b']');
        }
        Json::Object(members) => {
            let depth = depth + 1;
            out.push(b'{');
            if pretty {
                out.push(b'\n');
            }
            let count = members.len();
            for (i, (key, member)) in members.iter().enumerate() {
                if pretty {
                    printf::repeat(out, b'\t', depth);
                }
                print_string(out, key);
                out.push(b':');
                if pretty {
                    out.push(b'\t');
                }
                print_value(out, member, pretty, depth);
                if i + 1 < count {
                    out.push(b',');
                }
                if pretty {
                    out.push(b'\n');
                }
            }
            if pretty {
                printf::repeat(out, b'\t', depth - 1);
            }
            out.push(b'}');
        }
    }
}

/// cJSON 1.7.15's `print_number`: `%1.15g`, or `%1.17g` when that does not read back as
/// (nearly) the same double; infinities print as `null`.
fn print_number(out: &mut Vec<u8>, n: f64) {
    if !n.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let short = printf::general(n, 15);
    let round_trips = short
        .parse::<f64>()
        .map(|back| {
            let max = back.abs().max(n.abs());
            (back - n).abs() <= max * f64::EPSILON
        })
        .unwrap_or(false);
    let text = if round_trips {
        short
    } else {
        printf::general(n, 17)
    };
    out.extend_from_slice(text.as_bytes());
}

/// cJSON's `print_string_ptr`: quotes, `\"`, `\\`, the five short escapes, `\u00XX` for other
/// control bytes, every other byte as is; the C string ends at the first NUL.
fn print_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in printf::c_str(s) {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=31 => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn round(text: &str) -> Option<String> {
        let value = parse(text.as_bytes())?;
        let mut out = Vec::new();
        print(&mut out, &value, false);
        Some(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn reprints_like_cjson() {
        assert_eq!(
            round(" {\"a\" : [1, 2.50, -0, 1e3]} ").unwrap(),
            "{\"a\":[1,2.5,-0,1000]}"
        );
        assert_eq!(round("1E+400").unwrap(), "null");
        assert_eq!(round("0.1").unwrap(), "0.1");
        assert_eq!(round("01").unwrap(), "1");
        assert_eq!(round("1.").unwrap(), "1");
        assert_eq!(round("-.5").unwrap(), "-0.5");
        assert_eq!(round("\"\\u00e9\\/\\ud83d\\ude00\"").unwrap(), "\"é/😀\"");
        assert_eq!(round("\"a\\u0000b\"").unwrap(), "\"a\"");
        assert_eq!(round("\"\\uZZZZb\"").unwrap(), "\"\"");
        assert_eq!(round("\"tab\there\"").unwrap(), "\"tab\\there\"");
        assert_eq!(round("{\"k\":1,\"k\":2}").unwrap(), "{\"k\":1,\"k\":2}");
        assert_eq!(round("\u{feff}true").unwrap(), "true");
        assert_eq!(round("\u{1}null\u{1f}").unwrap(), "null");
    }

    #[test]
    fn rejects_what_cjson_rejects() {
        for bad in [
            "",
            " ",
            "nul",
            "nullx",
            "[1,]",
            "{\"a\"}",
            "{a:1}",
            "+1",
            ".5",
            "1e",
            "1 2",
            "\"abc",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "[",
            "{",
            "tru",
            "-",
            "0x10",
        ] {
            assert_eq!(round(bad), None, "{bad:?} should be invalid");
        }
        assert_eq!(parse(b"1\x002"), None);
        assert_eq!(parse(b"\"\xff\"").unwrap(), Json::String(vec![0xFF]));
    }

    #[test]
    fn numbers_of_any_length() {
        // Checked against mosquitto_sub: 400 ones overflow to null, tiny values underflow to 0.
        let ones = "1".repeat(400);
        let text = format!(
            "[{ones}, 0.{ones}, 1e-{ones}, 1e{ones}, 0.{}1]",
            "0".repeat(70_000)
        );
        assert_eq!(round(&text).unwrap(), "[null,0.1111111111111111,0,null,0]");
        assert_eq!(round(&"1".repeat(64)).unwrap(), "1.1111111111111112e+63");
    }

    #[test]
    fn nesting_limit_is_1000() {
        let ok = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let deep = format!("{}{}", "[".repeat(1001), "]".repeat(1001));
        assert!(parse(ok.as_bytes()).is_some());
        assert!(parse(deep.as_bytes()).is_none());
    }

    #[test]
    fn pretty_printing_uses_tabs() {
        let value = parse(br#"{"b":[1,{"x":[]},{}],"e":{}}"#).unwrap();
        let mut out = Vec::new();
        print(&mut out, &value, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\n\t\"b\":\t[1, {\n\t\t\t\"x\":\t[]\n\t\t}, {\n\t\t}],\n\t\"e\":\t{\n\t}\n}"
        );
    }
}
