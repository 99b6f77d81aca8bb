//! `$SYS/broker/...` topics, with Mosquitto's names, published as retained messages every
//! `sys_interval` seconds (only the values that changed, as Mosquitto does).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqtt_codec::{QoS, TopicName};
use mqtt_session::Message;
use tokio::sync::watch;

use crate::hub::Hub;

/// Exponentially weighted per-minute rates, like Mosquitto's `load/.../1min|5min|15min`.
#[derive(Default)]
struct Load {
    last: u64,
    averages: [f64; 3],
}

impl Load {
    const WINDOWS: [(f64, &'static str); 3] = [(60.0, "1min"), (300.0, "5min"), (900.0, "15min")];

    fn update(&mut self, total: u64, interval: f64) -> [f64; 3] {
        let per_minute = (total.saturating_sub(self.last)) as f64 * 60.0 / interval.max(1e-3);
        self.last = total;
        for (avg, (window, _)) in self.averages.iter_mut().zip(Self::WINDOWS) {
            let decay = (-interval / window).exp();
            *avg = *avg * decay + per_minute * (1.0 - decay);
        }
        self.averages
    }
}

/// Publishes the `$SYS` tree every `sys_interval` seconds until shutdown; not while
/// `sys_interval` is 0. A reloaded `sys_interval` applies at once.
pub(crate) async fn run(hub: Arc<Hub>, mut shutdown: watch::Receiver<bool>) {
    let mut changes = hub.config_changes();
    let started = Instant::now();
    let mut last: HashMap<String, String> = HashMap::new();
    let mut loads: HashMap<&'static str, Load> = HashMap::new();
    loop {
        let interval = changes.borrow_and_update().sys_interval;
        if interval == 0 {
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = shutdown.changed() => return,
            }
            continue;
        }
        publish(
            &hub,
            &mut last,
            "$SYS/broker/version",
            format!("mqtt-broker version {}", env!("CARGO_PKG_VERSION")),
        );
        let mut ticker = tokio::time::interval(Duration::from_secs(u64::from(interval)));
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    if changes.borrow_and_update().sys_interval != interval {
                        break;
                    }
                    continue;
                }
                _ = shutdown.changed() => return,
            }
            update(&hub, &mut last, &mut loads, started, interval);
        }
    }
}

/// Publishes the values that changed since the last update.
fn update(
    hub: &Hub,
    last: &mut HashMap<String, String>,
    loads: &mut HashMap<&'static str, Load>,
    started: Instant,
    interval: u32,
) {
    let m = &hub.metrics;
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let sum = |c: &crate::metrics::Counter| c.get();
    let sessions = hub.session_count() as u64;
    let connected = get(&m.clients_connected);
    let values: Vec<(&str, String)> = vec![
        ("uptime", format!("{} seconds", started.elapsed().as_secs())),
        ("clients/connected", connected.to_string()),
        ("clients/active", connected.to_string()),
        (
            "clients/disconnected",
            sessions.saturating_sub(connected).to_string(),
        ),
        (
            "clients/inactive",
            sessions.saturating_sub(connected).to_string(),
        ),
        ("clients/total", sessions.to_string()),
        ("clients/maximum", get(&m.clients_maximum).to_string()),
        ("messages/received", sum(&m.messages_received).to_string()),
        ("messages/sent", sum(&m.messages_sent).to_string()),
        ("bytes/received", sum(&m.bytes_received).to_string()),
        ("bytes/sent", sum(&m.bytes_sent).to_string()),
        (
            "publish/messages/received",
            sum(&m.messages_received).to_string(),
        ),
        ("publish/messages/sent", sum(&m.messages_sent).to_string()),
        (
            "publish/messages/dropped",
            sum(&m.messages_dropped).to_string(),
        ),
        ("subscriptions/count", hub.subscription_count().to_string()),
        ("retained messages/count", hub.retained_count().to_string()),
    ];
    for (name, value) in values {
        publish(hub, last, &format!("$SYS/broker/{name}"), value);
    }
    let secs = f64::from(interval);
    for (name, total) in [
        ("messages/received", sum(&m.messages_received)),
        ("messages/sent", sum(&m.messages_sent)),
        ("publish/received", sum(&m.messages_received)),
        ("publish/sent", sum(&m.messages_sent)),
        ("bytes/received", sum(&m.bytes_received)),
        ("bytes/sent", sum(&m.bytes_sent)),
        ("connections", get(&m.clients_total_connects)),
    ] {
        let averages = loads.entry(name).or_default().update(total, secs);
        for (avg, (_, window)) in averages.iter().zip(Load::WINDOWS) {
            publish(
                hub,
                last,
                &format!("$SYS/broker/load/{name}/{window}"),
                format!("{avg:.2}"),
            );
        }
    }
}

fn publish(hub: &Hub, last: &mut HashMap<String, String>, topic: &str, value: String) {
    if last.get(topic) == Some(&value) {
        return;
    }
    let Ok(name) = TopicName::new(topic) else {
        return;
    };
    last.insert(topic.to_owned(), value.clone());
    let mut message = Message::new(name, value, QoS::AtMostOnce);
    message.retain = true;
    hub.publish_internal(message);
}
