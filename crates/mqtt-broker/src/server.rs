//! Listeners, the accept loop and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::log::target::INFORMATION;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{Config, Listener, ListenerProtocol, SocketDomain};
use crate::connection;
use crate::hub::Hub;
use crate::transport::{self, Io};

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be opened.
    #[error("Error: Unable to open listener on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No listener could be opened at all.
    #[error("Error: no listener could be opened")]
    NoListener,
    /// A TLS listener's certificate, key or CA files could not be used.
    #[error("Error: Unable to start the TLS listener on port {port}: {message}")]
    Tls {
        /// The listener's port.
        port: u16,
        /// What is wrong.
        message: String,
    },
    /// A `password_file` or `acl_file` cannot be read or has an invalid line; the message
    /// names the file and the line.
    #[error("{0}")]
    SecurityFile(String),
    /// The persistence file cannot be used (`persistence true`); the message names the file.
    #[error("{0}")]
    Persistence(#[from] crate::store::StoreError),
}

/// A bound listening socket.
enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A running broker: its listeners are bound; `run` serves until shutdown.
pub struct Broker {
    hub: Arc<Hub>,
    /// Each bound socket with its listener's index in `Config::listeners`.
    listeners: Vec<(usize, Socket)>,
    shutdown_tx: watch::Sender<bool>,
    connect_timeout: std::time::Duration,
    /// Connection tasks to run: the accept loops send them, `run` spawns them.
    conn_tx: UnboundedSender<ConnFuture>,
    conn_rx: UnboundedReceiver<ConnFuture>,
}

impl Broker {
    /// Binds every listener of the configuration.
    pub async fn bind(config: Config) -> Result<Broker, StartError> {
        let config = Arc::new(config);
        let mut listeners = Vec::new();
        for (index, l) in config.listeners.iter().enumerate() {
            if let Some(tls) = &l.tls {
                // Refuse to start rather than serve without the TLS the file asks for.
                transport::tls_acceptor(tls, l.port).map_err(|message| StartError::Tls {
                    port: l.port,
                    message,
                })?;
            }
            if let Some(path) = &l.unix_socket {
                let socket = bind_unix(path).map_err(|source| StartError::Bind {
                    address: path.display().to_string(),
                    source,
                })?;
                info!(target: INFORMATION, "Opening unix listen socket on {}.", path.display());
                listeners.push((index, Socket::Unix(socket)));
                continue;
            }
            let addresses: Vec<SocketAddr> = listener_addresses(l)
                .into_iter()
                .filter(|a| match l.socket_domain {
                    Some(SocketDomain::Ipv4) => a.is_ipv4(),
                    Some(SocketDomain::Ipv6) => a.is_ipv6(),
                    None => true,
                })
                .collect();
            for address in addresses {
                match bind(&address) {
                    Ok(socket) => {
                        info!(
                            target: INFORMATION,
                            "Opening ipv{} listen socket on port {}.",
                            if address.is_ipv4() { 4 } else { 6 },
                            address.port()
                        );
                        if l.protocol == ListenerProtocol::WebSockets {
                            info!(
                                target: INFORMATION,
                                "Opening websockets listen socket on port {}.",
                                address.port()
                            );
                        }
                        listeners.push((index, Socket::Tcp(socket)));
                    }
                    // A host without IPv6 still serves IPv4, as Mosquitto does.
                    Err(e) if address.is_ipv6() && l.bind_address.is_none() => {
                        warn!(
                            "Warning: could not open ipv6 listen socket on port {}: {e}",
                            address.port()
                        );
                    }
                    Err(source) => {
                        return Err(StartError::Bind {
                            address: address.to_string(),
                            source,
                        })
                    }
                }
            }
        }
        if listeners.is_empty() {
            return Err(StartError::NoListener);
        }
        let (shutdown_tx, _) = watch::channel(false);
        let (conn_tx, conn_rx) = unbounded_channel();
        let hub = Hub::new(config);
        hub.load_security_files()
            .map_err(StartError::SecurityFile)?;
        hub.open_store()?;
        Ok(Broker {
            hub,
            listeners,
            shutdown_tx,
            connect_timeout: connection::CONNECT_TIMEOUT,
            conn_tx,
            conn_rx,
        })
    }

