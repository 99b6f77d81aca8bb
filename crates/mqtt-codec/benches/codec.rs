//! Criterion benchmarks of `mqtt-codec` against `mqttbytes` (the codec of rumqtt).
//!
//! Every packet is built once for each library; the setup asserts that both encode it to the
//! same bytes and that both decode those bytes back to the packet they started from, so each
//! pair of measurements does the same work. Each criterion group (`decode/<packet>`,
//! `encode/<packet>`) holds one function per library, `mqtt-codec` and `mqttbytes`, and reports
//! throughput in bytes of the encoded packet.
//!
//! * Decoding starts from a fresh `BytesMut` holding the encoded packet, cloned from a prepared
//!   buffer outside the timed section (`iter_batched`, the same batch size for both libraries).
//!   The decoded packet and the emptied buffer are returned to criterion, which drops them
//!   outside the timed section, for both libraries alike.
//! * Encoding appends to one reused `BytesMut` that is cleared before each iteration, so neither
//!   library pays for growing the buffer after the first iteration.
//!
//! Run with `cargo bench -p mqtt-codec --bench codec`; see `docs/benchmarks.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]

use std::hint::black_box;
use std::num::{NonZeroU16, NonZeroU32};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use mqtt_codec::{
    Connect, ConnectProperties, Decoder, LastWill, MqttString, Packet, ProtocolVersion, Publish,
    PublishQos, QoS, RetainHandling, Subscribe, SubscriptionOptions, TopicFilter, TopicName,
    WillProperties,
};

/// The maximum packet size both decoders are configured with.
const MAX_PACKET: usize = 1 << 20;

/// Bytes of input held by one batch of decode iterations (bounds memory for the 64 KiB packet).
const BATCH_BYTES: usize = 1 << 20;

/// The most decode iterations in one batch. Criterion keeps a batch's inputs and outputs in two
/// vectors; keeping them small (a few tens of KiB) keeps them in cache and out of `mmap`, whose
/// page faults would otherwise land in the timed section. Two timer reads per batch of 64 add
/// well under a nanosecond per iteration.
const MAX_BATCH: usize = 64;

/// Packets in one streamed receive buffer.
const STREAM_PACKETS: usize = 64;

const TOPIC: &str = "sensors/building-1/floor-3/room-42/temperature";

/// One packet in both libraries' representations.
struct Case<T, O, W, R> {
    /// Group suffix, e.g. `publish_qos0_64B`.
    name: &'static str,
    version: ProtocolVersion,
    ours: Packet,
    /// The mqttbytes packet struct that is encoded (e.g. `v4::Publish`).
    theirs: T,
    /// What mqttbytes' `read` must return for the encoded bytes (e.g. `v4::Packet::Publish`).
    theirs_decoded: O,
    /// mqttbytes' `write` for `T`.
    write: W,
    /// mqttbytes' `v4::read` or `v5::read`.
    read: R,
}

fn payload(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i * 31 + 7) as u8)
        .collect::<Vec<u8>>()
        .into()
}

fn ours_qos(qos: mqttbytes::QoS) -> QoS {
    match qos {
        mqttbytes::QoS::AtMostOnce => QoS::AtMostOnce,
        mqttbytes::QoS::AtLeastOnce => QoS::AtLeastOnce,
        mqttbytes::QoS::ExactlyOnce => QoS::ExactlyOnce,
    }
}

fn ours_publish(qos: mqttbytes::QoS, pkid: u16, payload: &Bytes) -> Packet {
    let qos = match NonZeroU16::new(pkid) {
        Some(id) => PublishQos::new(ours_qos(qos), id),
        None => PublishQos::AtMostOnce,
    };
    Packet::Publish(Publish {
        qos,
        topic: TopicName::new(TOPIC).unwrap(),
        payload: payload.clone(),
        ..Publish::default()
    })
}

fn v4_publish(qos: mqttbytes::QoS, pkid: u16, payload: &Bytes) -> mqttbytes::v4::Publish {
    let mut p = mqttbytes::v4::Publish::from_bytes(TOPIC, qos, payload.clone());
    p.pkid = pkid;
    p
}

fn v5_publish(qos: mqttbytes::QoS, pkid: u16, payload: &Bytes) -> mqttbytes::v5::Publish {
    let mut p = mqttbytes::v5::Publish::from_bytes(TOPIC, qos, payload.clone());
    p.pkid = pkid;
    p
}

