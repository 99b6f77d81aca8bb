//! TLS, WebSocket and Unix-socket listeners, driven by third-party clients: Mosquitto's own
//! `mosquitto_pub` / `mosquitto_sub` (OpenSSL), Eclipse paho-mqtt for Python over WebSockets,
//! and our `mqtt-client` over ws and wss. Certificates come from `test_support::pki`.
//!
//! Needs `mosquitto-clients` and `python3` with paho-mqtt 2.x; fails loudly without them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mqtt_client::{connect, ClientOptions, TlsOptions, WebSocketOptions};
use mqtt_codec::{ProtocolVersion, QoS, ReasonCode, TopicFilter, TopicName};
use test_support::pki::{CertKey, Pki};
use test_support::{free_port, tool, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_mqtt-broker");
const WAIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Certificates

// `test_support::pki::Pki`: a CA, server certificates (valid, for another name, expired,
// untrusted), a client certificate with subject `O=Test Org, CN=alice`, an unrelated CA.

fn tls_lines(cert: &CertKey) -> String {
    format!(
        "certfile {}\nkeyfile {}\n",
        cert.cert.display(),
        cert.key.display()
    )
}

// ---------------------------------------------------------------------------------------------
// The broker binary, with its log

struct Broker {
    child: Child,
    log: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
    _conf: PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Starts the binary with `conf` (written to `dir`) and waits until `port` accepts.
    fn start(dir: &Path, conf: &str, ready_port: u16) -> Broker {
        let path = dir.join(format!("broker-{ready_port}.conf"));
        std::fs::write(&path, format!("allow_anonymous true\n{conf}")).unwrap();
        let (mut child, rx) = common::process::spawn_logged(BIN, &path);
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", ready_port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log: Vec<String> = rx.try_iter().collect();
                panic!("broker exited ({status}): {log:#?}");
            }
            assert!(
                Instant::now() < deadline,
                "broker did not open port {ready_port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Broker {
            child,
            log: rx,
            seen: Vec::new(),
            _conf: path,
        }
    }

    /// Waits for a log line containing `needle` (also among those already read).
    fn wait_for_log(&mut self, needle: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("broker did not log {needle:?}: {:#?}", self.seen));
            self.seen.push(line.clone());
            if line.contains(needle) {
                return line;
            }
        }
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// mosquitto_pub / mosquitto_sub

