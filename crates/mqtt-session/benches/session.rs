//! Cost per message of QoS 1 and QoS 2 exchanges through two sessions, with and without the
//! codec, against the codec alone encoding and decoding the same packets.
//!
//! `cargo bench -p mqtt-session --bench session`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/link/mod.rs"]
mod link;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use link::Link;
use mqtt_codec::{
    Decoder, Packet, ProtocolVersion, PubAck, PubComp, PubRec, PubRel, Publish, PublishQos, QoS,
    TopicName,
};
use mqtt_session::Message;

/// The packets of one exchange, as the sessions produce them.
fn exchange_packets(qos: QoS) -> Vec<Packet> {
    let id = 1.try_into().unwrap();
    let publish = Packet::Publish(Publish {
        qos: PublishQos::new(qos, id),
        topic: TopicName::new("sensors/1/temp").unwrap(),
        payload: vec![7u8; 64].into(),
        ..Publish::default()
    });
    match qos {
        QoS::AtLeastOnce => vec![publish, Packet::PubAck(PubAck::new(id))],
        _ => vec![
            publish,
            Packet::PubRec(PubRec::new(id)),
            Packet::PubRel(PubRel::new(id)),
            Packet::PubComp(PubComp::new(id)),
        ],
    }
}

fn bench(c: &mut Criterion) {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut group =
                c.benchmark_group(format!("exchange/v{}/qos{}", version.level(), qos as u8));
            group.throughput(Throughput::Elements(1));
            let message = Message::new(
                TopicName::new("sensors/1/temp").unwrap(),
                vec![7u8; 64],
                qos,
            );

            let mut link = Link::new(version, false);
            group.bench_function("session", |b| b.iter(|| link.exchange(&message)));

            let mut link = Link::new(version, true);
            group.bench_function("session+codec", |b| b.iter(|| link.exchange(&message)));

            let packets = exchange_packets(qos);
            let mut buf = BytesMut::with_capacity(4096);
            let mut decoder = Decoder::new(version);
            group.bench_function("codec", |b| {
                b.iter(|| {
                    for p in &packets {
                        p.encode(version, &mut buf).unwrap();
                        std::hint::black_box(decoder.decode(&mut buf).unwrap());
                    }
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
