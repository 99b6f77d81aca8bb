//! One bridge's task: connects to the remote broker (fail-over between its addresses, restart
//! with backoff), attaches the bridge's session in this broker, and carries messages both ways
//! until the connection is lost or the server shuts down.

use std::sync::Arc;
use std::time::Duration;

use mqtt_client::{ClientError, ClientOptions, Messages, TlsOptions};
use mqtt_codec::{
    Connect, LastWill, MqttString, Packet, PacketId, ProtocolVersion, PubAck, PubComp, PubRec,
    Publish, QoS, ReasonCode, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName,
};
use mqtt_session::Message;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::config::{Bridge, BridgeAddress, RestartTimeout, StartType};
use super::topic;
use crate::client::{ClientRef, ConnectionId, Role};
use crate::clock;
use crate::config::{Listener, TlsVersion};
use crate::hub::{Ending, Hub};

/// How long to wait for the TCP (and TLS) connection and the CONNACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the last messages (the `0` notification, DISCONNECT) may take at shutdown.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
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
    };
    // Messages for the bridge queue in its session from the start, before the first
    // connection (unless it starts clean each time anyway).
    if !runner.bridge.local_clean_session {
        if let Some(local) = runner.attach_local() {
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

    fn uses_private_level(&self) -> bool {
        self.bridge.try_private && !self.bridge.protocol.is_v5() && !self.private_refused
    }

    /// The options of the connection to the remote broker at `address`.
    fn client_options(&self, address: &BridgeAddress) -> ClientOptions {
        let b = &self.bridge;
        let mut options =
            ClientOptions::tcp(address.host.clone(), address.port).version(b.protocol);
        options.connect_timeout = CONNECT_TIMEOUT;
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
        let Some(local) = self.attach_local() else {
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
        if matches!(outcome, Outcome::Lost) {
            self.next_address();
        }
        outcome
    }

    /// Carries messages both ways until the connection ends.
    async fn serve(
        &mut self,
        client: &mqtt_client::Client,
        mut messages: Messages,
        local: &Local,
        address: &BridgeAddress,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Outcome {
        let name = self.bridge.name.clone();
        if let Err(e) = self.subscribe_remote(client).await {
            warn!("Warning: Bridge {name}: subscribing on {address} failed: {e}.");
            return Outcome::Lost;
        }
        self.notify_local(true);
        if self.bridge.notifications && !self.bridge.notifications_local_only {
            if let Err(e) = self.notify_remote(client, true).await {
                warn!("Warning: Bridge {name}: {e}.");
                return Outcome::Lost;
            }
        }
        let mut forwarded: JoinSet<Forwarded> = JoinSet::new();
        let mut probe = tokio::time::interval(PRIMARY_PROBE);
        probe.tick().await;
        let probing = !self.bridge.round_robin && self.address != 0;
        loop {
            // What the local session has for the remote broker.
            match self.drain_local(local) {
                None => {
                    warn!("Warning: Bridge {name}: its local session was taken over by another client.");
                    return Outcome::Lost;
                }
                Some(publishes) => {
                    for publish in publishes {
                        if let Err(e) = self.forward(client, local, publish, &mut forwarded).await {
                            warn!("Warning: Bridge {name} lost its connection to {address}: {e}.");
                            return Outcome::Lost;
                        }
                    }
                }
            }
            tokio::select! {
                _ = shutdown.changed() => {
                    self.close(client).await;
                    return Outcome::Shutdown;
                }
                reason = client.closed() => {
                    match reason {
                        Some(e) => warn!("Warning: Bridge {name} lost its connection to {address}: {e}."),
                        None => warn!("Warning: Bridge {name} lost its connection to {address}."),
                    }
                    return Outcome::Lost;
                }
                message = messages.recv() => match message {
                    Some(m) => self.bring_in(local, m),
                    None => {
                        warn!("Warning: Bridge {name} lost its connection to {address}.");
                        return Outcome::Lost;
                    }
                },
                () = local.client.0.wake.woken(local.conn_id) => {}
                Some(done) = forwarded.join_next(), if !forwarded.is_empty() => {
                    if let Ok((id, qos, Ok(_))) = done {
                        self.ack_local(local, id, qos);
                    }
                    // A failed delivery stays unacknowledged in the local session, which
                    // sends it again on the next connection.
                }
                _ = probe.tick(), if probing => {
                    if let Some(main) = self.bridge.addresses.first() {
                        let reachable = tokio::time::timeout(
                            PRIMARY_PROBE,
                            tokio::net::TcpStream::connect((main.host.as_str(), main.port)),
                        )
                        .await
                        .is_ok_and(|r| r.is_ok());
                        if reachable {
                            info!("Bridge {name}: the main address {main} is reachable again; reconnecting to it.");
                            let _ = tokio::time::timeout(CLOSE_TIMEOUT, client.disconnect()).await;
                            self.address = 0;
                            return Outcome::RetryNow;
                        }
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

    /// Publishes the bridge's state in this broker.
    fn notify_local(&self, up: bool) {
        if !self.bridge.notifications {
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
    /// topics (No Local, Retain As Published).
    fn attach_local(&self) -> Option<Local> {
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
                Some((filter, options))
            })
            .collect();
        if let (false, Ok(id)) = (filters.is_empty(), PacketId::try_from(1)) {
            let subscribe = mqtt_codec::Subscribe {
                packet_id: id,
                properties: SubscribeProperties::default(),
                filters,
            };
            // Retained messages are not sent to the remote broker on (re)connection.
            let _ = self.hub.subscribe(
                &accepted.client,
                ProtocolVersion::V5,
                QoS::ExactlyOnce,
                subscribe,
            );
        }
        Some(Local {
            client: accepted.client,
            conn_id: accepted.conn_id,
        })
    }

    /// The bridge's session goes offline (messages for it queue, or it ends with
    /// `local_cleansession`).
    fn detach_local(&self, local: &Local) {
        self.hub
            .disconnected(&local.client, local.conn_id, Ending::Normal);
    }

    /// The PUBLISH packets the local session has for the remote broker; answers its PUBRELs
    /// at once. `None` when the session is no longer the bridge's.
    fn drain_local(&self, local: &Local) -> Option<Vec<Publish>> {
        let mut publishes = Vec::new();
        {
            let mut st = local.client.0.lock();
            if st.owner != Some(local.conn_id) {
                return None;
            }
            let now = clock::now();
            while let Some(packet) = st.session.poll_transmit(now) {
                match packet {
                    Packet::Publish(p) => publishes.push(p),
                    // QoS 2: the remote broker has the message (PUBREC fed below); complete.
                    Packet::PubRel(r) => {
                        st.session
                            .handle_packet(now, Packet::PubComp(PubComp::new(r.packet_id)));
                    }
                    // The CONNACK and SUBACK of the attachment: nobody to send them to.
                    _ => {}
                }
            }
            while st.session.poll_event().is_some() {}
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
        let Some(mapped) = topic::local_to_remote(&self.bridge.topics, publish.topic.as_str())
        else {
            debug!(
                "Bridge {}: no topic line maps '{}'; not forwarded.",
                self.bridge.name, publish.topic
            );
            if let Some(id) = id {
                self.ack_local(local, id, qos);
            }
            return Ok(());
        };
        let mut message = Message {
            topic: mapped.topic,
            payload: publish.payload,
            qos: qos.min(mapped.qos),
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

    /// A message from the remote broker: published in this broker.
    fn bring_in(&self, local: &Local, mut message: Message) {
        let Some(mapped) = topic::remote_to_local(&self.bridge.topics, message.topic.as_str())
        else {
            debug!(
                "Bridge {}: no topic line maps '{}' from the remote broker; dropped.",
                self.bridge.name, message.topic
            );
            return;
        };
        debug!(
            "Bridge {} received PUBLISH (q{}, r{}, '{}', ... ({} bytes))",
            self.bridge.remote_clientid,
            message.qos as u8,
            u8::from(message.retain),
            message.topic,
            message.payload.len()
        );
        message.topic = mapped.topic;
        message.qos = message.qos.min(mapped.qos);
        if !message.properties.subscription_identifiers.is_empty() {
            message.properties.subscription_identifiers = Vec::new();
        }
        let _gate = self.hub.store_gate();
        self.hub.publish(Some(&local.client), message, clock::now());
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