    /// The TCP addresses actually bound (useful with port 0 in tests), in the order of
    /// `Config::listeners`; Unix sockets are left out.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listener_addrs().into_iter().map(|(_, a)| a).collect()
    }

    /// The TCP addresses actually bound, each with its listener's index in `Config::listeners`.
    pub fn listener_addrs(&self) -> Vec<(usize, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|(i, l)| match l {
                Socket::Tcp(l) => l.local_addr().ok().map(|a| (*i, a)),
                Socket::Unix(_) => None,
            })
            .collect()
    }

    /// How long a new connection may take to send CONNECT before it is closed (default 10 s).
    pub fn set_connect_timeout(&mut self, timeout: std::time::Duration) {
        self.connect_timeout = timeout;
    }

    /// The shared state, for inspection.
    pub fn hub(&self) -> Arc<Hub> {
        Arc::clone(&self.hub)
    }

    /// A handle that stops the broker when `true` is sent. Send it with
    /// [`watch::Sender::send_replace`], which keeps the value even before [`Broker::run`] has
    /// begun (`send` drops a value while nothing receives).
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown_tx.clone()
    }

    /// Serves until the shutdown handle fires; then tells every client (DISCONNECT 0x8B in
    /// MQTT 5) and waits for their tasks to finish.
    ///
    /// Each connection runs as its own task. A panic in one (a bug) ends that task only: tokio
    /// catches it at the task's boundary, and the connection's session is released as if its
    /// network connection had been lost, with an error logged (`Drop for connection::Connection`).
    /// The shared state stays usable: its locks recover from the poisoning such a panic leaves.
    pub async fn run(self) {
        let Broker {
            hub,
            listeners,
            shutdown_tx,
            connect_timeout,
            conn_tx,
            mut conn_rx,
        } = self;
        // Subscribed before anything can accept a client: a SIGTERM may come as soon as one
        // is connected, and a receiver made after the change would wait for the next one.
        let mut shutdown = shutdown_tx.subscribe();
        let tasks = ConnectionTasks::default();
        let mut accept_loops = JoinSet::new();
        for (index, socket) in listeners {
            let hub = Arc::clone(&hub);
            let tasks = tasks.clone();
            // Aborted at shutdown.
            accept_loops.spawn(accept_loop(hub, index, socket, tasks, connect_timeout));
        }
        drop(conn_tx);
        let sys = tokio::spawn(crate::sys::run(Arc::clone(&hub), shutdown_tx.subscribe()));
        // Bridges run until shutdown; they are not reloaded (as Mosquitto).
        let mut bridges = JoinSet::new();
        for bridge in hub.config().bridges.iter().cloned() {
            bridges.spawn(crate::bridge::run(
                Arc::clone(&hub),
                bridge,
                shutdown_tx.subscribe(),
            ));
        }
        let purge = {
            let hub = Arc::clone(&hub);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(crate::hub::PURGE_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    hub.purge_expired();
                }
            })
        };
        loop {
            tokio::select! {
                Some(fut) = conn_rx.recv() => {
                    let slot = tasks.slot(None);
                    tokio::spawn(async move {
                        fut.await;
                        drop(slot);
                    });
                }
                // The value, not a change: the handle may have fired before this loop began.
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        // Bridges disconnect first (their `0` notifications still reach connected clients),
        // each within a few seconds.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while bridges.join_next().await.is_some() {}
        })
        .await;
        bridges.abort_all();
        // Connected clients are told through their own wake-up: a shared signal would have
        // every connection register with it on every turn of its loop.
        hub.begin_shutdown();
        accept_loops.abort_all();
        sys.abort();
        purge.abort();
        // Connections see the same shutdown signal and close themselves.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), tasks.ended()).await;
        // What is pending reaches the disk (persistence), and the file is closed.
        hub.close_store();
    }
}

type ConnFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// The connection tasks, counted so that shutdown can wait for them. Not a `JoinSet`: its
/// entry cost every connection an allocation, and it needs the tasks' futures boxed (a
/// separate allocation of the task's whole state) to spawn the several kinds of connection
/// from one place; each accept loop spawns its connections itself instead. A task that is
/// still running when `Broker::run` returns (a peer that takes longer than the five seconds
/// of the shutdown to take its last bytes) ends with the runtime. A panic in a connection (a
/// bug) ends that task alone; `connection::Connection` logs it as it releases the session.
#[derive(Clone, Default)]
struct ConnectionTasks {
    live: Arc<LiveTasks>,
}

#[derive(Default)]
struct LiveTasks {
    count: std::sync::atomic::AtomicUsize,
    /// Signalled when `count` reaches zero.
    none: tokio::sync::Notify,
}

/// What a connection holds until it ends: its place among the listener's `max_connections`
/// and in the count of connection tasks.
pub(crate) struct ConnectionSlot {
    _permit: Option<OwnedSemaphorePermit>,
    live: Option<Arc<LiveTasks>>,
}

impl ConnectionSlot {
    /// A slot counted nowhere (tests).
    #[cfg(test)]
    fn untracked() -> Self {
        ConnectionSlot {
            _permit: None,
            live: None,
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        if let Some(live) = &self.live {
            if live.count.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                live.none.notify_waiters();
            }
        }
    }
}

impl ConnectionTasks {
    /// Counts a new connection task, which holds the slot until it ends.
    fn slot(&self, permit: Option<OwnedSemaphorePermit>) -> ConnectionSlot {
        self.live
            .count
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        ConnectionSlot {
            _permit: permit,
            live: Some(Arc::clone(&self.live)),
        }
    }

    /// Resolves once every connection task counted so far has ended.
    async fn ended(&self) {
        loop {
            let none = self.live.none.notified();
            tokio::pin!(none);
            // Registered before looking, so that the last task ending in between is seen.
            none.as_mut().enable();
            if self.live.count.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            none.await;
        }
    }
}

/// A newly accepted connection.
enum Accepted {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Socket {
    async fn accept(&self) -> std::io::Result<(Accepted, String)> {
        match self {
            Socket::Tcp(l) => {
                let (s, peer) = l.accept().await?;
                Ok((Accepted::Tcp(s), peer.to_string()))
            }
            Socket::Unix(l) => {
                let (s, _) = l.accept().await?;
                let peer = l
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                    .unwrap_or_else(|| "unix socket".to_owned());
                Ok((Accepted::Unix(s), peer))
            }
        }
    }
}

/// The TLS acceptor of a listener, rebuilt from its files after each configuration reload
/// (SIGHUP), so that renewed certificates are used by the connections made from then on.
struct TlsState {
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    changes: watch::Receiver<Arc<Config>>,
}

impl TlsState {
    fn new(hub: &Hub, listener: Option<&Listener>) -> TlsState {
        let mut changes = hub.config_changes();
        changes.mark_unchanged();
        let acceptor = listener.and_then(|l| {
            let tls = l.tls.as_ref()?;
            match transport::tls_acceptor(tls, l.port) {
                Ok(a) => Some(a),
                Err(e) => {
                    // Checked by `Broker::bind`: only a file changed since then gets here.
                    error!("Error: TLS listener on port {}: {e}", l.port);
                    None
                }
            }
        });
        TlsState { acceptor, changes }
    }

