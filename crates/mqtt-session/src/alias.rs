//! Topic Aliases (spec 3.3.2.3.4): per-connection mappings, one for each direction.
//!
//! The maps use FxHash: they are looked up for every PUBLISH, and both are bounded by a Topic
//! Alias Maximum (at most 65,535 entries, usually 10), which caps what colliding keys could cost.

use rustc_hash::FxHashMap;
use std::num::NonZeroU16;

use mqtt_codec::TopicName;

/// Aliases up to this one are kept in a vector indexed by alias, the rest in a map: lookups
/// without hashing for the usual maxima (Mosquitto's default is 10), while a peer that uses
/// one very high alias makes us hold one entry, not a vector of 65,535.
const DENSE_ALIASES: u16 = 1024;

/// Aliases the peer set up for the topics it sends us.
#[derive(Debug, Clone, Default)]
pub(crate) struct InboundAliases {
    /// Topic of alias `i + 1`; empty where the alias is not mapped.
    dense: Vec<TopicName>,
    sparse: FxHashMap<u16, TopicName>,
}

/// Why an incoming PUBLISH's alias cannot be resolved.
pub(crate) enum Unresolved {
    /// Above the Topic Alias Maximum we announced.
    TooLarge(u16),
    /// An empty topic with an alias that has no mapping.
    Unknown(u16),
}

impl InboundAliases {
    /// Sets `topic`, the Topic Name of a PUBLISH, from its alias: a topic with an alias
    /// (re)defines the alias, an empty topic uses it (spec 3.3.2.3.4).
    ///
    /// The topic is replaced in place: the copy of a mapped topic goes straight where the
    /// message is built.
    pub(crate) fn resolve(
        &mut self,
        topic: &mut TopicName,
        alias: Option<NonZeroU16>,
        max: u16,
    ) -> Result<(), Unresolved> {
        let Some(alias) = alias else {
            return Ok(());
        };
        let alias = alias.get();
        // [MQTT-3.3.2-9] / [MQTT-3.3.2-11]: no alias above the maximum we announced.
        if alias > max {
            return Err(Unresolved::TooLarge(alias));
        }
        let index = usize::from(alias - 1);
        if topic.is_empty() {
            let known = if alias <= DENSE_ALIASES {
                self.dense.get(index).filter(|t| !t.is_empty())
            } else {
                self.sparse.get(&alias)
            };
            return match known {
                Some(t) => {
                    *topic = t.clone();
                    Ok(())
                }
                None => Err(Unresolved::Unknown(alias)),
            };
        }
        if alias <= DENSE_ALIASES {
            if self.dense.len() <= index {
                self.dense.resize(index + 1, TopicName::alias_only());
            }
            if let Some(slot) = self.dense.get_mut(index) {
                *slot = topic.clone();
            }
        } else {
            self.sparse.insert(alias, topic.clone());
        }
        Ok(())
    }

    pub(crate) fn clear(&mut self) {
        self.dense.clear();
        self.sparse.clear();
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
    /// Topic of alias `i + 1` (empty if forgotten): the map's keys, by alias.
    topics: Vec<TopicName>,
    /// The alias used last (0: none): consecutive messages on one topic, the common case, are
    /// matched by comparing the topic with it instead of hashing it.
    last: u16,
}

/// How to send a topic.
#[derive(Debug, Clone, Copy)]
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
        if let Some(last) = NonZeroU16::new(self.last) {
            let known = self.topics.get(usize::from(last.get() - 1));
            if known.is_some_and(|t| same_topic(t, topic)) {
                return Outgoing::Use(last);
            }
        }
        if let Some(&alias) = self.map.get(topic) {
            self.last = alias;
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
                let index = usize::from(alias.get() - 1);
                if self.topics.len() <= index {
                    self.topics.resize(index + 1, TopicName::alias_only());
                }
                if let Some(slot) = self.topics.get_mut(index) {
                    *slot = topic.clone();
                }
                self.last = alias.get();
                Outgoing::Define(alias)
            }
            None => Outgoing::Plain,
        }
    }

    /// Undoes the definition of an alias whose PUBLISH was never sent.
    pub(crate) fn forget(&mut self, topic: &TopicName) {
        if let Some(alias) = self.map.remove(topic) {
            if let Some(slot) = self.topics.get_mut(usize::from(alias.saturating_sub(1))) {
                // Empty: never equal to a topic being sent.
                *slot = TopicName::alias_only();
            }
            self.last = 0;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.topics.clear();
        self.last = 0;
    }
}

