//! Valid invocations of the three parsers, option family by option family, and the behaviours
//! that cannot be compared with Mosquitto's own binaries (those are in
//! `tests/args_vs_mosquitto.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::num::{NonZeroU16, NonZeroU32};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use mqtt_codec::{MqttString, ProtocolVersion, QoS, RetainHandling, TopicName};

use super::*;

fn pub_ok(args: &[&str]) -> PubOptions {
    let argv = std::iter::once("mqtt-pub").chain(args.iter().copied());
    parse_pub_with_options_file(argv, None).unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
}

fn sub_ok(args: &[&str]) -> SubOptions {
    let argv = std::iter::once("mqtt-sub").chain(args.iter().copied());
    parse_sub_with_options_file(argv, None).unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
}

fn rr_ok(args: &[&str]) -> RrOptions {
    let argv = std::iter::once("mqtt-rr").chain(args.iter().copied());
    parse_rr_with_options_file(argv, None).unwrap_or_else(|e| panic!("{args:?}: {e:?}"))
}

fn pub_err(args: &[&str]) -> Exit {
    let argv = std::iter::once("mqtt-pub").chain(args.iter().copied());
    parse_pub_with_options_file(argv, None).expect_err("should fail")
}

fn sub_err(args: &[&str]) -> Exit {
    let argv = std::iter::once("mqtt-sub").chain(args.iter().copied());
    parse_sub_with_options_file(argv, None).expect_err("should fail")
}

fn s(v: &str) -> MqttString {
    MqttString::new(v).unwrap()
}

fn up(k: &str, v: &str) -> (MqttString, MqttString) {
    (s(k), s(v))
}

#[test]
fn pub_defaults() {
    let o = pub_ok(&["-t", "a/b", "-m", "hello"]);
    assert_eq!(o.topic, TopicName::new("a/b").unwrap());
    assert_eq!(o.message, MessageSource::Message(b"hello".to_vec()));
    assert_eq!(o.qos, QoS::AtMostOnce);
    assert!(!o.retain);
    assert_eq!(o.repeat, 1);
    assert_eq!(o.repeat_delay, Duration::ZERO);
    assert!(o.properties.is_empty());
    assert_eq!(o.topic_alias, None);
    let c = &o.connect;
    assert_eq!(c.host, "localhost");
    assert_eq!(c.port, 1883);
    assert_eq!(c.unix, None);
    assert_eq!(c.version, ProtocolVersion::V3_1_1);
    assert_eq!(c.client_id, None);
    assert_eq!(c.keep_alive, 60);
    assert!(c.clean_session);
    assert_eq!(c.session_expiry, None);
    assert_eq!((c.username.as_deref(), c.password.as_deref()), (None, None));
    assert_eq!(c.will, None);
    assert_eq!(c.max_inflight, None);
    assert_eq!(c.tls, None);
    assert_eq!(c.proxy, None);
    assert!(!c.debug && !c.quiet && !c.nodelay && !c.use_srv);
    assert_eq!(c.bind_address, None);
    assert!(c.connect_properties.is_empty() && c.disconnect_properties.is_empty());
}

#[test]
fn sub_defaults() {
    let o = sub_ok(&["-t", "a/#"]);
    assert_eq!(o.topics.len(), 1);
    assert_eq!(o.topics[0].as_str(), "a/#");
    assert!(o.filter_out.is_empty() && o.unsubscribe.is_empty());
    assert_eq!(o.qos, QoS::AtMostOnce);
    assert_eq!((o.count, o.timeout), (None, None));
    assert!(!o.no_retained && !o.retained_only && !o.remove_retained && !o.exit_after_sub);
    assert!(!o.no_local && !o.retain_as_published);
    assert_eq!(o.retain_handling, None);
    assert_eq!(o.random_filter, None);
    assert!(!o.verbose && !o.no_eol && !o.pretty);
    assert_eq!(o.format, None);
    assert_eq!(o.connect.version, ProtocolVersion::V3_1_1);
    assert_eq!(o.subscription_options().to_byte(), 0);
}

