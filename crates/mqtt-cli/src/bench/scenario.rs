//! Running a [`Plan`]: connecting the clients at the connect rate, publishing and receiving,
//! draining, disconnecting, and gathering the [`Outcome`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mqtt_client::{connect, Client, ClientOptions, Messages};
use mqtt_codec::{MqttString, QoS, SubscribeProperties, SubscriptionOptions, TopicName};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::options::{Filters, Mode, Plan, Role};
use super::payload::{self, Header};
use super::stats::{Accounting, Counters, Issued, LatencyBatch, LatencyShards, Tracker};

/// Connection attempts in progress at once at most (the broker's listen backlog is finite).
const CONCURRENT_CONNECTS: usize = 256;

/// Topic filters in one SUBSCRIBE packet at most.
pub const FILTERS_PER_SUBSCRIBE: usize = 1000;

/// SUBSCRIBE packets of one client waiting for their SUBACK at once at most.
const SUBSCRIBES_IN_FLIGHT: usize = 16;

/// State shared by every task of a run.
#[derive(Debug)]
pub struct Shared {
    /// Live counters.
    pub counters: Counters,
    /// The run's start: send times are nanoseconds since then.
    pub start: Instant,
    /// The run's tag in payloads.
    pub run: u32,
    /// Message latencies (µs).
    pub latency: LatencyShards,
    /// Connect latencies (µs).
    pub connect_latency: LatencyShards,
    /// Error messages and how often each happened.
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// Set once the run disconnects on purpose: closures after that are not losses.
    pub finishing: AtomicBool,
    /// The sequence numbers this run's publishers have handed out.
    pub issued: Issued,
    /// Nanoseconds since the start when the first SUBSCRIBE was sent (`u64::MAX`: none yet).
    pub first_subscribe_ns: AtomicU64,
    /// Nanoseconds since the start when the latest SUBACK arrived.
    pub last_suback_ns: AtomicU64,
}

impl Shared {
    /// Fresh state, starting now, for a run whose publishers are numbered `0..publishers`
    /// ([`Plan::publisher_slots`]).
    pub fn new(publishers: usize) -> Self {
        Shared {
            counters: Counters::default(),
            start: Instant::now(),
            run: fastrand::u32(..),
            latency: LatencyShards::new(16),
            connect_latency: LatencyShards::new(16),
            errors: Mutex::new(BTreeMap::new()),
            finishing: AtomicBool::new(false),
            issued: Issued::new(publishers),
            first_subscribe_ns: AtomicU64::new(u64::MAX),
            last_suback_ns: AtomicU64::new(0),
        }
    }

    /// Time from the first SUBSCRIBE to the latest SUBACK (zero when nothing was subscribed).
    pub fn subscribe_elapsed(&self) -> Duration {
        let first = self.first_subscribe_ns.load(Ordering::Relaxed);
        let last = self.last_suback_ns.load(Ordering::Relaxed);
        if first == u64::MAX {
            Duration::ZERO
        } else {
            Duration::from_nanos(last.saturating_sub(first))
        }
    }

    /// Nanoseconds since the start.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts an error message.
    pub fn error(&self, message: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        *errors.entry(message).or_insert(0) += 1;
    }
}

impl Default for Shared {
    fn default() -> Self {
        Shared::new(0)
    }
}

/// What a run found, for the report.
#[derive(Debug)]
pub struct Outcome {
    /// Connections asked for.
    pub connections: u64,
    /// Time from the first connection attempt to the last result.
    pub connect_elapsed: Duration,
    /// Publishers connected.
    pub publishers: u64,
    /// Subscribers connected and subscribed.
    pub subscribers: u64,
    /// Topic filters the plan subscribes to, in all.
    pub subscriptions_requested: u64,
    /// Time from the first SUBSCRIBE to the last SUBACK, over all clients.
    pub subscribe_elapsed: Duration,
    /// Time from the start of publishing to its end.
    pub publish_elapsed: Duration,
    /// Time from the start of publishing to the last message received.
    pub receive_elapsed: Duration,
    /// Losses and duplicates; `expected` is meaningful only when `expected_known`.
    pub accounting: Accounting,
    /// Whether the run knows what its subscribers should receive (the scenarios).
    pub expected_known: bool,
    /// Message latencies (µs).
    pub latency: Histogram<u64>,
    /// Connect latencies (µs).
    pub connect_latency: Histogram<u64>,
    /// Whether Ctrl-C cut the run short.
    pub interrupted: bool,
}

