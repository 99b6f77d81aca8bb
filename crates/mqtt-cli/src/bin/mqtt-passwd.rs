//! `mqtt-passwd`: manages Mosquitto password files; a drop-in replacement for
//! `mosquitto_passwd` 2.0 with the same options, messages and exit codes.
//!
//! ```text
//! mqtt-passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
//! mqtt-passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
//! mqtt-passwd -U passwordfile
//! ```
//!
//! `-I iterations` (hidden, as in Mosquitto) sets the PBKDF2 rounds. Without `-b` the password
//! is asked twice on the terminal without echo, or read as two lines from standard input when
//! that is not a terminal. Files are replaced atomically (temporary file, `fsync`, `rename`);
//! new files get mode 0600. The file format is in `mqtt_broker::auth::password`.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, Read as _, Write as _};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;

use mqtt_broker::auth::{
    validate_username, HashAlgorithm, PasswordFile, PasswordFileError, UsernameProblem,
    DEFAULT_ITERATIONS,
};

/// `mosquitto_passwd`'s usage text, with our name.
const USAGE: &str = "\
mqtt-passwd is a tool for managing password files for mosquitto.

Usage: mqtt-passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username
       mqtt-passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password
       mqtt-passwd -U passwordfile
 -b : run in batch mode to allow passing passwords on the command line.
 -c : create a new password file. This will overwrite existing files.
 -D : delete the username rather than adding/updating its password.
 -H : specify the hashing algorithm. Defaults to sha512-pbkdf2, which is recommended.
      Mosquitto 1.6 and earlier defaulted to sha512.
 -U : update a plain text password file to use hashed passwords.

See https://mosquitto.org/ for more information.

";

/// The longest password `mosquitto_passwd -b` accepts, in bytes.
const MAX_PASSWORD_LEN: usize = 65535;

/// How a run ends: the exit status, after the message (if any) has been printed.
type Status = u8;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    ExitCode::from(run(&args))
}

/// Prints to standard output, ignoring a closed pipe like C's `printf`.
fn out(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// Prints one line to standard error.
fn err(line: &str) {
    let _ = writeln!(io::stderr().lock(), "{line}");
}

fn usage() -> Status {
    out(USAGE);
    1
}

/// What to do with the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Create,
    Delete,
    Update,
    SetPassword,
}

/// C's `atoi` as glibc implements it: `(int)strtol(s, NULL, 10)`.
fn atoi(text: &OsStr) -> i32 {
    let bytes = text.as_encoded_bytes();
    let mut rest = bytes
        .iter()
        .skip_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .peekable();
    let negative = match rest.peek() {
        Some(b'-') => {
            rest.next();
            true
        }
        Some(b'+') => {
            rest.next();
            false
        }
        _ => false,
    };
    let mut value: i64 = 0;
    for digit in rest.map_while(|b| b.is_ascii_digit().then(|| i64::from(b - b'0'))) {
        value = value
            .saturating_mul(10)
            .saturating_add(if negative { -digit } else { digit });
    }
    // The conversion from long to int keeps the low 32 bits.
    value as i32
}

/// The bytes of a command-line password, as `mosquitto_passwd` hashes them.
fn os_bytes(text: &OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        text.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        text.to_string_lossy().into_owned().into_bytes()
    }
}

/// `strerror(errno)` for an operating-system error: its text without Rust's " (os error N)".
fn strerror(error: &io::Error) -> String {
    let text = error.to_string();
    match error.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map(str::to_owned)
            .unwrap_or(text),
        None => text,
    }
}