#[test]
fn rr_defaults_to_mqtt5_and_sets_the_response_topic() {
    let o = rr_ok(&["-t", "req", "-e", "resp", "-m", "ping"]);
    assert_eq!(o.connect.version, ProtocolVersion::V5);
    assert_eq!(o.topic.as_str(), "req");
    assert_eq!(o.response_topic.as_str(), "resp");
    assert_eq!(
        o.properties.response_topic.as_ref().unwrap().as_str(),
        "resp"
    );
    assert_eq!(o.message, MessageSource::Message(b"ping".to_vec()));
    assert_eq!(o.timeout, None);
    assert_eq!(o.output, OutputOptions::default());
    let o = rr_ok(&[
        "-t",
        "r",
        "-e",
        "s",
        "-n",
        "-W",
        "5",
        "-R",
        "-v",
        "-N",
        "-F",
        "%p",
        "--pretty",
        "-q",
        "1",
        "--retain-as-published",
        "-V",
        "311",
    ]);
    assert_eq!(o.message, MessageSource::Null);
    assert_eq!(o.timeout, Some(5));
    assert!(o.no_retained && o.retain_as_published);
    assert_eq!(o.retain_handling, Some(RetainHandling::DoNotSend));
    assert_eq!(o.qos, QoS::AtLeastOnce);
    assert_eq!(o.connect.version, ProtocolVersion::V3_1_1);
    assert_eq!(
        o.output,
        OutputOptions {
            verbose: true,
            no_eol: true,
            format: Some("%p".into()),
            pretty: true
        }
    );
    // mosquitto_rr 2.0.11 subscribes with the QoS alone: -R and --retain-as-published are
    // parsed, then ignored.
    assert_eq!(o.subscription_options().to_byte(), 0b0000_0001);
    assert_eq!(
        rr_ok(&["-t", "r", "-e", "s", "-s"]).message,
        MessageSource::Stdin
    );
    assert_eq!(
        rr_ok(&["-t", "r", "-e", "s", "-f", "/etc/hostname"]).message,
        MessageSource::File("/etc/hostname".into())
    );
}

#[test]
fn message_sources() {
    assert_eq!(pub_ok(&["-t", "a", "-n"]).message, MessageSource::Null);
    assert_eq!(pub_ok(&["-t", "a", "-s"]).message, MessageSource::Stdin);
    assert_eq!(pub_ok(&["-t", "a", "-l"]).message, MessageSource::Lines);
    assert_eq!(
        pub_ok(&["-t", "a", "--stdin-line"]).message,
        MessageSource::Lines
    );
    assert_eq!(
        pub_ok(&["-t", "a", "--stdin-file"]).message,
        MessageSource::Stdin
    );
    assert_eq!(
        pub_ok(&["-t", "a", "--null-message"]).message,
        MessageSource::Null
    );
    assert_eq!(
        pub_ok(&["-t", "a", "--message", "m"]).message,
        MessageSource::Message(b"m".to_vec())
    );
    // The file must exist: mosquitto_pub loads it before anything else.
    let file = std::env::temp_dir().join(format!("mqtt-cli-args-{}-payload", std::process::id()));
    std::fs::write(&file, b"payload").unwrap();
    let name = file.to_str().unwrap();
    assert_eq!(
        pub_ok(&["-t", "a", "-f", name]).message,
        MessageSource::File(file.clone())
    );
    assert_eq!(
        pub_ok(&["-t", "a", "--file", name]).message,
        MessageSource::File(file.clone())
    );
    std::fs::remove_file(&file).unwrap();
    let e = pub_err(&["-t", "a", "-f", name]);
    assert_eq!(
        e.stderr,
        format!("Error: Unable to open file \"{name}\".\nError loading input file \"{name}\".\n")
    );
    assert_eq!(e.code, 1);
}

#[cfg(unix)]
#[test]
fn payloads_keep_their_bytes() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    let argv = vec![
        OsString::from("mqtt-pub"),
        OsString::from("-t"),
        OsString::from("a"),
        OsString::from("-m"),
        OsString::from_vec(vec![0xff, 0x00, 0x41]),
    ];
    let o = parse_pub_with_options_file(argv, None).unwrap();
    assert_eq!(o.message, MessageSource::Message(vec![0xff, 0x00, 0x41]));
}

#[test]
fn values_may_start_with_a_dash() {
    let o = pub_ok(&["-t", "-a", "-m", "-x"]);
    assert_eq!(o.topic.as_str(), "-a");
    assert_eq!(o.message, MessageSource::Message(b"-x".to_vec()));
    let o = sub_ok(&["-t", "-", "-F", "-%t-"]);
    assert_eq!(o.format.as_deref(), Some("-%t-"));
}

