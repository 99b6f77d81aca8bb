//! Through a SOCKS5 proxy (an in-test one, fast-socks5's server protocol) to Mosquitto: the
//! proxy must see the server's host name (`socks5h`: the proxy resolves it) and the
//! credentials. Mosquitto must be installed: the tests fail loudly otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{closed_port, mosquitto, round_trip, socks5_proxy, tls_listener, Pki, ProxySeen};
use mqtt_client::{connect, ClientError, ClientOptions, ProxyErrorKind, Socks5Proxy, TlsOptions};
use test_support::{free_port, Mosquitto};

fn proxied(host: &str, port: u16, proxy: Socks5Proxy) -> ClientOptions {
    let mut options = ClientOptions::tcp(host, port);
    options.proxy = Some(proxy);
    options
}

#[tokio::test]
async fn the_proxy_resolves_the_host_name() {
    let m = Mosquitto::start();
    let (proxy, mut seen) = socks5_proxy(None).await;
    round_trip(proxied(
        "localhost",
        m.port(),
        Socks5Proxy::new("127.0.0.1", proxy.port()),
    ))
    .await;
    assert_eq!(
        seen.recv().await.unwrap(),
        ProxySeen {
            credentials: None,
            target: format!("domain localhost:{}", m.port()),
        }
    );
    // An address is passed as an address; the proxy's own name is resolved here.
    round_trip(proxied(
        "127.0.0.1",
        m.port(),
        Socks5Proxy::new("localhost", proxy.port()),
    ))
    .await;
    assert_eq!(
        seen.recv().await.unwrap().target,
        format!("ip 127.0.0.1:{}", m.port())
    );
}

#[tokio::test]
async fn username_and_password_authenticate() {
    let m = Mosquitto::start();
    let (proxy, mut seen) = socks5_proxy(Some(("proxy-user", "proxy-pass"))).await;
    round_trip(proxied(
        "localhost",
        m.port(),
        Socks5Proxy::new("127.0.0.1", proxy.port()).with_credentials("proxy-user", "proxy-pass"),
    ))
    .await;
    assert_eq!(
        seen.recv().await.unwrap(),
        ProxySeen {
            credentials: Some(("proxy-user".to_owned(), "proxy-pass".to_owned())),
            target: format!("domain localhost:{}", m.port()),
        }
    );
    // A wrong password, or none, is refused.
    let user_only = {
        let mut p = Socks5Proxy::new("127.0.0.1", proxy.port());
        p.username = Some("proxy-user".to_owned());
        p
    };
    for (proxy_options, expected) in [
        (
            Socks5Proxy::new("127.0.0.1", proxy.port()).with_credentials("proxy-user", "wrong"),
            ProxyErrorKind::AuthenticationFailed,
        ),
        (
            Socks5Proxy::new("127.0.0.1", proxy.port()),
            ProxyErrorKind::NoAcceptableMethod,
        ),
        // RFC 1929 has no empty passwords.
        (user_only, ProxyErrorKind::InvalidCredentials),
    ] {
        match connect(proxied("localhost", m.port(), proxy_options)).await {
            Err(ClientError::Proxy { kind, message }) => {
                assert_eq!(kind, expected, "{message}");
                assert!(
                    message.contains(&format!("localhost:{}", m.port())),
                    "{message}"
                )
            }
            other => panic!("expected a proxy error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn tls_runs_through_the_tunnel() {
    let pki = Pki::new();
    let tls_port = free_port();
    let m = mosquitto(
        tls_listener(tls_port, &pki, &pki.server.cert, &pki.server.key, ""),
        &[tls_port],
    );
    let (proxy, mut seen) = socks5_proxy(None).await;
    let mut options = proxied(
        "localhost",
        tls_port,
        Socks5Proxy::new("127.0.0.1", proxy.port()),
    );
    options.tls = Some(TlsOptions::new().with_ca_file(&pki.ca));
    round_trip(options).await;
    assert_eq!(
        seen.recv().await.unwrap().target,
        format!("domain localhost:{tls_port}")
    );
    drop(m);
}

#[tokio::test]
async fn an_unreachable_proxy_is_an_io_error() {
    let m = Mosquitto::start();
    let options = proxied(
        "localhost",
        m.port(),
        Socks5Proxy::new("127.0.0.1", closed_port()),
    );
    match connect(options).await {
        Err(ClientError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("expected connection refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_target_the_proxy_cannot_reach_is_a_proxy_error() {
    let (proxy, _seen) = socks5_proxy(None).await;
    let options = proxied(
        "localhost",
        closed_port(),
        Socks5Proxy::new("127.0.0.1", proxy.port()),
    );
    match connect(options).await {
        Err(ClientError::Proxy { kind, message }) => {
            assert_eq!(kind, ProxyErrorKind::ConnectFailed);
            assert!(message.contains("Connection refused"), "{message}")
        }
        other => panic!("expected a proxy error, got {other:?}"),
    }
}

#[test]
fn the_password_is_not_shown() {
    let proxy = Socks5Proxy::new("proxy", 1080).with_credentials("user", "secret");
    let shown = format!("{proxy:?}");
    assert!(
        shown.contains("user") && !shown.contains("secret"),
        "{shown}"
    );
}
