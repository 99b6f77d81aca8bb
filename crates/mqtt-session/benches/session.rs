//! Cost per message of QoS 1 and QoS 2 exchanges through two sessions, with and without the
//! codec, against the codec alone encoding and decoding the same packets.
//!
//! `cargo bench -p mqtt-session --bench session`
//!
//! Criterion times each function on its own, so on a shared machine the ratio between two of
//! them moves with the load; `benches/overhead.rs` measures the ratio itself.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/link/mod.rs"]
mod link;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use link::{bench_message, check_exchange_packets, CodecOnly, Link};
use mqtt_codec::{ProtocolVersion, QoS};

fn bench(c: &mut Criterion) {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut group =
                c.benchmark_group(format!("exchange/v{}/qos{}", version.level(), qos as u8));
            group.throughput(Throughput::Elements(1));
            check_exchange_packets(version, qos);
            let message = bench_message(qos);

            let mut link = Link::new(version, false);
            group.bench_function("session", |b| b.iter(|| link.exchange(&message)));

            let mut link = Link::new(version, true);
            group.bench_function("session+codec", |b| b.iter(|| link.exchange(&message)));

            let mut codec = CodecOnly::new(version, qos);
            group.bench_function("codec", |b| b.iter(|| codec.exchange()));
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
