//! Mosquitto 2.0 password files: `username:hash` lines, read and written byte-compatibly.
//!
//! A line holds a username, a colon and a hash in one of the two forms Mosquitto 2.0 reads:
//!
//! - `$7$<iterations>$<salt>$<hash>`: PBKDF2-HMAC-SHA512 of the password's bytes with the raw
//!   salt bytes and `<iterations>` rounds, 64 bytes long (written by default, with 101 rounds, by
//!   `mosquitto_passwd` 2.0 and `mqtt-passwd`);
//! - `$6$<salt>$<hash>`: one SHA-512 of the password's bytes followed by the salt bytes
//!   (Mosquitto 1.x, `-H sha512`).
//!
//! Salt and hash are base64 with the standard alphabet and `=` padding; salts are 12 random
//! bytes when written, and 12 or 64 bytes (Mosquitto 2.1) are accepted when read. Blanks around
//! the username and the hash are ignored, lines starting with `#` and blank lines are comments.
//!
//! [`PasswordFile::parse`] and [`PasswordFile::load`] are strict: a line that is not a valid
//! entry is an error naming the file and line ([`PasswordFileError::Line`]), where Mosquitto
//! would log it and drop the entry. [`PasswordFile::verify`] checks a password in constant time
//! (per hash). [`PasswordFile::write_atomic`] replaces a file through a temporary file, `fsync`
//! and `rename`, so that a reader sees either the old or the new file, never a part of one.
//!
//! ```
//! use mqtt_broker::auth::PasswordFile;
//!
//! // A line written by `mosquitto_passwd -b passwd test 123123`.
//! let text = "test:$7$101$3fNJI2CPcd/lNFAN$y1sGEm9JgMEl1jgstBh+f4qJ6Tkzm6Ho5DpL0hj40CkOm5orc6A0I\
//!             IreHviPCG3edJNOnoS/Z1MFkN9hbFi9PA==\n";
//! let file = PasswordFile::parse(text, "passwd")?;
//! assert!(file.verify("test", b"123123"));
//! assert!(!file.verify("test", b"123124"));
//! assert!(!file.verify("nobody", b"123123"));
//! # Ok::<(), mqtt_broker::auth::PasswordFileError>(())
//! ```

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};

use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use base64::Engine as _;
use sha2::{Digest as _, Sha512};
use subtle::ConstantTimeEq as _;

/// PBKDF2 rounds written by default, as `mosquitto_passwd` 2.0 does (`PW_DEFAULT_ITERATIONS`).
pub const DEFAULT_ITERATIONS: NonZeroU32 = NonZeroU32::MIN.saturating_add(100);

/// Length in bytes of the random salt of a new hash, as in Mosquitto 2.0.
pub const SALT_LEN: usize = 12;

/// Salt length that Mosquitto 2.1 writes; accepted when reading.
const LONG_SALT_LEN: usize = 64;

/// Length in bytes of a SHA-512 digest, the only hash length Mosquitto accepts.
const HASH_LEN: usize = 64;

/// The longest username (and password field) Mosquitto accepts in a password file.
const MAX_FIELD_LEN: usize = 65535;

/// How a new password is hashed: the `-H` (and `-I`) options of `mosquitto_passwd`.
///
/// ```
/// use mqtt_broker::auth::{HashAlgorithm, DEFAULT_ITERATIONS};
///
/// assert_eq!(
///     HashAlgorithm::default(),
///     HashAlgorithm::Sha512Pbkdf2 { iterations: DEFAULT_ITERATIONS }
/// );
/// assert_eq!(HashAlgorithm::from_name("sha512", DEFAULT_ITERATIONS), Some(HashAlgorithm::Sha512));
/// assert_eq!(HashAlgorithm::from_name("md5", DEFAULT_ITERATIONS), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// `$6$`: a single SHA-512 over the password followed by the salt (Mosquitto 1.x default).
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512 with the given number of rounds (Mosquitto 2.0 default).
    Sha512Pbkdf2 {
        /// PBKDF2 rounds; Mosquitto 2.0 writes [`DEFAULT_ITERATIONS`].
        iterations: NonZeroU32,
    },
}

impl Default for HashAlgorithm {
    fn default() -> Self {
        HashAlgorithm::Sha512Pbkdf2 {
            iterations: DEFAULT_ITERATIONS,
        }
    }
}

impl HashAlgorithm {
    /// The algorithm named as `mosquitto_passwd -H` names it (`sha512` or `sha512-pbkdf2`);
    /// `iterations` applies to `sha512-pbkdf2` only.
    pub fn from_name(name: &str, iterations: NonZeroU32) -> Option<HashAlgorithm> {
        match name {
            "sha512" => Some(HashAlgorithm::Sha512),
            "sha512-pbkdf2" => Some(HashAlgorithm::Sha512Pbkdf2 { iterations }),
            _ => None,
        }
    }

    /// The 64-byte digest of `password` with `salt`.
    fn digest(self, password: &[u8], salt: &[u8]) -> [u8; HASH_LEN] {
        match self {
            HashAlgorithm::Sha512 => {
                let mut hasher = Sha512::new();
                hasher.update(password);
                hasher.update(salt);
                hasher.finalize().into()
            }
            HashAlgorithm::Sha512Pbkdf2 { iterations } => {
                let mut out = [0u8; HASH_LEN];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations.get(), &mut out);
                out
            }
        }
    }
}

/// One password hash, as stored after `username:` in a password file.
///
/// [`PasswordHash::parse`] reads and [`fmt::Display`] writes the exact text Mosquitto uses.
///
/// ```
/// use mqtt_broker::auth::{HashAlgorithm, PasswordHash};
///
/// let hash = PasswordHash::generate(HashAlgorithm::default(), b"secret")?;
/// let text = hash.to_string();
/// assert!(text.starts_with("$7$101$"));
/// assert_eq!(text.parse::<PasswordHash>().ok(), Some(hash.clone()));
/// assert!(hash.verify(b"secret"));
/// # Ok::<(), mqtt_broker::auth::PasswordFileError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PasswordHash {
    /// `$7$<iterations>$<salt>$<hash>`.
    Sha512Pbkdf2 {
        /// PBKDF2 rounds.
        iterations: NonZeroU32,
        /// The raw salt bytes (12, or 64 in files written by Mosquitto 2.1).
        salt: Vec<u8>,
        /// PBKDF2-HMAC-SHA512(password, salt, iterations).
        hash: [u8; HASH_LEN],
    },
    /// `$6$<salt>$<hash>`.
    Sha512 {
        /// The raw salt bytes.
        salt: Vec<u8>,
        /// SHA-512(password || salt).
        hash: [u8; HASH_LEN],
    },
}

