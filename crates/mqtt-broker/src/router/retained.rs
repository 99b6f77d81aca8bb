//! Retained messages (spec 3.3.1.3): the last retained message of each topic, found again by
//! the filter of a new subscription.
//!
//! The store is a trie of topic levels in an arena, like the subscription trie and for the same
//! reasons (topics can have 32,768 levels: no recursion, no `Box` chains). The roles are
//! reversed, though: here the trie holds topics and the query is a filter, so a `+` level has to
//! try every child of a node and a `#` level takes a whole subtree. Each node therefore owns a
//! map of its children, which can be listed, where the subscription trie shares one map for all
//! edges. An exact filter costs one map lookup per level; a wildcard filter visits only the
//! branches its literal levels allow.

use std::collections::HashMap;

use mqtt_codec::{TopicFilter, TopicName};
use mqtt_session::Message;

/// The root: the position before the first level, never freed.
const ROOT: usize = 0;

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, usize>,
    /// Boxed because most nodes are intermediate levels without a message, and a `Message`
    /// with its properties is several hundred bytes.
    message: Option<Box<Message>>,
}

impl Node {
    fn is_prunable(&self) -> bool {
        self.message.is_none() && self.children.is_empty()
    }
}

/// The retained messages, one per topic.
///
/// ```
/// use mqtt_broker::router::RetainedStore;
/// use mqtt_codec::{QoS, TopicFilter, TopicName};
/// use mqtt_session::Message;
///
/// let mut store = RetainedStore::new();
/// store.set(Message::new(TopicName::new("home/kitchen/temp")?, "21.5", QoS::AtMostOnce));
/// store.set(Message::new(TopicName::new("home/hall/temp")?, "19.0", QoS::AtMostOnce));
/// let mut out = Vec::new();
/// store.matching(&TopicFilter::new("home/+/temp")?, &mut out);
/// assert_eq!(out.len(), 2);
/// // An empty payload clears the topic.
/// store.set(Message::new(TopicName::new("home/hall/temp")?, "", QoS::AtMostOnce));
/// assert_eq!(store.len(), 1);
/// # Ok::<(), mqtt_codec::InvalidTopic>(())
/// ```
#[derive(Debug)]
pub struct RetainedStore {
    nodes: Vec<Node>,
    /// Freed nodes, reused before the arena grows.
    free: Vec<usize>,
    len: usize,
}

impl Default for RetainedStore {
    fn default() -> Self {
        RetainedStore {
            nodes: vec![Node::default()],
            free: Vec::new(),
            len: 0,
        }
    }
}

