//! The `-F` format language: checking it (`check_format` in Mosquitto's `client_shared.c`) and
//! rendering a message with it (`formatted_print` in `sub_client_output.c`).
//!
//! Both walk the format byte by byte with the same look-ahead rules as the C code, including its
//! edge cases: a flag, width or precision at the very end, `%-0` (the zero is read but ignored),
//! a width on `%x` that halves the number of bytes printed.

use std::time::SystemTime;

use super::json::{self, Json};
use super::printf;
use super::time::LocalTime;
use super::zone::Zone;
use super::{FormatError, OutputOptions, Received};

/// The time of reception and the zone to show it in.
pub(crate) struct Clock<'a> {
    pub(crate) now: SystemTime,
    pub(crate) zone: &'a Zone,
}

impl Clock<'_> {
    /// `get_time()`: the broken-down local time, or Mosquitto's error text if `localtime()`
    /// cannot represent it.
    fn local(&self, errors: &mut Vec<u8>) -> Option<LocalTime> {
        let time = LocalTime::new(self.now, self.zone);
        if time.is_none() {
            errors.extend_from_slice(TIME_ERROR);
        }
        time
    }
}

/// Printed by `get_time()` and again by its caller when the clock cannot be read.
const TIME_ERROR: &[u8] = b"Error obtaining system time.\n";

