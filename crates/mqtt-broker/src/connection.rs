//! One client connection: frames packets over a socket and drives the client's
//! `mqtt_session::Session` with them.
//!
//! The task owns the socket. Other tasks reach it only through the client's session (messages
//! they queue there) and its `Notify` (a wake-up); so the socket is written by one task, in
//! the order the session produces packets.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::sync::atomic::Ordering as AtomicOrdering;

use bytes::{Buf, BytesMut};
use mqtt_codec::{
    ConnAck, Connect, DecodeError, Decoder, Disconnect, Packet, ProtocolVersion, ReasonCode,
};
use mqtt_session::{ConnectionState, Event};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tracing::{debug, error, info, warn};

use crate::client::{ClientRef, Role};
use crate::clock;
use crate::config::Listener;
use crate::hub::{Ending, Hub};
use crate::server::ConnectionSlot;

/// How long a new connection may take to send CONNECT.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one connection until it closes.
///
/// `cert_username` is set on TLS listeners with `use_identity_as_username` or
/// `use_subject_as_username`: the username the client certificate gives (it replaces the
/// CONNECT's username, and its password is dropped, as in Mosquitto), or the refusal to send
/// when the client has no usable certificate.
///
/// Most connections live long and idle, and the task is sized for its largest state: the
/// handshake (the CONNECT, its timers, the authentication, and these arguments) is boxed, so
/// that it is freed once done rather than kept in the task for its whole life.
#[allow(clippy::too_many_arguments)]
pub(crate) fn serve<S>(
    hub: Arc<Hub>,
    listener_index: usize,
    listener: Arc<Listener>,
    stream: S,
    peer: String,
    connect_timeout: Duration,
    cert_username: Option<Result<String, ReasonCode>>,
    slot: ConnectionSlot,
) -> impl Future<Output = ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    drive(Box::pin(handshake(
        hub,
        (listener_index, listener),
        stream,
        peer,
        connect_timeout,
        cert_username,
        slot,
    )))
}

/// Runs the connection the handshake accepted, if it did.
async fn drive<S, H>(handshake: Pin<Box<H>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
    H: Future<Output = Option<(Box<Connection>, S)>>,
{
    let Some((mut conn, mut stream)) = handshake.await else {
        return;
    };
    // Not split into halves: the loop polls reading and writing from one function, and the
    // halves would cost an allocation and a lock per connection.
    let ending = conn.run(&mut stream).await;
    // Logged once the hub has handled it (will, session kept or ended, its store change
    // submitted): whoever reads the log may rely on that.
    conn.release(ending);
    if conn.hub.config().connection_messages {
        match ending {
            Ending::Normal => info!("Client {} disconnected.", conn.client.id()),
            Ending::TakenOver => {}
            _ => info!("Client {} closed its connection.", conn.client.id()),
        }
    }
}

/// Reads the CONNECT and has the hub accept it: the connection, ready to run, with what was
/// read past the CONNECT, and the stream; `None` if it was refused or failed (answered and
/// logged here).
async fn handshake<S>(
    hub: Arc<Hub>,
    (listener_index, listener): (usize, Arc<Listener>),
    mut stream: S,
    peer: String,
    connect_timeout: Duration,
    cert_username: Option<Result<String, ReasonCode>>,
    slot: ConnectionSlot,
) -> Option<(Box<Connection>, S)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (hub, listener, io) = (&hub, &listener, &mut stream);
    // The limits in force when the connection starts apply to it until it ends (a reload on
    // SIGHUP applies to later connections).
    let config = hub.config();
    if config.connection_messages {
        info!("New connection from {peer} on port {}.", listener.port);
    }
    let mut rbuf = BytesMut::new();
    let mut decoder = Decoder::new_server();
    if let Some(max) = config.max_packet_size {
        decoder.set_max_packet_size(max as usize);
    }
    let connect =
        match tokio::time::timeout(connect_timeout, read_packet(io, &mut rbuf, &mut decoder)).await
        {
            Ok(Ok(Some(Packet::Connect(c)))) => c,
            Ok(Ok(_)) => return None,
            Ok(Err(ReadError::Decode(e))) => {
                refuse_malformed(io, &e, &peer).await;
                return None;
            }
            Ok(Err(ReadError::Io(e))) => {
                debug!("Socket error on new connection from {peer}: {e}");
                return None;
            }
            Err(_) => {
                info!("Client {peer} did not send CONNECT in time, closing.");
                return None;
            }
        };
    let mut connect = connect;
    match cert_username {
        None => {}
        Some(Ok(username)) => match mqtt_codec::MqttString::new(username) {
            Ok(username) => {
                connect.username = Some(username);
                connect.password = None;
            }
            Err(_) => {
                info!("Client {peer}: its certificate subject is not a valid username; closing.");
                return None;
            }
        },
        Some(Err(code)) => {
            info!(
                "Client {peer} refused: {}.",
                if code == ReasonCode::BadUserNameOrPassword {
                    "no client certificate to take the username from"
                } else {
                    "its client certificate has no usable common name"
                }
            );
            let connack = ConnAck {
                reason_code: code,
                ..ConnAck::default()
            };
            write_packet(io, Packet::ConnAck(Box::new(connack)), connect.protocol).await;
            return None;
        }
    }
    // Mosquitto's bridges connect with a private protocol level (`try_private`).
    let role = if connect.bridge {
        Role::RemoteBridge
    } else {
        Role::Client
    };
    // A password means a PBKDF2 check whose cost the password file sets (its iteration count):
    // run it on the blocking pool, so that a slow hash or a flood of logins never stalls the
    // workers that serve everyone else.
    let decided = if connect.password.is_some() {
        let (hub, listener, peer) = (Arc::clone(hub), Arc::clone(listener), peer.clone());
        let connect = connect.clone();
        tokio::task::spawn_blocking(move || {
            hub.connect(&connect, listener_index, &listener, &peer, role)
        })
        .await
    } else {
        Ok(hub.connect(&connect, listener_index, listener, &peer, role))
    };
    let decided = match decided {
        Ok(decided) => decided,
        Err(e) => {
            // The check panicked (a bug): refuse this client, keep serving the others.
            error!("Error: authenticating the client from {peer} failed: {e}");
            return None;
        }
    };
    let accepted = match decided {
        Ok(a) => a,
        Err(connack) => {
            write_packet(io, Packet::ConnAck(Box::new(*connack)), connect.protocol).await;
            return None;
        }
    };
    if config.connection_messages {
        info!("{}", connected_line(&connect, &peer, accepted.client.id()));
    }
    // From here on the session belongs to this connection: released however the task ends
    // (`Connection::release`).
    let conn = Box::new(Connection {
        hub: Arc::clone(hub),
        client: accepted.client,
        conn_id: accepted.conn_id,
        version: connect.protocol,
        listener: Arc::clone(listener),
        message_size_limit: config.message_size_limit.unwrap_or(0),
        wbuf: BytesMut::new(),
        pause: None,
        now: clock::now(),
        rbuf,
        decoder,
        // What the session's acceptance stored (submitted on the thread that accepted it,
        // maybe a blocking one).
        store_seq: accepted.store_seq,
        _slot: slot,
        released: false,
        unflushed: false,
        armed: None,
    });
    Some((conn, stream))
}