#[test]
fn later_options_override_earlier_ones() {
    let o = pub_ok(&[
        "-t", "a", "-t", "b", "-m", "x", "-p", "1", "-p", "2", "-q", "2", "-q", "1", "-h", "x",
        "-h", "y",
    ]);
    assert_eq!(o.topic.as_str(), "b");
    assert_eq!(o.connect.port, 2);
    assert_eq!(o.qos, QoS::AtLeastOnce);
    assert_eq!(o.connect.host, "y");
    // -L sets host and port where it stands: before -p, after -p.
    assert_eq!(
        pub_ok(&["-m", "x", "-L", "mqtt://h:1000/t", "-p", "7"])
            .connect
            .port,
        7
    );
    assert_eq!(
        pub_ok(&["-m", "x", "-p", "7", "-L", "mqtt://h/t"])
            .connect
            .port,
        1883
    );
    // mosquitto_sub accumulates topics.
    let o = sub_ok(&[
        "-t",
        "a",
        "-t",
        "b",
        "-L",
        "mqtt://h/c",
        "-T",
        "x",
        "-T",
        "y",
        "-U",
        "a",
        "-U",
        "b",
    ]);
    let names: Vec<&str> = o.topics.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(o.filter_out.len(), 2);
    assert_eq!(o.unsubscribe.len(), 2);
}

#[test]
fn numbers_are_read_leniently_like_atoi() {
    assert_eq!(pub_ok(&["-t", "a", "-n", "-q", "x"]).qos, QoS::AtMostOnce);
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "-q", "2abc"]).qos,
        QoS::ExactlyOnce
    );
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "-p", "1884xyz"]).connect.port,
        1884
    );
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "-k", " 30"]).connect.keep_alive,
        30
    );
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "--will-topic", "w", "--will-qos", "q"])
            .connect
            .will
            .unwrap()
            .qos,
        QoS::AtMostOnce
    );
}

#[test]
fn long_forms_of_options() {
    let o = pub_ok(&[
        "--host",
        "broker",
        "--port",
        "1999",
        "--id",
        "me",
        "--keepalive",
        "30",
        "--disable-clean-session",
        "--debug",
        "--topic",
        "t",
        "--message",
        "m",
        "--qos",
        "1",
        "--retain",
        "--username",
        "u",
        "--pw",
        "p",
        "--protocol-version",
        "mqttv5",
        "--property",
        "publish",
        "content-type",
        "text/plain",
    ]);
    let c = &o.connect;
    assert_eq!((c.host.as_str(), c.port), ("broker", 1999));
    assert_eq!(c.client_id.as_deref(), Some("me"));
    assert_eq!(c.keep_alive, 30);
    assert!(!c.clean_session && c.debug);
    assert_eq!(
        (c.username.as_deref(), c.password.as_deref()),
        (Some("u"), Some("p"))
    );
    assert_eq!(c.version, ProtocolVersion::V5);
    assert_eq!(o.qos, QoS::AtLeastOnce);
    assert!(o.retain);
    assert_eq!(o.properties.content_type, Some(s("text/plain")));
    assert_eq!(pub_ok(&["--url", "mqtt://h/t", "-n"]).topic.as_str(), "t");
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "--id-prefix", "p-"])
            .connect
            .client_id,
        Some(format!("p-{}", std::process::id()))
    );
    let o = sub_ok(&[
        "--topic",
        "a",
        "--filter-out",
        "b",
        "--unsubscribe",
        "c",
        "--verbose",
    ]);
    assert_eq!(
        (o.topics.len(), o.filter_out.len(), o.unsubscribe.len()),
        (1, 1, 1)
    );
    assert!(o.verbose);
}

#[test]
fn connection_options() {
    let o = pub_ok(&[
        "-t",
        "a",
        "-n",
        "-A",
        "10.0.0.1",
        "--nodelay",
        "-S",
        "-M",
        "5",
        "--quiet",
        "-d",
        "-i",
        "cid",
        "-k",
        "5",
    ]);
    let c = &o.connect;
    assert_eq!(c.bind_address.as_deref(), Some("10.0.0.1"));
    assert!(c.nodelay && c.use_srv && c.quiet && c.debug);
    assert_eq!(c.max_inflight, Some(5));
    assert_eq!(c.client_id.as_deref(), Some("cid"));
    assert_eq!(c.keep_alive, 5);
    // libmosquitto ignores an in-flight maximum it cannot store.
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "-M", "70000"])
            .connect
            .max_inflight,
        None
    );
    let o = pub_ok(&["-t", "a", "-n", "--repeat", "3", "--repeat-delay", "0.25"]);
    assert_eq!((o.repeat, o.repeat_delay), (3, Duration::from_millis(250)));
}

