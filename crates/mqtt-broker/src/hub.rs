//! Shared broker state: the client sessions, the subscription table and the retained messages,
//! and the operations that cross clients (connect with takeover, routing, subscribe, wills,
//! session expiry).
//!
//! Locking order, to stay free of deadlocks: the admission gate (CONNECT and reload), then the
//! `clients` map, then the subscription table, then the retained store, then at most one
//! client's state at a time. The configuration is read under its own lock, taken last and
//! never held. No lock is held across an `.await`.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use arc_swap::ArcSwap;
use crossbeam_utils::sync::{ShardedLock, ShardedLockReadGuard, ShardedLockWriteGuard};
use std::time::Duration;

use mqtt_codec::{
    ConnAck, ConnAckProperties, Connect, MqttString, ProtocolVersion, QoS, ReasonCode,
    RetainHandling, SubAck, Subscribe, TopicName, UnsubAck, Unsubscribe,
};
use mqtt_session::{Config as SessionConfig, Event, Message, MessageId, Session};
use tracing::{debug, info};

use crate::client::{Client, ClientRef, ClientState, ConnectionId, Role, SharedLinks, Will};
use crate::clock;
use crate::config::{Config, Listener};
use crate::metrics::Metrics;
use crate::router::{GroupId, Matches, RetainedStore, Subscription, SubscriptionTable};
use crate::security::{self, AuthState, RetainSource};
use crate::store::{
    MessageRecords, RetainedRecord, SessionRecord, SessionWrite, Store, StoreError,
    StoredSubscription, StoredWill,
};

/// Why a connection ended, which decides whether the will is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// DISCONNECT with Normal disconnection: no will [MQTT-3.1.2-10] (3.1.1: [MQTT-3.1.2-10]).
    Normal,
    /// DISCONNECT 0x04 Disconnect with Will Message.
    WithWill,
    /// Anything else: network error, protocol violation, keep-alive timeout, server shutdown.
    Abnormal,
    /// Another connection took the session over; that connection now owns it.
    TakenOver,
}

/// Buffers of [`Hub::route`], kept per worker thread so that routing a message allocates
/// nothing once they have grown to the usual fan-out.
#[derive(Default)]
struct Scratch {
    matches: Matches<ClientRef>,
    targets: Vec<(ClientRef, Delivery)>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// How far past `max_queued_messages` a connected subscriber's queue may grow while its
/// publishers are slowed down (they pause at the limit itself, see [`Hub::publish`]): room for
/// what they had already sent, and for paused publishers that resume after a while without
/// progress (a subscriber that stops reading, or two clients that wait on each other).
pub(crate) const OVERFLOW_FACTOR: usize = 10;

/// Where a published message went.
#[derive(Debug, Default)]
pub(crate) struct Routed {
    /// How many sessions it was queued for.
    pub(crate) delivered: usize,
    /// The connected subscribers now backlogged: the publisher should wait for them.
    pub(crate) congested: Vec<ClientRef>,
}

/// The outcome of a CONNECT the broker accepted.
pub(crate) struct Accepted {
    pub(crate) client: ClientRef,
    pub(crate) conn_id: ConnectionId,
    /// The store change the CONNACK reflects (the session created, resumed, or the replaced
    /// one deleted), 0 if none: the connection's first output waits for its commit. A clean
    /// session that replaced nothing stored waits for nothing (even while the file refuses
    /// writes).
    pub(crate) store_seq: u64,
}

/// The broker's shared state.
pub struct Hub {
    /// The configuration in force, replaced as a whole when the file is read again (SIGHUP).
    /// Connections take what they need of it when they start.
    config: tokio::sync::watch::Sender<Arc<Config>>,
    /// `upgrade_outgoing_qos`, read on every delivery: kept out of the lock.
    upgrade_outgoing_qos: AtomicBool,
    /// Held (shared) by a CONNECT from its admission until its session is owned, and
    /// (exclusively) by a reload while it swaps the configuration and checks who stays.
    admission_gate: RwLock<()>,
    clients: Mutex<HashMap<Arc<str>, ClientRef>>,
    /// Read on every PUBLISH by every worker: each reader locks only its own shard.
    subscriptions: ShardedLock<SubscriptionTable<ClientRef>>,
    retained: RwLock<RetainedStore>,
    /// When retained messages with a Message Expiry Interval expire (spec 3.3.2.3.3).
    retained_expiry: Mutex<HashMap<TopicName, mqtt_session::Instant>>,
    /// `check_retain_source`: who published each retained message of a client (the broker's
    /// own have none). Beside the store rather than in it, as `retained_expiry`; taken alone.
    retained_source: Mutex<HashMap<TopicName, RetainSource>>,
    pub(crate) metrics: Metrics,
    next_conn_id: AtomicU64,
    /// The password and ACL files in force, replaced as a whole on reload.
    auth: ArcSwap<AuthState>,
    /// The persistence store (`persistence true`), set once at start-up.
    store: std::sync::OnceLock<Store>,
    /// Set when the server stops: connections then send DISCONNECT 0x8B and close.
    shutting_down: AtomicBool,
}

impl Hub {
    /// Empty broker state for a configuration.
    pub fn new(config: Arc<Config>) -> Arc<Hub> {
        Arc::new(Hub {
            upgrade_outgoing_qos: AtomicBool::new(config.upgrade_outgoing_qos),
            admission_gate: RwLock::new(()),
            config: tokio::sync::watch::Sender::new(config),
            clients: Mutex::new(HashMap::new()),
            subscriptions: ShardedLock::new(SubscriptionTable::default()),
            retained: RwLock::new(RetainedStore::default()),
            retained_expiry: Mutex::new(HashMap::new()),
            retained_source: Mutex::new(HashMap::new()),
            metrics: Metrics::default(),
            next_conn_id: AtomicU64::new(1),
            auth: ArcSwap::from_pointee(AuthState::default()),
            store: std::sync::OnceLock::new(),
            shutting_down: AtomicBool::new(false),
        })
    }

    /// Tells every connected client's connection that the server is stopping. A connection
    /// whose session is not in the client map yet sees the flag on its first turn.
    pub(crate) fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for client in self.clients().values() {
            client.0.wake.notify_one();
        }
    }

