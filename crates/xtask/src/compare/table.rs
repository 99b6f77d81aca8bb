//! The Markdown table of results.json: every figure of every scenario for every broker, with the
//! ratio ours/peer for each peer, and the unpinned/pinned scaling of each broker.

use serde_json::Value;

/// A figure as the table shows it.
#[derive(Debug, Clone, Copy)]
struct Figure {
    /// Key in a result's `figures`, or a derived figure (see [`value`]).
    key: &'static str,
    label: &'static str,
    /// Divide the stored value by this (µs to ms).
    scale: f64,
}

const fn fig(key: &'static str, label: &'static str) -> Figure {
    Figure {
        key,
        label,
        scale: 1.0,
    }
}

const fn ms(key: &'static str, label: &'static str) -> Figure {
    Figure {
        key,
        label,
        scale: 1000.0,
    }
}

const MESSAGE_FIGURES: &[Figure] = &[
    fig(
        "msgs_per_cpu_s",
        "msgs delivered / broker CPU-s (higher better)",
    ),
    fig("received_per_s", "msgs received / s"),
    fig("losses", "lost"),
    fig("duplicates", "duplicates"),
    ms("p50_us", "latency p50 ms"),
    ms("p99_us", "latency p99 ms"),
    fig("broker_cores", "broker CPU (cores)"),
    fig("bench_cores", "mqtt-bench CPU (cores)"),
];

const LATENCY_FIGURES: &[Figure] = &[
    ms("p50_us", "latency p50 ms (lower better)"),
    ms("p99_us", "latency p99 ms (lower better)"),
    ms("p99_9_us", "latency p99.9 ms (lower better)"),
    fig("received_per_s", "msgs received / s"),
    fig("msgs_per_cpu_s", "msgs delivered / broker CPU-s"),
    fig("losses", "lost"),
    fig("duplicates", "duplicates"),
    fig("broker_cores", "broker CPU (cores)"),
    fig("bench_cores", "mqtt-bench CPU (cores)"),
];

const IDLE_FIGURES: &[Figure] = &[
    fig(
        "rss_per_conn_bytes",
        "broker RSS per connection, bytes (lower better)",
    ),
    fig("conn_rate_per_s", "connections / s (mqtt-bench)"),
    fig("connected", "connections up"),
    fig("broker_cpu_s", "broker CPU s (connect + hold)"),
    fig("bench_cores", "mqtt-bench CPU (cores)"),
];

/// The subscription runs. `received_vs_1k` (the rate relative to the thousand-subscription
/// run) only exists for the million one: see [`figures_of`].
const SUBS_FIGURES: &[Figure] = &[
    fig("received_per_s", "msgs received / s"),
    fig(
        "received_vs_1k",
        "msgs received / s, relative to 1,000 subscriptions",
    ),
    fig("msgs_per_cpu_s", "msgs delivered / broker CPU-s"),
    fig(
        "subscribe_elapsed_s",
        "time to subscribe all, s (lower better)",
    ),
    fig("subscribe_broker_cpu_s", "broker CPU s to subscribe all"),
    fig(
        "rss_per_subscription_bytes",
        "broker RSS per subscription, bytes",
    ),
    fig("losses", "lost"),
    fig("duplicates", "duplicates"),
    fig("broker_cores", "broker CPU (cores)"),
    fig("bench_cores", "mqtt-bench CPU (cores)"),
];

fn figures_of(scenario: &str) -> impl Iterator<Item = &'static Figure> + '_ {
    let all = if scenario.starts_with("subs") {
        SUBS_FIGURES
    } else if scenario.starts_with("idle") {
        IDLE_FIGURES
    } else if scenario.starts_with("latency") {
        LATENCY_FIGURES
    } else {
        MESSAGE_FIGURES
    };
    all.iter()
        .filter(move |f| f.key != "received_vs_1k" || scenario == "subs-1m")
}

fn strings(doc: &Value, key: &str) -> Vec<String> {
    doc.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The result entry of (placement, broker, scenario).
pub(crate) fn result<'a>(
    doc: &'a Value,
    placement: &str,
    broker: &str,
    scenario: &str,
) -> Option<&'a Value> {
    doc.get("results")?.as_array()?.iter().find(|r| {
        r.get("placement").and_then(Value::as_str) == Some(placement)
            && r.get("broker").and_then(Value::as_str) == Some(broker)
            && r.get("scenario").and_then(Value::as_str) == Some(scenario)
    })
}

