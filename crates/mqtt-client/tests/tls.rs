//! TLS: the client against Mosquitto's TLS listeners (certificates made here with rcgen), and
//! against an in-test rustls server in front of Mosquitto where the test must see what the
//! client negotiated (ALPN, version, SNI). Mosquitto must be installed: the tests fail loudly
//! otherwise.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::{front, mosquitto, round_trip, tls_listener, Pki, WsMode};
use mqtt_client::rustls::{self, ProtocolVersion as Negotiated};
use mqtt_client::{connect, ClientError, ClientOptions, TlsOptions, TlsVersion};
use mqtt_codec::ProtocolVersion;
use test_support::{free_port, Mosquitto};

/// Mosquitto with four TLS listeners besides its plain one.
struct Broker {
    mosquitto: Mosquitto,
    /// The `localhost` certificate.
    tls: u16,
    /// A certificate for `elsewhere.invalid` only.
    elsewhere: u16,
    /// `require_certificate true`.
    client_auth: u16,
    /// `tls_version tlsv1.3`.
    tls13: u16,
}

fn broker(pki: &Pki) -> Broker {
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let [tls, elsewhere, client_auth, tls13] = ports;
    let config = [
        tls_listener(tls, pki, &pki.server.cert, &pki.server.key, ""),
        tls_listener(elsewhere, pki, &pki.elsewhere.cert, &pki.elsewhere.key, ""),
        tls_listener(
            client_auth,
            pki,
            &pki.server.cert,
            &pki.server.key,
            "require_certificate true",
        ),
        tls_listener(
            tls13,
            pki,
            &pki.server.cert,
            &pki.server.key,
            "tls_version tlsv1.3",
        ),
    ]
    .concat();
    Broker {
        mosquitto: mosquitto(config, &ports),
        tls,
        elsewhere,
        client_auth,
        tls13,
    }
}

fn options(host: &str, port: u16, tls: TlsOptions) -> ClientOptions {
    let mut options = ClientOptions::tcp(host, port);
    options.tls = Some(tls);
    options
}

/// The message of the TLS error `connect` fails with.
async fn tls_failure(options: ClientOptions) -> String {
    match connect(options).await {
        Err(ClientError::Tls(message)) => message,
        Err(other) => panic!("expected a TLS error, got {other:?}"),
        Ok(_) => panic!("expected a TLS error, but the connection succeeded"),
    }
}

#[tokio::test]
async fn ca_file_round_trip_at_every_version() {
    let pki = Pki::new();
    let b = broker(&pki);
    for version in [
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
        ProtocolVersion::V3_1,
    ] {
        let mut o =
            options("localhost", b.tls, TlsOptions::new().with_ca_file(&pki.ca)).version(version);
        o.connect.client_id = "tls-round-trip".try_into().unwrap();
        round_trip(o).await;
    }
    // An IP address is checked against the certificate's IP addresses.
    round_trip(options(
        "127.0.0.1",
        b.tls,
        TlsOptions::new().with_ca_file(&pki.ca),
    ))
    .await;
}

#[tokio::test]
async fn ca_dir_trusts_the_certificates_in_it() {
    let pki = Pki::new();
    let b = broker(&pki);
    // The directory also holds a key, a text file and a subdirectory: they are skipped.
    round_trip(options(
        "localhost",
        b.tls,
        TlsOptions::new().with_ca_dir(&pki.ca_dir),
    ))
    .await;
}

#[tokio::test]
async fn an_untrusted_ca_fails_the_handshake() {
    let pki = Pki::new();
    let b = broker(&pki);
    let message = tls_failure(options(
        "localhost",
        b.tls,
        TlsOptions::new().with_ca_file(&pki.other_ca),
    ))
    .await;
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(
        message.contains("handshake with localhost failed"),
        "{message}"
    );
}

#[tokio::test]
async fn a_host_name_mismatch_fails_unless_insecure() {
    let pki = Pki::new();
    let b = broker(&pki);
    let ca = || TlsOptions::new().with_ca_file(&pki.ca);
    let message = tls_failure(options("localhost", b.elsewhere, ca())).await;
    assert!(message.contains("not valid for name"), "{message}");
    // --insecure skips the name check only...
    round_trip(options("localhost", b.elsewhere, ca().with_insecure(true))).await;
    // ...the chain must still lead to a trusted CA.
    let message = tls_failure(options(
        "localhost",
        b.elsewhere,
        TlsOptions::new()
            .with_ca_file(&pki.other_ca)
            .with_insecure(true),
    ))
    .await;
    assert!(message.contains("UnknownIssuer"), "{message}");
    // Naming the server explicitly makes the certificate match.
    round_trip(options(
        "localhost",
        b.elsewhere,
        ca().with_server_name("elsewhere.invalid"),
    ))
    .await;
}