/// Mosquitto's `check_format`.
pub(crate) fn validate(format: &[u8]) -> Result<(), FormatError> {
    let format = printf::c_str(format);
    let len = format.len();
    let at = |i: usize| format.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < len {
        match at(i) {
            b'%' => {
                if i == len - 1 {
                    return Err(FormatError::IncompleteFormat);
                }
                if matches!(at(i + 1), b'0' | b'-') {
                    i += 1;
                    if i == len - 1 {
                        return Err(FormatError::IncompleteFormat);
                    }
                }
                while at(i + 1).is_ascii_digit() {
                    i += 1;
                    if i == len - 1 {
                        return Err(FormatError::IncompleteFormat);
                    }
                }
                if at(i + 1) == b'.' {
                    i += 1;
                    if i == len - 1 {
                        return Err(FormatError::IncompleteFormat);
                    }
                    while at(i + 1).is_ascii_digit() {
                        i += 1;
                        if i == len - 1 {
                            return Err(FormatError::IncompleteFormat);
                        }
                    }
                }
                match at(i + 1) {
                    b'%' | b'A' | b'C' | b'D' | b'E' | b'F' | b'I' | b'l' | b'm' | b'P' | b'p'
                    | b'q' | b'R' | b'S' | b'r' | b't' | b'j' | b'J' | b'U' | b'x' | b'X' => {}
                    other => return Err(FormatError::InvalidFormat(other)),
                }
                i += 1;
            }
            b'@' => {
                if i == len - 1 {
                    return Err(FormatError::IncompleteFormat);
                }
                i += 1;
            }
            b'\\' => {
                if i == len - 1 {
                    return Err(FormatError::IncompleteEscape);
                }
                match at(i + 1) {
                    b'\\' | b'0' | b'a' | b'e' | b'n' | b'r' | b't' | b'v' => {}
                    other => return Err(FormatError::InvalidEscape(other)),
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// How one `%` field is to be laid out.
#[derive(Debug, Clone, Copy)]
struct Field {
    /// The `-` flag: left-justify.
    left: bool,
    /// `b'0'` with the `0` flag, else `b' '`.
    pad: u8,
    /// Field width, 0 when absent (C `int`, so it wraps like Mosquitto's on absurd widths).
    width: i32,
    /// Precision, -1 when absent.
    precision: i32,
}

impl Field {
    /// `formatted_print_int`: `%d`, `%-*d`, `%0*d` or `%*d`.
    fn int(&self, out: &mut Vec<u8>, value: i32) {
        if self.width == 0 {
            printf::int(out, value, 0, false, false);
        } else {
            printf::int(out, value, self.width, self.left, self.pad == b'0');
        }
    }

    /// `formatted_print_str`: `%s` with the field's width and precision.
    fn str(&self, out: &mut Vec<u8>, value: &[u8]) {
        printf::string(out, value, self.width, self.precision, self.left);
    }

    /// `formatted_print_blank`: `width` copies of `pad`, for an absent property.
    fn blank(&self, out: &mut Vec<u8>, pad: u8) {
        printf::repeat(out, pad, usize::try_from(self.width).unwrap_or(0));
    }

    /// `write_payload`: the payload, raw or in hex, with Mosquitto's own padding rules (the
    /// precision is ignored, and a width on hex output counts hex digits but truncates bytes).
    fn payload(&self, out: &mut Vec<u8>, payload: &[u8], hex: Option<&[u8; 16]>) {
        let width = i64::from(self.width);
        let mut len = i64::try_from(payload.len()).unwrap_or(i64::MAX);
        let padlen = if width > 0 {
            len = len.min(width);
            if hex.is_some() {
                len /= 2;
                width - len * 2
            } else {
                width - len
            }
        } else {
            width - len
        };
        if !self.left {
            printf::repeat(out, self.pad, usize::try_from(padlen).unwrap_or(0));
        }
        let shown = payload
            .get(..usize::try_from(len).unwrap_or(0))
            .unwrap_or(payload);
        match hex {
            None => out.extend_from_slice(shown),
            Some(digits) => {
                for &b in shown {
                    out.push(hex_digit(digits, b >> 4));
                    out.push(hex_digit(digits, b & 0x0F));
                }
            }
        }
        if self.left {
            // `printf("%*s", padlen, "")`: a negative width left-justifies, so a payload wider
            // than a zero width still gets `len` trailing spaces.
            printf::repeat(
                out,
                b' ',
                usize::try_from(padlen.unsigned_abs()).unwrap_or(0),
            );
        }
    }
}

const LOWER_HEX: &[u8; 16] = b"0123456789abcdef";
const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_digit(digits: &[u8; 16], nibble: u8) -> u8 {
    digits.get(usize::from(nibble)).copied().unwrap_or(b'?')
}

/// Mosquitto's `formatted_print`.
pub(crate) fn formatted(
    out: &mut Vec<u8>,
    errors: &mut Vec<u8>,
    format: &[u8],
    msg: &Received<'_>,
    opts: &OutputOptions,
    clock: &Clock<'_>,
) {
    // The format reaches Mosquitto as a C string.
    let format = printf::c_str(format);
    let len = format.len();
    let at = |i: usize| format.get(i).copied().unwrap_or(0);
    // `@` escapes share one reading of the clock per message; `%` fields read it afresh (here
    // they all see the same `now`).
    let mut date: Option<LocalTime> = None;
    let mut i = 0;
    while i < len {
        match at(i) {
            b'%' => {
                let mut field = Field {
                    left: false,
                    pad: b' ',
                    width: 0,
                    precision: -1,
                };
                if i + 1 < len {
                    i += 1;
                    if at(i) == b'-' {
                        field.left = true;
                        if i + 1 < len {
                            i += 1;
                        }
                    }
                    if at(i) == b'0' {
                        field.pad = b'0';
                        if i + 1 < len {
                            i += 1;
                        }
                    }
                    while i + 1 < len && at(i).is_ascii_digit() {
                        field.width = field
                            .width
                            .wrapping_mul(10)
                            .wrapping_add(i32::from(at(i) - b'0'));
                        i += 1;
                    }
                    if at(i) == b'.' && i + 1 < len {
                        i += 1;
                        field.precision = 0;
                        while i + 1 < len && at(i).is_ascii_digit() {
                            field.precision = field
                                .precision
                                .wrapping_mul(10)
                                .wrapping_add(i32::from(at(i) - b'0'));
                            i += 1;
                        }
                    }
                    percent(out, errors, at(i), field, msg, opts, clock);
                }
            }
            b'@' => {
                if i + 1 < len {
                    i += 1;
                    if at(i) == b'@' {
                        out.push(b'@');
                    } else {
                        if date.is_none() {
                            date = clock.local(errors);
                        }
                        let Some(time) = &date else {
                            // Mosquitto gives up on the rest of the message, newline included.
                            errors.extend_from_slice(TIME_ERROR);
                            return;
                        };
                        if at(i) == b'N' {
                            printf::zero_padded(out, u64::from(time.nanos()), 9);
                        } else {
                            time.strftime(out, &[b'%', at(i)]);
                        }
                    }
                }
            }
            b'\\' => {
                if i + 1 < len {
                    i += 1;
                    let escaped = match at(i) {
                        b'\\' => Some(b'\\'),
                        b'0' => Some(0),
                        b'a' => Some(0x07),
                        b'e' => Some(0x1B),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'v' => Some(0x0B),
                        _ => None,
                    };
                    out.extend(escaped);
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    if !opts.no_eol {
        out.push(b'\n');
    }
}

/// Mosquitto's `formatted_print_percent`: one `%` field.
fn percent(
    out: &mut Vec<u8>,
    errors: &mut Vec<u8>,
    specifier: u8,
    field: Field,
    msg: &Received<'_>,
    opts: &OutputOptions,
    clock: &Clock<'_>,
) {
    let props = msg.properties;
    match specifier {
        b'%' => out.push(b'%'),
        // The Topic Alias never reaches the application (it is resolved into the topic), and
        // Mosquitto's broker does not send one, so this is always the blank an absent
        // property gives.
        b'A' => field.blank(out, field.pad),
        b'C' => match &props.content_type {
            Some(content_type) => field.str(out, content_type.as_str().as_bytes()),
            None => field.blank(out, b' '),
        },
        b'D' => {
            if let Some(data) = &props.correlation_data {
                out.extend_from_slice(data);
            }
        }
        b'E' => match props.message_expiry_interval {
            // Mosquitto reads it into a uint32_t and prints it as an int.
            Some(seconds) => field.int(out, i32::from_ne_bytes(seconds.to_ne_bytes())),
            None => field.blank(out, field.pad),
        },
        b'F' => match props.payload_format_indicator {
            Some(utf8) => field.int(out, i32::from(utf8)),
            None => field.blank(out, field.pad),
        },
        b'I' => {
            if let Some(time) = clock.local(errors) {
                let mut iso = Vec::with_capacity(24);
                time.strftime(&mut iso, b"%FT%T%z");
                field.str(out, &iso);
            } else {
                errors.extend_from_slice(TIME_ERROR);
            }
        }
        b'j' | b'J' => {
            let Some(time) = clock.local(errors) else {
                errors.extend_from_slice(TIME_ERROR);
                return;
            };
            match message_json(msg, &time, specifier == b'j') {
                Some(value) => json::print(out, &value, opts.pretty),
                None => {
                    errors.extend_from_slice(b"Error: Message payload is not valid JSON on topic ");
                    errors.extend_from_slice(printf::c_str(msg.topic.as_bytes()));
                    errors.extend_from_slice(b".\n");
                }
            }
        }
        b'l' => field.int(out, i32::try_from(msg.payload.len()).unwrap_or(i32::MAX)),
        b'm' => field.int(out, i32::from(msg.mid)),
        b'P' => {
            for (n, (key, value)) in props.user_properties.iter().enumerate() {
                if n > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(printf::c_str(key.as_str().as_bytes()));
                out.push(b':');
                out.extend_from_slice(printf::c_str(value.as_str().as_bytes()));
            }
        }
        b'p' => field.payload(out, msg.payload, None),
        b'q' => out.push(b'0' + msg.qos as u8),
        // Unlike the other properties, an absent Response Topic prints no blank.
        b'R' => {
            if let Some(topic) = &props.response_topic {
                field.str(out, topic.as_str().as_bytes());
            }
        }
        b'r' => out.push(if msg.retain { b'1' } else { b'0' }),
        b'S' => match props.subscription_identifiers.first() {
            // A Variable Byte Integer is at most 268,435,455, so it fits an int.
            Some(id) => field.int(out, i32::try_from(id.get()).unwrap_or(i32::MAX)),
            None => field.blank(out, field.pad),
        },
        b't' => field.str(out, msg.topic.as_bytes()),
        b'U' => {
            if let Some(time) = clock.local(errors) {
                out.extend_from_slice(time.unix().to_string().as_bytes());
                out.push(b'.');
                printf::zero_padded(out, u64::from(time.nanos()), 9);
            } else {
                errors.extend_from_slice(TIME_ERROR);
            }
        }
        b'x' => field.payload(out, msg.payload, Some(LOWER_HEX)),
        b'X' => field.payload(out, msg.payload, Some(UPPER_HEX)),
        // Anything else prints nothing (`check_format` normally rejects it up front).
        _ => {}
    }
}

/// The object `%j` (`escaped`) or `%J` prints, or `None` when `%J` finds the payload is not JSON.
fn message_json(msg: &Received<'_>, time: &LocalTime, escaped: bool) -> Option<Json> {
    let mut root = vec![
        (b"tst".to_vec(), Json::string(time.json_timestamp())),
        (b"topic".to_vec(), Json::string(msg.topic.as_bytes())),
        (b"qos".to_vec(), Json::int(msg.qos as u8)),
        (b"retain".to_vec(), Json::int(u8::from(msg.retain))),
        (
            b"payloadlen".to_vec(),
            Json::int(i64::try_from(msg.payload.len()).unwrap_or(i64::MAX)),
        ),
    ];
    if msg.qos as u8 > 0 {
        root.push((b"mid".to_vec(), Json::int(msg.mid)));
    }
    if let Some(properties) = properties_json(msg.properties) {
        root.push((b"properties".to_vec(), properties));
    }
    // libmosquitto hands over a NULL payload when it is empty.
    let payload = if msg.payload.is_empty() {
        Json::Null
    } else if escaped {
        // `cJSON_CreateString(payload)`: a C string, so it stops at the first NUL.
        Json::string(printf::c_str(msg.payload))
    } else {
        json::parse(msg.payload)?
    };
    root.push((b"payload".to_vec(), payload));
    Some(Json::Object(root))
}

/// The `"properties"` object, in the order a Mosquitto broker forwards them: subscription
/// identifiers first, the publisher's properties next (here in the order `mqtt-codec` writes
/// them), and the message expiry interval, which the broker recomputes, last.
fn properties_json(props: &mqtt_codec::PublishProperties) -> Option<Json> {
    let mut members = Vec::new();
    for id in &props.subscription_identifiers {
        members.push((b"subscription-identifier".to_vec(), Json::int(id.get())));
    }
    if let Some(utf8) = props.payload_format_indicator {
        members.push((
            b"payload-format-indicator".to_vec(),
            Json::int(u8::from(utf8)),
        ));
    }
    if let Some(topic) = &props.response_topic {
        members.push((
            b"response-topic".to_vec(),
            Json::string(topic.as_str().as_bytes()),
        ));
    }
    if let Some(data) = &props.correlation_data {
        // Read as a C string: the data stops at its first NUL.
        members.push((
            b"correlation-data".to_vec(),
            Json::string(printf::c_str(data)),
        ));
    }
    if let Some(content_type) = &props.content_type {
        members.push((
            b"content-type".to_vec(),
            Json::string(content_type.as_str().as_bytes()),
        ));
    }
    if !props.user_properties.is_empty() {
        let users = props
            .user_properties
            .iter()
            .map(|(key, value)| {
                (
                    key.as_str().as_bytes().to_vec(),
                    Json::string(value.as_str().as_bytes()),
                )
            })
            .collect();
        members.push((b"user-properties".to_vec(), Json::Object(users)));
    }
    if let Some(seconds) = props.message_expiry_interval {
        members.push((b"message-expiry-interval".to_vec(), Json::int(seconds)));
    }
    if members.is_empty() {
        None
    } else {
        Some(Json::Object(members))
    }
}
