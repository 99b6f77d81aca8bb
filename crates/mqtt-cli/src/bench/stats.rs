//! Counting: shared live counters, per-subscriber loss and duplicate accounting, and latency
//! histograms (HdrHistogram).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hdrhistogram::Histogram;

use super::payload::{self, Header};

/// Counters shared by every task, read by the progress display and the final report.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections established (CONNACK accepted).
    pub connected: AtomicU64,
    /// Connection attempts that failed.
    pub connect_failed: AtomicU64,
    /// Established connections that ended before the run did.
    pub lost: AtomicU64,
    /// Messages handed to the clients for publication.
    pub sent: AtomicU64,
    /// Messages whose QoS flow completed (written for QoS 0, PUBACK, PUBCOMP).
    pub acked: AtomicU64,
    /// Publications that failed (refused by the server or connection lost).
    pub publish_errors: AtomicU64,
    /// Messages of this run received, duplicates included.
    pub received: AtomicU64,
    /// Messages received that this run did not publish (other runs, other clients).
    pub foreign: AtomicU64,
    /// Nanoseconds since the start of the run at the latest receipt.
    pub last_receipt_ns: AtomicU64,
}

impl Counters {
    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Sequence numbers from this one on are not tracked (they would not come from a publisher of
/// this run: 2^32 messages is more than a run publishes), to bound memory.
pub const MAX_SEQ: u64 = 1 << 32;

/// The sequence numbers received from one publisher: a bit set, grown as needed.
#[derive(Debug, Default, Clone)]
pub struct SeqSet {
    bits: Vec<u64>,
    unique: u64,
}

impl SeqSet {
    /// Marks `seq` received; returns false if it already was (a duplicate).
    pub fn insert(&mut self, seq: u64) -> bool {
        if seq >= MAX_SEQ {
            return false;
        }
        let word = usize::try_from(seq / 64).unwrap_or(usize::MAX);
        let bit = 1u64 << (seq % 64);
        if word >= self.bits.len() {
            // Sequence numbers are dense from 0, so this grows with what was sent.
            self.bits.resize(word + 1, 0);
        }
        match self.bits.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                self.unique += 1;
                true
            }
            _ => false,
        }
    }

    /// How many distinct sequence numbers were received.
    pub fn unique(&self) -> u64 {
        self.unique
    }
}

/// What one subscriber received: per publisher, the distinct sequence numbers, and totals.
#[derive(Debug, Default)]
pub struct Tracker {
    streams: HashMap<u32, SeqSet>,
    /// Messages of this run received, duplicates included.
    pub received: u64,
    /// Messages received more than once.
    pub duplicates: u64,
    /// Messages that were not of this run.
    pub foreign: u64,
}

impl Tracker {
    /// Accounts for a payload received at `now_ns`; returns its header when it belongs to
    /// `run` (so that its latency can be recorded), `None` for a foreign message.
    pub fn on_payload(&mut self, bytes: &[u8], run: u32) -> Option<Header> {
        match payload::decode(bytes) {
            Some(header) if header.run == run && header.seq < MAX_SEQ => {
                self.received += 1;
                if !self
                    .streams
                    .entry(header.publisher)
                    .or_default()
                    .insert(header.seq)
                {
                    self.duplicates += 1;
                }
                Some(header)
            }
            _ => {
                self.foreign += 1;
                None
            }
        }
    }

    /// Distinct messages received, over all publishers.
    pub fn unique(&self) -> u64 {
        self.streams.values().map(SeqSet::unique).sum()
    }
}

/// Losses and duplicates over the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accounting {
    /// Messages that should have arrived: per publisher, messages sent times the subscribers
    /// that match its topic.
    pub expected: u64,
    /// Messages received, duplicates included.
    pub received: u64,
    /// Distinct (subscriber, publisher, sequence number) receipts.
    pub unique: u64,
    /// Receipts beyond the first of the same message by the same subscriber.
    pub duplicates: u64,
    /// `expected - unique` (never negative).
    pub lost: u64,
}

impl Accounting {
    /// Sums the subscribers' trackers against what was expected.
    pub fn of<'a>(expected: u64, trackers: impl IntoIterator<Item = &'a Tracker>) -> Self {
        let mut a = Accounting {
            expected,
            ..Accounting::default()
        };
        for t in trackers {
            a.received += t.received;
            a.unique += t.unique();
            a.duplicates += t.duplicates;
        }
        a.lost = a.expected.saturating_sub(a.unique);
        a
    }
}

/// A new histogram of microseconds from 1 µs to one hour, three significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

/// Latency histograms shared by many tasks: each task records into a local batch and merges it
/// into one of a few shards, so that memory does not grow with the number of subscribers and
/// tasks seldom contend.
#[derive(Debug)]
pub struct LatencyShards {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl LatencyShards {
    /// `n` shards (at least one).
    pub fn new(n: usize) -> Self {
        LatencyShards {
            shards: (0..n.max(1)).map(|_| Mutex::new(new_histogram())).collect(),
        }
    }

