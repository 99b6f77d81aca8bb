//! The time zone the reception time is shown in: its UTC offset and abbreviation (`%z`, `%Z`).
//!
//! `mosquitto_sub` uses `localtime()`, so the zone comes from `TZ` or `/etc/localtime`. chrono
//! gives us the offset, but not the abbreviation glibc prints for `%Z` ("CET", "EST"), so we read
//! the abbreviations ourselves from the same source glibc uses: the TZif file (its transition
//! table, then its POSIX footer) or a POSIX `TZ` string such as `EST5EDT`.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Offset, TimeZone};

/// Where the time of reception is shown (`%I`, `%z`, `%Z`, `@H`, the `"tst"` of `%j`).
///
/// [`Zone::local`] follows the process's `TZ` variable and `/etc/localtime` like Mosquitto does;
/// [`Zone::utc`] and [`Zone::fixed`] make output independent of the machine (for tests).
///
/// ```
/// use mqtt_cli::format::Zone;
/// let utc = Zone::utc();
/// let paris_winter = Zone::fixed(3600, "CET");
/// # let _ = (utc, paris_winter, Zone::local());
/// ```
#[derive(Debug, Clone)]
pub struct Zone(Kind);

#[derive(Debug, Clone)]
enum Kind {
    Local,
    Fixed { offset: i32, abbreviation: String },
}

impl Zone {
    /// The process's local zone, as `localtime()` sees it (the `TZ` variable, else
    /// `/etc/localtime`, else UTC).
    ///
    /// ```
    /// let zone = mqtt_cli::format::Zone::local();
    /// # let _ = zone;
    /// ```
    pub fn local() -> Self {
        Zone(Kind::Local)
    }

    /// UTC, abbreviated "UTC" (what glibc shows with `TZ=UTC`).
    ///
    /// ```
    /// let zone = mqtt_cli::format::Zone::utc();
    /// # let _ = zone;
    /// ```
    pub fn utc() -> Self {
        Self::fixed(0, "UTC")
    }

    /// A zone `offset_seconds` east of UTC, shown as `abbreviation` by `%Z`.
    ///
    /// ```
    /// let india = mqtt_cli::format::Zone::fixed(5 * 3600 + 1800, "IST");
    /// # let _ = india;
    /// ```
    pub fn fixed(offset_seconds: i32, abbreviation: impl Into<String>) -> Self {
        Zone(Kind::Fixed {
            offset: offset_seconds,
            abbreviation: abbreviation.into(),
        })
    }

    /// The offset east of UTC and the abbreviation in force at `unix` seconds, or `None` if the
    /// instant is outside the calendar's range.
    pub(crate) fn resolve(&self, unix: i64) -> Option<(i32, String)> {
        match &self.0 {
            Kind::Fixed {
                offset,
                abbreviation,
            } => Some((*offset, abbreviation.clone())),
            Kind::Local => {
                let utc = DateTime::from_timestamp(unix, 0)?.naive_utc();
                let offset = chrono::Local
                    .offset_from_utc_datetime(&utc)
                    .fix()
                    .local_minus_utc();
                Some((offset, local_names().abbreviation(unix, offset)))
            }
        }
    }
}

/// The abbreviations of the local zone, read once per value of `TZ`.
fn local_names() -> Arc<Names> {
    static CACHE: Mutex<Option<(Option<String>, Arc<Names>)>> = Mutex::new(None);
    let tz = std::env::var("TZ").ok();
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((key, names)) = cache.as_ref() {
        if *key == tz {
            return Arc::clone(names);
        }
    }
    let names = Arc::new(Names::load(tz.as_deref()));
    *cache = Some((tz, Arc::clone(&names)));
    names
}

/// What a zone calls itself over time.
#[derive(Debug, Default)]
struct Names {
    /// Transition instants, ascending, each with the index of its type in `types`.
    transitions: Vec<(i64, usize)>,
    /// Local time types: offset east of UTC and abbreviation.
    types: Vec<(i32, String)>,
    /// The rule for instants after the last transition (the TZif footer, or `TZ` itself).
    rule: Option<Rule>,
}