    /// Whether [`Hub::begin_shutdown`] was called.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.config.borrow())
    }

    /// The password and ACL files in force.
    pub(crate) fn auth(&self) -> Arc<AuthState> {
        self.auth.load_full()
    }

    /// Reads the password and ACL files of the configuration in force (at start-up).
    ///
    /// # Errors
    ///
    /// One line naming the file and line that cannot be used; nothing changes then.
    pub fn load_security_files(&self) -> Result<(), String> {
        let loaded = AuthState::load(&self.config())?;
        self.auth.store(Arc::new(loaded));
        Ok(())
    }

    /// Replaces the configuration with one read again from the file (SIGHUP), as
    /// [`Config::reload`] merges them: connections made from now on, and sessions resumed from
    /// now on, get the new limits and security options; logging is the caller's. Returns the
    /// changes that need a restart, one line each.
    ///
    /// As Mosquitto, connected clients that the new security options would not let in are
    /// disconnected (MQTT 5: DISCONNECT 0x98 Administrative action); their wills are published.
    ///
    /// # Errors
    ///
    /// [`ReloadError`](crate::config::ReloadError) when the new file adds or removes a
    /// listener; the configuration in force is kept.
    pub fn reload(&self, new: Config) -> Result<Vec<String>, crate::config::ReloadError> {
        // No CONNECT is between its admission and its session's ownership meanwhile: each is
        // either admitted under the new options or seen connected below.
        let _gate = self
            .admission_gate
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let reloaded = self.config().reload(new)?;
        // A password or ACL file that cannot be used keeps everything as it was.
        let auth = Arc::new(
            AuthState::load(&reloaded.config).map_err(crate::config::ReloadError::SecurityFile)?,
        );
        self.auth.store(Arc::clone(&auth));
        self.upgrade_outgoing_qos
            .store(reloaded.config.upgrade_outgoing_qos, Ordering::Relaxed);
        let config = Arc::new(reloaded.config);
        self.config.send_replace(Arc::clone(&config));
        let clients: Vec<ClientRef> = self.clients().values().cloned().collect();
        for client in clients {
            let mut st = client.0.lock();
            // A bridge's local end is not a client of any listener (bridges are not reloaded).
            if st.role == Role::LocalBridge {
                continue;
            }
            let Some(listener) = config.listeners.get(st.listener) else {
                continue;
            };
            if st.owner.is_none()
                || security::still_admitted(
                    &listener.security,
                    auth.listener(st.listener),
                    st.username.as_deref(),
                )
            {
                continue;
            }
            st.session.disconnect(mqtt_codec::Disconnect::new(
                ReasonCode::AdministrativeAction,
            ));
            drop(st);
            info!("Client {} disconnected, not authorised.", client.id());
            client.0.wake.notify_one();
        }
        Ok(reloaded.not_applied)
    }

    /// Follows the configuration in force (its changes on reload).
    pub(crate) fn config_changes(&self) -> tokio::sync::watch::Receiver<Arc<Config>> {
        self.config.subscribe()
    }

    /// The listener of `config.listeners[index]` as the configuration in force has it.
    pub(crate) fn listener(&self, index: usize) -> Option<Arc<Listener>> {
        self.config
            .borrow()
            .listeners
            .get(index)
            .cloned()
            .map(Arc::new)
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, ClientRef>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn subscriptions_read(&self) -> ShardedLockReadGuard<'_, SubscriptionTable<ClientRef>> {
        self.subscriptions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn subscriptions_write(&self) -> ShardedLockWriteGuard<'_, SubscriptionTable<ClientRef>> {
        self.subscriptions
            .write()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn retained_read(&self) -> std::sync::RwLockReadGuard<'_, RetainedStore> {
        self.retained.read().unwrap_or_else(|p| p.into_inner())
    }

    fn retained_write(&self) -> std::sync::RwLockWriteGuard<'_, RetainedStore> {
        self.retained.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of client sessions (connected or not).
    pub fn session_count(&self) -> usize {
        self.clients().len()
    }

    /// Removes the expired messages (Message Expiry Interval) queued for disconnected sessions
    /// [MQTT-3.3.2-5], from memory and from the persistence file; returns how many. A
    /// connected session drops them itself when it would send them. The server runs it every
    /// minute.
    pub fn purge_expired(&self) -> usize {
        let sessions: Vec<ClientRef> = self.clients().values().cloned().collect();
        let now = clock::now();
        let mut purged = 0;
        for client in sessions {
            let _gate = self.store_gate();
            let mut st = client.0.lock();
            if st.owner.is_some() {
                continue;
            }
            let n = st.session.drop_expired(now);
            if n == 0 {
                continue;
            }
            purged += n;
            while let Some(e) = st.session.poll_event() {
                if let Event::PublishDropped { id, .. } = e {
                    st.shared.remove(&id);
                }
            }
            self.persist_locked(&client, &mut st);
        }
        if purged > 0 {
            debug!("Purged {purged} expired messages queued for disconnected clients.");
        }
        purged
    }

    /// Number of retained messages.
    pub fn retained_count(&self) -> usize {
        self.retained_read().len()
    }

    /// Number of subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions_read().len()
    }

    /// Whether a session (connected or not) exists for a client identifier.
    pub fn has_session(&self, client_id: &str) -> bool {
        self.clients().contains_key(client_id)
    }

    /// The client identifiers of every session (connected or not), in no particular order.
    pub fn client_ids(&self) -> Vec<String> {
        self.clients().keys().map(|id| id.to_string()).collect()
    }

    /// Number of subscriptions of one client (0 when it has no session).
    pub fn subscriptions_of(&self, client_id: &str) -> usize {
        let client = self.clients().get(client_id).cloned();
        match client {
            Some(c) => self.subscriptions_read().subscriptions_of(&c).count(),
            None => 0,
        }
    }

    /// The session configuration for clients of `listener`.
    fn session_config(c: &Config, listener: &Listener) -> SessionConfig {
        // max_inflight_messages 0 means no limit.
        let inflight = match c.max_inflight_messages {
            0 => u16::MAX,
            n => n,
        };
        SessionConfig {
            max_inflight: inflight,
            // Mosquitto announces its in-flight limit as Receive Maximum.
            receive_maximum: inflight,
            topic_alias_maximum: listener.max_topic_alias,
            max_packet_size: c.max_packet_size.and_then(NonZeroU32::new),
            max_queued_messages: c.max_queued_messages,
            max_queued_bytes: c.max_queued_bytes,
            max_inflight_bytes: c.max_inflight_bytes,
            queue_qos0_offline: c.queue_qos0_messages,
            manual_acks: true,
            maximum_qos: listener.max_qos,
            retain_available: c.retain_available,
            outbound_topic_aliases: false,
        }
    }

    /// Decides on a CONNECT: refusal (the CONNACK to send), or an accepted session whose
    /// CONNACK is queued in it. Takes over an existing connection with the same client id
    /// [MQTT-3.1.4-2] and resumes or discards its session.
    ///
    /// `role` is [`Role::LocalBridge`] for the local end of one of our bridges (the `bridge`
    /// module attaches it with a CONNECT of its own): it is not authenticated.
    pub(crate) fn connect(
        &self,
        connect: &Connect,
        listener_index: usize,
        listener: &Listener,
        peer: &str,
        role: Role,
    ) -> Result<Accepted, Box<ConnAck>> {
        let v5 = connect.protocol.is_v5();
        let _gate = self
            .admission_gate
            .read()
            .unwrap_or_else(|p| p.into_inner());
        let config = self.config();
        let refuse = |code: ReasonCode| {
            Box::new(ConnAck {
                reason_code: code,
                ..ConnAck::default()
            })
        };
        // Extended authentication is not configured: spec 4.12, CONNACK 0x8C.
        if v5 && connect.properties.authentication_method.is_some() {
            return Err(refuse(ReasonCode::BadAuthenticationMethod));
        }
        let security = &listener.security;
        let mut assigned = None;
        let client_id: Arc<str> = if connect.client_id.is_empty() {
            // [MQTT-3.1.3-8] (3.1.1) an empty id needs Clean Session; MQTT 3.1 needs an id.
            let allowed = security.allow_zero_length_clientid
                && connect.protocol != ProtocolVersion::V3_1
                && (v5 || connect.clean_start);
            if !allowed {
                return Err(refuse(ReasonCode::ClientIdentifierNotValid));
            }
            // [MQTT-3.2.2-16] (5.0) not the identifier of another session.
            let id = loop {
                let id = generated_client_id(&security.auto_id_prefix);
                if !self.has_session(&id) {
                    break id;
                }
            };
            assigned = Some(id.clone());
            Arc::from(id)
        } else {
            Arc::from(connect.client_id.as_str())
        };
        let auth = self.auth();
        // With use_identity_as_username / use_subject_as_username the user name comes from a
        // client certificate the TLS handshake verified: as Mosquitto, that is the whole
        // authentication and the password file is not consulted (ACLs still apply to the name).
        let identity_from_certificate = listener
            .tls
            .as_ref()
            .is_some_and(|t| t.use_identity_as_username || t.use_subject_as_username)
            && connect.username.is_some();
        if identity_from_certificate || role == Role::LocalBridge {
            // Nothing more to check (bridges bypass authentication, as in Mosquitto).
        } else if let Err(reason) = security::authenticate(
            security,
            auth.listener(listener_index),
            connect.username.as_deref(),
            connect.password.as_deref(),
        ) {
            // Who and from where, never the password.
            match connect.username.as_deref() {
                Some(user) => info!(
                    "Client {client_id} (user name '{}') from {peer} refused: {reason}.",
                    user.escape_debug()
                ),
                None => info!("Client {client_id} from {peer} refused: {reason}."),
            }
            // 3.1.1 return code 5 / 5.0 0x87, as Mosquitto 2.0 [MQTT-3.2.2-6].
            return Err(refuse(ReasonCode::NotAuthorized));
        }
        if let Some(will) = &connect.will {
            // [MQTT-3.2.2-12] / [MQTT-3.2.2-13]: refuse a will the server cannot honour.
            if will.qos > listener.max_qos {
                return Err(refuse(ReasonCode::QoSNotSupported));
            }
            if will.retain && !config.retain_available {
                return Err(refuse(ReasonCode::RetainNotSupported));
            }
        }
        // persistence: while the file refuses writes (disk full), a session that is to be
        // stored cannot be made durable, so its CONNACK could only wait; the client is told
        // instead (5.0 0x97 Quota exceeded, 3.1.1 return code 3 Server unavailable) and tries
        // again later, as for a QoS 1/2 PUBLISH that needs storing.
        let persistent = if v5 {
            connect.properties.session_expiry_interval.unwrap_or(0) > 0
        } else {
            !connect.clean_start
        };
        if persistent && self.store_failing() {
            info!("Client {client_id} from {peer} refused: the persistence file refuses writes.");
            return Err(refuse(ReasonCode::QuotaExceeded));
        }

        let conn_id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let session_config = Self::session_config(&config, listener);
        let mut clients = self.clients();
        let existing = clients.get(&client_id).cloned();
        let mut old_will = None;
        let mut will_source = None;
        let mut replaced_persisted = false;
        let mut replaced_records = None;
        let (client, session_present) = match existing {
            Some(old) => {
                let mut st = old.0.lock();
                let was_connected = st.owner.take().is_some();
                if was_connected {
                    // [MQTT-3.1.4-3] the old connection is closed (it notices it lost ownership).
                    info!("Client {client_id} already connected, closing old connection.");
                    old_will = st.will.take().filter(|w| w.delay == 0);
                    old_will = old_will.filter(|w| self.will_allowed(&old, &st, w));
                    will_source = Some(retain_source(&old, &st));
                    st.session.connection_lost();
                }
                if connect.clean_start {
                    // The old session ends here: its pending timers (will delay, expiry) must
                    // see that something happened and stand down.
                    st.generation += 1;
                    replaced_persisted = st.persisted;
                    replaced_records = Some(MessageRecords::replacing(&mut st.records));
                    st.will = None;
                    drop(st);
                    self.subscriptions_write().remove_client(&old);
                    old.0.wake.notify_one();
                    (None, false)
                } else {
                    st.session = reconfigure(
                        std::mem::replace(
                            &mut st.session,
                            Session::new_server(session_config.clone()),
                        ),
                        &session_config,
                    );
                    drop(st);
                    old.0.wake.notify_one();
                    (Some(old), true)
                }
            }
            None => (None, false),
        };
        let client = client.unwrap_or_else(|| {
            let state = ClientState {
                session: Session::new_server(session_config),
                owner: None,
                generation: 0,
                will: None,
                version: connect.protocol,
                username: None,
                clean_start: connect.clean_start,
                mount_point: None,
                listener: listener_index,
                shared: SharedLinks::default(),
                expires_at: None,
                persisted: false,
                records: MessageRecords::default(),
                role,
            };
            let c = ClientRef(Arc::new(Client::new(client_id.clone(), state)));
            clients.insert(client_id.clone(), c.clone());
            c
        });
        drop(clients);
        if let Some(will) = old_will {
            self.publish_will(will_source, will.message, clock::now());
        }

        let mut connack = ConnAck {
            session_present,
            ..ConnAck::default()
        };
        if v5 {
            let props: &mut ConnAckProperties = &mut connack.properties;
            if let Some(id) = assigned {
                props.assigned_client_identifier = MqttString::new(id).ok();
            }
            // Mosquitto's max_keepalive: 0 or 65535 mean no limit.
            let max_keepalive = config.max_keepalive;
            if max_keepalive != 0
                && max_keepalive != u16::MAX
                && (connect.keep_alive == 0 || connect.keep_alive > max_keepalive)
            {
                props.server_keep_alive = Some(max_keepalive);
            }
        }
        let now = clock::now();
        let mut st = client.0.lock();
        st.owner = Some(conn_id);
        st.generation += 1;
        st.version = connect.protocol;
        st.username = connect.username.as_ref().map(|u| u.as_str().into());
        st.clean_start = connect.clean_start;
        st.mount_point = listener.mount_point.as_deref().map(Arc::from);
        st.listener = listener_index;
        st.expires_at = None;
        st.role = role;
        let mount = listener.mount_point.as_deref();
        // A will topic too long to take the mount point is dropped, never routed unprefixed
        // (outside the listener's part of the tree).
        let will_topic = connect.will.as_ref().and_then(|w| match mount {
            Some(m) => crate::mount::topic_in(m, &w.topic),
            None => Some(w.topic.clone()),
        });
        st.will = connect
            .will
            .as_ref()
            .zip(will_topic)
            .map(|(w, topic)| Will {
                message: Message {
                    topic,
                    payload: w.payload.clone(),
                    qos: w.qos,
                    retain: w.retain,
                    properties: mqtt_codec::PublishProperties {
                        payload_format_indicator: w.properties.payload_format_indicator,
                        message_expiry_interval: w.properties.message_expiry_interval,
                        content_type: w.properties.content_type.clone(),
                        response_topic: w.properties.response_topic.clone(),
                        correlation_data: w.properties.correlation_data.clone(),
                        user_properties: w.properties.user_properties.clone(),
                        ..Default::default()
                    }
                    .into(),
                },
                delay: w.properties.will_delay_interval.unwrap_or(0),
                due_at: None,
            })
            .map(Box::new);
        if let Err(e) = st.session.accept(now, connect, connack) {
            // The previous owner was detached above; this cannot happen, but never panic.
            tracing::error!("Error: cannot accept {client_id}: {e}");
        }
        // A clean start that replaced a stored session deletes its record.
        st.persisted |= replaced_persisted;
        if let Some(records) = replaced_records {
            st.records = records;
        }
        crate::store::take_submitted_here();
        self.persist_locked(&client, &mut st);
        drop(st);
        // Earlier changes of this session, submitted elsewhere, come before this one in the
        // commit order, so waiting for it covers them too.
        let store_seq = crate::store::take_submitted_here();
        self.metrics.client_connected();
        Ok(Accepted {
            client,
            conn_id,
            store_seq,
        })
    }

    /// Routes a message to every matching subscription; returns how many clients it went to.
    ///
    /// Retained messages are stored first (an empty payload deletes, spec 3.3.1.3). Each client
    /// gets one copy with the highest QoS of its matching subscriptions and all their
    /// subscription identifiers [MQTT-3.3.4-2] [MQTT-3.3.4-3].
    ///
    /// Overflow policy: a connected subscriber whose queue reached `max_queued_messages` (or
    /// `max_queued_bytes`) still gets the message, and is reported in [`Routed::congested`] so
    /// that the publisher's connection stops reading until it catches up: slowing publishers
    /// down loses nothing they were told was received. Only a subscriber that stays behind
    /// regardless (past [`OVERFLOW_FACTOR`] times the limit) loses messages, as does an
    /// offline one past the limit itself (Mosquitto's policy), and QoS 0 messages to a
    /// client's own subscriptions.
    pub(crate) fn publish(
        &self,
        from: Option<&ClientRef>,
        message: Message,
        now: mqtt_session::Instant,
    ) -> Routed {
        self.metrics.message_received(message.payload.len());
        let source = match from {
            Some(c) if message.retain => Some(retain_source(c, &c.0.lock())),
            _ => None,
        };
        self.route(from, source, message, now)
    }

    /// Publishes a client's will. Its publisher, for `check_retain_source`, is the client
    /// (`source`), as in Mosquitto; it is not `from`, since no_local does not apply.
    fn publish_will(
        &self,
        source: Option<RetainSource>,
        message: Message,
        now: mqtt_session::Instant,
    ) -> Routed {
        self.metrics.message_received(message.payload.len());
        let source = source.filter(|_| message.retain);
        self.route(None, source, message, now)
    }

    fn route(
        &self,
        from: Option<&ClientRef>,
        source: Option<RetainSource>,
        message: Message,
        now: mqtt_session::Instant,
    ) -> Routed {
        if message.retain {
            let kept = compact(&message);
            {
                let mut sources = self
                    .retained_source
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                match &source {
                    Some(s) if !kept.payload.is_empty() => {
                        sources.insert(kept.topic.clone(), s.clone())
                    }
                    _ => sources.remove(&kept.topic),
                };
            }
            let mut expiry = self
                .retained_expiry
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // An empty payload deletes: nothing to expire.
            let expires_at = match kept.properties.message_expiry_interval {
                Some(secs) if !kept.payload.is_empty() => {
                    Some(now + Duration::from_secs(u64::from(secs)))
                }
                _ => None,
            };
            match expires_at {
                Some(at) => expiry.insert(kept.topic.clone(), at),
                None => expiry.remove(&kept.topic),
            };
            drop(expiry);
            if let Some(store) = self.store.get() {
                // The broker's own $SYS topics are not kept, as Mosquitto.
                if !kept.topic.as_str().starts_with("$SYS") {
                    if kept.payload.is_empty() {
                        store.retained_clear(kept.topic.as_str());
                    } else {
                        let record = crate::store::encode(&RetainedRecord {
                            message: kept.clone(),
                            expires_at: expires_at.map(|at| at.as_millis()),
                            source,
                        });
                        store.retained_set(kept.topic.as_str(), record);
                    }
                }
            }
            self.retained_write().set(kept);
        }
        SCRATCH.with(|scratch| {
            // A route within a route (none today) gets buffers of its own.
            let mut fresh = Scratch::default();
            let mut borrowed = scratch.try_borrow_mut();
            let scratch = match borrowed.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut fresh,
            };
            self.deliver(from, &message, scratch, now)
        })
    }

    /// Finds the subscribers of `message` and queues it in their sessions.
    fn deliver(
        &self,
        from: Option<&ClientRef>,
        message: &Message,
        scratch: &mut Scratch,
        now: mqtt_session::Instant,
    ) -> Routed {
        let Scratch { matches, targets } = scratch;
        targets.clear();
        let table = self.subscriptions_read();
        table.matches(&message.topic, matches);
        // Merging per client costs a search per match: only needed when several filters
        // matched (one filter has each client once).
        let merge = matches.may_repeat_clients();
        for m in matches.iter() {
            if let Some(group) = m.group {
                // Prefer a member that is online; an offline one only queues.
                let (client, subscription) = online_member(&table, group, m.client, m.subscription);
                let mut delivery = Delivery::new(&subscription);
                delivery.group = Some(group);
                targets.push((client, delivery));
                continue;
            }
            if m.subscription.options.no_local && from.is_some_and(|f| f == m.client) {
                // [MQTT-3.8.3-3] not to the connection that published it.
                continue;
            }
            let earlier = if merge {
                targets
                    .iter_mut()
                    .find(|(c, d)| c == m.client && d.group.is_none())
            } else {
                None
            };
            match earlier {
                Some((_, d)) => d.merge(m.subscription),
                None => targets.push((m.client.clone(), Delivery::new(m.subscription))),
            }
        }
        drop(table);
        matches.clear();
        let mut routed = Routed::default();
        // A guard, not a clone: no reference count shared by all cores is touched.
        let auth = self.auth.load();
        for (client, delivery) in targets.drain(..) {
            let group = delivery.group;
            let mut out =
                delivery.apply(message, self.upgrade_outgoing_qos.load(Ordering::Relaxed));
            let qos = out.qos;
            let mut st = client.0.lock();
            // acl_file: only to clients with read access to the topic, whatever they
            // subscribed to (the file may have changed since). Our bridges bypass ACLs.
            if st.role != Role::LocalBridge
                && !auth.may_read(
                    st.listener,
                    client.id(),
                    st.username.as_deref(),
                    &message.topic,
                )
            {
                continue;
            }
            if let Some(mount) = st.mount_point.clone() {
                match crate::mount::topic_out(&mount, &out.topic) {
                    Some(t) => out.topic = t,
                    // Outside the client's mount point: not for it.
                    None => continue,
                }
            }
            // A publisher waiting on its own subscriber would wait on itself.
            let may_pause = st.owner.is_some() && from.is_none_or(|f| f != &client);
            let result = if may_pause {
                let limits = st.session.config().queue_limits().scaled(OVERFLOW_FACTOR);
                st.session.publish_within(now, out, limits)
            } else {
                st.session.publish(now, out)
            };
            if may_pause && from.is_some() && st.session.is_backlogged() {
                routed.congested.push(client.clone());
            }
            match result {
                Ok(id) => {
                    if let (Some(group), true) = (group, qos != QoS::AtMostOnce) {
                        st.shared.insert(id, group);
                    }
                    routed.delivered += 1;
                    if qos != QoS::AtMostOnce || st.owner.is_none() {
                        self.persist_locked(&client, &mut st);
                    }
                }
                Err(e) => {
                    self.metrics.message_dropped();
                    debug!("Outgoing message to {} dropped: {e}.", client.id());
                }
            }
            drop(st);
            client.0.wake.notify_one();
        }
        if routed.delivered > 0 {
            self.metrics
                .messages_sent(routed.delivered as u64, message.payload.len());
        }
        routed
    }

    /// Whether a connected client may publish to `topic` (its `acl_file`).
    pub(crate) fn may_publish(&self, client: &ClientRef, topic: &str) -> bool {
        let auth = self.auth.load();
        let st = client.0.lock();
        auth.may_write(st.listener, client.id(), st.username.as_deref(), topic)
    }

    /// Publishes a message of the broker's own ($SYS), without counting it as received.
    pub(crate) fn publish_internal(&self, message: Message) {
        self.route(None, None, message, clock::now());
    }

    /// Handles a SUBSCRIBE: updates the table and returns the SUBACK and the retained messages
    /// to send after it (spec 3.8.4).
    pub(crate) fn subscribe(
        &self,
        client: &ClientRef,
        version: ProtocolVersion,
        max_qos: QoS,
        subscribe: Subscribe,
    ) -> (SubAck, Vec<Message>) {
        let identifier = subscribe.properties.subscription_identifier;
        let mut codes = Vec::with_capacity(subscribe.filters.len());
        let mut retained = Vec::new();
        let auth = self.auth();
        let check_retain_source = self.config().check_retain_source;
        let (listener, username, role, persistent) = {
            let st = client.0.lock();
            (
                st.listener,
                st.username.as_deref().map(str::to_owned),
                st.role,
                is_persistent(&st),
            )
        };
        // persistence: while the file refuses writes, a stored session's subscriptions cannot
        // be made durable: refused (5.0 0x97 Quota exceeded, 3.1.1 0x80 Failure) rather than
        // a SUBACK that waits for the disk.
        let unstorable = persistent && self.store_failing();
        for (filter, mut options) in subscribe.filters {
            if unstorable {
                codes.push(if version.is_v5() {
                    ReasonCode::QuotaExceeded
                } else {
                    ReasonCode::UnspecifiedError
                });
                continue;
            }
            let bypass_acl = role == Role::LocalBridge;
            if !bypass_acl
                && !auth.may_subscribe(listener, client.id(), username.as_deref(), filter.filter())
            {
                // acl_file: no rule gives read access to all the filter matches. 3.1.1: 0x80
                // Failure [MQTT-3.9.3-2]; 5.0: 0x87 Not authorized.
                debug!(
                    "Denied SUBSCRIBE from {} to '{}'.",
                    client.id(),
                    filter.as_str()
                );
                codes.push(if version.is_v5() {
                    ReasonCode::NotAuthorized
                } else {
                    ReasonCode::UnspecifiedError
                });
                continue;
            }
            options.qos = options.qos.min(max_qos);
            if role == Role::RemoteBridge && !version.is_v5() {
                // As Mosquitto for a bridge (`try_private`): not sent its own messages back,
                // and retained flags kept, which MQTT 3.1.1 subscriptions cannot ask for.
                options.no_local = true;
                options.retain_as_published = true;
            }
            let sub = Subscription {
                options,
                identifier,
            };
            let outcome = self
                .subscriptions_write()
                .subscribe(client.clone(), &filter, sub);
            // Mosquitto's `subscribe` log type.
            debug!(target: crate::log::target::SUBSCRIBE, "{} {} {}", client.id(), options.qos as u8, filter);
            codes.push(match options.qos {
                QoS::AtMostOnce => ReasonCode::GRANTED_QOS_0,
                QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
                QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
            });
            let send_retained = match options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendAtNewSubscribe => outcome.is_new(),
                RetainHandling::DoNotSend => false,
            };
            if send_retained && !filter.is_shared() {
                let mut found = Vec::new();
                self.retained_read().matching(&filter, &mut found);
                let now = clock::now();
                for mut m in found {
                    if !self.retained_still_valid(&mut m, now)
                        || (!bypass_acl
                            && !auth.may_read(listener, client.id(), username.as_deref(), &m.topic))
                        || (check_retain_source && !self.retained_source_may_write(&auth, &m))
                    {
                        continue;
                    }
                    m.qos = m.qos.min(options.qos);
                    // Retained messages keep RETAIN 1 when sent because of a new subscription
                    // [MQTT-3.3.1-8] (5.0: [MQTT-3.3.1-9]).
                    m.retain = true;
                    if let (true, Some(id)) = (version.is_v5(), identifier) {
                        m.properties.subscription_identifiers = vec![id];
                    }
                    retained.push(m);
                }
            }
        }
        if !unstorable {
            self.session_changed(client);
        }
        (SubAck::new(subscribe.packet_id, codes), retained)
    }

    /// `check_retain_source`: whether the client that published a retained message may still
    /// write its topic (the ACL file may have been reloaded since). A message without a
    /// source (the broker's own, or stored before sources were) is not checked. One that
    /// fails is only not sent: it stays retained, for when the rights come back (Mosquitto).
    fn retained_source_may_write(&self, auth: &AuthState, m: &Message) -> bool {
        let source = self
            .retained_source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&m.topic)
            .cloned();
        let Some(source) = source else {
            return true;
        };
        let allowed = auth.source_may_write(&source, m.topic.as_str());
        if !allowed {
            debug!(
                "Retained message on '{}' not sent: its publisher {} may no longer write it (check_retain_source).",
                m.topic, source.client_id
            );
        }
        allowed
    }

    /// Whether a retained message is still within its Message Expiry Interval; if so, its
    /// interval becomes the time left [MQTT-3.3.2-6]. An expired one is deleted
    /// [MQTT-3.3.2-5].
    fn retained_still_valid(&self, m: &mut Message, now: mqtt_session::Instant) -> bool {
        let mut expiry = self
            .retained_expiry
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(&at) = expiry.get(&m.topic) else {
            return true;
        };
        if now >= at {
            expiry.remove(&m.topic);
            drop(expiry);
            self.retained_source
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&m.topic);
            self.retained_write().remove(&m.topic);
            if let Some(store) = self.store.get() {
                store.retained_clear(m.topic.as_str());
            }
            return false;
        }
        let left_ms = at.as_millis() - now.as_millis();
        m.properties.message_expiry_interval =
            Some(u32::try_from(left_ms.div_ceil(1000)).unwrap_or(u32::MAX));
        true
    }

    /// Handles an UNSUBSCRIBE and returns the UNSUBACK.
    pub(crate) fn unsubscribe(&self, client: &ClientRef, unsubscribe: Unsubscribe) -> UnsubAck {
        let mut table = self.subscriptions_write();
        let codes = unsubscribe
            .filters
            .iter()
            .map(|f| {
                if table.unsubscribe(client, f) {
                    ReasonCode::Success
                } else {
                    ReasonCode::NoSubscriptionExisted
                }
            })
            .collect();
        drop(table);
        for f in &unsubscribe.filters {
            // Mosquitto's `unsubscribe` log type (logged outside the table's lock).
            debug!(target: crate::log::target::UNSUBSCRIBE, "{} {}", client.id(), f);
        }
        self.session_changed(client);
        UnsubAck::new(unsubscribe.packet_id, codes)
    }

    /// A connection ended. Publishes the will where due and ends or keeps the session
    /// according to its expiry (spec 3.1.2.5, 3.1.2.11.2, 4.1).
    pub(crate) fn disconnected(
        self: &Arc<Self>,
        client: &ClientRef,
        conn_id: ConnectionId,
        ending: Ending,
    ) {
        let mut st = client.0.lock();
        if st.owner != Some(conn_id) || ending == Ending::TakenOver {
            return;
        }
        st.owner = None;
        st.session.connection_lost();
        let will = match ending {
            Ending::Normal => None,
            _ => st.will.take(),
        };
        let will = will.filter(|w| self.will_allowed(client, &st, w));
        let will_source = will.as_ref().map(|_| retain_source(client, &st));
        st.will = None;
        let now = clock::now();
        let expiry = session_expiry(&st, self.config().persistent_client_expiration);
        st.expires_at = expiry.map(|d| (now + d).as_millis());
        let generation = st.generation;
        // The will is due after its delay, or when the session ends if that comes first.
        let will_delay = will
            .as_ref()
            .map(|w| Duration::from_secs(u64::from(w.delay)).min(expiry.unwrap_or(Duration::MAX)));
        let will_now = match (will, will_delay) {
            (Some(will), Some(delay)) if delay.is_zero() => Some(will),
            (Some(mut will), Some(delay)) => {
                // Kept (and stored) with the session until it is due.
                will.due_at = Some((now + delay).as_millis());
                st.will = Some(will);
                None
            }
            _ => None,
        };
        self.persist_locked(client, &mut st);
        drop(st);
        // Publishers paused on this client: it is offline now, they need not wait.
        client.0.release_waiters();
        self.metrics.client_disconnected();

        if let Some(will) = will_now {
            self.publish_will(will_source, will.message, now);
        } else if let Some(delay) = will_delay {
            self.schedule_will(client, generation, delay);
        }
        match expiry {
            Some(d) if d.is_zero() => self.end_session(client, generation),
            Some(d) => {
                let hub = Arc::clone(self);
                let client = client.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    hub.end_session(&client, generation);
                });
            }
            None => {}
        }
    }

    /// Publishes the pending will of `client` after `delay`, unless the client connected again
    /// in the meantime (spec 3.1.3.2.2) or the will is gone.
    fn schedule_will(self: &Arc<Self>, client: &ClientRef, generation: u64, delay: Duration) {
        let hub = Arc::clone(self);
        let client = client.clone();
        let due = async move {
            tokio::time::sleep(delay).await;
            hub.publish_pending_will(&client, generation);
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(due);
        }
    }

    fn publish_pending_will(&self, client: &ClientRef, generation: u64) {
        // The will leaves the session's record in the same transaction as it reaches the
        // subscribers' queues.
        let _gate = self.store_gate();
        let will = {
            let mut st = client.0.lock();
            if st.generation != generation || st.owner.is_some() {
                return;
            }
            let will = st.will.take();
            if will.is_some() {
                self.persist_locked(client, &mut st);
            }
            will.map(|w| (w, retain_source(client, &st)))
        };
        if let Some((will, source)) = will {
            self.publish_will(Some(source), will.message, clock::now());
        }
    }

    /// Whether a client's will may be published: the client needs write access to its topic
    /// (as Mosquitto, checked when the will is due; its receivers are checked on delivery).
    fn will_allowed(&self, client: &ClientRef, st: &ClientState, will: &Will) -> bool {
        let allowed = self.auth().may_write(
            st.listener,
            client.id(),
            st.username.as_deref(),
            &will.message.topic,
        );
        if !allowed {
            debug!(
                "Denied will of {} to '{}': not authorised.",
                client.id(),
                will.message.topic
            );
        }
        allowed
    }

    /// Removes a session that has not been resumed since `generation`. Messages it received
    /// through shared subscriptions and did not complete go to another member of their group
    /// (spec 4.8.2).
    fn end_session(&self, client: &ClientRef, generation: u64) {
        // Its deletion and the hand-over of its shared messages are stored together.
        let _gate = self.store_gate();
        let mut clients = self.clients();
        let orphans: Vec<(GroupId, Message)> = {
            let mut st = client.0.lock();
            if st.generation != generation || st.owner.is_some() {
                return;
            }
            let shared = std::mem::take(&mut st.shared);
            st.session
                .pending_messages()
                // [MQTT-4.8.2-5] (5.0) a QoS 2 delivery started with this client is completed with
                // it or not at all: never handed to another member.
                .filter(|(_, m)| m.qos != QoS::ExactlyOnce)
                .filter_map(|(id, m)| shared.get(&id).map(|g| (*g, m.clone())))
                .collect()
        };
        if !clients
            .get(&client.0.id)
            .is_some_and(|c| Arc::ptr_eq(&c.0, &client.0))
        {
            // A newer session with the same client id replaced this one; its subscriptions are
            // the newer session's, keyed by the same id.
            return;
        }
        clients.remove(&client.0.id);
        drop(clients);
        // Its record goes (the writer sees it is no longer a session of the hub).
        self.session_changed(client);
        let mut handed = Vec::new();
        {
            let table = self.subscriptions_read();
            for (group, message) in orphans {
                if let Some(next) = table.next_member(group, client) {
                    handed.push((next.client, next.subscription, group, message));
                }
            }
        }
        self.subscriptions_write().remove_client(client);
        let now = clock::now();
        for (target, subscription, group, message) in handed {
            let mut delivery = Delivery::new(&subscription);
            delivery.group = Some(group);
            let out = delivery.apply(&message, self.upgrade_outgoing_qos.load(Ordering::Relaxed));
            let mut st = target.0.lock();
            if let Ok(id) = st.session.publish(now, out) {
                st.shared.insert(id, group);
                self.persist_locked(&target, &mut st);
            }
            drop(st);
            target.0.wake.notify_one();
            debug!(
                "Shared message of {} handed to {}.",
                client.id(),
                target.id()
            );
        }
    }
}