impl PasswordHash {
    /// Hashes `password` with a fresh random salt of [`SALT_LEN`] bytes.
    ///
    /// Fails only if the operating system cannot provide random bytes.
    pub fn generate(
        algorithm: HashAlgorithm,
        password: &[u8],
    ) -> Result<PasswordHash, PasswordFileError> {
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| PasswordFileError::Random(e.to_string()))?;
        Ok(PasswordHash::with_salt(algorithm, password, &salt))
    }

    /// Hashes `password` with the given salt (for tests and known vectors; use
    /// [`PasswordHash::generate`] for new passwords).
    ///
    /// ```
    /// use mqtt_broker::auth::{HashAlgorithm, PasswordHash};
    ///
    /// let hash = PasswordHash::with_salt(HashAlgorithm::Sha512, b"p", &[0; 12]);
    /// assert!(hash.to_string().starts_with("$6$AAAAAAAAAAAAAAAA$"));
    /// ```
    pub fn with_salt(algorithm: HashAlgorithm, password: &[u8], salt: &[u8]) -> PasswordHash {
        let hash = algorithm.digest(password, salt);
        match algorithm {
            HashAlgorithm::Sha512 => PasswordHash::Sha512 {
                salt: salt.to_vec(),
                hash,
            },
            HashAlgorithm::Sha512Pbkdf2 { iterations } => PasswordHash::Sha512Pbkdf2 {
                iterations,
                salt: salt.to_vec(),
                hash,
            },
        }
    }

    /// Reads the text after `username:` (without surrounding blanks).
    ///
    /// ```
    /// use mqtt_broker::auth::{HashParseError, PasswordHash};
    ///
    /// assert!(PasswordHash::parse("$6$hHr8juIsT/VcXg1s$VBu8wkhJDaqUfakQn45D0Bw2VxM7QJJ+7ZTKrQ8mSWE\
    ///                              yOGicVlXZu7Z9yECuGLZ8XPVgHNnFggS6d0oqVR9tqw==").is_ok());
    /// assert!(matches!(
    ///     PasswordHash::parse("plain-text"),
    ///     Err(HashParseError::UnknownType { .. })
    /// ));
    /// ```
    pub fn parse(text: &str) -> Result<PasswordHash, HashParseError> {
        let unknown = || HashParseError::UnknownType {
            id: hash_type_id(text),
        };
        let rest = text.strip_prefix('$').ok_or_else(unknown)?;
        let mut fields = rest.split('$');
        let kind = fields.next().ok_or_else(unknown)?;
        let pbkdf2 = match kind {
            "6" => false,
            "7" => true,
            _ => return Err(unknown()),
        };
        let mut next = |name: &'static str| match fields.next() {
            Some(field) if !field.is_empty() => Ok(field),
            _ => Err(HashParseError::MissingField(name)),
        };
        let iterations = if pbkdf2 {
            let field = next("iterations")?;
            if !field.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HashParseError::InvalidIterations);
            }
            let value = field
                .parse::<u32>()
                .map_err(|_| HashParseError::InvalidIterations)?;
            Some(NonZeroU32::new(value).ok_or(HashParseError::InvalidIterations)?)
        } else {
            None
        };
        let salt_text = next("salt")?;
        let hash_text = next("hash")?;
        if fields.next().is_some() {
            return Err(HashParseError::ExtraField);
        }
        let salt = STANDARD_PAD_INDIFFERENT
            .decode(salt_text)
            .map_err(|_| HashParseError::InvalidBase64("salt"))?;
        if salt.len() != SALT_LEN && salt.len() != LONG_SALT_LEN {
            return Err(HashParseError::SaltLength(salt.len()));
        }
        let hash_bytes = STANDARD_PAD_INDIFFERENT
            .decode(hash_text)
            .map_err(|_| HashParseError::InvalidBase64("hash"))?;
        let hash: [u8; HASH_LEN] = hash_bytes
            .as_slice()
            .try_into()
            .map_err(|_| HashParseError::HashLength(hash_bytes.len()))?;
        Ok(match iterations {
            Some(iterations) => PasswordHash::Sha512Pbkdf2 {
                iterations,
                salt,
                hash,
            },
            None => PasswordHash::Sha512 { salt, hash },
        })
    }

    /// How this hash was computed (and how to compute another like it).
    pub fn algorithm(&self) -> HashAlgorithm {
        match self {
            PasswordHash::Sha512Pbkdf2 { iterations, .. } => HashAlgorithm::Sha512Pbkdf2 {
                iterations: *iterations,
            },
            PasswordHash::Sha512 { .. } => HashAlgorithm::Sha512,
        }
    }

    /// Whether `password` hashes to this hash; the digests are compared in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let (salt, expected) = match self {
            PasswordHash::Sha512Pbkdf2 { salt, hash, .. } | PasswordHash::Sha512 { salt, hash } => {
                (salt, hash)
            }
        };
        let computed = self.algorithm().digest(password, salt);
        computed.ct_eq(expected).into()
    }
}

impl fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordHash::Sha512Pbkdf2 {
                iterations,
                salt,
                hash,
            } => write!(
                f,
                "$7${iterations}${}${}",
                STANDARD.encode(salt),
                STANDARD.encode(hash)
            ),
            PasswordHash::Sha512 { salt, hash } => {
                write!(f, "$6${}${}", STANDARD.encode(salt), STANDARD.encode(hash))
            }
        }
    }
}

impl FromStr for PasswordHash {
    type Err = HashParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PasswordHash::parse(text)
    }
}

/// The `$id$` of a hash of an unknown type, if the text looks like one (`$argon2id$...`); never
/// more of the text, which may be a plain-text password.
fn hash_type_id(text: &str) -> Option<String> {
    let rest = text.strip_prefix('$')?;
    let (id, _) = rest.split_once('$')?;
    let plausible = !id.is_empty()
        && id.len() <= 16
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    plausible.then(|| format!("${id}$"))
}