#[tokio::test]
async fn a_client_certificate_is_presented_when_required() {
    let pki = Pki::new();
    let mut b = broker(&pki);
    let ca = || TlsOptions::new().with_ca_file(&pki.ca);
    round_trip(options(
        "localhost",
        b.client_auth,
        ca().with_client_certificate(&pki.client.cert, &pki.client.key),
    ))
    .await;
    // Without one, Mosquitto refuses the connection (with TLS 1.3 after the client finished
    // its side of the handshake, so the failure shows when reading the CONNACK).
    b.mosquitto.drain_log();
    match connect(options("localhost", b.client_auth, ca())).await {
        // Usually the server's alert; the server may also reset the connection first.
        Err(ClientError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(ClientError::Io(e)) => assert_eq!(
            e.to_string(),
            "TLS: received fatal alert: CertificateRequired"
        ),
        Err(ClientError::ConnectionClosed) => {}
        other => panic!("expected a refusal without a client certificate, got {other:?}"),
    }
    b.mosquitto
        .wait_for_log_matching(|line| line.contains("peer did not return a certificate"))
        .unwrap();
}

#[tokio::test]
async fn alpn_is_offered() {
    let pki = Pki::new();
    let b = broker(&pki);
    let server = pki.server_config(rustls::DEFAULT_VERSIONS, &[b"x-other", b"mqtt"]);
    let (addr, mut seen) = front(Some(server), WsMode::None, b.mosquitto.addr()).await;
    let tls = TlsOptions::new().with_ca_file(&pki.ca).with_alpn("mqtt");
    round_trip(options("localhost", addr.port(), tls.clone())).await;
    let seen = seen.recv().await.unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"mqtt"[..]));
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    // Mosquitto 2.0.11 has no ALPN of its own and accepts the offer.
    round_trip(options("localhost", b.tls, tls)).await;
}

#[tokio::test]
async fn tls_versions_can_be_forced() {
    let pki = Pki::new();
    let b = broker(&pki);
    let server = pki.server_config(rustls::DEFAULT_VERSIONS, &[]);
    let (addr, mut seen) = front(Some(server), WsMode::None, b.mosquitto.addr()).await;
    for (versions, expected) in [
        (&[][..], Negotiated::TLSv1_3),
        (&[TlsVersion::Tls12][..], Negotiated::TLSv1_2),
        (&[TlsVersion::Tls13][..], Negotiated::TLSv1_3),
    ] {
        let tls = TlsOptions::new()
            .with_ca_file(&pki.ca)
            .with_versions(versions);
        round_trip(options("localhost", addr.port(), tls)).await;
        assert_eq!(seen.recv().await.unwrap().tls_version, Some(expected));
    }
    // Mosquitto's `tls_version tlsv1.3` listener refuses TLS 1.2 and accepts TLS 1.3.
    let forced = |v| TlsOptions::new().with_ca_file(&pki.ca).with_versions(&[v]);
    let message = tls_failure(options("localhost", b.tls13, forced(TlsVersion::Tls12))).await;
    assert!(
        message.contains("handshake with localhost failed"),
        "{message}"
    );
    round_trip(options("localhost", b.tls13, forced(TlsVersion::Tls13))).await;
}

#[tokio::test]
async fn a_caller_built_rustls_config_is_used_as_is() {
    let pki = Pki::new();
    let b = broker(&pki);
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&pki.ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tls = TlsOptions::from_config(Arc::new(config));
    assert!(Arc::ptr_eq(
        &tls.client_config().unwrap(),
        tls.config.as_ref().unwrap()
    ));
    round_trip(options("localhost", b.tls, tls)).await;
}

#[test]
fn configuration_errors_are_clear() {
    let pki = Pki::new();
    let error = |tls: TlsOptions| match tls.client_config() {
        Err(ClientError::Tls(message)) => message,
        other => panic!("expected a TLS error, got {other:?}"),
    };
    let missing = pki.dir().join("missing.crt");
    let message = error(TlsOptions::new().with_ca_file(&missing));
    assert!(
        message.contains("cannot load the CA file") && message.contains("missing.crt"),
        "{message}"
    );
    let message = error(TlsOptions::new().with_ca_file(&pki.server.key));
    assert!(message.contains("no PEM certificate"), "{message}");
    let empty = pki.dir().join("empty.d");
    std::fs::create_dir(&empty).unwrap();
    let message = error(TlsOptions::new().with_ca_dir(&empty));
    assert!(message.contains("no CA certificate found in"), "{message}");
    let message = error(TlsOptions::new().with_ca_dir(pki.dir().join("missing.d")));
    assert!(
        message.contains("cannot read the CA directory"),
        "{message}"
    );
    let message = error(TlsOptions::new());
    assert!(message.contains("no trusted CA certificate"), "{message}");
    let mut only_cert = TlsOptions::new().with_ca_file(&pki.ca);
    only_cert.client_cert = Some(pki.client.cert.clone());
    assert!(error(only_cert).contains("needs its key"));
    let message = error(
        TlsOptions::new()
            .with_ca_file(&pki.ca)
            .with_client_certificate(&pki.client.cert, &pki.server.key),
    );
    assert!(message.contains("client certificate or key"), "{message}");
    let message = error(
        TlsOptions::new()
            .with_ca_file(&pki.ca)
            .with_client_certificate(&pki.client.cert, &missing),
    );
    assert!(message.contains("cannot load the private key"), "{message}");
    // Display of the error as a whole.
    assert!(ClientError::Tls("x".into()).to_string() == "TLS error: x");
}
