//! The task that drives one connection: socket I/O, the session's timers and the application's
//! commands, around the sans-IO [`Session`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::BytesMut;
use mqtt_codec::{
    ConnAck, Decoder, Disconnect, PacketId, ReasonCode, SubAck, SubscribeProperties,
    SubscriptionOptions, TopicFilter, UnsubAck, UnsubscribeProperties,
};
use mqtt_session::{Event, InboundAck, Instant, Message, MessageId, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, watch};

use crate::client::PublishOutcome;
use crate::error::ClientError;
use crate::observe::{Direction, PacketObserver};
use crate::options::{ClientOptions, Reconnect};
use crate::transport::{self, Stream};

type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// What the application asks of the connection.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        message: Message,
        done: Reply<PublishOutcome>,
    },
    Subscribe {
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
        done: Reply<SubAck>,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
        done: Reply<UnsubAck>,
    },
    Disconnect {
        disconnect: Disconnect,
        done: Reply<()>,
    },
}

/// A received message as handed to the application: with manual acks, the token that
/// acknowledges a QoS 1 or 2 message.
pub(crate) type Delivered = (Message, Option<InboundAck>);

/// The application acknowledges a received message (manual acks), with this reason code.
pub(crate) type AckRequest = (InboundAck, ReasonCode);

/// Commands waiting in the channel; the application's `publish` waits when it is full.
const COMMAND_BUFFER: usize = 64;

/// Commands handled together before the packets they produce are written.
const COMMAND_BATCH: usize = 256;

/// Messages the session may hold beyond its in-flight window before the driver stops taking
/// commands (backpressure instead of an unbounded queue).
const QUEUE_HIGH_WATER: usize = 1024;

type Started = (
    mpsc::Sender<Command>,
    mpsc::UnboundedSender<AckRequest>,
    mpsc::Receiver<Delivered>,
    watch::Receiver<Option<Arc<ClientError>>>,
    oneshot::Receiver<Result<Box<ConnAck>, ClientError>>,
    watch::Receiver<bool>,
);

/// Opens the transport, queues CONNECT and spawns the driver.
pub(crate) async fn start(options: ClientOptions) -> Result<Started, ClientError> {
    let stream = transport::open(&options).await?;
    let (reader, writer) = tokio::io::split(stream);
    let (commands_tx, commands) = mpsc::channel(COMMAND_BUFFER);
    let (acks_tx, acks) = mpsc::unbounded_channel();
    let (messages, messages_rx) = mpsc::channel(options.message_buffer.max(1));
    let (closed_tx, closed_rx) = watch::channel(None);
    let (connected_tx, connected_rx) = oneshot::channel();
    // Whether the connection is up (see `Client::connection_status`); true once the first
    // CONNACK has been received, which is when the application gets its `Client`.
    let (online, online_rx) = watch::channel(true);
    let mut config = options.session.clone();
    config.manual_acks = options.manual_acks;
    let mut session = Session::new_client(config);
    let decoder = new_decoder(&options);
    let clock = tokio::time::Instant::now();
    let reconnect = options.reconnect.map(|policy| Reconnector {
        policy,
        options: options.clone(),
    });
    let observer = options.observer.clone();
    session.connect(Instant::from_millis(0), options.connect)?;
    let driver = Driver {
        session,
        decoder,
        reader,
        writer,
        read_buf: BytesMut::with_capacity(8 * 1024),
        write_buf: BytesMut::with_capacity(8 * 1024),
        clock,
        commands,
        acks,
        acks_open: true,
        held_acks: Vec::new(),
        messages,
        backlog: VecDeque::new(),
        connected: Some(connected_tx),
        publishes: HashMap::new(),
        subscribes: HashMap::new(),
        unsubscribes: HashMap::new(),
        disconnecting: None,
        observer,
        connack_deadline: None,
        reconnect,
        subscriptions: Vec::new(),
        deferred: Vec::new(),
        online,
    };
    tokio::spawn(async move {
        let reason = driver.run().await;
        // Receivers may all be gone; nobody is left to tell then.
        let _ = closed_tx.send(reason.map(Arc::new));
    });
    Ok((
        commands_tx,
        acks_tx,
        messages_rx,
        closed_rx,
        connected_rx,
        online_rx,
    ))
}