enum Ready {
    Idle(Client, Messages),
    Publisher {
        client: Client,
        id: u32,
        topic: TopicName,
        fanout: Option<u64>,
    },
    Subscriber {
        client: Client,
        messages: Messages,
        id: u32,
        pair: Option<u32>,
    },
}

async fn until_true(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|v| *v).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn interrupted(rx: &watch::Receiver<bool>) -> bool {
    *rx.borrow()
}

/// Runs the plan. `template` holds the connection settings shared by every client;
/// `id_prefix` starts every client id; `interrupt` becomes true on Ctrl-C.
pub async fn run(
    plan: &Plan,
    template: &ClientOptions,
    id_prefix: &str,
    shared: Arc<Shared>,
    mut interrupt: watch::Receiver<bool>,
) -> Outcome {
    let counters = &shared.counters;
    let qos = plan.qos;

    // 1. Connect (and subscribe) every client, at the connect rate.
    let connect_started = Instant::now();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Ready>();
    let slots = Arc::new(Semaphore::new(CONCURRENT_CONNECTS));
    let mut ticker = (plan.connect_rate > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.connect_rate));
        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
        t
    });
    let pid = std::process::id();
    for (i, role) in plan.roles.iter().enumerate() {
        if interrupted(&interrupt) {
            break;
        }
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                () = until_true(&mut interrupt) => break,
            }
        }
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = until_true(&mut interrupt) => break,
        };
        let mut options = template.clone();
        let tag = match role {
            Role::Idle => "c",
            Role::Publisher { .. } => "p",
            Role::Subscriber { .. } => "s",
        };
        let id = format!("{id_prefix}-{pid}-{tag}{i}");
        options.connect.client_id = match MqttString::try_from(id) {
            Ok(id) => id,
            Err(_) => MqttString::empty(),
        };
        if plan.persistent_subscribers && matches!(role, Role::Subscriber { .. }) {
            options.connect.clean_start = false;
            if options.connect.protocol.is_v5() {
                options.connect.properties.session_expiry_interval = Some(300);
            }
        }
        if !plan.source_addresses.is_empty() {
            let n = plan.source_addresses.len();
            options.bind_address = plan.source_addresses.get(i % n).map(|a| a.to_string());
        }
        let role = role.clone();
        let shared = Arc::clone(&shared);
        let ready_tx = ready_tx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let result = connect(options).await;
            drop(permit);
            let (client, messages) = match result {
                Ok((client, messages, _)) => (client, messages),
                Err(e) => {
                    Counters::add(&shared.counters.connect_failed, 1);
                    shared.error(format!("connect: {e}"));
                    return;
                }
            };
            let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            shared.connect_latency.record(i, &[micros]);
            Counters::add(&shared.counters.connected, 1);
            let ready = match role {
                Role::Idle => Ready::Idle(client, messages),
                Role::Publisher { id, topic, fanout } => Ready::Publisher {
                    client,
                    id,
                    topic,
                    fanout,
                },
                Role::Subscriber { id, filters, pair } => {
                    match subscribe_all(&client, &filters, qos, &shared).await {
                        Ok(granted) if granted > 0 => {}
                        // Every filter refused (counted as an error).
                        Ok(_) => return,
                        Err(e) => {
                            shared.error(e);
                            return;
                        }
                    }
                    Ready::Subscriber {
                        client,
                        messages,
                        id,
                        pair,
                    }
                }
            };
            watch_for_loss(&shared, &ready);
            let _ = ready_tx.send(ready);
        });
    }
    drop(ready_tx);
    let mut idle = Vec::new();
    let mut publishers = Vec::new();
    let mut subscribers = Vec::new();
    loop {
        let next = tokio::select! {
            next = ready_rx.recv() => next,
            () = until_true(&mut interrupt) => None,
        };
        match next {
            Some(Ready::Idle(c, m)) => idle.push((c, m)),
            Some(p @ Ready::Publisher { .. }) => publishers.push(p),
            Some(s @ Ready::Subscriber { .. }) => subscribers.push(s),
            None => break,
        }
    }
    let connect_elapsed = connect_started.elapsed();

    // 2. Publish and receive.
    let ready_pairs: HashSet<u32> = subscribers
        .iter()
        .filter_map(|s| match s {
            Ready::Subscriber { pair, .. } => *pair,
            _ => None,
        })
        .collect();
    let subscriber_count = subscribers.len() as u64;
    let publisher_count = publishers.len() as u64;
    let pairs = plan.mode == Mode::Pairs;
    let (stop_pub_tx, stop_pub) = watch::channel(false);
    let (stop_sub_tx, stop_sub) = watch::channel(false);
    let publish_started = Instant::now();
    let publish_started_ns = shared.now_ns();
    let mut clients: Vec<Client> = idle.iter().map(|(c, _)| c.clone()).collect();

    let mut sub_tasks = Vec::new();
    for s in subscribers {
        if let Ready::Subscriber {
            client,
            messages,
            id,
            ..
        } = s
        {
            clients.push(client);
            let shared = Arc::clone(&shared);
            let stop = stop_sub.clone();
            let limit = if plan.mode == Mode::Sub {
                plan.count
            } else {
                None
            };
            sub_tasks.push(tokio::spawn(subscribe_loop(
                shared, messages, id, stop, limit,
            )));
        }
    }
    let mut pub_tasks = Vec::new();
    let mut expected_known = !publishers.is_empty();
    for p in publishers {
        if let Ready::Publisher {
            client,
            id,
            topic,
            fanout,
        } = p
        {
            let fanout = match fanout {
                Some(_) if pairs => Some(u64::from(ready_pairs.contains(&id))),
                Some(_) => Some(subscriber_count),
                None => None,
            };
            expected_known &= fanout.is_some();
            clients.push(client.clone());
            let job = PublishJob {
                client,
                id,
                topic,
                qos,
                size: plan.size,
                rate: plan.rate,
                inflight: plan.inflight,
                count: plan.count,
            };
            let task = tokio::spawn(publish_loop(Arc::clone(&shared), job, stop_pub.clone()));
            pub_tasks.push((task, fanout.unwrap_or(0)));
        }
    }

    // Ends publishing (or, without publishers, the run) at the deadline or on Ctrl-C.
    let deadline = plan.duration.map(|d| tokio::time::Instant::now() + d);
    let until_deadline = async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    let mut expected = 0u64;
    // Trackers of subscriber tasks that ended before the run did (`sub` with `--count`).
    let mut finished = Vec::new();
    if pub_tasks.is_empty() && Counters::get(&counters.connected) == 0 {
        // Nothing to hold or wait for.
    } else if pub_tasks.is_empty() {
        let subs_done = async {
            if plan.mode == Mode::Sub && plan.count.is_some() {
                // A finished task leaves `sub_tasks` at once (a JoinHandle must not be polled
                // again after it completed); its tracker goes to `finished`.
                while let Some(t) = sub_tasks.last_mut() {
                    let result = t.await;
                    sub_tasks.pop();
                    if let Ok(tracker) = result {
                        finished.push(tracker);
                    }
                }
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = until_deadline => {}
            () = until_true(&mut interrupt) => {}
            () = subs_done => {}
        }
    } else {
        let mut interrupt2 = interrupt.clone();
        let stopper = tokio::spawn(async move {
            tokio::select! {
                () = until_deadline => {}
                () = until_true(&mut interrupt2) => {}
            }
            let _ = stop_pub_tx.send(true);
        });
        for (task, fanout) in pub_tasks {
            let sent = task.await.unwrap_or(0);
            expected += sent * fanout;
        }
        stopper.abort();
    }
    let publish_elapsed = publish_started.elapsed();

    // 3. Drain: wait for what is still on its way.
    if expected_known && subscriber_count > 0 && !interrupted(&interrupt) {
        let mut last = Counters::get(&counters.received);
        let mut last_change = Instant::now();
        loop {
            let received = Counters::get(&counters.received);
            if received >= expected {
                break;
            }
            if received != last {
                last = received;
                last_change = Instant::now();
            } else if last_change.elapsed() >= plan.drain {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
                () = until_true(&mut interrupt) => break,
            }
        }
    }
    let _ = stop_sub_tx.send(true);
    let mut trackers = finished;
    for t in sub_tasks {
        if let Ok(tracker) = t.await {
            trackers.push(tracker);
        }
    }

    // 4. Disconnect.
    shared.finishing.store(true, Ordering::SeqCst);
    let mut goodbyes = Vec::new();
    for client in clients {
        goodbyes.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), client.disconnect()).await;
        }));
    }
    for g in goodbyes {
        let _ = g.await;
    }
    drop(idle);

    let last_ns = Counters::get(&counters.last_receipt_ns);
    let receive_elapsed = Duration::from_nanos(last_ns.saturating_sub(publish_started_ns));
    Outcome {
        connections: plan.roles.len() as u64,
        connect_elapsed,
        publishers: publisher_count,
        subscribers: subscriber_count,
        subscriptions_requested: plan.subscriptions(),
        subscribe_elapsed: shared.subscribe_elapsed(),
        publish_elapsed,
        receive_elapsed,
        accounting: Accounting::of(expected, &trackers),
        expected_known,
        latency: shared.latency.merged(),
        connect_latency: shared.connect_latency.merged(),
        interrupted: interrupted(&interrupt),
    }
}