/// Mosquitto's log line for a new client.
fn connected_line(c: &Connect, peer: &str, id: &str) -> String {
    let mut line = format!(
        "New {} connected from {peer} as {id} (p{}, c{}, k{}",
        if c.bridge { "bridge" } else { "client" },
        match c.protocol {
            ProtocolVersion::V3_1 => 1,
            ProtocolVersion::V3_1_1 => 2,
            ProtocolVersion::V5 => 5,
        },
        u8::from(c.clean_start),
        c.keep_alive
    );
    if let Some(u) = &c.username {
        line.push_str(&format!(", u'{u}'"));
    }
    line.push_str(").");
    line
}

enum ReadError {
    Io(std::io::Error),
    Decode(DecodeError),
}

/// Reads until one whole packet is decoded; `None` at end of stream.
async fn read_packet<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    decoder: &mut Decoder,
) -> Result<Option<Packet>, ReadError> {
    loop {
        if let Some(p) = decoder.decode(buf).map_err(ReadError::Decode)? {
            return Ok(Some(p));
        }
        if read_some(rd, buf).await.map_err(ReadError::Io)? == 0 {
            return Ok(None);
        }
    }
}

/// Largest read at once: what one worker thread's scratch buffer holds.
const READ_SCRATCH: usize = 64 * 1024;

thread_local! {
    /// Where every connection of a worker thread reads. A connection waits for its socket
    /// without a read buffer of its own, which is most of what an idle connection would
    /// otherwise cost; what arrives is copied into `buf`, sized to it.
    static SCRATCH: std::cell::RefCell<Box<[u8]>> =
        std::cell::RefCell::new(vec![0; READ_SCRATCH].into_boxed_slice());
}

/// Reads what the socket has (at least one byte, or 0 at end of stream) and appends it to
/// `buf`.
async fn read_some<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut BytesMut) -> std::io::Result<usize> {
    std::future::poll_fn(|cx| poll_read_some(cx, rd, buf)).await
}

/// Polls for what the socket has and appends it to `buf`. Each poll borrows the thread's
/// scratch buffer only for its own duration, so connections (tasks) sharing a thread never
/// hold it across an `.await`.
fn poll_read_some<R: AsyncRead + Unpin>(
    cx: &mut Context<'_>,
    rd: &mut R,
    buf: &mut BytesMut,
) -> Poll<std::io::Result<usize>> {
    SCRATCH.with(|scratch| {
        let mut own;
        let mut borrowed = scratch.try_borrow_mut();
        let space: &mut [u8] = match borrowed.as_deref_mut() {
            Ok(s) => s,
            // Re-entered from within a read (not done today): a buffer of its own.
            Err(_) => {
                own = vec![0; 4096];
                &mut own
            }
        };
        let mut read = tokio::io::ReadBuf::new(space);
        std::task::ready!(Pin::new(&mut *rd).poll_read(cx, &mut read))?;
        buf.extend_from_slice(read.filled());
        Poll::Ready(Ok(read.filled().len()))
    })
}

