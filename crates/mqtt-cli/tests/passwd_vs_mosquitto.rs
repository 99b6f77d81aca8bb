//! `mqtt-passwd` against the real `mosquitto_passwd` 2.0 and `mosquitto` 2.0.
//!
//! - The same invocation of both tools, each in its own directory seeded with the same files
//!   and fed the same standard input, prints the same stdout and stderr (with the tool's name
//!   and the directory swapped), exits with the same code and leaves files of the same shape
//!   (salts and hashes are random, so they are compared as placeholders).
//! - Files written by `mqtt-passwd` (PBKDF2 and SHA-512, custom iterations, `-U`, a password
//!   read from standard input) let `mosquitto_pub` log in to a real `mosquitto` with
//!   `allow_anonymous false`, and wrong passwords are refused.
//! - Files written by `mosquitto_passwd` verify with `PasswordFile::verify`.
//! - Writes are atomic: mode 0600 for new files, and a write that fails part-way (a file size
//!   limit) leaves the original file as it was.
//!
//! Mosquitto must be installed: the tests fail loudly otherwise (`test_support::tool`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mqtt_broker::auth::PasswordFile;
use test_support::{tool, Mosquitto, TempDir};

/// How long one tool may run before it is killed and the test fails.
const LIMIT: Duration = Duration::from_secs(20);

fn ours() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mqtt-passwd"))
}

/// What a tool printed and returned.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `program` with `args` in `dir`, `input` on its standard input.
fn run_in(program: &Path, args: &[&str], dir: &Path, input: &[u8]) -> Outcome {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let mut stdin = child.stdin.take().unwrap();
    // The tool may exit before reading everything: ignore a broken pipe.
    let _ = stdin.write_all(input);
    drop(stdin);
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "{} {args:?} did not finish within {LIMIT:?}",
                program.display()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let output = child.wait_with_output().unwrap();
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A password file's text with random salts and hashes replaced by placeholders.
fn shape(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        let shaped = match body.split_once(':') {
            Some((user, field)) => {
                let parts: Vec<&str> = field.split('$').collect();
                match parts.as_slice() {
                    ["", "7", iterations, salt, hash] if salt.len() == 16 && hash.len() == 88 => {
                        format!("{user}:$7${iterations}$<salt>$<hash>")
                    }
                    ["", "6", salt, hash] if salt.len() == 16 && hash.len() == 88 => {
                        format!("{user}:$6$<salt>$<hash>")
                    }
                    _ => body.to_owned(),
                }
            }
            None => body.to_owned(),
        };
        out.push_str(&shaped);
        out.push_str(end);
    }
    out
}