fn run(args: &[OsString]) -> Status {
    if args.is_empty() {
        return usage();
    }
    let mut algorithm_name = "sha512-pbkdf2";
    let mut iterations = DEFAULT_ITERATIONS;
    let (mut batch, mut create, mut delete, mut update) = (false, false, false, false);
    let mut idx = 0;
    while let Some(arg) = args.get(idx) {
        match arg.to_str() {
            Some("-H") => {
                let Some(name) = args.get(idx + 1) else {
                    err("Error: -H argument given but not enough other arguments.");
                    return 1;
                };
                algorithm_name = match name.to_str() {
                    Some("sha512") => "sha512",
                    Some("sha512-pbkdf2") => "sha512-pbkdf2",
                    _ => {
                        err(&format!(
                            "Error: Unknown hash type '{}'",
                            name.to_string_lossy()
                        ));
                        return 1;
                    }
                };
                idx += 1;
            }
            Some("-b") => batch = true,
            Some("-c") => create = true,
            Some("-D") => delete = true,
            Some("-I") => {
                let Some(count) = args.get(idx + 1) else {
                    err("Error: -I argument given but not enough other arguments.");
                    return 1;
                };
                idx += 1;
                let count = u32::try_from(atoi(count)).ok().and_then(NonZeroU32::new);
                let Some(count) = count else {
                    err("Error: Number of iterations must be > 0.");
                    return 1;
                };
                iterations = count;
            }
            Some("-U") => update = true,
            _ => break,
        }
        idx += 1;
    }
    let Some(algorithm) = HashAlgorithm::from_name(algorithm_name, iterations) else {
        return 1; // unreachable: the name was checked above
    };

    for (conflict, message) in [
        (
            create && delete,
            "Error: -c and -D cannot be used together.",
        ),
        (
            create && update,
            "Error: -c and -U cannot be used together.",
        ),
        (
            delete && update,
            "Error: -D and -U cannot be used together.",
        ),
        (delete && batch, "Error: -b and -D cannot be used together."),
    ] {
        if conflict {
            err(message);
            return 1;
        }
    }

    // The positional arguments, as mosquitto_passwd picks them (extra ones are ignored
    // after -c and -D).
    let rest = args.get(idx..).unwrap_or_default();
    let (action, file, username, password) = if create {
        match (batch, rest) {
            (true, [file, user, password, ..]) => {
                (Action::Create, file, Some(user), Some(password))
            }
            (true, _) => {
                err("Error: -c argument given but password file, username, or password missing.");
                return 1;
            }
            (false, [file, user, ..]) => (Action::Create, file, Some(user), None),
            (false, _) => {
                err("Error: -c argument given but password file or username missing.");
                return 1;
            }
        }
    } else if delete {
        match rest {
            [file, user, ..] => (Action::Delete, file, Some(user), None),
            _ => {
                err("Error: -D argument given but password file or username missing.");
                return 1;
            }
        }
    } else if update {
        match rest {
            [file] => (Action::Update, file, None, None),
            _ => {
                err("Error: -U argument given but password file missing.");
                return 1;
            }
        }
    } else {
        match (batch, rest) {
            (true, [file, user, password]) => {
                (Action::SetPassword, file, Some(user), Some(password))
            }
            (false, [file, user]) => (Action::SetPassword, file, Some(user), None),
            _ => return usage(),
        }
    };

    let username = match username.map(|user| user.to_str()) {
        None => None,
        Some(Some(user)) => {
            if let Err(problem) = validate_username(user) {
                err(&format!("Error: {problem}"));
                return 1;
            }
            Some(user)
        }
        Some(None) => {
            // Non-UTF-8: report what mosquitto_passwd would, else say why we refuse it.
            let lossy = username
                .map(|u| u.to_string_lossy().into_owned())
                .unwrap_or_default();
            match validate_username(&lossy) {
                Err(
                    problem @ (UsernameProblem::TooLong
                    | UsernameProblem::ControlCharacter
                    | UsernameProblem::Colon),
                ) => err(&format!("Error: {problem}")),
                _ => err("Error: Username must be valid UTF-8."),
            }
            return 1;
        }
    };
    let password = password.map(|p| os_bytes(p));
    if password
        .as_ref()
        .is_some_and(|p| p.len() > MAX_PASSWORD_LEN)
    {
        err("Error: Password must be less than 65536 characters long.");
        return 1;
    }

    // realpath(3): messages name the resolved file when it exists.
    let path = match fs::canonicalize(file) {
        Ok(resolved) => resolved,
        Err(e) if e.kind() == io::ErrorKind::NotFound => PathBuf::from(file),
        Err(e) => {
            err(&format!("Error reading password file: {}", strerror(&e)));
            return 1;
        }
    };
    let shown = path.display().to_string();

    match action {
        Action::Create => {
            let Some(username) = username else { return 1 };
            let password = match password {
                Some(password) => password,
                None => match ask_password() {
                    Ok(password) => password,
                    Err(status) => return status,
                },
            };
            let mut passwords = PasswordFile::new();
            if let Err(e) = passwords.set(username, &password, algorithm) {
                return report_set_error(&e);
            }
            match passwords.write_atomic(&path) {
                Ok(()) => 0,
                Err(PasswordFileError::Write { source, .. }) => {
                    err(&format!(
                        "Error: Unable to open file {shown} for writing. {}.",
                        strerror(&source)
                    ));
                    1
                }
                Err(e) => report_set_error(&e),
            }
        }
        Action::Delete | Action::Update | Action::SetPassword => {
            // mosquitto_passwd opens the file for reading and writing before anything else.
            let text = match read_for_update(&path) {
                Ok(text) => text,
                Err(e) => {
                    err(&format!(
                        "Error: Unable to open password file {shown}. {}.",
                        strerror(&e)
                    ));
                    return 1;
                }
            };
            let password = match (action, password) {
                (Action::SetPassword, None) => match ask_password() {
                    Ok(password) => Some(password),
                    Err(status) => return status,
                },
                (_, password) => password,
            };
            let mut passwords = match parse_lenient(&text, &shown) {
                Ok(passwords) => passwords,
                Err(status) => return status,
            };
            match action {
                Action::Delete => {
                    let Some(username) = username else { return 1 };
                    if !passwords.remove(username) {
                        err(&format!(
                            "Warning: User {username} not found in password file."
                        ));
                        return 1;
                    }
                }
                Action::Update => match passwords.hash_plaintext(algorithm) {
                    Ok(done) => {
                        for user in done.already_hashed {
                            err(&format!(
                                "Warning: User {user} already has a hashed password, left unchanged."
                            ));
                        }
                    }
                    Err(e) => return report_set_error(&e),
                },
                Action::SetPassword | Action::Create => {
                    let (Some(username), Some(password)) = (username, password) else {
                        return 1;
                    };
                    if let Err(e) = passwords.set(username, &password, algorithm) {
                        return report_set_error(&e);
                    }
                }
            }
            match passwords.write_atomic(&path) {
                Ok(()) => 0,
                Err(PasswordFileError::Write { source, .. }) => {
                    err(&format!(
                        "Error occurred updating password file {shown}. {}.",
                        strerror(&source)
                    ));
                    err("The password file was not changed.");
                    1
                }
                Err(e) => report_set_error(&e),
            }
        }
    }
}

