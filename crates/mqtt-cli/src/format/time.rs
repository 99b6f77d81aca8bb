//! The reception time as `mosquitto_sub` prints it: glibc's `strftime` in the C locale (which
//! `mosquitto_sub` never changes), applied to `localtime()` of the clock.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Datelike, NaiveDateTime, Timelike};

use super::printf;
use super::zone::Zone;

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// A broken-down local time (C's `struct tm` plus the `timespec` it came from).
#[derive(Debug, Clone)]
pub(crate) struct LocalTime {
    /// Seconds since the Unix epoch (`tv_sec`).
    unix: i64,
    /// Nanoseconds within that second (`tv_nsec`), always below one billion.
    nanos: u32,
    /// Wall-clock date and time in the zone.
    local: NaiveDateTime,
    /// Seconds east of UTC (`tm_gmtoff`).
    offset: i32,
    /// The zone's abbreviation (`tm_zone`).
    abbreviation: String,
}

impl LocalTime {
    /// Breaks `now` down in `zone`, or `None` where C's `localtime()` would fail (a year beyond
    /// what the calendar code handles).
    pub(crate) fn new(now: SystemTime, zone: &Zone) -> Option<Self> {
        // Like `clock_gettime`, times before the epoch have a negative second and a positive
        // nanosecond part.
        let (unix, nanos) = match now.duration_since(UNIX_EPOCH) {
            Ok(after) => (i64::try_from(after.as_secs()).ok()?, after.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                let secs = i64::try_from(before.as_secs()).ok()?;
                match before.subsec_nanos() {
                    0 => (-secs, 0),
                    n => (-secs - 1, 1_000_000_000 - n),
                }
            }
        };
        let (offset, abbreviation) = zone.resolve(unix)?;
        let local = DateTime::from_timestamp(unix.checked_add(i64::from(offset))?, 0)?.naive_utc();
        Some(LocalTime {
            unix,
            nanos,
            local,
            offset,
            abbreviation,
        })
    }

    /// Nanoseconds within the second.
    pub(crate) fn nanos(&self) -> u32 {
        self.nanos
    }

    /// Seconds since the epoch.
    pub(crate) fn unix(&self) -> i64 {
        self.unix
    }

    /// Appends `strftime(format)` of this time; every conversion is a single letter, as in the
    /// templates mosquitto_sub uses and its `@X` escapes.
    pub(crate) fn strftime(&self, out: &mut Vec<u8>, format: &[u8]) {
        let mut bytes = format.iter().copied();
        while let Some(b) = bytes.next() {
            if b != b'%' {
                out.push(b);
                continue;
            }
            match bytes.next() {
                Some(conversion) => self.conversion(out, conversion),
                // glibc prints a lone trailing '%' as is.
                None => out.push(b'%'),
            }
        }
    }

