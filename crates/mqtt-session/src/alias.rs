//! Topic Aliases (spec 3.3.2.3.4): per-connection mappings, one for each direction.
//!
//! The maps use FxHash: they are looked up for every PUBLISH, and both are bounded by a Topic
//! Alias Maximum (at most 65,535 entries, usually 10), which caps what colliding keys could cost.

use rustc_hash::FxHashMap;
use std::num::NonZeroU16;

use mqtt_codec::TopicName;

/// Aliases the peer set up for the topics it sends us.
#[derive(Debug, Clone, Default)]
pub(crate) struct InboundAliases {
    map: FxHashMap<u16, TopicName>,
}

/// What resolving an incoming PUBLISH's topic produced.
pub(crate) enum Resolved {
    Topic(TopicName),
    TooLarge(u16),
    Unknown(u16),
}

impl InboundAliases {
    /// The topic of a PUBLISH: a topic with an alias (re)defines the alias, an empty topic uses
    /// it (spec 3.3.2.3.4).
    pub(crate) fn resolve(
        &mut self,
        topic: TopicName,
        alias: Option<NonZeroU16>,
        max: u16,
    ) -> Resolved {
        let Some(alias) = alias else {
            return Resolved::Topic(topic);
        };
        let alias = alias.get();
        // [MQTT-3.3.2-9] / [MQTT-3.3.2-11]: no alias above the maximum we announced.
        if alias > max {
            return Resolved::TooLarge(alias);
        }
        if topic.is_empty() {
            match self.map.get(&alias) {
                Some(t) => Resolved::Topic(t.clone()),
                None => Resolved::Unknown(alias),
            }
        } else {
            self.map.insert(alias, topic.clone());
            Resolved::Topic(topic)
        }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

/// Aliases we assign to the topics we send, within the peer's Topic Alias Maximum.
///
/// Policy: the first `max` distinct topics get an alias for the lifetime of the connection.
/// Busy topics are normally the first ones seen, and a fixed assignment never re-sends a topic
/// for an alias the peer already knows.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutboundAliases {
    map: FxHashMap<TopicName, u16>,
}

/// How to send a topic.
pub(crate) enum Outgoing {
    /// No alias: send the topic.
    Plain,
    /// A new alias: send the topic and the alias.
    Define(NonZeroU16),
    /// A known alias: send an empty topic and the alias.
    Use(NonZeroU16),
}

impl OutboundAliases {
    pub(crate) fn assign(&mut self, topic: &TopicName, max: u16) -> Outgoing {
        if let Some(&alias) = self.map.get(topic) {
            return NonZeroU16::new(alias).map_or(Outgoing::Plain, Outgoing::Use);
        }
        let next = self.map.len() + 1;
        match u16::try_from(next)
            .ok()
            .filter(|n| *n <= max)
            .and_then(NonZeroU16::new)
        {
            Some(alias) => {
                self.map.insert(topic.clone(), alias.get());
                Outgoing::Define(alias)
            }
            None => Outgoing::Plain,
        }
    }

    /// Undoes the definition of an alias whose PUBLISH was never sent.
    pub(crate) fn forget(&mut self, topic: &TopicName) {
        self.map.remove(topic);
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}