struct Driver {
    session: Session,
    decoder: Decoder,
    reader: ReadHalf<Stream>,
    writer: WriteHalf<Stream>,
    read_buf: BytesMut,
    write_buf: BytesMut,
    clock: tokio::time::Instant,
    commands: mpsc::Receiver<Command>,
    /// The application's acknowledgements of received messages (manual acks).
    acks: mpsc::UnboundedReceiver<AckRequest>,
    /// False once every sender of `acks` is gone.
    acks_open: bool,
    /// Acknowledgements made while the connection is down: applied once the session has
    /// resumed, so that the server's re-sent PUBLISH finds the message still awaiting its
    /// acknowledgement (and it is not delivered twice).
    held_acks: Vec<AckRequest>,
    messages: mpsc::Sender<Delivered>,
    /// Messages received but not yet taken by the application: while any wait, the driver
    /// stops reading the socket, so a slow application slows the server instead of growing
    /// memory.
    backlog: VecDeque<Delivered>,
    connected: Option<Reply<Box<ConnAck>>>,
    publishes: HashMap<MessageId, Reply<PublishOutcome>>,
    subscribes: HashMap<PacketId, PendingSubscribe>,
    unsubscribes: HashMap<PacketId, PendingUnsubscribe>,
    disconnecting: Option<Reply<()>>,
    observer: Option<PacketObserver>,
    /// When a reconnection's CONNACK is due.
    connack_deadline: Option<tokio::time::Instant>,
    /// Present when the application asked for automatic reconnection.
    reconnect: Option<Reconnector>,
    /// What the server granted, to subscribe again on a new connection without a session.
    subscriptions: Vec<Granted>,
    /// Subscribe and unsubscribe requests made while offline, sent once connected again (the
    /// session forgets requests when a new connection starts).
    deferred: Vec<Command>,
    /// False from the loss of an established connection until a reconnection's CONNACK, and
    /// once the driver ends (`Client::connection_status`).
    online: watch::Sender<bool>,
}

/// A SUBSCRIBE waiting for its SUBACK.
struct PendingSubscribe {
    done: Option<Reply<SubAck>>,
    filters: Vec<(TopicFilter, SubscriptionOptions)>,
    properties: SubscribeProperties,
}

/// An UNSUBSCRIBE waiting for its UNSUBACK.
struct PendingUnsubscribe {
    done: Reply<UnsubAck>,
    filters: Vec<TopicFilter>,
}

/// Subscriptions the server accepted, with the properties they were made with (a Subscription
/// Identifier must come back with them).
struct Granted {
    filters: Vec<(TopicFilter, SubscriptionOptions)>,
    properties: SubscribeProperties,
}

/// The options to reconnect with, and how often to try.
struct Reconnector {
    policy: Reconnect,
    options: ClientOptions,
}

/// What woke the loop up.
enum Step {
    Read(std::io::Result<usize>),
    Command(Option<Command>),
    Ack(Option<AckRequest>),
    Delivered,
    Timeout,
}

/// Why the loop stopped: `None` for a disconnect the application asked for.
type End = Option<ClientError>;

