//! MQTT over WebSocket (`ws`) and over WebSocket in TLS (`wss`). Debian's Mosquitto 2.0.11
//! cannot open websockets listeners, so an in-test WebSocket server (tokio-tungstenite) checks
//! the upgrade request, answers the `mqtt` subprotocol as Mosquitto does, and relays the binary
//! messages to Mosquitto's plain listener. Mosquitto must be installed: the tests fail loudly
//! otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{front, round_trip, Pki, WsMode};
use mqtt_client::rustls;
use mqtt_client::{connect, ClientError, ClientOptions, TlsOptions, WebSocketOptions};
use mqtt_codec::ProtocolVersion;
use test_support::Mosquitto;

fn ws_options(port: u16, ws: WebSocketOptions) -> ClientOptions {
    let mut options = ClientOptions::tcp("localhost", port);
    options.websocket = Some(ws);
    options
}

#[tokio::test]
async fn ws_round_trip_asks_for_the_mqtt_subprotocol() {
    let m = Mosquitto::start();
    let (addr, mut seen) = front(None, WsMode::Mqtt, m.addr()).await;
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        round_trip(ws_options(addr.port(), WebSocketOptions::new()).version(version)).await;
        let seen = seen.recv().await.unwrap();
        assert_eq!(seen.path.as_deref(), Some("/mqtt"));
        assert_eq!(seen.subprotocols, ["mqtt"]);
        assert!(
            seen.headers
                .contains(&("host".to_owned(), format!("localhost:{}", addr.port()))),
            "{:?}",
            seen.headers
        );
        assert_eq!(seen.tls_version, None);
    }
}

#[tokio::test]
async fn path_and_headers_are_sent_as_given() {
    let m = Mosquitto::start();
    let (addr, mut seen) = front(None, WsMode::Mqtt, m.addr()).await;
    let ws = WebSocketOptions::new()
        .with_path("/ws/broker")
        .with_header("Authorization", "Bearer token-1");
    round_trip(ws_options(addr.port(), ws)).await;
    let seen = seen.recv().await.unwrap();
    assert_eq!(seen.path.as_deref(), Some("/ws/broker"));
    assert!(seen
        .headers
        .contains(&("authorization".to_owned(), "Bearer token-1".to_owned())));
}

#[tokio::test]
async fn wss_is_websocket_inside_tls() {
    let pki = Pki::new();
    let m = Mosquitto::start();
    let server = pki.server_config(rustls::DEFAULT_VERSIONS, &[]);
    let (addr, mut seen) = front(Some(server), WsMode::Mqtt, m.addr()).await;
    let mut options = ws_options(addr.port(), WebSocketOptions::new());
    options.tls = Some(TlsOptions::new().with_ca_file(&pki.ca));
    round_trip(options).await;
    let seen = seen.recv().await.unwrap();
    assert!(seen.tls_version.is_some());
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    assert_eq!(seen.subprotocols, ["mqtt"]);
    // wss still verifies the server's certificate.
    let mut options = ws_options(addr.port(), WebSocketOptions::new());
    options.tls = Some(TlsOptions::new().with_ca_file(&pki.other_ca));
    assert!(matches!(
        connect(options).await,
        Err(ClientError::Tls(m)) if m.contains("UnknownIssuer")
    ));
}

/// The message of the WebSocket error `connect` fails with.
async fn ws_failure(options: ClientOptions) -> String {
    match connect(options).await {
        Err(ClientError::WebSocket(message)) => message,
        Err(other) => panic!("expected a WebSocket error, got {other:?}"),
        Ok(_) => panic!("expected a WebSocket error, but the connection succeeded"),
    }
}

#[tokio::test]
async fn a_server_that_ignores_the_subprotocol_is_refused() {
    let m = Mosquitto::start();
    let (addr, _seen) = front(None, WsMode::NoSubprotocol, m.addr()).await;
    let message = ws_failure(ws_options(addr.port(), WebSocketOptions::new())).await;
    assert!(message.contains("ubprotocol"), "{message}");
}

#[tokio::test]
async fn an_http_error_is_reported_with_its_status() {
    let m = Mosquitto::start();
    let (addr, _seen) = front(None, WsMode::NotFound, m.addr()).await;
    let message = ws_failure(ws_options(addr.port(), WebSocketOptions::new())).await;
    assert!(message.contains("404"), "{message}");
    assert!(
        message.starts_with(&format!("ws://localhost:{}/mqtt", addr.port())),
        "{message}"
    );
}

#[tokio::test]
async fn a_plain_mqtt_listener_is_no_websocket_server() {
    // Mosquitto answers the HTTP request as MQTT: it closes the connection.
    let m = Mosquitto::start();
    let message = ws_failure(ws_options(m.port(), WebSocketOptions::new())).await;
    assert!(!message.is_empty());
}