/// The names and shapes of the files in `dir`, sorted.
fn dir_shape(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let text = if entry.file_type().unwrap().is_file() {
                shape(&String::from_utf8_lossy(
                    &std::fs::read(entry.path()).unwrap(),
                ))
            } else {
                "<dir>".to_owned()
            };
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// A file (or directory, when `contents` is `None`) placed in both tools' directories.
type Seed<'a> = (&'a str, Option<&'a [u8]>);

/// Runs both tools with the same arguments, seeds and input, and returns their outcomes
/// (normalised) and directory shapes.
fn both(args: &[&str], seeds: &[Seed<'_>], input: &[u8]) -> [(Outcome, Vec<(String, String)>); 2] {
    let mosquitto_passwd = tool("mosquitto_passwd");
    [mosquitto_passwd, ours()].map(|program| {
        let dir = TempDir::new("passwd-cmp");
        for (name, contents) in seeds {
            match contents {
                Some(bytes) => std::fs::write(dir.path().join(name), bytes).unwrap(),
                None => std::fs::create_dir(dir.path().join(name)).unwrap(),
            }
        }
        let mut outcome = run_in(&program, args, dir.path(), input);
        let real_dir = std::fs::canonicalize(dir.path()).unwrap();
        for text in [&mut outcome.stdout, &mut outcome.stderr] {
            *text = text
                .replace(&real_dir.display().to_string(), "<dir>")
                .replace(&dir.path().display().to_string(), "<dir>")
                .replace("mosquitto_passwd", "mqtt-passwd");
        }
        (outcome, dir_shape(dir.path()))
    })
}

/// A file written by `mosquitto_passwd -c -b`, for seeds.
fn mosquitto_file(users: &[(&str, &str, &[&str])]) -> Vec<u8> {
    let dir = TempDir::new("passwd-seed");
    let path = dir.path().join("pw");
    for (index, (user, password, options)) in users.iter().enumerate() {
        let mut args: Vec<&str> = options.to_vec();
        if index == 0 {
            args.push("-c");
        }
        args.extend(["-b", "pw", user, password]);
        let outcome = run_in(&tool("mosquitto_passwd"), &args, dir.path(), b"");
        assert_eq!(
            outcome.code,
            Some(0),
            "mosquitto_passwd {args:?}: {outcome:?}"
        );
    }
    std::fs::read(path).unwrap()
}

#[test]
fn same_output_exit_code_and_file_shape_as_mosquitto_passwd() {
    let existing = mosquitto_file(&[
        ("alice", "a", &[]),
        ("bob", "b", &["-H", "sha512"]),
        ("carol", "c", &["-I", "1000"]),
    ]);
    let existing = existing.as_slice();
    let plain: &[u8] = b"alice:secret\nbob:  two words \r\ncarol:x\n";
    let no_seed: &[Seed<'_>] = &[];
    let with_file: &[Seed<'_>] = &[("f", Some(existing))];
    let with_plain: &[Seed<'_>] = &[("f", Some(plain))];
    let with_dir: &[Seed<'_>] = &[("d", None)];
    let cases: &[(&[&str], &[Seed<'_>], &[u8])] = &[
        // Usage, argument errors, refused combinations.
        (&[], no_seed, b""),
        (&["--help"], no_seed, b""),
        (&["-x"], no_seed, b""),
        (&["-b", "f", "u"], no_seed, b""),
        (&["f", "u", "p", "extra"], no_seed, b""),
        (&["-c"], no_seed, b""),
        (&["-c", "f"], no_seed, b""),
        (&["-c", "-b", "f", "u"], no_seed, b""),
        (&["-c", "-D", "f", "u"], no_seed, b""),
        (&["-c", "-U", "f"], no_seed, b""),
        (&["-D", "-U", "f"], no_seed, b""),
        (&["-D", "-b", "f", "u"], no_seed, b""),
        (&["-D", "f"], no_seed, b""),
        (&["-U"], no_seed, b""),
        (&["-U", "f", "extra"], no_seed, b""),
        (&["-H"], no_seed, b""),
        (&["-H", "md5", "f", "u"], no_seed, b""),
        (&["-I"], no_seed, b""),
        (&["-I", "0", "-c", "-b", "f", "u", "p"], no_seed, b""),
        (&["-I", "abc", "-c", "-b", "f", "u", "p"], no_seed, b""),
        (&["-I", "-5", "-c", "-b", "f", "u", "p"], no_seed, b""),
        (&["-c", "-b", "f", "a:b", "p"], no_seed, b""),
        (&["-c", "-b", "f", "a\tb", "p"], no_seed, b""),
        // Files that cannot be opened.
        (&["-b", "f", "u", "p"], no_seed, b""),
        (&["-D", "f", "u"], no_seed, b""),
        (&["-U", "f"], no_seed, b""),
        (&["f", "u"], no_seed, b"pw\npw\n"),
        (&["-b", "nodir/f", "u", "p"], no_seed, b""),
        (&["-c", "-b", "nodir/f", "u", "p"], no_seed, b""),
        (&["-b", "d", "u", "p"], with_dir, b""),
        (&["-c", "-b", "d", "u", "p"], with_dir, b""),
        (&["-D", "d", "u"], with_dir, b""),
        // Creating files.
        (&["-c", "-b", "f", "u", "p"], no_seed, b""),
        (&["-b", "-c", "f", "u", "p", "extra"], no_seed, b""),
        (&["-c", "-b", "-H", "sha512", "f", "u", "p"], no_seed, b""),
        (
            &[
                "-c",
                "-b",
                "-H",
                "sha512-pbkdf2",
                "-I",
                "1000",
                "f",
                "u",
                "p",
            ],
            no_seed,
            b"",
        ),
        (
            &["-c", "-b", "-I", "5", "-H", "sha512", "f", "u", "p"],
            no_seed,
            b"",
        ),
        (&["-c", "-b", "-I", "12abc", "f", "u", "p"], no_seed, b""),
        (&["-c", "-b", "f", "é", "p"], with_file, b""),
        // Passwords read from standard input (not a terminal here).
        (&["-c", "f", "u"], no_seed, b"abc\nabc\n"),
        (&["-c", "f", "u"], no_seed, b"abc\r\nabc\r\n"),
        (&["-c", "f", "u"], no_seed, b"abc\nabd\n"),
        (&["-c", "f", "u"], no_seed, b"a b \n a b \n"),
        (&["-c", "f", "u"], no_seed, b"\n"),
        (&["-c", "f", "u"], no_seed, b"abc\n"),
        (&["-c", "f", "u"], no_seed, b"abc"),
        (&["-c", "f", "u"], no_seed, b""),
        (&["f", "bob"], with_file, b"new\nnew\n"),
        (&["f", "dave"], with_file, b"new\nnew\n"),
        (&["f", "dave"], with_file, b"new\nold\n"),
        (&["f", "dave"], with_file, b"\n"),
        // Updating, adding, deleting.
        (&["-b", "f", "bob", "new"], with_file, b""),
        (&["-b", "f", "dave", "d"], with_file, b""),
        (&["-b", "-H", "sha512", "f", "alice", "x"], with_file, b""),
        (&["-I", "2000", "-b", "f", "carol", "x"], with_file, b""),
        (&["-c", "-b", "f", "zed", "z"], with_file, b""),
        (&["-D", "f", "bob"], with_file, b""),
        (&["-D", "f", "nobody"], with_file, b""),
        (&["-D", "f", "u", "extra"], with_file, b""),
        // Converting a plain-text file.
        (&["-U", "f"], with_plain, b""),
        (&["-H", "sha512", "-U", "f"], with_plain, b""),
        (&["-U", "-b", "f"], with_plain, b""),
    ];
    let mut failures = Vec::new();
    for (args, seeds, input) in cases {
        let [theirs, ours] = both(args, seeds, input);
        if theirs != ours {
            failures.push(format!(
                "mqtt-passwd {args:?} (stdin {:?}):\n  mosquitto_passwd: {theirs:?}\n  mqtt-passwd:      {ours:?}",
                String::from_utf8_lossy(input)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn help_goes_to_stdout_with_exit_code_1() {
    let dir = TempDir::new("passwd-help");
    let outcome = run_in(&ours(), &["--help"], dir.path(), b"");
    assert_eq!(outcome.code, Some(1));
    assert!(outcome
        .stdout
        .starts_with("mqtt-passwd is a tool for managing password files"));
    assert!(outcome
        .stdout
        .contains("-U : update a plain text password file"));
    assert_eq!(outcome.stderr, "");
}

/// Where `mqtt-passwd` deliberately differs from `mosquitto_passwd`, which loses data there.
#[test]
fn keeps_what_mosquitto_passwd_would_lose() {
    let dir = TempDir::new("passwd-keep");
    let path = dir.path().join("f");
    let hashed = mosquitto_file(&[("alice", "a", &[])]);
    let alice_line = String::from_utf8(hashed.clone()).unwrap();

    // Comments and blank lines are kept (mosquitto_passwd calls them corrupt and drops them),
    // and a last line without a newline is not glued to the next entry.
    let text = format!("# users\n\n{}", alice_line.trim_end());
    std::fs::write(&path, &text).unwrap();
    let outcome = run_in(&ours(), &["-b", "f", "bob", "b"], dir.path(), b"");
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(
        after.starts_with(&format!("# users\n\n{alice_line}bob:$7$101$")),
        "{after}"
    );
    let file = PasswordFile::load(&path).unwrap();
    assert!(file.verify("alice", b"a") && file.verify("bob", b"b"));

    // -U leaves hashed lines alone (mosquitto_passwd would hash the hash).
    std::fs::write(&path, format!("{alice_line}carol: c \n")).unwrap();
    let outcome = run_in(&ours(), &["-U", "f"], dir.path(), b"");
    assert_eq!(outcome.code, Some(0), "{outcome:?}");
    assert_eq!(
        outcome.stderr,
        "Warning: User alice already has a hashed password, left unchanged.\n"
    );
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.starts_with(&alice_line), "{after}");
    let file = PasswordFile::load(&path).unwrap();
    assert!(file.verify("alice", b"a") && file.verify("carol", b"c"));

    // A line without a field is refused before anything is written.
    std::fs::write(&path, format!("{alice_line}broken\n")).unwrap();
    let outcome = run_in(&ours(), &["-b", "f", "dave", "d"], dir.path(), b"");
    assert_eq!(outcome.code, Some(1));
    assert_eq!(outcome.stderr, "Error: Corrupt password file at line 2.\n");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        format!("{alice_line}broken\n")
    );

    // An empty username would give a line that no reader accepts.
    let outcome = run_in(&ours(), &["-c", "-b", "g", "", "p"], dir.path(), b"");
    assert_eq!(
        (outcome.code, outcome.stderr.as_str()),
        (Some(1), "Error: Username must not be empty.\n")
    );
    assert!(!dir.path().join("g").exists());
}

/// `mosquitto_pub` logging in to `broker` as `user`: its exit code and stderr.
fn login(broker: &Mosquitto, user: &str, password: &str) -> (Option<i32>, String) {
    let port = broker.port().to_string();
    let dir = TempDir::new("passwd-login");
    let outcome = run_in(
        &tool("mosquitto_pub"),
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            user,
            "-P",
            password,
            "-t",
            "passwd/test",
            "-m",
            "x",
            "-q",
            "1",
        ],
        dir.path(),
        b"",
    );
    (outcome.code, outcome.stderr)
}

fn assert_login(broker: &Mosquitto, user: &str, password: &str) {
    let (code, stderr) = login(broker, user, password);
    assert_eq!(
        code,
        Some(0),
        "{user} with the right password was refused: {stderr}"
    );
}

fn assert_refused(broker: &Mosquitto, user: &str, password: &str) {
    let (code, stderr) = login(broker, user, password);
    assert_eq!(code, Some(5), "{user}/{password} was not refused: {stderr}");
    assert!(stderr.contains("not authorised"), "{stderr}");
}

fn ours_ok(args: &[&str], dir: &Path, input: &[u8]) {
    let outcome = run_in(&ours(), args, dir, input);
    assert_eq!(outcome.code, Some(0), "mqtt-passwd {args:?}: {outcome:?}");
}

#[test]
fn files_written_by_mqtt_passwd_log_in_to_mosquitto() {
    let dir = TempDir::new("passwd-login-file");
    std::fs::write(dir.path().join("pw"), "plain1:pw1\nplain2:  pw two \n").unwrap();
    ours_ok(&["-U", "pw"], dir.path(), b"");
    ours_ok(&["-b", "pw", "pbkdf2", "p1"], dir.path(), b"");
    ours_ok(&["-b", "-H", "sha512", "pw", "sha", "p2"], dir.path(), b"");
    ours_ok(&["-b", "-I", "1000", "pw", "iter", "p3"], dir.path(), b"");
    ours_ok(
        &["-b", "-H", "sha512-pbkdf2", "-I", "7", "pw", "seven", "p4"],
        dir.path(),
        b"",
    );
    ours_ok(&["pw", "typed"], dir.path(), b"p5\np5\n");
    ours_ok(&["-b", "pw", "gone", "p6"], dir.path(), b"");
    ours_ok(&["-D", "pw", "gone"], dir.path(), b"");
    ours_ok(&["-b", "pw", "changed", "old"], dir.path(), b"");
    ours_ok(&["-b", "pw", "changed", "new"], dir.path(), b"");
    let path = std::fs::canonicalize(dir.path().join("pw")).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        shape(&text),
        "plain1:$7$101$<salt>$<hash>\nplain2:$7$101$<salt>$<hash>\npbkdf2:$7$101$<salt>$<hash>\n\
         sha:$6$<salt>$<hash>\niter:$7$1000$<salt>$<hash>\nseven:$7$7$<salt>$<hash>\n\
         typed:$7$101$<salt>$<hash>\nchanged:$7$101$<salt>$<hash>\n"
    );

    let broker = Mosquitto::with_config(|_, _| {
        format!("allow_anonymous false\npassword_file {}\n", path.display())
    });
    for (user, password) in [
        ("plain1", "pw1"),
        ("plain2", "pw two"),
        ("pbkdf2", "p1"),
        ("sha", "p2"),
        ("iter", "p3"),
        ("seven", "p4"),
        ("typed", "p5"),
        ("changed", "new"),
    ] {
        assert_login(&broker, user, password);
        assert_refused(&broker, user, &format!("{password}x"));
    }
    assert_refused(&broker, "gone", "p6");
    assert_refused(&broker, "changed", "old");
    assert_refused(&broker, "nobody", "p1");
    // Anonymous clients are refused too, so the logins above really were checked.
    let port = broker.port().to_string();
    let anonymous = run_in(
        &tool("mosquitto_pub"),
        &["-h", "127.0.0.1", "-p", &port, "-t", "t", "-m", "x"],
        dir.path(),
        b"",
    );
    assert_eq!(anonymous.code, Some(5), "{anonymous:?}");
}

#[test]
fn files_written_by_mosquitto_passwd_verify_with_our_code() {
    let dir = TempDir::new("passwd-verify");
    let mosquitto_passwd = tool("mosquitto_passwd");
    let steps: &[(&[&str], &[u8])] = &[
        (&["-c", "-b", "pw", "pbkdf2", "p1"], b""),
        (&["-b", "-H", "sha512", "pw", "sha", "p2"], b""),
        (&["-b", "-I", "1000", "pw", "iter", "p3"], b""),
        (&["pw", "typed"], b"p4\np4\n"),
        (&["-b", "pw", "unicode", "pässwörd ✓"], b""),
    ];
    for (args, input) in steps {
        let outcome = run_in(&mosquitto_passwd, args, dir.path(), input);
        assert_eq!(
            outcome.code,
            Some(0),
            "mosquitto_passwd {args:?}: {outcome:?}"
        );
    }
    std::fs::write(dir.path().join("plain"), "u1:first\nu2: second one \n").unwrap();
    let outcome = run_in(&mosquitto_passwd, &["-U", "plain"], dir.path(), b"");
    assert_eq!(outcome.code, Some(0), "{outcome:?}");

    let file = PasswordFile::load(dir.path().join("pw")).unwrap();
    assert_eq!(file.len(), 5);
    for (user, password) in [
        ("pbkdf2", "p1"),
        ("sha", "p2"),
        ("iter", "p3"),
        ("typed", "p4"),
        ("unicode", "pässwörd ✓"),
    ] {
        assert!(file.verify(user, password.as_bytes()), "{user}");
        assert!(
            !file.verify(user, format!("{password} ").as_bytes()),
            "{user}"
        );
        assert!(!file.verify(user, b""), "{user}");
    }
    assert!(!file.verify("nobody", b"p1"));
    assert!(file.to_string() == std::fs::read_to_string(dir.path().join("pw")).unwrap());

    let plain = PasswordFile::load(dir.path().join("plain")).unwrap();
    assert!(plain.verify("u1", b"first") && plain.verify("u2", b"second one"));
    assert!(!plain.verify("u1", b"second one"));

    // A bad line makes loading fail with the file and line.
    let bad = dir.path().join("bad");
    let mut text = std::fs::read_to_string(dir.path().join("pw")).unwrap();
    text.push_str("mallory:hunter2\n");
    std::fs::write(&bad, text).unwrap();
    let error = PasswordFile::load(&bad).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}:6: user \"mallory\"", bad.display())),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn a_user_listed_twice_is_checked_like_mosquitto() {
    // Mosquitto uses the last of two lines for the same user; so does PasswordFile::verify.
    let first = String::from_utf8(mosquitto_file(&[("dup", "first", &[])])).unwrap();
    let second =
        String::from_utf8(mosquitto_file(&[("dup", "second", &["-H", "sha512"])])).unwrap();
    let dir = TempDir::new("passwd-dup");
    let path = dir.path().join("pw");
    std::fs::write(&path, format!("{first}{second}")).unwrap();
    let file = PasswordFile::load(&path).unwrap();
    assert!(file.verify("dup", b"second") && !file.verify("dup", b"first"));
    let path = std::fs::canonicalize(&path).unwrap();
    let broker = Mosquitto::with_config(|_, _| {
        format!("allow_anonymous false\npassword_file {}\n", path.display())
    });
    assert_login(&broker, "dup", "second");
    assert_refused(&broker, "dup", "first");
}

#[cfg(unix)]
#[test]
fn writes_are_atomic_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new("passwd-atomic");
    let path = dir.path().join("pw");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    ours_ok(&["-c", "-b", "pw", "alice", "a"], dir.path(), b"");
    assert_eq!(mode(&path), 0o600);
    ours_ok(&["-b", "pw", "bob", "b"], dir.path(), b"");
    assert_eq!(mode(&path), 0o600);
    // An administrator's choice of mode survives an update (as with an in-place edit).
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    ours_ok(&["-b", "pw", "carol", "c"], dir.path(), b"");
    assert_eq!(mode(&path), 0o640);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Writing fails part-way: a file size limit of 0 blocks makes every write fail (EFBIG,
    // SIGXFSZ ignored) or kills the process (SIGXFSZ default). Either way the original stays.
    let before = std::fs::read(&path).unwrap();
    let sh = |script: &str| {
        run_in(
            Path::new("/bin/sh"),
            &["-c", script, "sh", ours().to_str().unwrap()],
            dir.path(),
            b"",
        )
    };
    let outcome = sh("trap '' XFSZ; ulimit -f 0; exec \"$1\" -b pw dave d");
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert!(
        outcome
            .stderr
            .starts_with("Error occurred updating password file ")
            && outcome.stderr.contains("File too large"),
        "{outcome:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let outcome = sh("trap '' XFSZ; ulimit -f 0; exec \"$1\" -c -b pw eve e");
    assert_eq!(outcome.code, Some(1), "{outcome:?}");
    assert!(
        outcome.stderr.contains("for writing. File too large."),
        "{outcome:?}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let names = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(), ["pw"], "a temporary file was left behind");

    let outcome = sh("ulimit -f 0; exec \"$1\" -D pw alice");
    assert_eq!(outcome.code, None, "not killed by SIGXFSZ: {outcome:?}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let file = PasswordFile::load(&path).unwrap();
    assert!(file.verify("alice", b"a") && file.verify("bob", b"b") && file.verify("carol", b"c"));
}