#[test]
fn unix_sockets() {
    let o = pub_ok(&["-t", "a", "-n", "--unix", "/run/mqtt.sock"]);
    assert_eq!(o.connect.unix, Some(PathBuf::from("/run/mqtt.sock")));
    assert_eq!(
        (o.connect.port, o.connect.host.as_str()),
        (0, "/run/mqtt.sock")
    );
    // Port 0 is libmosquitto's spelling of "the host is a socket path".
    let o = pub_ok(&["-t", "a", "-n", "-h", "/tmp/s", "-p", "0"]);
    assert_eq!(o.connect.unix, Some(PathBuf::from("/tmp/s")));
    // A later -p turns it back into TCP.
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "--unix", "/s", "-p", "1883"])
            .connect
            .unix,
        None
    );
}

#[test]
fn url_option() {
    let o = pub_ok(&[
        "-m",
        "x",
        "-L",
        "mqtt://alice:s3cret@broker.example:1884/sensors/kitchen",
    ]);
    let c = &o.connect;
    assert_eq!((c.host.as_str(), c.port), ("broker.example", 1884));
    assert_eq!(
        (c.username.as_deref(), c.password.as_deref()),
        (Some("alice"), Some("s3cret"))
    );
    assert_eq!(o.topic.as_str(), "sensors/kitchen");
    assert_eq!(c.tls, None);
    let o = sub_ok(&["-L", "mqtts://broker/a/#"]);
    assert_eq!(o.connect.port, 8883);
    let tls = o.connect.tls.unwrap();
    assert!(tls.use_os_certs);
    assert_eq!(o.topics[0].as_str(), "a/#");
    // An -L without credentials keeps the ones given before it.
    let o = pub_ok(&["-u", "bob", "-P", "pw", "-m", "x", "-L", "mqtt://h/t"]);
    assert_eq!(o.connect.username.as_deref(), Some("bob"));
    assert_eq!(o.connect.password.as_deref(), Some("pw"));
}

#[test]
fn session_expiry() {
    let sei = |args: &[&str]| pub_ok(args).connect.session_expiry;
    assert_eq!(sei(&["-t", "a", "-n", "-V", "5", "-x", "10"]), Some(10));
    assert_eq!(sei(&["-t", "a", "-n", "-V", "5", "-x", "0x20"]), Some(32));
    assert_eq!(sei(&["-t", "a", "-n", "-V", "5", "-x", "0"]), None);
    assert_eq!(sei(&["-t", "a", "-n", "-V", "5"]), None);
    // Infinite: -c alone, -1, ∞ or 4294967295; all need a client id.
    assert_eq!(
        sei(&["-t", "a", "-n", "-V", "5", "-c", "-i", "me"]),
        Some(u32::MAX)
    );
    assert_eq!(
        sei(&["-t", "a", "-n", "-V", "5", "-x", "-1", "-i", "me"]),
        Some(u32::MAX)
    );
    assert_eq!(
        sei(&["-t", "a", "-n", "-V", "5", "-x", "∞", "-i", "me"]),
        Some(u32::MAX)
    );
    assert_eq!(
        sei(&["-t", "a", "-n", "-V", "5", "-x", "4294967295", "-i", "me"]),
        Some(u32::MAX)
    );
    // -c with a finite expiry.
    let o = pub_ok(&["-t", "a", "-n", "-V", "5", "-c", "-x", "30", "-i", "me"]);
    assert_eq!(o.connect.session_expiry, Some(30));
    assert_eq!(
        o.connect.connect_properties.session_expiry_interval,
        Some(30)
    );
    assert!(!o.connect.clean_session);
    // MQTT 3.1.1 has no session expiry.
    assert_eq!(sei(&["-t", "a", "-n", "-x", "10"]), None);
    // -c in 3.1.1 with an id.
    assert!(
        !pub_ok(&["-t", "a", "-n", "-c", "-i", "me"])
            .connect
            .clean_session
    );
    // The session expiry of -D counts too.
    assert_eq!(
        sei(&[
            "-t",
            "a",
            "-n",
            "-D",
            "connect",
            "session-expiry-interval",
            "99"
        ]),
        Some(99)
    );
}