/// Persistence (`persistence true`): loading at start-up and following changes.
impl Hub {
    /// Opens the persistence file of the configuration (`persistence true`), restores the
    /// retained messages and persistent sessions it holds, and starts writing changes to it.
    /// Nothing happens without `persistence true`.
    ///
    /// # Errors
    ///
    /// [`StoreError`], naming the file, when it cannot be opened, is corrupt, was written in
    /// another format version or holds a record that cannot be restored. Nothing is discarded.
    pub fn open_store(self: &Arc<Self>) -> Result<(), StoreError> {
        let config = self.config();
        if !config.persistence.enabled || self.store.get().is_some() {
            return Ok(());
        }
        let path = config.persistence.path();
        let (db, loaded) = crate::store::open(&path)?;
        let (sessions, retained) = (loaded.sessions.len(), loaded.retained.len());
        let max_epoch = loaded.max_epoch;
        let upgrade = loaded.upgrade;
        let restored = self.restore(&path, &config, loaded)?;
        if upgrade {
            crate::store::finish_upgrade(&db, &path)?;
        }
        let weak = Arc::downgrade(self);
        let resolve: crate::store::Resolver = Box::new(move |client: &ClientRef| {
            weak.upgrade()
                .map_or(SessionWrite::Skip(Vec::new()), |hub| {
                    hub.session_record(client)
                })
        });
        let store = Store::start(db, path.clone(), &config.persistence, max_epoch, resolve);
        let store = self.store.get_or_init(|| store);
        info!(
            "Restored {retained} retained messages and {sessions} persistent sessions from {}.",
            path.display()
        );
        for topic in restored.expired_topics {
            store.retained_clear(&topic);
        }
        // Wills before the sessions they belong to end (a will is due at the latest then).
        for (client, delay) in restored.due_wills {
            if delay.is_zero() {
                self.publish_pending_will(&client, 0);
            } else {
                self.schedule_will(&client, 0, delay);
            }
        }
        for client in restored.expired_sessions {
            self.end_session(&client, 0);
        }
        Ok(())
    }

