//! The session's overhead as a ratio to the codec, measured so that it holds on a busy machine.
//!
//! ```sh
//! cargo bench -p mqtt-session --bench overhead                 # 300 rounds of 5,000 exchanges
//! cargo bench -p mqtt-session --bench overhead -- --rounds 1000 --batch 2000
//! cargo bench -p mqtt-session --bench overhead -- --max-ratio 1.0   # exit 1 above the goal
//! cargo bench -p mqtt-session --bench overhead -- --profile session  # one run only, for perf
//! cargo bench -p mqtt-session --bench overhead -- --only 5.0/qos1    # some exchanges only
//! ```
//!
//! For each exchange (QoS 1 and QoS 2, MQTT 3.1.1 and 5.0) three runs are timed in turn, round
//! after round, each over a batch of exchanges: `session` (two sessions passing packets
//! directly), `session+codec` (the packets encoded and decoded on the way) and `codec` (the
//! codec alone encoding and decoding the same packets). Their order rotates every round. Load
//! from other processes only ever adds time, so the fastest batch of each run over all rounds
//! is the closest to its true cost, and because the runs alternate every few milliseconds they
//! all get the machine's quiet moments: `session / codec` of the minima is the figure. The
//! median of the per-round ratios is printed next to it as a cross-check.
//!
//! The sessions must produce exactly the packets the codec alone handles (`exchange_packets`):
//! that is checked before each exchange is measured (for 5.0 the sessions run without outbound
//! Topic Aliases, see `link::bench_config`). The harness's `message.clone()` for
//! `Session::publish`, which takes the message by value, is counted as session time.
//!
//! Allocations per message come from a counting allocator (allocation-counter) over 10,000
//! exchanges after a warm-up; any allocation on that path is reported (exit status 1).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/link/mod.rs"]
mod link;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use link::{bench_message, check_exchange_packets, CodecOnly, Link};
use mqtt_codec::{ProtocolVersion, QoS};
use mqtt_session::Message;

struct Options {
    rounds: usize,
    batch: usize,
    max_ratio: Option<f64>,
    /// Only this run (0 session, 1 session+codec, 2 codec), without figures: for a profiler.
    profile: Option<usize>,
    /// Only the exchanges whose label (`3.1.1/qos1`, `5.0/qos2`, ...) contains this.
    only: String,
}

fn options() -> Options {
    let mut o = Options {
        rounds: 300,
        batch: 5_000,
        max_ratio: None,
        profile: None,
        only: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> String {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match arg.as_str() {
            "--rounds" => o.rounds = value("--rounds").parse().expect("--rounds: a number"),
            "--batch" => o.batch = value("--batch").parse().expect("--batch: a number"),
            "--max-ratio" => {
                o.max_ratio = Some(value("--max-ratio").parse().expect("--max-ratio: a number"))
            }
            "--only" => o.only = value("--only"),
            "--profile" => {
                let run = value("--profile");
                let which = ["session", "session+codec", "codec"]
                    .iter()
                    .position(|r| *r == run);
                o.profile = Some(which.expect("--profile: session, session+codec or codec"));
            }
            // `cargo bench` passes `--bench`; criterion-style filters are not supported.
            _ => {}
        }
    }
    o.rounds = o.rounds.max(1);
    o.batch = o.batch.max(1);
    o
}

/// The exchanges `--only` selects.
fn exchanges(o: &Options) -> Vec<(ProtocolVersion, QoS)> {
    let mut all = Vec::new();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let label = match version {
                ProtocolVersion::V5 => "5.0",
                _ => "3.1.1",
            };
            if format!("{label}/qos{}", qos as u8).contains(&o.only) {
                all.push((version, qos));
            }
        }
    }
    all
}

/// Nanoseconds per exchange over one batch.
fn time(batch: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_nanos() as f64 / batch as f64
}

struct Figures {
    session: f64,
    with_codec: f64,
    codec: f64,
    median_ratio: f64,
    allocations: (usize, usize),
}

fn measure(version: ProtocolVersion, qos: QoS, o: &Options) -> Figures {
    check_exchange_packets(version, qos);
    let message = bench_message(qos);
    let mut plain = Link::new(version, false);
    let mut wired = Link::new(version, true);
    let mut codec = CodecOnly::new(version, qos);
    let run = |which: usize, plain: &mut Link, wired: &mut Link, codec: &mut CodecOnly| match which
    {
        0 => time(o.batch, || {
            black_box(plain.exchange(black_box(&message)));
        }),
        1 => time(o.batch, || {
            black_box(wired.exchange(black_box(&message)));
        }),
        _ => time(o.batch, || codec.exchange()),
    };
    // Warm-up: caches, branch predictors, queue capacities and CPU frequency.
    for which in 0..3 {
        run(which, &mut plain, &mut wired, &mut codec);
    }
    let mut best = [f64::INFINITY; 3];
    let mut ratios = Vec::with_capacity(o.rounds);
    for round in 0..o.rounds {
        let mut t = [0.0; 3];
        for k in 0..3 {
            let which = (round + k) % 3;
            t[which] = run(which, &mut plain, &mut wired, &mut codec);
        }
        for (b, t) in best.iter_mut().zip(t) {
            *b = b.min(t);
        }
        ratios.push(t[0] / t[2]);
    }
    ratios.sort_by(f64::total_cmp);
    Figures {
        session: best[0],
        with_codec: best[1],
        codec: best[2],
        median_ratio: ratios[ratios.len() / 2],
        allocations: (
            allocations(&mut plain, &message),
            allocations(&mut wired, &message),
        ),
    }
}

/// Runs one of the three for `rounds` batches of every exchange, timing nothing.
fn profile(which: usize, o: &Options) {
    for (version, qos) in exchanges(o) {
        check_exchange_packets(version, qos);
        {
            let message = bench_message(qos);
            let mut link = Link::new(version, which == 1);
            let mut codec = CodecOnly::new(version, qos);
            for _ in 0..o.rounds * o.batch {
                match which {
                    2 => codec.exchange(),
                    _ => {
                        black_box(link.exchange(black_box(&message)));
                    }
                }
            }
        }
    }
}

/// Allocations in 10,000 exchanges of a link that already ran (steady state).
fn allocations(link: &mut Link, message: &Message) -> usize {
    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            link.exchange(message);
        }
    });
    info.count_total as usize
}

fn main() -> ExitCode {
    let o = options();
    if let Some(which) = o.profile {
        profile(which, &o);
        return ExitCode::SUCCESS;
    }
    println!(
        "fastest of {} rounds of {} exchanges, runs interleaved (ns per exchange)\n",
        o.rounds, o.batch
    );
    println!("| exchange | session | session+codec | codec | session / codec | median of rounds | allocations in 10,000 (session, +codec) |");
    println!("|---|---|---|---|---|---|---|");
    let mut ok = true;
    for (version, qos) in exchanges(&o) {
        {
            let f = measure(version, qos, &o);
            let ratio = f.session / f.codec;
            println!(
                "| {version} QoS {} | {:.0} ns | {:.0} ns | {:.0} ns | {ratio:.2} | {:.2} | {}, {} |",
                qos as u8,
                f.session,
                f.with_codec,
                f.codec,
                f.median_ratio,
                f.allocations.0,
                f.allocations.1,
            );
            if f.allocations != (0, 0) {
                ok = false;
            }
            if o.max_ratio.is_some_and(|max| ratio > max) {
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "goal not met: a ratio above --max-ratio, or allocations on the steady-state path"
        );
        ExitCode::FAILURE
    }
}