#[test]
fn protocol_versions() {
    let v = |args: &[&str]| pub_ok(args).connect.version;
    for (arg, version) in [
        ("5", ProtocolVersion::V5),
        ("mqttv5", ProtocolVersion::V5),
        ("311", ProtocolVersion::V3_1_1),
        ("mqttv311", ProtocolVersion::V3_1_1),
        ("31", ProtocolVersion::V3_1),
        ("mqttv31", ProtocolVersion::V3_1),
    ] {
        assert_eq!(v(&["-t", "a", "-n", "-V", arg]), version, "{arg}");
    }
    // -D switches to MQTT 5 where it stands; a later -V switches back.
    assert_eq!(
        v(&["-t", "a", "-n", "-D", "publish", "content-type", "x"]),
        ProtocolVersion::V5
    );
    assert_eq!(
        v(&[
            "-t",
            "a",
            "-n",
            "-V",
            "31",
            "-D",
            "publish",
            "content-type",
            "x"
        ]),
        ProtocolVersion::V5
    );
    assert_eq!(
        v(&[
            "-t",
            "a",
            "-n",
            "-D",
            "publish",
            "content-type",
            "x",
            "-V",
            "311"
        ]),
        ProtocolVersion::V3_1_1
    );
    assert_eq!(
        sub_ok(&["-t", "a", "-V", "mqttv5"]).connect.version,
        ProtocolVersion::V5
    );
    assert_eq!(
        rr_ok(&["-t", "a", "-e", "b", "-n", "-V", "31"])
            .connect
            .version,
        ProtocolVersion::V3_1
    );
}

#[test]
fn connect_and_disconnect_properties() {
    let o = pub_ok(&[
        "-t",
        "a",
        "-n",
        "-D",
        "connect",
        "session-expiry-interval",
        "60",
        "-D",
        "connect",
        "receive-maximum",
        "10",
        "-D",
        "connect",
        "maximum-packet-size",
        "1000",
        "-D",
        "connect",
        "topic-alias-maximum",
        "5",
        "-D",
        "connect",
        "request-response-information",
        "1",
        "-D",
        "connect",
        "request-problem-information",
        "0",
        "-D",
        "connect",
        "authentication-method",
        "SCRAM",
        "-D",
        "connect",
        "authentication-data",
        "xyz",
        "-D",
        "connect",
        "user-property",
        "k1",
        "v1",
        "-D",
        "connect",
        "user-property",
        "k1",
        "v2",
        "-D",
        "disconnect",
        "session-expiry-interval",
        "7",
        "-D",
        "disconnect",
        "reason-string",
        "bye",
        "-D",
        "disconnect",
        "server-reference",
        "other",
        "-D",
        "disconnect",
        "user-property",
        "d",
        "e",
    ]);
    let p = &o.connect.connect_properties;
    assert_eq!(p.session_expiry_interval, Some(60));
    assert_eq!(p.receive_maximum, NonZeroU16::new(10));
    assert_eq!(p.maximum_packet_size, NonZeroU32::new(1000));
    assert_eq!(p.topic_alias_maximum, Some(5));
    assert_eq!(p.request_response_information, Some(true));
    assert_eq!(p.request_problem_information, Some(false));
    assert_eq!(p.authentication_method, Some(s("SCRAM")));
    assert_eq!(p.authentication_data, Some(Bytes::from_static(b"xyz")));
    assert_eq!(p.user_properties, vec![up("k1", "v1"), up("k1", "v2")]);
    assert_eq!(o.connect.session_expiry, Some(60));
    let d = &o.connect.disconnect_properties;
    assert_eq!(d.session_expiry_interval, Some(7));
    assert_eq!(d.reason_string, Some(s("bye")));
    assert_eq!(d.server_reference, Some(s("other")));
    assert_eq!(d.user_properties, vec![up("d", "e")]);
}

#[test]
fn publish_properties() {
    let o = pub_ok(&[
        "-t",
        "a",
        "-m",
        "x",
        "-D",
        "publish",
        "payload-format-indicator",
        "1",
        "-D",
        "publish",
        "message-expiry-interval",
        "3600",
        "-D",
        "publish",
        "content-type",
        "application/json",
        "-D",
        "publish",
        "response-topic",
        "replies/1",
        "-D",
        "publish",
        "correlation-data",
        "abc",
        "-D",
        "publish",
        "topic-alias",
        "3",
        "-D",
        "publish",
        "user-property",
        "key",
        "value with spaces",
    ]);
    let p = &o.properties;
    assert_eq!(p.payload_format_indicator, Some(true));
    assert_eq!(p.message_expiry_interval, Some(3600));
    assert_eq!(p.content_type, Some(s("application/json")));
    assert_eq!(p.response_topic, Some(TopicName::new("replies/1").unwrap()));
    assert_eq!(p.correlation_data, Some(Bytes::from_static(b"abc")));
    assert_eq!(p.user_properties, vec![up("key", "value with spaces")]);
    assert!(p.subscription_identifiers.is_empty());
    assert_eq!(o.topic_alias, NonZeroU16::new(3));
    // Values are read with atol: leading digits count.
    let o = pub_ok(&[
        "-t",
        "a",
        "-n",
        "-D",
        "publish",
        "message-expiry-interval",
        "12s",
    ]);
    assert_eq!(o.properties.message_expiry_interval, Some(12));
}