fn run(program: &str, args: &[&str]) -> Output {
    let mut child = Command::new(tool(program))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `mosquitto_sub -C 1` in the background, then `mosquitto_pub` until the subscriber has its
/// message (the subscriber may not be subscribed yet when the first message is published).
fn pub_sub_round_trip(connection: &[&str], message: &str) {
    let topic = format!("tls-ws/{}", free_port());
    let mut sub_args = connection.to_vec();
    sub_args.extend(["-t", &topic, "-C", "1", "-W", "10"]);
    let sub = Command::new(tool("mosquitto_sub"))
        .args(&sub_args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pub_args = connection.to_vec();
    pub_args.extend(["-t", &topic, "-m", message, "-q", "1"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut sub = sub;
    loop {
        let out = run("mosquitto_pub", &pub_args);
        assert!(out.status.success(), "mosquitto_pub failed: {}", text(&out));
        std::thread::sleep(Duration::from_millis(200));
        if sub.try_wait().unwrap().is_some() || Instant::now() > deadline {
            break;
        }
    }
    let out = sub.wait_with_output().unwrap();
    assert!(out.status.success(), "mosquitto_sub failed: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), message);
}

fn tls_args<'a>(port: &'a str, cafile: &'a Path) -> Vec<&'a str> {
    vec!["-h", "localhost", "-p", port, "--cafile", path(cafile)]
}

#[test]
fn mosquitto_clients_over_tls_round_trip_and_bad_server_certificates_are_refused() {
    let pki = Pki::new("broker-pki");
    let (good, elsewhere, expired, untrusted) =
        (free_port(), free_port(), free_port(), free_port());
    let conf = format!(
        "listener {elsewhere} 127.0.0.1\n{}\
         listener {expired} 127.0.0.1\n{}\
         listener {untrusted} 127.0.0.1\n{}\
         listener {good} 127.0.0.1\n{}",
        tls_lines(&pki.elsewhere),
        tls_lines(&pki.expired),
        tls_lines(&pki.untrusted),
        tls_lines(&pki.server),
    );
    let mut broker = Broker::start(pki.dir(), &conf, good);
    let good_s = good.to_string();
    pub_sub_round_trip(&tls_args(&good_s, &pki.ca), "over TLS");
    // TLS 1.2 only on the client side: the default listener accepts 1.2 too.
    let mut args = tls_args(&good_s, &pki.ca);
    args.extend(["--tls-version", "tlsv1.2"]);
    pub_sub_round_trip(&args, "over TLS 1.2");

    // A CA that did not sign the server's certificate.
    let out = run(
        "mosquitto_pub",
        &[
            &tls_args(&good_s, &pki.other_ca)[..],
            &["-t", "x", "-m", "y"],
        ]
        .concat(),
    );
    assert!(
        !out.status.success(),
        "untrusted CA accepted: {}",
        text(&out)
    );
    // A certificate signed by an unknown CA.
    let u = untrusted.to_string();
    let out = run(
        "mosquitto_pub",
        &[&tls_args(&u, &pki.ca)[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(
        !out.status.success(),
        "untrusted certificate accepted: {}",
        text(&out)
    );
    // A certificate for another host name.
    let e = elsewhere.to_string();
    let out = run(
        "mosquitto_pub",
        &[&tls_args(&e, &pki.ca)[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(
        !out.status.success(),
        "wrong host name accepted: {}",
        text(&out)
    );
    // An expired certificate.
    let x = expired.to_string();
    let out = run(
        "mosquitto_pub",
        &[&tls_args(&x, &pki.ca)[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(
        !out.status.success(),
        "expired certificate accepted: {}",
        text(&out)
    );
    broker.wait_for_log("TLS handshake failed");
    assert!(broker.is_running());
}

#[test]
fn plain_mqtt_on_a_tls_port_is_dropped_and_the_broker_keeps_serving() {
    let pki = Pki::new("broker-pki");
    let port = free_port();
    let conf = format!("listener {port} 127.0.0.1\n{}", tls_lines(&pki.server));
    let mut broker = Broker::start(pki.dir(), &conf, port);
    // A raw MQTT 3.1.1 CONNECT where a TLS ClientHello is expected.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(&[
        0x10, 0x0e, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 2, b'i', b'd',
    ])
    .unwrap();
    let mut buf = [0u8; 64];
    let started = Instant::now();
    // Closed (maybe after a TLS alert), never a CONNACK.
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => assert_ne!(buf[0], 0x20, "a CONNACK was sent in the clear ({n} bytes)"),
        }
    }
    assert!(started.elapsed() < WAIT, "not closed");
    let line = broker.wait_for_log("TLS handshake failed");
    assert!(line.contains("127.0.0.1"), "{line}");
    // mosquitto_pub over plain MQTT is refused too.
    let p = port.to_string();
    let out = run(
        "mosquitto_pub",
        &["-h", "127.0.0.1", "-p", &p, "-t", "x", "-m", "y"],
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(broker.is_running());
    pub_sub_round_trip(&tls_args(&p, &pki.ca), "still serving");
}

#[test]
fn require_certificate_and_use_identity_as_username() {
    let pki = Pki::new("broker-pki");
    let (identity, subject) = (free_port(), free_port());
    let conf = format!(
        "listener {subject} 127.0.0.1\n{}cafile {}\nrequire_certificate true\nuse_subject_as_username true\n\
         listener {identity} 127.0.0.1\n{}cafile {}\nrequire_certificate true\nuse_identity_as_username true\ntls_version tlsv1.2\n",
        tls_lines(&pki.server),
        pki.ca.display(),
        tls_lines(&pki.server),
        pki.ca.display(),
    );
    let mut broker = Broker::start(pki.dir(), &conf, identity);
    let id = identity.to_string();
    // Without a client certificate: refused.
    let out = run(
        "mosquitto_pub",
        &[&tls_args(&id, &pki.ca)[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(
        !out.status.success(),
        "no client certificate accepted: {}",
        text(&out)
    );
    // With a certificate from another CA: refused.
    let out = run(
        "mosquitto_pub",
        &[
            &tls_args(&id, &pki.ca)[..],
            &[
                "--cert",
                path(&pki.untrusted.cert),
                "--key",
                path(&pki.untrusted.key),
                "-t",
                "x",
                "-m",
                "y",
            ],
        ]
        .concat(),
    );
    assert!(
        !out.status.success(),
        "foreign client certificate accepted: {}",
        text(&out)
    );
    // With one: accepted, the CN is the username (whatever the client sends as -u).
    let mut args = tls_args(&id, &pki.ca);
    args.extend([
        "--cert",
        path(&pki.client.cert),
        "--key",
        path(&pki.client.key),
        "-u",
        "mallory",
        "-P",
        "secret",
        "-i",
        "cert-client",
    ]);
    let out = run(
        "mosquitto_pub",
        &[&args[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let line = broker.wait_for_log("as cert-client");
    assert!(line.contains("u'alice'"), "{line}");
    // use_subject_as_username: the whole subject, RFC 2253 order.
    let s = subject.to_string();
    let mut args = tls_args(&s, &pki.ca);
    args.extend([
        "--cert",
        path(&pki.client.cert),
        "--key",
        path(&pki.client.key),
        "-i",
        "subject-client",
    ]);
    let out = run(
        "mosquitto_pub",
        &[&args[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let line = broker.wait_for_log("as subject-client");
    assert!(line.contains("u'CN=alice,O=Test Org'"), "{line}");
    // tls_version tlsv1.2 is a minimum: TLS 1.3 clients are served.
    let mut args = tls_args(&id, &pki.ca);
    args.extend([
        "--cert",
        path(&pki.client.cert),
        "--key",
        path(&pki.client.key),
    ]);
    args.extend(["--tls-version", "tlsv1.3"]);
    pub_sub_round_trip(&args, "tls 1.3");
    assert!(broker.is_running());
}

#[test]
fn a_certificate_identity_is_the_whole_authentication() {
    // As Mosquitto: with use_identity_as_username the verified certificate replaces the
    // password check, even with a password file and allow_anonymous false.
    let pki = Pki::new("broker-pki");
    let port = free_port();
    let passwd = pki.dir().join("passwd");
    let status = Command::new(tool("mosquitto_passwd"))
        .args(["-c", "-b", path(&passwd), "bob", "bobs-password"])
        .status()
        .unwrap();
    assert!(status.success());
    let conf = format!(
        "listener {port} 127.0.0.1\n{}cafile {}\nrequire_certificate true\n\
         use_identity_as_username true\npassword_file {}\nallow_anonymous false\n",
        tls_lines(&pki.server),
        pki.ca.display(),
        passwd.display(),
    );
    let mut broker = Broker::start(pki.dir(), &conf, port);
    let p = port.to_string();
    let mut args = tls_args(&p, &pki.ca);
    args.extend([
        "--cert",
        path(&pki.client.cert),
        "--key",
        path(&pki.client.key),
        "-i",
        "cert-only",
    ]);
    let out = run(
        "mosquitto_pub",
        &[&args[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let line = broker.wait_for_log("as cert-only");
    assert!(line.contains("u'alice'"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_version_tlsv1_3_refuses_tls_1_2_clients() {
    // (mosquitto_pub's --tls-version is a minimum too, so our client limits itself to 1.2.)
    let pki = Pki::new("broker-pki");
    let port = free_port();
    let conf = format!(
        "listener {port} 127.0.0.1\n{}tls_version tlsv1.3\n",
        tls_lines(&pki.server)
    );
    let dir = pki.dir().to_owned();
    let _broker = tokio::task::spawn_blocking(move || Broker::start(&dir, &conf, port))
        .await
        .unwrap();
    let mut options = ClientOptions::tcp("localhost", port);
    options.tls = Some(
        TlsOptions::new()
            .with_ca_file(&pki.ca)
            .with_versions(&[mqtt_client::TlsVersion::Tls12]),
    );
    assert!(connect(options).await.is_err(), "TLS 1.2 accepted");
    let mut options = ClientOptions::tcp("localhost", port);
    options.tls = Some(
        TlsOptions::new()
            .with_ca_file(&pki.ca)
            .with_versions(&[mqtt_client::TlsVersion::Tls13]),
    );
    client_round_trip(options).await;
}

#[test]
fn unix_socket_listener_serves_mosquitto_clients() {
    let pki = Pki::new("broker-pki");
    let port = free_port();
    let socket = pki.dir().join("mqtt.sock");
    let conf = format!(
        "listener 0 {}\nlistener {port} 127.0.0.1\n",
        socket.display()
    );
    let _broker = Broker::start(pki.dir(), &conf, port);
    pub_sub_round_trip(&["--unix", path(&socket)], "over a unix socket");
}

// ---------------------------------------------------------------------------------------------
// WebSockets: our client and paho

async fn client_round_trip(options: ClientOptions) {
    let (client, mut messages, connack) = connect(options).await.unwrap();
    assert_eq!(connack.reason_code, ReasonCode::Success);
    client
        .subscribe_one(TopicFilter::new("ws/#").unwrap(), QoS::AtLeastOnce)
        .await
        .unwrap();
    // Larger than one read buffer and one TLS record.
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    client
        .publish(
            TopicName::new("ws/test").unwrap(),
            payload.clone(),
            QoS::AtLeastOnce,
            false,
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let message = tokio::time::timeout(WAIT, messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&message.payload[..], &payload[..]);
    client.disconnect().await.unwrap();
}

fn ws_options(port: u16, ws: WebSocketOptions, tls: Option<TlsOptions>) -> ClientOptions {
    let mut options = ClientOptions::tcp("localhost", port);
    options.websocket = Some(ws);
    options.tls = tls;
    options
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_client_over_ws_and_wss() {
    let pki = Pki::new("broker-pki");
    let (ws, wss, tls) = (free_port(), free_port(), free_port());
    let conf = format!(
        "listener {ws} 127.0.0.1\nprotocol websockets\n\
         listener {tls} 127.0.0.1\n{}\
         listener {wss} 127.0.0.1\nprotocol websockets\n{}",
        tls_lines(&pki.server),
        tls_lines(&pki.server),
    );
    let dir = pki.dir().to_owned();
    let _broker = tokio::task::spawn_blocking(move || Broker::start(&dir, &conf, wss))
        .await
        .unwrap();
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        client_round_trip(ws_options(ws, WebSocketOptions::new(), None).version(version)).await;
        let tls_options = TlsOptions::new().with_ca_file(&pki.ca);
        client_round_trip(
            ws_options(wss, WebSocketOptions::new(), Some(tls_options.clone())).version(version),
        )
        .await;
        let mut options = ClientOptions::tcp("localhost", tls);
        options.tls = Some(tls_options);
        client_round_trip(options.version(version)).await;
    }
    // The subprotocol MQTT 3.1 clients ask for.
    let mut old = WebSocketOptions::new();
    old.subprotocol = "mqttv3.1".to_owned();
    client_round_trip(ws_options(ws, old, None)).await;
    // An unknown subprotocol is refused.
    let mut other = WebSocketOptions::new();
    other.subprotocol = "chat".to_owned();
    assert!(connect(ws_options(ws, other, None)).await.is_err());
    // wss without trusting the CA is refused.
    let untrusting = TlsOptions::new().with_ca_file(&pki.other_ca);
    assert!(
        connect(ws_options(wss, WebSocketOptions::new(), Some(untrusting)))
            .await
            .is_err()
    );
}

#[test]
fn paho_python_over_websockets() {
    let probe = Command::new("python3")
        .args([
            "-c",
            "import paho.mqtt.client as m; assert m.CallbackAPIVersion",
        ])
        .output()
        .expect("python3 is required for the paho WebSocket test");
    assert!(
        probe.status.success(),
        "paho-mqtt 2.x is required: pip install paho-mqtt ({})",
        String::from_utf8_lossy(&probe.stderr)
    );
    let pki = Pki::new("broker-pki");
    let (ws, wss) = (free_port(), free_port());
    let conf = format!(
        "listener {ws} 127.0.0.1\nprotocol websockets\n\
         listener {wss} 127.0.0.1\nprotocol websockets\n{}",
        tls_lines(&pki.server),
    );
    let _broker = Broker::start(pki.dir(), &conf, wss);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho/websocket.py");
    for args in [
        vec![ws.to_string()],
        vec![wss.to_string(), path(&pki.ca).to_owned()],
    ] {
        let out = Command::new("python3")
            .arg(script)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "paho over websockets failed: {}",
            text(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("ok"),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn mqtt_js_over_websockets() {
    // mqtt.js (Node.js), installed by scripts/test-all.sh with `npm ci` in tests/mqttjs.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mqttjs");
    assert!(
        Path::new(dir).join("node_modules/mqtt").is_dir(),
        "mqtt.js is required: (cd {dir} && npm ci) (scripts/test-all.sh does it)"
    );
    let pki = Pki::new("broker-pki");
    let (ws, wss) = (free_port(), free_port());
    let conf = format!(
        "listener {ws} 127.0.0.1\nprotocol websockets\n\
         listener {wss} 127.0.0.1\nprotocol websockets\n{}",
        tls_lines(&pki.server),
    );
    let _broker = Broker::start(pki.dir(), &conf, wss);
    for version in ["4", "5"] {
        for args in [
            vec![format!("ws://127.0.0.1:{ws}/mqtt"), version.to_owned()],
            vec![
                format!("wss://localhost:{wss}/mqtt"),
                version.to_owned(),
                path(&pki.ca).to_owned(),
            ],
        ] {
            let out = Command::new("node")
                .arg("websocket.mjs")
                .args(&args)
                .current_dir(dir)
                .output()
                .expect("node (Node.js) is required: apt-get install -y nodejs npm");
            assert!(
                out.status.success(),
                "mqtt.js {args:?} failed: {}",
                text(&out)
            );
        }
    }
}

#[test]
fn missing_certificate_files_stop_the_broker_from_starting() {
    let dir = TempDir::new("broker-tls-missing");
    let port = free_port();
    let conf = dir.path().join("broker.conf");
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\ncertfile {d}/cert.pem\nkeyfile {d}/key.pem\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["-c", path(&conf)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("TLS listener on port {port}")),
        "{stderr}"
    );
    assert!(stderr.contains("cert.pem"), "{stderr}");
}

#[test]
fn sighup_reloads_the_certificate_files() {
    let pki = Pki::new("broker-pki");
    let port = free_port();
    // The listener's files are copies that the test replaces.
    let live = CertKey {
        cert: pki.dir().join("live.pem"),
        key: pki.dir().join("live.key"),
    };
    let (cert, key) = (&live.cert, &live.key);
    std::fs::copy(&pki.server.cert, cert).unwrap();
    std::fs::copy(&pki.server.key, key).unwrap();
    let conf = format!("listener {port} 127.0.0.1\n{}", tls_lines(&live));
    let mut broker = Broker::start(pki.dir(), &conf, port);
    let p = port.to_string();
    pub_sub_round_trip(&tls_args(&p, &pki.ca), "before");
    // Renewed by another CA.
    std::fs::copy(&pki.untrusted.cert, cert).unwrap();
    std::fs::copy(&pki.untrusted.key, key).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &broker.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    broker.wait_for_log("Config reloaded");
    pub_sub_round_trip(&tls_args(&p, &pki.other_ca), "after");
    broker.wait_for_log("Reloaded the TLS certificates of the listener");
    let out = run(
        "mosquitto_pub",
        &[&tls_args(&p, &pki.ca)[..], &["-t", "x", "-m", "y"]].concat(),
    );
    assert!(
        !out.status.success(),
        "old CA still accepted: {}",
        text(&out)
    );
}