impl RetainedStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `message` as the retained message of its topic, replacing the previous one
    /// [MQTT-3.3.1-5]; an empty payload instead removes the topic's retained message and is not
    /// stored [MQTT-3.3.1-6] [MQTT-3.3.1-7] (5.0 numbering). Returns the message it replaced or
    /// removed.
    ///
    /// The message is stored as given; whether it was published with RETAIN 1 is the caller's
    /// check [MQTT-3.3.1-8]. Its Bytes may share the buffer it was decoded from: a broker that
    /// keeps many small retained messages from large reads may want to copy them first.
    pub fn set(&mut self, message: Message) -> Option<Message> {
        if message.payload.is_empty() {
            return self.remove(&message.topic);
        }
        // The empty topic of a Topic Alias PUBLISH is resolved by the session before routing.
        if message.topic.is_empty() {
            return None;
        }
        let id = self.node_or_insert(message.topic.as_str())?;
        let node = self.nodes.get_mut(id)?;
        let previous = node.message.replace(Box::new(message));
        if previous.is_none() {
            self.len += 1;
        }
        previous.map(|m| *m)
    }

    /// Removes the retained message of `topic` (for example once its Message Expiry Interval
    /// has passed).
    pub fn remove(&mut self, topic: &TopicName) -> Option<Message> {
        let mut path: Vec<(usize, &str)> = Vec::new();
        let mut id = ROOT;
        for level in topic.levels() {
            let child = *self.nodes.get(id)?.children.get(level)?;
            path.push((id, level));
            id = child;
        }
        let removed = self.nodes.get_mut(id)?.message.take()?;
        self.len = self.len.saturating_sub(1);
        for &(parent, level) in path.iter().rev() {
            if !self.nodes.get(id).is_some_and(Node::is_prunable) {
                break;
            }
            if let Some(parent) = self.nodes.get_mut(parent) {
                parent.children.remove(level);
            }
            if let Some(freed) = self.nodes.get_mut(id) {
                // Drop the emptied map's allocation now rather than when the node is reused.
                *freed = Node::default();
            }
            self.free.push(id);
            id = parent;
        }
        Some(*removed)
    }

    /// The retained message of `topic`.
    pub fn get(&self, topic: &TopicName) -> Option<&Message> {
        self.get_by_levels(topic.as_str())
    }

    fn get_by_levels(&self, topic: &str) -> Option<&Message> {
        let mut id = ROOT;
        for level in topic.split('/') {
            id = *self.nodes.get(id)?.children.get(level)?;
        }
        self.nodes.get(id)?.message.as_deref()
    }

    /// Appends to `out` the retained messages whose topics match `filter`, to send on
    /// SUBSCRIBE [MQTT-3.3.1-6] (3.1.1) / [MQTT-3.3.1-9] (5.0), in no particular order.
    ///
    /// A shared filter gets none: retained messages are sent when a *non-shared* subscription
    /// is made (spec 3.3.1.3), and Mosquitto sends none to `$share/` subscriptions either.
    /// Wildcards at the first level do not match topics beginning with `$` [MQTT-4.7.2-1].
    pub fn matching(&self, filter: &TopicFilter, out: &mut Vec<Message>) {
        if filter.is_shared() {
            return;
        }
        let filter = filter.filter();
        let mut stack: Vec<(usize, Option<usize>)> = vec![(ROOT, Some(0))];
        while let Some((id, start)) = stack.pop() {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            let Some(start) = start else {
                push_message(node, out);
                continue;
            };
            let rest = filter.get(start..).unwrap_or_default();
            let (level, next) = match rest.find('/') {
                Some(end) => (rest.get(..end).unwrap_or_default(), Some(start + end + 1)),
                None => (rest, None),
            };
            match level {
                "#" => {
                    // `sport/#` also matches `sport` (spec 4.7.1.2).
                    push_message(node, out);
                    self.push_descendants(id, out);
                }
                "+" => {
                    for (name, &child) in &node.children {
                        if id == ROOT && name.starts_with('$') {
                            continue;
                        }
                        stack.push((child, next));
                    }
                }
                literal => {
                    if let Some(&child) = node.children.get(literal) {
                        stack.push((child, next));
                    }
                }
            }
        }
    }

    /// Appends the messages of every node below `top`, skipping `$` topics when `top` is the
    /// root [MQTT-4.7.2-1].
    fn push_descendants(&self, top: usize, out: &mut Vec<Message>) {
        let mut stack = vec![top];
        while let Some(id) = stack.pop() {
            let Some(node) = self.nodes.get(id) else {
                continue;
            };
            if id != top {
                push_message(node, out);
            }
            for (name, &child) in &node.children {
                if id == ROOT && name.starts_with('$') {
                    continue;
                }
                stack.push(child);
            }
        }
    }

    /// Every retained message, in no particular order (persistence, `$SYS`).
    pub fn iter(&self) -> impl Iterator<Item = &Message> + '_ {
        self.nodes.iter().filter_map(|node| node.message.as_deref())
    }

    /// Number of retained messages (`$SYS/broker/retained messages/count`).
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn allocate(&mut self) -> usize {
        match self.free.pop() {
            Some(id) => id,
            None => {
                self.nodes.push(Node::default());
                self.nodes.len() - 1
            }
        }
    }

    fn node_or_insert(&mut self, topic: &str) -> Option<usize> {
        let mut id = ROOT;
        for level in topic.split('/') {
            let existing = self.nodes.get(id)?.children.get(level).copied();
            id = match existing {
                Some(child) => child,
                None => {
                    let child = self.allocate();
                    self.nodes.get_mut(id)?.children.insert(level.into(), child);
                    child
                }
            };
        }
        Some(id)
    }

    /// Number of nodes in use, the root included.
    #[cfg(test)]
    fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

