//! Application messages: what a PUBLISH carries, without the per-connection parts.

use bytes::Bytes;
use mqtt_codec::{Packet, PacketId, Publish, PublishQos, QoS, SharedPublishProperties, TopicName};

use crate::alias::Outgoing;

/// An application message (spec 1.2): topic, payload, QoS, retain flag and MQTT 5 properties.
///
/// Packet identifiers, DUP and topic aliases belong to one connection and are handled by the
/// session; a message is what survives across connections and between clients.
///
/// ```
/// use mqtt_codec::{QoS, TopicName};
/// use mqtt_session::Message;
/// let m = Message::new(TopicName::new("a/b")?, "hi", QoS::AtLeastOnce);
/// assert!(!m.retain);
/// # Ok::<(), mqtt_codec::InvalidTopic>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// Topic Name (never an alias).
    pub topic: TopicName,
    /// Payload.
    pub payload: Bytes,
    /// Quality of service.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// MQTT 5 properties (Message Expiry Interval is relative to when the session received it),
    /// shared by every copy of the message.
    pub properties: SharedPublishProperties,
}

impl Message {
    /// A message without properties and without the retain flag.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>, qos: QoS) -> Self {
        Message {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: SharedPublishProperties::default(),
        }
    }

    /// The PUBLISH packet for this message with a packet identifier (ignored for QoS 0), its
    /// topic sent as `topic` says; `client` when a client sends it. The message stays, to be
    /// re-sent.
    ///
    /// Built as a `Packet` at once: a `Publish` wrapped afterwards is one more copy of it.
    #[inline(always)]
    pub(crate) fn to_packet(
        &self,
        packet_id: PacketId,
        dup: bool,
        topic: Outgoing,
        client: bool,
    ) -> Packet {
        let (topic, topic_alias) = match topic {
            Outgoing::Plain => (self.topic.clone(), None),
            Outgoing::Define(alias) => (self.topic.clone(), Some(alias)),
            // The peer knows the topic: not cloned only to be dropped again.
            Outgoing::Use(alias) => (TopicName::alias_only(), Some(alias)),
        };
        let qos = PublishQos::new(self.qos, packet_id);
        Packet::Publish(Publish {
            dup: dup && qos != PublishQos::AtMostOnce,
            qos,
            retain: self.retain,
            topic,
            topic_alias,
            properties: outgoing_properties(self.properties.clone(), client),
            payload: self.payload.clone(),
        })
    }

    /// The QoS 0 PUBLISH packet for this message, which nothing keeps: its parts move into
    /// the packet.
    pub(crate) fn into_packet(self, topic: Outgoing, client: bool) -> Packet {
        let (topic, topic_alias) = match topic {
            Outgoing::Plain => (self.topic, None),
            Outgoing::Define(alias) => (self.topic, Some(alias)),
            Outgoing::Use(alias) => (TopicName::alias_only(), Some(alias)),
        };
        Packet::Publish(Publish {
            dup: false,
            qos: PublishQos::AtMostOnce,
            retain: self.retain,
            topic,
            topic_alias,
            properties: outgoing_properties(self.properties, client),
            payload: self.payload,
        })
    }
}

/// What a client must not send whatever the application put in the message: Subscription
/// Identifiers [MQTT-3.3.4-6].
fn outgoing_properties(
    mut properties: SharedPublishProperties,
    client: bool,
) -> SharedPublishProperties {
    // Checked before `get_mut`, which copies properties shared with the in-flight message.
    if client && !properties.subscription_identifiers.is_empty() {
        if let Some(props) = properties.get_mut() {
            props.subscription_identifiers.clear();
        }
    }
    properties
}
