//! One bridge's task: connects to the remote broker (fail-over between its addresses, restart
//! with backoff), attaches the bridge's session in this broker, and carries messages both ways
//! until the connection is lost or the server shuts down.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mqtt_client::{AckToken, ClientError, ClientOptions, Messages, Reconnect, TlsOptions};
use mqtt_codec::{
    Connect, LastWill, MqttString, Packet, PacketId, ProtocolVersion, PubAck, PubComp, PubRec,
    Publish, QoS, ReasonCode, RetainHandling, SubscribeProperties, SubscriptionOptions,
    TopicFilter, TopicName,
};
use mqtt_session::Message;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use super::config::{Bridge, BridgeAddress, RestartTimeout, StartType};
use super::topic;
use crate::client::{ClientRef, ConnectionId, Role};
use crate::clock;
use crate::config::{Listener, TlsVersion};
use crate::hub::{Ending, Hub};

/// How long to wait for the TCP (and TLS) connection and the CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the last messages (the `0` notification, DISCONNECT) may take at shutdown, and the
/// store's commit of the last messages from the remote broker before they are acknowledged.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the remote broker may take to answer the SUBSCRIBE or the `1` notification, and
/// the client to take a message to forward (its queue full): past that the connection is
/// deemed stalled, and closed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// While connected to a secondary address without `round_robin`, how often the main address is
/// probed (Mosquitto checks it periodically too).
const PRIMARY_PROBE: Duration = Duration::from_secs(5);

