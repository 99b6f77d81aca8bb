//! `mosquitto_sub`'s output, byte for byte: the default and `-v` lines, `-N`, and the `-F`
//! format language with its `%` fields, `@` date escapes and `\` escapes, `%j`/`%J` JSON (with
//! `--pretty`), and the MQTT 5 property fields.
//!
//! The reference is Mosquitto 2.0.11 with cJSON 1.7.15 on glibc, as shipped by Debian 12. Every
//! quirk of that build is kept on purpose, because scripts parse this output: for instance
//! `%5x` prints only two bytes of hex, `%-p` pads with as many spaces as the payload is long,
//! `%j` cuts the payload at its first NUL, and the JSON `"tst"` reads `...07.123456Z+0000`.
//!
//! The module is pure: [`render`] appends to a buffer, and the time of reception is a parameter.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use mqtt_cli::format::{render_with, OutputOptions, Received, Zone};
//! use mqtt_codec::{PublishProperties, QoS};
//!
//! let properties = PublishProperties::default();
//! let msg = Received {
//!     topic: "sensors/1",
//!     payload: b"21.5",
//!     qos: QoS::AtLeastOnce,
//!     retain: false,
//!     mid: 7,
//!     properties: &properties,
//! };
//! let opts = OutputOptions {
//!     format: Some("%t %p (q%q m%m) @H:@M".into()),
//!     ..OutputOptions::default()
//! };
//! let (mut out, mut errors) = (Vec::new(), Vec::new());
//! let now = UNIX_EPOCH + Duration::from_secs(1_614_834_367);
//! render_with(&mut out, &mut errors, &msg, &opts, now, &Zone::utc());
//! assert_eq!(out, b"sensors/1 21.5 (q1 m7) 05:06\n");
//! ```

mod json;
mod printf;
mod spec;
mod time;
mod zone;

use std::fmt;
use std::time::SystemTime;

use mqtt_codec::{PublishProperties, QoS};

pub use zone::Zone;

/// One message as `mosquitto_sub` sees it.
///
/// ```
/// use mqtt_cli::format::Received;
/// use mqtt_codec::{PublishProperties, QoS};
/// let properties = PublishProperties::default();
/// let msg = Received {
///     topic: "a/b",
///     payload: b"hello",
///     qos: QoS::AtMostOnce,
///     retain: true,
///     mid: 0,
///     properties: &properties,
/// };
/// assert_eq!(msg.topic, "a/b");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The topic the message was published to (after topic-alias resolution).
    pub topic: &'a str,
    /// The application message, any bytes.
    pub payload: &'a [u8],
    /// The QoS the message was delivered with.
    pub qos: QoS,
    /// The RETAIN flag as delivered (set for messages sent from the retained store).
    pub retain: bool,
    /// The packet identifier, 0 for QoS 0.
    pub mid: u16,
    /// MQTT 5 properties (empty for 3.1.1).
    pub properties: &'a PublishProperties,
}

/// How messages are printed (from `-v`, `-N`, `-F` and `--pretty`).
///
/// `--random-filter`, `-R`, `-T` and `--retained-only` decide *whether* a message is printed, not
/// how, so they are not here.
///
/// ```
/// use mqtt_cli::format::OutputOptions;
/// let opts = OutputOptions { verbose: true, ..OutputOptions::default() };
/// assert!(opts.format.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct OutputOptions {
    /// `-v`: print "topic payload" instead of just the payload (ignored with a format).
    pub verbose: bool,
    /// `-N`: do not end each message with a newline (applies to formats too).
    pub no_eol: bool,
    /// `-F`: the output format; overrides `verbose`. Check it first with [`validate_format`].
    pub format: Option<String>,
    /// `--pretty`: multi-line, tab-indented JSON for `%j` and `%J`.
    pub pretty: bool,
}