/// Why a hash field is not a hash Mosquitto 2.0 can check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashParseError {
    /// The field does not start with `$6$` or `$7$` (for instance a plain-text password, or an
    /// argon2id hash of Mosquitto 2.1).
    #[error("{}", unknown_type_message(.id.as_deref()))]
    UnknownType {
        /// The `$id$` found, if the field looks like a hash of another type.
        id: Option<String>,
    },
    /// A `$`-separated field is missing or empty.
    #[error("the password hash has no {0} field")]
    MissingField(&'static str),
    /// More `$`-separated fields than the hash type has.
    #[error("the password hash has too many '$' fields")]
    ExtraField,
    /// The PBKDF2 iteration count is not a whole number from 1 to 4294967295.
    #[error("the password hash has an invalid iteration count")]
    InvalidIterations,
    /// The salt or the hash is not base64.
    #[error("the password hash's {0} is not valid base64")]
    InvalidBase64(&'static str),
    /// The decoded salt is neither 12 nor 64 bytes long.
    #[error("the password hash's salt is {0} bytes long, expected 12 or 64")]
    SaltLength(usize),
    /// The decoded hash is not 64 bytes long.
    #[error("the password hash is {0} bytes long, expected 64")]
    HashLength(usize),
}

fn unknown_type_message(id: Option<&str>) -> String {
    match id {
        Some(id) => format!("unknown password hash type {id} (expected $6$ or $7$)"),
        None => "not a password hash (expected $6$ or $7$; convert a plain-text password file \
                 with `mqtt-passwd -U`)"
            .to_owned(),
    }
}

/// Why a username cannot be stored in a password file. The messages are those of
/// `mosquitto_passwd` where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameProblem {
    /// More than 65535 bytes.
    #[error("Username must be less than 65536 characters long.")]
    TooLong,
    /// An ASCII control character (such as a tab or a newline).
    #[error("Username must not contain control characters.")]
    ControlCharacter,
    /// A `:`, which separates the username from the hash.
    #[error("Username must not contain the ':' character.")]
    Colon,
    /// The empty string, which no line can hold.
    #[error("Username must not be empty.")]
    Empty,
    /// A leading or trailing space, which readers of the file strip.
    #[error("Username must not begin or end with a space.")]
    SurroundingSpace,
}

/// Checks that `username` can be written to and read back from a password file: the checks of
/// `mosquitto_passwd` (length, control characters, `:`), plus not empty and no surrounding
/// spaces (which Mosquitto would write but then read back as a different username).
///
/// ```
/// use mqtt_broker::auth::{validate_username, UsernameProblem};
///
/// assert_eq!(validate_username("alice"), Ok(()));
/// assert_eq!(validate_username("a:b"), Err(UsernameProblem::Colon));
/// assert_eq!(
///     validate_username("a:b").unwrap_err().to_string(),
///     "Username must not contain the ':' character."
/// );
/// ```
pub fn validate_username(username: &str) -> Result<(), UsernameProblem> {
    if username.len() > MAX_FIELD_LEN {
        return Err(UsernameProblem::TooLong);
    }
    if username.bytes().any(|b| b.is_ascii_control()) {
        return Err(UsernameProblem::ControlCharacter);
    }
    if username.contains(':') {
        return Err(UsernameProblem::Colon);
    }
    if username.is_empty() {
        return Err(UsernameProblem::Empty);
    }
    if username.starts_with(' ') || username.ends_with(' ') {
        return Err(UsernameProblem::SurroundingSpace);
    }
    Ok(())
}

/// What is wrong with one line of a password file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LineProblem {
    /// The line is not UTF-8 (MQTT usernames are UTF-8).
    #[error("the line is not valid UTF-8")]
    InvalidUtf8,
    /// Neither a comment, a blank line nor `username:hash`.
    #[error("expected `username:hash`, found no ':'")]
    MissingSeparator,
    /// Nothing (but blanks) before the `:`.
    #[error("empty username")]
    EmptyUsername,
    /// A username longer than 65535 bytes.
    #[error("username longer than 65535 bytes")]
    UsernameTooLong,
    /// Nothing (but blanks) after the `:`.
    #[error("no password hash for user {user:?}")]
    MissingHash {
        /// The username of the line.
        user: String,
    },
    /// The field after the `:` is not a hash Mosquitto 2.0 can check.
    #[error("user {user:?}: {problem}")]
    InvalidHash {
        /// The username of the line.
        user: String,
        /// What is wrong with the hash.
        problem: HashParseError,
    },
}

/// An error reading, changing or writing a password file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordFileError {
    /// The file could not be read.
    #[error("cannot read password file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file could not be written; the file at `path`, if any, is unchanged.
    #[error("cannot write password file {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A line is not a valid entry: `file:line: problem`.
    #[error("{origin}:{line}: {problem}")]
    Line {
        /// The file's path (or the name given to [`PasswordFile::parse`]).
        origin: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        problem: LineProblem,
    },
    /// A username that a password file cannot hold.
    #[error("{0}")]
    InvalidUsername(#[from] UsernameProblem),
    /// The operating system gave no random bytes for a salt.
    #[error("cannot generate a random salt: {0}")]
    Random(String),
}

impl PasswordFileError {
    /// The line number of a [`PasswordFileError::Line`] error.
    pub fn line(&self) -> Option<usize> {
        match self {
            PasswordFileError::Line { line, .. } => Some(*line),
            _ => None,
        }
    }
}

/// A password file: its lines in order, comments and untouched entries kept byte for byte.
///
/// Load it with [`PasswordFile::load`] (or [`PasswordFile::parse`]), check a client with
/// [`PasswordFile::verify`], change it with [`PasswordFile::set`] and [`PasswordFile::remove`],
/// and save it with [`PasswordFile::write_atomic`]. [`fmt::Display`] gives the file's text.
///
/// ```no_run
/// use mqtt_broker::auth::{HashAlgorithm, PasswordFile};
///
/// let mut file = PasswordFile::load("/etc/mosquitto/passwd")?;
/// file.set("bob", b"hunter2", HashAlgorithm::default())?;
/// file.remove("mallory");
/// file.write_atomic("/etc/mosquitto/passwd")?;
/// # Ok::<(), mqtt_broker::auth::PasswordFileError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// A comment or a blank line, kept verbatim (without its `\n`).
    Other(String),
    /// `username:secret`.
    Entry(Entry),
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    username: String,
    secret: Secret,
    /// The line as read (without its `\n`), written back while the entry is unchanged.
    raw: Option<String>,
}

