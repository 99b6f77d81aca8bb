//! TLS and SOCKS5 options of `mqtt-sub`/`mqtt-pub` against those of `mosquitto_sub` and
//! `mosquitto_pub` 2.0.11: the same invocations, against a private Mosquitto with TLS listeners
//! (certificates from `test_support::pki`), must print the same and exit with the same codes.
//!
//! The Mosquitto programs must be installed (`apt-get install -y mosquitto mosquitto-clients`):
//! the tests fail loudly otherwise, never pass without their reference.
//!
//! One difference is by design: when the TLS handshake fails, libmosquitto reports it either
//! from `mosquitto_connect` ("Unable to connect (A TLS error occurred.).", exit code 1) or from
//! its network loop ("Error: A TLS error occurred.", exit code 8), depending on how quickly the
//! server's answer arrives, so the Mosquitto tools print one or the other at random against a
//! local broker. Ours always print the second, which is what a broker across a network gets;
//! the tests check that ours is one of Mosquitto's outcomes, and that Mosquitto does print it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use fast_socks5::server::Socks5ServerProtocol;
use fast_socks5::util::target_addr::TargetAddr;
use test_support::pki::CA_NAME;
use test_support::{free_port, tool, Mosquitto, TempDir};

/// Which implementation of the tools runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tools {
    Mosquitto,
    Ours,
}

impl Tools {
    fn sub(self) -> PathBuf {
        match self {
            Tools::Mosquitto => tool("mosquitto_sub"),
            Tools::Ours => PathBuf::from(env!("CARGO_BIN_EXE_mqtt-sub")),
        }
    }

    fn publisher(self) -> PathBuf {
        match self {
            Tools::Mosquitto => tool("mosquitto_pub"),
            Tools::Ours => PathBuf::from(env!("CARGO_BIN_EXE_mqtt-pub")),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tools::Mosquitto => "mosquitto",
            Tools::Ours => "ours",
        }
    }
}

/// The test certificates (`test_support::pki`) and a `--capath` directory holding the CA.
struct Pki {
    pki: test_support::pki::Pki,
    capath: PathBuf,
}

impl std::ops::Deref for Pki {
    type Target = test_support::pki::Pki;

    fn deref(&self) -> &test_support::pki::Pki {
        &self.pki
    }
}

/// The name OpenSSL looks a CA up by in a `--capath` directory (`openssl x509 -hash`): the
/// first four bytes, little-endian, of the SHA-1 of the subject's canonical encoding, which
/// for a subject of one ASCII common name is a SET of one SEQUENCE of the commonName OID and
/// the lowercased name as a UTF8String.
fn openssl_hash_name(common_name: &str) -> String {
    let value = common_name.to_ascii_lowercase();
    let der = |tag: u8, content: &[u8]| {
        let mut out = vec![tag, u8::try_from(content.len()).unwrap()];
        out.extend_from_slice(content);
        out
    };
    let mut attribute = vec![0x06, 0x03, 0x55, 0x04, 0x03];
    attribute.extend(der(0x0c, value.as_bytes()));
    let canonical = der(0x31, &der(0x30, &attribute));
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &canonical);
    let d = digest.as_ref();
    format!("{:08x}.0", u32::from_le_bytes([d[0], d[1], d[2], d[3]]))
}