    /// Writes what is pending durably and closes the persistence file (at shutdown).
    pub fn close_store(&self) {
        if let Some(store) = self.store.get() {
            store.close();
        }
    }

    /// Waits until the stored changes up to `seq` are committed, when acknowledgements wait for
    /// them (`persistence_sync ack`), however long the file refuses writes. `false` when the
    /// store closed first: what the caller was about to send may not be durable.
    pub(crate) async fn store_barrier(&self, seq: u64) -> bool {
        let Some(store) = self.store.get() else {
            return true;
        };
        if !store.acks_wait() || store.committed().seq >= seq {
            return true;
        }
        store.wait(seq).await
    }

    /// Whether the persistence file refuses writes (disk full, I/O error) at the moment:
    /// QoS 1/2 messages that need storing are refused meanwhile, and the store retries every
    /// second.
    pub fn store_failing(&self) -> bool {
        self.store.get().is_some_and(Store::is_failing)
    }

    /// Whether routing `message` would store something: it is retained, or a persistent
    /// session subscribes to its topic with QoS 1 or 2.
    pub(crate) fn needs_storage(&self, message: &Message) -> bool {
        if message.retain && !message.topic.as_str().starts_with("$SYS") {
            return true;
        }
        if message.qos == QoS::AtMostOnce {
            return false;
        }
        let mut matches = Matches::default();
        self.subscriptions_read()
            .matches(&message.topic, &mut matches);
        // The table's lock is released before any client's (the order routing uses).
        let subscribers: Vec<ClientRef> = matches
            .iter()
            .filter(|m| m.subscription.options.qos != QoS::AtMostOnce)
            .map(|m| m.client.clone())
            .collect();
        subscribers.iter().any(|c| is_persistent(&c.0.lock()))
    }