#[test]
fn subscribe_and_unsubscribe_properties() {
    let o = sub_ok(&[
        "-t",
        "a",
        "-D",
        "subscribe",
        "subscription-identifier",
        "268435455",
        "-D",
        "subscribe",
        "user-property",
        "s",
        "1",
        "-D",
        "unsubscribe",
        "user-property",
        "u",
        "2",
    ]);
    assert_eq!(
        o.subscribe_properties.subscription_identifier,
        NonZeroU32::new(268_435_455)
    );
    assert_eq!(o.subscribe_properties.user_properties, vec![up("s", "1")]);
    assert_eq!(o.unsubscribe_properties.user_properties, vec![up("u", "2")]);
    assert_eq!(o.connect.version, ProtocolVersion::V5);
}

#[test]
fn will_options_and_properties() {
    let o = pub_ok(&[
        "-t",
        "a",
        "-n",
        "--will-topic",
        "status/me",
        "--will-payload",
        "gone",
        "--will-qos",
        "2",
        "--will-retain",
        "-D",
        "will",
        "will-delay-interval",
        "10",
        "-D",
        "will",
        "payload-format-indicator",
        "1",
        "-D",
        "will",
        "message-expiry-interval",
        "20",
        "-D",
        "will",
        "content-type",
        "text/plain",
        "-D",
        "will",
        "response-topic",
        "r",
        "-D",
        "will",
        "correlation-data",
        "c",
        "-D",
        "will",
        "user-property",
        "w",
        "v",
    ]);
    let will = o.connect.will.clone().unwrap();
    assert_eq!(will.topic.as_str(), "status/me");
    assert_eq!(will.payload, Bytes::from_static(b"gone"));
    assert_eq!(will.qos, QoS::ExactlyOnce);
    assert!(will.retain);
    let p = &will.properties;
    assert_eq!(p.will_delay_interval, Some(10));
    assert_eq!(p.payload_format_indicator, Some(true));
    assert_eq!(p.message_expiry_interval, Some(20));
    assert_eq!(p.content_type, Some(s("text/plain")));
    assert_eq!(p.response_topic, Some(TopicName::new("r").unwrap()));
    assert_eq!(p.correlation_data, Some(Bytes::from_static(b"c")));
    assert_eq!(p.user_properties, vec![up("w", "v")]);
    let last = will.to_last_will();
    assert_eq!(
        (last.topic, last.qos, last.retain),
        (will.topic.clone(), QoS::ExactlyOnce, true)
    );
    // Without a payload the will is empty.
    let o = pub_ok(&["-t", "a", "-n", "--will-topic", "w"]);
    assert_eq!(o.connect.will.unwrap().payload, Bytes::new());
    // Will properties without a will topic are checked, then unused.
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "-D", "will", "will-delay-interval", "1"])
            .connect
            .will,
        None
    );
}

#[test]
fn subscriber_options() {
    let o = sub_ok(&[
        "-t",
        "a",
        "-q",
        "2",
        "-C",
        "3",
        "-W",
        "9",
        "-E",
        "-R",
        "--remove-retained",
        "--retain-as-published",
        "--no-local",
        "--random-filter",
        "50",
        "-v",
        "-N",
        "-F",
        "%t %p",
        "--pretty",
        "-V",
        "5",
    ]);
    assert_eq!(o.qos, QoS::ExactlyOnce);
    assert_eq!((o.count, o.timeout), (Some(3), Some(9)));
    assert!(o.exit_after_sub && o.no_retained && o.remove_retained);
    assert!(o.retain_as_published && o.no_local);
    assert_eq!(o.retain_handling, Some(RetainHandling::DoNotSend));
    assert_eq!(o.random_filter, Some(50.0));
    assert!(o.verbose && o.no_eol && o.pretty);
    assert_eq!(o.format.as_deref(), Some("%t %p"));
    assert_eq!(o.subscription_options().to_byte(), 0b0010_1110);
    assert_eq!(o.output().format.as_deref(), Some("%t %p"));
    assert!(sub_ok(&["-t", "a", "--retained-only"]).retained_only);
    assert_eq!(
        sub_ok(&["-t", "a", "--random-filter", "0.1"]).random_filter,
        Some(0.1)
    );
}