/// Subscribes `client` to `filters`: SUBSCRIBE packets of at most [`FILTERS_PER_SUBSCRIBE`]
/// filters, up to [`SUBSCRIBES_IN_FLIGHT`] of them pipelined, until every SUBACK is in. Counts
/// what is granted and refused, and records refusals as errors; returns how many filters were
/// granted, or the error that ended the connection.
async fn subscribe_all(
    client: &Client,
    filters: &Filters,
    qos: QoS,
    shared: &Arc<Shared>,
) -> Result<u64, String> {
    let total = filters.len();
    let options = SubscriptionOptions::with_qos(qos);
    let mut pending = JoinSet::new();
    let mut next = 0;
    let mut granted = 0u64;
    let mut refused = 0u64;
    let mut refused_codes = BTreeSet::new();
    let mut refused_filter = None;
    loop {
        while next < total && pending.len() < SUBSCRIBES_IN_FLIGHT {
            let end = next.saturating_add(FILTERS_PER_SUBSCRIBE).min(total);
            let chunk = (next..end)
                .map(|j| filters.get(j).map(|f| (f, options)))
                .collect::<Result<Vec<_>, String>>()?;
            let client = client.clone();
            shared
                .first_subscribe_ns
                .fetch_min(shared.now_ns(), Ordering::Relaxed);
            let first = next;
            pending.spawn(async move {
                let result = client
                    .subscribe(chunk, SubscribeProperties::default())
                    .await;
                (first, result)
            });
            next = end;
        }
        let Some(joined) = pending.join_next().await else {
            break;
        };
        let (first, suback) = match joined {
            Ok((first, Ok(suback))) => (first, suback),
            Ok((_, Err(e))) => return Err(format!("subscribe: {e}")),
            Err(e) => return Err(format!("subscribe: {e}")),
        };
        shared
            .last_suback_ns
            .fetch_max(shared.now_ns(), Ordering::Relaxed);
        let mut ok = 0u64;
        for (k, code) in suback.reason_codes.iter().enumerate() {
            if code.is_error() {
                refused += 1;
                refused_codes.insert(*code as u8);
                if refused_filter.is_none() {
                    refused_filter = filters.get(first + k).ok();
                }
            } else {
                ok += 1;
            }
        }
        granted += ok;
        Counters::add(&shared.counters.subscriptions_granted, ok);
    }
    if refused > 0 {
        Counters::add(&shared.counters.subscriptions_refused, refused);
        let codes: Vec<String> = refused_codes.iter().map(|c| format!("{c:#04x}")).collect();
        let codes = codes.join(", ");
        match (total, refused_filter) {
            (1, Some(filter)) => {
                shared.error(format!("subscription to {filter} refused ({codes})"))
            }
            _ => shared.error(format!(
                "{refused} of a subscriber's {total} subscriptions refused ({codes})"
            )),
        }
    }
    Ok(granted)
}

