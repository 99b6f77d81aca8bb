//! The default options file: options read before the command line, one per line.
//!
//! Mosquitto's clients read `$XDG_CONFIG_HOME/mosquitto_pub` (or `$HOME/.config/mosquitto_pub`,
//! `mosquitto_sub`, `mosquitto_rr`). Each line holds an option and, after the first space, its
//! value (the rest of the line, spaces included); lines starting with `#` are comments. The
//! lines are applied first and the command line after them, so a later option overrides an
//! earlier one, while options that accumulate (`mosquitto_sub -t`, `-T`) add to the file's.
//!
//! The tools here look for their own file first (`mqtt_pub`, `mqtt_sub`, `mqtt_rr`) and fall back
//! to Mosquitto's, so a migrated user keeps their settings.

use std::ffi::OsStr;
use std::path::PathBuf;

use super::Tool;

/// `fgets` reads at most this many bytes per call (a 1024-byte buffer less the NUL), so Mosquitto
/// treats a longer line as several lines.
const FGETS_CHUNK: usize = 1023;

/// The files to try for `tool`, in order, given the values of `XDG_CONFIG_HOME` and `HOME`.
///
/// As in Mosquitto, `XDG_CONFIG_HOME` wins whenever it is set, even if the file is not there.
pub fn options_file_candidates(
    tool: Tool,
    xdg_config_home: Option<&OsStr>,
    home: Option<&OsStr>,
) -> Vec<PathBuf> {
    let dir = match (xdg_config_home, home) {
        (Some(xdg), _) => PathBuf::from(xdg),
        (None, Some(home)) => PathBuf::from(home).join(".config"),
        (None, None) => return Vec::new(),
    };
    vec![
        dir.join(tool.options_file_name()),
        dir.join(tool.mosquitto_options_file_name()),
    ]
}

/// The contents of the first readable options file for `tool`, looked up through the process
/// environment, or `None` when there is none (a missing file is not an error, as in Mosquitto).
pub fn read_default_options_file(tool: Tool) -> Option<Vec<u8>> {
    let xdg = std::env::var_os("XDG_CONFIG_HOME");
    let home = std::env::var_os("HOME");
    options_file_candidates(tool, xdg.as_deref(), home.as_deref())
        .into_iter()
        .find_map(|path| std::fs::read(path).ok())
}

/// Splits an options file into the argument lists Mosquitto makes of its lines: the option, and
/// the rest of the line after the first space if it is not empty.
pub(crate) fn lines(contents: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for raw_line in contents.split_inclusive(|&b| b == b'\n') {
        for chunk in raw_line.chunks(FGETS_CHUNK) {
            if chunk.first() == Some(&b'#') {
                continue;
            }
            let mut line = chunk;
            while let Some(rest) = line
                .strip_suffix(b"\n")
                .or_else(|| line.strip_suffix(b"\r"))
            {
                line = rest;
            }
            // strtok(line, " "): skip leading spaces, the option ends at the next space.
            let Some(begin) = line.iter().position(|&b| b != b' ') else {
                continue;
            };
            let line = line.get(begin..).unwrap_or_default();
            let mut words = Vec::with_capacity(2);
            match line.iter().position(|&b| b == b' ') {
                Some(space) => {
                    let (option, rest) = line.split_at(space);
                    words.push(option.to_vec());
                    // strtok(NULL, ""): the rest after the one space that ended the option.
                    let value = rest.get(1..).unwrap_or_default();
                    if !value.is_empty() {
                        words.push(value.to_vec());
                    }
                }
                None => words.push(line.to_vec()),
            }
            out.push(words);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn lines_are_split_at_the_first_space() {
        let file =
            b"# a comment\n-h broker.example\r\n-t a topic with spaces \n\n  -c\n-q\n-m  two\n";
        assert_eq!(
            lines(file),
            vec![
                vec![w("-h"), w("broker.example")],
                vec![w("-t"), w("a topic with spaces ")],
                vec![w("-c")],
                vec![w("-q")],
                vec![w("-m"), w(" two")],
            ]
        );
    }

    #[test]
    fn a_comment_must_start_the_line() {
        assert_eq!(
            lines(b" # not a comment"),
            vec![vec![w("#"), w("not a comment")]]
        );
        assert_eq!(lines(b"-k 30"), vec![vec![w("-k"), w("30")]]);
    }

    #[test]
    fn long_lines_are_read_in_fgets_chunks() {
        let mut file = b"-m ".to_vec();
        file.extend(std::iter::repeat_n(b'x', 2000));
        let parsed = lines(&file);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0][1].len(), FGETS_CHUNK - 3);
    }

    #[test]
    fn xdg_config_home_wins_over_home() {
        let c = options_file_candidates(Tool::Sub, Some(OsStr::new("/x")), Some(OsStr::new("/h")));
        assert_eq!(
            c,
            vec![
                PathBuf::from("/x/mqtt_sub"),
                PathBuf::from("/x/mosquitto_sub")
            ]
        );
        let c = options_file_candidates(Tool::Rr, None, Some(OsStr::new("/h")));
        assert_eq!(
            c,
            vec![
                PathBuf::from("/h/.config/mqtt_rr"),
                PathBuf::from("/h/.config/mosquitto_rr")
            ]
        );
        assert!(options_file_candidates(Tool::Pub, None, None).is_empty());
    }
}
