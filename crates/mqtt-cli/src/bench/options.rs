//! `mqtt-bench`'s command line (clap) and the plan it resolves to.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Parser, ValueEnum};
use mqtt_codec::{ProtocolVersion, QoS, TopicFilter, TopicName};

use super::payload::HEADER_LEN;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Open `--clients` connections and hold them for `--duration` (or until Ctrl-C).
    Conn,
    /// `--clients` publishers on `--topic` (default `bench/%i`).
    Pub,
    /// `--clients` subscribers to `--topic` (default `bench/%i`); counts what arrives.
    Sub,
    /// `--clients` publishers on `bench/fan-in/%i`, one subscriber on `bench/fan-in/#`.
    FanIn,
    /// One publisher on `bench/fan-out`, `--clients` subscribers to it.
    FanOut,
    /// `--clients` pairs: publisher i and subscriber i on `bench/pairs/%i`.
    Pairs,
}

impl Mode {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Conn => "conn",
            Mode::Pub => "pub",
            Mode::Sub => "sub",
            Mode::FanIn => "fan-in",
            Mode::FanOut => "fan-out",
            Mode::Pairs => "pairs",
        }
    }

    /// `--clients` when not given.
    fn default_clients(self) -> usize {
        match self {
            Mode::Conn => 100,
            Mode::Pub | Mode::Sub => 1,
            Mode::FanIn | Mode::FanOut | Mode::Pairs => 10,
        }
    }

    /// Whether this mode publishes.
    pub fn publishes(self) -> bool {
        !matches!(self, Mode::Conn | Mode::Sub)
    }
}

/// The command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mqtt-bench",
    disable_version_flag = true,
    disable_help_flag = true,
    about = "MQTT load generator: connections, publishers, subscribers and built-in scenarios, \
             with rates, latency percentiles, losses and duplicates.",
    after_help = "Topic patterns: %i is replaced by the client's number (from 0; the pair's \
                  number in `pairs`); in `sub` filters, %j by the filter's index (from 0, see \
                  --filters-per-client).\nExit status: 0 when the run completed (failures are in \
                  the report), 1 for bad options, 2 when no connection could be made."
)]
pub struct BenchArgs {
    /// The scenario to run.
    #[arg(value_enum)]
    pub mode: Mode,

    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,

    /// Broker host.
    #[arg(short = 'h', long, default_value = "localhost")]
    pub host: String,
    /// Broker port [default: 1883, 8883 with TLS].
    #[arg(short = 'p', long)]
    pub port: Option<u16>,
    /// User name.
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password.
    #[arg(short = 'P', long = "pw")]
    pub password: Option<String>,
    /// MQTT version: 31, 311 or 5 (also mqttv31, mqttv311, mqttv5).
    #[arg(short = 'V', long = "protocol-version", default_value = "311", value_parser = parse_version)]
    pub protocol_version: ProtocolVersion,
    /// Keep alive in seconds.
    #[arg(short = 'k', long, default_value_t = 60)]
    pub keepalive: u16,
    /// Client id prefix; ids are `<prefix>-<pid>-<role><n>`.
    #[arg(short = 'I', long = "id-prefix", default_value = "mqtt-bench")]
    pub id_prefix: String,

    /// CA certificates (PEM) to trust: turns TLS on.
    #[arg(long)]
    pub cafile: Option<PathBuf>,
    /// TLS with the operating system's CA certificates.
    #[arg(long)]
    pub tls: bool,
    /// Client certificate (PEM), with --key.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM), with --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// Do not check that the server certificate's name matches the host.
    #[arg(long)]
    pub insecure: bool,

    /// Number of clients: connections (conn), publishers (pub, fan-in), subscribers (sub,
    /// fan-out) or pairs (pairs) [default: 100 conn, 1 pub/sub, 10 scenarios].
    #[arg(short = 'c', long)]
    pub clients: Option<usize>,
    /// New connections per second, 0 for as fast as possible.
    #[arg(long = "connect-rate", default_value_t = 0.0)]
    pub connect_rate: f64,
    /// Local source addresses to spread connections over: a range `127.0.0.1-127.0.0.8`, a
    /// comma-separated list, or a count N for 127.0.0.1 .. 127.0.0.N.
    #[arg(long = "source-addresses")]
    pub source_addresses: Option<String>,
    /// Seconds to wait for a connection (TCP, TLS and CONNACK).
    #[arg(long = "connect-timeout", default_value_t = 30.0)]
    pub connect_timeout: f64,