impl Driver {
    fn now(&self) -> Instant {
        let ms = self.clock.elapsed().as_millis();
        Instant::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    async fn run(mut self) -> End {
        let end = loop {
            let end = self.run_loop().await;
            let Some(lost) = end else { break None };
            // Only an established connection is re-established: a first CONNECT that fails is
            // the application's to handle, and a refusal will not change by retrying.
            let established = self.connected.is_none();
            if self.reconnect.is_none() || !established || !is_connection_loss(&lost) {
                break Some(lost);
            }
            tracing::warn!("connection lost ({lost}); reconnecting");
            self.online.send_replace(false);
            if let Some(end) = self.reestablish().await {
                break end;
            }
        };
        self.online.send_replace(false);
        if let Some(done) = self.disconnecting.take() {
            let _ = done.send(Ok(()));
        }
        if let (Some(connected), Some(e)) = (self.connected.take(), &end) {
            let _ = connected.send(Err(copy_error(e)));
        }
        end
    }

    async fn run_loop(&mut self) -> End {
        loop {
            if let Err(e) = self.flush().await {
                return Some(e);
            }
            if self.disconnecting.is_some() {
                // DISCONNECT is written: close our side and stop.
                let _ = self.writer.shutdown().await;
                return None;
            }
            let session_deadline = self
                .session
                .poll_timeout()
                .map(|t| self.clock + std::time::Duration::from_millis(t.as_millis()));
            // Until the CONNACK of a reconnection arrives, the session has no timer: the
            // driver's own deadline stops a server that accepts TCP but never answers.
            let deadline = match (session_deadline, self.connack_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let take_commands = self.session.queued_len() < QUEUE_HIGH_WATER;
            let reading = self.backlog.is_empty();
            let step = tokio::select! {
                read = self.reader.read_buf(&mut self.read_buf), if reading => Step::Read(read),
                command = self.commands.recv(), if take_commands => Step::Command(command),
                ack = self.acks.recv(), if self.acks_open => Step::Ack(ack),
                permit = self.messages.reserve(), if !self.backlog.is_empty() => {
                    match permit {
                        Ok(permit) => {
                            if let Some(m) = self.backlog.pop_front() {
                                permit.send(m);
                            }
                        }
                        // The application dropped its receiver: it wants no messages.
                        Err(_) => self.backlog.clear(),
                    }
                    Step::Delivered
                }
                _ = sleep_until(deadline) => Step::Timeout,
            };
            match step {
                Step::Read(Ok(0)) => return Some(ClientError::ConnectionClosed),
                Step::Read(Ok(_)) => {
                    if let Err(e) = self.decode_all() {
                        return Some(e);
                    }
                }
                Step::Read(Err(e)) => return Some(ClientError::Io(e)),
                Step::Command(Some(command)) => {
                    self.command(command);
                    // Take what else is already waiting, so that one write carries many
                    // packets (a publisher in a loop otherwise costs a system call each).
                    for _ in 0..COMMAND_BATCH {
                        if self.disconnecting.is_some()
                            || self.session.queued_len() >= QUEUE_HIGH_WATER
                        {
                            break;
                        }
                        match self.commands.try_recv() {
                            Ok(command) => self.command(command),
                            Err(_) => break,
                        }
                    }
                }
                Step::Command(None) => {
                    // Every handle is gone: disconnect normally.
                    self.session.disconnect(Disconnect::default());
                    let (done, _) = oneshot::channel();
                    self.disconnecting = Some(done);
                }
                Step::Ack(Some(ack)) => {
                    self.ack(ack);
                    while let Ok(ack) = self.acks.try_recv() {
                        self.ack(ack);
                    }
                }
                Step::Ack(None) => self.acks_open = false,
                Step::Delivered => {}
                Step::Timeout => {
                    if self
                        .connack_deadline
                        .is_some_and(|at| tokio::time::Instant::now() >= at)
                    {
                        return Some(ClientError::Io(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "no CONNACK in time",
                        )));
                    }
                    let now = self.now();
                    self.session.handle_timeout(now);
                }
            }
            if let Some(end) = self.drain_events() {
                let _ = self.flush().await;
                return end;
            }
        }
    }

    fn decode_all(&mut self) -> Result<(), ClientError> {
        let now = self.now();
        while let Some(packet) = self.decoder.decode(&mut self.read_buf)? {
            if let Some(observer) = &self.observer {
                observer.notify(Direction::Received, &packet);
            }
            self.session.handle_packet(now, packet);
        }
        Ok(())
    }

    /// The application acknowledges a received message: sent now if the session is
    /// connected, else once it has resumed.
    fn ack(&mut self, (ack, reason_code): AckRequest) {
        if *self.online.borrow() && self.connack_deadline.is_none() {
            self.session.ack(ack, reason_code);
        } else {
            self.held_acks.push((ack, reason_code));
        }
    }

    fn command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Publish { message, done } => {
                let qos0 = message.qos == mqtt_codec::QoS::AtMostOnce;
                match self.session.publish(now, message) {
                    Ok(_) if qos0 => {
                        let _ = done.send(Ok(PublishOutcome {
                            reason_code: ReasonCode::Success,
                        }));
                    }
                    Ok(id) => {
                        self.publishes.insert(id, done);
                    }
                    Err(e) => {
                        let _ = done.send(Err(e.into()));
                    }
                }
            }
            Command::Subscribe {
                filters,
                properties,
                done,
            } => match self.session.subscribe(filters.clone(), properties.clone()) {
                Ok(id) => {
                    self.subscribes.insert(
                        id,
                        PendingSubscribe {
                            done: Some(done),
                            filters,
                            properties,
                        },
                    );
                }
                Err(e) => {
                    let _ = done.send(Err(e.into()));
                }
            },
            Command::Unsubscribe {
                filters,
                properties,
                done,
            } => match self.session.unsubscribe(filters.clone(), properties) {
                Ok(id) => {
                    self.unsubscribes
                        .insert(id, PendingUnsubscribe { done, filters });
                }
                Err(e) => {
                    let _ = done.send(Err(e.into()));
                }
            },
            Command::Disconnect { disconnect, done } => {
                // Acknowledgements made before `disconnect` was called leave before it.
                while let Ok(ack) = self.acks.try_recv() {
                    self.ack(ack);
                }
                self.session.disconnect(disconnect);
                self.disconnecting = Some(done);
            }
        }
    }

    /// Handles the session's events; returns `Some` when the connection must end.
    fn drain_events(&mut self) -> Option<End> {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Connected(connack) => {
                    self.connack_deadline = None;
                    if let Some(connected) = self.connected.take() {
                        self.remember_assigned_id(&connack);
                        let _ = connected.send(Ok(connack));
                    } else {
                        self.resumed(&connack);
                        self.online.send_replace(true);
                    }
                }
                Event::ConnectionRefused(connack) => {
                    let e = ClientError::Refused(connack.clone());
                    if let Some(connected) = self.connected.take() {
                        let _ = connected.send(Err(ClientError::Refused(connack)));
                    }
                    return Some(Some(e));
                }
                Event::Message { message, ack } => self.deliver((message, ack)),
                Event::PublishCompleted { id, reason_code } => {
                    if let Some(done) = self.publishes.remove(&id) {
                        let _ = done.send(Ok(PublishOutcome { reason_code }));
                    }
                }
                Event::PublishDropped { id, reason } => {
                    if let Some(done) = self.publishes.remove(&id) {
                        let _ = done.send(Err(ClientError::Dropped(reason)));
                    }
                }
                Event::Subscribed(suback) => {
                    if let Some(pending) = self.subscribes.remove(&suback.packet_id) {
                        self.granted(&pending, &suback);
                        if let Some(done) = pending.done {
                            let _ = done.send(Ok(suback));
                        }
                    }
                }
                Event::Unsubscribed(unsuback) => {
                    if let Some(pending) = self.unsubscribes.remove(&unsuback.packet_id) {
                        self.forget(&pending.filters);
                        let _ = pending.done.send(Ok(unsuback));
                    }
                }
                Event::PeerDisconnected(d) => {
                    return Some(Some(ClientError::Disconnected(d.reason_code)));
                }
                Event::KeepAliveTimeout => return Some(Some(ClientError::KeepAliveTimeout)),
                Event::ProtocolViolation(v) => {
                    tracing::warn!("server broke the protocol: {v}");
                    return Some(Some(ClientError::Violation(v)));
                }
                Event::UnknownPacketId {
                    packet_type,
                    packet_id,
                } => {
                    tracing::debug!(
                        "server acknowledged unknown packet id {packet_id} ({packet_type})"
                    );
                }
                Event::Auth(_) => {
                    tracing::debug!("AUTH received; extended authentication is not supported");
                }
                // Server-side events never reach a client session.
                Event::Subscribe(_) | Event::Unsubscribe(_) => {}
            }
        }
        None
    }

    /// Records what a SUBACK granted, when reconnecting may need to subscribe again.
    fn granted(&mut self, pending: &PendingSubscribe, suback: &SubAck) {
        if self.reconnect.is_none() {
            return;
        }
        let filters: Vec<_> = pending
            .filters
            .iter()
            .zip(&suback.reason_codes)
            .filter(|(_, rc)| !rc.is_error())
            .map(|(f, _)| f.clone())
            .collect();
        // A new subscription to the same filter replaces the old one [MQTT-3.8.4-3].
        self.forget(&filters.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>());
        if !filters.is_empty() {
            self.subscriptions.push(Granted {
                filters,
                properties: pending.properties.clone(),
            });
        }
    }

    fn forget(&mut self, filters: &[TopicFilter]) {
        for granted in &mut self.subscriptions {
            granted.filters.retain(|(f, _)| !filters.contains(f));
        }
        self.subscriptions.retain(|g| !g.filters.is_empty());
    }

    /// An MQTT 5 server named the client: a later connection uses that name, so that the
    /// server can find the session again.
    fn remember_assigned_id(&mut self, connack: &ConnAck) {
        if let (Some(r), Some(id)) = (
            &mut self.reconnect,
            &connack.properties.assigned_client_identifier,
        ) {
            r.options.connect.client_id = id.clone();
        }
    }

    /// A new connection is accepted: subscribe again if the server kept nothing, then send
    /// what the application asked for while offline.
    fn resumed(&mut self, connack: &ConnAck) {
        tracing::info!("reconnected (session present: {})", connack.session_present);
        self.remember_assigned_id(connack);
        if !connack.session_present {
            let again: Vec<_> = self
                .subscriptions
                .iter()
                .map(|g| (g.filters.clone(), g.properties.clone()))
                .collect();
            for (filters, properties) in again {
                match self.session.subscribe(filters.clone(), properties.clone()) {
                    Ok(id) => {
                        self.subscribes.insert(
                            id,
                            PendingSubscribe {
                                done: None,
                                filters,
                                properties,
                            },
                        );
                    }
                    Err(e) => tracing::warn!("cannot subscribe again: {e}"),
                }
            }
        }
        for command in std::mem::take(&mut self.deferred) {
            self.command(command);
        }
        // Tokens of a session the server discarded match nothing: the session ignores them.
        for (ack, reason_code) in std::mem::take(&mut self.held_acks) {
            self.session.ack(ack, reason_code);
        }
    }

    /// After losing the connection: waits, reopens the transport and sends CONNECT, until that
    /// works (`None`: go on driving) or the application gives up (`Some`: stop with this).
    async fn reestablish(&mut self) -> Option<End> {
        let Some(reconnector) = &self.reconnect else {
            return Some(Some(ClientError::ConnectionClosed));
        };
        let policy = reconnector.policy;
        self.session.connection_lost();
        // Requests the session forgot cannot be answered any more.
        for (_, pending) in self.subscribes.drain() {
            if let Some(done) = pending.done {
                let _ = done.send(Err(ClientError::ConnectionClosed));
            }
        }
        for (_, pending) in self.unsubscribes.drain() {
            let _ = pending.done.send(Err(ClientError::ConnectionClosed));
        }
        self.read_buf.clear();
        self.write_buf.clear();
        let mut delay = policy.min_delay;
        loop {
            // A delay too long to represent waits "for ever" (until a command ends it).
            let wake = tokio::time::Instant::now().checked_add(delay);
            loop {
                let take_commands = self.session.queued_len() < QUEUE_HIGH_WATER;
                let command = tokio::select! {
                    _ = sleep_until(wake) => break,
                    command = self.commands.recv(), if take_commands => command,
                    ack = self.acks.recv(), if self.acks_open => {
                        match ack {
                            Some(ack) => self.held_acks.push(ack),
                            None => self.acks_open = false,
                        }
                        continue;
                    }
                };
                match command {
                    // Every handle is gone, or the application disconnects: nothing to send.
                    None => return Some(None),
                    Some(Command::Disconnect { done, .. }) => {
                        let _ = done.send(Ok(()));
                        return Some(None);
                    }
                    Some(c @ (Command::Subscribe { .. } | Command::Unsubscribe { .. })) => {
                        self.deferred.push(c);
                    }
                    Some(c) => {
                        self.command(c);
                        // Offline QoS 0 messages are reported dropped at once.
                        let _ = self.drain_events();
                    }
                }
            }
            let options = match &self.reconnect {
                Some(r) => r.options.clone(),
                None => return Some(Some(ClientError::ConnectionClosed)),
            };
            let opened = tokio::time::timeout(options.connect_timeout, transport::open(&options));
            match opened.await {
                Ok(Ok(stream)) => {
                    let (reader, writer) = tokio::io::split(stream);
                    self.reader = reader;
                    self.writer = writer;
                    self.decoder = new_decoder(&options);
                    let mut connect = options.connect;
                    if resumable(&connect) {
                        connect.clean_start = false;
                    }
                    let now = self.now();
                    if let Err(e) = self.session.connect(now, connect) {
                        return Some(Some(e.into()));
                    }
                    self.connack_deadline =
                        tokio::time::Instant::now().checked_add(options.connect_timeout);
                    return None;
                }
                Ok(Err(e)) => tracing::warn!("reconnecting failed: {e}"),
                Err(_) => tracing::warn!("reconnecting timed out"),
            }
            delay = delay
                .saturating_mul(2)
                .min(policy.max_delay.max(policy.min_delay));
        }
    }

    fn deliver(&mut self, message: Delivered) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(message);
            return;
        }
        match self.messages.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(m)) => self.backlog.push_back(m),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// Encodes everything the session has to send and writes it.
    async fn flush(&mut self) -> Result<(), ClientError> {
        let now = self.now();
        let version = self.session.version();
        while let Some(packet) = self.session.poll_transmit(now) {
            packet.encode(version, &mut self.write_buf)?;
            if let Some(observer) = &self.observer {
                observer.notify(Direction::Sent, &packet);
            }
            if self.write_buf.len() >= 64 * 1024 {
                self.writer.write_all_buf(&mut self.write_buf).await?;
            }
        }
        if !self.write_buf.is_empty() {
            self.writer.write_all_buf(&mut self.write_buf).await?;
        }
        // TLS and WebSocket may hold written data until flushed (a no-op on TCP).
        self.writer.flush().await?;
        Ok(())
    }
}

