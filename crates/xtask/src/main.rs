//! `cargo run -p xtask -- dist-assets [DIR]`: writes the man pages and the bash, zsh and fish
//! completions of `mqtt-broker`, `mqtt-pub`, `mqtt-sub`, `mqtt-rr`, `mqtt-passwd` and
//! `mqtt-bench` into `DIR` (default `target/assets`), as `DIR/man/NAME.SECTION.gz`-ready
//! roff files and `DIR/completions/{bash,zsh,fish}/...`. The hand-written
//! `packaging/man/mqtt-broker.conf.5` is copied beside them. `scripts/package-deb.sh` runs it
//! before `cargo deb`, whose assets list these paths.
//!
//! The pages are rendered from the same clap definitions as `--help`: `mqtt_broker::cli` for the
//! broker, `mqtt_cli::args::command` for the three clients, `mqtt_cli::bench::options` for
//! `mqtt-bench`. `mqtt-passwd` parses its options by hand, as `mosquitto_passwd` does; its
//! command is described here, option for option with its usage text.
//!
//! `cargo run --release -p xtask -- bench-compare [OPTIONS]`: the side-by-side broker benchmark
//! (mqtt-broker, Mosquitto, rumqttd); see [`compare`] and `bench/compare.sh`.
//!
//! `cargo run --release -p xtask -- bench-persistence [OPTIONS]`: the persistence benchmark
//! (throughput with and without persistence, restart time); see [`persistence`] and
//! `bench/persistence.sh`.

mod compare;
mod persistence;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command, CommandFactory};
use clap_complete::Shell;
use mqtt_cli::args::Tool;

/// `mqtt-passwd`, as its usage text describes it.
fn passwd_command() -> Command {
    Command::new("mqtt-passwd")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Manage Mosquitto password files (a drop-in replacement for mosquitto_passwd)")
        .long_about(
            "mqtt-passwd creates and updates the password files read by mqtt-broker and \
             Mosquitto (password_file). Passwords are stored as salted PBKDF2-SHA512 hashes \
             ($7$), or salted SHA512 ($6$) with -H sha512. Without -b the password is asked \
             twice on the terminal (or read as two lines from standard input). Files are \
             replaced atomically and new files get mode 0600; when run as root an existing \
             file keeps its owner and mode, so a file given to the broker's user (chown \
             mqtt-broker:mqtt-broker) stays readable by the broker.",
        )
        .override_usage(
            "mqtt-passwd [-H sha512 | -H sha512-pbkdf2] [-c | -D] passwordfile username\n       \
             mqtt-passwd [-H sha512 | -H sha512-pbkdf2] [-c] -b passwordfile username password\n       \
             mqtt-passwd -U passwordfile",
        )
        .disable_help_flag(true)
        .disable_version_flag(true)
        .arg(
            Arg::new("batch")
                .short('b')
                .action(ArgAction::SetTrue)
                .help("Run in batch mode to allow passing passwords on the command line."),
        )
        .arg(
            Arg::new("create")
                .short('c')
                .action(ArgAction::SetTrue)
                .help("Create a new password file. This will overwrite existing files."),
        )
        .arg(
            Arg::new("delete")
                .short('D')
                .action(ArgAction::SetTrue)
                .help("Delete the username rather than adding/updating its password."),
        )
        .arg(
            Arg::new("hash")
                .short('H')
                .value_name("ALGORITHM")
                .value_parser(["sha512", "sha512-pbkdf2"])
                .help(
                    "Specify the hashing algorithm. Defaults to sha512-pbkdf2, which is \
                     recommended. Mosquitto 1.6 and earlier defaulted to sha512.",
                ),
        )
        .arg(
            Arg::new("update")
                .short('U')
                .action(ArgAction::SetTrue)
                .help("Update a plain text password file to use hashed passwords."),
        )
        .arg(
            Arg::new("passwordfile")
                .value_name("passwordfile")
                .value_hint(clap::ValueHint::FilePath)
                .help("The password file (for example /etc/mqtt-broker/passwd)."),
        )
        .arg(Arg::new("username").value_name("username").help("The user to add, update or delete."))
        .arg(
            Arg::new("password")
                .value_name("password")
                .help("The password, with -b only."),
        )
}