    /// The acceptor to use now; `None` on a listener without TLS.
    fn current(&mut self, listener: &Listener) -> Option<tokio_rustls::TlsAcceptor> {
        let tls = listener.tls.as_ref()?;
        if self.changes.has_changed().unwrap_or(false) {
            self.changes.mark_unchanged();
            match transport::tls_acceptor(tls, listener.port) {
                Ok(a) => {
                    info!(
                        "Reloaded the TLS certificates of the listener on port {}.",
                        listener.port
                    );
                    self.acceptor = Some(a);
                }
                Err(e) => error!(
                    "Error: Unable to reload the TLS certificates of the listener on port {}: {e}; \
                     keeping the previous ones.",
                    listener.port
                ),
            }
        }
        self.acceptor.clone()
    }
}

async fn accept_loop(
    hub: Arc<Hub>,
    index: usize,
    socket: Socket,
    tasks: ConnectionTasks,
    connect_timeout: std::time::Duration,
) {
    // max_connections is not reloaded: the listener is not re-opened.
    let limit = hub
        .listener(index)
        .and_then(|l| l.max_connections)
        .map(|n| Arc::new(Semaphore::new(n)));
    let mut tls = TlsState::new(&hub, hub.listener(index).as_deref());
    let mut current: Option<(Arc<crate::config::Config>, Arc<Listener>)> = None;
    loop {
        let (stream, peer) = match socket.accept().await {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors and the like: log, pause, keep serving.
                error!("Error accepting connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // The listener's options as the configuration in force has them (security options
        // change on reload); one copy per configuration, shared by its connections.
        let config = hub.config();
        let listener = match &current {
            Some((c, l)) if Arc::ptr_eq(c, &config) => Arc::clone(l),
            _ => {
                let Some(l) = config.listeners.get(index).cloned().map(Arc::new) else {
                    return;
                };
                current = Some((config, Arc::clone(&l)));
                l
            }
        };
        let permit = match &limit {
            Some(sem) => match Arc::clone(sem).try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    info!("Client connection from {peer} denied: max_connections exceeded.");
                    continue;
                }
            },
            None => None,
        };
        let acceptor = tls.current(&listener);
        if listener.tls.is_some() && acceptor.is_none() {
            error!("Client connection from {peer} refused: the listener has no usable TLS certificate.");
            continue;
        }
        let plain = acceptor.is_none() && listener.protocol == ListenerProtocol::Mqtt;
        let slot = tasks.slot(permit);
        // Spawned here, each kind of connection as its own type: the task holds its state
        // itself rather than a boxed future.
        match stream {
            Accepted::Tcp(stream) => {
                if hub.config().set_tcp_nodelay {
                    let _ = stream.set_nodelay(true);
                }
                if plain {
                    tokio::spawn(connection_task(
                        Arc::clone(&hub),
                        (index, listener),
                        stream,
                        peer,
                        connect_timeout,
                        slot,
                    ))
                } else {
                    tokio::spawn(layered_task(
                        Arc::clone(&hub),
                        (index, listener),
                        (stream, acceptor),
                        peer,
                        connect_timeout,
                        slot,
                    ))
                }
            }
            Accepted::Unix(stream) if plain => tokio::spawn(connection_task(
                Arc::clone(&hub),
                (index, listener),
                stream,
                peer,
                connect_timeout,
                slot,
            )),
            Accepted::Unix(stream) => tokio::spawn(layered_task(
                Arc::clone(&hub),
                (index, listener),
                (stream, acceptor),
                peer,
                connect_timeout,
                slot,
            )),
        };
    }
}

/// The task of one connection: serves the connection (accepted on the listener of that index
/// in `Config::listeners`) and holds its slot until it ends.
fn connection_task<S>(
    hub: Arc<Hub>,
    (listener_index, listener): (usize, Arc<Listener>),
    stream: S,
    peer: String,
    connect_timeout: std::time::Duration,
    slot: ConnectionSlot,
) -> impl std::future::Future<Output = ()> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // No wrapping `async` block: it would keep a second copy of every argument in the task.
    connection::serve(
        hub,
        listener_index,
        listener,
        stream,
        peer,
        connect_timeout,
        None,
        slot,
    )
}