    /// QoS of publications and subscriptions.
    #[arg(short = 'q', long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload size in bytes (at least 24: sequence number, send time, publisher, run tag).
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    /// Messages per second per publisher, 0 for as fast as the in-flight window allows.
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Messages in flight per publisher (unacknowledged QoS 1/2, or not yet written for QoS 0).
    #[arg(long, default_value_t = 20)]
    pub inflight: u16,
    /// Topic pattern publishers publish on (the subscription filter in `sub` mode, where it may
    /// be given several times: filter j of a subscriber uses pattern j mod the number given).
    #[arg(short = 't', long, action = ArgAction::Append)]
    pub topic: Vec<String>,
    /// Topic filter pattern of the scenarios' subscribers [default: derived from --topic].
    #[arg(long)]
    pub filter: Option<String>,
    /// `sub` mode: topic filters per subscriber (%j in -t is the filter's index), sent in
    /// SUBSCRIBE packets of at most 1000 filters [default: 1].
    #[arg(long = "filters-per-client")]
    pub filters_per_client: Option<usize>,

    /// Subscribers keep a persistent session (Clean Session 0; in 5.0 Clean Start 0 and a
    /// Session Expiry Interval of 300 s), so that a broker with persistence stores every
    /// message it queues for them. Each run uses new client ids: the sessions are new.
    #[arg(long = "persistent-subscribers")]
    pub persistent_subscribers: bool,

    /// Seconds to run (after every client is connected) [default: until --count or Ctrl-C].
    #[arg(long)]
    pub duration: Option<f64>,
    /// Messages per publisher (in `sub` mode: messages per subscriber) before stopping.
    #[arg(short = 'n', long)]
    pub count: Option<u64>,
    /// After publishing ends, seconds without a new message before giving up on the rest.
    #[arg(long, default_value_t = 2.0)]
    pub drain: f64,

    /// Print the final report as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress display.
    #[arg(long)]
    pub quiet: bool,
}

fn parse_version(s: &str) -> Result<ProtocolVersion, String> {
    match s {
        "31" | "mqttv31" => Ok(ProtocolVersion::V3_1),
        "311" | "mqttv311" => Ok(ProtocolVersion::V3_1_1),
        "5" | "mqttv5" => Ok(ProtocolVersion::V5),
        _ => Err("expected 31, 311 or 5".to_owned()),
    }
}

/// The role of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Holds a connection.
    Idle,
    /// Publishes on `topic` as publisher `id`, to `fanout` subscribers of this run.
    Publisher {
        /// Publisher number (carried in the payload).
        id: u32,
        /// Topic.
        topic: TopicName,
        /// Subscribers of this run that receive its messages, if known.
        fanout: Option<u64>,
    },
    /// Subscribes to `filters` as subscriber `id`.
    Subscriber {
        /// Subscriber number.
        id: u32,
        /// Topic filters.
        filters: Filters,
        /// For `pairs`: the publisher whose messages it gets.
        pair: Option<u32>,
    },
}

/// Topic filters per subscriber at most (1000 SUBSCRIBE packets of 1000 filters).
pub const MAX_FILTERS_PER_CLIENT: usize = 1_000_000;

/// The topic filters of one subscriber, made when they are subscribed (a million filters are
/// not held in memory up front): filter `j` is pattern `j mod k` of the `k` patterns, with `%i`
/// replaced by the client's number and `%j` by `j`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    patterns: Arc<[String]>,
    client: usize,
    count: usize,
}

impl Filters {
    /// `count` filters of client `client` from `patterns` (at least one).
    pub fn new(patterns: Arc<[String]>, client: usize, count: usize) -> Self {
        Filters {
            patterns,
            client,
            count,
        }
    }

    /// One filter from `pattern`, for client `client`.
    pub fn single(pattern: &str, client: usize) -> Self {
        Filters::new(Arc::from([pattern.to_owned()]), client, 1)
    }

