//! A sans-IO, zero-copy codec for MQTT 3.1, 3.1.1 and 5.0.
//!
//! The crate turns bytes into [`Packet`]s and [`Packet`]s into bytes, and nothing else: no
//! sockets, no async runtime, no clock. Every rule the specifications call a Malformed Packet or a
//! Protocol Error that can be checked on a single packet is checked, and each violation is a
//! distinct [`DecodeError`] that knows the MQTT 5 [`ReasonCode`] to answer it with. No input, however
//! hostile, makes the decoder panic or allocate more than the configured maximum packet size.
//!
//! Decoded strings, topics, binary properties and payloads are slices of the input buffer
//! ([`bytes::Bytes`]), so a PUBLISH is decoded without copying its payload.
//!
//! # Example
//!
//! ```
//! use bytes::BytesMut;
//! use mqtt_codec::{Decoder, Packet, ProtocolVersion, Publish, PublishQos, QoS, TopicName};
//!
//! // Encode a QoS 1 PUBLISH for an MQTT 5 peer.
//! let publish = Publish {
//!     qos: PublishQos::AtLeastOnce(7.try_into()?),
//!     topic: TopicName::new("sensors/kitchen/temp")?,
//!     payload: "21.5".into(),
//!     ..Publish::default()
//! };
//! let packet = Packet::Publish(publish);
//! let mut wire = BytesMut::new();
//! packet.encode(ProtocolVersion::V5, &mut wire)?;
//! assert_eq!(wire.len(), packet.encoded_len(ProtocolVersion::V5)?);
//!
//! // Decode it again, as the receiving side would, from a buffer that may hold partial packets.
//! let mut decoder = Decoder::new(ProtocolVersion::V5);
//! let decoded = decoder.decode(&mut wire)?.expect("a whole packet is buffered");
//! assert_eq!(decoded, packet);
//! match decoded {
//!     Packet::Publish(p) => assert_eq!(p.qos.qos(), QoS::AtLeastOnce),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

/// The crate README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod ack;
mod auth;
mod connack;
mod connect;
mod decoder;
mod disconnect;
mod error;
mod packet;
mod properties;
mod publish;
mod qos;
mod reason;
mod string;
mod subscribe;
mod topic;
mod unsubscribe;
mod version;
mod wire;

pub use ack::{PubAck, PubComp, PubRec, PubRel};
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, LastWill};
pub use decoder::{Decoder, DEFAULT_MAX_PACKET_SIZE};
pub use disconnect::Disconnect;
pub use error::{DecodeError, EncodeError};
pub use packet::{Packet, PacketType};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PropertyId, PublishProperties, SharedPublishProperties, SubscribeProperties,
    UnsubscribeProperties, UserProperty, WillProperties,
};
pub use publish::{PacketId, Publish, PublishQos};
pub use qos::QoS;
pub use reason::ReasonCode;
pub use string::{InvalidString, MqttString};
pub use subscribe::{RetainHandling, SubAck, Subscribe, SubscriptionOptions};
pub use topic::{topic_matches, InvalidTopic, TopicFilter, TopicName};
pub use unsubscribe::{UnsubAck, Unsubscribe};
pub use version::ProtocolVersion;
pub use wire::{MAX_REMAINING_LENGTH, MAX_VARIABLE_BYTE_INTEGER};