/// The task of a connection on a TLS or WebSocket listener: the TLS handshake (if `acceptor`),
/// the WebSocket upgrade (if the listener's protocol is `websockets`), then MQTT over the
/// result. Both handshakes must end within the CONNECT timeout; a failed one (a plain MQTT
/// client on a TLS port, an untrusted client certificate, an HTTP request without upgrade) is
/// logged and the connection closed.
fn layered_task<S>(
    hub: Arc<Hub>,
    (listener_index, listener): (usize, Arc<Listener>),
    (stream, acceptor): (S, Option<tokio_rustls::TlsAcceptor>),
    peer: String,
    connect_timeout: std::time::Duration,
    slot: ConnectionSlot,
) -> ConnFuture
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(async move {
        let handshakes = async {
            let mut cert_username = None;
            let stream: Box<dyn Io> = match acceptor {
                Some(acceptor) => {
                    let tls = acceptor
                        .accept(stream)
                        .await
                        .map_err(|e| format!("TLS handshake failed: {e}"))?;
                    if let Some(options) = &listener.tls {
                        if options.use_identity_as_username || options.use_subject_as_username {
                            let cert = tls.get_ref().1.peer_certificates().and_then(|c| c.first());
                            cert_username = Some(transport::certificate_username(
                                cert,
                                options.use_subject_as_username,
                            ));
                        }
                    }
                    Box::new(tls)
                }
                None => Box::new(stream),
            };
            let stream: Box<dyn Io> = if listener.protocol == ListenerProtocol::WebSockets {
                // A WebSocket message is buffered whole before MQTT sees it: bound it by the
                // largest packet the broker accepts.
                let max_message = hub.config().max_packet_size.map(|m| m as usize);
                Box::new(transport::websocket_accept(stream, max_message).await?)
            } else {
                stream
            };
            Ok::<_, String>((stream, cert_username))
        };
        let (stream, cert_username) = match tokio::time::timeout(connect_timeout, handshakes).await
        {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => {
                info!("Client connection from {peer} closed: {e}.");
                return;
            }
            Err(_) => {
                info!("Client connection from {peer} closed: handshake timed out.");
                return;
            }
        };
        connection::serve(
            hub,
            listener_index,
            listener,
            stream,
            peer,
            connect_timeout,
            cert_username,
            slot,
        )
        .await;
    })
}

/// Binds a Unix domain socket, replacing a stale socket file left by an earlier run (as
/// Mosquitto does); any other kind of file at that path is left alone and the bind fails.
fn bind_unix(path: &std::path::Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    UnixListener::bind(path)
}

fn listener_addresses(l: &Listener) -> Vec<SocketAddr> {
    match &l.bind_address {
        Some(addr) => {
            let with_port = if addr.contains(':') && !addr.starts_with('[') {
                format!("[{addr}]:{}", l.port)
            } else {
                format!("{addr}:{}", l.port)
            };
            match with_port.parse() {
                Ok(a) => vec![a],
                Err(_) => std::net::ToSocketAddrs::to_socket_addrs(&with_port)
                    .map(|it| it.collect())
                    .unwrap_or_default(),
            }
        }
        // No bind address: every interface, both families.
        None => vec![
            SocketAddr::from(([0, 0, 0, 0], l.port)),
            SocketAddr::from(([0u16; 8], l.port)),
        ],
    }
}