    /// Records a batch of microsecond values into shard `index % n`.
    pub fn record(&self, index: usize, values: &[u64]) {
        let n = self.shards.len().max(1);
        if let Some(shard) = self.shards.get(index % n) {
            let mut h = shard.lock().unwrap_or_else(|e| e.into_inner());
            for v in values {
                h.saturating_record((*v).max(1));
            }
        }
    }

    /// All shards merged.
    pub fn merged(&self) -> Histogram<u64> {
        let mut all = new_histogram();
        for shard in &self.shards {
            let h = shard.lock().unwrap_or_else(|e| e.into_inner());
            // Same bounds on both sides: adding cannot fail.
            let _ = all.add(&*h);
        }
        all
    }
}

/// A local batch of latencies, flushed into [`LatencyShards`] every few hundred values.
#[derive(Debug)]
pub struct LatencyBatch {
    index: usize,
    values: Vec<u64>,
}

impl LatencyBatch {
    const SIZE: usize = 256;

    /// A batch that flushes into shard `index`.
    pub fn new(index: usize) -> Self {
        LatencyBatch {
            index,
            values: Vec::with_capacity(Self::SIZE),
        }
    }

    /// Adds a latency in microseconds.
    pub fn push(&mut self, micros: u64, shards: &LatencyShards) {
        self.values.push(micros);
        if self.values.len() >= Self::SIZE {
            self.flush(shards);
        }
    }

    /// Records what is pending.
    pub fn flush(&mut self, shards: &LatencyShards) {
        shards.record(self.index, &self.values);
        self.values.clear();
    }
}

/// Percentiles of a histogram, in the histogram's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Smallest value.
    pub min: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// Largest value.
    pub max: u64,
}

impl Percentiles {
    /// The percentiles of `h`, or `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Self> {
        if h.is_empty() {
            return None;
        }
        Some(Percentiles {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            max: h.max(),
        })
    }

    /// As a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "min": self.min,
            "mean": (self.mean * 10.0).round() / 10.0,
            "p50": self.p50,
            "p99": self.p99,
            "p99_9": self.p99_9,
            "max": self.max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::payload::{encode, Header};

    fn message(publisher: u32, seq: u64, run: u32) -> bytes::Bytes {
        encode(
            Header {
                seq,
                sent_ns: 0,
                publisher,
                run,
            },
            32,
        )
    }

    #[test]
    fn seq_set_counts_unique_and_rejects_repeats() {
        let mut s = SeqSet::default();
        assert!(s.insert(0));
        assert!(s.insert(1000));
        assert!(!s.insert(1000));
        assert!(s.insert(63));
        assert!(s.insert(64));
        assert_eq!(s.unique(), 4);
        assert!(!s.insert(u64::MAX));
    }

    #[test]
    fn losses_and_duplicates() {
        const RUN: u32 = 9;
        // Two publishers of 10 messages each, one subscriber.
        let mut t = Tracker::default();
        for seq in 0..10 {
            if seq != 3 && seq != 7 {
                t.on_payload(&message(0, seq, RUN), RUN);
            }
            t.on_payload(&message(1, seq, RUN), RUN);
        }
        // Duplicates of publisher 1's message 5, twice; a foreign run; a short payload.
        t.on_payload(&message(1, 5, RUN), RUN);
        t.on_payload(&message(1, 5, RUN), RUN);
        assert_eq!(t.on_payload(&message(0, 3, RUN + 1), RUN), None);
        assert_eq!(t.on_payload(b"hello", RUN), None);
        assert_eq!(t.received, 20);
        assert_eq!(t.duplicates, 2);
        assert_eq!(t.foreign, 2);
        assert_eq!(t.unique(), 18);
        let a = Accounting::of(20, [&t]);
        assert_eq!(
            a,
            Accounting {
                expected: 20,
                received: 20,
                unique: 18,
                duplicates: 2,
                lost: 2
            }
        );
    }

    #[test]
    fn the_same_message_counts_once_per_subscriber() {
        const RUN: u32 = 1;
        // Fan-out: one publisher, 3 subscribers, each gets messages 0..5.
        let trackers: Vec<Tracker> = (0..3)
            .map(|_| {
                let mut t = Tracker::default();
                for seq in 0..5 {
                    t.on_payload(&message(0, seq, RUN), RUN);
                }
                t
            })
            .collect();
        let a = Accounting::of(15, &trackers);
        assert_eq!((a.unique, a.duplicates, a.lost), (15, 0, 0));
        // More received than expected never gives negative losses.
        let a = Accounting::of(10, &trackers);
        assert_eq!(a.lost, 0);
    }

    #[test]
    fn latency_shards_merge() {
        let shards = LatencyShards::new(4);
        let mut a = LatencyBatch::new(0);
        let mut b = LatencyBatch::new(5);
        for v in 1..=1000 {
            a.push(v, &shards);
            b.push(v, &shards);
        }
        a.flush(&shards);
        b.flush(&shards);
        let p = Percentiles::of(&shards.merged()).unwrap();
        assert_eq!(p.count, 2000);
        assert_eq!(p.min, 1);
        assert!((499..=501).contains(&p.p50), "{p:?}");
        assert!((989..=991).contains(&p.p99), "{p:?}");
        assert_eq!(p.max, 1000);
        assert!(Percentiles::of(&new_histogram()).is_none());
    }
}