#[derive(Clone, PartialEq, Eq)]
enum Secret {
    Hash(PasswordHash),
    /// Lenient parsing only: the field (blanks stripped) is no hash; perhaps a plain-text
    /// password. It never verifies.
    Unparsed(String),
}

impl fmt::Debug for Entry {
    /// Leaves out the raw line, which may hold a plain-text password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("username", &self.username)
            .field("secret", &self.secret)
            .field("unchanged", &self.raw.is_some())
            .finish()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Hash(hash) => f.debug_tuple("Hash").field(hash).finish(),
            Secret::Unparsed(_) => f.write_str("Unparsed(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Strict,
    Lenient,
}

/// What [`PasswordFile::hash_plaintext`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaintextConversion {
    /// Users whose plain-text password was replaced by its hash, in file order.
    pub converted: Vec<String>,
    /// Users whose line already held a valid hash and was left unchanged, in file order.
    pub already_hashed: Vec<String>,
}

impl PasswordFile {
    /// An empty file.
    pub fn new() -> PasswordFile {
        PasswordFile::default()
    }

    /// Reads and strictly parses the file at `path` (see [`PasswordFile::parse`]); errors name
    /// the path and line.
    pub fn load(path: impl AsRef<Path>) -> Result<PasswordFile, PasswordFileError> {
        Self::load_with(path.as_ref(), Mode::Strict)
    }

    /// Reads the file at `path` like [`PasswordFile::load`], but keeps entries whose hash is
    /// invalid or of an unknown type (see [`PasswordFile::parse_lenient`]).
    pub fn load_lenient(path: impl AsRef<Path>) -> Result<PasswordFile, PasswordFileError> {
        Self::load_with(path.as_ref(), Mode::Lenient)
    }