fn bind(address: &SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(*address), Type::STREAM, None)?;
    if address.is_ipv6() {
        // Separate IPv4 and IPv6 sockets on the same port, as Mosquitto opens them.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&(*address).into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! A panic in one connection's task must not take the broker down. The faults are injected
    //! through the path accepted sockets take (`connection_task`, sent to `Broker::run` over the
    //! same channel as the accept loops use), not through hooks in the broker's code: a transport
    //! that panics when read, and a task that panics while holding the shared locks.

    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll};
    use std::time::Duration;

    use bytes::BytesMut;
    use mqtt_codec::{
        ConnAck, Connect, Decoder, LastWill, MqttString, Packet, PacketId, ProtocolVersion, PubAck,
        Publish, PublishQos, QoS, ReasonCode, Subscribe, SubscriptionOptions, TopicFilter,
        TopicName,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};
    use tokio::net::TcpStream;

    use super::*;

    const WAIT: Duration = Duration::from_secs(5);

    /// A transport whose reads panic once `armed`: a stand-in for any bug met while serving a
    /// connection.
    struct Fragile {
        inner: tokio::io::DuplexStream,
        armed: Arc<AtomicBool>,
    }

    impl AsyncRead for Fragile {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            if self.armed.load(Ordering::SeqCst) {
                panic!("injected fault in a connection task");
            }
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Fragile {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    /// A minimal MQTT 5 client over any transport.
    struct Client<S> {
        io: S,
        decoder: Decoder,
        buf: BytesMut,
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
        async fn connect(io: S, connect: Connect) -> (Self, ConnAck) {
            let mut c = Client {
                io,
                decoder: Decoder::new(ProtocolVersion::V5),
                buf: BytesMut::new(),
            };
            c.send(Packet::from(connect)).await;
            match c.recv().await {
                Some(Packet::ConnAck(ack)) => (c, *ack),
                other => panic!("expected CONNACK, got {other:?}"),
            }
        }

        async fn send(&mut self, packet: Packet) {
            let mut out = BytesMut::new();
            packet.encode(ProtocolVersion::V5, &mut out).unwrap();
            self.io.write_all(&out).await.unwrap();
        }

        /// The next packet, `None` once the connection is closed.
        async fn recv(&mut self) -> Option<Packet> {
            tokio::time::timeout(WAIT, async {
                loop {
                    if let Some(p) = self.decoder.decode(&mut self.buf).unwrap() {
                        return Some(p);
                    }
                    match self.io.read_buf(&mut self.buf).await {
                        Ok(0) | Err(_) => return None,
                        Ok(_) => {}
                    }
                }
            })
            .await
            .expect("timed out waiting for a packet")
        }

        async fn subscribe(&mut self, filter: &str) {
            let s = Subscribe::new(
                PacketId::MIN,
                vec![(
                    TopicFilter::new(filter).unwrap(),
                    SubscriptionOptions::with_qos(QoS::AtLeastOnce),
                )],
            );
            self.send(Packet::Subscribe(s)).await;
            assert!(matches!(self.recv().await, Some(Packet::SubAck(_))));
        }

        async fn publish(&mut self, topic: &str, payload: &str, retain: bool) {
            let p = Publish {
                qos: PublishQos::AtLeastOnce(PacketId::MIN),
                retain,
                topic: TopicName::new(topic).unwrap(),
                payload: payload.to_owned().into(),
                ..Publish::default()
            };
            self.send(Packet::Publish(p)).await;
            assert!(matches!(self.recv().await, Some(Packet::PubAck(_))));
        }

        /// The next PUBLISH, acknowledged.
        async fn next_publish(&mut self) -> Publish {
            match self.recv().await {
                Some(Packet::Publish(p)) => {
                    if let Some(id) = p.qos.packet_id() {
                        self.send(Packet::PubAck(PubAck::new(id))).await;
                    }
                    p
                }
                other => panic!("expected PUBLISH, got {other:?}"),
            }
        }
    }

    fn connect(id: &str) -> Connect {
        Connect {
            client_id: MqttString::new(id).unwrap(),
            ..Connect::default()
        }
    }

    async fn tcp(addr: SocketAddr, id: &str) -> Client<TcpStream> {
        let (c, ack) = Client::connect(TcpStream::connect(addr).await.unwrap(), connect(id)).await;
        assert_eq!(ack.reason_code, ReasonCode::Success);
        c
    }

    /// A broker on 127.0.0.1, on a port of the system's choosing.
    async fn loopback_broker() -> Broker {
        let mut config = Config::local_only(Some(0));
        config
            .listeners
            .retain(|l| l.bind_address.as_deref() == Some("127.0.0.1"));
        Broker::bind(config).await.unwrap()
    }

    #[tokio::test]
    async fn a_panic_in_one_connection_leaves_the_broker_and_other_clients_working() {
        let broker = loopback_broker().await;
        let addr = broker.local_addrs()[0];
        let hub = broker.hub();
        let index = broker.listeners[0].0;
        let listener = hub.listener(index).unwrap();
        let spawn = broker.conn_tx.clone();
        let shutdown = broker.shutdown_handle();
        let running = tokio::spawn(broker.run());

        let mut bystander = tcp(addr, "bystander").await;
        bystander.subscribe("will/#").await;
        bystander.subscribe("news").await;

        // 1. A connection whose task panics while serving it.
        let (client_end, server_end) = tokio::io::duplex(64 * 1024);
        let armed = Arc::new(AtomicBool::new(false));
        let fragile = Fragile {
            inner: server_end,
            armed: Arc::clone(&armed),
        };
        spawn
            .send(Box::pin(connection_task(
                Arc::clone(&hub),
                (index, Arc::clone(&listener)),
                fragile,
                "in-memory".to_owned(),
                connection::CONNECT_TIMEOUT,
                ConnectionSlot::untracked(),
            )))
            .unwrap();
        let mut with_will = connect("victim");
        with_will.will = Some(LastWill {
            topic: TopicName::new("will/victim").unwrap(),
            payload: "lost".into(),
            qos: QoS::AtLeastOnce,
            ..LastWill::default()
        });
        let (mut victim, ack) = Client::connect(client_end, with_will).await;
        assert_eq!(ack.reason_code, ReasonCode::Success);
        victim.subscribe("news").await;
        armed.store(true, Ordering::SeqCst);
        victim.send(Packet::PingReq).await; // wakes the task, whose next read panics
                                            // The session was released as after a lost connection: the will is published, and the
                                            // session (expiry 0) ended.
        let will = bystander.next_publish().await;
        assert_eq!(
            (will.topic.as_str(), will.payload.as_ref()),
            ("will/victim", &b"lost"[..])
        );
        assert!(!hub.has_session("victim"));
        assert_eq!(victim.recv().await, None, "the connection is closed");

        // 2. A task that panics while holding every shared lock and the bystander's.
        let (held_tx, held_rx) = tokio::sync::oneshot::channel();
        let poisoner = Arc::clone(&hub);
        spawn
            .send(Box::pin(async move {
                poisoner.panic_holding_locks("bystander", move || {
                    let _ = held_tx.send(());
                });
            }))
            .unwrap();
        held_rx.await.unwrap();

        // The accept loop, routing, subscriptions, retained messages and the bystander's
        // session all keep working.
        let mut newcomer = tcp(addr, "newcomer").await;
        newcomer.publish("news", "still here", true).await;
        assert_eq!(bystander.next_publish().await.payload, "still here");
        newcomer.subscribe("news").await;
        let retained = newcomer.next_publish().await;
        assert_eq!(retained.payload, "still here");
        assert!(retained.retain);
        // The victim's client id is free: a new session, not a takeover.
        let (_again, ack) =
            Client::connect(TcpStream::connect(addr).await.unwrap(), connect("victim")).await;
        assert_eq!(ack.reason_code, ReasonCode::Success);
        assert!(!ack.session_present);
        assert_eq!(hub.session_count(), 3);
        assert!(!running.is_finished());

        let _ = shutdown.send(true);
        tokio::time::timeout(WAIT, running).await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_shutdown_signalled_before_run_begins_is_not_missed() {
        // SIGTERM can come while `run` is starting: as soon as an accept loop serves a client,
        // before the loop that waits for the signal has subscribed to it. It once waited for a
        // change that had already happened, and the broker never stopped.
        let broker = loopback_broker().await;
        let shutdown = broker.shutdown_handle();
        // The binary's termination task keeps the value this way even with no receiver yet.
        shutdown.send_replace(true);
        tokio::time::timeout(WAIT, broker.run()).await.unwrap();
    }
}
