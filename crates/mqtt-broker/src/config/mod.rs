//! Configuration: `mosquitto.conf` syntax and TOML, into one typed [`Config`].
//!
//! A file whose name ends in `.toml` is read as TOML (the same option names as keys,
//! `[[listener]]` tables for listener blocks); any other file is read exactly as Mosquitto 2.0
//! reads `mosquitto.conf`: the same options, defaults, scoping rules (listener blocks,
//! `per_listener_settings`, the deprecated default listener of `port` / `bind_address`),
//! `include_dir` order and error messages. Bridges (`connection` blocks) become
//! [`Config::bridges`]. Options Mosquitto knows but this broker does not implement yet
//! (plugins, TLS-PSK, a few bridge options, ...) are accepted with a [`ConfigWarning`]; unknown
//! options and out-of-range values are a [`ConfigError`] naming the file, the line and the
//! option. `docs/configuration.md` lists every option.
//!
//! ```
//! use std::path::Path;
//! use mqtt_broker::config::Config;
//!
//! let text = "listener 1883\nallow_anonymous true\nmax_queued_messages 200\n";
//! let loaded = Config::parse_mosquitto(text, Path::new("mosquitto.conf")).unwrap();
//! assert_eq!(loaded.config.listeners[0].port, 1883);
//! assert!(loaded.config.listeners[0].security.anonymous_allowed());
//! assert_eq!(loaded.config.max_queued_messages, 200);
//! assert!(loaded.warnings.is_empty());
//! ```

use std::path::Path;

mod bridge;
mod error;
mod mosquitto;
mod reload;
#[cfg(test)]
mod tests;
mod toml;
mod types;

pub use error::{ConfigError, ConfigWarning, WarningKind};
pub use reload::{ReloadError, Reloaded};
pub use types::{
    Config, Listener, ListenerProtocol, Log, LogDest, LogFacility, LogTypes, Persistence,
    PersistenceSync, Security, SocketDomain, Tls, TlsVersion, DEFAULT_PORT,
};

use mosquitto::{FileState, Parser, Syntax};

/// A loaded configuration and the caveats met while reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// Lines accepted with a caveat (unsupported or deprecated options, ...), in file order.
    /// The broker should log each of them.
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Loads a configuration file: TOML if its name ends in `.toml`, `mosquitto.conf` syntax
    /// otherwise. `include_dir` directories are read from disk (relative paths from the current
    /// directory, as Mosquitto does).
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when a file cannot be read or a line is invalid; its `Display` is one
    /// line such as `Error: Unknown configuration variable "foo" at /etc/mosquitto/mosquitto.conf:3.`
    ///
    /// ```
    /// use mqtt_broker::config::Config;
    ///
    /// let dir = std::env::temp_dir().join(format!("mqtt-broker-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("broker.conf");
    /// std::fs::write(&path, "listener 1884 127.0.0.1\nsys_interval 0\n").unwrap();
    /// let loaded = Config::load(&path).unwrap();
    /// assert_eq!(loaded.config.listeners[0].port, 1884);
    /// assert_eq!(loaded.config.sys_interval, 0);
    ///
    /// std::fs::write(&path, "listener 1884\nfoo bar\n").unwrap();
    /// let error = Config::load(&path).unwrap_err();
    /// assert_eq!(error.line(), Some(2));
    /// assert!(error.to_string().starts_with("Error: Unknown configuration variable \"foo\" at "));
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let mut parser = Parser::new();
        parser.read_file(&mut FileState::main(path, Syntax::of(path)))?;
        parser.finish()
    }

    /// Parses `mosquitto.conf` text; `path` names it in errors and warnings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for the first invalid line.
    ///
    /// ```
    /// use std::path::Path;
    /// use mqtt_broker::config::{Config, ConfigError};
    ///
    /// let text = "per_listener_settings true\nlistener 1883\nallow_anonymous true\n\
    ///             listener 8883\npassword_file /etc/mosquitto/passwd\n";
    /// let config = Config::parse_mosquitto(text, Path::new("m.conf")).unwrap().config;
    /// assert!(config.listeners[0].security.anonymous_allowed());
    /// assert!(!config.listeners[1].security.anonymous_allowed());
    ///
    /// let error = Config::parse_mosquitto("listener 1883\nmax_qos 3\n", Path::new("m.conf"))
    ///     .unwrap_err();
    /// assert!(matches!(error, ConfigError::InvalidValue { line: 2, .. }));
    /// ```
    pub fn parse_mosquitto(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
        let mut parser = Parser::new();
        parser.read_mosquitto(
            text.as_bytes(),
            &mut FileState::main(path, Syntax::Mosquitto),
        )?;
        parser.finish()
    }

    /// Parses the TOML form; `path` names it in errors and warnings.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] for invalid TOML or the first invalid key.
    ///
    /// ```
    /// use std::path::Path;
    /// use mqtt_broker::config::Config;
    ///
    /// let text = "max_queued_messages = 200\n[[listener]]\nport = 1883\nallow_anonymous = true\n";
    /// let toml = Config::parse_toml(text, Path::new("m.toml")).unwrap().config;
    /// let conf = "listener 1883\nallow_anonymous true\nmax_queued_messages 200\n";
    /// let mosquitto = Config::parse_mosquitto(conf, Path::new("m.conf")).unwrap().config;
    /// assert_eq!(toml, mosquitto);
    /// ```
    pub fn parse_toml(text: &str, path: &Path) -> Result<Loaded, ConfigError> {
        let mut parser = Parser::new();
        toml::read_toml(&mut parser, text, &mut FileState::main(path, Syntax::Toml))?;
        parser.finish()
    }
}