/// Counts the connection as lost if it ends before the run disconnects on purpose.
fn watch_for_loss(shared: &Arc<Shared>, ready: &Ready) {
    let client = match ready {
        Ready::Idle(c, _) => c,
        Ready::Publisher { client, .. } | Ready::Subscriber { client, .. } => client,
    }
    .clone();
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let why = client.closed().await;
        if !shared.finishing.load(Ordering::SeqCst) {
            Counters::add(&shared.counters.lost, 1);
            let why = why.map_or_else(|| "closed".to_owned(), |e| e.to_string());
            shared.error(format!("connection lost: {why}"));
        }
    });
}

struct PublishJob {
    client: Client,
    id: u32,
    topic: TopicName,
    qos: QoS,
    size: usize,
    rate: f64,
    inflight: u16,
    count: Option<u64>,
}

/// Publishes until `stop`, the count, or an error; returns how many messages were handed to
/// the client. At most `inflight` messages are outstanding at once.
async fn publish_loop(
    shared: Arc<Shared>,
    job: PublishJob,
    mut stop: watch::Receiver<bool>,
) -> u64 {
    let window = Arc::new(Semaphore::new(usize::from(job.inflight)));
    let (acks_tx, mut acks_rx) = mpsc::unbounded_channel::<(mqtt_client::Delivery, _)>();
    let acker = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            while let Some((delivery, permit)) = acks_rx.recv().await {
                match delivery.await {
                    Ok(outcome) if !outcome.reason_code.is_error() => {
                        Counters::add(&shared.counters.acked, 1);
                    }
                    Ok(outcome) => {
                        Counters::add(&shared.counters.publish_errors, 1);
                        shared.error(format!(
                            "publish refused: {}",
                            outcome.reason_code.description()
                        ));
                    }
                    Err(e) => {
                        Counters::add(&shared.counters.publish_errors, 1);
                        shared.error(format!("publish: {e}"));
                    }
                }
                drop::<tokio::sync::OwnedSemaphorePermit>(permit);
            }
        })
    };
    let mut ticker = (job.rate > 0.0).then(|| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / job.rate));
        t.set_missed_tick_behavior(MissedTickBehavior::Skip);
        t
    });
    let mut seq = 0u64;
    loop {
        if *stop.borrow() || job.count.is_some_and(|c| seq >= c) {
            break;
        }
        if let Some(t) = ticker.as_mut() {
            tokio::select! {
                _ = t.tick() => {}
                () = until_true(&mut stop) => break,
            }
        }
        let permit = tokio::select! {
            p = Arc::clone(&window).acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = until_true(&mut stop) => break,
        };
        let header = Header {
            seq,
            sent_ns: shared.now_ns(),
            publisher: job.id,
            run: shared.run,
        };
        shared.issued.issue(job.id, seq);
        let body = payload::encode(header, job.size);
        match job
            .client
            .publish(job.topic.clone(), body, job.qos, false)
            .await
        {
            Ok(delivery) => {
                seq += 1;
                Counters::add(&shared.counters.sent, 1);
                if acks_tx.send((delivery, permit)).is_err() {
                    break;
                }
            }
            Err(e) => {
                Counters::add(&shared.counters.publish_errors, 1);
                shared.error(format!("publish: {e}"));
                break;
            }
        }
    }
    drop(acks_tx);
    // Wait for the acknowledgements of what is in flight (bounded, in case the server is gone).
    let _ = tokio::time::timeout(Duration::from_secs(30), acker).await;
    seq
}