    fn load_with(path: &Path, mode: Mode) -> Result<PasswordFile, PasswordFileError> {
        let bytes = fs::read(path).map_err(|source| PasswordFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse_bytes(&bytes, &path.display().to_string(), mode)
    }

    /// Parses the text of a password file; `origin` names it in errors (`origin:line: ...`).
    ///
    /// Every line must be a comment (`#` first), blank, or `username:hash` with a valid `$6$`
    /// or `$7$` hash: anything else is an error, where Mosquitto would drop the entry with a
    /// log line. When a username appears more than once, the last entry counts, as in
    /// Mosquitto.
    ///
    /// ```
    /// use mqtt_broker::auth::PasswordFile;
    ///
    /// let error = PasswordFile::parse("# users\nalice:secret\n", "passwd").unwrap_err();
    /// assert_eq!(error.line(), Some(2));
    /// assert!(error.to_string().starts_with("passwd:2: user \"alice\": not a password hash"));
    /// ```
    pub fn parse(text: &str, origin: &str) -> Result<PasswordFile, PasswordFileError> {
        Self::parse_bytes(text.as_bytes(), origin, Mode::Strict)
    }

    /// Parses like [`PasswordFile::parse`] but keeps an entry whose field is not a valid hash
    /// (a plain-text password, a hash of an unknown type) instead of failing: such an entry
    /// never verifies, is written back unchanged, and can be removed, replaced with
    /// [`PasswordFile::set`] or hashed with [`PasswordFile::hash_plaintext`]. Lines without a
    /// username or field are still errors. This is how `mqtt-passwd` reads files.
    ///
    /// ```
    /// use mqtt_broker::auth::PasswordFile;
    ///
    /// let file = PasswordFile::parse_lenient("alice:secret\n", "passwd")?;
    /// assert!(file.contains("alice"));
    /// assert!(!file.verify("alice", b"secret"));
    /// assert_eq!(file.to_string(), "alice:secret\n");
    /// # Ok::<(), mqtt_broker::auth::PasswordFileError>(())
    /// ```
    pub fn parse_lenient(text: &str, origin: &str) -> Result<PasswordFile, PasswordFileError> {
        Self::parse_bytes(text.as_bytes(), origin, Mode::Lenient)
    }

    fn parse_bytes(
        bytes: &[u8],
        origin: &str,
        mode: Mode,
    ) -> Result<PasswordFile, PasswordFileError> {
        let mut pieces: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
        if pieces.last().is_some_and(|last| last.is_empty()) {
            pieces.pop();
        }
        let mut lines = Vec::with_capacity(pieces.len());
        for (index, piece) in pieces.into_iter().enumerate() {
            let error = |problem| PasswordFileError::Line {
                origin: origin.to_owned(),
                line: index + 1,
                problem,
            };
            let text = std::str::from_utf8(piece).map_err(|_| error(LineProblem::InvalidUtf8))?;
            lines.push(parse_line(text, mode).map_err(error)?);
        }
        Ok(PasswordFile { lines })
    }

    /// Whether `password` is the password of `username`: the hash of the user's (last) entry is
    /// recomputed and compared in constant time. An unknown user costs the hash of another entry
    /// of the file, so that timing does not tell which users exist.
    ///
    /// PBKDF2 costs CPU in proportion to the iteration count: call this from a blocking
    /// context (for instance `tokio::task::spawn_blocking`) in an async server.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        match self.get(username) {
            Some(hash) => hash.verify(password),
            None => {
                // The same work as for a user of the file (its last entry's algorithm and
                // iteration count), so that an unknown name answers no faster than a known one.
                let any = self.lines.iter().rev().find_map(|line| match line {
                    Line::Entry(Entry {
                        secret: Secret::Hash(hash),
                        ..
                    }) => Some(hash),
                    _ => None,
                });
                match any {
                    Some(hash) => {
                        std::hint::black_box(hash.verify(password));
                    }
                    None => {
                        let dummy = HashAlgorithm::default().digest(password, &[0u8; SALT_LEN]);
                        std::hint::black_box(dummy);
                    }
                }
                false
            }
        }
    }

    /// The hash that counts for `username`: that of its last entry with a valid hash.
    pub fn get(&self, username: &str) -> Option<&PasswordHash> {
        self.lines.iter().rev().find_map(|line| match line {
            Line::Entry(Entry {
                username: name,
                secret: Secret::Hash(hash),
                ..
            }) if name == username => Some(hash),
            _ => None,
        })
    }

    /// Whether `username` has an entry (valid or not).
    pub fn contains(&self, username: &str) -> bool {
        self.entries_any().any(|entry| entry.username == username)
    }

    /// The entries with a valid hash, in file order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &PasswordHash)> + '_ {
        self.entries_any().filter_map(|entry| match &entry.secret {
            Secret::Hash(hash) => Some((entry.username.as_str(), hash)),
            Secret::Unparsed(_) => None,
        })
    }

    /// The usernames of all entries, in file order (a username appears once per entry).
    pub fn usernames(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries_any().map(|entry| entry.username.as_str())
    }

    /// The number of entries (comments and blank lines not counted).
    pub fn len(&self) -> usize {
        self.entries_any().count()
    }

    /// Whether the file has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries_any(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.lines.iter().filter_map(|line| match line {
            Line::Entry(entry) => Some(entry),
            Line::Other(_) => None,
        })
    }

    /// Sets the password of `username`, hashed with `algorithm` and a fresh salt: every entry
    /// of that user is rewritten in place (as `mosquitto_passwd` does), or a new entry is
    /// appended. Fails on a username a file cannot hold (see [`validate_username`]).
    ///
    /// ```
    /// use mqtt_broker::auth::{HashAlgorithm, PasswordFile};
    ///
    /// let mut file = PasswordFile::new();
    /// file.set("alice", b"one", HashAlgorithm::Sha512)?;
    /// file.set("alice", b"two", HashAlgorithm::default())?;
    /// assert_eq!(file.len(), 1);
    /// assert!(file.verify("alice", b"two"));
    /// assert!(file.set("a:b", b"x", HashAlgorithm::default()).is_err());
    /// # Ok::<(), mqtt_broker::auth::PasswordFileError>(())
    /// ```
    pub fn set(
        &mut self,
        username: &str,
        password: &[u8],
        algorithm: HashAlgorithm,
    ) -> Result<(), PasswordFileError> {
        validate_username(username)?;
        let hash = PasswordHash::generate(algorithm, password)?;
        self.set_hash(username, hash)
    }

    /// Like [`PasswordFile::set`] with a hash computed beforehand.
    pub fn set_hash(
        &mut self,
        username: &str,
        hash: PasswordHash,
    ) -> Result<(), PasswordFileError> {
        validate_username(username)?;
        let mut found = false;
        for line in &mut self.lines {
            if let Line::Entry(entry) = line {
                if entry.username == username {
                    entry.secret = Secret::Hash(hash.clone());
                    entry.raw = None;
                    found = true;
                }
            }
        }
        if !found {
            self.lines.push(Line::Entry(Entry {
                username: username.to_owned(),
                secret: Secret::Hash(hash),
                raw: None,
            }));
        }
        Ok(())
    }

    /// Removes every entry of `username`; returns whether there was one.
    pub fn remove(&mut self, username: &str) -> bool {
        let before = self.lines.len();
        self.lines
            .retain(|line| !matches!(line, Line::Entry(entry) if entry.username == username));
        self.lines.len() != before
    }

    /// Replaces every entry whose field is not a valid hash (a file read with
    /// [`PasswordFile::parse_lenient`]) by the hash of that field taken as a plain-text password:
    /// `mosquitto_passwd -U`. Entries that already hold a valid hash are left unchanged (where
    /// `mosquitto_passwd -U` would hash the hash) and reported.
    ///
    /// ```
    /// use mqtt_broker::auth::{HashAlgorithm, PasswordFile};
    ///
    /// let mut file = PasswordFile::parse_lenient("alice:secret\n", "passwd")?;
    /// let done = file.hash_plaintext(HashAlgorithm::default())?;
    /// assert_eq!(done.converted, ["alice"]);
    /// assert!(file.verify("alice", b"secret"));
    /// # Ok::<(), mqtt_broker::auth::PasswordFileError>(())
    /// ```
    pub fn hash_plaintext(
        &mut self,
        algorithm: HashAlgorithm,
    ) -> Result<PlaintextConversion, PasswordFileError> {
        let mut done = PlaintextConversion::default();
        for line in &mut self.lines {
            let Line::Entry(entry) = line else { continue };
            match &entry.secret {
                Secret::Hash(_) => done.already_hashed.push(entry.username.clone()),
                Secret::Unparsed(plain) => {
                    let hash = PasswordHash::generate(algorithm, plain.as_bytes())?;
                    entry.secret = Secret::Hash(hash);
                    entry.raw = None;
                    done.converted.push(entry.username.clone());
                }
            }
        }
        Ok(done)
    }

    /// Replaces the file at `path` with this one, atomically: the text goes to a temporary file
    /// in the same directory (created with mode 0600), which is flushed to disk and renamed over
    /// `path`, and the directory is synced. Whatever fails, `path` keeps its old content and
    /// the temporary file is removed.
    ///
    /// A new file has mode 0600; a replaced file keeps its permissions and, where the process
    /// may set them, its owner and group (as an in-place edit would). A symbolic link at `path`
    /// is kept and its target replaced.
    pub fn write_atomic(&self, path: impl AsRef<Path>) -> Result<(), PasswordFileError> {
        let path = path.as_ref();
        write_atomically(path, self.to_string().as_bytes()).map_err(|source| {
            PasswordFileError::Write {
                path: path.to_path_buf(),
                source,
            }
        })
    }
}

impl fmt::Display for PasswordFile {
    /// The file's text: every line ends with `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            match line {
                Line::Other(text) => writeln!(f, "{text}")?,
                Line::Entry(Entry { raw: Some(raw), .. }) => writeln!(f, "{raw}")?,
                Line::Entry(Entry {
                    username, secret, ..
                }) => match secret {
                    Secret::Hash(hash) => writeln!(f, "{username}:{hash}")?,
                    Secret::Unparsed(field) => writeln!(f, "{username}:{field}")?,
                },
            }
        }
        Ok(())
    }
}

/// Mosquitto's `misc__trimblanks`: strips C `isspace` characters from both ends.
fn trim_blanks(text: &str) -> &str {
    text.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'))
}

