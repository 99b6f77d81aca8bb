//! Criterion benchmarks of the router: building a subscription table, matching a PUBLISH topic
//! against tables of very different sizes, and finding retained messages for a new subscription.
//!
//! * `subscribe/{1k,100k,1M}` adds N subscriptions to an empty table (throughput in
//!   subscriptions). The filters are parsed beforehand, as the decoder would hand them over; the
//!   table is returned to criterion and dropped outside the timed section.
//! * `match/{1k,1M}` matches `building/7/floor/3/temp` against a table holding the same nine
//!   matching subscriptions (exact, `+`, `#`, a shared group of three) plus N unrelated ones.
//!   The unrelated ones share prefixes with the topic (`building/{i}/...`) so the walk meets
//!   crowded nodes; the two figures should be close, since matching does not look at them.
//! * `retained/{1k,100k}/...` looks up retained messages for an exact, a `+` and a `#` filter
//!   among N retained topics, the same few of which match.
//!
//! Before the benchmarks, with `--bench`, the run prints the resident memory that a table of
//! 1,000,000 subscriptions adds (from `/proc/self/statm`), the wall time to build it, and the
//! fastest of many short runs of the match at 1k and 1M with their ratio, which is steadier than
//! criterion's means when the machine is shared.
//!
//! Run: `cargo bench -p mqtt-broker --bench router -- --warm-up-time 1 --measurement-time 3`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]

use std::hint::black_box;
use std::num::NonZeroU32;
use std::time::Instant;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use mqtt_broker::router::{Matches, RetainedStore, Subscription, SubscriptionTable};
use mqtt_codec::{QoS, SubscriptionOptions, TopicFilter, TopicName};
use mqtt_session::Message;

/// The topic of the match benchmark.
const TOPIC: &str = "building/7/floor/3/temp";

/// Client keys of the matching subscriptions, far above those of the unrelated ones.
const MATCHING_CLIENT: u32 = u32::MAX - 100;

fn subscription(i: u32) -> Subscription {
    Subscription {
        options: SubscriptionOptions::with_qos(QoS::AtLeastOnce),
        identifier: NonZeroU32::new(i % 1000 + 1),
    }
}

/// The i-th unrelated subscription: half exact per-device topics, 40% wildcard filters of
/// several shapes, 10% shared subscriptions; four subscriptions per client.
fn unrelated(i: u32) -> (u32, TopicFilter) {
    let filter = match i % 10 {
        0..=4 => format!("dev/{i}/telemetry"),
        5 | 6 => format!("dev/{i}/cmd/+"),
        7 => format!("building/{i}/floor/+/humidity"),
        8 => format!("site/{}/dev/{i}/#", i % 1000),
        _ => format!("$share/g{}/jobs/{i}/+", i % 100),
    };
    (i / 4, TopicFilter::new(filter).unwrap())
}

/// The subscriptions that match [`TOPIC`], the same in every table.
fn matching() -> Vec<(u32, TopicFilter)> {
    [
        "building/7/floor/3/temp",
        "building/7/floor/3/temp",
        "building/+/floor/+/temp",
        "building/7/#",
        "+/7/floor/3/+",
        "#",
        "$share/workers/building/+/floor/3/temp",
        "$share/workers/building/+/floor/3/temp",
        "$share/workers/building/+/floor/3/temp",
    ]
    .into_iter()
    .enumerate()
    .map(|(n, f)| (MATCHING_CLIENT + n as u32, TopicFilter::new(f).unwrap()))
    .collect()
}

fn build(filters: &[(u32, TopicFilter)]) -> SubscriptionTable<u32> {
    let mut table = SubscriptionTable::new();
    for (client, filter) in filters {
        table.subscribe(*client, filter, subscription(*client));
    }
    table
}

fn table_with(unrelated_count: u32) -> SubscriptionTable<u32> {
    let mut filters: Vec<_> = (0..unrelated_count).map(unrelated).collect();
    filters.extend(matching());
    build(&filters)
}