#[test]
fn tls_options() {
    let o = pub_ok(&["-t", "a", "-n", "--cafile", "/ca.pem"]);
    assert_eq!(o.connect.port, 8883);
    let tls = o.connect.tls.unwrap();
    assert_eq!(tls.cafile, Some(PathBuf::from("/ca.pem")));
    assert!(!tls.use_os_certs);
    let o = pub_ok(&[
        "-t",
        "a",
        "-n",
        "--capath",
        "/certs",
        "--cert",
        "/c.pem",
        "--key",
        "/k.pem",
        "--keyform",
        "PEM",
        "--insecure",
        "--tls-alpn",
        "mqtt",
        "--tls-version",
        "tlsv1.3",
        "--ciphers",
        "HIGH",
        "-p",
        "1",
    ]);
    assert_eq!(o.connect.port, 1);
    assert_eq!(
        o.connect.tls,
        Some(TlsOptions {
            cafile: None,
            capath: Some("/certs".into()),
            cert: Some("/c.pem".into()),
            key: Some("/k.pem".into()),
            use_os_certs: false,
            insecure: true,
            version: Some(TlsVersion::Tls1_3),
            alpn: Some("mqtt".into()),
            ciphers: Some("HIGH".into()),
        })
    );
    // The OS's CAs: on request (port stays 1883), or implied by an explicit port 8883.
    let o = pub_ok(&["-t", "a", "-n", "--tls-use-os-certs"]);
    assert_eq!(o.connect.port, 1883);
    assert!(o.connect.tls.unwrap().use_os_certs);
    assert!(
        pub_ok(&["-t", "a", "-n", "-p", "8883"])
            .connect
            .tls
            .unwrap()
            .use_os_certs
    );
    // TLS options alone do not enable TLS.
    assert_eq!(
        pub_ok(&["-t", "a", "-n", "--insecure", "--tls-version", "tlsv1.2"])
            .connect
            .tls,
        None
    );
}

#[test]
fn engines_and_psk_are_not_supported() {
    for args in [
        &["-t", "a", "-n", "--psk", "00ff", "--psk-identity", "me"][..],
        &["-t", "a", "-n", "--tls-engine", "pkcs11"],
        &[
            "-t",
            "a",
            "-n",
            "--cert",
            "c",
            "--key",
            "k",
            "--keyform",
            "engine",
        ],
        &[
            "-t",
            "a",
            "-n",
            "--cert",
            "c",
            "--key",
            "k",
            "--keyform",
            "engine",
            "--tls-engine",
            "e",
            "--tls-engine-kpass-sha1",
            "00",
        ],
    ] {
        let e = pub_err(args);
        assert_eq!(e.code, 1);
        assert!(
            e.stderr.contains("not supported by mqtt-pub"),
            "{args:?}: {}",
            e.stderr
        );
    }
}

#[test]
fn proxy_option() {
    let o = pub_ok(&["-t", "a", "-n", "--proxy", "socks5h://u:p@proxy.local:1081"]);
    assert_eq!(
        o.connect.proxy,
        Some(Socks5Proxy {
            host: "proxy.local".into(),
            port: 1081,
            username: Some("u".into()),
            password: Some("p".into()),
        })
    );
}

#[test]
fn help_version_and_completions() {
    let e = pub_err(&["--help"]);
    assert_eq!((e.code, e.stderr.as_str()), (1, ""));
    assert!(e.stdout.contains("Usage: mqtt-pub"));
    assert!(e.stdout.contains("-h, --host <HOST>"));
    assert!(e.stdout.contains("-V, --protocol-version <VERSION>"));
    let e = sub_err(&["--version"]);
    assert_eq!(e.code, 1);
    assert!(e.stdout.starts_with("mqtt-sub version "));
    for shell in ["bash", "zsh", "fish"] {
        let e = sub_err(&["--completions", shell]);
        assert_eq!(e.code, 0, "{shell}");
        assert!(e.stdout.contains("mqtt-sub"), "{shell}");
        assert!(e.stdout.contains("retained-only"), "{shell}");
        assert!(e.stderr.is_empty());
    }
    let e = sub_err(&["--completions", "tcsh"]);
    assert_eq!(e.code, 1);
    assert!(e.stderr.starts_with("Error: Unknown shell 'tcsh'"));
    assert_eq!(
        completions(Tool::Rr, "bash").map(|s| s.is_empty()),
        Some(false)
    );
    assert!(help(Tool::Rr).contains("-e <TOPIC>"));
    // "Both topic and message" prints the usage too.
    let e = pub_err(&["-t", "a"]);
    assert_eq!(
        e.stderr,
        "Error: Both topic and message must be supplied.\n"
    );
    assert_eq!(e.stdout, help(Tool::Pub));
}