/// Every binary of the package: its command and man section.
fn commands() -> Vec<(Command, &'static str)> {
    vec![
        (mqtt_broker::cli::command(), "8"),
        (mqtt_cli::args::command(Tool::Pub), "1"),
        (mqtt_cli::args::command(Tool::Sub), "1"),
        (mqtt_cli::args::command(Tool::Rr), "1"),
        (passwd_command(), "1"),
        (
            mqtt_cli::bench::options::BenchArgs::command().version(env!("CARGO_PKG_VERSION")),
            "1",
        ),
    ]
}

/// The hand-written page of the configuration file, relative to the workspace.
const CONF_PAGE: &str = "packaging/man/mqtt-broker.conf.5";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Writes every page and completion script under `out`; returns the files written.
fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    let mut written = Vec::new();
    for (cmd, section) in commands() {
        let name = cmd.get_name().to_owned();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .section(section)
            .manual("mqtt-toolkit")
            .source(format!("mqtt-toolkit {}", env!("CARGO_PKG_VERSION")))
            .render(&mut page)?;
        let path = man.join(format!("{name}.{section}"));
        fs::write(&path, page)?;
        written.push(path);
        for (shell, dir, file) in [
            (Shell::Bash, "bash", name.clone()),
            (Shell::Zsh, "zsh", format!("_{name}")),
            (Shell::Fish, "fish", format!("{name}.fish")),
        ] {
            let dir = out.join("completions").join(dir);
            fs::create_dir_all(&dir)?;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.as_str(), &mut script);
            let path = dir.join(file);
            fs::write(&path, script)?;
            written.push(path);
        }
    }
    let conf = man.join("mqtt-broker.conf.5");
    fs::copy(workspace_root().join(CONF_PAGE), &conf)?;
    written.push(conf);
    Ok(written)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("bench-compare") {
        return compare::main(&workspace_root(), args.get(1..).unwrap_or_default());
    }
    if args.first().map(String::as_str) == Some("bench-persistence") {
        return persistence::main(&workspace_root(), args.get(1..).unwrap_or_default());
    }
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["dist-assets"] | ["dist-assets", _] => {
            let out = args
                .get(1)
                .map_or_else(|| workspace_root().join("target/assets"), PathBuf::from);
            match generate(&out) {
                Ok(files) => {
                    for f in files {
                        println!("{}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("xtask: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!(
                "usage: cargo run -p xtask -- dist-assets [DIR]\n       \
                 cargo run --release -p xtask -- bench-compare [--help | OPTIONS]\n       \
                 cargo run --release -p xtask -- bench-persistence [--help | OPTIONS]"
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_valid_and_named_like_its_binary() {
        let names: Vec<String> = commands()
            .into_iter()
            .map(|(cmd, _)| {
                cmd.clone().debug_assert();
                cmd.get_name().to_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "mqtt-broker",
                "mqtt-pub",
                "mqtt-sub",
                "mqtt-rr",
                "mqtt-passwd",
                "mqtt-bench"
            ]
        );
    }

    #[test]
    fn generates_pages_and_completions() {
        let out = std::env::temp_dir().join(format!("xtask-assets-{}", std::process::id()));
        let files = generate(&out).unwrap();
        assert_eq!(files.len(), 6 * 4 + 1);
        let page = fs::read_to_string(out.join("man/mqtt-pub.1")).unwrap();
        assert!(page.contains(".TH mqtt-pub 1"), "{page}");
        assert!(page.contains("topic"));
        let broker = fs::read_to_string(out.join("man/mqtt-broker.8")).unwrap();
        assert!(broker.contains("config\\-file"), "{broker}");
        let passwd = fs::read_to_string(out.join("completions/bash/mqtt-passwd")).unwrap();
        assert!(passwd.contains("sha512-pbkdf2"));
        assert!(out.join("completions/zsh/_mqtt-sub").exists());
        assert!(out.join("completions/fish/mqtt-bench.fish").exists());
        assert!(out.join("man/mqtt-broker.conf.5").exists());
        fs::remove_dir_all(&out).unwrap();
    }
}
