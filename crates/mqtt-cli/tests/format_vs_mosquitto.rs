//! `mqtt_cli::format` against the real `mosquitto_sub` 2.0.11.
//!
//! Each case starts `mosquitto_sub -C 1` on a private `mosquitto` broker, publishes one message
//! with `mosquitto_pub`, and compares what `mosquitto_sub` printed (stdout and stderr) with what
//! our renderer produces for the same message, byte for byte.
//!
//! Readiness is awaited, never slept on: the broker (`test_support::Mosquitto`) runs with
//! `log_type all` and the test reads its log for "Sending SUBACK to sub-N" (the subscription
//! exists, so a live publish will be delivered) or "Client pub-N disconnected." (a retained
//! publish is stored).
//!
//! Time: `mosquitto_sub` runs with `TZ=UTC` (or an explicit POSIX zone) and we render in the
//! matching fixed [`Zone`]. Every `-F` format is prefixed with `@s @N|`, which tells us the exact
//! clock reading `mosquitto_sub` used for its `@` escapes, so those compare exactly. `%I`, `%U`
//! and the `"tst"` of `%j`/`%J` read the clock again a few microseconds later; for those cases
//! only the digits that depend on the time may differ (see [`assert_same_modulo_clock`]).
//!
//! The test fails, loudly, when `mosquitto` or `mosquitto_sub` is missing (`test_support::tool`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::num::NonZeroU32;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mqtt_cli::format::{render_with, validate_format, OutputOptions, Received, Zone};
use mqtt_codec::{MqttString, PublishProperties, QoS, TopicName};
use test_support::{tool, Mosquitto, TempDir};

// ---------------------------------------------------------------------------------------------
// The broker
// ---------------------------------------------------------------------------------------------

/// A private `mosquitto` (from `test-support`, logging everything) and the next client number.
struct Broker {
    mosquitto: Mosquitto,
    next_id: usize,
}

impl Broker {
    fn start() -> Broker {
        // Fail loudly, before any case, when a tool is missing.
        tool("mosquitto_sub");
        tool("mosquitto_pub");
        Broker {
            mosquitto: Mosquitto::start(),
            next_id: 0,
        }
    }

    fn port(&self) -> u16 {
        self.mosquitto.port()
    }

    /// The broker's scratch directory, removed with it.
    fn dir(&self) -> &Path {
        self.mosquitto.dir()
    }

    /// Reads the broker's log until a line ends with `suffix`; on timeout or exit returns the
    /// lines seen, for the failure message.
    fn wait_for_log(&mut self, suffix: &str) -> Result<(), String> {
        self.mosquitto.wait_for_log(suffix)
    }

    fn next_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// The MQTT 5 properties a case publishes; each becomes `-D publish ...` and a field of
/// [`PublishProperties`]. The `-D` order is the order `mqtt-codec` encodes, which is also the
/// order our renderer lists them in `%j`.
#[derive(Clone, Default)]
struct Props {
    payload_format: Option<bool>,
    response_topic: Option<&'static str>,
    correlation: Option<&'static str>,
    content_type: Option<&'static str>,
    user: &'static [(&'static str, &'static str)],
    /// Message expiry interval; the broker forwards the *remaining* time, so N or N-1 arrives.
    expiry: Option<u32>,
}

impl Props {
    fn is_empty(&self) -> bool {
        self.payload_format.is_none()
            && self.response_topic.is_none()
            && self.correlation.is_none()
            && self.content_type.is_none()
            && self.user.is_empty()
            && self.expiry.is_none()
    }

    fn pub_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut add = |name: &str, values: &[&str]| {
            args.extend(["-D".into(), "publish".into(), name.into()]);
            args.extend(values.iter().map(|v| v.to_string()));
        };
        if let Some(utf8) = self.payload_format {
            add("payload-format-indicator", &[if utf8 { "1" } else { "0" }]);
        }
        if let Some(topic) = self.response_topic {
            add("response-topic", &[topic]);
        }
        if let Some(data) = self.correlation {
            add("correlation-data", &[data]);
        }
        if let Some(content_type) = self.content_type {
            add("content-type", &[content_type]);
        }
        for (key, value) in self.user {
            add("user-property", &[key, value]);
        }
        if let Some(expiry) = self.expiry {
            add("message-expiry-interval", &[&expiry.to_string()]);
        }
        args
    }