    /// How many filters.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0 || self.patterns.is_empty()
    }

    /// Filter `j` (`j < len()`).
    pub fn get(&self, j: usize) -> Result<TopicFilter, String> {
        let k = self.patterns.len().max(1);
        let pattern = self
            .patterns
            .get(j % k)
            .ok_or_else(|| "no topic filter pattern".to_owned())?;
        filter_of(pattern, self.client, j)
    }
}

/// Everything the run needs, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The mode.
    pub mode: Mode,
    /// `--clients` as resolved.
    pub clients: usize,
    /// Every client, subscribers first (they connect and subscribe before publishing starts).
    pub roles: Vec<Role>,
    /// QoS.
    pub qos: QoS,
    /// Payload size.
    pub size: usize,
    /// Messages per second per publisher (0: unlimited).
    pub rate: f64,
    /// In-flight window per publisher.
    pub inflight: u16,
    /// Connections per second (0: unlimited).
    pub connect_rate: f64,
    /// Local addresses to cycle through (empty: the system chooses).
    pub source_addresses: Vec<Ipv4Addr>,
    /// Run time after connecting.
    pub duration: Option<Duration>,
    /// Messages per publisher (per subscriber in `sub`).
    pub count: Option<u64>,
    /// Idle time that ends the drain.
    pub drain: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Topic filters per subscriber in `sub` mode (1 elsewhere).
    pub filters_per_client: usize,
    /// Subscribers connect with a persistent session.
    pub persistent_subscribers: bool,
}

impl Plan {
    /// Topic filters the subscribers of the plan subscribe to, in all.
    pub fn subscriptions(&self) -> u64 {
        self.roles
            .iter()
            .map(|r| match r {
                Role::Subscriber { filters, .. } => filters.len() as u64,
                _ => 0,
            })
            .sum()
    }

