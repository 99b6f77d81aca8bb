//! Two connected sessions exchanging messages, optionally through the codec: shared by the
//! allocation test and the benchmark.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use bytes::BytesMut;
use mqtt_codec::{
    ConnAck, Connect, Decoder, MqttString, Packet, ProtocolVersion, PubAck, PubComp, PubRec,
    PubRel, Publish, PublishQos, QoS, TopicName,
};
use mqtt_session::{Config, Event, Instant, Message, Session};

/// The message every exchange carries: 64 B on a 14-byte topic, no properties.
pub fn bench_message(qos: QoS) -> Message {
    Message::new(
        TopicName::new("sensors/1/temp").unwrap(),
        vec![7u8; 64],
        qos,
    )
}

/// The packets of one exchange of [`bench_message`], as the sessions of a [`Link::new`] produce
/// them on its first exchange (checked by [`check_exchange_packets`]): what the codec alone
/// encodes and decodes for the comparison.
pub fn exchange_packets(qos: QoS) -> Vec<Packet> {
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

/// The sessions' configuration in [`Link::new`]: the defaults without outbound Topic Aliases.
/// With them a 5.0 client sends every PUBLISH after the first with an alias and an empty topic,
/// a shorter packet than the one [`exchange_packets`] gives the codec alone.
pub fn bench_config() -> Config {
    Config {
        outbound_topic_aliases: false,
        ..Config::default()
    }
}

/// Panics unless the first exchange of a new [`Link`], with and without the codec, carries
/// exactly [`exchange_packets`]: the session and the codec alone handle the same packets.
pub fn check_exchange_packets(version: ProtocolVersion, qos: QoS) {
    for with_codec in [false, true] {
        let mut link = Link::new(version, with_codec);
        let mut carried = Vec::new();
        link.exchange_observed(&bench_message(qos), |p| carried.push(p.clone()));
        assert_eq!(
            carried,
            exchange_packets(qos),
            "{version} QoS {} (codec: {with_codec}): the sessions' packets are not the codec's",
            qos as u8
        );
    }
}

/// The codec alone: encodes and decodes each of `packets` once, through one buffer.
pub struct CodecOnly {
    packets: Vec<Packet>,
    version: ProtocolVersion,
    buf: BytesMut,
    decoder: Decoder,
}

impl CodecOnly {
    pub fn new(version: ProtocolVersion, qos: QoS) -> Self {
        CodecOnly {
            packets: exchange_packets(qos),
            version,
            buf: BytesMut::with_capacity(4096),
            decoder: Decoder::new(version),
        }
    }

    /// One exchange's worth of encoding and decoding.
    #[inline]
    pub fn exchange(&mut self) {
        for p in &self.packets {
            p.encode(self.version, &mut self.buf).unwrap();
            std::hint::black_box(self.decoder.decode(&mut self.buf).unwrap());
        }
    }
}

/// A client and a server session joined directly (or through encode/decode).
pub struct Link {
    client: Session,
    server: Session,
    wire: Option<(BytesMut, Decoder, Decoder)>,
    now: Instant,
}

impl Link {
    /// Sessions with [`bench_config`].
    pub fn new(version: ProtocolVersion, with_codec: bool) -> Self {
        Link::with_config(version, with_codec, bench_config())
    }

    /// Both sessions with `config`.
    pub fn with_config(version: ProtocolVersion, with_codec: bool, config: Config) -> Self {
        let now = Instant::from_millis(0);
        let mut client = Session::new_client(config.clone());
        let mut server = Session::new_server(config);
        let connect = Connect {
            protocol: version,
            client_id: MqttString::new("bench").unwrap(),
            ..Connect::default()
        };
        client.connect(now, connect.clone()).unwrap();
        while client.poll_transmit(now).is_some() {}
        server.accept(now, &connect, ConnAck::default()).unwrap();
        while let Some(p) = server.poll_transmit(now) {
            client.handle_packet(now, p);
        }
        while client.poll_event().is_some() {}
        let wire = with_codec.then(|| {
            (
                BytesMut::with_capacity(4096),
                Decoder::new(version),
                Decoder::new(version),
            )
        });
        Link {
            client,
            server,
            wire,
            now,
        }
    }

    pub fn carry(&mut self, packet: Packet, to_server: bool) -> Packet {
        match &mut self.wire {
            None => packet,
            Some((buf, to_s, to_c)) => {
                let version = self.client.version();
                packet.encode(version, buf).unwrap();
                let decoder = if to_server { to_s } else { to_c };
                decoder.decode(buf).unwrap().unwrap()
            }
        }
    }

    /// One complete exchange of `message`; returns the number of application events.
    pub fn exchange(&mut self, message: &Message) -> usize {
        self.exchange_observed(message, |_| {})
    }

    /// [`Link::exchange`], showing `seen` each packet a session sends, before the codec.
    /// (Inlined: with the empty `seen` of `exchange`, the timed code is as if it were not there.)
    #[inline(always)]
    pub fn exchange_observed(&mut self, message: &Message, mut seen: impl FnMut(&Packet)) -> usize {
        self.client.publish(self.now, message.clone()).unwrap();
        let mut events = 0;
        loop {
            let mut idle = true;
            while let Some(p) = self.client.poll_transmit(self.now) {
                seen(&p);
                let p = self.carry(p, true);
                self.server.handle_packet(self.now, p);
                idle = false;
            }
            while let Some(p) = self.server.poll_transmit(self.now) {
                seen(&p);
                let p = self.carry(p, false);
                self.client.handle_packet(self.now, p);
                idle = false;
            }
            while let Some(e) = self.server.poll_event() {
                assert!(matches!(e, Event::Message { .. }));
                events += 1;
            }
            while let Some(e) = self.client.poll_event() {
                assert!(matches!(e, Event::PublishCompleted { .. }));
                events += 1;
            }
            if idle {
                return events;
            }
        }
    }
}