/// Topic equality, short-cut when both share the same bytes (copies of one message).
fn same_topic(a: &TopicName, b: &TopicName) -> bool {
    let (a, b) = (a.as_str(), b.as_str());
    std::ptr::eq(a, b) || a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    fn alias(n: u16) -> Option<NonZeroU16> {
        NonZeroU16::new(n)
    }

    fn resolve(a: &mut InboundAliases, t: &str, n: u16, max: u16) -> Result<String, u16> {
        let mut t = if t.is_empty() {
            TopicName::alias_only()
        } else {
            topic(t)
        };
        match a.resolve(&mut t, alias(n), max) {
            Ok(()) => Ok(t.as_str().to_owned()),
            Err(Unresolved::TooLarge(n) | Unresolved::Unknown(n)) => Err(n),
        }
    }

    #[test]
    fn inbound_aliases_are_defined_used_and_redefined() {
        let mut a = InboundAliases::default();
        assert_eq!(resolve(&mut a, "", 3, 10), Err(3));
        assert_eq!(resolve(&mut a, "a/b", 3, 10), Ok("a/b".into()));
        assert_eq!(resolve(&mut a, "", 3, 10), Ok("a/b".into()));
        // Aliases below the one defined are still unknown.
        assert_eq!(resolve(&mut a, "", 1, 10), Err(1));
        assert_eq!(resolve(&mut a, "c", 3, 10), Ok("c".into()));
        assert_eq!(resolve(&mut a, "", 3, 10), Ok("c".into()));
        assert_eq!(resolve(&mut a, "x", 11, 10), Err(11));
        a.clear();
        assert_eq!(resolve(&mut a, "", 3, 10), Err(3));
    }

    #[test]
    fn high_inbound_aliases_do_not_grow_the_dense_table() {
        let mut a = InboundAliases::default();
        assert_eq!(resolve(&mut a, "hi", u16::MAX, u16::MAX), Ok("hi".into()));
        assert_eq!(resolve(&mut a, "", u16::MAX, u16::MAX), Ok("hi".into()));
        assert!(a.dense.is_empty());
        assert_eq!(resolve(&mut a, "", DENSE_ALIASES + 1, u16::MAX), Err(1025));
    }

    fn assigned(o: Outgoing) -> (char, u16) {
        match o {
            Outgoing::Plain => ('p', 0),
            Outgoing::Define(a) => ('d', a.get()),
            Outgoing::Use(a) => ('u', a.get()),
        }
    }

    #[test]
    fn outbound_aliases_follow_the_topics() {
        let mut o = OutboundAliases::default();
        let (a, b, c) = (topic("a"), topic("b"), topic("c"));
        assert_eq!(assigned(o.assign(&a, 2)), ('d', 1));
        assert_eq!(assigned(o.assign(&a, 2)), ('u', 1));
        // An equal topic in other bytes.
        assert_eq!(assigned(o.assign(&topic("a"), 2)), ('u', 1));
        assert_eq!(assigned(o.assign(&b, 2)), ('d', 2));
        assert_eq!(assigned(o.assign(&a, 2)), ('u', 1));
        assert_eq!(assigned(o.assign(&b, 2)), ('u', 2));
        assert_eq!(assigned(o.assign(&c, 2)), ('p', 0));
        assert_eq!(assigned(o.assign(&b, 2)), ('u', 2));
        o.clear();
        assert_eq!(assigned(o.assign(&c, 2)), ('d', 1));
    }

    #[test]
    fn a_forgotten_alias_is_defined_again() {
        let mut o = OutboundAliases::default();
        let (a, b) = (topic("a"), topic("b"));
        assert_eq!(assigned(o.assign(&a, 5)), ('d', 1));
        assert_eq!(assigned(o.assign(&b, 5)), ('d', 2));
        o.forget(&b);
        assert_eq!(assigned(o.assign(&b, 5)), ('d', 2));
        assert_eq!(assigned(o.assign(&b, 5)), ('u', 2));
        assert_eq!(assigned(o.assign(&a, 5)), ('u', 1));
    }
}
