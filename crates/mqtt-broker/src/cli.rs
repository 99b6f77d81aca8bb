//! The `mqtt-broker` command line (Mosquitto's options), defined once with clap: the binary
//! parses it, and the man page and shell completions are generated from [`command`].

use std::path::PathBuf;

use clap::{CommandFactory, Parser};

/// An MQTT v5.0/v3.1.1/v3.1 broker, compatible with Mosquitto's configuration files.
#[derive(Debug, Parser)]
#[command(name = "mqtt-broker", version, disable_help_flag = true)]
pub struct Args {
    /// Configuration file (mosquitto.conf syntax, or TOML when it ends in .toml).
    #[arg(short = 'c', long = "config-file", value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Put the broker into the background after starting (not supported: use systemd).
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Listen on this port (loopback only). Ignored if the configuration defines a listener.
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub port: Option<u16>,
    /// Verbose mode: enable all logging types, overriding the configuration.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Check the configuration, report the result and exit (0 valid, 1 invalid).
    #[arg(long = "test-config")]
    pub test_config: bool,
    /// Display this help.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// The clap command of `mqtt-broker`, as `--help` renders it.
pub fn command() -> clap::Command {
    Args::command()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mosquitto_options_parse() {
        let args =
            Args::try_parse_from(["mqtt-broker", "-c", "/etc/m.conf", "-v", "-p", "1884"]).unwrap();
        assert_eq!(args.config_file, Some(PathBuf::from("/etc/m.conf")));
        assert!(args.verbose);
        assert_eq!(args.port, Some(1884));
        command().debug_assert();
    }
}