fn parse_line(text: &str, mode: Mode) -> Result<Line, LineProblem> {
    if text.starts_with('#') || trim_blanks(text).is_empty() {
        return Ok(Line::Other(text.to_owned()));
    }
    let (user, field) = text.split_once(':').ok_or(LineProblem::MissingSeparator)?;
    let user = trim_blanks(user);
    let field = trim_blanks(field);
    if user.is_empty() {
        return Err(LineProblem::EmptyUsername);
    }
    if user.len() > MAX_FIELD_LEN {
        return Err(LineProblem::UsernameTooLong);
    }
    if field.is_empty() {
        return Err(LineProblem::MissingHash {
            user: user.to_owned(),
        });
    }
    let secret = match (PasswordHash::parse(field), mode) {
        (Ok(hash), _) => Secret::Hash(hash),
        (Err(_), Mode::Lenient) => Secret::Unparsed(field.to_owned()),
        (Err(problem), Mode::Strict) => {
            return Err(LineProblem::InvalidHash {
                user: user.to_owned(),
                problem,
            })
        }
    };
    Ok(Line::Entry(Entry {
        username: user.to_owned(),
        secret,
        raw: Some(text.to_owned()),
    }))
}

/// Writes `contents` to a temporary file beside `path`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    // Like realpath(3) in mosquitto_passwd: edit the target of a symbolic link, not the link.
    let target = match fs::canonicalize(path) {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => path.to_path_buf(),
        Err(e) => return Err(e),
    };
    let existing = match fs::metadata(&target) {
        Ok(metadata) if metadata.is_file() => Some(metadata),
        Ok(_) => None, // a directory or device: the rename below fails with the right error
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (temp_path, mut temp) = create_temp_file(&dir, &name.to_string_lossy())?;
    let written = (|| {
        temp.write_all(contents)?;
        if let Some(metadata) = &existing {
            copy_ownership_and_mode(&temp, metadata)?;
        }
        temp.sync_all()?;
        drop(temp);
        fs::rename(&temp_path, &target)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(e);
    }
    sync_dir(&dir);
    Ok(())
}

/// Creates `dir/.name.tmp-<pid>-<n>-<random>` exclusively, readable by its owner only.
fn create_temp_file(dir: &Path, name: &str) -> io::Result<(PathBuf, fs::File)> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut attempts = 0;
    loop {
        let mut random = [0u8; 4];
        // A fixed suffix is still unique per process and counter; randomness only avoids
        // collisions with stale files of an earlier process with the same pid.
        let _ = getrandom::fill(&mut random);
        let candidate = dir.join(format!(
            ".{name}.tmp-{}-{}-{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            u32::from_le_bytes(random)
        ));
        match options.open(&candidate) {
            Ok(file) => return Ok((candidate, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => attempts += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(unix)]
fn copy_ownership_and_mode(file: &fs::File, original: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    // Best effort: only a privileged process may give the file to another owner.
    let _ = std::os::unix::fs::fchown(file, Some(original.uid()), Some(original.gid()));
    file.set_permissions(fs::Permissions::from_mode(original.mode() & 0o7777))
}

#[cfg(not(unix))]
fn copy_ownership_and_mode(file: &fs::File, original: &fs::Metadata) -> io::Result<()> {
    file.set_permissions(original.permissions())
}

/// Makes the rename durable; best effort (not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From /work/shared/reference: `mosquitto_passwd` 2.0.11, password `123123`.
    const REFERENCE: &str = "test:$7$101$3fNJI2CPcd/lNFAN$y1sGEm9JgMEl1jgstBh+f4qJ6Tkzm6Ho5DpL0hj40CkOm5orc6A0IIreHviPCG3edJNOnoS/Z1MFkN9hbFi9PA==";
    /// `mosquitto_passwd -H sha512 -b f u5 p` (2.0.11).
    const SHA512_P: &str = "u5:$6$hHr8juIsT/VcXg1s$VBu8wkhJDaqUfakQn45D0Bw2VxM7QJJ+7ZTKrQ8mSWEyOGicVlXZu7Z9yECuGLZ8XPVgHNnFggS6d0oqVR9tqw==";
    /// `mosquitto_passwd -I 1000 -b f u4 p` (2.0.11).
    const PBKDF2_1000_P: &str = "u4:$7$1000$uf981G/j81CXkdX0$Kc4cZNohlQ2kSX6WgrinUQCBIxitVMDwhXOfxMHo97KNrH03qfYr1pZEEK2ZUM3Qm2EsXde2GKcMvHcGR779IA==";
    /// `mosquitto_passwd -I 12 -b f u7 p` (2.0.11).
    const PBKDF2_12_P: &str = "u7:$7$12$1fOu9i7RuTrPFW5F$PwrV2Flq4WegIs3QHW2CzbIia61j0DxfkDHYxCWAvRncQrNW3mrboTCunnJziUCRlzLfUKhG937t2XMpGz/znQ==";

    fn line_error(text: &str) -> (usize, LineProblem, String) {
        match PasswordFile::parse(text, "pw.txt") {
            Err(e @ PasswordFileError::Line { .. }) => {
                let message = e.to_string();
                let PasswordFileError::Line { line, problem, .. } = e else {
                    unreachable!()
                };
                (line, problem, message)
            }
            other => panic!("expected a line error for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn mosquitto_vectors_verify() {
        let text = [REFERENCE, SHA512_P, PBKDF2_1000_P, PBKDF2_12_P].join("\n");
        let file = PasswordFile::parse(&text, "pw").unwrap();
        assert_eq!(file.len(), 4);
        assert!(file.verify("test", b"123123"));
        assert!(!file.verify("test", b"123124"));
        assert!(!file.verify("test", b""));
        for user in ["u5", "u4", "u7"] {
            assert!(file.verify(user, b"p"), "{user}");
            assert!(!file.verify(user, b"P"), "{user}");
            assert!(!file.verify(user, b"p "), "{user}");
        }
        assert!(!file.verify("nobody", b"p"));
        assert!(!file.verify("U5", b"p"));
        assert_eq!(file.get("u5").unwrap().algorithm(), HashAlgorithm::Sha512);
        assert_eq!(
            file.get("u4").unwrap().algorithm(),
            HashAlgorithm::Sha512Pbkdf2 {
                iterations: NonZeroU32::new(1000).unwrap()
            }
        );
    }

    #[test]
    fn formatting_round_trips_byte_for_byte() {
        for line in [REFERENCE, SHA512_P, PBKDF2_1000_P, PBKDF2_12_P] {
            let (_, field) = line.split_once(':').unwrap();
            let hash = PasswordHash::parse(field).unwrap();
            assert_eq!(hash.to_string(), field);
            // A rebuilt entry (not the kept raw line) prints the same text.
            let mut file = PasswordFile::new();
            file.set_hash("x", hash).unwrap();
            assert_eq!(file.to_string(), format!("x:{field}\n"));
        }
    }

    #[test]
    fn known_vectors_are_recomputed() {
        // The reference's salt and hash, recomputed from the password.
        let (_, field) = REFERENCE.split_once(':').unwrap();
        let PasswordHash::Sha512Pbkdf2 { salt, .. } = PasswordHash::parse(field).unwrap() else {
            panic!("not $7$")
        };
        let again = PasswordHash::with_salt(HashAlgorithm::default(), b"123123", &salt);
        assert_eq!(again.to_string(), field);
        // $6$ is one SHA-512 of password || salt.
        let (_, field) = SHA512_P.split_once(':').unwrap();
        let PasswordHash::Sha512 { salt, hash } = PasswordHash::parse(field).unwrap() else {
            panic!("not $6$")
        };
        let mut digest = Sha512::new();
        digest.update(b"p");
        digest.update(&salt);
        assert_eq!(digest.finalize().as_slice(), hash.as_slice());
    }

    #[test]
    fn generated_hashes_have_mosquitto_shape() {
        let hash = PasswordHash::generate(HashAlgorithm::default(), b"pw").unwrap();
        let text = hash.to_string();
        let parts: Vec<&str> = text.split('$').collect();
        assert_eq!(parts.len(), 5, "{text}");
        assert_eq!(parts[1], "7");
        assert_eq!(parts[2], "101");
        assert_eq!(parts[3].len(), 16);
        assert_eq!(parts[4].len(), 88);
        assert!(parts[4].ends_with("=="));
        let text = PasswordHash::generate(HashAlgorithm::Sha512, b"pw")
            .unwrap()
            .to_string();
        let parts: Vec<&str> = text.split('$').collect();
        assert_eq!(parts.len(), 4, "{text}");
        assert_eq!((parts[1], parts[2].len(), parts[3].len()), ("6", 16, 88));
        // Fresh salts differ.
        let a = PasswordHash::generate(HashAlgorithm::Sha512, b"pw").unwrap();
        let b = PasswordHash::generate(HashAlgorithm::Sha512, b"pw").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn long_salts_of_mosquitto_2_1_are_accepted() {
        let salt = [7u8; 64];
        let hash = PasswordHash::with_salt(HashAlgorithm::default(), b"x", &salt);
        let parsed = PasswordHash::parse(&hash.to_string()).unwrap();
        assert!(parsed.verify(b"x"));
    }

    #[test]
    fn comments_blank_lines_and_blanks_around_fields() {
        let (_, field) = SHA512_P.split_once(':').unwrap();
        let text = format!("# users\n\n   \n  u5 \t:  {field} \r\n#end");
        let file = PasswordFile::parse(&text, "pw").unwrap();
        assert_eq!(file.len(), 1);
        assert!(file.verify("u5", b"p"));
        // Unchanged lines come back byte for byte; the file ends with a newline.
        assert_eq!(file.to_string(), format!("{text}\n"));
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let (line, problem, message) = line_error("# c\nno separator here\n");
        assert_eq!((line, problem), (2, LineProblem::MissingSeparator));
        assert!(message.starts_with("pw.txt:2: "), "{message}");

        let (line, problem, _) = line_error(&format!("{REFERENCE}\n :$6$x$y\n"));
        assert_eq!((line, problem), (2, LineProblem::EmptyUsername));

        let (line, problem, message) = line_error("\n\nbob:  \n");
        assert_eq!(
            (line, problem),
            (3, LineProblem::MissingHash { user: "bob".into() })
        );
        assert_eq!(message, "pw.txt:3: no password hash for user \"bob\"");

        let (line, problem, message) = line_error("bob:hunter2\n");
        assert_eq!(line, 1);
        assert!(matches!(
            problem,
            LineProblem::InvalidHash {
                problem: HashParseError::UnknownType { id: None },
                ..
            }
        ));
        assert!(!message.contains("hunter2"), "{message}");

        let (_, problem, message) =
            line_error("bob:$argon2id$v=19$m=47104,t=1,p=1$c2FsdA$aGFzaA\n");
        assert!(matches!(
            problem,
            LineProblem::InvalidHash {
                problem: HashParseError::UnknownType { .. },
                ..
            }
        ));
        assert!(message.contains("$argon2id$"), "{message}");

        let mut bytes = b"ok:x\n".to_vec();
        bytes.extend_from_slice(b"\xff\xfe:abc\n");
        let error = PasswordFile::parse_bytes(&bytes, "pw.txt", Mode::Lenient).unwrap_err();
        assert_eq!(error.line(), Some(2));
        assert!(error.to_string().starts_with("pw.txt:2: "));
    }

    #[test]
    fn invalid_hashes_are_rejected() {
        let (_, good) = REFERENCE.split_once(':').unwrap();
        let parts: Vec<&str> = good.split('$').collect();
        let (iter, salt, hash) = (parts[2], parts[3], parts[4]);
        let cases = [
            (
                format!("$7${iter}${salt}"),
                HashParseError::MissingField("hash"),
            ),
            (
                format!("$7$${salt}${hash}"),
                HashParseError::MissingField("iterations"),
            ),
            (
                format!("$7$0${salt}${hash}"),
                HashParseError::InvalidIterations,
            ),
            (
                format!("$7$-1${salt}${hash}"),
                HashParseError::InvalidIterations,
            ),
            (
                format!("$7$12a${salt}${hash}"),
                HashParseError::InvalidIterations,
            ),
            (
                format!("$7$99999999999${salt}${hash}"),
                HashParseError::InvalidIterations,
            ),
            (
                format!("$7${iter}${salt}${hash}$"),
                HashParseError::ExtraField,
            ),
            (
                format!("$7${iter}$!!!!${hash}"),
                HashParseError::InvalidBase64("salt"),
            ),
            (
                format!("$7${iter}$AAAA${hash}"),
                HashParseError::SaltLength(3),
            ),
            (
                format!("$7${iter}${salt}$AAAA"),
                HashParseError::HashLength(3),
            ),
            (
                format!("$6${iter}${salt}${hash}"),
                HashParseError::ExtraField,
            ),
            (
                format!("7${iter}${salt}${hash}"),
                HashParseError::UnknownType { id: None },
            ),
            (
                format!("$5${salt}${hash}"),
                HashParseError::UnknownType {
                    id: Some("$5$".into()),
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(PasswordHash::parse(&text), Err(expected), "{text}");
        }
        // Unpadded base64 is read too (OpenSSL is lenient as well).
        let unpadded = good.trim_end_matches('=');
        assert!(PasswordHash::parse(unpadded).unwrap().verify(b"123123"));
    }

    #[test]
    fn lenient_parsing_keeps_plaintext_and_hash_plaintext_converts() {
        let text = format!("# mixed\nalice: secret pw \n{SHA512_P}\nbob:$5$x$y\n");
        assert!(PasswordFile::parse(&text, "pw").is_err());
        let mut file = PasswordFile::parse_lenient(&text, "pw").unwrap();
        assert_eq!(file.to_string(), text);
        assert!(!file.verify("alice", b"secret pw"));
        assert_eq!(file.entries().count(), 1);
        assert_eq!(file.usernames().collect::<Vec<_>>(), ["alice", "u5", "bob"]);
        let done = file.hash_plaintext(HashAlgorithm::Sha512).unwrap();
        assert_eq!(done.converted, ["alice", "bob"]);
        assert_eq!(done.already_hashed, ["u5"]);
        assert!(file.verify("alice", b"secret pw"));
        assert!(file.verify("bob", b"$5$x$y"));
        assert!(file.verify("u5", b"p"));
        let out = file.to_string();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# mixed");
        assert!(lines[1].starts_with("alice:$6$"));
        assert_eq!(lines[2], SHA512_P);
        assert!(PasswordFile::parse(&out, "pw").is_ok());
        // Structural errors stay errors in lenient mode.
        assert_eq!(
            PasswordFile::parse_lenient("ok:x\nbroken\n", "pw")
                .unwrap_err()
                .line(),
            Some(2)
        );
    }

    #[test]
    fn set_replaces_in_place_and_remove_deletes() {
        let text = format!("{REFERENCE}\n# keep\n{SHA512_P}\n");
        let mut file = PasswordFile::parse(&text, "pw").unwrap();
        file.set("test", b"new", HashAlgorithm::default()).unwrap();
        file.set("carol", b"c", HashAlgorithm::Sha512).unwrap();
        let out = file.to_string();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("test:$7$101$") && lines[0] != REFERENCE);
        assert_eq!(lines[1], "# keep");
        assert_eq!(lines[2], SHA512_P);
        assert!(lines[3].starts_with("carol:$6$"));
        let reread = PasswordFile::parse(&out, "pw").unwrap();
        assert!(reread.verify("test", b"new") && !reread.verify("test", b"123123"));
        assert!(reread.verify("carol", b"c"));

        assert!(file.remove("u5"));
        assert!(!file.remove("u5"));
        assert!(!file.contains("u5"));
        assert_eq!(file.len(), 2);
        assert!(file.to_string().contains("# keep\n"));
    }

    #[test]
    fn duplicate_users_last_entry_counts() {
        let (_, sha) = SHA512_P.split_once(':').unwrap();
        let (_, reference) = REFERENCE.split_once(':').unwrap();
        let file = PasswordFile::parse(&format!("x:{sha}\nx:{reference}\n"), "pw").unwrap();
        assert!(file.verify("x", b"123123"));
        assert!(!file.verify("x", b"p"));
        // An invalid last entry (lenient) does not hide a valid earlier one.
        let file = PasswordFile::parse_lenient(&format!("x:{sha}\nx:plain\n"), "pw").unwrap();
        assert!(file.verify("x", b"p"));
        assert!(!file.verify("x", b"plain"));
    }

    #[test]
    fn usernames_are_validated() {
        assert_eq!(
            validate_username("a\tb"),
            Err(UsernameProblem::ControlCharacter)
        );
        assert_eq!(
            validate_username("a\x7fb"),
            Err(UsernameProblem::ControlCharacter)
        );
        assert_eq!(validate_username("a:b"), Err(UsernameProblem::Colon));
        assert_eq!(validate_username(""), Err(UsernameProblem::Empty));
        assert_eq!(
            validate_username(" a"),
            Err(UsernameProblem::SurroundingSpace)
        );
        assert_eq!(
            validate_username(&"x".repeat(65536)),
            Err(UsernameProblem::TooLong)
        );
        assert_eq!(validate_username(&"x".repeat(65535)), Ok(()));
        assert_eq!(validate_username("é ü"), Ok(()));
        let mut file = PasswordFile::new();
        let error = file.set("a:b", b"x", HashAlgorithm::Sha512).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Username must not contain the ':' character."
        );
        assert!(file.is_empty());
    }

    #[test]
    fn debug_output_hides_plaintext() {
        let file = PasswordFile::parse_lenient("alice:hunter2\n", "pw").unwrap();
        assert!(!format!("{file:?}").contains("hunter2"));
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_creates_0600_and_keeps_existing_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("mqtt-broker-pw-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passwd");

        let mut file = PasswordFile::new();
        file.set("a", b"1", HashAlgorithm::default()).unwrap();
        file.write_atomic(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(PasswordFile::load(&path).unwrap().verify("a", b"1"));

        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        file.set("b", b"2", HashAlgorithm::default()).unwrap();
        file.write_atomic(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert!(PasswordFile::load(&path).unwrap().verify("b", b"2"));

        // A symbolic link stays a link; its target is replaced.
        let link = dir.join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        file.remove("a");
        file.write_atomic(&link).unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(!PasswordFile::load(&path).unwrap().contains("a"));

        // Failures leave no temporary file behind and the old content in place.
        let error = file
            .write_atomic(dir.join("missing-dir").join("passwd"))
            .unwrap_err();
        assert!(matches!(error, PasswordFileError::Write { .. }), "{error}");
        let subdir = dir.join("sub");
        fs::create_dir(&subdir).unwrap();
        fs::write(subdir.join("keep"), "x").unwrap();
        assert!(file.write_atomic(&subdir).is_err());
        let names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        assert!(PasswordFile::load(&path).unwrap().verify("b", b"2"));

        let error = PasswordFile::load(dir.join("absent")).unwrap_err();
        assert!(matches!(error, PasswordFileError::Read { .. }));
        assert!(error.to_string().contains("absent"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