/// A bad first packet: MQTT 5 clients get a CONNACK with the reason (spec 4.13), others are
/// simply disconnected.
async fn refuse_malformed<W: AsyncWrite + Unpin>(wr: &mut W, e: &DecodeError, peer: &str) {
    info!("Client {peer} sent an invalid CONNECT: {e}; closing.");
    match e {
        DecodeError::UnsupportedProtocolLevel(_) | DecodeError::InvalidProtocolName => {
            // [MQTT-3.1.2-2] 3.1.1 return code 0x01; a 5.0 client understands it too.
            let connack = ConnAck {
                reason_code: ReasonCode::UnsupportedProtocolVersion,
                ..ConnAck::default()
            };
            write_packet(
                wr,
                Packet::ConnAck(Box::new(connack)),
                ProtocolVersion::V3_1_1,
            )
            .await;
        }
        _ => {}
    }
}

async fn write_packet<W: AsyncWrite + Unpin>(wr: &mut W, packet: Packet, version: ProtocolVersion) {
    let mut buf = BytesMut::new();
    if packet.encode(version, &mut buf).is_ok() {
        let _ = wr.write_all(&buf).await;
        let _ = wr.flush().await;
    }
}

struct Connection {
    hub: Arc<Hub>,
    client: ClientRef,
    conn_id: u64,
    version: ProtocolVersion,
    /// The listener's options (`max_qos`, `mount_point`) as they were when it connected.
    listener: Arc<Listener>,
    /// `message_size_limit` when the connection started; 0 = no limit.
    message_size_limit: u32,
    /// Encoded packets not yet written (the part already written is advanced past).
    wbuf: BytesMut,
    /// Subscribers this connection's publications left backlogged, if any: reading waits for
    /// them. Boxed: most connections never pause.
    pause: Option<Box<Pause>>,
    /// The time of the current turn of the loop: one clock reading serves every packet read
    /// together.
    now: mqtt_session::Instant,
    /// Bytes read and not decoded yet (a packet's beginning).
    rbuf: BytesMut,
    decoder: Decoder,
    /// Persistence: the last stored change this connection's output depends on (its own
    /// session's, and those its publications made); written once that is committed.
    store_seq: u64,
    /// Its place among the listener's `max_connections` and the server's connection tasks,
    /// held until the connection ends.
    _slot: ConnectionSlot,
    /// Whether the session was handed back to the hub (`Connection::release`).
    released: bool,
    /// Whether bytes were written since the last flush (a layered transport, WebSocket or
    /// TLS, may hold them until flushed).
    unflushed: bool,
    /// When the loop's timer is set to go off (in the session's time), if it is.
    armed: Option<mqtt_session::Instant>,
}

/// A publisher's pause for the subscribers it left backlogged (see `Connection::run`).
#[derive(Default)]
struct Pause {
    /// Those subscribers; reading waits for them.
    congested: Vec<ClientRef>,
    /// When waiting on `congested` stops if they make no progress.
    until: Option<tokio::time::Instant>,
    /// This turn's wait for the first of them to make progress.
    drained: Option<Pin<Box<Drained>>>,
}

/// Hands a client's session back to the hub when its connection ends (`Hub::disconnected`:
/// will, session expiry). Normally through [`Connection::release`] with the way the connection
/// ended; if the task unwinds from a panic (a bug) or is cancelled instead, `Drop` does it as
/// for a lost connection, so that the session is not left owned by a connection that no longer
/// exists (its messages queued for nobody, its will never published, its client id taken over
/// at every reconnection).
impl Drop for Connection {
    fn drop(&mut self) {
        self.client.0.wake.forget(self.conn_id);
        // Without a runtime (it is being dropped), no timer can be set and nobody is left to
        // serve: nothing to release.
        if self.released || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        if std::thread::panicking() {
            error!(
                "Error: the connection task of client {} panicked; that connection was closed.",
                self.client.id()
            );
        }
        self.hub
            .disconnected(&self.client, self.conn_id, Ending::Abnormal);
    }
}

/// How long a publisher's connection stops reading for subscribers that make no progress at
/// all (they stopped reading, or wait on this very publisher): after that it reads on, and
/// their queues grow up to `hub::OVERFLOW_FACTOR` times the limit.
const PAUSE_WITHOUT_PROGRESS: Duration = Duration::from_secs(1);

/// How many encoded bytes may wait for the socket before the session keeps the rest.
const WRITE_HIGH_WATER: usize = 64 * 1024;