impl Pki {
    fn new() -> Pki {
        let pki = test_support::pki::Pki::new("cli-pki");
        let capath = pki.dir().join("capath");
        std::fs::create_dir(&capath).unwrap();
        std::fs::write(capath.join(openssl_hash_name(CA_NAME)), &pki.ca_pem).unwrap();
        Pki { pki, capath }
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A private Mosquitto with three TLS listeners, and a HOME without options files.
struct Setup {
    pki: Pki,
    broker: Mosquitto,
    home: TempDir,
    /// The `localhost` certificate.
    tls: u16,
    /// A certificate for `elsewhere.invalid` only.
    elsewhere: u16,
    /// `require_certificate true`.
    client_auth: u16,
}

impl Setup {
    fn new() -> Setup {
        let pki = Pki::new();
        let [tls, elsewhere, client_auth] = [free_port(), free_port(), free_port()];
        let listener = |port: u16, cert: &Path, key: &Path, extra: &str| {
            format!(
                "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n{extra}\n",
                path(&pki.ca),
                path(cert),
                path(key)
            )
        };
        let config = [
            listener(tls, &pki.server.cert, &pki.server.key, ""),
            listener(elsewhere, &pki.elsewhere.cert, &pki.elsewhere.key, ""),
            listener(
                client_auth,
                &pki.server.cert,
                &pki.server.key,
                "require_certificate true",
            ),
        ]
        .concat();
        let mut broker = Mosquitto::with_config(move |_, _| config.clone());
        for port in [tls, elsewhere, client_auth] {
            broker.expect_log(&format!("Opening ipv4 listen socket on port {port}."));
        }
        let home = TempDir::new("cli-tls-home");
        std::fs::create_dir_all(home.path().join(".config")).unwrap();
        Setup {
            pki,
            broker,
            home,
            tls,
            elsewhere,
            client_auth,
        }
    }

    fn command(&self, program: PathBuf, args: &[String]) -> Command {
        let mut command = Command::new(program);
        command
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// `--cafile <ca> -h localhost -p <port>` and `extra`.
    fn args(&self, port: u16, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["-h", "localhost", "-p", &port.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }
}

/// What one subscribe-then-publish round printed.
#[derive(Debug, PartialEq, Eq)]
struct Round {
    sub_stdout: String,
    sub_stderr: String,
    sub_code: Option<i32>,
    pub_stdout: String,
    pub_stderr: String,
    pub_code: Option<i32>,
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Starts the subscriber with `args` (plus a client id, topic, `-C 1` and a time limit),
/// waits until the broker has sent its SUBACK, publishes with the same `args`, and collects
/// both.
fn round(setup: &mut Setup, tools: Tools, args: &[String], label: &str) -> Round {
    let sub_id = format!("{label}-{}-sub", tools.label());
    let pub_id = format!("{label}-{}-pub", tools.label());
    let mut sub_args = args.to_vec();
    sub_args
        .extend(["-i", &sub_id, "-t", "cli-tls/test", "-C", "1", "-W", "10"].map(str::to_owned));
    let sub = setup.command(tools.sub(), &sub_args).spawn().unwrap();
    if let Err(log) = setup
        .broker
        .wait_for_log(&format!("Sending SUBACK to {sub_id}"))
    {
        let output = kill(sub);
        panic!(
            "{label} ({}): the subscriber did not subscribe: {}\n{log}",
            tools.label(),
            text(&output.stderr)
        );
    }
    let mut pub_args = args.to_vec();
    pub_args.extend(
        [
            "-i",
            &pub_id,
            "-t",
            "cli-tls/test",
            "-m",
            "over TLS",
            "-q",
            "1",
        ]
        .map(str::to_owned),
    );
    let published = setup
        .command(tools.publisher(), &pub_args)
        .output()
        .unwrap();
    let sub = sub.wait_with_output().unwrap();
    Round {
        sub_stdout: text(&sub.stdout),
        sub_stderr: text(&sub.stderr),
        sub_code: sub.status.code(),
        pub_stdout: text(&published.stdout),
        pub_stderr: text(&published.stderr),
        pub_code: published.status.code(),
    }
}

fn kill(mut child: std::process::Child) -> Output {
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// The same round with both implementations: identical output, and the message arrived.
fn same_round(setup: &mut Setup, args: &[String], label: &str) {
    let theirs = round(setup, Tools::Mosquitto, args, label);
    let ours = round(setup, Tools::Ours, args, label);
    assert_eq!(
        theirs.sub_stdout, "over TLS\n",
        "{label}: Mosquitto's round trip failed: {theirs:?}"
    );
    assert_eq!(
        ours, theirs,
        "{label}: ours (left) differs from Mosquitto's"
    );
}

/// What a failing invocation printed: stdout, stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    stdout: String,
    stderr: String,
    code: Option<i32>,
}

/// Runs a tool that should fail at once; one still running after [`test_support::WAIT`] is
/// killed and reported with `code: None`.
fn failure(setup: &Setup, program: PathBuf, args: &[String]) -> Failure {
    let mut child = setup.command(program, args).spawn().unwrap();
    let deadline = std::time::Instant::now() + test_support::WAIT;
    let mut pause = std::time::Duration::from_millis(1);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
    let finished = child.try_wait().unwrap().is_some();
    let output = kill(child);
    Failure {
        stdout: text(&output.stdout),
        stderr: text(&output.stderr),
        code: if finished { output.status.code() } else { None },
    }
}

/// Publishes and subscribes with `args` (which must fail) with both implementations: the
/// same output and exit code.
fn same_failure(setup: &Setup, args: &[String], label: &str) -> Failure {
    let mut result = None;
    for (mosquitto, ours, extra) in [
        (
            tool("mosquitto_pub"),
            PathBuf::from(env!("CARGO_BIN_EXE_mqtt-pub")),
            ["-t", "t", "-m", "m"].as_slice(),
        ),
        (
            tool("mosquitto_sub"),
            PathBuf::from(env!("CARGO_BIN_EXE_mqtt-sub")),
            ["-t", "t"].as_slice(),
        ),
    ] {
        let mut args = args.to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        let theirs = failure(setup, mosquitto, &args);
        let ours = failure(setup, ours, &args);
        assert_eq!(
            ours, theirs,
            "{label}: ours (left) differs from Mosquitto's"
        );
        assert_ne!(theirs.code, Some(0), "{label}: Mosquitto did not fail");
        result = Some(theirs);
    }
    result.unwrap()
}

/// Mosquitto's two ways of reporting a failed handshake (see the crate documentation).
const HANDSHAKE_IN_LOOP: (&str, i32) = ("Error: A TLS error occurred.\n", 8);
const HANDSHAKE_IN_CONNECT: (&str, i32) = ("Unable to connect (A TLS error occurred.).\n", 1);

/// A TLS handshake that fails, with both tools of both implementations: ours always report it
/// from the loop; Mosquitto's report it either way, and from the loop at least once in a few
/// tries.
fn handshake_failure(setup: &Setup, args: &[String], label: &str) {
    racy_failure(
        setup,
        args,
        label,
        HANDSHAKE_IN_LOOP,
        &[HANDSHAKE_IN_LOOP, HANDSHAKE_IN_CONNECT],
    );
}

/// A failure that Mosquitto's tools report in one of several ways (`allowed`, as stderr and
/// exit code) depending on timing: ours must print `expected`, and each Mosquitto tool must
/// print only allowed outcomes, `expected` at least once in a few tries.
fn racy_failure(
    setup: &Setup,
    args: &[String],
    label: &str,
    expected: (&str, i32),
    allowed: &[(&str, i32)],
) {
    const TRIES: usize = 40;
    let expected = Failure {
        stdout: String::new(),
        stderr: expected.0.to_owned(),
        code: Some(expected.1),
    };
    for (mosquitto, ours, extra) in [
        (
            tool("mosquitto_pub"),
            PathBuf::from(env!("CARGO_BIN_EXE_mqtt-pub")),
            ["-t", "t", "-m", "m"].as_slice(),
        ),
        (
            tool("mosquitto_sub"),
            PathBuf::from(env!("CARGO_BIN_EXE_mqtt-sub")),
            ["-t", "t"].as_slice(),
        ),
    ] {
        let mut args = args.to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        let ours = failure(setup, ours, &args);
        assert_eq!(ours, expected, "{label}: ours");
        let mut seen = Vec::new();
        for _ in 0..TRIES {
            let theirs = failure(setup, mosquitto.clone(), &args);
            let outcome = (theirs.stderr.as_str(), theirs.code.unwrap_or(-1));
            assert!(
                theirs.stdout.is_empty() && allowed.contains(&outcome),
                "{label}: Mosquitto printed {theirs:?}"
            );
            if theirs == expected {
                break;
            }
            seen.push(theirs);
        }
        assert!(
            seen.len() < TRIES,
            "{label}: Mosquitto never printed what ours print: {seen:?}"
        );
    }
}

#[test]
fn cafile_and_capath() {
    let mut setup = Setup::new();
    let ca = path(&setup.pki.ca);
    let capath = path(&setup.pki.capath);
    let args = setup.args(setup.tls, &["--cafile", &ca]);
    same_round(&mut setup, &args, "cafile");
    let args = setup.args(setup.tls, &["--capath", &capath]);
    same_round(&mut setup, &args, "capath");
    let args = setup.args(
        setup.tls,
        &["--cafile", &ca, "-V", "mqttv5", "--tls-version", "tlsv1.3"],
    );
    same_round(&mut setup, &args, "cafile-v5-tls13");
    let args = setup.args(
        setup.tls,
        &[
            "--cafile",
            &ca,
            "--tls-version",
            "tlsv1.2",
            "--tls-alpn",
            "mqtt",
        ],
    );
    same_round(&mut setup, &args, "tls12-alpn");
    // With -h 127.0.0.1 the certificate's IP address must match.
    let mut args = setup.args(setup.tls, &["--cafile", &ca]);
    args[1] = "127.0.0.1".to_owned();
    same_round(&mut setup, &args, "cafile-ip");
}

#[test]
fn client_certificate() {
    let mut setup = Setup::new();
    let ca = path(&setup.pki.ca);
    let cert = path(&setup.pki.client.cert);
    let key = path(&setup.pki.client.key);
    let args = setup.args(
        setup.client_auth,
        &["--cafile", &ca, "--cert", &cert, "--key", &key],
    );
    same_round(&mut setup, &args, "client-cert");
    // Without a certificate, TLS 1.3 lets the client finish its handshake; the server's alert
    // then ends the connection, which Mosquitto's tools report as a lost connection or (less
    // often, mosquitto_pub only) as a protocol error.
    let args = setup.args(setup.client_auth, &["--cafile", &ca]);
    racy_failure(
        &setup,
        &args,
        "no client certificate",
        ("Error: The connection was lost.\n", 7),
        &[
            ("Error: The connection was lost.\n", 7),
            ("Error: Protocol error\n", 1),
        ],
    );
}

#[test]
fn insecure_skips_only_the_name_check() {
    let mut setup = Setup::new();
    let ca = path(&setup.pki.ca);
    let other = path(&setup.pki.other_ca);
    let args = setup.args(setup.elsewhere, &["--cafile", &ca, "--insecure"]);
    same_round(&mut setup, &args, "insecure");
    let args = setup.args(setup.elsewhere, &["--cafile", &ca]);
    handshake_failure(&setup, &args, "name mismatch");
    let args = setup.args(setup.elsewhere, &["--cafile", &other, "--insecure"]);
    handshake_failure(&setup, &args, "insecure with the wrong CA");
}

#[test]
fn a_wrong_ca_fails_the_handshake() {
    let setup = Setup::new();
    let other = path(&setup.pki.other_ca);
    let args = setup.args(setup.tls, &["--cafile", &other]);
    handshake_failure(&setup, &args, "wrong CA");
    let empty = setup.pki.dir().join("empty-capath");
    std::fs::create_dir(&empty).unwrap();
    let args = setup.args(setup.tls, &["--capath", &path(&empty)]);
    handshake_failure(&setup, &args, "empty capath");
}

#[test]
fn unusable_files_fail_before_connecting() {
    let setup = Setup::new();
    let ca = path(&setup.pki.ca);
    let missing = path(&setup.pki.dir().join("missing.pem"));
    let cert = path(&setup.pki.client.cert);
    let key = path(&setup.pki.client.key);
    let not_found = Failure {
        stdout: String::new(),
        stderr: "Error: Problem setting TLS options: File not found.\n".to_owned(),
        code: Some(1),
    };
    for (label, extra) in [
        ("missing cafile", vec!["--cafile", &missing]),
        (
            "missing cert",
            vec!["--cafile", &ca, "--cert", &missing, "--key", &key],
        ),
        (
            "missing key",
            vec!["--cafile", &ca, "--cert", &cert, "--key", &missing],
        ),
    ] {
        let args = setup.args(setup.client_auth, &extra);
        assert_eq!(same_failure(&setup, &args, label), not_found, "{label}");
    }
    let unable = Failure {
        stdout: String::new(),
        stderr: HANDSHAKE_IN_CONNECT.0.to_owned(),
        code: Some(HANDSHAKE_IN_CONNECT.1),
    };
    let server_key = path(&setup.pki.server.key);
    for (label, extra) in [
        ("a key as cafile", vec!["--cafile", &key]),
        (
            "mismatched key",
            vec!["--cafile", &ca, "--cert", &cert, "--key", &server_key],
        ),
    ] {
        let args = setup.args(setup.client_auth, &extra);
        assert_eq!(same_failure(&setup, &args, label), unable, "{label}");
    }
}

/// What the proxy saw: credentials and target of each connection.
type ProxyLog = Arc<Mutex<Vec<(Option<(String, String)>, String)>>>;

/// An in-test SOCKS5 proxy (fast-socks5's server protocol) on its own runtime; with
/// `credentials` it requires exactly those.
fn socks5_proxy(
    credentials: Option<(&'static str, &'static str)>,
) -> (tokio::runtime::Runtime, SocketAddr, ProxyLog) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let log: ProxyLog = Arc::default();
    let seen = Arc::clone(&log);
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
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
                let Ok((proto, _, target)) = proto.read_command().await else {
                    return;
                };
                let (target_text, upstream) = match &target {
                    TargetAddr::Ip(addr) => (
                        format!("ip {addr}"),
                        tokio::net::TcpStream::connect(addr).await,
                    ),
                    TargetAddr::Domain(host, port) => (
                        format!("domain {host}:{port}"),
                        tokio::net::TcpStream::connect((host.as_str(), *port)).await,
                    ),
                };
                seen.lock().unwrap().push((offered, target_text));
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
    (runtime, addr, log)
}

#[test]
fn proxy_with_and_without_tls() {
    let mut setup = Setup::new();
    let ca = path(&setup.pki.ca);
    let (_runtime, proxy, log) = socks5_proxy(Some(("proxy-user", "proxy-pass")));
    let url = format!("socks5h://proxy-user:proxy-pass@127.0.0.1:{}", proxy.port());
    let args = setup.args(setup.tls, &["--cafile", &ca, "--proxy", &url]);
    same_round(&mut setup, &args, "proxy-tls");
    let plain = setup.broker.port();
    let args = setup.args(plain, &["--proxy", &url]);
    same_round(&mut setup, &args, "proxy-plain");
    // Every connection (two tools, two implementations, two rounds) asked the proxy for
    // `localhost` by name, with the credentials.
    let credentials = Some(("proxy-user".to_owned(), "proxy-pass".to_owned()));
    let tls_target = format!("domain localhost:{}", setup.tls);
    let plain_target = format!("domain localhost:{plain}");
    let expected: Vec<_> = [&tls_target; 4]
        .into_iter()
        .chain([&plain_target; 4])
        .map(|t| (credentials.clone(), t.clone()))
        .collect();
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn proxy_failures() {
    let setup = Setup::new();
    let (_runtime, proxy, _log) = socks5_proxy(Some(("proxy-user", "proxy-pass")));
    let port = proxy.port();
    let plain = setup.broker.port();
    let outcome = |stderr: &str, code| Failure {
        stdout: String::new(),
        stderr: stderr.to_owned(),
        code: Some(code),
    };
    for (label, url, expected) in [
        (
            "wrong password",
            format!("socks5h://proxy-user:wrong@127.0.0.1:{port}"),
            outcome("Error: Invalid function arguments provided.\n", 3),
        ),
        (
            "no credentials",
            format!("socks5h://127.0.0.1:{port}"),
            outcome("Error: Authorisation failed.\n", 11),
        ),
        (
            "no proxy there",
            format!("socks5h://127.0.0.1:{}", free_port()),
            outcome("Error: Connection refused\n", 1),
        ),
    ] {
        let args = setup.args(plain, &["--proxy", &url]);
        assert_eq!(same_failure(&setup, &args, label), expected, "{label}");
    }
    // The proxy cannot reach the server: mosquitto_pub gives up, mosquitto_sub retries
    // silently for ever; both of ours answer as mosquitto_pub.
    let url = format!("socks5h://proxy-user:proxy-pass@127.0.0.1:{port}");
    let mut args = setup.args(free_port(), &["--proxy", &url, "-t", "t"]);
    let expected = outcome("Error: The client is not currently connected.\n", 4);
    let sub = failure(&setup, Tools::Ours.sub(), &args);
    assert_eq!(sub, expected, "unreachable server: mqtt-sub");
    args.extend(["-m", "m"].map(str::to_owned));
    let theirs = failure(&setup, Tools::Mosquitto.publisher(), &args);
    let ours = failure(&setup, Tools::Ours.publisher(), &args);
    assert_eq!(theirs, expected, "unreachable server: mosquitto_pub");
    assert_eq!(ours, expected, "unreachable server: mqtt-pub");
}