    /// One more than the highest publisher number (the publishers' slots in the payloads).
    pub fn publisher_slots(&self) -> usize {
        self.roles
            .iter()
            .filter_map(|r| match r {
                Role::Publisher { id, .. } => Some(*id as usize + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

/// Substitutes `%i` with `i`.
pub fn expand(pattern: &str, i: usize) -> String {
    pattern.replace("%i", &i.to_string())
}

fn topic(pattern: &str, i: usize) -> Result<TopicName, String> {
    let t = expand(pattern, i);
    TopicName::new(t.clone()).map_err(|e| format!("invalid topic \"{t}\": {e}"))
}

/// Substitutes `%i` with `i` and `%j` with `j`.
pub fn expand_filter(pattern: &str, i: usize, j: usize) -> String {
    expand(pattern, i).replace("%j", &j.to_string())
}

fn filter_of(pattern: &str, i: usize, j: usize) -> Result<TopicFilter, String> {
    let t = expand_filter(pattern, i, j);
    TopicFilter::new(t.clone()).map_err(|e| format!("invalid topic filter \"{t}\": {e}"))
}

/// The one filter of client `i` from `pattern`, checked.
fn filter(pattern: &str, i: usize) -> Result<Filters, String> {
    filter_of(pattern, i, 0)?;
    Ok(Filters::single(pattern, i))
}

/// Parses `--source-addresses`.
pub fn parse_source_addresses(s: &str) -> Result<Vec<Ipv4Addr>, String> {
    let bad = || {
        format!(
            "invalid --source-addresses \"{s}\": expected a count, A.B.C.D-A.B.C.E or a \
             comma-separated list of IPv4 addresses"
        )
    };
    if let Ok(n) = s.parse::<u8>() {
        if n == 0 {
            return Err(bad());
        }
        return Ok((1..=n).map(|d| Ipv4Addr::new(127, 0, 0, d)).collect());
    }
    if let Some((a, b)) = s.split_once('-') {
        let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
        let b: Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
        let (a, b) = (u32::from(a), u32::from(b));
        if b < a || b - a >= 65_536 {
            return Err(bad());
        }
        return Ok((a..=b).map(Ipv4Addr::from).collect());
    }
    s.split(',')
        .map(|a| a.trim().parse::<Ipv4Addr>().map_err(|_| bad()))
        .collect()
}

fn seconds(value: f64, name: &str) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 {
        Duration::try_from_secs_f64(value).map_err(|e| format!("invalid {name}: {e}"))
    } else {
        Err(format!("{name} must be a positive number of seconds"))
    }
}

fn rate(value: f64, name: &str) -> Result<f64, String> {
    // The interval between two events is 1/rate: it must be a representable, non-zero duration.
    let usable = value == 0.0
        || (value.is_finite()
            && value > 0.0
            && Duration::try_from_secs_f64(1.0 / value).is_ok_and(|d| !d.is_zero()));
    if usable {
        Ok(value)
    } else {
        Err(format!(
            "{name} must be 0 (no limit) or a number of events per second between 1e-9 and 1e9"
        ))
    }
}

impl BenchArgs {
    /// Checks the options and lays out the clients.
    pub fn plan(&self) -> Result<Plan, String> {
        let mode = self.mode;
        let clients = self.clients.unwrap_or(mode.default_clients());
        if clients == 0 {
            return Err("--clients must be at least 1".to_owned());
        }
        if u32::try_from(clients).is_err() || clients > 10_000_000 {
            return Err("--clients is too large".to_owned());
        }
        if mode.publishes() && self.size < HEADER_LEN {
            return Err(format!(
                "--size must be at least {HEADER_LEN} (sequence number, send time, publisher, run tag)"
            ));
        }
        if self.size > 256 * 1024 * 1024 {
            return Err("--size must be at most 268435456".to_owned());
        }
        if self.inflight == 0 {
            return Err("--inflight must be at least 1".to_owned());
        }
        if self.count == Some(0) {
            return Err("--count must be at least 1".to_owned());
        }
        let duration = self
            .duration
            .map(|d| seconds(d, "--duration"))
            .transpose()?;
        let drain = if self.drain == 0.0 {
            Duration::ZERO
        } else {
            seconds(self.drain, "--drain")?
        };
        let connect_timeout = seconds(self.connect_timeout, "--connect-timeout")?;
        let source_addresses = self
            .source_addresses
            .as_deref()
            .map(parse_source_addresses)
            .transpose()?
            .unwrap_or_default();
        let qos = QoS::try_from(self.qos).map_err(|q| format!("invalid QoS {q}"))?;

        if self.topic.len() > 1 && mode != Mode::Sub {
            return Err(format!(
                "-t/--topic can be given several times only in sub mode, not in {}",
                mode.name()
            ));
        }
        if self.filters_per_client.is_some() && mode != Mode::Sub {
            return Err(format!(
                "--filters-per-client is only for sub mode, not {}",
                mode.name()
            ));
        }
        let filters_per_client = self.filters_per_client.unwrap_or(1);
        if filters_per_client == 0 {
            return Err("--filters-per-client must be at least 1".to_owned());
        }
        if filters_per_client > MAX_FILTERS_PER_CLIENT {
            return Err(format!(
                "--filters-per-client must be at most {MAX_FILTERS_PER_CLIENT}"
            ));
        }

        let mut roles = Vec::new();
        let topic_pattern = |default: &str| {
            self.topic
                .first()
                .cloned()
                .unwrap_or_else(|| default.into())
        };
        match mode {
            Mode::Conn => roles.extend((0..clients).map(|_| Role::Idle)),
            Mode::Pub => {
                let t = topic_pattern("bench/%i");
                for i in 0..clients {
                    roles.push(publisher(i, topic(&t, i)?, None));
                }
            }
            Mode::Sub => {
                let patterns: Arc<[String]> = if !self.topic.is_empty() {
                    self.topic.clone().into()
                } else if filters_per_client > 1 {
                    Arc::from(["bench/%i/%j".to_owned()])
                } else {
                    Arc::from(["bench/%i".to_owned()])
                };
                if filters_per_client > patterns.len() {
                    if let Some(p) = patterns.iter().find(|p| !p.contains("%j")) {
                        return Err(format!(
                            "with --filters-per-client {filters_per_client}, every -t pattern \
                             needs %j (the filter's index), or its filters would repeat: \"{p}\""
                        ));
                    }
                }
                // Every pattern, with the smallest and the largest numbers.
                for p in patterns.iter() {
                    filter_of(p, 0, 0)?;
                    filter_of(p, clients - 1, filters_per_client - 1)?;
                }
                for i in 0..clients {
                    roles.push(Role::Subscriber {
                        id: i as u32,
                        filters: Filters::new(Arc::clone(&patterns), i, filters_per_client),
                        pair: None,
                    });
                }
            }
            Mode::FanIn => {
                let t = topic_pattern("bench/fan-in/%i");
                let f = match &self.filter {
                    Some(f) => f.clone(),
                    None if !self.topic.is_empty() => {
                        return Err("fan-in with --topic needs --filter for the subscriber".into())
                    }
                    None => "bench/fan-in/#".to_owned(),
                };
                roles.push(subscriber(0, filter(&f, 0)?, None));
                for i in 0..clients {
                    roles.push(publisher(i, topic(&t, i)?, Some(1)));
                }
            }
            Mode::FanOut => {
                let t = topic_pattern("bench/fan-out");
                let f = self.filter.clone().unwrap_or_else(|| expand(&t, 0));
                for i in 0..clients {
                    roles.push(subscriber(i, filter(&f, i)?, None));
                }
                roles.push(publisher(0, topic(&t, 0)?, Some(clients as u64)));
            }
            Mode::Pairs => {
                let t = topic_pattern("bench/pairs/%i");
                let f = self.filter.clone().unwrap_or_else(|| t.clone());
                if !t.contains("%i") || !f.contains("%i") {
                    return Err("pairs needs %i in --topic and --filter".to_owned());
                }
                for i in 0..clients {
                    roles.push(subscriber(i, filter(&f, i)?, Some(i as u32)));
                }
                for i in 0..clients {
                    roles.push(publisher(i, topic(&t, i)?, Some(1)));
                }
            }
        }
        Ok(Plan {
            mode,
            clients,
            roles,
            qos,
            size: self.size.max(HEADER_LEN),
            rate: rate(self.rate, "--rate")?,
            inflight: self.inflight,
            connect_rate: rate(self.connect_rate, "--connect-rate")?,
            source_addresses,
            duration,
            count: self.count,
            drain,
            connect_timeout,
            filters_per_client,
            persistent_subscribers: self.persistent_subscribers,
        })
    }
}

fn publisher(i: usize, topic: TopicName, fanout: Option<u64>) -> Role {
    Role::Publisher {
        id: i as u32,
        topic,
        fanout,
    }
}

fn subscriber(i: usize, filters: Filters, pair: Option<u32>) -> Role {
    Role::Subscriber {
        id: i as u32,
        filters,
        pair,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &[&str]) -> Result<BenchArgs, clap::Error> {
        BenchArgs::try_parse_from(std::iter::once("mqtt-bench").chain(line.iter().copied()))
    }

    #[test]
    fn source_addresses() {
        assert_eq!(
            parse_source_addresses("3").unwrap(),
            vec![
                Ipv4Addr::new(127, 0, 0, 1),
                Ipv4Addr::new(127, 0, 0, 2),
                Ipv4Addr::new(127, 0, 0, 3)
            ]
        );
        assert_eq!(
            parse_source_addresses("127.0.0.1-127.0.0.8").unwrap().len(),
            8
        );
        assert_eq!(
            parse_source_addresses("10.0.0.1, 10.0.0.9").unwrap(),
            vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 9)]
        );
        assert!(parse_source_addresses("0").is_err());
        assert!(parse_source_addresses("127.0.0.8-127.0.0.1").is_err());
        assert!(parse_source_addresses("localhost").is_err());
    }

    #[test]
    fn scenarios_lay_out_clients() {
        let p = args(&["fan-out", "-c", "3"]).unwrap().plan().unwrap();
        assert_eq!(p.roles.len(), 4);
        assert!(matches!(
            &p.roles[3],
            Role::Publisher {
                fanout: Some(3),
                ..
            }
        ));
        let p = args(&["pairs", "-c", "2"]).unwrap().plan().unwrap();
        assert_eq!(p.roles.len(), 4);
        match (&p.roles[1], &p.roles[3]) {
            (Role::Subscriber { filters, .. }, Role::Publisher { topic, .. }) => {
                assert_eq!(filters.len(), 1);
                assert_eq!(filters.get(0).unwrap().as_str(), "bench/pairs/1");
                assert_eq!(topic.as_str(), "bench/pairs/1");
            }
            other => panic!("{other:?}"),
        }
        let p = args(&["fan-in", "-c", "5"]).unwrap().plan().unwrap();
        assert_eq!(p.roles.len(), 6);
        assert_eq!(p.subscriptions(), 1);
        assert_eq!(p.publisher_slots(), 5);
    }

    #[test]
    fn filters_per_client_cycle_through_the_patterns() {
        let p = args(&[
            "sub",
            "-c",
            "3",
            "--filters-per-client",
            "2500",
            "-t",
            "n/%i/%j",
            "-t",
            "n/%i/+/%j",
        ])
        .unwrap()
        .plan()
        .unwrap();
        assert_eq!(p.filters_per_client, 2500);
        assert_eq!(p.subscriptions(), 7500);
        assert_eq!(p.publisher_slots(), 0);
        let Role::Subscriber { filters, .. } = &p.roles[2] else {
            panic!("{:?}", p.roles[2]);
        };
        assert_eq!(filters.len(), 2500);
        assert_eq!(filters.get(0).unwrap().as_str(), "n/2/0");
        assert_eq!(filters.get(1).unwrap().as_str(), "n/2/+/1");
        assert_eq!(filters.get(2499).unwrap().as_str(), "n/2/+/2499");
        // The default pattern has %j when there are several filters.
        let p = args(&["sub", "--filters-per-client", "3"])
            .unwrap()
            .plan()
            .unwrap();
        let Role::Subscriber { filters, .. } = &p.roles[0] else {
            panic!("{:?}", p.roles[0]);
        };
        assert_eq!(filters.get(2).unwrap().as_str(), "bench/0/2");
        // As many patterns as filters need no %j.
        let p = args(&["sub", "--filters-per-client", "2", "-t", "a", "-t", "b/#"])
            .unwrap()
            .plan()
            .unwrap();
        assert_eq!(p.subscriptions(), 2);
    }

    #[test]
    fn filters_per_client_is_for_sub_only() {
        for mode in ["conn", "pub", "fan-in", "fan-out", "pairs"] {
            let e = args(&[mode, "--filters-per-client", "2"])
                .unwrap()
                .plan()
                .unwrap_err();
            assert!(e.contains("only for sub mode"), "{mode}: {e}");
        }
        let e = args(&["pub", "-t", "a", "-t", "b"])
            .unwrap()
            .plan()
            .unwrap_err();
        assert!(e.contains("only in sub mode"), "{e}");
        for bad in [
            &["sub", "--filters-per-client", "0"][..],
            &["sub", "--filters-per-client", "2", "-t", "a/%i"],
            &["sub", "--filters-per-client", "3", "-t", "a/%j", "-t", "b"],
            &["sub", "--filters-per-client", "2000000", "-t", "a/%j"],
            &["sub", "--filters-per-client", "2", "-t", "a/%j#"],
        ] {
            assert!(args(bad).unwrap().plan().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn bad_options() {
        assert!(args(&["pub", "--size", "10"]).unwrap().plan().is_err());
        assert!(args(&["pub", "-t", "a/#"]).unwrap().plan().is_err());
        assert!(args(&["pub", "--duration", "0"]).unwrap().plan().is_err());
        assert!(args(&["pub", "-c", "0"]).unwrap().plan().is_err());
        assert!(args(&["pub", "--rate=-1"]).unwrap().plan().is_err());
        // Rates whose interval is zero or not representable (they used to panic).
        for rate in ["1e10", "1e-320", "inf", "NaN"] {
            assert!(
                args(&["pub", "--rate", rate]).unwrap().plan().is_err(),
                "{rate}"
            );
            assert!(
                args(&["conn", "--connect-rate", rate])
                    .unwrap()
                    .plan()
                    .is_err(),
                "{rate}"
            );
        }
        assert!(args(&["pub", "--rate", "0"]).unwrap().plan().is_ok());
        assert!(args(&["pub", "--rate", "1e9"]).unwrap().plan().is_ok());
        assert!(args(&["pub", "-q", "3"]).is_err());
        assert!(args(&["walk"]).is_err());
        assert!(args(&["pub", "-V", "4"]).is_err());
    }
}