    /// Whether the broker stores its state (`persistence true`, file open).
    pub(crate) fn persists(&self) -> bool {
        self.store.get().is_some()
    }

    /// With persistence, held while making a change that spans several sessions, so that the
    /// store writes it whole (see `store`'s documentation). Taken before any other lock;
    /// never held across an `await`.
    pub(crate) fn store_gate(&self) -> Option<ShardedLockReadGuard<'_, ()>> {
        self.store.get().map(Store::gate)
    }

    /// A session changed: its record is written (or deleted) by the next commit.
    pub(crate) fn session_changed(&self, client: &ClientRef) {
        if self.store.get().is_some() {
            let mut st = client.0.lock();
            self.persist_locked(client, &mut st);
        }
    }

    /// [`Hub::session_changed`] with the client's state already locked.
    pub(crate) fn persist_locked(&self, client: &ClientRef, st: &mut ClientState) {
        let Some(store) = self.store.get() else {
            return;
        };
        if is_persistent(st) {
            st.persisted = true;
            store.session_changed(client);
        } else if st.persisted {
            st.persisted = false;
            store.session_changed(client);
        }
    }

    /// What the store keeps of a session now (the writer thread asks).
    fn session_record(&self, client: &ClientRef) -> SessionWrite {
        let current = self.clients().get(client.id()).cloned();
        let Some(current) = current else {
            return SessionWrite::Delete(client.0.lock().records.delete_all());
        };
        if !Arc::ptr_eq(&current.0, &client.0) {
            // Another session of this client identifier: a stored one writes its own record;
            // one that is not stored (e.g. a clean start right after this session ended)
            // never will, so this session's record goes now, with its messages (else it stayed
            // behind, its message records deleted, and the next start refused it).
            let current_stored = is_persistent(&current.0.lock());
            let messages = client.0.lock().records.delete_all();
            return if current_stored {
                SessionWrite::Skip(messages)
            } else {
                SessionWrite::Delete(messages)
            };
        }
        let subscriptions: Vec<StoredSubscription> = self
            .subscriptions_read()
            .subscriptions_of(client)
            .map(|(filter, sub)| StoredSubscription {
                filter: filter.as_str().to_string(),
                options: sub.options,
                identifier: sub.identifier,
            })
            .collect();
        let mut guard = client.0.lock();
        let st = &mut *guard;
        if !is_persistent(st) {
            return SessionWrite::Delete(st.records.delete_all());
        }
        let Some(store) = self.store.get() else {
            return SessionWrite::Skip(Vec::new());
        };
        // Each message is written once, when the session gets it; the record below holds the
        // rest and stays small however long the queue.
        let messages = st
            .records
            .update(st.session.held_messages(), || store.new_epoch());
        let shared_links: Vec<(MessageId, GroupId)> =
            st.shared.iter().map(|(id, g)| (*id, *g)).collect();
        let record = SessionRecord {
            version: st.version,
            username: st.username.as_deref().map(str::to_owned),
            listener: u32::try_from(st.listener).unwrap_or(0),
            expires_at: st.expires_at,
            subscriptions,
            state: st.session.snapshot_without_messages(),
            will: st.will.as_ref().map(|w| StoredWill {
                message: w.message.clone(),
                delay: w.delay,
                due_at: w.due_at,
            }),
            shared: Vec::new(),
            epoch: st.records.epoch(),
        };
        drop(guard);
        let mut record = record;
        if !shared_links.is_empty() {
            // Group handles do not outlive the process: the group is named by its filter.
            let table = self.subscriptions_read();
            record.shared = shared_links
                .into_iter()
                .filter_map(|(id, g)| Some((id, table.group_filter(g)?.as_str().to_string())))
                .collect();
        }
        SessionWrite::Put(crate::store::encode(&record), messages)
    }

    /// Puts loaded state in place. Returns the retained topics and sessions that expired while
    /// the broker was down, to be removed once the store runs.
    #[allow(clippy::type_complexity)]
    fn restore(
        self: &Arc<Self>,
        path: &std::path::Path,
        config: &Config,
        loaded: crate::store::Loaded,
    ) -> Result<Restored, StoreError> {
        let now = clock::now();
        let mut due_wills = Vec::new();
        let mut expired_topics = Vec::new();
        for r in loaded.retained {
            match r.expires_at {
                Some(at) if at <= now.as_millis() => {
                    expired_topics.push(r.message.topic.as_str().to_string());
                    continue;
                }
                Some(at) => {
                    self.retained_expiry
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(
                            r.message.topic.clone(),
                            mqtt_session::Instant::from_millis(at),
                        );
                }
                None => {}
            }
            if let Some(source) = r.source {
                self.retained_source
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(r.message.topic.clone(), source);
            }
            self.retained_write().set(r.message);
        }
        let mut expired_sessions = Vec::new();
        for loaded_session in loaded.sessions {
            let crate::store::LoadedSession {
                client_id: id,
                record,
                messages,
            } = loaded_session;
            let record_err = |reason: String| StoreError::Record {
                path: path.to_path_buf(),
                what: "session",
                key: id.clone(),
                reason,
            };
            let index = usize::try_from(record.listener)
                .ok()
                .filter(|i| *i < config.listeners.len())
                .unwrap_or(0);
            let Some(listener) = config.listeners.get(index) else {
                return Err(record_err("the configuration has no listener".into()));
            };
            let mut state = record.state;
            let written: Vec<u64> = messages.iter().map(|(mid, _)| mid.0).collect();
            for (mid, m) in messages {
                state.attach_message(mid, m.message, m.expires_at);
            }
            let session = Session::restore(Self::session_config(config, listener), state)
                .map_err(|e| record_err(e.to_string()))?;
            // A will stored with a connected client is due as for any connection that ended
            // without DISCONNECT (the crash ended it), counted from now; a pending one keeps
            // its time. Either way no later than the session's end (below).
            let (will, will_delay) = match record.will {
                Some(w) => {
                    let due = w.due_at.unwrap_or_else(|| {
                        (now + Duration::from_secs(u64::from(w.delay))).as_millis()
                    });
                    let will = Box::new(Will {
                        message: w.message,
                        delay: w.delay,
                        due_at: Some(due),
                    });
                    let delay = Duration::from_millis(due.saturating_sub(now.as_millis()));
                    (Some(will), Some(delay))
                }
                None => (None, None),
            };
            let state = ClientState {
                session,
                owner: None,
                generation: 0,
                will,
                version: record.version,
                username: record.username.map(String::into_boxed_str),
                clean_start: false,
                mount_point: listener.mount_point.as_deref().map(Arc::from),
                listener: index,
                shared: SharedLinks::default(),
                expires_at: record.expires_at,
                persisted: true,
                records: MessageRecords::restored(record.epoch, written),
                role: Role::Client,
            };
            let client_id: Arc<str> = Arc::from(id.as_str());
            let client = ClientRef(Arc::new(Client::new(Arc::clone(&client_id), state)));
            self.clients().insert(client_id, client.clone());
            {
                let mut table = self.subscriptions_write();
                for s in record.subscriptions {
                    let filter = mqtt_codec::TopicFilter::new(s.filter.clone())
                        .map_err(|e| record_err(format!("subscription '{}': {e}", s.filter)))?;
                    table.subscribe(
                        client.clone(),
                        &filter,
                        Subscription {
                            options: s.options,
                            identifier: s.identifier,
                        },
                    );
                }
            }
            if !record.shared.is_empty() {
                // The links of its shared deliveries to their groups (which its own
                // subscriptions, restored above, brought back).
                let table = self.subscriptions_read();
                let mut st = client.0.lock();
                for (id, filter) in record.shared {
                    let group = mqtt_codec::TopicFilter::new(filter)
                        .ok()
                        .and_then(|f| table.group_of(&f));
                    if let Some(group) = group {
                        st.shared.insert(id, group);
                    }
                }
            }
            // Disconnected at the crash or shutdown: its expiry runs from its disconnection, or
            // from now for a client that was connected then.
            let expiry = match record.expires_at {
                Some(at) => Some(Duration::from_millis(at.saturating_sub(now.as_millis()))),
                None => session_expiry(&client.0.lock(), config.persistent_client_expiration),
            };
            if let Some(delay) = will_delay {
                due_wills.push((client.clone(), delay.min(expiry.unwrap_or(Duration::MAX))));
            }
            match expiry {
                Some(d) if d.is_zero() => expired_sessions.push(client),
                Some(d) => {
                    if let Ok(rt) = tokio::runtime::Handle::try_current() {
                        let hub = Arc::clone(self);
                        rt.spawn(async move {
                            tokio::time::sleep(d).await;
                            hub.end_session(&client, 0);
                        });
                    }
                }
                None => {}
            }
        }
        Ok(Restored {
            expired_topics,
            expired_sessions,
            due_wills,
        })
    }
}

