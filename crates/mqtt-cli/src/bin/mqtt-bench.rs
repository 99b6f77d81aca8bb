//! `mqtt-bench`: an MQTT load generator in the spirit of emqtt-bench.
//!
//! Modes `conn`, `pub` and `sub`, and scenarios `fan-in`, `fan-out` and `pairs` that publish and
//! receive in the same process, so that latency (HdrHistogram percentiles), losses and
//! duplicates are measured from sequence numbers and send times carried in the payloads. A
//! progress line is printed every second on stderr; the final report goes to stdout, as text
//! or, with `--json`, as one JSON object. See the README's "mqtt-bench" section.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::Parser;
use mqtt_cli::bench::limits::{self, FdLimit};
use mqtt_cli::bench::options::{BenchArgs, Plan};
use mqtt_cli::bench::report::Report;
use mqtt_cli::bench::scenario::{self, Shared};
use mqtt_cli::bench::{progress, stats::Counters};
use mqtt_client::{ClientOptions, TlsOptions};
use mqtt_codec::{MqttString, ProtocolVersion};
use tokio::sync::watch;

fn main() -> ExitCode {
    let args = match BenchArgs::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                _ => 1,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(message) => return usage_error(&message),
    };
    let template = match client_options(&args, &plan) {
        Ok(template) => template,
        Err(message) => return usage_error(&message),
    };
    let fd_limit = limits::raise_fd_limit();
    let notes = notes(&plan, fd_limit);
    if !args.quiet {
        for note in &notes {
            eprintln!("note: {note}");
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqtt-bench: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(args, plan, template, fd_limit, notes));
    // Tasks still waiting on dead connections must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(100));
    ExitCode::from(code)
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("mqtt-bench: error: {message}\n\nFor more information, try '--help'.");
    ExitCode::from(1)
}

async fn run(
    args: BenchArgs,
    plan: Plan,
    template: ClientOptions,
    fd_limit: FdLimit,
    notes: Vec<String>,
) -> u8 {
    let shared = Arc::new(Shared::new(plan.publisher_slots()));
    let (interrupt_tx, interrupt) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = interrupt_tx.send(true);
            // A second Ctrl-C ends at once.
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let (progress_stop_tx, progress_stop) = watch::channel(false);
    let progress = (!args.quiet).then(|| {
        tokio::spawn(progress::run(
            Arc::clone(&shared),
            plan.roles.len() as u64,
            (plan.filters_per_client > 1).then(|| plan.subscriptions()),
            shared.start,
            progress_stop,
        ))
    });
    let outcome = scenario::run(
        &plan,
        &template,
        &args.id_prefix,
        Arc::clone(&shared),
        interrupt,
    )
    .await;
    let _ = progress_stop_tx.send(true);
    if let Some(p) = progress {
        let _ = p.await;
    }
    let errors = shared
        .errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let port = match &template.transport {
        mqtt_client::Transport::Tcp { port, .. } => *port,
        mqtt_client::Transport::Unix(_) => 0,
    };
    let report = Report {
        plan: &plan,
        broker: format!("{}:{port}", args.host),
        protocol: match args.protocol_version {
            ProtocolVersion::V3_1 => "3.1",
            ProtocolVersion::V3_1_1 => "3.1.1",
            ProtocolVersion::V5 => "5",
        },
        outcome: &outcome,
        counters: &shared.counters,
        fd_limit,
        errors,
        notes,
    };
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    if outcome.connections > 0 && Counters::get(&shared.counters.connected) == 0 {
        2
    } else {
        0
    }
}

/// The connection settings shared by every client.
fn client_options(args: &BenchArgs, plan: &Plan) -> Result<ClientOptions, String> {
    let tls = args.cafile.is_some() || args.tls || args.cert.is_some();
    let port = args.port.unwrap_or(if tls { 8883 } else { 1883 });
    let mut o = ClientOptions::tcp(args.host.clone(), port).version(args.protocol_version);
    o.connect.keep_alive = args.keepalive;
    o.connect.clean_start = true;
    o.connect.username = args
        .username
        .as_deref()
        .map(MqttString::try_from)
        .transpose()
        .map_err(|e| format!("invalid user name: {e}"))?;
    o.connect.password = args
        .password
        .as_ref()
        .map(|p| bytes::Bytes::from(p.clone().into_bytes()));
    o.session.max_inflight = plan.inflight;
    o.connect_timeout = plan.connect_timeout;
    o.nodelay = true;
    if tls {
        let mut t = TlsOptions::new().with_insecure(args.insecure);
        if let Some(ca) = &args.cafile {
            t = t.with_ca_file(ca);
        }
        if args.tls || args.cafile.is_none() {
            t.use_os_certs = true;
        }
        if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
            t = t.with_client_certificate(cert, key);
        }
        // Load the files once, for every connection.
        let config = t.client_config().map_err(|e| e.to_string())?;
        o.tls = Some(TlsOptions::from_config(config));
    }
    Ok(o)
}

/// Warnings about limits the run will hit.
fn notes(plan: &Plan, fd_limit: FdLimit) -> Vec<String> {
    let mut notes = Vec::new();
    let connections = plan.roles.len() as u64;
    if fd_limit.limits(connections) {
        notes.push(format!(
            "{connections} connections need about {} open files but the limit is {} (hard limit \
             {}): at most about {} connections can be opened by this process",
            connections + limits::FD_MARGIN,
            fd_limit.soft.unwrap_or(0),
            fd_limit
                .hard
                .map_or_else(|| "unknown".to_owned(), |h| h.to_string()),
            fd_limit.max_connections().unwrap_or(0),
        ));
    }
    if let Some(ports) = limits::local_ports() {
        let addresses = plan.source_addresses.len().max(1) as u64;
        if connections.div_ceil(addresses) > ports {
            notes.push(format!(
                "{connections} connections over {addresses} source address(es) exceed the {ports} \
                 local ports of each: use --source-addresses with more addresses"
            ));
        }
    }
    notes
}