    /// The properties `mosquitto_sub` received, for each value the expiry may have arrived as.
    fn received(&self, sub_id: Option<u32>) -> Vec<PublishProperties> {
        let expiries: Vec<Option<u32>> = match self.expiry {
            Some(e) => vec![Some(e), Some(e.saturating_sub(1))],
            None => vec![None],
        };
        expiries
            .into_iter()
            .map(|expiry| PublishProperties {
                payload_format_indicator: self.payload_format,
                message_expiry_interval: expiry,
                response_topic: self.response_topic.map(|t| TopicName::new(t).unwrap()),
                correlation_data: self
                    .correlation
                    .map(|c| bytes::Bytes::copy_from_slice(c.as_bytes())),
                content_type: self.content_type.map(|c| MqttString::new(c).unwrap()),
                subscription_identifiers: sub_id.and_then(NonZeroU32::new).into_iter().collect(),
                user_properties: self
                    .user
                    .iter()
                    .map(|(k, v)| (MqttString::new(*k).unwrap(), MqttString::new(*v).unwrap()))
                    .collect(),
            })
            .collect()
    }
}

/// How the message reaches `mosquitto_sub`.
#[derive(Clone, Copy, PartialEq)]
enum Delivery {
    /// Published after the subscription exists: RETAIN arrives clear.
    Live,
    /// Published retained before subscribing: RETAIN arrives set.
    Retained,
}

/// One comparison.
#[derive(Clone)]
struct Case {
    name: &'static str,
    opts: OutputOptions,
    topic: Option<&'static str>,
    payload: Vec<u8>,
    pub_qos: u8,
    sub_qos: u8,
    delivery: Delivery,
    /// Subscribe with MQTT 5 (publishing with properties always uses MQTT 5).
    v5: bool,
    props: Props,
    sub_id: Option<u32>,
    /// `TZ` for mosquitto_sub and the zone we render in.
    tz: (&'static str, i32, &'static str),
}

impl Case {
    fn new(name: &'static str, format: Option<&str>) -> Case {
        Case {
            name,
            opts: OutputOptions {
                format: format.map(str::to_owned),
                ..OutputOptions::default()
            },
            topic: None,
            payload: b"hello".to_vec(),
            pub_qos: 0,
            sub_qos: 0,
            delivery: Delivery::Live,
            v5: false,
            props: Props::default(),
            sub_id: None,
            tz: ("UTC", 0, "UTC"),
        }
    }
    fn fmt(name: &'static str, format: &str) -> Case {
        Case::new(name, Some(format))
    }
    fn verbose(mut self) -> Case {
        self.opts.verbose = true;
        self
    }
    fn no_eol(mut self) -> Case {
        self.opts.no_eol = true;
        self
    }
    fn pretty(mut self) -> Case {
        self.opts.pretty = true;
        self
    }
    fn payload(mut self, payload: &[u8]) -> Case {
        self.payload = payload.to_vec();
        self
    }
    fn topic(mut self, topic: &'static str) -> Case {
        self.topic = Some(topic);
        self
    }
    fn qos(mut self, pub_qos: u8, sub_qos: u8) -> Case {
        self.pub_qos = pub_qos;
        self.sub_qos = sub_qos;
        self
    }
    fn retained(mut self) -> Case {
        self.delivery = Delivery::Retained;
        self
    }
    fn v5(mut self, props: Props) -> Case {
        self.v5 = true;
        self.props = props;
        self
    }
    fn sub_id(mut self, id: u32) -> Case {
        self.v5 = true;
        self.sub_id = Some(id);
        self
    }
    fn tz(mut self, tz: &'static str, offset: i32, name: &'static str) -> Case {
        self.tz = (tz, offset, name);
        self
    }
}