/// What remains to do once the loaded state is in place and the store runs.
struct Restored {
    /// Retained messages that expired while the broker was down.
    expired_topics: Vec<String>,
    /// Sessions that expired while the broker was down.
    expired_sessions: Vec<ClientRef>,
    /// Stored wills, and when they are due from now.
    due_wills: Vec<(ClientRef, Duration)>,
}

/// How often the server sweeps disconnected sessions for expired messages
/// ([`Hub::purge_expired`]).
pub(crate) const PURGE_EVERY: Duration = Duration::from_secs(60);

/// Whether a session outlives its connection, and so is stored: MQTT 5 Session Expiry Interval
/// above 0, MQTT 3.1/3.1.1 Clean Session 0.
fn is_persistent(st: &ClientState) -> bool {
    if st.version.is_v5() {
        st.session.session_expiry_interval() > 0
    } else {
        !st.clean_start
    }
}

/// A client identifier for a client that sent none, as Mosquitto makes them: `auto_id_prefix`
/// (default `auto-`) followed by a random UUID in upper case, e.g.
/// `auto-B213DF67-C224-4E45-AEF9-3D0C3D1CE7D4` (spec 3.1.3.1: unique; 122 random bits make a
/// collision with another session's identifier negligible).
fn generated_client_id(prefix: &str) -> String {
    format!("{prefix}{:X}", uuid::Uuid::new_v4().hyphenated())
}