/// Ten filters with a mix of exact, `+`, `#`, `$SYS` and shared-subscription filters, each with
/// its MQTT 5 Subscription Options byte (QoS in bits 0-1, No Local bit 2, Retain As Published
/// bit 3, Retain Handling bits 4-5); MQTT 3.1.1 uses only the QoS bits.
const FILTERS: [(&str, u8); 10] = [
    ("sensors/+/temperature", 0b0000_0001),
    ("sensors/+/humidity", 0b0000_0101),
    ("devices/bench-client-0001/commands/#", 0b0010_0110),
    ("alerts/#", 0b0001_1000),
    ("home/kitchen/light/state", 0b0000_1001),
    ("home/+/+/state", 0b0001_0000),
    ("$SYS/broker/clients/connected", 0b0000_0000),
    ("fleet/vehicle-0042/gps", 0b0000_1101),
    ("$share/workers/jobs/+/new", 0b0000_0001),
    ("logs/app/+/error", 0b0010_0010),
];

fn their_qos(options: u8) -> mqttbytes::QoS {
    mqttbytes::qos(options & 0b11).unwrap()
}

const SUBSCRIBE_PKID: u16 = 7;

fn ours_subscribe(v5: bool) -> Packet {
    let filters = FILTERS
        .iter()
        .map(|&(path, options)| {
            let qos = ours_qos(their_qos(options));
            let options = if v5 {
                SubscriptionOptions {
                    qos,
                    no_local: options & 0b0100 != 0,
                    retain_as_published: options & 0b1000 != 0,
                    retain_handling: match options >> 4 {
                        0 => RetainHandling::SendAtSubscribe,
                        1 => RetainHandling::SendAtNewSubscribe,
                        _ => RetainHandling::DoNotSend,
                    },
                }
            } else {
                SubscriptionOptions::with_qos(qos)
            };
            (TopicFilter::new(path).unwrap(), options)
        })
        .collect();
    Packet::Subscribe(Subscribe::new(
        NonZeroU16::new(SUBSCRIBE_PKID).unwrap(),
        filters,
    ))
}

fn v4_subscribe() -> mqttbytes::v4::Subscribe {
    let mut s = mqttbytes::v4::Subscribe::new_many(FILTERS.iter().map(|&(path, options)| {
        mqttbytes::v4::SubscribeFilter::new(path.into(), their_qos(options))
    }));
    s.pkid = SUBSCRIBE_PKID;
    s
}

fn v5_subscribe() -> mqttbytes::v5::Subscribe {
    use mqttbytes::v5::{RetainForwardRule, SubscribeFilter};
    let mut s = mqttbytes::v5::Subscribe::new_many(FILTERS.iter().map(|&(path, options)| {
        let mut f = SubscribeFilter::new(path.into(), their_qos(options));
        f.set_nolocal(options & 0b0100 != 0)
            .set_preserve_retain(options & 0b1000 != 0)
            .set_retain_forward_rule(match options >> 4 {
                0 => RetainForwardRule::OnEverySubscribe,
                1 => RetainForwardRule::OnNewSubscribe,
                _ => RetainForwardRule::Never,
            });
        f
    }));
    s.pkid = SUBSCRIBE_PKID;
    s
}

const CLIENT_ID: &str = "bench-client-0001";
const WILL_TOPIC: &str = "clients/bench-client-0001/status";
const WILL_PAYLOAD: &[u8] = b"{\"online\":false}";
const USERNAME: &str = "bench-user";
const PASSWORD: &str = "correct-horse-battery-staple";

fn ours_connect() -> Packet {
    let s = |s: &str| MqttString::new(s).unwrap();
    Packet::from(Connect {
        protocol: ProtocolVersion::V5,
        clean_start: true,
        keep_alive: 30,
        client_id: s(CLIENT_ID),
        will: Some(LastWill {
            topic: TopicName::new(WILL_TOPIC).unwrap(),
            payload: Bytes::from_static(WILL_PAYLOAD),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: WillProperties {
                will_delay_interval: Some(10),
                payload_format_indicator: Some(true),
                message_expiry_interval: Some(600),
                content_type: Some(s("application/json")),
                user_properties: vec![(s("reason"), s("connection-lost"))],
                ..WillProperties::default()
            },
        }),
        username: Some(s(USERNAME)),
        password: Some(Bytes::from_static(PASSWORD.as_bytes())),
        properties: ConnectProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: NonZeroU16::new(100),
            maximum_packet_size: NonZeroU32::new(1 << 20),
            topic_alias_maximum: Some(16),
            user_properties: vec![(s("client-kind"), s("benchmark"))],
            ..ConnectProperties::default()
        },
        bridge: false,
    })
}