/// How long the last packets (a DISCONNECT, a refusal) may take to leave when closing.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolves when `client` drained below its limit or made progress writing (or at once if it
/// is not congested any more).
async fn drained(client: ClientRef) {
    let notified = client.0.drained().notified();
    tokio::pin!(notified);
    // Registered before looking, so that a release between the look and the wait is seen.
    notified.as_mut().enable();
    client.0.watched.store(true, AtomicOrdering::SeqCst);
    if client.0.is_congested() {
        notified.await;
    }
}

/// The wait for a congested subscriber (`drained`), boxed.
type Drained = dyn std::future::Future<Output = ()> + Send;

/// How the connection's loop ends: what is left to do with the socket.
enum Exit {
    /// Send what the session has left, then close.
    Flush(Ending),
    /// Write what is in the write buffer, then close.
    Close(Ending),
    /// Another connection took the session over.
    TakenOver,
    /// Nothing more to send (the socket failed or closed).
    Now(Ending),
}

/// What processing an input left the connection in.
enum Step {
    Continue,
    Close(Ending),
}

impl Connection {
    /// Hands the session back to the hub, the connection having ended so.
    fn release(&mut self, ending: Ending) {
        self.released = true;
        self.hub.disconnected(&self.client, self.conn_id, ending);
    }

