//! The final report: a human summary, or one JSON object.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde_json::{json, Value};

use super::limits::FdLimit;
use super::options::Plan;
use super::scenario::Outcome;
use super::stats::{Counters, Percentiles};

/// Everything the report shows.
#[derive(Debug)]
pub struct Report<'a> {
    /// The plan that ran.
    pub plan: &'a Plan,
    /// `host:port`.
    pub broker: String,
    /// `3.1`, `3.1.1` or `5`.
    pub protocol: &'static str,
    /// What the run found.
    pub outcome: &'a Outcome,
    /// The final counters.
    pub counters: &'a Counters,
    /// The open-file limit.
    pub fd_limit: FdLimit,
    /// Error messages and their counts.
    pub errors: BTreeMap<String, u64>,
    /// Notes (limits hit, advice).
    pub notes: Vec<String>,
}

fn per_s(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        (n as f64 / seconds * 10.0).round() / 10.0
    } else {
        0.0
    }
}

fn ms(micros: u64) -> String {
    format!("{:.3} ms", micros as f64 / 1000.0)
}

impl Report<'_> {
    /// The report as one JSON object (keys documented in the README).
    pub fn to_json(&self) -> Value {
        let o = self.outcome;
        let c = self.counters;
        let a = o.accounting;
        let connected = Counters::get(&c.connected);
        let sent = Counters::get(&c.sent);
        let received = Counters::get(&c.received) + Counters::get(&c.foreign);
        let addresses: Vec<String> = self
            .plan
            .source_addresses
            .iter()
            .map(Ipv4Addr::to_string)
            .collect();
        let granted = Counters::get(&c.subscriptions_granted);
        let subscribe_s = o.subscribe_elapsed.as_secs_f64();
        json!({
            "mode": self.plan.mode.name(),
            "broker": self.broker,
            "protocol": self.protocol,
            "qos": self.plan.qos as u8,
            "size": self.plan.size,
            "clients": self.plan.clients,
            "publishers": o.publishers,
            "subscribers": o.subscribers,
            "persistent_subscribers": self.plan.persistent_subscribers,
            "connections": {
                "requested": o.connections,
                "connected": connected,
                "failed": Counters::get(&c.connect_failed),
                "lost": Counters::get(&c.lost),
                "elapsed_s": o.connect_elapsed.as_secs_f64(),
                "rate_per_s": per_s(connected, o.connect_elapsed.as_secs_f64()),
                "latency_us": Percentiles::of(&o.connect_latency).map(|p| p.to_json()),
            },
            "subscriptions": {
                "requested": o.subscriptions_requested,
                "granted": granted,
                "elapsed_s": subscribe_s,
                "rate_per_s": per_s(granted, subscribe_s),
            },
            "messages": {
                "sent": sent,
                "acked": Counters::get(&c.acked),
                "publish_errors": Counters::get(&c.publish_errors),
                "sent_per_s": per_s(sent, o.publish_elapsed.as_secs_f64()),
                "publish_elapsed_s": o.publish_elapsed.as_secs_f64(),
                "received": received,
                "receive_elapsed_s": o.receive_elapsed.as_secs_f64(),
                "received_per_s": per_s(received, o.receive_elapsed.as_secs_f64()),
                "unique": a.unique,
                "duplicates": a.duplicates,
                "expected": o.expected_known.then_some(a.expected),
                "losses": o.expected_known.then_some(a.lost),
                "foreign": Counters::get(&c.foreign),
            },
            "latency_us": Percentiles::of(&o.latency).map(|p| p.to_json()),
            "fd_limit": self.fd_limit.soft,
            "fd_limited": self.fd_limit.limits(o.connections),
            "source_addresses": addresses,
            "errors": self.errors,
            "notes": self.notes,
            "interrupted": o.interrupted,
        })
    }

    /// The human summary, several lines.
    pub fn to_text(&self) -> String {
        let o = self.outcome;
        let c = self.counters;
        let a = o.accounting;
        let p = self.plan;
        let mut out = String::new();
        let mut line = |s: String| {
            out.push_str(&s);
            out.push('\n');
        };
        line(format!(
            "mqtt-bench {}: {} publishers, {} {}subscribers, QoS {}, {}-byte payloads, {} (MQTT {})",
            p.mode.name(),
            o.publishers,
            o.subscribers,
            if p.persistent_subscribers {
                "persistent "
            } else {
                ""
            },
            p.qos as u8,
            p.size,
            self.broker,
            self.protocol
        ));
        let connected = Counters::get(&c.connected);
        let mut conn = format!(
            "connections: {}/{} connected in {:.2} s ({}/s), {} failed, {} lost",
            connected,
            o.connections,
            o.connect_elapsed.as_secs_f64(),
            per_s(connected, o.connect_elapsed.as_secs_f64()),
            Counters::get(&c.connect_failed),
            Counters::get(&c.lost),
        );
        if let Some(l) = Percentiles::of(&o.connect_latency) {
            conn.push_str(&format!(
                "; connect time p50 {}, p99 {}, max {}",
                ms(l.p50),
                ms(l.p99),
                ms(l.max)
            ));
        }
        line(conn);
        if o.subscriptions_requested > 0 {
            let granted = Counters::get(&c.subscriptions_granted);
            let subscribe_s = o.subscribe_elapsed.as_secs_f64();
            line(format!(
                "subscribed:  {}/{} topic filters granted in {:.2} s ({}/s), {} refused",
                granted,
                o.subscriptions_requested,
                subscribe_s,
                per_s(granted, subscribe_s),
                Counters::get(&c.subscriptions_refused),
            ));
        }
        if p.mode.publishes() {
            let sent = Counters::get(&c.sent);
            line(format!(
                "published:   {} messages in {:.2} s ({}/s), {} acknowledged, {} errors",
                sent,
                o.publish_elapsed.as_secs_f64(),
                per_s(sent, o.publish_elapsed.as_secs_f64()),
                Counters::get(&c.acked),
                Counters::get(&c.publish_errors),
            ));
        }
        if o.subscribers > 0 {
            let received = Counters::get(&c.received) + Counters::get(&c.foreign);
            let mut recv = format!(
                "received:    {} messages ({}/s), {} unique, {} duplicates",
                received,
                per_s(received, o.receive_elapsed.as_secs_f64()),
                a.unique,
                a.duplicates,
            );
            if o.expected_known {
                recv.push_str(&format!(", {} lost of {} expected", a.lost, a.expected));
            }
            let foreign = Counters::get(&c.foreign);
            if foreign > 0 {
                recv.push_str(&format!(
                    ", {foreign} not published by this run (not in the accounting)"
                ));
            }
            line(recv);
        }
        if let Some(l) = Percentiles::of(&o.latency) {
            line(format!(
                "latency:     p50 {}, p99 {}, p99.9 {}, max {} (mean {:.3} ms, {} samples)",
                ms(l.p50),
                ms(l.p99),
                ms(l.p99_9),
                ms(l.max),
                l.mean / 1000.0,
                l.count
            ));
        }
        for (message, count) in &self.errors {
            line(format!("error ({count}x): {message}"));
        }
        for note in &self.notes {
            line(format!("note: {note}"));
        }
        if o.interrupted {
            line("interrupted (Ctrl-C): messages in flight may count as lost".to_owned());
        }
        out
    }
}