fn v5_connect() -> mqttbytes::v5::Connect {
    use mqttbytes::v5::{ConnectProperties, LastWill, Login, WillProperties};
    mqttbytes::v5::Connect {
        protocol: mqttbytes::Protocol::V5,
        keep_alive: 30,
        client_id: CLIENT_ID.into(),
        clean_session: true,
        last_will: Some(LastWill {
            topic: WILL_TOPIC.into(),
            message: Bytes::from_static(WILL_PAYLOAD),
            qos: mqttbytes::QoS::AtLeastOnce,
            retain: true,
            properties: Some(WillProperties {
                delay_interval: Some(10),
                payload_format_indicator: Some(1),
                message_expiry_interval: Some(600),
                content_type: Some("application/json".into()),
                response_topic: None,
                correlation_data: None,
                user_properties: vec![("reason".into(), "connection-lost".into())],
            }),
        }),
        login: Some(Login::new(USERNAME, PASSWORD)),
        properties: Some(ConnectProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(100),
            max_packet_size: Some(1 << 20),
            topic_alias_max: Some(16),
            request_response_info: None,
            request_problem_info: None,
            user_properties: vec![("client-kind".into(), "benchmark".into())],
            authentication_method: None,
            authentication_data: None,
        }),
    }
}

/// Checks that both libraries agree on the bytes, then benchmarks decode and encode of the case.
fn bench_case<T, O, W, R>(c: &mut Criterion, case: Case<T, O, W, R>)
where
    O: PartialEq + std::fmt::Debug,
    W: Fn(&T, &mut BytesMut) -> Result<usize, mqttbytes::Error>,
    R: Fn(&mut BytesMut, usize) -> Result<O, mqttbytes::Error>,
{
    let Case {
        name,
        version,
        ours,
        theirs,
        theirs_decoded,
        write,
        read,
    } = case;

    // Same work on both sides: identical encodings, and each decodes them to the original.
    let mut wire = BytesMut::new();
    ours.encode(version, &mut wire).unwrap();
    let mut theirs_wire = BytesMut::new();
    write(&theirs, &mut theirs_wire).unwrap();
    assert_eq!(wire, theirs_wire, "{name}: encodings differ");
    assert_eq!(wire.len(), ours.encoded_len(version).unwrap());

    let mut decoder = Decoder::new(version);
    decoder.set_max_packet_size(MAX_PACKET);
    let mut buf = wire.clone();
    assert_eq!(decoder.decode(&mut buf).unwrap().as_ref(), Some(&ours));
    assert!(buf.is_empty());
    let mut buf = wire.clone();
    assert_eq!(read(&mut buf, MAX_PACKET).unwrap(), theirs_decoded);
    assert!(buf.is_empty());

    let len = wire.len();
    let batch = BatchSize::NumIterations((BATCH_BYTES / len).clamp(8, MAX_BATCH) as u64);

    let mut group = c.benchmark_group(format!("decode/{name}"));
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("mqtt-codec", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                let packet = decoder.decode(black_box(&mut buf));
                (packet, buf)
            },
            batch,
        );
    });
    group.bench_function("mqttbytes", |b| {
        b.iter_batched(
            || wire.clone(),
            |mut buf| {
                let packet = read(black_box(&mut buf), MAX_PACKET);
                (packet, buf)
            },
            batch,
        );
    });
    group.finish();

    // Steady-state streaming: STREAM packets back to back in one receive buffer.
    let stream_n = (BATCH_BYTES / len).clamp(1, STREAM_PACKETS);
    let mut stream = BytesMut::with_capacity(len * stream_n);
    for _ in 0..stream_n {
        stream.extend_from_slice(&wire);
    }
    let mut group = c.benchmark_group(format!("decode_stream/{name}"));
    group.throughput(Throughput::Bytes((len * stream_n) as u64));
    group.bench_function("mqtt-codec", |b| {
        b.iter_batched(
            || (stream.clone(), Vec::with_capacity(stream_n)),
            |(mut buf, mut out)| {
                while let Ok(Some(packet)) = decoder.decode(black_box(&mut buf)) {
                    out.push(packet);
                }
                (out, buf)
            },
            BatchSize::NumIterations(8),
        );
    });
    group.bench_function("mqttbytes", |b| {
        b.iter_batched(
            || (stream.clone(), Vec::with_capacity(stream_n)),
            |(mut buf, mut out)| {
                while let Ok(packet) = read(black_box(&mut buf), MAX_PACKET) {
                    out.push(packet);
                }
                (out, buf)
            },
            BatchSize::NumIterations(8),
        );
    });
    group.finish();

    let mut group = c.benchmark_group(format!("encode/{name}"));
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("mqtt-codec", |b| {
        let mut out = BytesMut::with_capacity(len);
        b.iter(|| {
            out.clear();
            let result = black_box(&ours).encode(version, &mut out);
            black_box(&out);
            result
        });
    });
    group.bench_function("mqttbytes", |b| {
        let mut out = BytesMut::with_capacity(len);
        b.iter(|| {
            out.clear();
            let result = write(black_box(&theirs), &mut out);
            black_box(&out);
            result
        });
    });
    group.finish();
}