/// Appends the bytes `mosquitto_sub` prints for `msg` to `out`, using the local time zone.
///
/// `now` is the time of reception, used by `%I`, `%U`, `%j`, `%J` and `@` escapes. Messages that
/// Mosquitto reports on stderr (a `%J` payload that is not JSON) are dropped here; use
/// [`render_with`] to get them.
///
/// ```
/// use std::time::SystemTime;
/// use mqtt_cli::format::{render, OutputOptions, Received};
/// use mqtt_codec::{PublishProperties, QoS};
/// let properties = PublishProperties::default();
/// let msg = Received { topic: "a/b", payload: b"hi", qos: QoS::AtMostOnce, retain: false,
///                      mid: 0, properties: &properties };
/// let mut out = Vec::new();
/// render(&mut out, &msg, &OutputOptions { verbose: true, ..Default::default() }, SystemTime::now());
/// assert_eq!(out, b"a/b hi\n");
/// ```
pub fn render(out: &mut Vec<u8>, msg: &Received<'_>, opts: &OutputOptions, now: SystemTime) {
    let mut errors = Vec::new();
    render_with(out, &mut errors, msg, opts, now, &Zone::local());
}

/// Like [`render`], in an explicit time `zone`, also appending to `errors` the exact text
/// `mosquitto_sub` writes to stderr for this message (print it unless `--quiet`).
///
/// ```
/// use std::time::SystemTime;
/// use mqtt_cli::format::{render_with, OutputOptions, Received, Zone};
/// use mqtt_codec::{PublishProperties, QoS};
/// let properties = PublishProperties::default();
/// let msg = Received { topic: "t", payload: b"not json", qos: QoS::AtMostOnce, retain: false,
///                      mid: 0, properties: &properties };
/// let opts = OutputOptions { format: Some("<%J>".into()), ..Default::default() };
/// let (mut out, mut errors) = (Vec::new(), Vec::new());
/// render_with(&mut out, &mut errors, &msg, &opts, SystemTime::now(), &Zone::utc());
/// assert_eq!(out, b"<>\n");
/// assert_eq!(errors, b"Error: Message payload is not valid JSON on topic t.\n");
/// ```
pub fn render_with(
    out: &mut Vec<u8>,
    errors: &mut Vec<u8>,
    msg: &Received<'_>,
    opts: &OutputOptions,
    now: SystemTime,
    zone: &Zone,
) {
    let eol = !opts.no_eol;
    if let Some(format) = &opts.format {
        let clock = spec::Clock { now, zone };
        spec::formatted(out, errors, format.as_bytes(), msg, opts, &clock);
        return;
    }
    let topic = printf::c_str(msg.topic.as_bytes());
    if msg.payload.is_empty() {
        // Mosquitto prints nothing at all for an empty payload, except "(null)" with -v.
        if opts.verbose && eol {
            out.extend_from_slice(topic);
            out.extend_from_slice(b" (null)\n");
        }
        return;
    }
    if opts.verbose {
        out.extend_from_slice(topic);
        out.push(b' ');
    }
    out.extend_from_slice(msg.payload);
    if eol {
        out.push(b'\n');
    }
}

/// Why `mosquitto_sub` refuses a `-F` format at startup.
///
/// `Display` gives the message without Mosquitto's `"Error: "` prefix; `mosquitto_sub` prints
/// `Error: <message>` on stderr, then a blank line and the usage hint, and exits 1.
///
/// ```
/// use mqtt_cli::format::{validate_format, FormatError};
/// let err = validate_format("%Z").unwrap_err();
/// assert_eq!(err, FormatError::InvalidFormat(b'Z'));
/// assert_eq!(err.to_string(), "Invalid format specifier 'Z'.");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// A `%` (with its flags, width or precision) or a `@` ends the format.
    IncompleteFormat,
    /// `%` followed by a letter that is not a field. Holds the byte Mosquitto names.
    InvalidFormat(u8),
    /// A `\` ends the format.
    IncompleteEscape,
    /// `\` followed by something other than `\ 0 a e n r t v`. Holds the byte Mosquitto names.
    InvalidEscape(u8),
}

impl FormatError {
    /// The message exactly as Mosquitto writes it, without the `"Error: "` prefix, as bytes:
    /// Mosquitto names the offending *byte*, which may be half of a UTF-8 character.
    ///
    /// ```
    /// use mqtt_cli::format::FormatError;
    /// assert_eq!(FormatError::InvalidEscape(b'q').message_bytes(), b"Invalid escape specifier 'q'.");
    /// ```
    pub fn message_bytes(&self) -> Vec<u8> {
        match *self {
            FormatError::IncompleteFormat => b"Incomplete format specifier.".to_vec(),
            FormatError::IncompleteEscape => b"Incomplete escape specifier.".to_vec(),
            FormatError::InvalidFormat(b) => {
                [b"Invalid format specifier '", &[b][..], b"'."].concat()
            }
            FormatError::InvalidEscape(b) => {
                [b"Invalid escape specifier '", &[b][..], b"'."].concat()
            }
        }
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.message_bytes()))
    }
}