/// A figure of a successful result; `broker_cores` is derived (CPU seconds over wall time).
pub(crate) fn value(
    doc: &Value,
    placement: &str,
    broker: &str,
    scenario: &str,
    key: &str,
) -> Option<f64> {
    let r = result(doc, placement, broker, scenario)?;
    if r.get("ok").and_then(Value::as_bool) != Some(true) {
        return None;
    }
    let f = r.get("figures")?;
    let get = |k: &str| f.get(k).and_then(Value::as_f64);
    match key {
        "broker_cores" => Some(get("broker_cpu_s")? / get("wall_s")?),
        // Throughput under a million subscriptions relative to under a thousand.
        "received_vs_1k" if scenario == "subs-1m" => Some(
            get("received_per_s")? / value(doc, placement, broker, "subs-1k", "received_per_s")?,
        ),
        _ => get(key),
    }
}

/// The scenarios of the document, in order: (id, title).
pub(crate) fn scenarios(doc: &Value) -> Vec<(String, String)> {
    doc.get("scenarios")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    Some((
                        s.get("id")?.as_str()?.to_owned(),
                        s.get("title")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The placements and brokers of the document.
pub(crate) fn axes(doc: &Value) -> (Vec<String>, Vec<String>) {
    (strings(doc, "placements"), strings(doc, "brokers"))
}

/// A number for the table: thousands separators from 1,000, fewer decimals as it grows.
pub(crate) fn format_number(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let digits = format!("{:.0}", a);
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 100.0 || a == a.trunc() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// `ours / peer`, when both exist and the division means something.
pub(crate) fn format_ratio(ours: Option<f64>, peer: Option<f64>) -> String {
    match (ours, peer) {
        (Some(o), Some(p)) if p != 0.0 => format!("{:.2}", o / p),
        (Some(0.0), Some(_)) => "=".to_owned(),
        _ => "–".to_owned(),
    }
}

/// The whole table, Markdown.
pub(crate) fn markdown(doc: &Value) -> String {
    let (placements, brokers) = axes(doc);
    let peers: Vec<&String> = if brokers.iter().any(|b| b == "ours") {
        brokers.iter().filter(|b| *b != "ours").collect()
    } else {
        Vec::new()
    };
    let mut out = String::new();
    let mut header = vec!["placement", "scenario", "figure"];
    header.extend(brokers.iter().map(String::as_str));
    let ratio_heads: Vec<String> = peers.iter().map(|p| format!("ours/{p}")).collect();
    header.extend(ratio_heads.iter().map(String::as_str));
    out.push_str(&format!("| {} |\n", header.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(header.len())));
    for placement in &placements {
        for (id, title) in scenarios(doc) {
            // A scenario that did not run in this placement (the subscriptions one runs in the
            // first only) gets no rows rather than a block of dashes.
            if brokers
                .iter()
                .all(|b| result(doc, placement, b, &id).is_none())
            {
                continue;
            }
            for f in figures_of(&id) {
                let get = |b: &str| value(doc, placement, b, &id, f.key).map(|v| v / f.scale);
                let mut row = vec![placement.clone(), title.clone(), f.label.to_owned()];
                for b in &brokers {
                    row.push(match get(b) {
                        Some(v) => format_number(v),
                        None => missing(doc, placement, b, &id),
                    });
                }
                for p in &peers {
                    row.push(format_ratio(get("ours"), get(p)));
                }
                out.push_str(&format!("| {} |\n", row.join(" | ")));
            }
        }
    }
    out
}

/// Why a cell is empty: skipped, failed, or simply not measured.
fn missing(doc: &Value, placement: &str, broker: &str, scenario: &str) -> String {
    match result(doc, placement, broker, scenario) {
        None => "–".to_owned(),
        Some(r) if r.get("ok").and_then(Value::as_bool) == Some(true) => "–".to_owned(),
        Some(_) => "**missing**".to_owned(),
    }
}

/// Unpinned over pinned, per broker: the message rate (connection rate for the idle scenario).
/// Empty unless both placements ran.
pub(crate) fn scaling_markdown(doc: &Value) -> String {
    let (placements, brokers) = axes(doc);
    if !(placements.iter().any(|p| p == "pinned") && placements.iter().any(|p| p == "unpinned")) {
        return String::new();
    }
    let mut out = format!(
        "| scenario | figure | {} |\n|{}\n",
        brokers
            .iter()
            .map(|b| format!("{b} unpinned/pinned"))
            .collect::<Vec<_>>()
            .join(" | "),
        "---|".repeat(brokers.len() + 2)
    );
    for (id, title) in scenarios(doc) {
        let (key, label) = if id.starts_with("idle") {
            ("conn_rate_per_s", "connections / s")
        } else {
            ("received_per_s", "msgs received / s")
        };
        let cells: Vec<String> = brokers
            .iter()
            .map(|b| {
                format_ratio(
                    value(doc, "unpinned", b, &id, key),
                    value(doc, "pinned", b, &id, key),
                )
            })
            .collect();
        if cells.iter().all(|c| c == "–") {
            continue;
        }
        out.push_str(&format!("| {title} | {label} | {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample() -> Value {
        let r = |placement: &str, broker: &str, scenario: &str, figures: Value| {
            json!({"placement": placement, "broker": broker, "scenario": scenario,
                   "ok": true, "error": null, "figures": figures})
        };
        json!({
            "placements": ["pinned"],
            "brokers": ["mosquitto", "ours"],
            "scenarios": [{"id": "fan-in-q1", "title": "fan-in QoS 1"},
                          {"id": "idle-10k", "title": "idle"}],
            "results": [
                r("pinned", "mosquitto", "fan-in-q1", json!({"msgs_per_cpu_s": 50000.0,
                  "received_per_s": 40000.0, "losses": 0, "duplicates": 0, "p50_us": 1500.0,
                  "p99_us": 4000.0, "broker_cpu_s": 9.0, "wall_s": 10.0, "bench_cores": 0.5})),
                r("pinned", "ours", "fan-in-q1", json!({"msgs_per_cpu_s": 125000.0,
                  "received_per_s": 90000.0, "losses": 0, "duplicates": 0, "p50_us": 700.0,
                  "p99_us": 2000.0, "broker_cpu_s": 7.0, "wall_s": 10.0, "bench_cores": 0.9})),
                r("pinned", "mosquitto", "idle-10k", json!({"rss_per_conn_bytes": 3000.0})),
                {"placement": "pinned", "broker": "ours", "scenario": "idle-10k", "ok": false,
                 "error": "broker exited", "figures": {}},
            ]
        })
    }

    #[test]
    fn formats_numbers_and_ratios() {
        assert_eq!(format_number(1_234_567.4), "1,234,567");
        assert_eq!(format_number(999.6), "1000");
        assert_eq!(format_number(12.34), "12.3");
        assert_eq!(format_number(0.456), "0.46");
        assert_eq!(format_number(0.0123), "0.012");
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_ratio(Some(3.0), Some(2.0)), "1.50");
        assert_eq!(format_ratio(Some(0.0), Some(0.0)), "=");
        assert_eq!(format_ratio(None, Some(2.0)), "–");
    }

    #[test]
    fn table_has_a_ratio_for_every_figure() {
        let t = markdown(&sample());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "| placement | scenario | figure | mosquitto | ours | ours/mosquitto |"
        );
        let row = lines
            .iter()
            .find(|l| l.contains("msgs delivered / broker CPU-s"))
            .unwrap();
        assert_eq!(
            *row,
            "| pinned | fan-in QoS 1 | msgs delivered / broker CPU-s (higher better) | 50,000 \
             | 125,000 | 2.50 |"
        );
        let p99 = lines.iter().find(|l| l.contains("p99 ms")).unwrap();
        assert!(p99.ends_with("| 4 | 2 | 0.50 |"), "{p99}");
        let cores = lines
            .iter()
            .find(|l| l.contains("broker CPU (cores)"))
            .unwrap();
        assert!(cores.contains("| 0.90 | 0.70 | 0.78 |"), "{cores}");
        let rss = lines
            .iter()
            .find(|l| l.contains("RSS per connection"))
            .unwrap();
        assert!(rss.ends_with("| 3,000 | **missing** | – |"), "{rss}");
        // Every row has as many cells as the header.
        let cells = |l: &str| l.matches('|').count();
        assert!(lines.iter().all(|l| cells(l) == cells(lines[0])));
        assert!(scaling_markdown(&sample()).is_empty());
    }
}