fn label(n: u32) -> String {
    match n {
        n if n >= 1_000_000 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// Resident set size in bytes, from `/proc/self/statm` (pages of 4 KiB).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The fastest of many short runs of `matches`, in ns per call: on a shared machine the mean
/// moves with the load, the minimum much less, so this is the figure to compare between sizes.
fn fastest_match_ns(table: &SubscriptionTable<u32>, topic: &TopicName) -> f64 {
    const CALLS: u32 = 2_000;
    let mut out = Matches::new();
    let mut best = f64::MAX;
    for _ in 0..200 {
        let start = Instant::now();
        for _ in 0..CALLS {
            table.matches(black_box(topic), &mut out);
            black_box(out.subscribers().len());
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(CALLS));
    }
    best
}

/// Memory and build time of a table of 1,000,000 subscriptions, and the match-time ratio.
fn report() {
    const N: u32 = 1_000_000;
    let mut filters: Vec<_> = (0..N).map(unrelated).collect();
    filters.extend(matching());
    let before = resident_bytes();
    let start = Instant::now();
    let table = build(&filters);
    let elapsed = start.elapsed();
    let after = resident_bytes();
    let clients = table.clients().count();
    match (before, after) {
        (Some(before), Some(after)) => eprintln!(
            "router: {} subscriptions of {clients} clients built in {:.2} s; resident memory \
             +{:.1} MiB, {} bytes per subscription",
            table.len(),
            elapsed.as_secs_f64(),
            after.saturating_sub(before) as f64 / (1024.0 * 1024.0),
            after.saturating_sub(before) / u64::from(N),
        ),
        _ => eprintln!(
            "router: {} subscriptions built in {:.2} s (no /proc/self/statm)",
            table.len(),
            elapsed.as_secs_f64()
        ),
    }
    let topic = TopicName::new(TOPIC).unwrap();
    let small = table_with(1_000);
    let (small_ns, large_ns) = (
        fastest_match_ns(&small, &topic),
        fastest_match_ns(&table, &topic),
    );
    eprintln!(
        "router: fastest match of {TOPIC}: {small_ns:.0} ns with 1k unrelated subscriptions, \
         {large_ns:.0} ns with 1M (ratio {:.2})",
        large_ns / small_ns
    );
    drop(black_box(table));
}

fn bench_subscribe(c: &mut Criterion) {
    let mut group = c.benchmark_group("subscribe");
    group.sample_size(10);
    for n in [1_000u32, 100_000, 1_000_000] {
        let filters: Vec<_> = (0..n).map(unrelated).collect();
        group.throughput(Throughput::Elements(u64::from(n)));
        group.bench_with_input(BenchmarkId::from_parameter(label(n)), &filters, |b, f| {
            b.iter_batched(|| (), |()| build(f), BatchSize::PerIteration);
        });
    }
    group.finish();
}

fn bench_match(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    group.sample_size(10);
    let topic = TopicName::new(TOPIC).unwrap();
    for n in [1_000u32, 1_000_000] {
        let table = table_with(n);
        let mut out = Matches::new();
        table.matches(&topic, &mut out);
        assert_eq!((out.subscribers().len(), out.shared().len()), (6, 1));
        group.bench_function(BenchmarkId::from_parameter(label(n)), |b| {
            b.iter(|| {
                table.matches(black_box(&topic), &mut out);
                black_box(out.subscribers().len())
            });
        });
    }
    group.finish();
}

fn retained_store(n: u32) -> RetainedStore {
    let mut store = RetainedStore::new();
    let mut set = |topic: String| {
        let mut message = Message::new(TopicName::new(topic).unwrap(), "21.5", QoS::AtLeastOnce);
        message.retain = true;
        store.set(message);
    };
    for i in 0..n {
        set(match i % 4 {
            0 | 1 => format!("dev/{i}/telemetry"),
            2 => format!("building/{i}/floor/{}/humidity", i % 10),
            _ => format!("site/{}/dev/{i}/status", i % 1000),
        });
    }
    for floor in 0..4 {
        set(format!("building/7/floor/{floor}/temp"));
    }
    store
}

fn bench_retained(c: &mut Criterion) {
    let mut group = c.benchmark_group("retained");
    for n in [1_000u32, 100_000] {
        let store = retained_store(n);
        for (name, filter, expected) in [
            ("exact", "building/7/floor/3/temp", 1),
            ("plus", "building/7/floor/+/temp", 4),
            ("hash", "building/7/#", 4),
        ] {
            let filter = TopicFilter::new(filter).unwrap();
            let mut out = Vec::new();
            store.matching(&filter, &mut out);
            assert_eq!(out.len(), expected, "{filter}");
            group.bench_function(BenchmarkId::new(label(n), name), |b| {
                b.iter(|| {
                    out.clear();
                    store.matching(black_box(&filter), &mut out);
                    black_box(out.len())
                });
            });
        }
    }
    group.finish();
}

fn main() {
    // Only in a real benchmark run, not when `cargo test --benches` runs each benchmark once.
    if std::env::args().any(|arg| arg == "--bench") {
        report();
    }
    let mut c = Criterion::default().configure_from_args();
    bench_subscribe(&mut c);
    bench_match(&mut c);
    bench_retained(&mut c);
    c.final_summary();
}