/// Receives until `stop`, the end of the connection or `limit` messages; returns the tracker.
async fn subscribe_loop(
    shared: Arc<Shared>,
    mut messages: Messages,
    id: u32,
    mut stop: watch::Receiver<bool>,
    limit: Option<u64>,
) -> Tracker {
    let mut tracker = Tracker::default();
    let mut batch = LatencyBatch::new(id as usize);
    loop {
        if *stop.borrow() || limit.is_some_and(|l| tracker.received + tracker.foreign >= l) {
            break;
        }
        let message = tokio::select! {
            m = messages.recv() => m,
            () = until_true(&mut stop) => break,
        };
        let Some(message) = message else { break };
        let now = shared.now_ns();
        match tracker.on_payload(&message.payload, shared.run, &shared.issued) {
            Some(header) => {
                Counters::add(&shared.counters.received, 1);
                shared
                    .counters
                    .last_receipt_ns
                    .fetch_max(now, Ordering::Relaxed);
                batch.push(now.saturating_sub(header.sent_ns) / 1000, &shared.latency);
            }
            None => {
                Counters::add(&shared.counters.foreign, 1);
                shared
                    .counters
                    .last_receipt_ns
                    .fetch_max(now, Ordering::Relaxed);
            }
        }
    }
    batch.flush(&shared.latency);
    tracker
}
