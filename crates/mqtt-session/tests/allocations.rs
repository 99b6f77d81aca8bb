//! The steady-state message path allocates nothing: a counting global allocator watches
//! QoS 1 and QoS 2 exchanges between two connected sessions, with and without the codec
//! (allocation-counter counts the allocations of the measuring thread).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod link;

use link::Link;
use mqtt_codec::{ProtocolVersion, QoS, TopicName};
use mqtt_session::{Config, Message};

fn allocations_per_message(
    version: ProtocolVersion,
    qos: QoS,
    with_codec: bool,
    config: Config,
) -> usize {
    let mut link = Link::with_config(version, with_codec, config);
    let message = Message::new(
        TopicName::new("sensors/1/temp").unwrap(),
        vec![7u8; 64],
        qos,
    );
    // Warm up: buffers and queues reach their steady-state capacity, shared Bytes are promoted.
    for _ in 0..100 {
        assert_eq!(link.exchange(&message), 2);
    }
    let info = allocation_counter::measure(|| {
        for _ in 0..10_000 {
            link.exchange(&message);
        }
    });
    info.count_total as usize
}

#[test]
fn steady_state_exchanges_do_not_allocate() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            for with_codec in [false, true] {
                // The benchmark's configuration (no outbound Topic Aliases) and the default
                // one (5.0: every PUBLISH after the first sent with an alias).
                for config in [link::bench_config(), Config::default()] {
                    let aliases = config.outbound_topic_aliases;
                    let n = allocations_per_message(version, qos, with_codec, config);
                    assert_eq!(
                        n, 0,
                        "{version} QoS {qos} codec={with_codec} aliases={aliases}: \
                         {n} allocations in 10,000 messages"
                    );
                }
            }
        }
    }
}

#[test]
fn the_benchmarked_sessions_send_the_packets_the_codec_alone_is_timed_on() {
    for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            link::check_exchange_packets(version, qos);
        }
    }
}