/// The names and offsets of a POSIX TZ rule (`CET-1CEST,M3.5.0,M10.5.0/3`); the dates of the
/// switch are not needed because chrono already tells us the offset.
#[derive(Debug, Clone, PartialEq)]
struct Rule {
    standard: (String, i32),
    daylight: Option<(String, i32)>,
}

impl Names {
    /// Finds the zone the way glibc's `tzset` does: `TZ` unset means `/etc/localtime`; empty
    /// means UTC; otherwise a TZif file (an absolute path, or a name under the zoneinfo
    /// directory), else a POSIX rule string.
    fn load(tz: Option<&str>) -> Self {
        let tz = match tz {
            None => return Self::from_file("/etc/localtime").unwrap_or_default(),
            Some(tz) => tz.strip_prefix(':').unwrap_or(tz),
        };
        if tz.is_empty() {
            return Names::default();
        }
        let path = if tz.starts_with('/') {
            tz.to_owned()
        } else {
            let dir = std::env::var("TZDIR").unwrap_or_else(|_| "/usr/share/zoneinfo".to_owned());
            format!("{dir}/{tz}")
        };
        Self::from_file(&path).unwrap_or_else(|| Names {
            rule: Rule::parse(tz.as_bytes()),
            ..Names::default()
        })
    }

    fn from_file(path: &str) -> Option<Self> {
        // Refuse to read anything that is not plausibly a small TZif file.
        let data = std::fs::read(path).ok()?;
        parse_tzif(&data)
    }

    /// The abbreviation for `unix`, given the offset chrono computed for it.
    fn abbreviation(&self, unix: i64, offset: i32) -> String {
        let last = self.transitions.iter().rev().find(|(at, _)| *at <= unix);
        let after_table = self.transitions.last().is_none_or(|(at, _)| unix >= *at);
        let from_rule = if after_table {
            self.rule.as_ref().and_then(|rule| rule.name_for(offset))
        } else {
            None
        };
        let from_table = || {
            // Before the first transition, RFC 8536 says type 0 applies.
            let index = last.map_or(0, |(_, index)| *index);
            self.types
                .get(index)
                .filter(|(type_offset, _)| *type_offset == offset)
                .or_else(|| self.types.iter().rev().find(|(o, _)| *o == offset))
                .map(|(_, name)| name.clone())
        };
        from_rule
            .or_else(from_table)
            .or_else(|| self.rule.as_ref().map(|rule| rule.standard.0.clone()))
            .unwrap_or_else(|| "UTC".to_owned())
    }
}

impl Rule {
    /// Parses the names and offsets at the start of a POSIX TZ string; `None` if it has no
    /// standard-time name.
    fn parse(text: &[u8]) -> Option<Rule> {
        let mut rest = text;
        let standard_name = take_name(&mut rest)?;
        // glibc keeps the name even when the offset is missing or malformed, at offset zero.
        let standard_offset = take_offset(&mut rest).map_or(0, |west| -west);
        let daylight = take_name(&mut rest).map(|name| {
            let offset = take_offset(&mut rest).map_or(standard_offset + 3600, |west| -west);
            (name, offset)
        });
        Some(Rule {
            standard: (standard_name, standard_offset),
            daylight,
        })
    }

    fn name_for(&self, offset: i32) -> Option<String> {
        if self.standard.1 == offset {
            return Some(self.standard.0.clone());
        }
        self.daylight
            .as_ref()
            .filter(|(_, daylight)| *daylight == offset)
            .map(|(name, _)| name.clone())
    }
}

