//! `mqtt-broker`: the broker binary, with Mosquitto's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mqtt_broker::config::{Config, Loaded};
use mqtt_broker::server::Broker;
use tracing::{error, info, warn};

/// An MQTT v5.0/v3.1.1/v3.1 broker, compatible with Mosquitto's configuration files.
#[derive(Debug, Parser)]
#[command(name = "mqtt-broker", version, disable_help_flag = true)]
struct Args {
    /// Configuration file (mosquitto.conf syntax, or TOML when it ends in .toml).
    #[arg(short = 'c', long = "config-file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Put the broker into the background after starting (not supported: use systemd).
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// Listen on this port (loopback only). Ignored if the configuration defines a listener.
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    port: Option<u16>,
    /// Verbose mode: enable all logging types, overriding the configuration.
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Check the configuration, report the result and exit (0 valid, 1 invalid).
    #[arg(long = "test-config")]
    test_config: bool,
    /// Display this help.
    #[arg(short = 'h', long = "help", action = clap::ArgAction::Help)]
    help: Option<bool>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let loaded = match &args.config_file {
        Some(path) => Config::load(path),
        None => Ok(Loaded {
            config: Config::local_only(args.port),
            warnings: Vec::new(),
        }),
    };
    let Loaded {
        mut config,
        warnings,
    } = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if args.config_file.is_some() && config.listeners.is_empty() {
        // Mosquitto 2: without a listener in the file, local-only on -p's port or 1883.
        config.listeners = Config::local_only(args.port).listeners;
    }
    if args.test_config {
        for w in &warnings {
            eprintln!("{w}");
        }
        println!("Configuration is valid.");
        return ExitCode::SUCCESS;
    }
    let sinks = mqtt_broker::log::init(&config, args.verbose);
    info!("mqtt-broker version {} starting", env!("CARGO_PKG_VERSION"));
    match &args.config_file {
        Some(path) => info!("Config loaded from {}.", path.display()),
        None => {
            info!("Using default config.");
            info!("Starting in local only mode. Connections will only be possible from clients running on this machine.");
            info!("Create a configuration file which defines a listener to allow remote access.");
            info!(
                "For more details see https://mosquitto.org/documentation/authentication-methods/"
            );
        }
    }
    for w in &warnings {
        warn!("{w}");
    }
    if args.daemon {
        warn!("Warning: -d is not supported; run the broker under systemd instead.");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("Error: unable to start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Signal handlers first: a SIGHUP that arrives while listeners open must not kill us.
        #[cfg(unix)]
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let termination = Termination::install();
        let broker = match Broker::bind(config).await {
            Ok(b) => b,
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        let shutdown = broker.shutdown_handle();
        #[cfg(unix)]
        if let Some(mut hup) = hangup {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    // Mosquitto reopens its log file on SIGHUP (logrotate) and reloads the
                    // security files; the latter arrives with password and ACL support.
                    sinks.reopen();
                    info!("Reloading config.");
                }
            });
        }
        tokio::spawn(async move {
            termination.wait().await;
            info!(
                "mqtt-broker version {} terminating",
                env!("CARGO_PKG_VERSION")
            );
            let _ = shutdown.send(true);
        });
        broker.run().await;
        ExitCode::SUCCESS
    })
}

/// SIGINT or SIGTERM, registered before anything else can fail or take time.
struct Termination {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Termination {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => None,
            };
            Termination { signals }
        }
        #[cfg(not(unix))]
        Termination {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