    /// Appends one `%<c>` conversion as glibc 2.36 does in the C locale.
    fn conversion(&self, out: &mut Vec<u8>, c: u8) {
        let t = &self.local;
        let year = i64::from(t.year());
        let weekday = t.weekday().num_days_from_sunday();
        let hour12 = match t.hour() % 12 {
            0 => 12,
            h => h,
        };
        match c {
            b'a' => out.extend_from_slice(short(name(&WEEKDAYS, weekday))),
            b'A' => out.extend_from_slice(name(&WEEKDAYS, weekday).as_bytes()),
            b'b' | b'h' => out.extend_from_slice(short(name(&MONTHS, t.month0()))),
            b'B' => out.extend_from_slice(name(&MONTHS, t.month0()).as_bytes()),
            b'c' => self.strftime(out, b"%a %b %e %H:%M:%S %Y"),
            b'C' => num(out, year.div_euclid(100), 2, b'0'),
            b'd' => num(out, t.day(), 2, b'0'),
            b'D' | b'x' => self.strftime(out, b"%m/%d/%y"),
            b'e' => num(out, t.day(), 2, b' '),
            b'F' => self.strftime(out, b"%Y-%m-%d"),
            b'g' => num(out, i64::from(t.iso_week().year()).rem_euclid(100), 2, b'0'),
            b'G' => num(out, t.iso_week().year(), 1, b'0'),
            b'H' => num(out, t.hour(), 2, b'0'),
            b'I' => num(out, hour12, 2, b'0'),
            b'j' => num(out, t.ordinal(), 3, b'0'),
            b'k' => num(out, t.hour(), 2, b' '),
            b'l' => num(out, hour12, 2, b' '),
            b'm' => num(out, t.month(), 2, b'0'),
            b'M' => num(out, t.minute(), 2, b'0'),
            b'n' => out.push(b'\n'),
            b'p' => out.extend_from_slice(if t.hour() < 12 { b"AM" } else { b"PM" }),
            b'P' => out.extend_from_slice(if t.hour() < 12 { b"am" } else { b"pm" }),
            b'r' => self.strftime(out, b"%I:%M:%S %p"),
            b'R' => self.strftime(out, b"%H:%M"),
            b's' => out.extend_from_slice(self.unix.to_string().as_bytes()),
            b'S' => num(out, t.second(), 2, b'0'),
            b't' => out.push(b'\t'),
            b'T' | b'X' => self.strftime(out, b"%H:%M:%S"),
            b'u' => num(out, t.weekday().number_from_monday(), 1, b'0'),
            b'U' => num(out, (t.ordinal0() + 7 - weekday) / 7, 2, b'0'),
            b'V' => num(out, t.iso_week().week(), 2, b'0'),
            b'w' => num(out, weekday, 1, b'0'),
            b'W' => num(out, (t.ordinal0() + 7 - (weekday + 6) % 7) / 7, 2, b'0'),
            b'y' => num(out, year.rem_euclid(100), 2, b'0'),
            b'Y' => num(out, year, 1, b'0'),
            b'z' => {
                let minutes = self.offset.unsigned_abs() / 60;
                out.push(if self.offset < 0 { b'-' } else { b'+' });
                num(out, minutes / 60, 2, b'0');
                num(out, minutes % 60, 2, b'0');
            }
            b'Z' => out.extend_from_slice(self.abbreviation.as_bytes()),
            b'%' => out.push(b'%'),
            // glibc copies an unknown conversion (a flag or modifier left without its
            // conversion included) through unchanged.
            other => out.extend_from_slice(&[b'%', other]),
        }
    }

    /// The `"tst"` member of `%j`/`%J`: `strftime("%Y-%m-%dT%H:%M:%S.000000Z%z")`, after which
    /// Mosquitto writes the microseconds over the zeros (so the `Z` sits oddly before the offset).
    pub(crate) fn json_timestamp(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(32);
        self.strftime(&mut buf, b"%Y-%m-%dT%H:%M:%S.000000Z%z");
        let mut micros = Vec::with_capacity(6);
        printf::zero_padded(&mut micros, u64::from(self.nanos / 1000), 6);
        // The fixed offsets assume a four-digit year, as Mosquitto's own code does.
        if let Some(slot) = buf.get_mut(20..26) {
            slot.copy_from_slice(&micros);
        }
        buf
    }
}