    /// The connection's loop. Reading, writing, the session's timer, wake-ups from routers and
    /// server shutdown are all awaited together, so that a peer that stops reading does not
    /// stop the connection from noticing anything else (a takeover, a shutdown, its acks).
    ///
    /// Backpressure: publishing to a connected subscriber that does not keep up (its session
    /// is backlogged, `Session::is_backlogged`) puts it in `congested`; reading from this
    /// connection then stops until those subscribers catch up, or made no progress for
    /// [`PAUSE_WITHOUT_PROGRESS`]. TCP then slows the publisher down, and nothing it was told
    /// was received gets dropped (Mosquitto drops at `max_queued_messages` instead).
    async fn run<S>(&mut self, io: &mut S) -> Ending
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // Everything awaited together is polled by one hand-written function (`poll_wait`)
        // rather than a `select!` of futures: the task stores only the timer and a few
        // references across the wait, not a future per branch, which was most of what an idle
        // connection cost. The rare waits (closing, persistence) are boxed so that they add
        // nothing to it.
        //
        // The session's timer. Re-arming a tokio timer costs a clock reading and a trip
        // through the timer wheel, and the keep-alive deadline moves with every packet read:
        // the timer is only moved earlier, and when it fires before the session's deadline,
        // `handle_timeout` finds nothing due and the next turn arms it again.
        let timer = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(timer);
        let mut shutdown_seen = false;
        let persists = self.hub.persists();
        let exit = loop {
            self.now = clock::now();
            if persists {
                // From here to the output below, changes submitted on this thread are ours.
                crate::store::take_submitted_here();
            }
            if !shutdown_seen && self.hub.is_shutting_down() {
                // Server shutdown (`Hub::begin_shutdown` woke us): DISCONNECT 0x8B in MQTT 5.
                shutdown_seen = true;
                let mut st = self.client.0.lock();
                if st.owner == Some(self.conn_id) {
                    st.session
                        .disconnect(Disconnect::new(ReasonCode::ServerShuttingDown));
                }
            }
            if let Some(exit) = self.handle_buffered(persists) {
                break exit;
            }
            if self.rbuf.is_empty() {
                // Everything read was handled: an idle connection holds no read buffer. Even
                // one without room left: it still shares the allocation the packets decoded
                // from it were split off (the CONNECT's), and kept it alive.
                self.rbuf = BytesMut::new();
            }
            let before = self.wbuf.len();
            let (closing, deadline) = match self.collect_output() {
                Some(out) => out,
                None => break Exit::TakenOver,
            };
            if self.wbuf.len() > before
                && persists
                && !Box::pin(self.hub.store_barrier(self.store_seq)).await
            {
                // persistence_sync ack: nothing leaves before the state it reflects is on
                // disk.
                warn!(
                    "Client {} disconnected: its state could not be made durable.",
                    self.client.id()
                );
                break Exit::Now(Ending::Abnormal);
            }
            if let Some(ending) = closing {
                break Exit::Close(ending);
            }
            let waiting_on = self.congested_target();
            // One timer serves the session's deadline and the end of a pause, compared in the
            // session's time. A pause is measured on tokio's (monotonic) clock, so that a jump
            // of the wall clock does not stretch it; the clock is read only while paused, or
            // to move the timer.
            let paused_until = self
                .pause
                .as_ref()
                .and_then(|p| p.until)
                .map(|p| self.now + p.saturating_duration_since(tokio::time::Instant::now()));
            let wake_at = match (deadline, paused_until) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(at) = wake_at {
                if self.armed.is_none_or(|a| at < a) {
                    let when = tokio::time::Instant::now() + clock::until(self.now, at);
                    timer.as_mut().reset(when);
                    self.armed = Some(at);
                }
            }
            if let (Some(c), Some(pause)) = (waiting_on, self.pause.as_mut()) {
                pause.drained = Some(Box::pin(drained(c)));
            }
            let woken = std::future::poll_fn(|cx| self.poll_wait(cx, io, timer.as_mut())).await;
            if let Some(ending) = woken {
                break Exit::Now(ending);
            }
        };
        match exit {
            Exit::Flush(ending) => {
                Box::pin(self.flush(io)).await;
                ending
            }
            Exit::Close(ending) => {
                Box::pin(self.close(io)).await;
                ending
            }
            Exit::TakenOver => {
                Box::pin(self.send_taken_over(io)).await;
                Ending::TakenOver
            }
            Exit::Now(ending) => ending,
        }
    }

    /// Handles the packets already buffered (they may have arrived with CONNECT), unless a
    /// subscriber they went to must catch up first. `Some` when the connection ends.
    fn handle_buffered(&mut self, persists: bool) -> Option<Exit> {
        loop {
            if self.pause.is_some() && self.congested_target().is_some() {
                return None;
            }
            match self.decoder.decode(&mut self.rbuf) {
                Ok(Some(packet)) => {
                    // PUBACK and PUBCOMP complete our own flows: what they change (a message
                    // no longer held) is stored, but nothing we send depends on it, so the
                    // output does not wait for its commit (a crash before it only resends the
                    // message, or its PUBREL, which QoS 1 and the QoS 2 receiver's rules
                    // absorb). Without this, a subscriber's next delivery waited for the
                    // commit of its previous PUBACK: one window of deliveries per fsync.
                    let completes =
                        persists && matches!(packet, Packet::PubAck(_) | Packet::PubComp(_));
                    if completes {
                        self.store_seq = self.store_seq.max(crate::store::take_submitted_here());
                    }
                    let step = self.handle_packet(packet);
                    if completes {
                        crate::store::take_submitted_here();
                    }
                    if let Step::Close(ending) = step {
                        return Some(Exit::Flush(ending));
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    warn!(
                        "Client {} sent a malformed packet: {e}; disconnecting.",
                        self.client.id()
                    );
                    if self.version.is_v5() {
                        let d = Packet::from(Disconnect::new(e.reason_code()));
                        let _ = d.encode(self.version, &mut self.wbuf);
                    }
                    return Some(Exit::Close(Ending::Abnormal));
                }
            }
        }
    }

    /// One poll of everything the loop waits for: the socket readable (unless paused), the
    /// socket taking more of the write buffer (or a flush), the subscriber a pause waits on,
    /// a wake-up from routers (messages queued, a takeover, shutdown) and the timer. Whatever
    /// is ready is handled here, all of it in the same poll, so that neither direction can
    /// starve the other; `Ready` once anything was (`Some` when the connection ends), and
    /// `Pending` only when every one of them registered for a wake-up.
    fn poll_wait<S>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut S,
        mut timer: Pin<&mut tokio::time::Sleep>,
    ) -> Poll<Option<Ending>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut ready = false;
        if !self.wbuf.is_empty() {
            match Pin::new(&mut *io).poll_write(cx, &self.wbuf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Some(Ending::Abnormal)),
                Poll::Ready(Ok(n)) => {
                    ready = true;
                    self.wbuf.advance(n);
                    self.unflushed = true;
                    if self.wbuf.is_empty() {
                        // Nothing held for an idle connection (see `read_some`).
                        self.wbuf = BytesMut::new();
                    }
                    if self.client.0.watched.load(AtomicOrdering::Relaxed) {
                        // Progress: publishers waiting on this client look again.
                        self.client.0.release_waiters();
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Some(self.socket_error(&e))),
                Poll::Pending => {}
            }
        }
        if self.wbuf.is_empty() && self.unflushed {
            // Done at once on TCP (a no-op); a layered transport (WebSocket, TLS) may hold
            // bytes until flushed, and finish later.
            match Pin::new(&mut *io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(self.socket_error(&e))),
                Poll::Pending => {}
            }
        }
        match self.pause.as_mut().filter(|p| p.drained.is_some()) {
            Some(pause) => {
                if pause
                    .drained
                    .as_mut()
                    .is_some_and(|d| d.as_mut().poll(cx).is_ready())
                {
                    // It made progress: wait longer if it is still behind.
                    ready = true;
                    pause.drained = None;
                    pause.until = Some(tokio::time::Instant::now() + PAUSE_WITHOUT_PROGRESS);
                }
            }
            None => match poll_read_some(cx, io, &mut self.rbuf) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Some(Ending::Abnormal)),
                Poll::Ready(Ok(_)) => ready = true,
                Poll::Ready(Err(e)) => return Poll::Ready(Some(self.socket_error(&e))),
                Poll::Pending => {}
            },
        }
        if self.client.0.wake.poll_woken(self.conn_id, cx).is_ready() {
            ready = true;
        }
        if self.armed.is_some() && timer.as_mut().poll(cx).is_ready() {
            ready = true;
            self.armed = None;
            self.timer_fired();
        }
        if ready {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    /// The timer went off: the end of a pause without progress, or the session's deadline.
    fn timer_fired(&mut self) {
        if self
            .pause
            .as_ref()
            .and_then(|p| p.until)
            .is_some_and(|p| p <= tokio::time::Instant::now())
        {
            debug!(
                "Client {}: a subscriber made no progress for {:?}; reading again.",
                self.client.id(),
                PAUSE_WITHOUT_PROGRESS
            );
            self.pause = None;
        }
        let mut st = self.client.0.lock();
        if st.owner == Some(self.conn_id) {
            st.session.handle_timeout(clock::now());
        }
    }

    fn socket_error(&self, e: &std::io::Error) -> Ending {
        debug!("Socket error on client {}: {e}", self.client.id());
        Ending::Abnormal
    }

    /// The first subscriber in `congested` still backlogged, forgetting those that caught up
    /// (or went away); starts the pause if there is one.
    fn congested_target(&mut self) -> Option<ClientRef> {
        let pause = self.pause.as_mut()?;
        while let Some(client) = pause.congested.last() {
            if client.0.is_congested() {
                if pause.until.is_none() {
                    pause.until = Some(tokio::time::Instant::now() + PAUSE_WITHOUT_PROGRESS);
                }
                return Some(client.clone());
            }
            pause.congested.pop();
        }
        self.pause = None;
        None
    }

    /// Feeds one packet to the session and acts on the events it produces.
    fn handle_packet(&mut self, packet: Packet) -> Step {
        // QoS flows change the session's stored state (persistence).
        let changes_state = matches!(
            packet,
            Packet::Publish(_)
                | Packet::PubAck(_)
                | Packet::PubRec(_)
                | Packet::PubRel(_)
                | Packet::PubComp(_)
        );
        // A PUBLISH changes the subscribers' sessions and (QoS 2) the publisher's: stored whole.
        // (A clone of the hub only then: its reference count is shared by every core.)
        let hub = (changes_state && self.hub.persists()).then(|| Arc::clone(&self.hub));
        let _gate = hub.as_deref().and_then(Hub::store_gate);
        let mut events = take_events();
        {
            let mut st = self.client.0.lock();
            if st.owner != Some(self.conn_id) {
                return Step::Close(Ending::TakenOver);
            }
            st.session.handle_packet(self.now, packet);
            drain_events(&mut st, &mut events);
        }
        let mut step = Step::Continue;
        for event in events.drain(..) {
            if let Step::Close(e) = self.handle_event(event) {
                step = Step::Close(e);
            }
        }
        give_back_events(events);
        if changes_state {
            self.hub.session_changed(&self.client);
        }
        step
    }

    fn handle_event(&mut self, event: Event) -> Step {
        match event {
            Event::Message { mut message, ack } => {
                // A topic too long to take the mount point is refused: routing it unprefixed
                // would let it out of the listener's part of the tree.
                let mut outside_mount = false;
                if let Some(mount) = &self.listener.mount_point {
                    match crate::mount::topic_in(mount, &message.topic) {
                        Some(t) => message.topic = t,
                        None => outside_mount = true,
                    }
                }
                let limit = self.message_size_limit as usize;
                let reason = if outside_mount {
                    debug!(
                        "Denied PUBLISH from {}: topic too long for the mount point.",
                        self.client.id()
                    );
                    ReasonCode::TopicNameInvalid
                } else if limit != 0 && message.payload.len() > limit {
                    // Mosquitto: not forwarded, the flow completes with 0x83 in 5.0.
                    ReasonCode::ImplementationSpecificError
                } else if message.qos != mqtt_codec::QoS::AtMostOnce
                    && self.hub.store_failing()
                    && self.hub.needs_storage(&message)
                {
                    // The persistence file refuses writes (disk full): a message that must be
                    // stored before it is acknowledged cannot be taken. 5.0: PUBACK/PUBREC 0x97;
                    // 3.1.1 has no refusal, the connection is closed (the client resends it).
                    warn!(
                        "Refused PUBLISH from {} to '{}': the persistence file refuses writes.",
                        self.client.id(),
                        message.topic
                    );
                    if !self.version.is_v5() {
                        return Step::Close(Ending::Abnormal);
                    }
                    ReasonCode::QuotaExceeded
                } else if !self.hub.may_publish(&self.client, &message.topic) {
                    // acl_file: no write access. As Mosquitto: dropped; 3.1.1 acknowledges as
                    // usual (it has no way to say no), 5.0 PUBACK/PUBREC 0x87.
                    debug!(
                        "Denied PUBLISH from {} to '{}' (q{}, r{}).",
                        self.client.id(),
                        message.topic,
                        message.qos as u8,
                        u8::from(message.retain)
                    );
                    ReasonCode::NotAuthorized
                } else {
                    let routed = self.hub.publish(Some(&self.client), message, self.now);
                    for c in routed.congested {
                        let pause = self.pause.get_or_insert_with(Box::default);
                        if !pause.congested.contains(&c) {
                            pause.congested.push(c);
                        }
                    }
                    if routed.delivered == 0 && self.version.is_v5() {
                        ReasonCode::NoMatchingSubscribers
                    } else {
                        ReasonCode::Success
                    }
                };
                if let Some(ack) = ack {
                    let mut st = self.client.0.lock();
                    if st.owner == Some(self.conn_id) {
                        let reason = if self.version.is_v5() {
                            reason
                        } else {
                            ReasonCode::Success
                        };
                        st.session.ack(ack, reason);
                    }
                }
            }
            Event::Subscribe(mut s) => {
                // Filters too long to take the mount point fail (never subscribed unprefixed).
                let mut refused = Vec::new();
                if let Some(mount) = &self.listener.mount_point {
                    let filters = std::mem::take(&mut s.filters);
                    for (i, (filter, options)) in filters.into_iter().enumerate() {
                        match crate::mount::filter_in(mount, &filter) {
                            Some(f) => s.filters.push((f, options)),
                            None => refused.push(i),
                        }
                    }
                }
                let (mut suback, retained) =
                    self.hub
                        .subscribe(&self.client, self.version, self.listener.max_qos, s);
                let failure = if self.version.is_v5() {
                    ReasonCode::TopicFilterInvalid
                } else {
                    ReasonCode::UnspecifiedError
                };
                for i in refused {
                    let at = i.min(suback.reason_codes.len());
                    suback.reason_codes.insert(at, failure);
                }
                let mut st = self.client.0.lock();
                if let Err(e) = st.session.suback(suback) {
                    debug!("SUBACK for {} not sent: {e}", self.client.id());
                }
                let now = clock::now();
                for mut m in retained {
                    if let Some(mount) = &self.listener.mount_point {
                        match crate::mount::topic_out(mount, &m.topic) {
                            Some(t) => m.topic = t,
                            None => continue,
                        }
                    }
                    crate::client::queue_retained(&mut st.session, now, m);
                }
            }
            Event::Unsubscribe(mut u) => {
                let mut refused = Vec::new();
                if let Some(mount) = &self.listener.mount_point {
                    let filters = std::mem::take(&mut u.filters);
                    for (i, filter) in filters.into_iter().enumerate() {
                        match crate::mount::filter_in(mount, &filter) {
                            Some(f) => u.filters.push(f),
                            None => refused.push(i),
                        }
                    }
                }
                let mut unsuback = self.hub.unsubscribe(&self.client, u);
                if self.version.is_v5() {
                    for i in refused {
                        let at = i.min(unsuback.reason_codes.len());
                        unsuback
                            .reason_codes
                            .insert(at, ReasonCode::TopicFilterInvalid);
                    }
                }
                if let Err(e) = self.client.0.lock().session.unsuback(unsuback) {
                    debug!("UNSUBACK for {} not sent: {e}", self.client.id());
                }
            }
            Event::PeerDisconnected(d) => {
                // [MQTT-3.1.2-8] (5.0): only a Normal disconnection (0x00) removes the will; any
                // other reason, 0x04 included, publishes it. (Mosquitto 2.0 also drops it for
                // error reasons; the specification does not.)
                return Step::Close(if d.reason_code == ReasonCode::Success {
                    Ending::Normal
                } else {
                    Ending::WithWill
                });
            }
            Event::ProtocolViolation(v) => {
                warn!(
                    "Client {} violated the protocol: {v}; disconnecting.",
                    self.client.id()
                );
                return Step::Close(Ending::Abnormal);
            }
            Event::Auth(_) => {
                // No extended authentication method is configured: spec 4.12.
                warn!("Client {} sent AUTH, but no authentication method is configured; disconnecting.", self.client.id());
                self.client
                    .0
                    .lock()
                    .session
                    .disconnect(Disconnect::new(ReasonCode::ProtocolError));
                return Step::Close(Ending::Abnormal);
            }
            Event::UnknownPacketId {
                packet_type,
                packet_id,
            } => {
                warn!(
                    "Warning: Received {packet_type} from {} for an unknown packet identifier {packet_id}.",
                    self.client.id()
                );
            }
            Event::PublishCompleted { .. }
            | Event::PublishDropped { .. }
            | Event::Connected(_)
            | Event::ConnectionRefused(_)
            | Event::Subscribed(_)
            | Event::Unsubscribed(_)
            | Event::KeepAliveTimeout => {}
        }
        Step::Continue
    }

    /// Encodes everything the session wants to send into the write buffer. Returns whether the
    /// connection is closing and when to wake for the session's timer; `None` if another
    /// connection took the session over.
    fn collect_output(&mut self) -> Option<(Option<Ending>, Option<mqtt_session::Instant>)> {
        let now = self.now;
        let mut st = self.client.0.lock();
        if st.owner != Some(self.conn_id) {
            return None;
        }
        let mut sent_flow = false;
        let mut sent_exactly_once = false;
        let closed = st.session.connection_state() == ConnectionState::Closed;
        // Past the high-water mark packets stay in the session, where they count toward its
        // backlog (and so slow publishers down) until the socket takes what is written. A
        // closing session's last packets (its DISCONNECT) all go.
        let limit = if closed { usize::MAX } else { WRITE_HIGH_WATER };
        while self.wbuf.len() < limit {
            let Some(p) = st.session.poll_transmit(now) else {
                break;
            };
            sent_flow |= matches!(p, Packet::Publish(_) | Packet::PubRel(_));
            sent_exactly_once |= match &p {
                Packet::Publish(p) => p.qos.qos() == mqtt_codec::QoS::ExactlyOnce,
                Packet::PubRel(_) => true,
                _ => false,
            };
            if p.encode(self.version, &mut self.wbuf).is_err() {
                debug!(
                    "Dropping an unencodable {} for {}.",
                    p.packet_type(),
                    self.client.id()
                );
            }
        }
        if sent_flow {
            // Packet identifiers given and messages moved in flight: stored. A QoS 2 delivery
            // (or PUBREL) waits for that commit, so that after a crash it is resent with the
            // same identifier, never as a second delivery. QoS 1 deliveries need not wait: a
            // crash before the commit only resends them (QoS 1 allows duplicates), and the
            // messages themselves were stored before their publishers had a PUBACK.
            if self.hub.persists() {
                self.store_seq = self.store_seq.max(crate::store::take_submitted_here());
            }
            self.hub.persist_locked(&self.client, &mut st);
            if self.hub.persists() && !sent_exactly_once {
                crate::store::take_submitted_here();
            }
        }
        let mut events = take_events();
        drain_events(&mut st, &mut events);
        if self.rbuf.is_empty() {
            // Quiet for now: the session gives back the room its queues grew to.
            st.session.shrink_idle();
        }
        let deadline = st.session.poll_timeout();
        drop(st);
        let mut closing = closed.then_some(Ending::Abnormal);
        for e in events.drain(..) {
            if let Step::Close(ending) = self.handle_event(e) {
                closing = Some(ending);
            }
        }
        give_back_events(events);
        if self.hub.persists() {
            // What this turn stored on this thread (packets handled, output collected, events
            // acted on): the output waits for it.
            self.store_seq = self.store_seq.max(crate::store::take_submitted_here());
        }
        Some((closing, deadline))
    }

    /// Sends what the session has left (unless another connection took it over, or its state
    /// could not be made durable) and closes.
    async fn flush<W: AsyncWrite + Unpin>(&mut self, wr: &mut W) {
        let open = self.collect_output().is_some();
        if !open || (!self.wbuf.is_empty() && !self.hub.store_barrier(self.store_seq).await) {
            self.wbuf.clear();
        }
        self.close(wr).await;
    }

    /// Writes what is left in the write buffer and shuts the socket down, each bounded by
    /// [`CLOSE_WRITE_TIMEOUT`]: a peer that stopped reading cannot hold the closing task.
    async fn close<W: AsyncWrite + Unpin>(&mut self, wr: &mut W) {
        if !self.wbuf.is_empty() {
            let _ = timeout(CLOSE_WRITE_TIMEOUT, wr.write_all(&self.wbuf)).await;
            self.wbuf.clear();
        }
        let _ = timeout(CLOSE_WRITE_TIMEOUT, wr.shutdown()).await;
    }

    /// [MQTT-3.1.4-3] (5.0): DISCONNECT 0x8E to the connection that lost its session.
    async fn send_taken_over<W: AsyncWrite + Unpin>(&mut self, wr: &mut W) {
        // What was pending belongs to the session, which the new connection sends again.
        self.wbuf.clear();
        if self.version.is_v5() {
            let d = Packet::from(Disconnect::new(ReasonCode::SessionTakenOver));
            let _ = d.encode(self.version, &mut self.wbuf);
        }
        self.close(wr).await;
    }
}

thread_local! {
    /// Where the connections of a worker thread put their session's events, taken out under
    /// its lock and handled after: kept for its capacity, and no connection holds one.
    static EVENTS: std::cell::Cell<Vec<Event>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The thread's event buffer (empty; a new one if it is in use).
fn take_events() -> Vec<Event> {
    EVENTS.with(std::cell::Cell::take)
}

/// Returns the buffer [`take_events`] gave, unless a burst made it large.
fn give_back_events(mut events: Vec<Event>) {
    events.clear();
    if events.capacity() <= 1024 {
        EVENTS.with(|e| e.set(events));
    }
}

/// The session's pending events, taken while its lock is held. Completed or dropped deliveries
/// no longer need handing over to another shared-subscription member: they are forgotten here,
/// under the lock already taken, rather than with a second lock per message.
fn drain_events(st: &mut crate::client::ClientState, events: &mut Vec<Event>) {
    while let Some(e) = st.session.poll_event() {
        if let Event::PublishCompleted { id, .. } | Event::PublishDropped { id, .. } = &e {
            if !st.shared.is_empty() {
                st.shared.remove(id);
            }
        }
        events.push(e);
    }
}
