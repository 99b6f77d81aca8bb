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
    /// Topic filters the server granted (SUBACK reason codes that are not errors).
    pub subscriptions_granted: AtomicU64,
    /// Topic filters the server refused.
    pub subscriptions_refused: AtomicU64,
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

/// What the publishers of this run have handed out: per publisher number, one more than the
/// highest sequence number published so far.
///
/// A payload carrying the run's tag but a publisher number or sequence number beyond these was
/// not published by this run (a third party copying the tag, or garbage): it is counted as
/// foreign. Without this check such payloads could make every subscriber allocate a bit set of
/// up to 512 MiB per claimed publisher, for up to 2^32 publishers.
#[derive(Debug, Default)]
pub struct Issued {
    next: Vec<AtomicU64>,
}

impl Issued {
    /// Publishers `0..publishers`, none of which has published yet.
    pub fn new(publishers: usize) -> Self {
        Issued {
            next: (0..publishers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Publisher `publisher` is about to publish `seq` (called before the message is sent, so
    /// that a subscriber never sees it before it is issued).
    pub fn issue(&self, publisher: u32, seq: u64) {
        if let Some(next) = self.next.get(publisher as usize) {
            next.fetch_max(seq.saturating_add(1), Ordering::Release);
        }
    }

    /// Whether publisher `publisher` of this run has published `seq`.
    pub fn covers(&self, publisher: u32, seq: u64) -> bool {
        self.next
            .get(publisher as usize)
            .is_some_and(|next| seq < next.load(Ordering::Acquire))
    }
}

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
    /// Accounts for a payload; returns its header when it belongs to `run` and was `issued` by
    /// one of its publishers (so that its latency can be recorded), `None` for a foreign
    /// message. Memory grows only with what this run's publishers really sent.
    pub fn on_payload(&mut self, bytes: &[u8], run: u32, issued: &Issued) -> Option<Header> {
        match payload::decode(bytes) {
            Some(header)
                if header.run == run
                    && header.seq < MAX_SEQ
                    && issued.covers(header.publisher, header.seq) =>
            {
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

    /// Bytes held by the sequence-number sets (their capacity).
    pub fn tracked_bytes(&self) -> usize {
        self.streams
            .values()
            .map(|s| s.bits.capacity() * std::mem::size_of::<u64>())
            .sum()
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

    /// Publishers `0..publishers` that each published `0..count`.
    fn issued(publishers: u32, count: u64) -> Issued {
        let issued = Issued::new(publishers as usize);
        for p in 0..publishers {
            for seq in 0..count {
                issued.issue(p, seq);
            }
        }
        issued
    }

    #[test]
    fn losses_and_duplicates() {
        const RUN: u32 = 9;
        let issued = issued(2, 10);
        // Two publishers of 10 messages each, one subscriber.
        let mut t = Tracker::default();
        for seq in 0..10 {
            if seq != 3 && seq != 7 {
                t.on_payload(&message(0, seq, RUN), RUN, &issued);
            }
            t.on_payload(&message(1, seq, RUN), RUN, &issued);
        }
        // Duplicates of publisher 1's message 5, twice; a foreign run; a short payload.
        t.on_payload(&message(1, 5, RUN), RUN, &issued);
        t.on_payload(&message(1, 5, RUN), RUN, &issued);
        assert_eq!(t.on_payload(&message(0, 3, RUN + 1), RUN, &issued), None);
        assert_eq!(t.on_payload(b"hello", RUN, &issued), None);
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
        let issued = issued(1, 5);
        // Fan-out: one publisher, 3 subscribers, each gets messages 0..5.
        let trackers: Vec<Tracker> = (0..3)
            .map(|_| {
                let mut t = Tracker::default();
                for seq in 0..5 {
                    t.on_payload(&message(0, seq, RUN), RUN, &issued);
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
    fn forged_sequence_numbers_and_publishers_are_foreign_and_cost_no_memory() {
        const RUN: u32 = 0x5eed;
        // This run: 2 publishers that have published 0..100 each.
        let issued = issued(2, 100);
        let mut t = Tracker::default();
        for seq in 0..100 {
            assert!(t.on_payload(&message(0, seq, RUN), RUN, &issued).is_some());
        }
        let honest = t.tracked_bytes();
        assert!(honest <= 64, "{honest} bytes for 100 messages");
        // A third party that copied the run tag: huge sequence numbers (each would have
        // allocated up to 512 MiB), sequence numbers not published yet, unknown publishers.
        let forged = [
            (0, MAX_SEQ - 1),
            (1, u64::from(u32::MAX)),
            (0, 100),
            (1, 1 << 20),
            (2, 0),
            (u32::MAX, 5),
            (7, MAX_SEQ - 1),
        ];
        for (publisher, seq) in forged {
            assert_eq!(
                t.on_payload(&message(publisher, seq, RUN), RUN, &issued),
                None,
                "publisher {publisher} seq {seq}"
            );
        }
        for publisher in 2..10_000 {
            assert_eq!(
                t.on_payload(&message(publisher, 0, RUN), RUN, &issued),
                None
            );
        }
        assert_eq!(t.foreign, 7 + 9_998);
        assert_eq!((t.received, t.unique(), t.duplicates), (100, 100, 0));
        assert_eq!(t.tracked_bytes(), honest);
        assert_eq!(t.streams.len(), 1);
        // Once publisher 1 has really published, its messages count.
        issued.issue(1, 100);
        assert!(t.on_payload(&message(1, 100, RUN), RUN, &issued).is_some());
        assert_eq!(t.streams.len(), 2);
        // No publisher at all (`sub` mode): everything is foreign.
        let none = Issued::new(0);
        assert_eq!(t.on_payload(&message(0, 0, RUN), RUN, &none), None);
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