/// Opens the file for reading and writing (as `fopen(path, "r+")` does, so that a file we
/// could not replace is refused up front) and reads it.
fn read_for_update(path: &std::path::Path) -> io::Result<Vec<u8>> {
    let mut file = fs::OpenOptions::new().read(true).write(true).open(path)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Parses the file as `mosquitto_passwd` does: any hash (or plain text) is kept, but a line
/// without a username and a field is corrupt.
fn parse_lenient(bytes: &[u8], shown: &str) -> Result<PasswordFile, Status> {
    let corrupt = |line: usize| {
        err(&format!("Error: Corrupt password file at line {line}."));
        1
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            return Err(corrupt(valid.iter().filter(|&&b| b == b'\n').count() + 1));
        }
    };
    PasswordFile::parse_lenient(text, shown).map_err(|e| match e.line() {
        Some(line) => corrupt(line),
        None => {
            err(&format!("Error: {e}"));
            1
        }
    })
}

fn report_set_error(error: &PasswordFileError) -> Status {
    match error {
        PasswordFileError::Random(_) => err("Error: Unable to hash password."),
        other => err(&format!("Error: {other}")),
    }
    1
}

/// Asks for the password twice as `mosquitto_passwd` does: prompts on standard output, lines
/// from standard input (without echo when it is a terminal). Returns the exit status on
/// failure: 1 for an empty password, 2 when the two differ.
fn ask_password() -> Result<Vec<u8>, Status> {
    let stdin = io::stdin();
    let _quiet = echo::Hidden::new(&stdin);
    let mut input = stdin.lock();
    out("Password: ");
    let Some(first) = read_password_line(&mut input) else {
        err("Error: Empty password.");
        return Err(1);
    };
    out("\n");
    out("Reenter password: ");
    let Some(second) = read_password_line(&mut input) else {
        err("Error: Empty password.");
        return Err(1);
    };
    out("\n");
    if first != second {
        err("Error: Passwords do not match.");
        return Err(2);
    }
    Ok(first)
}