/// How long a disconnected session lives: `Some(0)` ends it now, `None` keeps it forever.
/// Persistent sessions without an expiry of their own (3.1.1 Clean Session 0, 5.0 "never"
/// 0xFFFFFFFF) end after Mosquitto's `persistent_client_expiration`, when set.
fn session_expiry(st: &ClientState, persistent_expiration: Option<Duration>) -> Option<Duration> {
    if st.version.is_v5() {
        let secs = st.session.session_expiry_interval();
        if secs == u32::MAX {
            persistent_expiration
        } else {
            Some(Duration::from_secs(u64::from(secs)))
        }
    } else if st.clean_start {
        Some(Duration::ZERO)
    } else {
        persistent_expiration
    }
}

/// Applies the current configuration to a resumed session, keeping its state.
fn reconfigure(session: Session, config: &SessionConfig) -> Session {
    match Session::restore(config.clone(), session.snapshot()) {
        Ok(s) => s,
        Err(_) => session,
    }
}

/// What one client receives of a message: merged over its matching subscriptions.
struct Delivery {
    qos: QoS,
    retain_as_published: bool,
    identifiers: Vec<NonZeroU32>,
    /// Set for a delivery through a shared subscription.
    group: Option<GroupId>,
}

impl Delivery {
    fn new(sub: &Subscription) -> Self {
        Delivery {
            qos: sub.options.qos,
            retain_as_published: sub.options.retain_as_published,
            identifiers: sub.identifier.into_iter().collect(),
            group: None,
        }
    }

