//! Shared by the transport tests: certificates (`test_support::pki`), a private Mosquitto with
//! TLS listeners, an in-test front server (TLS and/or WebSocket in front of Mosquitto's plain
//! listener, recording what the client offered), an in-test SOCKS5 proxy, our broker in this
//! process, and a publish/subscribe round trip.
#![allow(dead_code)]
// tungstenite's callback signature returns a whole HTTP response as its error.
#![allow(clippy::result_large_err)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fast_socks5::server::Socks5ServerProtocol;
use fast_socks5::util::target_addr::TargetAddr;
use futures_util::{SinkExt, StreamExt};
use mqtt_client::rustls::pki_types::pem::PemObject;
use mqtt_client::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use mqtt_client::rustls::{self, ProtocolVersion, ServerConfig};
use mqtt_client::{connect, ClientOptions};
use mqtt_codec::{QoS, ReasonCode, TopicFilter, TopicName};
use test_support::{free_port, Mosquitto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::Message;

/// The test certificates (`test_support::pki`), and a directory holding the CA certificate
/// among unrelated files.
pub(crate) struct Pki {
    pki: test_support::pki::Pki,
    /// A directory holding the CA certificate among unrelated files.
    pub(crate) ca_dir: PathBuf,
}

impl std::ops::Deref for Pki {
    type Target = test_support::pki::Pki;

    fn deref(&self) -> &test_support::pki::Pki {
        &self.pki
    }
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let pki = test_support::pki::Pki::new("pki");
        let ca_dir = pki.dir().join("ca.d");
        std::fs::create_dir(&ca_dir).unwrap();
        std::fs::write(ca_dir.join("ca.crt"), &pki.ca_pem).unwrap();
        std::fs::write(ca_dir.join("README"), "not a certificate\n").unwrap();
        std::fs::copy(&pki.client.key, ca_dir.join("some.key")).unwrap();
        std::fs::create_dir(ca_dir.join("subdir")).unwrap();
        Pki { pki, ca_dir }
    }

    /// A rustls server configuration with the `localhost` certificate.
    pub(crate) fn server_config(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
        alpn: &[&[u8]],
    ) -> Arc<ServerConfig> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.server.cert)
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let key = PrivateKeyDer::from_pem_file(&self.server.key).unwrap();
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// Config lines for a TLS listener on `port` with `cert`/`key` and the PKI's CA.
pub(crate) fn tls_listener(port: u16, pki: &Pki, cert: &Path, key: &Path, extra: &str) -> String {
    format!(
        "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n{extra}\n",
        pki.ca.display(),
        cert.display(),
        key.display()
    )
}

/// Starts Mosquitto with its plain listener followed by `config`, and waits until each of
/// `ports` is open too.
pub(crate) fn mosquitto(config: String, ports: &[u16]) -> Mosquitto {
    let mut m = Mosquitto::with_config(move |_, _| config.clone());
    for port in ports {
        m.expect_log(&format!("Opening ipv4 listen socket on port {port}."));
    }
    m
}

/// Subscribes to a topic, publishes to it at QoS 1 over the same connection, receives the
/// message back and disconnects: the transport carries MQTT both ways.
pub(crate) async fn round_trip(options: ClientOptions) {
    let (client, mut messages, connack) = connect(options).await.unwrap();
    assert_eq!(connack.reason_code, ReasonCode::Success);
    let suback = client
        .subscribe_one(TopicFilter::new("transport/#").unwrap(), QoS::AtLeastOnce)
        .await
        .unwrap();
    assert_eq!(suback.reason_codes, [ReasonCode::GrantedQoS1]);
    // A payload larger than one TLS record and one read buffer.
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    client
        .publish(
            TopicName::new("transport/test").unwrap(),
            payload.clone(),
            QoS::AtLeastOnce,
            false,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(15), messages.recv())
        .await
        .expect("the message came back")
        .unwrap();
    assert_eq!(message.topic, "transport/test");
    assert_eq!(&message.payload[..], &payload[..]);
    client.disconnect().await.unwrap();
    assert!(client.closed().await.is_none());
}

/// What the front server saw of one connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct Seen {
    /// The negotiated TLS version, when TLS was used.
    pub(crate) tls_version: Option<ProtocolVersion>,
    /// The negotiated ALPN protocol.
    pub(crate) alpn: Option<Vec<u8>>,
    /// The SNI the client sent.
    pub(crate) sni: Option<String>,
    /// The WebSocket request's path.
    pub(crate) path: Option<String>,
    /// The request's `Sec-WebSocket-Protocol` values.
    pub(crate) subprotocols: Vec<String>,
    /// The request's headers, names lowercase.
    pub(crate) headers: Vec<(String, String)>,
}

/// How the front server answers a WebSocket upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsMode {
    /// No WebSocket: bytes go straight to Mosquitto.
    None,
    /// Accept, answering the `mqtt` subprotocol (as Mosquitto does); refuse a request without
    /// it with 400.
    Mqtt,
    /// Accept without naming a subprotocol.
    NoSubprotocol,
    /// Answer 404.
    NotFound,
}