fn new_decoder(options: &ClientOptions) -> Decoder {
    let mut decoder = Decoder::new(options.connect.protocol);
    if let Some(max) = options.session.max_packet_size {
        decoder.set_max_packet_size(max.get() as usize);
    }
    decoder
}

/// Whether the server may still hold the session of a connection that used `connect`, so that
/// the next CONNECT should ask to resume it.
fn resumable(connect: &mqtt_codec::Connect) -> bool {
    if connect.protocol.is_v5() {
        connect.properties.session_expiry_interval.unwrap_or(0) > 0
    } else {
        !connect.clean_start
    }
}

/// Whether `e` ended the connection from outside (network, server), so that reconnecting may
/// help; refusals and protocol errors of the server would only repeat.
fn is_connection_loss(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Io(_)
            | ClientError::ConnectionClosed
            | ClientError::KeepAliveTimeout
            | ClientError::Disconnected(_)
    )
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A second copy of an error for the CONNACK waiter (io::Error is not Clone).
fn copy_error(e: &ClientError) -> ClientError {
    match e {
        ClientError::Io(io) => ClientError::Io(std::io::Error::new(io.kind(), io.to_string())),
        ClientError::Refused(c) => ClientError::Refused(c.clone()),
        ClientError::Disconnected(rc) => ClientError::Disconnected(*rc),
        ClientError::Violation(v) => ClientError::Violation(v.clone()),
        ClientError::KeepAliveTimeout => ClientError::KeepAliveTimeout,
        _ => ClientError::ConnectionClosed,
    }
}
