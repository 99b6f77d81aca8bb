//! Listeners, the accept loop and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::{Config, Listener, ListenerProtocol, SocketDomain};
use crate::connection;
use crate::hub::Hub;

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
}

/// A running broker: its listeners are bound; `run` serves until shutdown.
pub struct Broker {
    hub: Arc<Hub>,
    listeners: Vec<(Arc<Listener>, TcpListener)>,
    shutdown_tx: watch::Sender<bool>,
    connect_timeout: std::time::Duration,
}

impl Broker {
    /// Binds every listener of the configuration.
    pub async fn bind(config: Config) -> Result<Broker, StartError> {
        let config = Arc::new(config);
        let mut listeners = Vec::new();
        for l in &config.listeners {
            if let Some(reason) = unsupported(l) {
                // Never serve plain MQTT where the configuration asked for TLS or WebSockets.
                error!(
                    "Error: listener on port {} not opened: {reason} is not supported yet.",
                    l.port
                );
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
                            "Opening ipv{} listen socket on port {}.",
                            if address.is_ipv4() { 4 } else { 6 },
                            address.port()
                        );
                        listeners.push((Arc::new(l.clone()), socket));
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
        Ok(Broker {
            hub: Hub::new(config),
            listeners,
            shutdown_tx,
            connect_timeout: connection::CONNECT_TIMEOUT,
        })
    }

    /// The addresses actually bound (useful with port 0 in tests).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|(_, l)| l.local_addr().ok())
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

    /// A handle that stops the broker when `true` is sent.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown_tx.clone()
    }

    /// Serves until the shutdown handle fires; then tells every client (DISCONNECT 0x8B in
    /// MQTT 5) and waits for their tasks to finish.
    pub async fn run(self) {
        let mut tasks = JoinSet::new();
        let mut accept_loops = JoinSet::new();
        let (conn_tx, mut conn_rx) = tokio::sync::mpsc::unbounded_channel();
        for (listener, socket) in self.listeners {
            let hub = Arc::clone(&self.hub);
            let shutdown = self.shutdown_tx.subscribe();
            let conn_tx = conn_tx.clone();
            let timeout = self.connect_timeout;
            accept_loops.spawn(accept_loop(
                hub, listener, socket, shutdown, conn_tx, timeout,
            ));
        }
        drop(conn_tx);
        let sys = tokio::spawn(crate::sys::run(
            Arc::clone(&self.hub),
            self.shutdown_tx.subscribe(),
        ));
        let mut shutdown = self.shutdown_tx.subscribe();
        loop {
            tokio::select! {
                Some(fut) = conn_rx.recv() => { tasks.spawn(fut); }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = shutdown.changed() => break,
            }
        }
        accept_loops.abort_all();
        sys.abort();
        // Connections see the same shutdown signal and close themselves.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }
}

type ConnFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

async fn accept_loop(
    hub: Arc<Hub>,
    listener: Arc<Listener>,
    socket: TcpListener,
    shutdown: watch::Receiver<bool>,
    conn_tx: tokio::sync::mpsc::UnboundedSender<ConnFuture>,
    connect_timeout: std::time::Duration,
) {
    let limit = listener
        .max_connections
        .map(|n| Arc::new(Semaphore::new(n)));
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
        if hub.config.set_tcp_nodelay {
            let _ = stream.set_nodelay(true);
        }
        let hub = Arc::clone(&hub);
        let listener = Arc::clone(&listener);
        let shutdown = shutdown.clone();
        let fut: ConnFuture = Box::pin(async move {
            let _permit = permit;
            connection::serve(
                hub,
                listener,
                stream,
                peer.to_string(),
                shutdown,
                connect_timeout,
            )
            .await;
        });
        if conn_tx.send(fut).is_err() {
            return;
        }
    }
}

/// What a listener asks for that this version cannot provide.
fn unsupported(l: &Listener) -> Option<&'static str> {
    if l.tls.is_some() {
        Some("TLS (certfile/keyfile)")
    } else if l.protocol == ListenerProtocol::WebSockets {
        Some("protocol websockets")
    } else if l.unix_socket.is_some() {
        Some("a unix socket listener")
    } else {
        None
    }
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
