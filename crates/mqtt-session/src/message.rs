//! Application messages: what a PUBLISH carries, without the per-connection parts.

use bytes::Bytes;
use mqtt_codec::{PacketId, Publish, PublishQos, QoS, SharedPublishProperties, TopicName};

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

    /// The PUBLISH for this message with a packet identifier (ignored for QoS 0).
    pub(crate) fn to_publish(&self, packet_id: PacketId, dup: bool) -> Publish {
        let qos = PublishQos::new(self.qos, packet_id);
        Publish {
            dup: dup && qos != PublishQos::AtMostOnce,
            qos,
            retain: self.retain,
            topic: self.topic.clone(),
            topic_alias: None,
            properties: self.properties.clone(),
            payload: self.payload.clone(),
        }
    }

    pub(crate) fn from_publish(p: Publish) -> Self {
        Message {
            topic: p.topic,
            payload: p.payload,
            qos: p.qos.qos(),
            retain: p.retain,
            properties: p.properties,
        }
    }
}