impl std::error::Error for FormatError {}

/// Checks a `-F` format as `mosquitto_sub` does when parsing its arguments.
///
/// Accepts exactly what Mosquitto 2.0.11 accepts. Rendering does not rely on it: any string
/// renders as Mosquitto would render it (an unknown field prints nothing).
///
/// ```
/// use mqtt_cli::format::{validate_format, FormatError};
/// assert!(validate_format("%-10t %05.3p @H:@M\\n").is_ok());
/// assert_eq!(validate_format("50%"), Err(FormatError::IncompleteFormat));
/// assert_eq!(validate_format("\\q"), Err(FormatError::InvalidEscape(b'q')));
/// ```
pub fn validate_format(format: &str) -> Result<(), FormatError> {
    spec::validate(format.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    //! Edge cases, each expected string copied from a `mosquitto_sub` 2.0.11 run (with `TZ=UTC`,
    //! and `faketime -f '2021-03-04 05:06:07.123456789'` for the clock).

    use super::*;
    use std::num::NonZeroU32;
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;
    use mqtt_codec::{MqttString, TopicName};

    /// The instant faketime gave mosquitto_sub (its float arithmetic lost one nanosecond).
    fn faketime() -> SystemTime {
        UNIX_EPOCH + Duration::new(1_614_834_367, 123_456_788)
    }

    fn show(
        topic: &str,
        payload: &[u8],
        properties: &PublishProperties,
        opts: &OutputOptions,
    ) -> (String, String) {
        let msg = Received {
            topic,
            payload,
            qos: QoS::AtMostOnce,
            retain: true,
            mid: 0,
            properties,
        };
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        render_with(&mut out, &mut errors, &msg, opts, faketime(), &Zone::utc());
        (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&errors).into_owned(),
        )
    }

    fn format(fmt: &str) -> OutputOptions {
        OutputOptions {
            format: Some(fmt.to_owned()),
            ..OutputOptions::default()
        }
    }

    #[test]
    fn default_verbose_and_empty_payloads() {
        let none = PublishProperties::default();
        let verbose = OutputOptions {
            verbose: true,
            ..OutputOptions::default()
        };
        let verbose_no_eol = OutputOptions {
            no_eol: true,
            ..verbose.clone()
        };
        assert_eq!(show("a", b"hi", &none, &OutputOptions::default()).0, "hi\n");
        assert_eq!(show("a", b"hi", &none, &verbose).0, "a hi\n");
        assert_eq!(show("a", b"", &none, &OutputOptions::default()).0, "");
        assert_eq!(show("a", b"", &none, &verbose).0, "a (null)\n");
        assert_eq!(show("a", b"", &none, &verbose_no_eol).0, "");
        assert_eq!(show("a", b"hi", &none, &verbose_no_eol).0, "a hi");
        // A format overrides -v and still honours -N.
        let formatted = OutputOptions {
            format: Some("<%p>".into()),
            ..verbose_no_eol
        };
        assert_eq!(show("a", b"hi", &none, &formatted).0, "<hi>");
    }

    #[test]
    fn widths_precisions_and_flags() {
        let fmt = "[%-10t][%10t][%.3t][%10.3t][%-10.3t][%05l][%-5l][%5l][%010p][%-10p][%5x][%6x]\
                   [%3p][%3x][%-3X][%5%][%q%r%m][%-05t][%-.t][%.t][%0.2t][%08.3t][%2t][%-06l][%0t]\
                   [%10X][%-9x][%-11x][%1p][%0p][%.2p][%.2x][%-2p][%-3x]";
        let none = PublishProperties::default();
        assert_eq!(
            show("x/981715516", b"hello", &none, &format(fmt)).0,
            "[x/981715516][x/981715516][x/9][       x/9][x/9       ][00005][5    ][    5]\
             [00000hello][hello     ][ 6865][  6865][hel][ 68][68 ][%][010][x/981715516][][]\
             [x/][     x/9][x/981715516][5     ][x/981715516][      6865][6865     ][6865       ]\
             [h][hello][hello][68656c6c6f][he][68 ]\n"
        );
        assert_eq!(
            show("x/1659413091", b"hello", &none, &format(
                "[%-p][%-x][%-.3p][%-0p][%-X][%-l][%-t][%-5.t][%.0t][%-0l][%-09l][%-9.3l][%.3l]"
            ))
            .0,
            "[hello     ][68656c6c6f     ][hello     ][hello     ][68656C6C6F     ][5]\
             [x/1659413091][     ][][5][5        ][5        ][5]\n"
        );
        assert_eq!(
            show("x/181331521", b"hello", &none, &format(
                "[%4294967301p][%4294967301l][%-4294967301t][%.4294967298t][%4294967295t][%4294967295l]"
            ))
            .0,
            "[hello][    5][x/181331521][x/][x/181331521][5]\n"
        );
    }

    #[test]
    fn properties() {
        let props = PublishProperties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(100),
            response_topic: Some(TopicName::new("resp/t").unwrap()),
            correlation_data: Some(Bytes::from_static(b"corr")),
            content_type: Some(MqttString::new("text/plain").unwrap()),
            subscription_identifiers: Vec::new(),
            user_properties: vec![
                (
                    MqttString::new("k1").unwrap(),
                    MqttString::new("v1").unwrap(),
                ),
                (
                    MqttString::new("k2").unwrap(),
                    MqttString::new("v2").unwrap(),
                ),
            ],
        };
        let fmt = "[%A][%5A][%C][%5C][%D][%E][%F][%P][%R][%S][%05S][%5R][%-5C|%5E|%05F]";
        assert_eq!(
            show("t", b"hello", &props, &format(fmt)).0,
            "[][     ][text/plain][text/plain][corr][100][1][k1:v1 k2:v2][resp/t][][00000]\
             [resp/t][text/plain|  100|00001]\n"
        );
        let none = PublishProperties::default();
        let fmt = "[%A][%5A][%C][%5C][%D][%E][%F][%P][%R][%S][%05S][%5R][%-5C|%5E|%05F|%-5F|%05A]";
        assert_eq!(
            show("t", b"hello", &none, &format(fmt)).0,
            "[][     ][][     ][][][][][][][00000][][     |     |00000|     |00000]\n"
        );
        let ids = PublishProperties {
            subscription_identifiers: vec![
                NonZeroU32::new(7).unwrap(),
                NonZeroU32::new(9).unwrap(),
            ],
            ..PublishProperties::default()
        };
        assert_eq!(
            show("t", b"x", &ids, &format("[%S][%5S]")).0,
            "[7][    7]\n"
        );
        // Every subscription identifier appears in the JSON, under the same key.
        assert!(show("t", b"x", &ids, &format("%j"))
            .0
            .contains(r#""properties":{"subscription-identifier":7,"subscription-identifier":9}"#));
    }

    #[test]
    fn clock_fields() {
        let none = PublishProperties::default();
        assert_eq!(
            show("z/2053127361", b"hello", &none, &format("%I|%U|@N|@s|%j")).0,
            "2021-03-04T05:06:07+0000|1614834367.123456788|123456788|1614834367|\
             {\"tst\":\"2021-03-04T05:06:07.123456Z+0000\",\"topic\":\"z/2053127361\",\"qos\":0,\
             \"retain\":1,\"payloadlen\":5,\"payload\":\"hello\"}\n"
        );
    }

    #[test]
    fn json_payload_handling() {
        let none = PublishProperties::default();
        // %j: the payload is a C string (cut at NUL), other bytes escaped the cJSON way.
        let (out, _) = show(
            "t",
            b"a\x01b\"c\\d\x7f\xc3\xa9\xff\tz\nq",
            &none,
            &format("%j"),
        );
        assert!(out.ends_with("\"payload\":\"a\\u0001b\\\"c\\\\d\x7fé\u{fffd}\\tz\\nq\"}\n"));
        let (out, _) = show("t", b"ab\0cd", &none, &format("%j|%p|%l|%x"));
        assert!(out.ends_with("\"payloadlen\":5,\"payload\":\"ab\"}|ab\0cd|5|6162006364\n"));
        // %J: invalid JSON prints nothing for the field, reports it, and the line goes on.
        let (out, errors) = show("x/548815159", b"notjson", &none, &format("A%JB"));
        assert_eq!(out, "AB\n");
        assert_eq!(
            errors,
            "Error: Message payload is not valid JSON on topic x/548815159.\n"
        );
        // An empty payload is null for both.
        let (out, errors) = show("t", b"", &none, &format("%J"));
        assert!(out.ends_with("\"payloadlen\":0,\"payload\":null}\n"));
        assert_eq!(errors, "");
    }

    #[test]
    fn pretty_json() {
        let none = PublishProperties::default();
        let opts = OutputOptions {
            pretty: true,
            ..format("%J")
        };
        let payload = br#"{"b" : [1, {"x":[]}, {}], "p":{"q":{"r":1}}, "e":{}}"#;
        assert_eq!(
            show("x/179982853", payload, &none, &opts).0,
            "{\n\t\"tst\":\t\"2021-03-04T05:06:07.123456Z+0000\",\n\t\"topic\":\t\"x/179982853\",\n\
             \t\"qos\":\t0,\n\t\"retain\":\t1,\n\t\"payloadlen\":\t52,\n\t\"payload\":\t{\n\
             \t\t\"b\":\t[1, {\n\t\t\t\t\"x\":\t[]\n\t\t\t}, {\n\t\t\t}],\n\
             \t\t\"p\":\t{\n\t\t\t\"q\":\t{\n\t\t\t\t\"r\":\t1\n\t\t\t}\n\t\t},\n\
             \t\t\"e\":\t{\n\t\t}\n\t}\n}\n"
        );
    }

    #[test]
    fn escapes_and_format_ends() {
        let none = PublishProperties::default();
        assert_eq!(
            show(
                "t",
                b"p",
                &none,
                &format("a\\tb\\nc\\\\d\\0e\\ef\\ag\\rh\\vi")
            )
            .0,
            "a\tb\nc\\d\0e\x1bf\x07g\rh\x0bi\n"
        );
        // What check_format would reject still renders as Mosquitto's printer does.
        for (fmt, want) in [
            ("a%", "a\n"),
            ("a%-", "a\n"),
            ("a%10", "a\n"),
            ("a%.", "a\n"),
            ("%Zb", "b\n"),
            ("%0-5t", "5t\n"),
            ("a@", "a\n"),
            ("a\\", "a\n"),
            ("a\\qb", "ab\n"),
            ("@@%%", "@%\n"),
            ("a\0%p", "a\n"),
        ] {
            assert_eq!(show("t", b"p", &none, &format(fmt)).0, want, "{fmt:?}");
        }
    }

    #[test]
    fn an_unrepresentable_clock_is_reported() {
        let none = PublishProperties::default();
        let msg = Received {
            topic: "t",
            payload: b"p",
            qos: QoS::AtMostOnce,
            retain: false,
            mid: 0,
            properties: &none,
        };
        let far = UNIX_EPOCH + Duration::from_secs(1 << 62);
        let run = |fmt: &str| {
            let (mut out, mut errors) = (Vec::new(), Vec::new());
            render_with(&mut out, &mut errors, &msg, &format(fmt), far, &Zone::utc());
            (out, errors)
        };
        let twice = b"Error obtaining system time.\nError obtaining system time.\n".to_vec();
        // A % field is skipped; an @ escape abandons the rest of the line, newline included.
        assert_eq!(run("<%I>"), (b"<>\n".to_vec(), twice.clone()));
        assert_eq!(run("<@H>"), (b"<".to_vec(), twice));
    }

    #[test]
    fn validation_matches_check_format() {
        for ok in [
            "", "plain", "%-05t", "%10.10t", "%.t", "%%", "@@", "@Z", "%-.5p", "\\n\\0",
        ] {
            assert_eq!(validate_format(ok), Ok(()), "{ok:?}");
        }
        for (bad, error) in [
            ("%", FormatError::IncompleteFormat),
            ("%-", FormatError::IncompleteFormat),
            ("%5", FormatError::IncompleteFormat),
            ("%.", FormatError::IncompleteFormat),
            ("%.5", FormatError::IncompleteFormat),
            ("@", FormatError::IncompleteFormat),
            ("%Z", FormatError::InvalidFormat(b'Z')),
            ("%-0-5t", FormatError::InvalidFormat(b'-')),
            ("%é", FormatError::InvalidFormat(0xC3)),
            ("\\", FormatError::IncompleteEscape),
            ("\\q", FormatError::InvalidEscape(b'q')),
        ] {
            assert_eq!(validate_format(bad), Err(error), "{bad:?}");
        }
        assert_eq!(
            FormatError::InvalidFormat(0xC3).message_bytes(),
            b"Invalid format specifier '\xC3'."
        );
    }
}