#[test]
fn options_file_is_applied_before_the_command_line() {
    let file = b"# defaults\n-h file-host\n-p 1999\n-q 1\n-t from/file\n";
    let argv = ["mqtt-sub", "-p", "2000", "-t", "from/args"];
    let o = parse_sub_with_options_file(argv, Some(file)).unwrap();
    assert_eq!(o.connect.host, "file-host");
    assert_eq!(o.connect.port, 2000);
    assert_eq!(o.qos, QoS::AtLeastOnce);
    let names: Vec<&str> = o.topics.iter().map(|t| t.as_str()).collect();
    assert_eq!(names, ["from/file", "from/args"]);
    // The rest of the line is the value, spaces and all.
    let o = parse_pub_with_options_file(
        ["mqtt-pub", "-n"],
        Some(b"-t a topic\n-u name with space\r\n"),
    )
    .unwrap();
    assert_eq!(o.topic.as_str(), "a topic");
    assert_eq!(o.connect.username.as_deref(), Some("name with space"));
    // --help in the file stops there.
    let e = parse_pub_with_options_file(["mqtt-pub", "-t", "a/#"], Some(b"--help\n")).unwrap_err();
    assert_eq!(e.code, 1);
    assert!(e.stdout.contains("Usage: mqtt-pub"));
}

#[test]
fn errors_carry_the_tool_name() {
    let e = pub_err(&["-t", "a", "-m", "b", "-q", "3"]);
    assert_eq!(
        e.stderr,
        "Error: Invalid QoS given: 3\n\nUse 'mqtt-pub --help' to see usage.\n"
    );
    assert_eq!((e.code, e.stdout.as_str()), (1, ""));
    let argv = ["mqtt-rr", "-t", "a"];
    let e = parse_rr_with_options_file(argv, None).unwrap_err();
    assert_eq!(
        e.stderr,
        "Error: All of topic, message, and response topic must be supplied.\n\nUse 'mqtt-rr --help' to see usage.\n"
    );
    // --quiet silences the messages libmosquitto prints, not the usage hint.
    let e = pub_err(&[
        "-t",
        "a",
        "-n",
        "--quiet",
        "-D",
        "publish",
        "topic-alias",
        "0",
    ]);
    assert_eq!(e.stderr, "\nUse 'mqtt-pub --help' to see usage.\n");
}

#[test]
fn what_libmosquitto_would_only_refuse_later_is_refused_now() {
    // Mosquitto accepts these options and fails when publishing or the broker disconnects.
    let e = pub_err(&["-t", "", "-m", "x"]);
    assert_eq!(
        (e.code, e.stderr.as_str()),
        (
            1,
            "Error: Invalid input. Does your topic contain '+' or '#'?\n"
        )
    );
    let e = sub_err(&["-t", ""]);
    assert_eq!(
        e.stderr,
        "Error: Invalid subscription topic '', are all '+' and '#' wildcards correct?\n\nUse 'mqtt-sub --help' to see usage.\n"
    );
    assert!(sub_err(&["-t", "$share/g"])
        .stderr
        .starts_with("Error: Invalid subscription topic '$share/g'"));
    let protocol = "A network protocol error occurred when communicating with the broker.";
    let e = pub_err(&[
        "-t",
        "a",
        "-n",
        "-D",
        "publish",
        "payload-format-indicator",
        "2",
    ]);
    assert!(e
        .stderr
        .starts_with(&format!("Error in PUBLISH properties: {protocol}\n")));
    let e = pub_err(&["-t", "a", "-n", "-D", "publish", "response-topic", "a/#"]);
    assert!(e
        .stderr
        .starts_with(&format!("Error in PUBLISH properties: {protocol}\n")));
    let e = sub_err(&["-t", "a", "-D", "subscribe", "subscription-identifier", "0"]);
    assert!(e
        .stderr
        .starts_with(&format!("Error in SUBSCRIBE properties: {protocol}\n")));
    let e = pub_err(&[
        "-t",
        "a",
        "-n",
        "--will-topic",
        "w",
        "-D",
        "will",
        "reason-string",
        "x",
    ]);
    assert!(e
        .stderr
        .starts_with(&format!("Error in Will properties: {protocol}\n")));
    let e = pub_err(&["-t", "a", "-n", "--will-topic", ""]);
    assert!(e.stderr.starts_with("Error: Invalid will topic ''"));
    let e = pub_err(&[
        "-t",
        "a",
        "-n",
        "--will-topic",
        "w",
        "-D",
        "will",
        "content-type",
        "x",
        "-V",
        "311",
    ]);
    assert_eq!(e.stderr, "Error: Problem setting will.\n");
}