/// A server in front of Mosquitto's plain listener: optional TLS (with the PKI's `localhost`
/// certificate), then an optional WebSocket upgrade, then the bytes (or binary messages)
/// relayed to `backend`. Each connection's [`Seen`] arrives on the returned channel.
pub(crate) async fn front(
    tls: Option<Arc<ServerConfig>>,
    ws: WsMode,
    backend: SocketAddr,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tls = tls.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut seen = Seen::default();
                match tls {
                    Some(config) => {
                        let Ok(stream) =
                            tokio_rustls::TlsAcceptor::from(config).accept(stream).await
                        else {
                            let _ = tx.send(seen);
                            return;
                        };
                        let (_, connection) = stream.get_ref();
                        seen.tls_version = connection.protocol_version();
                        seen.alpn = connection.alpn_protocol().map(|p| p.to_vec());
                        seen.sni = connection.server_name().map(str::to_owned);
                        serve(stream, ws, backend, seen, tx).await;
                    }
                    None => serve(stream, ws, backend, seen, tx).await,
                }
            });
        }
    });
    (addr, rx)
}

async fn serve<S>(
    stream: S,
    ws: WsMode,
    backend: SocketAddr,
    mut seen: Seen,
    tx: mpsc::UnboundedSender<Seen>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut stream = stream;
    if ws == WsMode::None {
        let _ = tx.send(seen);
        let mut upstream = TcpStream::connect(backend).await.unwrap();
        let _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream).await;
        return;
    }
    let mut request_seen = Seen::default();
    let callback = |request: &Request, mut response: Response| {
        request_seen.path = Some(request.uri().path().to_owned());
        request_seen.subprotocols = request
            .headers()
            .get_all("sec-websocket-protocol")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .map(|s| s.trim().to_owned())
            .collect();
        request_seen.headers = request
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let refuse = |status: StatusCode| {
            let mut response = ErrorResponse::new(None);
            *response.status_mut() = status;
            Err(response)
        };
        match ws {
            WsMode::NotFound => refuse(StatusCode::NOT_FOUND),
            WsMode::Mqtt if !request_seen.subprotocols.iter().any(|p| p == "mqtt") => {
                refuse(StatusCode::BAD_REQUEST)
            }
            WsMode::Mqtt => {
                response
                    .headers_mut()
                    .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
                Ok(response)
            }
            WsMode::NoSubprotocol | WsMode::None => Ok(response),
        }
    };
    let accepted = tokio_tungstenite::accept_hdr_async(stream, callback).await;
    seen.path = request_seen.path;
    seen.subprotocols = request_seen.subprotocols;
    seen.headers = request_seen.headers;
    let _ = tx.send(seen);
    let Ok(mut ws) = accepted else { return };
    let mut upstream = TcpStream::connect(backend).await.unwrap();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Binary(data))) => {
                    if upstream.write_all(&data).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Text(_))) => panic!("the client sent a text message"),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            read = upstream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let data = Bytes::copy_from_slice(buf.get(..n).unwrap());
                    if ws.send(Message::Binary(data)).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    let _ = ws.close(None).await;
}

/// What the SOCKS5 proxy saw of one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxySeen {
    /// The user name and password the client authenticated with.
    pub(crate) credentials: Option<(String, String)>,
    /// Where the client asked to go: `domain <name>:<port>` or `ip <address>:<port>`.
    pub(crate) target: String,
}

/// An in-test SOCKS5 proxy (fast-socks5's server protocol) on a loopback port. With
/// `credentials` it requires username/password authentication with exactly those, else it
/// requires none. Connections go wherever the client asks (the proxy resolves names); what
/// each asked arrives on the channel.
pub(crate) async fn socks5_proxy(
    credentials: Option<(&'static str, &'static str)>,
) -> (SocketAddr, mpsc::UnboundedReceiver<ProxySeen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut offered = None;
                let authenticated = match credentials {
                    Some((user, pass)) => {
                        Socks5ServerProtocol::accept_password_auth(stream, |u, p| {
                            let ok = u == user && p == pass;
                            offered = Some((u, p));
                            ok
                        })
                        .await
                        .map(|(proto, _)| proto)
                    }
                    None => Socks5ServerProtocol::accept_no_auth(stream).await,
                };
                let Ok(proto) = authenticated else { return };
                let Ok((proto, _command, target)) = proto.read_command().await else {
                    return;
                };
                let _ = tx.send(ProxySeen {
                    credentials: offered,
                    target: match &target {
                        TargetAddr::Ip(addr) => format!("ip {addr}"),
                        TargetAddr::Domain(host, port) => format!("domain {host}:{port}"),
                    },
                });
                let upstream = match &target {
                    TargetAddr::Ip(addr) => TcpStream::connect(addr).await,
                    TargetAddr::Domain(host, port) => {
                        TcpStream::connect((host.as_str(), *port)).await
                    }
                };
                let Ok(mut upstream) = upstream else {
                    let _ = proto
                        .reply_error(&fast_socks5::ReplyError::ConnectionRefused)
                        .await;
                    return;
                };
                let local = upstream.local_addr().unwrap();
                let Ok(mut client) = proto.reply_success(local).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, rx)
}

/// A loopback port nothing listens on.
pub(crate) fn closed_port() -> u16 {
    free_port()
}

/// Our broker in this process, local only, on an ephemeral port.
pub(crate) async fn our_broker() -> SocketAddr {
    let mut config = mqtt_broker::config::Config::local_only(Some(0));
    config
        .listeners
        .retain(|l| l.bind_address.as_deref() == Some("127.0.0.1"));
    let broker = mqtt_broker::server::Broker::bind(config).await.unwrap();
    let addr = broker.local_addrs()[0];
    tokio::spawn(broker.run());
    addr
}
