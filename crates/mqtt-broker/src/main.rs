//! `mqtt-broker`: the broker binary, with Mosquitto's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mqtt_broker::cli::Args;
use mqtt_broker::config::{Config, ConfigError, Loaded, LogDest};
use mqtt_broker::log::target::INFORMATION;
use mqtt_broker::log::Logger;
use mqtt_broker::server::Broker;
use mqtt_broker::Hub;
use tracing::{error, info, warn};

/// See the `mimalloc` entry of Cargo.toml for why and what it measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Reads the configuration file (or takes Mosquitto's configuration without one). In both
/// cases, without a listener the broker is local only, on `-p`'s port if given.
fn load(args: &Args) -> Result<Loaded, ConfigError> {
    let mut loaded = match &args.config_file {
        Some(path) => Config::load(path)?,
        None => Loaded {
            config: Config::local_only(args.port),
            warnings: Vec::new(),
        },
    };
    if loaded.config.local_only {
        if let Some(port) = args.port {
            for l in &mut loaded.config.listeners {
                l.port = port;
            }
        }
    }
    Ok(loaded)
}

/// SIGHUP: reads the configuration file again and applies what Mosquitto applies on reload
/// (`Hub::reload`: security and limits for new connections; logging at once). An invalid file,
/// or one that adds or removes a listener, leaves the running configuration in force.
fn reload(args: &Args, hub: &Hub, logger: &Logger) {
    let Some(path) = &args.config_file else {
        // Nothing to read again: the defaults stay.
        return;
    };
    let outcome = load(args).map_err(|e| e.to_string()).and_then(|loaded| {
        for w in &loaded.warnings {
            warn!("{w}");
        }
        hub.reload(loaded.config).map_err(|e| e.to_string())
    });
    match outcome {
        Ok(not_applied) => {
            for line in not_applied {
                warn!("{line}");
            }
            info!(target: INFORMATION, "Config reloaded from {}.", path.display());
            logger.reconfigure(&hub.config());
        }
        Err(e) => {
            error!("{e}");
            error!("Error: Unable to reload the config, keeping the running configuration.");
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Loaded { config, warnings } = match load(&args) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if args.test_config {
        for w in &warnings {
            eprintln!("{w}");
        }
        println!("Configuration is valid.");
        return ExitCode::SUCCESS;
    }
    let logger = mqtt_broker::log::init(&config, args.verbose);
    info!(target: INFORMATION, "mqtt-broker version {} starting", env!("CARGO_PKG_VERSION"));
    match &args.config_file {
        Some(path) => info!(target: INFORMATION, "Config loaded from {}.", path.display()),
        None => {
            info!(target: INFORMATION, "Using default config.");
            info!(target: INFORMATION, "Starting in local only mode. Connections will only be possible from clients running on this machine.");
            info!(target: INFORMATION, "Create a configuration file which defines a listener to allow remote access.");
            info!(
                target: INFORMATION,
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
    // 0: one worker per core this process may run on (its CPU affinity and CPU quota). Always
    // given, so that tokio does not read TOKIO_WORKER_THREADS, which it panics on when invalid.
    let workers = match config.worker_threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
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
        // A write past the file-size limit (RLIMIT_FSIZE) must fail like a full disk, with
        // an error the store handles (refusing what needs storing, retrying), not kill us:
        // a handler of our own replaces SIGXFSZ's default action (tokio keeps it installed).
        #[cfg(unix)]
        let _ = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(
            nix::sys::signal::Signal::SIGXFSZ as i32,
        ));
        let termination = Termination::install();
        let user = config.user.clone();
        let log_files: Vec<PathBuf> = config
            .log
            .dest
            .iter()
            .filter_map(|d| match d {
                LogDest::File(path) => Some(path.clone()),
                _ => None,
            })
            .collect();
        let persistence = config.persistence.enabled;
        let store_path = config.persistence.path();
        let broker = match Broker::bind(config).await {
            Ok(b) => b,
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        // As Mosquitto: listeners, the log file and the store are open, now leave root (`user`).
        // The store was created as root: it goes to the service user too, so that the files
        // under persistence_location stay the user's (as Mosquitto's mosquitto.db is).
        let mut give: Vec<&std::path::Path> = log_files.iter().map(PathBuf::as_path).collect();
        let store_file = persistence.then_some(store_path.as_path());
        give.extend(store_file);
        match mqtt_broker::privileges::drop_privileges(&user, &give) {
            Ok(warnings) => {
                for w in warnings {
                    warn!("{w}");
                }
            }
            Err(e) => {
                error!("{e}");
                return ExitCode::FAILURE;
            }
        }
        let shutdown = broker.shutdown_handle();
        // log_dest topic: from now on log lines are published through the broker.
        logger.publish_to(broker.hub());
        #[cfg(unix)]
        if let Some(mut hup) = hangup {
            let hub = broker.hub();
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    // As Mosquitto: reopen the log file (logrotate), read the file again.
                    logger.reopen();
                    info!(target: INFORMATION, "Reloading config.");
                    reload(&args, &hub, &logger);
                }
            });
        }
        #[cfg(not(unix))]
        drop((args, logger));
        tokio::spawn(async move {
            termination.wait().await;
            info!(
                target: INFORMATION,
                "mqtt-broker version {} terminating",
                env!("CARGO_PKG_VERSION")
            );
            // Stored even while no receiver exists yet (`send` would drop it).
            shutdown.send_replace(true);
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