    fn merge(&mut self, sub: &Subscription) {
        self.qos = self.qos.max(sub.options.qos);
        self.retain_as_published |= sub.options.retain_as_published;
        self.identifiers.extend(sub.identifier);
    }

    fn apply(self, message: &Message, upgrade_qos: bool) -> Message {
        let mut out = message.clone();
        // Spec 3.8.4: the QoS of the delivered message is the lower of the two, unless the
        // administrator asked for Mosquitto's non-standard upgrade_outgoing_qos.
        out.qos = if upgrade_qos {
            self.qos
        } else {
            message.qos.min(self.qos)
        };
        // [MQTT-3.3.1-9] (3.1.1) / [MQTT-3.3.1-12] (5.0): RETAIN 0 for normal forwarding unless
        // Retain As Published.
        out.retain = message.retain && self.retain_as_published;
        // Written only when there is something to write: writing allocates the message's own
        // property set (copy-on-write), and most deliveries carry no identifier.
        if !self.identifiers.is_empty() || !out.properties.subscription_identifiers.is_empty() {
            out.properties.subscription_identifiers = self.identifiers;
        }
        out
    }
}

/// The member of `group` to deliver to: `chosen` if it is online, else the next online member
/// (at most a few tries; an offline member's session queues the message).
fn online_member(
    table: &SubscriptionTable<ClientRef>,
    group: GroupId,
    chosen: &ClientRef,
    subscription: &Subscription,
) -> (ClientRef, Subscription) {
    let is_online = |c: &ClientRef| c.0.lock().owner.is_some();
    if is_online(chosen) {
        return (chosen.clone(), *subscription);
    }
    let mut current = chosen.clone();
    for _ in 0..8 {
        match table.next_member(group, &current) {
            Some(next) if &next.client == chosen => break,
            Some(next) if is_online(&next.client) => return (next.client, next.subscription),
            Some(next) => current = next.client,
            None => break,
        }
    }
    (chosen.clone(), *subscription)
}

/// A client as the publisher of a retained message (`check_retain_source`).
fn retain_source(client: &ClientRef, st: &ClientState) -> RetainSource {
    RetainSource::new(client.id(), st.username.as_deref(), st.listener)
}

/// A copy of `message` that owns its bytes. Decoded topics and payloads are slices of the
/// connection's read buffer; a message kept for long (retained) would otherwise pin that whole
/// buffer.
fn compact(message: &Message) -> Message {
    let mut m = message.clone();
    if let Ok(topic) = mqtt_codec::TopicName::new(message.topic.as_str()) {
        m.topic = topic;
    }
    m.payload = bytes::Bytes::copy_from_slice(&message.payload);
    m
}

#[cfg(test)]
impl Hub {
    /// Calls `holding`, then panics, while holding every shared lock and the state lock of
    /// `client_id`, as a bug in code that holds them would: for tests of the broker's recovery
    /// from poisoned locks.
    #[allow(clippy::panic)]
    pub(crate) fn panic_holding_locks(&self, client_id: &str, holding: impl FnOnce()) {
        let clients = self.clients();
        let client = clients.get(client_id).cloned();
        let _subscriptions = self.subscriptions_write();
        let _retained = self.retained_write();
        let _expiry = self.retained_expiry.lock();
        let _source = self.retained_source.lock();
        let _state = client.as_ref().map(|c| c.0.lock());
        holding();
        panic!("injected fault while holding the broker's locks");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn connect(
        hub: &Hub,
        id: &str,
        version: ProtocolVersion,
        clean: bool,
        expiry: u32,
    ) -> ClientRef {
        let config = hub.config();
        let mut c = Connect {
            protocol: version,
            clean_start: clean,
            client_id: MqttString::new(id).unwrap(),
            ..Connect::default()
        };
        if version.is_v5() {
            c.properties.session_expiry_interval = Some(expiry);
        }
        let listener = &config.listeners[0];
        let accepted = hub
            .connect(&c, 0, listener, "test", Role::Client)
            .map_err(|refused| refused.reason_code)
            .unwrap();
        accepted.client
    }

    /// The store resolves a session that ended after another session of its client identifier
    /// took its place: the ended one's record must go unless the newer one writes its own
    /// (a stale record whose message records were deleted made the next start fail).
    #[test]
    fn an_ended_session_replaced_by_one_that_is_not_stored_deletes_its_record() {
        let hub = Hub::new(Arc::new(Config::default()));
        for (version, expiry, newer_stored) in [
            (ProtocolVersion::V3_1_1, 0, false),
            (ProtocolVersion::V5, 0, false),
            (ProtocolVersion::V5, 3600, true),
        ] {
            let old = connect(&hub, "c", version, false, 3600);
            old.0.lock().owner = None; // its connection ended
            let new = connect(&hub, "c", version, true, expiry);
            assert!(!Arc::ptr_eq(&old.0, &new.0));
            match hub.session_record(&old) {
                SessionWrite::Delete(_) => assert!(!newer_stored, "{version:?} {expiry}"),
                SessionWrite::Skip(_) => assert!(newer_stored, "{version:?} {expiry}"),
                SessionWrite::Put(..) => panic!("the ended session was written"),
            }
            new.0.lock().owner = None;
        }
    }

    /// `$SYS/broker/messages/sent` and `bytes/sent` count each delivery (Mosquitto counts a
    /// message per subscriber it goes to), although they are added once per routed message.
    #[test]
    fn sent_counters_count_each_subscriber_a_message_reaches() {
        let hub = Hub::new(Arc::new(Config::default()));
        let subscribers: Vec<ClientRef> = ["s1", "s2", "s3"]
            .iter()
            .map(|id| connect(&hub, id, ProtocolVersion::V5, true, 0))
            .collect();
        for (i, s) in subscribers.iter().enumerate() {
            let filters = vec![(
                mqtt_codec::TopicFilter::new("t/#").unwrap(),
                mqtt_codec::SubscriptionOptions::default(),
            )];
            let subscribe = mqtt_codec::Subscribe {
                packet_id: mqtt_codec::PacketId::try_from(u16::try_from(i + 1).unwrap()).unwrap(),
                properties: mqtt_codec::SubscribeProperties::default(),
                filters,
            };
            hub.subscribe(s, ProtocolVersion::V5, QoS::ExactlyOnce, subscribe);
        }
        let publisher = connect(&hub, "p", ProtocolVersion::V5, true, 0);
        let topic = mqtt_codec::TopicName::new("t/1").unwrap();
        let routed = hub.publish(
            Some(&publisher),
            Message::new(topic.clone(), "12345", QoS::AtMostOnce),
            clock::now(),
        );
        assert_eq!(routed.delivered, 3);
        // A topic nobody subscribed to counts nothing.
        let other = mqtt_codec::TopicName::new("u/1").unwrap();
        hub.publish(
            Some(&publisher),
            Message::new(other, "x", QoS::AtMostOnce),
            clock::now(),
        );
        assert_eq!(hub.metrics.messages_sent.get(), 3);
        assert_eq!(hub.metrics.bytes_sent.get(), 15);
        assert_eq!(hub.metrics.messages_received.get(), 2);
    }
}
