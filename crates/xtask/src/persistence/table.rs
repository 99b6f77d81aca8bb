//! table.md of bench-persistence: the throughput configurations (medians over the rounds), the
//! two goals of issue #7 as ratios measured in the same run, the in-flight window check, and the
//! restart measurements.

use serde_json::{json, Value};

use crate::compare::table::format_number;

/// The configuration whose throughput the goals are about, and what it is compared with.
pub(crate) const ACK: &str = "ours-ack";
pub(crate) const MEMORY: &str = "ours-memory";
pub(crate) const MOSQUITTO_PERSIST: &str = "mosquitto-persist";

/// The goals of issue #7: (numerator, denominator, minimum ratio of messages received per
/// second).
pub(crate) const GOALS: [(&str, &str, f64); 2] =
    [(ACK, MEMORY, 0.5), (ACK, MOSQUITTO_PERSIST, 1.0)];

/// The larger-window configurations and the default-window one each is compared with.
pub(crate) const WINDOW_PAIRS: [(&str, &str); 2] =
    [("ours-ack-w100", ACK), ("ours-memory-w100", MEMORY)];

/// The median; `None` for no values.
pub(crate) fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v.get(mid).copied()
    } else {
        Some((v.get(mid - 1)? + v.get(mid)?) / 2.0)
    }
}

fn entries<'a>(doc: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    doc.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn ok(entry: &Value) -> bool {
    entry.get("ok").and_then(Value::as_bool) == Some(true)
}

/// A figure of a throughput entry; `broker_cores` is derived (CPU seconds over wall time).
fn figure(entry: &Value, key: &str) -> Option<f64> {
    if !ok(entry) {
        return None;
    }
    let f = entry.get("figures")?;
    let get = |k: &str| f.get(k).and_then(Value::as_f64);
    match key {
        "broker_cores" => Some(get("broker_cpu_s")? / get("wall_s")?),
        _ => get(key),
    }
}

/// `key` of `variant` in each round, in round order (`None`: that round failed).
pub(crate) fn per_round(doc: &Value, variant: &str, key: &str) -> Vec<(u64, Option<f64>)> {
    entries(doc, "throughput")
        .filter(|e| e.get("variant").and_then(Value::as_str) == Some(variant))
        .map(|e| {
            (
                e.get("round").and_then(Value::as_u64).unwrap_or(0),
                figure(e, key),
            )
        })
        .collect()
}

/// The median of `key` over the rounds of `variant` that succeeded.
pub(crate) fn value(doc: &Value, variant: &str, key: &str) -> Option<f64> {
    let v: Vec<f64> = per_round(doc, variant, key)
        .into_iter()
        .filter_map(|(_, v)| v)
        .collect();
    median(&v)
}

/// Received messages per second of `a` over `b`: the ratio of the medians, and the ratio within
/// each round where both ran (adjacent runs, the least exposed to the machine's drift).
pub(crate) fn ratio(doc: &Value, a: &str, b: &str) -> (Option<f64>, Vec<f64>) {
    let key = "received_per_s";
    let of_medians = match (value(doc, a, key), value(doc, b, key)) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    };
    let bs = per_round(doc, b, key);
    let rounds = per_round(doc, a, key)
        .into_iter()
        .filter_map(|(round, x)| {
            let y = bs.iter().find(|(r, _)| *r == round)?.1?;
            (y > 0.0).then_some(x? / y)
        })
        .collect();
    (of_medians, rounds)
}

/// The goals as results.json records them.
pub(crate) fn summary(doc: &Value) -> Value {
    let goals: Vec<Value> = GOALS
        .iter()
        .map(|(a, b, goal)| {
            let (r, rounds) = ratio(doc, a, b);
            json!({
                "ratio": format!("{a} / {b}"),
                "received_per_s": r,
                "per_round": rounds,
                "goal": goal,
                "met": r.map(|r| r >= *goal),
            })
        })
        .collect();
    let windows: Vec<Value> = WINDOW_PAIRS
        .iter()
        .map(|(a, b)| {
            let (r, rounds) = ratio(doc, a, b);
            json!({"ratio": format!("{a} / {b}"), "received_per_s": r, "per_round": rounds})
        })
        .collect();
    json!({"goals": goals, "window": windows})
}

