//! Configuration errors and warnings.
//!
//! Each message is one line in Mosquitto's words, with the place appended: Mosquitto prints
//! `Error: Unknown configuration variable "foo".` and then `Error found at file:3.`; we print
//! `Error: Unknown configuration variable "foo" at file:3.`

use core::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Why a configuration could not be loaded. `Display` is one line naming the file, the line and
/// the option.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("Error: Unable to open config file {} ({source}).", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The configuration file is a directory.
    #[error("Error: Config file {} is a directory.", file.display())]
    IsDirectory {
        /// The path given.
        file: PathBuf,
    },
    /// An `include_dir` directory could not be listed.
    #[error(
        "Error: Unable to open include_dir '{}' ({source}) at {}:{line}.",
        dir.display(),
        file.display()
    )]
    IncludeDir {
        /// The file with the `include_dir` line.
        file: PathBuf,
        /// Its line number.
        line: usize,
        /// Always `include_dir`.
        option: String,
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The option name is not one Mosquitto 2.0 knows.
    #[error("Error: Unknown configuration variable \"{option}\" at {}:{line}.", file.display())]
    UnknownOption {
        /// The file.
        file: PathBuf,
        /// The line number (1-based).
        line: usize,
        /// The unknown name.
        option: String,
    },
    /// The option needs a value and has none.
    #[error("Error: Empty {option} value in configuration at {}:{line}.", file.display())]
    EmptyValue {
        /// The file.
        file: PathBuf,
        /// The line number (1-based).
        line: usize,
        /// The option.
        option: String,
    },
    /// The value is malformed or out of range.
    #[error("Error: {message} at {}:{line}.", file.display())]
    InvalidValue {
        /// The file.
        file: PathBuf,
        /// The line number (1-based).
        line: usize,
        /// The option.
        option: String,
        /// What is wrong, naming the option and the value.
        message: String,
    },
    /// A single-valued option is given twice in the same scope.
    #[error("Error: Duplicate {option} value in configuration at {}:{line}.", file.display())]
    Duplicate {
        /// The file.
        file: PathBuf,
        /// The line number of the second occurrence.
        line: usize,
        /// The option.
        option: String,
    },
    /// `per_listener_settings true` comes after a security option.
    #[error(
        "Error: per_listener_settings must be set before any other security settings at {}:{line}.",
        file.display()
    )]
    PerListenerSettingsTooLate {
        /// The file.
        file: PathBuf,
        /// The line of `per_listener_settings`.
        line: usize,
        /// Always `per_listener_settings`.
        option: String,
    },
    /// The option is valid but not where it is (a bridge option outside a `connection` block,
    /// `mount_point` before any listener, `plugin_opt_*` without a plugin...).
    #[error("Error: {message} at {}:{line}.", file.display())]
    Misplaced {
        /// The file.
        file: PathBuf,
        /// The line number (1-based).
        line: usize,
        /// The option.
        option: String,
        /// What is wrong.
        message: String,
    },
    /// A TOML file is not valid TOML (or has a value of a type no option takes).
    #[error("Error: Invalid TOML ({message}) at {}:{line}.", file.display())]
    Toml {
        /// The file.
        file: PathBuf,
        /// The line number (1-based; 1 when the parser gave no position).
        line: usize,
        /// The key concerned, or empty when the file does not parse.
        option: String,
        /// The parser's message, on one line.
        message: String,
    },
}

impl ConfigError {
    /// The file the error is in.
    pub fn file(&self) -> &Path {
        match self {
            ConfigError::Read { file, .. }
            | ConfigError::IsDirectory { file }
            | ConfigError::IncludeDir { file, .. }
            | ConfigError::UnknownOption { file, .. }
            | ConfigError::EmptyValue { file, .. }
            | ConfigError::InvalidValue { file, .. }
            | ConfigError::Duplicate { file, .. }
            | ConfigError::PerListenerSettingsTooLate { file, .. }
            | ConfigError::Misplaced { file, .. }
            | ConfigError::Toml { file, .. } => file,
        }
    }

    /// The line number (1-based), when the error is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Read { .. } | ConfigError::IsDirectory { .. } => None,
            ConfigError::IncludeDir { line, .. }
            | ConfigError::UnknownOption { line, .. }
            | ConfigError::EmptyValue { line, .. }
            | ConfigError::InvalidValue { line, .. }
            | ConfigError::Duplicate { line, .. }
            | ConfigError::PerListenerSettingsTooLate { line, .. }
            | ConfigError::Misplaced { line, .. }
            | ConfigError::Toml { line, .. } => Some(*line),
        }
    }

    /// The option concerned, when the error is about one option.
    pub fn option(&self) -> Option<&str> {
        match self {
            ConfigError::Read { .. } | ConfigError::IsDirectory { .. } => None,
            ConfigError::IncludeDir { option, .. }
            | ConfigError::UnknownOption { option, .. }
            | ConfigError::EmptyValue { option, .. }
            | ConfigError::InvalidValue { option, .. }
            | ConfigError::Duplicate { option, .. }
            | ConfigError::PerListenerSettingsTooLate { option, .. }
            | ConfigError::Misplaced { option, .. }
            | ConfigError::Toml { option, .. } => {
                Some(option).filter(|o| !o.is_empty()).map(String::as_str)
            }
        }
    }
}

/// Why a line was accepted but not fully honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarningKind {
    /// An option Mosquitto knows that this broker does not implement yet (bridges, plugins,
    /// TLS-PSK, ...). It has no effect.
    Unsupported,
    /// A deprecated option (`port`, `bind_address`, ...). It still works.
    Deprecated,
    /// A line without effect (e.g. `include_dir` in an included file, TLS options on a
    /// listener without `certfile`/`keyfile`).
    Ignored,
    /// Something works, perhaps not as the reader expects (Mosquitto's notices).
    Notice,
}

/// A configuration line that was accepted with a caveat. `Display` is one line naming the file,
/// the line and the option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    /// The file.
    pub file: PathBuf,
    /// The line number (1-based).
    pub line: usize,
    /// The option.
    pub option: String,
    /// The kind of caveat.
    pub kind: WarningKind,
    /// What happens, in one sentence without a final period.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Warning: {} at {}:{}.",
            self.message,
            self.file.display(),
            self.line
        )
    }
}