/// What one `mosquitto_sub` run printed.
struct Run {
    topic: String,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// The prefix that reveals the clock reading behind `@` escapes: "<unix seconds> <nanos>|".
const CLOCK_PREFIX: &str = "@s @N|";

fn run(broker: &mut Broker, case: &Case) -> Run {
    let id = broker.next_id();
    let topic = format!("fmt/{id}/{}", case.topic.unwrap_or("t"));
    let port = broker.port().to_string();

    let mut sub = Command::new(tool("mosquitto_sub"));
    sub.args([
        "-p",
        &port,
        "-i",
        &format!("sub-{id}"),
        "-t",
        &topic,
        "-C",
        "1",
        "-W",
        "15",
    ])
    .args(["-q", &case.sub_qos.to_string()])
    .env("TZ", case.tz.0)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if case.v5 {
        sub.args(["-V", "5"]);
    }
    if let Some(sub_id) = case.sub_id {
        sub.args([
            "-D",
            "subscribe",
            "subscription-identifier",
            &sub_id.to_string(),
        ]);
    }
    if case.opts.verbose {
        sub.arg("-v");
    }
    if case.opts.no_eol {
        sub.arg("-N");
    }
    if case.opts.pretty {
        sub.arg("--pretty");
    }
    if let Some(format) = &case.opts.format {
        sub.args(["-F", &format!("{CLOCK_PREFIX}{format}")]);
    }

    let mut publish = Command::new(tool("mosquitto_pub"));
    publish
        .args(["-p", &port, "-i", &format!("pub-{id}"), "-t", &topic])
        .args(["-q", &case.pub_qos.to_string()])
        .stdin(Stdio::null());
    if case.payload.is_empty() {
        publish.arg("-n");
    } else {
        let file = broker.dir().join(format!("payload-{id}.bin"));
        std::fs::File::create(&file)
            .and_then(|mut f| f.write_all(&case.payload))
            .unwrap();
        publish.arg("-f").arg(file);
    }
    if case.v5 || !case.props.is_empty() {
        publish.args(["-V", "5"]);
    }
    publish.args(case.props.pub_args());

    let output = match case.delivery {
        Delivery::Live => {
            let child = sub.spawn().expect("cannot start mosquitto_sub");
            if let Err(log) = broker.wait_for_log(&format!("Sending SUBACK to sub-{id}")) {
                let output = kill_and_collect(child);
                panic!(
                    "{}: mosquitto_sub never subscribed ({output:?}); {log}",
                    case.name
                );
            }
            run_publisher(&mut publish, case.name);
            child.wait_with_output().unwrap()
        }
        Delivery::Retained => {
            publish.arg("-r");
            run_publisher(&mut publish, case.name);
            if let Err(log) = broker.wait_for_log(&format!("Client pub-{id} disconnected.")) {
                panic!("{}: retained publish not stored; {log}", case.name);
            }
            sub.output().expect("cannot run mosquitto_sub")
        }
    };
    assert!(
        output.status.success(),
        "{}: mosquitto_sub failed with {:?}; stderr: {}",
        case.name,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Run {
        topic,
        stdout: output.stdout,
        stderr: output.stderr,
    }
}

fn run_publisher(publish: &mut Command, name: &str) {
    let output = publish.output().expect("cannot run mosquitto_pub");
    assert!(
        output.status.success(),
        "{name}: mosquitto_pub failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn kill_and_collect(mut child: Child) -> Output {
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// Splits the clock prefix off a formatted output and returns the instant it names.
fn split_clock(stdout: &[u8]) -> (SystemTime, &[u8]) {
    let bar = stdout
        .iter()
        .position(|&b| b == b'|')
        .expect("output lacks the clock prefix");
    let prefix = std::str::from_utf8(&stdout[..bar]).unwrap();
    let (secs, nanos) = prefix.split_once(' ').unwrap();
    let now = UNIX_EPOCH + Duration::new(secs.parse().unwrap(), nanos.parse().unwrap());
    (now, &stdout[bar + 1..])
}

/// Renders `case` for `run` with every candidate set of properties; returns the rendering that
/// matches (or the first one, for the failure message) and its stderr.
fn render_case(case: &Case, run: &Run, now: SystemTime) -> Vec<(Vec<u8>, Vec<u8>)> {
    let qos = QoS::try_from(case.pub_qos.min(case.sub_qos)).unwrap();
    let candidates = if case.v5 {
        case.props.received(case.sub_id)
    } else {
        // An MQTT 3.1.1 subscriber receives no properties at all.
        vec![PublishProperties::default()]
    };
    let zone = Zone::fixed(case.tz.1, case.tz.2);
    candidates
        .iter()
        .map(|properties| {
            let msg = Received {
                topic: &run.topic,
                payload: &case.payload,
                qos,
                retain: case.delivery == Delivery::Retained,
                // Each subscriber is a fresh client, so its first QoS>0 delivery is mid 1.
                mid: if qos == QoS::AtMostOnce { 0 } else { 1 },
                properties,
            };
            let (mut out, mut errors) = (Vec::new(), Vec::new());
            render_with(&mut out, &mut errors, &msg, &case.opts, now, &zone);
            (out, errors)
        })
        .collect()
}

/// Compares mosquitto_sub's output with ours, exactly.
fn check_exact(broker: &mut Broker, case: &Case) {
    let run = run(broker, case);
    let (now, actual) = match case.opts.format {
        Some(_) => split_clock(&run.stdout),
        None => (UNIX_EPOCH, &run.stdout[..]),
    };
    let renders = render_case(case, &run, now);
    let matched = renders
        .iter()
        .any(|(out, errors)| out == actual && *errors == run.stderr);
    assert!(
        matched,
        "{}: format {:?}\n mosquitto_sub: {:?}\n        stderr: {:?}\n          ours: {:?}\n        stderr: {:?}",
        case.name,
        case.opts.format,
        String::from_utf8_lossy(actual),
        String::from_utf8_lossy(&run.stderr),
        String::from_utf8_lossy(&renders[0].0),
        String::from_utf8_lossy(&renders[0].1),
    );
}

/// Compares output whose `%I`, `%U` or JSON `"tst"` read the clock after the `@` prefix did.
///
/// The positions that depend on the time are found by rendering at several instants around
/// `now` (a nanosecond, a second and a day apart): only there may the two outputs differ, and
/// only by one digit for another. Everything else, lengths included, must be identical.
fn check_modulo_clock(broker: &mut Broker, case: &Case) {
    let run = run(broker, case);
    let (now, actual) = split_clock(&run.stdout);
    let shifts = [
        Duration::new(0, 111_111_111),
        Duration::new(1, 111_111_111),
        Duration::new(90_061, 111_111_111),
        Duration::new(3_000_000, 1),
    ];
    let candidates = render_case(case, &run, now);
    let variants: Vec<Vec<Vec<u8>>> = shifts
        .iter()
        .map(|shift| {
            render_case(case, &run, now + *shift)
                .into_iter()
                .map(|(out, _)| out)
                .collect()
        })
        .collect();
    let mut failures = Vec::new();
    for (index, (expected, errors)) in candidates.iter().enumerate() {
        let varying: Vec<bool> = (0..expected.len())
            .map(|i| {
                variants
                    .iter()
                    .any(|v| v[index].len() == expected.len() && v[index][i] != expected[i])
            })
            .collect();
        match assert_same_modulo_clock(actual, expected, &varying) {
            Ok(()) if *errors == run.stderr => return,
            Ok(()) => failures.push(format!(
                "stderr differs: {:?} vs ours {:?}",
                String::from_utf8_lossy(&run.stderr),
                String::from_utf8_lossy(errors)
            )),
            Err(why) => failures.push(why),
        }
    }
    panic!(
        "{}: format {:?}\n{}",
        case.name,
        case.opts.format,
        failures.join("\n")
    );
}

/// See [`check_modulo_clock`].
fn assert_same_modulo_clock(
    actual: &[u8],
    expected: &[u8],
    varying: &[bool],
) -> Result<(), String> {
    let show = || {
        format!(
            "\n mosquitto_sub: {:?}\n          ours: {:?}",
            String::from_utf8_lossy(actual),
            String::from_utf8_lossy(expected)
        )
    };
    if actual.len() != expected.len() {
        return Err(format!("lengths differ{}", show()));
    }
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        if a != e && !(varying[i] && a.is_ascii_digit() && e.is_ascii_digit()) {
            return Err(format!("byte {i} differs{}", show()));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The tables
// ---------------------------------------------------------------------------------------------

const BINARY: &[u8] = b"a\x01b\"c\\d\x7f\xc3\xa9\xff\tz\nq\0tail";

fn all_props() -> Props {
    Props {
        payload_format: Some(true),
        response_topic: Some("reply/here"),
        correlation: Some("corr-42"),
        content_type: Some("text/plain"),
        user: &[("k1", "v1"), ("k2", "v2"), ("k1", "v3")],
        expiry: Some(1000),
    }
}

fn plain_cases() -> Vec<Case> {
    vec![
        Case::new("default", None),
        Case::new("verbose", None).verbose(),
        Case::new("no eol", None).no_eol(),
        Case::new("verbose no eol", None).verbose().no_eol(),
        Case::new("empty payload prints nothing", None).payload(b""),
        Case::new("empty payload verbose is (null)", None)
            .payload(b"")
            .verbose(),
        Case::new("empty payload verbose no eol", None)
            .payload(b"")
            .verbose()
            .no_eol(),
        Case::new("binary payload", None).payload(BINARY),
        Case::new("binary payload verbose", None)
            .payload(BINARY)
            .verbose(),
        Case::fmt("topic and payload", "%t %p"),
        Case::fmt("empty format", ""),
        Case::fmt("plain fields", "%%|%l|%m|%q|%r"),
        Case::fmt("hex", "%x|%X"),
        Case::fmt("binary fields", "%p|%x|%X|%l").payload(BINARY),
        Case::fmt("empty payload fields", "[%p][%x][%l][%5p][%-3x]").payload(b""),
        Case::fmt("topic widths", "[%-10t][%10t][%.3t][%10.3t][%-10.3t]"),
        Case::fmt(
            "int widths",
            "[%05l][%-5l][%5l][%-05l][%0l][%-9.3l][%.3l][%1l]",
        ),
        Case::fmt(
            "payload widths",
            "[%010p][%-10p][%3p][%-p][%-.3p][%.2p][%-2p][%0p][%1p]",
        ),
        Case::fmt(
            "hex widths",
            "[%5x][%6x][%3x][%-3X][%10X][%-9x][%-11x][%-x][%.2x][%1x]",
        ),
        Case::fmt(
            "odd fields",
            "[%5%][%-05t][%-.t][%.t][%0.2t][%08.3t][%2t][%0t][%-5.t]",
        ),
        Case::fmt(
            "widths wrap like a C int",
            "[%4294967301p][%4294967301l][%-4294967301t][%.4294967298t][%4294967295t][%4294967295l]",
        ),
        Case::fmt("escapes", "a\\tb\\nc\\\\d\\0e\\ef\\ag\\rh\\vi"),
        Case::fmt("literal at and percent", "@@ 100%% \\\\@@ me@@host"),
        Case::fmt("format with no eol", "%t:%p").no_eol(),
        Case::fmt("utf-8 widths count bytes", "[%7p][%-8t][%.2t]")
            .payload("héllo".as_bytes())
            .topic("tëst"),
        Case::fmt("long payload", "%l:%.5p:%8x").payload(&[b'z'; 3000]),
        Case::fmt("qos 1", "%q %m %r").qos(1, 1),
        Case::fmt("qos 2", "%q %m %r").qos(2, 2),
        Case::fmt("qos downgraded", "%q %m").qos(2, 1),
        Case::fmt("qos 0 subscriber", "%q %m").qos(1, 0),
        Case::fmt("retained", "%r %q %m %t").retained(),
        Case::fmt("retained qos 1", "%r|%q|%m|%05m|%-3m|")
            .qos(1, 1)
            .retained(),
        Case::new("retained default", None).retained(),
        Case::new("retained verbose qos 2", None)
            .retained()
            .verbose()
            .qos(2, 2),
    ]
}

fn property_cases() -> Vec<Case> {
    let one = |name, format: &str, props: Props| Case::fmt(name, format).v5(props);
    vec![
        one("all properties", "%C|%D|%E|%F|%P|%R|%A|%S", all_props()),
        one(
            "absent properties",
            "[%A][%5A][%05A][%C][%5C][%-5C][%D][%E][%05E][%F][%-5F][%05F][%P][%R][%5R][%S][%05S]",
            Props::default(),
        ),
        one(
            "property widths",
            "[%-12C][%12.4C][%.4C][%08E][%-8E][%4F][%-4F][%04F][%12R][%-12R][%.3R][%5D][%5P]",
            all_props(),
        ),
        one(
            "payload format 0",
            "%F|%3F|%C",
            Props {
                payload_format: Some(false),
                content_type: Some(""),
                ..Props::default()
            },
        ),
        one(
            "huge expiry prints as a negative int",
            "%E|%12E",
            Props {
                expiry: Some(4_294_967_295),
                ..Props::default()
            },
        ),
        one(
            "user properties only",
            "%P",
            Props {
                user: &[("a", "1"), ("b", ""), ("", "c"), ("a", "2")],
                ..Props::default()
            },
        ),
        one(
            "utf-8 properties",
            "%C|%R|%P",
            Props {
                content_type: Some("téxt/plain"),
                response_topic: Some("réponse/ici"),
                user: &[("clé", "välue")],
                ..Props::default()
            },
        ),
        Case::fmt("subscription identifier", "%S|%5S|%-5S|%05S|").sub_id(42),
        Case::fmt("subscription identifier max", "%S").sub_id(268_435_455),
        Case::fmt("properties with qos 1 retained", "%q %m %r %C %P")
            .v5(all_props())
            .qos(1, 1)
            .retained(),
        // An MQTT 3.1.1 subscriber gets no properties even if the publisher sent some.
        Case {
            v5: false,
            ..Case::fmt(
                "v3.1.1 subscriber sees no properties",
                "[%C][%5E][%P][%R][%05F]",
            )
            .v5(all_props())
        },
    ]
}

fn json_cases() -> Vec<Case> {
    vec![
        Case::fmt("json", "%j"),
        Case::fmt("json raw", "%J").payload(br#"{"a":1,"b":[true,null,"x"]}"#),
        Case::fmt("json escapes", "%j").payload(BINARY),
        Case::fmt("json control and quotes", "%j").payload(b"\x1f\x08\x0c\r\"\\/"),
        Case::fmt("json empty", "%j|%J").payload(b""),
        Case::fmt("json raw reprinted", "%J").payload(
            br#" {"b" : [1, 2.50, -0, 1e3, 1E+400, 0.1, 123456789012, 1.5e-7, 01, -.5, 1.], "a":"\u00e9\/\ud83d\ude00x\u0001", "a":true, "n":null, "f":false, "e":{}, "ea":[]}  "#,
        ),
        Case::fmt("json not json", "A%JB").payload(b"not json"),
        Case::fmt("json nul", "%J|%j").payload(b"1\x002"),
        Case::fmt("json pretty", "%j").pretty(),
        Case::fmt("json raw pretty", "%J")
            .pretty()
            .payload(br#"{"b":[1,{"x":[]},{}],"p":{"q":{"r":1}},"e":{}}"#),
        Case::fmt("json qos 1", "%j").qos(1, 1),
        Case::fmt("json qos 2 retained", "%J").qos(2, 2).retained().payload(b"[1,2]"),
        Case::fmt("json properties", "%j").v5(all_props()).sub_id(7),
        Case::fmt("json properties pretty", "%J")
            .v5(all_props())
            .sub_id(7)
            .pretty()
            .payload(b"{\"x\":{\"y\":[1,[2,{}]]}}"),
        Case::fmt("json some properties", "%j").v5(Props {
            // Mosquitto refuses control characters in MQTT strings, so no \t here.
            content_type: Some("a\"b"),
            user: &[("k\\", "\\v\"")],
            ..Props::default()
        }),
        Case::fmt("json twice with text", "<%j> <%J>").payload(b"\"s\""),
        Case::fmt("json utf-8 topic", "%j").topic("tôpic/ü"),
    ]
}

fn clock_cases() -> Vec<Case> {
    vec![
        Case::fmt("iso time", "%I"),
        Case::fmt("unix time", "%U"),
        Case::fmt("iso widths", "[%30I][%-30I][%.10I][%5I]"),
        Case::fmt("all clocks", "%I %U %j").no_eol(),
        Case::fmt("iso in a zone", "%I|@z|@Z").tz("IST-5:30", 19_800, "IST"),
        Case::fmt("json in a western zone", "%j").tz("EST5", -18_000, "EST"),
    ]
}

fn date_cases() -> Vec<Case> {
    let mut every = String::new();
    for c in ('a'..='z').chain('A'..='Z').chain("0+-_#^!.:* ".chars()) {
        every.push_str(&format!("{c}=@{c}|"));
    }
    every.push_str("percent=@%|");
    let every: &'static str = Box::leak(every.into_boxed_str());
    vec![
        Case::fmt("date basics", "@Y-@m-@d @H:@M:@S.@N @z @Z @s"),
        Case::fmt("every date escape", every),
        Case::fmt("date in a zone", "@c @z @Z @H").tz("<+0530>-5:30", 19_800, "+0530"),
        Case::fmt("date west of UTC", "@z @Z @k @c").tz("ABC+3", -10_800, "ABC"),
        Case::fmt("date with payload", "@H:@M:@S %t %p @@"),
        Case::fmt("multibyte after at", "@é|").payload(b"x"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

fn check_all(cases: Vec<Case>, check: fn(&mut Broker, &Case)) -> usize {
    let mut broker = Broker::start();
    let count = cases.len();
    for case in &cases {
        check(&mut broker, case);
    }
    count
}

#[test]
fn plain_output_and_fields_match_mosquitto_sub() {
    assert!(check_all(plain_cases(), check_exact) >= 30);
}

#[test]
fn property_fields_match_mosquitto_sub() {
    check_all(property_cases(), check_exact);
}

#[test]
fn date_escapes_match_mosquitto_sub() {
    check_all(date_cases(), check_exact);
}

#[test]
fn json_matches_mosquitto_sub() {
    check_all(json_cases(), check_modulo_clock);
}

#[test]
fn clock_fields_match_mosquitto_sub() {
    check_all(clock_cases(), check_modulo_clock);
}

/// cJSON's notion of valid JSON and its reprinting, one payload at a time.
#[test]
fn json_payloads_match_cjson() {
    let payloads: &[&[u8]] = &[
        b"null",
        b"true",
        b"false",
        b"nullx",
        b"  42  ",
        b"\t\r\n\x01[ ]\x1f",
        b"0",
        b"-0",
        b"-",
        b"+1",
        b".5",
        b"1.",
        b"01",
        b"-.5",
        b"1e",
        b"1e5",
        b"1E-5",
        b"1.5e+300",
        b"1e400",
        b"-1e400",
        b"1e-400",
        b"0.1",
        b"0.30000000000000004",
        b"3.141592653589793",
        b"1.7976931348623157e308",
        b"5e-324",
        b"123456789012345678901234567890",
        b"9007199254740993",
        b"2147483647",
        b"-2147483648",
        b"4294967296",
        b"1111111111111111111111111111111111111111111111111111111111111111",
        b"111111111111111111111111111111111111111111111111111111111111111",
        b"[0.0000000000000000000000000000000000000000000000000000000000000000000001e-5]",
        b"[1e99999999999999999999, 1e-99999999999999999999, -1e99999999999999999999]",
        b"0x10",
        b"[1,]",
        b"[,1]",
        b"[1 2]",
        b"{\"a\":1,}",
        b"{\"a\" 1}",
        b"{a:1}",
        b"{\"a\":1}{}",
        b"{\"dup\":1,\"dup\":2}",
        b"\"raw\tcontrol\x01chars\"",
        b"\"\\u0041\\u00e9\\u20ac\\ud83d\\ude00\"",
        b"\"\\ud800\"",
        b"\"\\udc00\"",
        b"\"\\ud800\\u0041\"",
        b"\"\\uZZZZ after\"",
        b"\"\\u0000 after\"",
        b"\"\\x\"",
        b"\"unterminated",
        b"\"\xff\xfe invalid utf-8\"",
        b"\xef\xbb\xbf{\"bom\":1}",
        b"[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]",
        b"{\"a\":{\"b\":{\"c\":[{},[],\"\",0]}}}",
        b"[\"/\\/\\\\\\\"\\b\\f\\n\\r\\t\"]",
        b"tru",
        b"[true,false,null]",
    ];
    let mut broker = Broker::start();
    for payload in payloads {
        for pretty in [false, true] {
            let mut case = Case::fmt("json payload", "%J").payload(payload).retained();
            case.opts.pretty = pretty;
            check_modulo_clock(&mut broker, &case);
        }
    }
}

/// `validate_format` accepts and rejects what `mosquitto_sub -F` does, with the same message.
#[test]
fn format_validation_matches_mosquitto_sub() {
    let broker = Broker::start();
    let formats = [
        "%",
        "%-",
        "%0",
        "%5",
        "%05",
        "%-5",
        "%.",
        "%.5",
        "%5.",
        "%-0-5t",
        "%0-5t",
        "%Z",
        "%s",
        "%é",
        "%-05t",
        "%10.10t",
        "%.t",
        "%%",
        "@",
        "a@",
        "@@",
        "@Z",
        "\\",
        "a\\",
        "\\q",
        "\\n\\t\\0\\a\\e\\r\\v\\\\",
        "%A%C%D%E%F%I%l%m%P%p%q%R%S%r%t%j%J%U%x%X",
        "plain",
    ];
    for format in formats {
        let output = Command::new(tool("mosquitto_sub"))
            .args([
                "-p",
                &broker.port().to_string(),
                "-t",
                "validate",
                "-E",
                "-F",
                format,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        match validate_format(format) {
            Ok(()) => assert!(
                output.status.success(),
                "{format:?}: we accept it, mosquitto_sub says {:?}",
                String::from_utf8_lossy(&output.stderr)
            ),
            Err(error) => {
                assert_eq!(output.status.code(), Some(1), "{format:?}: we reject it");
                let mut expected = b"Error: ".to_vec();
                expected.extend_from_slice(&error.message_bytes());
                expected.extend_from_slice(b"\n\nUse 'mosquitto_sub --help' to see usage.\n");
                assert_eq!(
                    String::from_utf8_lossy(&output.stderr),
                    String::from_utf8_lossy(&expected),
                    "{format:?}"
                );
            }
        }
    }
}

/// Sanity check of the helpers themselves: scratch directories are private and removed.
#[test]
fn scratch_dirs_are_distinct() {
    let (a, b) = (TempDir::new("format"), TempDir::new("format"));
    assert_ne!(a.path(), b.path());
    let paths = [a.path().to_owned(), b.path().to_owned()];
    for dir in &paths {
        assert!(dir.is_dir());
    }
    drop((a, b));
    for dir in &paths {
        assert!(!dir.exists());
    }
}

/// Set (to an output file) when this test binary is re-run as the child of
/// [`local_zone_matches_mosquitto_sub`].
const CHILD_OUTPUT: &str = "MQTT_CLI_FORMAT_CHILD_OUTPUT";

/// [`Zone::local`] reads the process's `TZ`, which a test cannot change safely while other tests
/// run; so this test re-runs its own binary with `TZ` set, filtered to [`local_zone_child`].
#[test]
fn local_zone_matches_mosquitto_sub() {
    let mut broker = Broker::start();
    let zones = [
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Asia/Kolkata",
        "IST-5:30",
        "ABC+3XYZ,M3.2.0,M11.1.0",
        "Foo/Bar",
        "",
    ];
    let format = "@z @Z @c|%I";
    for tz in zones {
        // The fixed zone of the case is unused: the child renders in Zone::local().
        let case = Case::fmt("local zone", format).tz(tz, 0, "");
        let run = run(&mut broker, &case);
        let (now, actual) = split_clock(&run.stdout);
        let since = now.duration_since(UNIX_EPOCH).unwrap();
        let out_file = broker.dir().join("child-output");
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "local_zone_child", "--test-threads", "1"])
            .env("TZ", tz)
            .env(CHILD_OUTPUT, &out_file)
            .env(
                "MQTT_CLI_FORMAT_CHILD_NOW",
                format!("{} {}", since.as_secs(), since.subsec_nanos()),
            )
            .env("MQTT_CLI_FORMAT_CHILD_FORMAT", format)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "TZ={tz:?}: the child test failed");
        let ours = std::fs::read(&out_file).unwrap();
        // %I reads the clock a little after @: only its last fields ("MM:SS+hhmm\n") may differ.
        let varying: Vec<bool> = (0..ours.len()).map(|i| i + 12 >= ours.len()).collect();
        if let Err(why) = assert_same_modulo_clock(actual, &ours, &varying) {
            panic!("TZ={tz:?}: {why}");
        }
    }
}

/// The child half of [`local_zone_matches_mosquitto_sub`]; does nothing in a normal run.
#[test]
fn local_zone_child() {
    let Some(out_file) = std::env::var_os(CHILD_OUTPUT) else {
        return;
    };
    let now = std::env::var("MQTT_CLI_FORMAT_CHILD_NOW").unwrap();
    let (secs, nanos) = now.split_once(' ').unwrap();
    let now = UNIX_EPOCH + Duration::new(secs.parse().unwrap(), nanos.parse().unwrap());
    let properties = PublishProperties::default();
    let msg = Received {
        topic: "t",
        payload: b"p",
        qos: QoS::AtMostOnce,
        retain: false,
        mid: 0,
        properties: &properties,
    };
    let opts = OutputOptions {
        format: Some(std::env::var("MQTT_CLI_FORMAT_CHILD_FORMAT").unwrap()),
        ..OutputOptions::default()
    };
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    render_with(&mut out, &mut errors, &msg, &opts, now, &Zone::local());
    std::fs::write(out_file, out).unwrap();
}