/// The median CPU share of the busiest broker thread, with that thread's name in the last
/// round that has one.
fn busiest(doc: &Value, variant: &str) -> String {
    let name = entries(doc, "throughput")
        .filter(|e| e.get("variant").and_then(Value::as_str) == Some(variant) && ok(e))
        .filter_map(|e| e.get("figures")?.get("busiest_thread")?.as_str())
        .last();
    match (value(doc, variant, "busiest_thread_cores"), name) {
        (Some(v), Some(n)) => format!("{} ({n})", format_number(v)),
        (Some(v), None) => format_number(v),
        _ => "–".to_owned(),
    }
}

fn cell(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), format_number)
}

fn mb(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_owned(), |b| format!("{:.1}", b / 1_048_576.0))
}

fn rounds_cell(rounds: &[f64]) -> String {
    if rounds.is_empty() {
        "–".to_owned()
    } else {
        rounds
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The whole table.md.
pub(crate) fn markdown(doc: &Value) -> String {
    let mut out = String::new();
    if let Some(fs) = doc.get("store_filesystem") {
        let s = |k: &str| fs.get(k).and_then(Value::as_str).unwrap_or("?");
        let ms = |k: &str| {
            fs.get(k)
                .and_then(Value::as_f64)
                .map_or_else(|| "?".to_owned(), |v| format!("{v:.2}"))
        };
        out.push_str(&format!(
            "Stores in {} ({} on {}, mounted on {}); fsync after a 4 KiB write: p50 {} ms, p99 \
             {} ms.\n\n",
            s("directory"),
            s("type"),
            s("device"),
            s("mount"),
            ms("fsync_4k_p50_ms"),
            ms("fsync_4k_p99_ms")
        ));
    }
    let variants: Vec<(String, String)> = entries(doc, "variants")
        .filter_map(|v| {
            Some((
                v.get("id")?.as_str()?.to_owned(),
                v.get("title")?.as_str()?.to_owned(),
            ))
        })
        .collect();
    let ran: Vec<&(String, String)> = variants
        .iter()
        .filter(|(id, _)| !per_round(doc, id, "received_per_s").is_empty())
        .collect();
    if !ran.is_empty() {
        out.push_str(
            "| configuration | msgs received / s (median) | per round | msgs / broker CPU-s | \
             lost (all rounds) | duplicates (all rounds) | latency p50 ms | latency p99 ms | \
             broker CPU (cores) | busiest broker thread (cores) | mqtt-bench CPU (cores) | \
             store after the run, MB |\n",
        );
        out.push_str(&format!("|{}\n", "---|".repeat(12)));
        for (id, title) in ran {
            let rounds = per_round(doc, id, "received_per_s");
            let per: Vec<String> = rounds
                .iter()
                .map(|(_, v)| v.map_or_else(|| "**failed**".to_owned(), format_number))
                .collect();
            let sum = |key: &str| {
                let v: Vec<f64> = per_round(doc, id, key)
                    .into_iter()
                    .filter_map(|(_, v)| v)
                    .collect();
                (!v.is_empty()).then(|| v.iter().sum::<f64>())
            };
            let ms = |key: &str| value(doc, id, key).map(|v| v / 1000.0);
            let row = [
                format!("{title} (`{id}`)"),
                cell(value(doc, id, "received_per_s")),
                per.join(" / "),
                cell(value(doc, id, "msgs_per_cpu_s")),
                cell(sum("losses")),
                cell(sum("duplicates")),
                cell(ms("p50_us")),
                cell(ms("p99_us")),
                cell(value(doc, id, "broker_cores")),
                busiest(doc, id),
                cell(value(doc, id, "bench_cores")),
                mb(value(doc, id, "store_bytes")),
            ];
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out.push_str("\nGoals (msgs received / s, same run):\n\n");
        out.push_str(
            "| ratio | median / median | per round | goal | met |\n|---|---|---|---|---|\n",
        );
        for (a, b, goal) in GOALS {
            let (r, rounds) = ratio(doc, a, b);
            let met = match r {
                Some(r) if r >= goal => "**yes**",
                Some(_) => "**no**",
                None => "not measured",
            };
            out.push_str(&format!(
                "| `{a}` / `{b}` | {} | {} | >= {goal:.2} | {met} |\n",
                r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}")),
                rounds_cell(&rounds)
            ));
        }
        let windows: Vec<String> = WINDOW_PAIRS
            .iter()
            .filter_map(|(a, b)| {
                let (r, rounds) = ratio(doc, a, b);
                r.map(|r| format!("| `{a}` / `{b}` | {r:.2} | {} |\n", rounds_cell(&rounds)))
            })
            .collect();
        if !windows.is_empty() {
            out.push_str(
                "\nIn-flight window (100 instead of the default 20, for the publishers and the \
                 broker's deliveries):\n\n| ratio | median / median | per round |\n|---|---|---|\n",
            );
            for w in windows {
                out.push_str(&w);
            }
        }
    }
    let restarts: Vec<&Value> = entries(doc, "restart").collect();
    if !restarts.is_empty() {
        if !out.is_empty() && !out.ends_with("\n\n") {
            out.push('\n');
        }
        out.push_str(
            "| broker | stopped with | store before → after the stop, MB | signal to exit, s | start to first CONNACK, s \
             | RSS after the start, MB | retained found | session 0: present, queued found | \
             fill: QoS 1 publishes / s |\n",
        );
        out.push_str(&format!("|{}\n", "---|".repeat(9)));
        for e in restarts {
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
            let expected = |k: &str| e.get("plan").and_then(|p| p.get(k)).and_then(Value::as_f64);
            let f = |k: &str| {
                e.get("figures")
                    .and_then(|f| f.get(k))
                    .and_then(Value::as_f64)
            };
            let fb = |k: &str| {
                e.get("figures")
                    .and_then(|f| f.get(k))
                    .and_then(Value::as_bool)
            };
            let broker = s("broker");
            let stop = s("stop");
            if !ok(e) {
                let error = e
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("failed")
                    .lines()
                    .next()
                    .unwrap_or("failed")
                    .replace('|', "\\|");
                out.push_str(&format!(
                    "| {broker} | {stop} | **failed**: {error} |{}\n",
                    " – |".repeat(6)
                ));
                continue;
            }
            let of = |found: Option<f64>, want: Option<f64>| match (found, want) {
                (Some(a), Some(b)) => format!("{} / {}", format_number(a), format_number(b)),
                _ => "–".to_owned(),
            };
            let session = match fb("session_present") {
                Some(p) => format!(
                    "{}, {}",
                    if p { "yes" } else { "**no**" },
                    of(f("queued_found"), expected("queued_per_session"))
                ),
                None => "–".to_owned(),
            };
            let row = [
                broker,
                stop,
                format!(
                    "{} → {}",
                    mb(f("store_bytes_before_stop")),
                    mb(f("store_bytes"))
                ),
                f("stop_s").map_or_else(|| "–".to_owned(), |v| format!("{v:.3}")),
                f("connack_s").map_or_else(|| "–".to_owned(), |v| format!("{v:.3}")),
                mb(f("rss_after_start_bytes")),
                of(f("retained_found"), expected("retained")),
                session,
                cell(f("fill_publish_per_s")),
            ];
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    }
    let notes: Vec<&str> = entries(doc, "notes").filter_map(Value::as_str).collect();
    if !notes.is_empty() {
        out.push_str("\nNotes:\n\n");
        for n in notes {
            out.push_str(&format!("- {n}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(variant: &str, round: u64, received: f64) -> Value {
        json!({"variant": variant, "round": round, "ok": true, "error": null,
               "figures": {"received_per_s": received, "msgs_per_cpu_s": received * 2.0,
                           "losses": 0, "duplicates": 1, "p50_us": 1500.0, "p99_us": 9000.0,
                           "broker_cpu_s": 5.0, "wall_s": 10.0, "bench_cores": 0.8,
                           "store_bytes": 2_097_152, "busiest_thread": "store-writer",
                           "busiest_thread_cores": 0.25}})
    }

    fn sample() -> Value {
        json!({
            "variants": [
                {"id": "ours-memory", "title": "ours, in memory"},
                {"id": "ours-ack", "title": "ours, ack"},
                {"id": "mosquitto-persist", "title": "Mosquitto, persistence true"},
                {"id": "ours-ack-w100", "title": "ours, ack, window 100"},
            ],
            "throughput": [
                run("ours-memory", 1, 40000.0), run("ours-ack", 1, 10000.0),
                run("mosquitto-persist", 1, 20000.0),
                run("ours-memory", 2, 50000.0), run("ours-ack", 2, 30000.0),
                {"variant": "mosquitto-persist", "round": 2, "ok": false,
                 "error": "exited", "figures": {}},
                run("ours-ack-w100", 1, 20000.0),
            ],
            "restart": [
                {"broker": "ours", "stop": "SIGKILL", "ok": true,
                 "plan": {"retained": 100000, "sessions": 10000, "queued_per_session": 5},
                 "figures": {"store_bytes": 52_428_800, "store_bytes_before_stop": 52_428_800,
                             "stop_s": 0.0012, "connack_s": 1.5,
                             "rss_after_start_bytes": 104_857_600, "retained_found": 100000,
                             "session_present": true, "queued_found": 5,
                             "fill_publish_per_s": 12345.6}},
                {"broker": "mosquitto", "stop": "SIGKILL", "ok": false,
                 "error": "no CONNACK | x\nmore", "figures": {}},
            ],
            "notes": ["a note"],
        })
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 2.0]), Some(2.0));
    }

    #[test]
    fn ratios_use_medians_and_same_round_pairs() {
        let doc = sample();
        assert_eq!(value(&doc, "ours-ack", "received_per_s"), Some(20000.0));
        let (r, rounds) = ratio(&doc, "ours-ack", "ours-memory");
        assert_eq!(r, Some(20000.0 / 45000.0));
        assert_eq!(rounds, [0.25, 0.6]);
        // Round 2 of Mosquitto failed: only round 1 pairs up, the median is round 1's.
        let (r, rounds) = ratio(&doc, "ours-ack", "mosquitto-persist");
        assert_eq!(r, Some(1.0));
        assert_eq!(rounds, [0.5]);
        let s = summary(&doc);
        assert_eq!(s["goals"][0]["met"], json!(false));
        assert_eq!(s["goals"][1]["met"], json!(true));
        assert_eq!(s["window"][1]["received_per_s"], Value::Null);
    }

    #[test]
    fn table() {
        let t = markdown(&sample());
        let lines: Vec<&str> = t.lines().collect();
        let row = lines.iter().find(|l| l.contains("(`ours-ack`)")).unwrap();
        assert_eq!(
            *row,
            "| ours, ack (`ours-ack`) | 20,000 | 10,000 / 30,000 | 40,000 | 0 | 2 | 1.50 | 9 | \
             0.50 | 0.25 (store-writer) | 0.80 | 2.0 |"
        );
        let mosq = lines
            .iter()
            .find(|l| l.contains("(`mosquitto-persist`)"))
            .unwrap();
        assert!(mosq.contains("| 20,000 / **failed** |"), "{mosq}");
        assert!(t.contains("| `ours-ack` / `ours-memory` | 0.44 | 0.25, 0.60 | >= 0.50 | **no** |"));
        assert!(
            t.contains("| `ours-ack` / `mosquitto-persist` | 1.00 | 0.50 | >= 1.00 | **yes** |")
        );
        assert!(
            t.contains("| `ours-ack-w100` / `ours-ack` | 1.00 | 2.00 |"),
            "{t}"
        );
        assert!(!t.contains("ours-memory-w100"));
        let restart = lines
            .iter()
            .find(|l| l.starts_with("| ours | SIGKILL"))
            .unwrap();
        assert_eq!(
            *restart,
            "| ours | SIGKILL | 50.0 → 50.0 | 0.001 | 1.500 | 100.0 | 100,000 / 100,000 | yes, 5 / 5 | \
             12,346 |"
        );
        let failed = lines.iter().find(|l| l.starts_with("| mosquitto")).unwrap();
        assert!(
            failed.contains("**failed**: no CONNACK \\| x |"),
            "{failed}"
        );
        // Every row of a table has as many cells as its header.
        for block in t.split("\n\n") {
            let rows: Vec<&str> = block.lines().filter(|l| l.starts_with('|')).collect();
            if let Some(head) = rows.first() {
                let n = head.matches(" | ").count();
                for r in &rows[2..] {
                    assert_eq!(r.matches(" | ").count(), n, "{r}");
                }
            }
        }
        assert!(t.ends_with("Notes:\n\n- a note\n"));
    }
}