/// `names[index]`, or "" if out of range (never, for chrono's values).
fn name(names: &[&'static str], index: u32) -> &'static str {
    usize::try_from(index)
        .ok()
        .and_then(|i| names.get(i))
        .copied()
        .unwrap_or("")
}

/// The C locale's three-letter abbreviation of a day or month name.
fn short(full: &str) -> &[u8] {
    full.as_bytes().get(..3).unwrap_or_default()
}

/// Appends `value` right-aligned in `width` columns padded with `pad` (after the sign).
fn num(out: &mut Vec<u8>, value: impl Into<i64>, width: usize, pad: u8) {
    let value = value.into();
    let digits = value.unsigned_abs().to_string();
    if value < 0 {
        out.push(b'-');
    }
    printf::repeat(out, pad, width.saturating_sub(digits.len()));
    out.extend_from_slice(digits.as_bytes());
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 2021-03-04T05:06:07.123456789Z, the instant the expected strings were taken at from
    /// `TZ=UTC faketime -f '2021-03-04 05:06:07.123456789' mosquitto_sub ...`.
    fn sample(zone: &Zone) -> LocalTime {
        let now = UNIX_EPOCH + Duration::new(1_614_834_367, 123_456_789);
        LocalTime::new(now, zone).unwrap()
    }

    fn fmt(t: &LocalTime, format: &str) -> String {
        let mut out = Vec::new();
        t.strftime(&mut out, format.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_letter_matches_glibc_in_the_c_locale() {
        let t = sample(&Zone::utc());
        let expected = [
            ("a", "Thu"),
            ("b", "Mar"),
            ("c", "Thu Mar  4 05:06:07 2021"),
            ("d", "04"),
            ("e", " 4"),
            ("f", "%f"),
            ("g", "21"),
            ("h", "Mar"),
            ("i", "%i"),
            ("j", "063"),
            ("k", " 5"),
            ("l", " 5"),
            ("m", "03"),
            ("n", "\n"),
            ("o", "%o"),
            ("p", "AM"),
            ("q", "%q"),
            ("r", "05:06:07 AM"),
            ("s", "1614834367"),
            ("t", "\t"),
            ("u", "4"),
            ("v", "%v"),
            ("w", "4"),
            ("x", "03/04/21"),
            ("y", "21"),
            ("z", "+0000"),
            ("A", "Thursday"),
            ("B", "March"),
            ("C", "20"),
            ("D", "03/04/21"),
            ("E", "%E"),
            ("F", "2021-03-04"),
            ("G", "2021"),
            ("H", "05"),
            ("I", "05"),
            ("J", "%J"),
            ("K", "%K"),
            ("L", "%L"),
            ("M", "06"),
            ("O", "%O"),
            ("P", "am"),
            ("Q", "%Q"),
            ("R", "05:06"),
            ("S", "07"),
            ("T", "05:06:07"),
            ("U", "09"),
            ("V", "09"),
            ("W", "09"),
            ("X", "05:06:07"),
            ("Y", "2021"),
            ("Z", "UTC"),
            ("0", "%0"),
            ("-", "%-"),
            ("%", "%"),
        ];
        for (conversion, want) in expected {
            assert_eq!(fmt(&t, &format!("%{conversion}")), want, "%{conversion}");
        }
    }

    #[test]
    fn offsets_and_json_timestamp() {
        let t = sample(&Zone::fixed(19_800, "IST"));
        assert_eq!(fmt(&t, "%FT%T%z %Z"), "2021-03-04T10:36:07+0530 IST");
        let t = sample(&Zone::fixed(-18_000, "EST"));
        assert_eq!(fmt(&t, "%z %I %p %k"), "-0500 12 AM  0");
        assert_eq!(
            String::from_utf8(sample(&Zone::utc()).json_timestamp()).unwrap(),
            "2021-03-04T05:06:07.123456Z+0000"
        );
    }

    #[test]
    fn before_the_epoch_counts_nanoseconds_forward() {
        let t = LocalTime::new(UNIX_EPOCH - Duration::new(1, 250_000_000), &Zone::utc()).unwrap();
        assert_eq!(t.unix(), -2);
        assert_eq!(t.nanos(), 750_000_000);
        assert_eq!(fmt(&t, "%F %T"), "1969-12-31 23:59:58");
    }

    #[test]
    fn week_numbers_at_year_boundaries() {
        // 2021-01-01 was a Friday: week 00 for %U and %W, ISO week 53 of 2020.
        let t = LocalTime::new(
            UNIX_EPOCH + Duration::from_secs(1_609_459_200),
            &Zone::utc(),
        )
        .unwrap();
        assert_eq!(
            fmt(&t, "%U %W %V %G %g %j %u %w"),
            "00 00 53 2020 20 001 5 5"
        );
    }
}