fn push_message(node: &Node, out: &mut Vec<Message>) {
    if let Some(message) = &node.message {
        out.push(Message::clone(message));
    }
}

#[cfg(test)]
mod tests {
    use mqtt_codec::QoS;
    use proptest::prelude::*;

    use super::*;

    fn msg(topic: &str, payload: &str) -> Message {
        let mut m = Message::new(
            TopicName::new(topic).unwrap(),
            payload.to_owned(),
            QoS::AtMostOnce,
        );
        m.retain = true;
        m
    }

    fn topics(store: &RetainedStore, filter: &str) -> Vec<String> {
        let mut out = Vec::new();
        store.matching(&TopicFilter::new(filter).unwrap(), &mut out);
        let mut topics: Vec<String> = out.iter().map(|m| m.topic.to_string()).collect();
        topics.sort();
        topics
    }

    #[test]
    fn mqtt_3_3_1_5_set_replaces_the_topics_message() {
        // [MQTT-3.3.1-5] The Server MUST replace any existing retained message for this topic.
        let mut store = RetainedStore::new();
        assert_eq!(store.set(msg("a/b", "1")), None);
        let previous = store.set(msg("a/b", "2")).unwrap();
        assert_eq!(previous.payload, "1");
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.get(&TopicName::new("a/b").unwrap()).unwrap().payload,
            "2"
        );
        assert_eq!(store.get(&TopicName::new("a").unwrap()), None);
    }

    #[test]
    fn mqtt_3_3_1_6_empty_payload_clears_and_is_not_stored() {
        // [MQTT-3.3.1-6] / [MQTT-3.3.1-7] (5.0): a zero-byte retained message removes the
        // retained message of its topic and is never stored.
        let mut store = RetainedStore::new();
        store.set(msg("a/b/c", "1"));
        store.set(msg("a/x", "2"));
        assert_eq!(store.set(msg("a/b/c", "")).unwrap().payload, "1");
        assert_eq!(store.len(), 1);
        assert_eq!(store.get(&TopicName::new("a/b/c").unwrap()), None);
        assert_eq!(store.set(msg("never/set", "")), None);
        assert_eq!(store.len(), 1);
        assert_eq!(
            store.node_count(),
            3,
            "root, a, a/x: the b/c branch is pruned"
        );
        store.set(msg("a/x", ""));
        assert!(store.is_empty());
        assert_eq!(store.node_count(), 1);
        assert_eq!(store.iter().count(), 0);
    }

    #[test]
    fn matching_with_wildcards() {
        let mut store = RetainedStore::new();
        for t in [
            "sport",
            "sport/tennis",
            "sport/tennis/player1",
            "sport/tennis/player1/ranking",
            "sport/tennis/player2",
            "sport/golf/player1",
            "sport/",
            "/finance",
            "a//b",
            "Sport",
        ] {
            store.set(msg(t, "x"));
        }
        assert_eq!(
            topics(&store, "sport/tennis/player1"),
            ["sport/tennis/player1"]
        );
        assert_eq!(
            topics(&store, "sport/tennis/player1/#"),
            ["sport/tennis/player1", "sport/tennis/player1/ranking"]
        );
        assert_eq!(
            topics(&store, "sport/#"),
            [
                "sport",
                "sport/",
                "sport/golf/player1",
                "sport/tennis",
                "sport/tennis/player1",
                "sport/tennis/player1/ranking",
                "sport/tennis/player2",
            ]
        );
        assert_eq!(
            topics(&store, "sport/+"),
            ["sport/", "sport/tennis"],
            "'+' matches the empty level but not the parent"
        );
        assert_eq!(
            topics(&store, "sport/+/player1"),
            ["sport/golf/player1", "sport/tennis/player1"]
        );
        assert_eq!(
            topics(&store, "+/+"),
            ["/finance", "sport/", "sport/tennis"]
        );
        assert_eq!(topics(&store, "/+"), ["/finance"]);
        assert_eq!(topics(&store, "+"), ["Sport", "sport"]);
        assert_eq!(topics(&store, "a/+/b"), ["a//b"]);
        assert_eq!(topics(&store, "#").len(), 10);
        assert!(topics(&store, "SPORT/#").is_empty());
    }

    #[test]
    fn mqtt_4_7_2_1_dollar_topics_need_a_literal_first_level() {
        // [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with '$'.
        let mut store = RetainedStore::new();
        store.set(msg("$SYS/broker/uptime", "1"));
        store.set(msg("a/$b", "2"));
        assert_eq!(topics(&store, "#"), ["a/$b"]);
        assert!(topics(&store, "+/broker/uptime").is_empty());
        assert_eq!(topics(&store, "$SYS/#"), ["$SYS/broker/uptime"]);
        assert_eq!(topics(&store, "$SYS/+/uptime"), ["$SYS/broker/uptime"]);
        assert_eq!(topics(&store, "a/+"), ["a/$b"]);
    }

    #[test]
    fn shared_filters_get_no_retained_messages() {
        // Spec 3.3.1.3 sends retained messages when a non-shared subscription is made.
        let mut store = RetainedStore::new();
        store.set(msg("a/b", "1"));
        assert!(topics(&store, "$share/g/a/b").is_empty());
        assert!(topics(&store, "$share/g/#").is_empty());
    }

    #[test]
    fn matching_appends_clones() {
        let mut store = RetainedStore::new();
        store.set(msg("a", "1"));
        let mut out = vec![msg("z", "0")];
        store.matching(&TopicFilter::new("a").unwrap(), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], msg("a", "1"));
    }

    const TOPIC_LEVELS: &[&str] = &["a", "b", "$c", ""];
    const FILTER_LEVELS: &[&str] = &["a", "b", "$c", "", "+", "#"];

    proptest! {
        #[test]
        fn matching_agrees_with_topic_matches(
            topics in proptest::collection::vec(
                proptest::collection::vec(proptest::sample::select(TOPIC_LEVELS), 1..4), 0..20),
            filter in proptest::collection::vec(proptest::sample::select(FILTER_LEVELS), 1..4),
        ) {
            let mut filter = filter;
            if let Some(i) = filter.iter().position(|l| *l == "#") {
                filter.truncate(i + 1);
            }
            let Ok(filter) = TopicFilter::new(filter.join("/")) else {
                return Ok(());
            };
            let mut store = RetainedStore::new();
            let mut expected = std::collections::BTreeSet::new();
            for levels in topics {
                let Ok(topic) = TopicName::new(levels.join("/")) else {
                    continue;
                };
                if mqtt_codec::topic_matches(filter.as_bytes(), topic.as_bytes()) {
                    expected.insert(topic.to_string());
                }
                store.set(msg(&topic, "x"));
            }
            let mut out = Vec::new();
            store.matching(&filter, &mut out);
            let got: Vec<String> = out.iter().map(|m| m.topic.to_string()).collect();
            prop_assert_eq!(got.len(), expected.len(), "a topic reported twice");
            let got: std::collections::BTreeSet<String> = got.into_iter().collect();
            prop_assert_eq!(got, expected);
        }
    }
}
