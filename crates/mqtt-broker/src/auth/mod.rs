//! Client authentication.
//!
//! [`password`] reads and writes Mosquitto-compatible password files (`password_file` in
//! `mosquitto.conf`, managed with `mosquitto_passwd` or our `mqtt-passwd`) and checks a
//! username and password against them.
//!
//! ```
//! use mqtt_broker::auth::{HashAlgorithm, PasswordFile};
//!
//! let mut file = PasswordFile::new();
//! file.set("alice", b"secret", HashAlgorithm::default())?;
//! let text = file.to_string(); // "alice:$7$101$<salt>$<hash>\n"
//!
//! let loaded = PasswordFile::parse(&text, "passwd")?;
//! assert!(loaded.verify("alice", b"secret"));
//! assert!(!loaded.verify("alice", b"wrong"));
//! # Ok::<(), mqtt_broker::auth::PasswordFileError>(())
//! ```

pub mod acl;
pub mod password;

pub use password::{
    validate_username, HashAlgorithm, HashParseError, LineProblem, PasswordFile, PasswordFileError,
    PasswordHash, PlaintextConversion, UsernameProblem, DEFAULT_ITERATIONS, SALT_LEN,
};