/// One line without its line ending; `None` at end of input or for an empty line.
fn read_password_line(input: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    input.read_until(b'\n', &mut line).ok()?;
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    (!line.is_empty()).then_some(line)
}

#[cfg(unix)]
mod echo {
    //! Turning the terminal's echo off while a password is typed, and back on afterwards,
    //! also when the user interrupts with Ctrl-C (then, like `mosquitto_passwd`, exit 0).

    use std::io::{self, IsTerminal as _};
    use std::os::fd::AsFd as _;

    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions, Termios};

    /// Echo is off while this lives.
    pub(crate) struct Hidden {
        original: Termios,
    }

    impl Hidden {
        /// Turns echo off if standard input is a terminal.
        pub(crate) fn new(stdin: &io::Stdin) -> Option<Hidden> {
            if !stdin.is_terminal() {
                return None;
            }
            let original = tcgetattr(stdin.as_fd()).ok()?;
            restore_on_signal(original.clone());
            let mut quiet = original.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            tcsetattr(stdin.as_fd(), OptionalActions::Now, &quiet).ok()?;
            Some(Hidden { original })
        }
    }

    impl Drop for Hidden {
        fn drop(&mut self) {
            let _ = tcsetattr(io::stdin().as_fd(), OptionalActions::Now, &self.original);
        }
    }

    /// Catches SIGINT and SIGTERM from now on: restores `original` and exits with status 0.
    /// The handlers are installed before this returns, so no signal can slip through.
    fn restore_on_signal(original: Termios) {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let signals = {
            let _context = runtime.enter();
            signal(SignalKind::interrupt()).and_then(|i| Ok((i, signal(SignalKind::terminate())?)))
        };
        let Ok((mut interrupt, mut terminate)) = signals else {
            return;
        };
        std::thread::spawn(move || {
            runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            });
            let _ = tcsetattr(io::stdin().as_fd(), OptionalActions::Now, &original);
            std::process::exit(0);
        });
    }
}

#[cfg(not(unix))]
mod echo {
    //! Without termios the password is read with echo.

    /// Nothing to undo.
    pub(crate) struct Hidden;

    impl Hidden {
        pub(crate) fn new(_stdin: &std::io::Stdin) -> Option<Hidden> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atoi_matches_glibc() {
        for (text, expected) in [
            ("101", 101),
            ("  12abc", 12),
            ("abc", 0),
            ("", 0),
            ("-5", -5),
            ("+7", 7),
            ("4294967297", 1),
            ("3000000000", -1294967296),
            ("99999999999999999999", -1),
        ] {
            assert_eq!(atoi(OsStr::new(text)), expected, "{text}");
        }
    }

    #[test]
    fn password_lines() {
        let mut input = io::Cursor::new(b"abc\r\n\nlast".to_vec());
        assert_eq!(read_password_line(&mut input), Some(b"abc".to_vec()));
        assert_eq!(read_password_line(&mut input), None);
        assert_eq!(read_password_line(&mut input), Some(b"last".to_vec()));
        assert_eq!(read_password_line(&mut input), None);
    }

    #[test]
    fn strerror_drops_the_code() {
        let e = io::Error::from_raw_os_error(2);
        assert_eq!(strerror(&e), "No such file or directory");
    }
}