/// A zone name: `<...>` quoted, or a run of letters.
fn take_name(rest: &mut &[u8]) -> Option<String> {
    let (name, tail) = if let Some(quoted) = rest.strip_prefix(b"<") {
        let end = quoted.iter().position(|&b| b == b'>')?;
        (quoted.get(..end)?, quoted.get(end + 1..)?)
    } else {
        let end = rest
            .iter()
            .position(|b| !b.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        (rest.get(..end)?, rest.get(end..)?)
    };
    if name.is_empty() {
        return None;
    }
    *rest = tail;
    Some(String::from_utf8_lossy(name).into_owned())
}

/// A POSIX offset `[+-]hh[:mm[:ss]]`, in seconds *west* of UTC as the string writes it.
fn take_offset(rest: &mut &[u8]) -> Option<i32> {
    let mut s = *rest;
    let sign = match s.first() {
        Some(b'-') => {
            s = s.get(1..)?;
            -1
        }
        Some(b'+') => {
            s = s.get(1..)?;
            1
        }
        _ => 1,
    };
    let mut total = 0i32;
    for (i, unit) in [3600, 60, 1].into_iter().enumerate() {
        if i > 0 {
            match s.strip_prefix(b":") {
                Some(tail) => s = tail,
                None => break,
            }
        }
        let digits = s.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let value: i32 = std::str::from_utf8(s.get(..digits)?).ok()?.parse().ok()?;
        total = total.checked_add(value.checked_mul(unit)?)?;
        s = s.get(digits..)?;
    }
    *rest = s;
    Some(sign * total)
}

/// Reads the abbreviations of a TZif file (RFC 8536), version 1 or later.
fn parse_tzif(data: &[u8]) -> Option<Names> {
    let header = Header::read(data)?;
    let v1_len = header.data_len(4)?;
    if header.version >= b'2' {
        // The 64-bit block follows the 32-bit one and has the complete table and the footer.
        let second = data.get(44usize.checked_add(v1_len)?..)?;
        let header64 = Header::read(second)?;
        let body = second.get(44..)?;
        let mut names = header64.names(body, 8)?;
        let footer = body.get(header64.data_len(8)?..)?;
        names.rule = footer
            .strip_prefix(b"\n")
            .and_then(|f| f.split(|&b| b == b'\n').next())
            .and_then(Rule::parse);
        Some(names)
    } else {
        header.names(data.get(44..)?, 4)
    }
}

/// The counts at the start of each TZif data block.
struct Header {
    version: u8,
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Header {
    fn read(data: &[u8]) -> Option<Header> {
        if !data.starts_with(b"TZif") {
            return None;
        }
        let count = |i: usize| -> Option<usize> {
            let bytes: [u8; 4] = data.get(20 + 4 * i..24 + 4 * i)?.try_into().ok()?;
            usize::try_from(u32::from_be_bytes(bytes)).ok()
        };
        Some(Header {
            version: *data.get(4)?,
            isutcnt: count(0)?,
            isstdcnt: count(1)?,
            leapcnt: count(2)?,
            timecnt: count(3)?,
            typecnt: count(4)?,
            charcnt: count(5)?,
        })
    }

    /// Length of the data block with `time_size`-byte times.
    fn data_len(&self, time_size: usize) -> Option<usize> {
        let parts = [
            self.timecnt.checked_mul(time_size)?,
            self.timecnt,
            self.typecnt.checked_mul(6)?,
            self.charcnt,
            self.leapcnt.checked_mul(time_size + 4)?,
            self.isstdcnt,
            self.isutcnt,
        ];
        parts
            .iter()
            .try_fold(0usize, |sum, part| sum.checked_add(*part))
    }

    /// The transitions and types of the data block `body`.
    fn names(&self, body: &[u8], time_size: usize) -> Option<Names> {
        let times_len = self.timecnt.checked_mul(time_size)?;
        let times = body.get(..times_len)?;
        let indices = body.get(times_len..times_len.checked_add(self.timecnt)?)?;
        let types_start = times_len.checked_add(self.timecnt)?;
        let types_len = self.typecnt.checked_mul(6)?;
        let types = body.get(types_start..types_start.checked_add(types_len)?)?;
        let chars_start = types_start.checked_add(types_len)?;
        let chars = body.get(chars_start..chars_start.checked_add(self.charcnt)?)?;

        let transitions = times
            .chunks_exact(time_size)
            .zip(indices)
            .filter_map(|(time, &index)| {
                let at = match time_size {
                    8 => i64::from_be_bytes(time.try_into().ok()?),
                    _ => i64::from(i32::from_be_bytes(time.try_into().ok()?)),
                };
                Some((at, usize::from(index)))
            })
            .collect();
        let types = types
            .chunks_exact(6)
            .filter_map(|t| {
                let offset = i32::from_be_bytes(t.get(..4)?.try_into().ok()?);
                let start = usize::from(*t.get(5)?);
                let name = chars.get(start..)?;
                let name = name.get(..name.iter().position(|&b| b == 0)?)?;
                Some((offset, String::from_utf8_lossy(name).into_owned()))
            })
            .collect();
        Some(Names {
            transitions,
            types,
            rule: None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn posix_rules() {
        let rule = Rule::parse(b"CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(rule.standard, ("CET".to_owned(), 3600));
        assert_eq!(rule.daylight, Some(("CEST".to_owned(), 7200)));
        let rule = Rule::parse(b"<+0530>-5:30").unwrap();
        assert_eq!(rule.standard, ("+0530".to_owned(), 19_800));
        assert_eq!(rule.daylight, None);
        let rule = Rule::parse(b"EST5EDT").unwrap();
        assert_eq!(rule.name_for(-18_000).unwrap(), "EST");
        assert_eq!(rule.name_for(-14_400).unwrap(), "EDT");
        // What glibc shows for an unknown zone name: the letters, at UTC.
        assert_eq!(
            Rule::parse(b"Foo/Bar").unwrap().standard,
            ("Foo".to_owned(), 0)
        );
        assert_eq!(Rule::parse(b""), None);
    }

    #[test]
    fn empty_tz_is_utc() {
        assert_eq!(Names::load(Some("")).abbreviation(0, 0), "UTC");
        assert_eq!(Names::load(Some("ABC-3XYZ")).abbreviation(0, 10_800), "ABC");
    }

    #[test]
    fn zoneinfo_files_when_installed() {
        // The zoneinfo database is optional on a build machine; check it where it exists.
        let Some(paris) = Names::from_file("/usr/share/zoneinfo/Europe/Paris") else {
            return;
        };
        // 2021-03-04 (winter), 2021-07-01 (summer), 2100-07-01 (after the table: the footer).
        assert_eq!(paris.abbreviation(1_614_834_367, 3600), "CET");
        assert_eq!(paris.abbreviation(1_625_097_600, 7200), "CEST");
        assert_eq!(paris.abbreviation(4_118_083_200, 7200), "CEST");
        // 1900 (Paris Mean Time) and 1874, before the first transition: local mean time.
        // Checked against `TZ=Europe/Paris date -d @<secs> +%Z`.
        assert_eq!(paris.abbreviation(-2_208_988_800, 561), "PMT");
        assert_eq!(paris.abbreviation(-3_000_000_000, 561), "LMT");
    }

    /// Our abbreviations against glibc's, through `date`, for zones given every way `TZ` can
    /// name them. Without tzdata installed, glibc and we both fall back to the POSIX reading.
    #[test]
    fn abbreviations_match_glibc_date() {
        let zones = [
            "UTC",
            "Europe/Paris",
            ":Europe/Paris",
            "/usr/share/zoneinfo/America/New_York",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
            "America/Sao_Paulo",
            "EST5EDT",
            "IST-5:30",
            "<+0530>-5:30",
            // With explicit rules: without them glibc borrows the `posixrules` file's table,
            // names included, which we do not imitate.
            "ABC+3XYZ,M3.2.0,M11.1.0",
            "Foo/Bar",
            "",
        ];
        // Winter and summer in both hemispheres, and far beyond the transition tables.
        let instants = [
            1_614_834_367_i64,
            1_625_097_600,
            4_118_083_200,
            4_133_980_800,
        ];
        for tz in zones {
            for at in instants {
                let output = std::process::Command::new("date")
                    .env("TZ", tz)
                    .arg(format!("--date=@{at}"))
                    .arg("+%z %Z")
                    .output()
                    .expect("`date` (coreutils) is needed for this test");
                let text = String::from_utf8(output.stdout).unwrap();
                let (offset, name) = text.trim_end().split_once(' ').unwrap();
                let sign = if offset.starts_with('-') { -1 } else { 1 };
                let hours: i32 = offset[1..3].parse().unwrap();
                let minutes: i32 = offset[3..5].parse().unwrap();
                let offset = sign * (hours * 3600 + minutes * 60);
                assert_eq!(
                    Names::load(Some(tz)).abbreviation(at, offset),
                    name,
                    "TZ={tz:?} at {at}"
                );
            }
        }
    }
}