fn publish_v4(c: &mut Criterion, name: &'static str, qos: mqttbytes::QoS, pkid: u16, len: usize) {
    let payload = payload(len);
    let theirs = v4_publish(qos, pkid, &payload);
    bench_case(
        c,
        Case {
            name,
            version: ProtocolVersion::V3_1_1,
            ours: ours_publish(qos, pkid, &payload),
            theirs_decoded: mqttbytes::v4::Packet::Publish(theirs.clone()),
            theirs,
            write: mqttbytes::v4::Publish::write,
            read: mqttbytes::v4::read,
        },
    );
}

fn publish(c: &mut Criterion) {
    use mqttbytes::QoS::{AtLeastOnce, AtMostOnce};
    publish_v4(c, "publish_qos0_64B", AtMostOnce, 0, 64);
    publish_v4(c, "publish_qos1_1KiB", AtLeastOnce, 42, 1024);
    publish_v4(c, "publish_qos1_64KiB", AtLeastOnce, 42, 64 * 1024);

    let payload = payload(64);
    let theirs = v5_publish(AtMostOnce, 0, &payload);
    bench_case(
        c,
        Case {
            name: "publish_qos0_64B_v5",
            version: ProtocolVersion::V5,
            ours: ours_publish(AtMostOnce, 0, &payload),
            theirs_decoded: mqttbytes::v5::Packet::Publish(theirs.clone()),
            theirs,
            write: mqttbytes::v5::Publish::write,
            read: mqttbytes::v5::read,
        },
    );
}

fn connect(c: &mut Criterion) {
    let theirs = v5_connect();
    bench_case(
        c,
        Case {
            name: "connect_v5",
            version: ProtocolVersion::V5,
            ours: ours_connect(),
            theirs_decoded: mqttbytes::v5::Packet::Connect(theirs.clone()),
            theirs,
            write: mqttbytes::v5::Connect::write,
            read: mqttbytes::v5::read,
        },
    );
}

fn subscribe(c: &mut Criterion) {
    let theirs = v4_subscribe();
    bench_case(
        c,
        Case {
            name: "subscribe_10_v311",
            version: ProtocolVersion::V3_1_1,
            ours: ours_subscribe(false),
            theirs_decoded: mqttbytes::v4::Packet::Subscribe(theirs.clone()),
            theirs,
            write: mqttbytes::v4::Subscribe::write,
            read: mqttbytes::v4::read,
        },
    );
    let theirs = v5_subscribe();
    bench_case(
        c,
        Case {
            name: "subscribe_10_v5",
            version: ProtocolVersion::V5,
            ours: ours_subscribe(true),
            theirs_decoded: mqttbytes::v5::Packet::Subscribe(theirs.clone()),
            theirs,
            write: mqttbytes::v5::Subscribe::write,
            read: mqttbytes::v5::read,
        },
    );
}

criterion_group!(benches, publish, connect, subscribe);
criterion_main!(benches);