/// Runs one bridge until the server shuts down (or, with `start_type once`, until its
/// connection ends).
pub(crate) async fn run(hub: Arc<Hub>, bridge: Bridge, mut shutdown: watch::Receiver<bool>) {
    if bridge.start_type == StartType::Lazy {
        warn!(
            "Warning: Bridge {}: start_type lazy is not supported; starting it now.",
            bridge.name
        );
    }
    let mut runner = Runner {
        hub,
        bridge,
        address: 0,
        private_refused: false,
        backoff: None,
        notified: AtomicU8::new(NOT_NOTIFIED),
        local_refusal_warned: AtomicBool::new(false),
    };
    // Messages for the bridge queue in its session from the start, before the first
    // connection (unless it starts clean each time anyway).
    if !runner.bridge.local_clean_session {
        // Without the retained messages: those are sent when the bridge connects.
        if let Some(local) = runner.attach_local(false) {
            runner.detach_local(&local);
        }
    }
    loop {
        if *shutdown.borrow() {
            return;
        }
        let outcome = runner.connect_once(&mut shutdown).await;
        let delay = match outcome {
            Outcome::Shutdown => return,
            Outcome::RetryNow => continue,
            Outcome::Failed | Outcome::Lost => {
                if runner.bridge.start_type == StartType::Once {
                    info!(
                        "Bridge {} stopped (start_type once): not restarting it.",
                        runner.bridge.name
                    );
                    return;
                }
                runner.next_delay()
            }
        };
        debug!("Bridge {}: restarting in {delay:?}.", runner.bridge.name);
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// [`Runner::notified`] before the first notification.
const NOT_NOTIFIED: u8 = u8::MAX;

/// How one connection attempt ended.
enum Outcome {
    /// The server is shutting down.
    Shutdown,
    /// Connect again at once (the remote refused `try_private`, or the main address is back).
    RetryNow,
    /// The connection could not be made.
    Failed,
    /// An established connection was lost.
    Lost,
}

/// Why [`Runner::relay`] stopped carrying messages.
enum Exit {
    /// The server is shutting down; the connection still works.
    Shutdown,
    /// The main address is reachable again; the connection still works.
    MainBack,
    /// The connection still works, but cannot be used: it stalled, or the local session was
    /// taken over.
    Stalled,
    /// The connection is gone.
    Lost,
}

/// A wait under way, polled in place by a `select!` branch: a store commit, the probe of the
/// main address.
type Waiting = Pin<Box<dyn Future<Output = bool> + Send>>;

/// The acknowledgements to the remote broker of its QoS 1 and 2 messages once they are
/// published here, in the order of the messages: with `persistence_sync ack`, each waits until
/// the store has committed what publishing its message changed, so that an acknowledged
/// message survives a crash of this broker.
struct Acks {
    hub: Arc<Hub>,
    queue: VecDeque<AckToken>,
    /// The latest store change of the queued messages.
    seq: u64,
    /// The wait for the commit that covers the first `.0` acknowledgements.
    wait: Option<(usize, Waiting)>,
}

impl Acks {
    fn new(hub: Arc<Hub>) -> Self {
        Acks {
            hub,
            queue: VecDeque::new(),
            seq: 0,
            wait: None,
        }
    }

    /// A message was published here, with the store change `seq` (0: none to wait for).
    fn push(&mut self, client: &mqtt_client::Client, seq: u64, token: AckToken) {
        if seq == 0 && self.queue.is_empty() {
            // An ended client cannot acknowledge: the remote broker sends the message again
            // to a resumed session, or forgets it with its session.
            let _ = client.ack(token);
            return;
        }
        self.queue.push_back(token);
        self.seq = self.seq.max(seq);
        self.start();
    }

    fn start(&mut self) {
        if self.wait.is_none() && !self.queue.is_empty() {
            let (hub, seq) = (self.hub.clone(), self.seq);
            self.wait = Some((
                self.queue.len(),
                Box::pin(async move { hub.store_barrier(seq).await }),
            ));
        }
    }

    fn waiting(&self) -> bool {
        self.wait.is_some()
    }

    /// Resolves when the commit waited for is done (cancel safe: the wait stays in place);
    /// hand the result to [`Acks::release`]. Never resolves while nothing is waited for.
    async fn committed(&mut self) -> (usize, bool) {
        match &mut self.wait {
            Some((n, wait)) => (*n, wait.await),
            None => std::future::pending().await,
        }
    }

    /// Acknowledges the first `n` messages if their changes are durable (`ok`); otherwise they
    /// stay unacknowledged, for the remote broker to send again.
    fn release(&mut self, client: &mqtt_client::Client, n: usize, ok: bool) {
        self.wait = None;
        let n = n.min(self.queue.len());
        for token in self.queue.drain(..n) {
            if ok {
                let _ = client.ack(token);
            }
        }
        if !ok {
            warn!("Warning: messages from the remote broker could not be made durable; not acknowledged.");
        }
        self.start();
    }

    /// Waits (at most `limit`) for the pending commits and sends their acknowledgements.
    async fn flush(&mut self, client: &mqtt_client::Client, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.waiting() {
            match tokio::time::timeout_at(deadline, self.committed()).await {
                Ok((n, ok)) => self.release(client, n, ok),
                Err(_) => return,
            }
        }
    }
}

/// The bridge's session in this broker, attached (owned) by the bridge.
struct Local {
    client: ClientRef,
    conn_id: ConnectionId,
}

/// A QoS 1 or 2 message sent on to the remote broker: its packet identifier in the local
/// session, and the remote broker's answer.
type Forwarded = (
    PacketId,
    QoS,
    Result<mqtt_client::PublishOutcome, ClientError>,
);

struct Runner {
    hub: Arc<Hub>,
    bridge: Bridge,
    /// The index of the address to connect to next.
    address: usize,
    /// The remote broker refused Mosquitto's private protocol level: use the standard one.
    private_refused: bool,
    /// The last restart delay (grows with `restart_timeout base cap`); `None` after a
    /// successful connection.
    backoff: Option<Duration>,
    /// The state last published on the notification topic in this broker: each change is
    /// published once (the loss of a connection is seen both by the client and by the task).
    /// [`NOT_NOTIFIED`] or `up as u8`; atomic only so that `&Runner` may cross an `.await`.
    notified: AtomicU8,
    /// This broker refused some of the local subscriptions and it was said (once per
    /// connection).
    local_refusal_warned: AtomicBool,
}

impl Runner {
    fn current_address(&self) -> Option<&BridgeAddress> {
        self.bridge
            .addresses
            .get(self.address)
            .or_else(|| self.bridge.addresses.first())
    }

    fn next_address(&mut self) {
        let n = self.bridge.addresses.len().max(1);
        self.address = (self.address + 1) % n;
    }

    /// The wait before the next attempt.
    fn next_delay(&mut self) -> Duration {
        match self.bridge.restart_timeout {
            RestartTimeout::Constant(d) => d,
            RestartTimeout::Backoff { base, cap } => {
                // Mosquitto's "decorrelated jitter": a random wait between the base and three
                // times the previous one, at most the cap.
                let previous = self.backoff.unwrap_or(base);
                let high = previous.saturating_mul(3).min(cap).max(base);
                let span = high.saturating_sub(base).as_millis();
                let offset = u64::try_from(random_u64() as u128 % (span + 1)).unwrap_or(0);
                let delay = (base + Duration::from_millis(offset)).min(cap);
                self.backoff = Some(delay);
                delay
            }
        }
    }

    /// Whether one client, and so one session on the remote broker, serves every connection:
    /// with `cleansession false` (a session the remote broker keeps), one address (fail-over
    /// starts over on another broker, which has no session anyway) and restarts allowed.
    fn keeps_remote_session(&self) -> bool {
        !self.bridge.clean_session
            && self.bridge.addresses.len() == 1
            && self.bridge.start_type != StartType::Once
    }

    fn uses_private_level(&self) -> bool {
        self.bridge.try_private && !self.bridge.protocol.is_v5() && !self.private_refused
    }

    /// The options of the connection to the remote broker at `address`.
    fn client_options(&self, address: &BridgeAddress) -> ClientOptions {
        let b = &self.bridge;
        let mut options =
            ClientOptions::tcp(address.host.clone(), address.port).version(b.protocol);
        options.connect_timeout = CONNECT_TIMEOUT;
        // A message from the remote broker is acknowledged once it is published here (and
        // stored): until then the remote broker holds it, and sends it again to a resumed
        // session if the connection ends first.
        options.manual_acks = true;
        options.bind_address = b.bind_address.clone();
        options.nodelay = true;
        let connect = &mut options.connect;
        connect.clean_start = b.clean_session;
        connect.keep_alive = b.keepalive;
        connect.bridge = self.uses_private_level();
        if let Ok(id) = MqttString::new(b.remote_clientid.clone()) {
            connect.client_id = id;
        }
        connect.username = b
            .remote_username
            .as_ref()
            .and_then(|u| MqttString::new(u.clone()).ok());
        connect.password = b
            .remote_password
            .as_ref()
            .map(|p| bytes::Bytes::from(p.clone().into_bytes()));
        if b.protocol.is_v5() && !b.clean_session {
            // A persistent session on the remote broker, as Clean Session 0 asks in 3.1.1.
            connect.properties.session_expiry_interval = Some(u32::MAX);
        }
        if b.notifications && !b.notifications_local_only {
            if let Ok(topic) = TopicName::new(b.notification_topic.as_str()) {
                connect.will = Some(LastWill {
                    topic,
                    payload: bytes::Bytes::from_static(b"0"),
                    qos: QoS::AtLeastOnce,
                    retain: true,
                    ..LastWill::default()
                });
            }
        }
        if self.keeps_remote_session() {
            // The client reconnects by itself and resumes its session: QoS 1 and 2 messages
            // in flight either way complete where they stopped (PUBLISH again with DUP,
            // PUBREL again, a re-sent PUBLISH recognised), as Mosquitto's bridge keeps its
            // in-flight messages across reconnections.
            let (min_delay, max_delay) = match b.restart_timeout {
                RestartTimeout::Constant(d) => (d, d),
                RestartTimeout::Backoff { base, cap } => (base, cap),
            };
            options.reconnect = Some(Reconnect {
                min_delay,
                max_delay,
            });
        }
        if let Some(tls) = &b.tls {
            let mut t = TlsOptions::new();
            t.ca_file = tls.cafile.clone();
            t.ca_dir = tls.capath.clone();
            t.client_cert = tls.certfile.clone();
            t.client_key = tls.keyfile.clone();
            t.insecure = tls.insecure;
            if let Some(alpn) = &tls.alpn {
                t = t.with_alpn(alpn.as_bytes());
            }
            t.versions = match tls.version {
                Some(TlsVersion::Tls1_3) => vec![mqtt_client::TlsVersion::Tls13],
                Some(_) => vec![mqtt_client::TlsVersion::Tls12],
                None => Vec::new(),
            };
            options.tls = Some(t);
        }
        options
    }

    /// One connection: made, used until lost or shut down.
    async fn connect_once(&mut self, shutdown: &mut watch::Receiver<bool>) -> Outcome {
        let Some(address) = self.current_address().cloned() else {
            return Outcome::Shutdown;
        };
        let name = self.bridge.name.clone();
        info!("Connecting bridge {name} ({address})");
        let private = self.uses_private_level();
        let options = self.client_options(&address);
        let connected = tokio::select! {
            c = mqtt_client::connect(options) => c,
            _ = shutdown.changed() => return Outcome::Shutdown,
        };
        let (client, messages, _connack) = match connected {
            Ok(c) => c,
            Err(ClientError::Refused(connack))
                if private && connack.reason_code == ReasonCode::UnsupportedProtocolVersion =>
            {
                warn!(
                    "Warning: Bridge {name}: {address} does not accept bridge connections (try_private); connecting again as a plain client."
                );
                self.private_refused = true;
                return Outcome::RetryNow;
            }
            Err(e) => {
                warn!("Warning: Unable to connect bridge {name} to {address}: {e}.");
                self.next_address();
                return Outcome::Failed;
            }
        };
        self.backoff = None;
        let Some(local) = self.attach_local(true) else {
            let _ = client.disconnect().await;
            return Outcome::Failed;
        };
        info!(
            "Bridge {name} connected to {address} as {}.",
            self.bridge.remote_clientid
        );
        let outcome = self
            .serve(&client, messages, &local, &address, shutdown)
            .await;
        self.notify_local(false);
        self.detach_local(&local);
        self.local_refusal_warned.store(false, Ordering::Relaxed);
        if matches!(outcome, Outcome::Lost) {
            self.next_address();
        }
        outcome
    }

    /// Carries messages both ways until the connection ends; then takes in what the remote
    /// broker sent that is still waiting in `messages`.
    async fn serve(
        &mut self,
        client: &mqtt_client::Client,
        mut messages: Messages,
        local: &Local,
        address: &BridgeAddress,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let mut acks = Acks::new(self.hub.clone());
        let exit = self
            .relay(client, &mut messages, &mut acks, local, address, shutdown)
            .await;
        let outcome = match exit {
            Exit::Lost => Outcome::Lost,
            Exit::Shutdown | Exit::MainBack | Exit::Stalled => {
                // The connection still carries acknowledgements: what the remote broker sent
                // is published here and acknowledged before the bridge disconnects.
                self.take_in(client, &mut messages, &mut acks, local);
                acks.flush(client, CLOSE_TIMEOUT).await;
                match exit {
                    Exit::MainBack => {
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, client.disconnect()).await;
                        self.address = 0;
                        Outcome::RetryNow
                    }
                    Exit::Shutdown => {
                        self.close(client).await;
                        Outcome::Shutdown
                    }
                    _ => {
                        self.close(client).await;
                        Outcome::Lost
                    }
                }
            }
        };
        self.leave_in(&mut messages, local);
        outcome
    }

    /// Messages from the remote broker waiting in `messages` while the connection still works:
    /// published here, acknowledged (through `acks`).
    fn take_in(
        &self,
        client: &mqtt_client::Client,
        messages: &mut Messages,
        acks: &mut Acks,
        local: &Local,
    ) {
        while let Some((message, ack)) = messages.try_recv_with_ack() {
            let seq = self.bring_in(local, message);
            if let Some(ack) = ack {
                acks.push(client, seq, ack);
            }
        }
    }

    /// Messages from the remote broker still waiting in `messages` once the connection is
    /// gone: they can no longer be acknowledged. With `cleansession false` the remote broker
    /// keeps them in the bridge's session and sends them again on the next connection, so the
    /// QoS 1 and 2 ones are left to it (published now, they would come twice); with
    /// `cleansession true` it forgets them with the session, so they are published now. QoS 0
    /// messages are published either way.
    fn leave_in(&self, messages: &mut Messages, local: &Local) {
        let resent = !self.bridge.clean_session;
        while let Some((message, ack)) = messages.try_recv_with_ack() {
            if ack.is_some() && resent {
                continue;
            }
            self.bring_in(local, message);
        }
    }

    /// Carries messages both ways until the connection ends, the server shuts down, or the
    /// main address is back.
    async fn relay(
        &mut self,
        client: &mqtt_client::Client,
        messages: &mut Messages,
        acks: &mut Acks,
        local: &Local,
        address: &BridgeAddress,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Exit {
        let name = self.bridge.name.clone();
        let subscribed = tokio::select! {
            r = tokio::time::timeout(REQUEST_TIMEOUT, self.subscribe_remote(client)) => r,
            _ = shutdown.changed() => return Exit::Shutdown,
        };
        match subscribed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                warn!("Warning: Bridge {name}: subscribing on {address} failed: {e}.");
                return Exit::Lost;
            }
            Err(_) => {
                warn!("Warning: Bridge {name}: {address} did not answer the subscription in time.");
                return Exit::Stalled;
            }
        }
        self.notify_local(true);
        if self.bridge.notifications && !self.bridge.notifications_local_only {
            let notified = tokio::select! {
                r = tokio::time::timeout(REQUEST_TIMEOUT, self.notify_remote(client, true)) => r,
                _ = shutdown.changed() => return Exit::Shutdown,
            };
            match notified {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    warn!("Warning: Bridge {name}: {e}.");
                    return Exit::Lost;
                }
                Err(_) => {
                    warn!("Warning: Bridge {name}: {address} did not acknowledge the notification in time.");
                    return Exit::Stalled;
                }
            }
        }
        let mut forwarded: JoinSet<Forwarded> = JoinSet::new();
        // The main address is probed now and then, concurrently: the loop goes on meanwhile.
        let probing = !self.bridge.round_robin && self.address != 0;
        let main = self
            .bridge
            .addresses
            .first()
            .map(|a| (a.host.clone(), a.port));
        let mut probe =
            tokio::time::interval_at(tokio::time::Instant::now() + PRIMARY_PROBE, PRIMARY_PROBE);
        probe.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut probe_attempt: Option<Waiting> = None;
        // Whether the client is connected: it reconnects by itself when it keeps its session
        // (`keeps_remote_session`); meanwhile the local session stays attached and holds what
        // the remote broker is to get (within max_queued_messages), and its messages already
        // handed to the client complete once it has resumed its session.
        let mut status = client.connection_status();
        let mut online = true;
        let mut reconnects = self.keeps_remote_session();
        loop {
            // What the local session has for the remote broker.
            let Some(publishes) = self.drain_local(local, online) else {
                warn!(
                    "Warning: Bridge {name}: its local session was taken over by another client."
                );
                return Exit::Stalled;
            };
            for publish in publishes {
                let sent = tokio::select! {
                    r = tokio::time::timeout(
                        REQUEST_TIMEOUT,
                        self.forward(client, local, publish, &mut forwarded),
                    ) => r,
                    _ = shutdown.changed() => return Exit::Shutdown,
                };
                match sent {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        warn!("Warning: Bridge {name} lost its connection to {address}: {e}.");
                        return Exit::Lost;
                    }
                    Err(_) => {
                        warn!("Warning: Bridge {name}: the connection to {address} stalled (a message could not be sent for {REQUEST_TIMEOUT:?}).");
                        return Exit::Stalled;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => return Exit::Shutdown,
                reason = client.closed() => {
                    match reason {
                        Some(e) => warn!("Warning: Bridge {name} lost its connection to {address}: {e}."),
                        None => warn!("Warning: Bridge {name} lost its connection to {address}."),
                    }
                    return Exit::Lost;
                }
                message = messages.recv_with_ack() => match message {
                    Some((m, ack)) => {
                        let seq = self.bring_in(local, m);
                        if let Some(ack) = ack {
                            acks.push(client, seq, ack);
                        }
                    }
                    None => {
                        warn!("Warning: Bridge {name} lost its connection to {address}.");
                        return Exit::Lost;
                    }
                },
                (n, ok) = acks.committed(), if acks.waiting() => acks.release(client, n, ok),
                () = local.client.0.wake.woken(local.conn_id) => {}
                changed = status.changed(), if reconnects => {
                    if changed.is_err() {
                        // The client has ended: `closed()` says why.
                        reconnects = false;
                        continue;
                    }
                    let up = *status.borrow_and_update();
                    if up == online {
                        continue;
                    }
                    online = up;
                    if up {
                        info!("Bridge {name} connected to {address} again; session resumed.");
                        self.resumed(client, local);
                    } else {
                        warn!("Warning: Bridge {name} lost its connection to {address}; reconnecting.");
                        self.notify_local(false);
                    }
                }
                Some(done) = forwarded.join_next(), if !forwarded.is_empty() => {
                    // Completed, or dropped for good by the client (too large, expired, or
                    // taken with PUBREC by a remote broker that then lost the session): done
                    // with in the local session too. If the client ended instead, the message
                    // stays unacknowledged there and is sent again on the next connection.
                    if let Ok((id, qos, Ok(_) | Err(ClientError::Dropped(_)))) = done {
                        self.ack_local(local, id, qos);
                    }
                }
                _ = probe.tick(), if probing && probe_attempt.is_none() => {
                    if let Some((host, port)) = main.clone() {
                        probe_attempt = Some(Box::pin(async move {
                            tokio::time::timeout(
                                PRIMARY_PROBE,
                                tokio::net::TcpStream::connect((host.as_str(), port)),
                            )
                            .await
                            .is_ok_and(|r| r.is_ok())
                        }));
                    }
                }
                reachable = poll_probe(&mut probe_attempt), if probe_attempt.is_some() => {
                    probe_attempt = None;
                    if reachable {
                        if let Some(main) = self.bridge.addresses.first() {
                            info!("Bridge {name}: the main address {main} is reachable again; reconnecting to it.");
                        }
                        return Exit::MainBack;
                    }
                }
            }
        }
    }

    /// Subscribes on the remote broker to the `in`/`both` topics.
    async fn subscribe_remote(&self, client: &mqtt_client::Client) -> Result<(), ClientError> {
        let v5 = self.bridge.protocol.is_v5();
        let filters: Vec<(TopicFilter, SubscriptionOptions)> = self
            .bridge
            .topics
            .iter()
            .filter(|t| t.direction.is_in())
            .filter_map(|t| {
                let filter = TopicFilter::new(t.remote_filter()).ok()?;
                let mut options = SubscriptionOptions::with_qos(t.qos);
                // MQTT 5: not our own messages back, retained flags kept (3.1.1 relies on
                // try_private for both).
                options.no_local = v5;
                options.retain_as_published = v5;
                Some((filter, options))
            })
            .collect();
        if filters.is_empty() {
            return Ok(());
        }
        for (filter, options) in &filters {
            debug!(
                "Bridge {} sending SUBSCRIBE (Topic: {}, QoS: {})",
                self.bridge.local_clientid, filter, options.qos as u8
            );
        }
        let suback = client
            .subscribe(filters.clone(), SubscribeProperties::default())
            .await?;
        for ((filter, _), code) in filters.iter().zip(&suback.reason_codes) {
            if code.is_error() {
                warn!(
                    "Warning: Bridge {}: the remote broker refused the subscription to {filter} ({code}).",
                    self.bridge.name
                );
            }
        }
        Ok(())
    }

    /// The client is connected again with its session (`keeps_remote_session`): as on a first
    /// connection, the local retained messages of the `out` topics go to the remote broker
    /// again and the state is `1` again (the remote broker published the will).
    fn resumed(&self, client: &mqtt_client::Client, local: &Local) {
        self.subscribe_local(&local.client, true);
        self.notify_local(true);
        if self.bridge.notifications && !self.bridge.notifications_local_only {
            if let Ok(topic) = TopicName::new(self.bridge.notification_topic.as_str()) {
                // Not waited for: the client sends it, again if need be, on its own.
                let client = client.clone();
                tokio::spawn(async move {
                    if let Ok(delivery) = client.publish(topic, "1", QoS::AtLeastOnce, true).await {
                        drop(delivery);
                    }
                });
            }
        }
    }

    /// Publishes the bridge's state in this broker.
    fn notify_local(&self, up: bool) {
        if !self.bridge.notifications
            || self.notified.swap(u8::from(up), Ordering::Relaxed) == u8::from(up)
        {
            return;
        }
        let Ok(topic) = TopicName::new(self.bridge.notification_topic.as_str()) else {
            return;
        };
        let mut m = Message::new(topic, if up { "1" } else { "0" }, QoS::AtLeastOnce);
        m.retain = true;
        let _gate = self.hub.store_gate();
        self.hub.publish(None, m, clock::now());
    }

    /// Publishes the bridge's state on the remote broker and waits for its acknowledgement.
    async fn notify_remote(
        &self,
        client: &mqtt_client::Client,
        up: bool,
    ) -> Result<(), ClientError> {
        let topic = TopicName::new(self.bridge.notification_topic.as_str())?;
        let payload = if up { "1" } else { "0" };
        client
            .publish(topic, payload, QoS::AtLeastOnce, true)
            .await?
            .await
            .map(|_| ())
    }

    /// Server shutdown: `0` on the remote broker (where the will would have said it), then
    /// DISCONNECT.
    async fn close(&self, client: &mqtt_client::Client) {
        if self.bridge.notifications && !self.bridge.notifications_local_only {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.notify_remote(client, false)).await;
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, client.disconnect()).await;
        info!("Bridge {} disconnected.", self.bridge.name);
    }

    /// Attaches the bridge's session in this broker and subscribes it to the `out`/`both`
    /// topics (No Local, Retain As Published), with their retained messages when
    /// `with_retained`.
    fn attach_local(&self, with_retained: bool) -> Option<Local> {
        let b = &self.bridge;
        let client_id = MqttString::new(b.local_clientid.clone()).ok()?;
        let mut connect = Connect {
            protocol: ProtocolVersion::V5,
            clean_start: b.local_clean_session,
            keep_alive: 0,
            client_id,
            username: b
                .local_username
                .as_ref()
                .and_then(|u| MqttString::new(u.clone()).ok()),
            ..Connect::default()
        };
        // Kept while the remote broker is unreachable, unless local_cleansession.
        connect.properties.session_expiry_interval =
            Some(if b.local_clean_session { 0 } else { u32::MAX });
        let accepted = match self.hub.connect(
            &connect,
            0,
            &Listener::default(),
            &format!("bridge {}", b.name),
            Role::LocalBridge,
        ) {
            Ok(a) => a,
            Err(connack) => {
                warn!(
                    "Warning: Bridge {}: its local session was refused ({}).",
                    b.name, connack.reason_code
                );
                return None;
            }
        };
        self.subscribe_local(&accepted.client, with_retained);
        Some(Local {
            client: accepted.client,
            conn_id: accepted.conn_id,
        })
    }

    /// Subscribes the bridge's local session to the `out`/`both` topics (again: the same
    /// subscriptions replace the previous ones). With `with_retained`, the retained messages
    /// they match are queued in the session, RETAIN 1, to go to the remote broker: Mosquitto
    /// (`bridge__on_connect`) does so each time a bridge connects.
    fn subscribe_local(&self, client: &ClientRef, with_retained: bool) {
        let b = &self.bridge;
        let filters: Vec<(TopicFilter, SubscriptionOptions)> = b
            .topics
            .iter()
            .filter(|t| t.direction.is_out())
            .filter_map(|t| {
                let filter = TopicFilter::new(t.local_filter()).ok()?;
                debug!(
                    "Bridge {} doing local SUBSCRIBE on topic {}",
                    b.local_clientid, filter
                );
                let mut options = SubscriptionOptions::with_qos(t.qos);
                options.no_local = true;
                options.retain_as_published = true;
                options.retain_handling = if with_retained {
                    RetainHandling::SendAtSubscribe
                } else {
                    RetainHandling::DoNotSend
                };
                Some((filter, options))
            })
            .collect();
        let (false, Ok(id)) = (filters.is_empty(), PacketId::try_from(1)) else {
            return;
        };
        let names: Vec<TopicFilter> = filters.iter().map(|(f, _)| f.clone()).collect();
        let subscribe = mqtt_codec::Subscribe {
            packet_id: id,
            properties: SubscribeProperties::default(),
            filters,
        };
        let (suback, retained) =
            self.hub
                .subscribe(client, ProtocolVersion::V5, QoS::ExactlyOnce, subscribe);
        let refused: Vec<String> = names
            .iter()
            .zip(&suback.reason_codes)
            .filter(|(_, code)| code.is_error())
            .map(|(filter, code)| format!("{filter} ({code})"))
            .collect();
        if !refused.is_empty() && !self.local_refusal_warned.swap(true, Ordering::Relaxed) {
            warn!(
                "Warning: Bridge {}: this broker refused its subscription to {}; those messages do not go to the remote broker.",
                b.name,
                refused.join(", ")
            );
        }
        if retained.is_empty() {
            return;
        }
        {
            let mut st = client.0.lock();
            let now = clock::now();
            for m in retained {
                crate::client::queue_retained(&mut st.session, now, m);
            }
        }
        self.hub.session_changed(client);
        client.0.wake.notify_one();
    }

    /// The bridge's session goes offline (messages for it queue, or it ends with
    /// `local_cleansession`).
    fn detach_local(&self, local: &Local) {
        self.hub
            .disconnected(&local.client, local.conn_id, Ending::Normal);
    }

    /// The PUBLISH packets the local session has for the remote broker; answers its PUBRELs
    /// at once. `None` when the session is no longer the bridge's. While the client is
    /// reconnecting (`online` false), nothing is taken: the session holds it.
    fn drain_local(&self, local: &Local, online: bool) -> Option<Vec<Publish>> {
        let mut publishes = Vec::new();
        let mut completed = false;
        {
            let mut st = local.client.0.lock();
            if st.owner != Some(local.conn_id) {
                return None;
            }
            if !online {
                return Some(publishes);
            }
            let now = clock::now();
            while let Some(packet) = st.session.poll_transmit(now) {
                match packet {
                    Packet::Publish(p) => publishes.push(p),
                    // QoS 2: the remote broker has the message (PUBREC fed below); complete.
                    Packet::PubRel(r) => {
                        st.session
                            .handle_packet(now, Packet::PubComp(PubComp::new(r.packet_id)));
                        completed = true;
                    }
                    // The CONNACK and SUBACK of the attachment: nobody to send them to.
                    _ => {}
                }
            }
            while st.session.poll_event().is_some() {}
        }
        if completed || !publishes.is_empty() {
            // Messages moved in flight (with their packet identifiers), flows completed: the
            // stored session follows.
            self.hub.session_changed(&local.client);
        }
        local.client.0.release_waiters();
        Some(publishes)
    }

    /// Sends one message of the local session on to the remote broker.
    async fn forward(
        &self,
        client: &mqtt_client::Client,
        local: &Local,
        publish: Publish,
        forwarded: &mut JoinSet<Forwarded>,
    ) -> Result<(), ClientError> {
        let qos = publish.qos.qos();
        let id = match publish.qos {
            mqtt_codec::PublishQos::AtMostOnce => None,
            mqtt_codec::PublishQos::AtLeastOnce(id) | mqtt_codec::PublishQos::ExactlyOnce(id) => {
                Some(id)
            }
        };
        let Some(remote_topic) = topic::local_to_remote(&self.bridge.topics, &publish.topic) else {
            debug!(
                "Bridge {}: '{}' remaps to no valid topic; not forwarded.",
                self.bridge.name, publish.topic
            );
            if let Some(id) = id {
                self.ack_local(local, id, qos);
            }
            return Ok(());
        };
        // The QoS is already that of the local subscription at most.
        let mut message = Message {
            topic: remote_topic,
            payload: publish.payload,
            qos,
            retain: publish.retain && self.bridge.outgoing_retain,
            properties: publish.properties,
        };
        if !message.properties.subscription_identifiers.is_empty() {
            message.properties.subscription_identifiers = Vec::new();
        }
        debug!(
            "Bridge {} sending PUBLISH (q{}, r{}, '{}', ... ({} bytes))",
            self.bridge.remote_clientid,
            message.qos as u8,
            u8::from(message.retain),
            message.topic,
            message.payload.len()
        );
        let delivery = client.publish_message(message).await?;
        if let Some(id) = id {
            forwarded.spawn(async move { (id, qos, delivery.await) });
        }
        Ok(())
    }

    /// The remote broker acknowledged a message: so does the bridge, to its local session.
    fn ack_local(&self, local: &Local, id: PacketId, qos: QoS) {
        {
            let mut st = local.client.0.lock();
            if st.owner != Some(local.conn_id) {
                return;
            }
            let ack = match qos {
                QoS::AtLeastOnce => Packet::PubAck(PubAck::new(id)),
                QoS::ExactlyOnce => Packet::PubRec(PubRec::new(id)),
                QoS::AtMostOnce => return,
            };
            st.session.handle_packet(clock::now(), ack);
        }
        self.hub.session_changed(&local.client);
        // Its PUBREL, or messages that waited for room in flight.
        local.client.0.wake.notify_one();
    }

    /// A message from the remote broker: published in this broker. Returns the store change
    /// that publishing it made (0: none), whose commit its acknowledgement waits for.
    fn bring_in(&self, local: &Local, mut message: Message) -> u64 {
        // A topic no `in` line remaps comes in unchanged, as in Mosquitto.
        let Some(local_topic) = topic::remote_to_local(&self.bridge.topics, &message.topic) else {
            debug!(
                "Bridge {}: '{}' from the remote broker remaps to no valid topic; dropped.",
                self.bridge.name, message.topic
            );
            return 0;
        };
        debug!(
            "Bridge {} received PUBLISH (q{}, r{}, '{}', ... ({} bytes))",
            self.bridge.remote_clientid,
            message.qos as u8,
            u8::from(message.retain),
            message.topic,
            message.payload.len()
        );
        // The QoS is already that of the remote subscription at most.
        message.topic = local_topic;
        if !message.properties.subscription_identifiers.is_empty() {
            message.properties.subscription_identifiers = Vec::new();
        }
        let persists = self.hub.persists();
        if persists {
            // From here on, changes submitted on this thread are this message's (no `.await`
            // until they are taken below).
            crate::store::take_submitted_here();
        }
        {
            let _gate = self.hub.store_gate();
            self.hub.publish(Some(&local.client), message, clock::now());
        }
        if persists {
            crate::store::take_submitted_here()
        } else {
            0
        }
    }
}

/// The probe of the main address under way, polled in place (cancel safe); never resolves
/// when there is none.
async fn poll_probe(attempt: &mut Option<Waiting>) -> bool {
    match attempt {
        Some(probe) => probe.await,
        None => std::future::pending().await,
    }
}

/// A random number for the restart jitter (0 when the system has none to give).
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
}
