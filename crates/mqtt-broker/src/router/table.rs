//! The subscription table: who receives a PUBLISH to a given topic.

use std::collections::HashMap;
use std::hash::Hash;
use std::num::NonZeroU32;

use mqtt_codec::{SubscriptionOptions, TopicFilter, TopicName};

use super::clients::{push_compact, ClientSubscriptions, Entry};
use super::shared::{Group, GroupId, Groups};
use super::trie::{Trie, Vacancy, WalkState};

/// What a SUBSCRIBE establishes for one topic filter: its options and its Subscription
/// Identifier (MQTT 5, spec 3.8.2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Subscription {
    /// Maximum QoS, No Local, Retain As Published and Retain Handling.
    pub options: SubscriptionOptions,
    /// The Subscription Identifier to send with matching messages, if the client gave one.
    pub identifier: Option<NonZeroU32>,
}

/// A client and the subscription through which a topic matched it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber<K> {
    /// The broker's key of the client.
    pub client: K,
    /// The matching subscription.
    pub subscription: Subscription,
}

/// The member chosen in a shared subscription group that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedMatch<K> {
    /// The group, for [`SubscriptionTable::next_member`] if the member cannot take the message.
    pub group: GroupId,
    /// The chosen member.
    pub subscriber: Subscriber<K>,
}

/// One delivery target of [`Matches::iter`].
#[derive(Debug, PartialEq, Eq)]
pub struct Target<'a, K> {
    /// The client.
    pub client: &'a K,
    /// The subscription that matched.
    pub subscription: &'a Subscription,
    /// The shared subscription group the client was chosen in; `None` for a non-shared
    /// subscription.
    pub group: Option<GroupId>,
}

// Not derived: a target only holds references, so it is `Copy` whatever `K` is.
impl<K> Clone for Target<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Target<'_, K> {}

/// Whether [`SubscriptionTable::subscribe`] added a subscription or replaced one.
///
/// A repeated subscription to the same filter replaces the previous one [MQTT-3.8.4-3]; for
/// Retain Handling 1 the broker sends retained messages only when the subscription is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscribeOutcome {
    /// The client had no subscription to this exact filter.
    Created,
    /// The client had one, with these options and identifier, which the new one replaced.
    Replaced(Subscription),
}

impl SubscribeOutcome {
    /// True when the subscription did not exist before.
    pub fn is_new(&self) -> bool {
        matches!(self, SubscribeOutcome::Created)
    }
}

/// The result of [`SubscriptionTable::matches`], reused from one PUBLISH to the next so that
/// matching allocates nothing once its buffers have grown to the usual fan-out.
#[derive(Debug)]
pub struct Matches<K> {
    subscribers: Vec<Subscriber<K>>,
    /// How many filters contributed `subscribers`: a client appears at most once per filter,
    /// so with one filter there is nothing to merge.
    filters: usize,
    shared: Vec<SharedMatch<K>>,
    /// Scratch space of the trie walk, kept for its capacity.
    walk: Vec<WalkState>,
}

impl<K> Default for Matches<K> {
    fn default() -> Self {
        Matches {
            subscribers: Vec::new(),
            filters: 0,
            shared: Vec::new(),
            walk: Vec::new(),
        }
    }
}

impl<K> Matches<K> {
    /// An empty result.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every non-shared subscription that matched. A client with several matching
    /// subscriptions appears once per subscription; merging them (highest QoS, all
    /// Subscription Identifiers, spec 3.3.4) is the broker's choice [MQTT-3.3.4-2].
    pub fn subscribers(&self) -> &[Subscriber<K>] {
        &self.subscribers
    }

    /// Whether a client may appear more than once in [`Matches::subscribers`]: only when
    /// several of the filters that matched have subscribers.
    pub fn may_repeat_clients(&self) -> bool {
        self.filters > 1
    }

    /// One member of each shared subscription group that matched, chosen round-robin.
    pub fn shared(&self) -> &[SharedMatch<K>] {
        &self.shared
    }

    /// Every delivery target: the non-shared subscribers, then the chosen member of each
    /// shared group, for a broker that merges per client over both.
    pub fn iter(&self) -> impl Iterator<Item = Target<'_, K>> + '_ {
        let plain = self.subscribers.iter().map(|s| Target {
            client: &s.client,
            subscription: &s.subscription,
            group: None,
        });
        let shared = self.shared.iter().map(|m| Target {
            client: &m.subscriber.client,
            subscription: &m.subscriber.subscription,
            group: Some(m.group),
        });
        plain.chain(shared)
    }

    /// True when nobody subscribed to the topic.
    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.shared.is_empty()
    }

    /// Forgets the result, keeping the buffers.
    pub fn clear(&mut self) {
        self.subscribers.clear();
        self.filters = 0;
        self.shared.clear();
    }
}

/// The subscriptions that share one filter (without any `$share/` prefix).
#[derive(Debug)]
pub(super) struct Slot<K> {
    subscribers: Vec<Subscriber<K>>,
    /// Shared subscription groups on this filter, one per ShareName. Boxed because few
    /// filters have any, and the slot of every exact filter is a hash map entry.
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer: 8 bytes in every slot instead of 24 for a Vec most never use"
    )]
    groups: Option<Box<Vec<GroupId>>>,
}

impl<K> Slot<K> {
    fn groups(&self) -> &[GroupId] {
        self.groups.as_deref().map_or(&[], Vec::as_slice)
    }

    fn add_group(&mut self, id: GroupId) {
        push_compact(self.groups.get_or_insert_with(Box::default), id);
    }

    fn remove_group(&mut self, id: GroupId) {
        let Some(groups) = self.groups.as_deref_mut() else {
            return;
        };
        if let Some(index) = groups.iter().position(|g| *g == id) {
            groups.swap_remove(index);
        }
        if groups.is_empty() {
            self.groups = None;
        }
    }
}

impl<K> Default for Slot<K> {
    fn default() -> Self {
        Slot {
            subscribers: Vec::new(),
            groups: None,
        }
    }
}

impl<K> Vacancy for Slot<K> {
    fn is_vacant(&self) -> bool {
        self.subscribers.is_empty() && self.groups.is_none()
    }
}

/// Where topics go: the parts of the table that matching reads.
#[derive(Debug)]
struct Routes<K> {
    /// Wildcard-free filters: one hash of the topic finds them all, and the per-device topics
    /// that make up most of a large deployment cost no trie nodes. Keyed by `Box<str>` rather
    /// than the filter's `Bytes`: 16 bytes smaller in every bucket, for the same heap.
    exact: HashMap<Box<str>, Slot<K>>,
    /// Filters with `+` or `#`.
    trie: Trie<Slot<K>>,
    groups: Groups<K>,
}

impl<K> Default for Routes<K> {
    fn default() -> Self {
        Routes {
            exact: HashMap::new(),
            trie: Trie::default(),
            groups: Groups::default(),
        }
    }
}

impl<K> Routes<K> {
    /// The slot of the filter proper (a shared filter's slot lists its group).
    fn slot_mut(&mut self, filter: &TopicFilter) -> Option<&mut Slot<K>> {
        if filter.has_wildcards() {
            self.trie.get_mut(filter.filter())
        } else {
            self.exact.get_mut(filter.filter())
        }
    }

    fn slot_or_insert(&mut self, filter: &TopicFilter) -> Option<&mut Slot<K>> {
        if filter.has_wildcards() {
            self.trie.get_or_insert(filter.filter())
        } else {
            let key = filter.filter();
            // Looked up before inserting, so that an existing filter costs no key allocation.
            if !self.exact.contains_key(key) {
                self.exact.insert(key.into(), Slot::default());
            }
            self.exact.get_mut(key)
        }
    }

    /// The member list that holds the subscriptions to `filter`: a slot's subscribers, or a
    /// shared group's members. Positions in the client index refer to this list.
    fn members_mut(&mut self, filter: &TopicFilter) -> Option<&mut Vec<Subscriber<K>>> {
        if filter.is_shared() {
            self.groups.members_mut(filter)
        } else {
            Some(&mut self.slot_mut(filter)?.subscribers)
        }
    }

    /// Like [`Routes::members_mut`], creating the slot or group. `None` only if the trie's arena
    /// were inconsistent.
    fn members_or_insert(&mut self, filter: &TopicFilter) -> Option<&mut Vec<Subscriber<K>>> {
        if !filter.is_shared() {
            return Some(&mut self.slot_or_insert(filter)?.subscribers);
        }
        if self.groups.find(filter).is_none() {
            let id = self.groups.create(filter.clone());
            self.slot_or_insert(filter)?.add_group(id);
        }
        self.groups.members_mut(filter)
    }

    /// Drops the group and slot of `filter` once nobody subscribes to it any more.
    fn remove_if_vacant(&mut self, filter: &TopicFilter) {
        if filter.is_shared() {
            let Some(id) = self.groups.find(filter) else {
                return;
            };
            if !self.groups.get(id).is_some_and(|g| g.members.is_empty()) {
                return;
            }
            self.groups.remove(id);
            if let Some(slot) = self.slot_mut(filter) {
                slot.remove_group(id);
            }
        }
        if filter.has_wildcards() {
            self.trie.prune(filter.filter());
        } else {
            let key = filter.filter();
            if self.exact.get(key).is_some_and(Slot::is_vacant) {
                self.exact.remove(key);
            }
        }
    }
}

/// All subscriptions of all clients, indexed for matching topics (spec 4.7) and for per-client
/// changes. `K` is the broker's key for a client (a client identifier, a session handle).
///
/// ```
/// use mqtt_broker::router::{Matches, Subscription, SubscriptionTable};
/// use mqtt_codec::{TopicFilter, TopicName};
///
/// let mut table = SubscriptionTable::new();
/// let sub = Subscription::default();
/// table.subscribe("alice", &TopicFilter::new("sport/#")?, sub);
/// table.subscribe("bob", &TopicFilter::new("sport/tennis/+")?, sub);
/// table.subscribe("carol", &TopicFilter::new("$share/g/sport/+/player1")?, sub);
///
/// let mut out = Matches::new();
/// table.matches(&TopicName::new("sport/tennis/player1")?, &mut out);
/// assert_eq!(out.subscribers().len(), 2);
/// assert_eq!(out.shared()[0].subscriber.client, "carol");
/// # Ok::<(), mqtt_codec::InvalidTopic>(())
/// ```
#[derive(Debug)]
pub struct SubscriptionTable<K> {
    routes: Routes<K>,
    clients: HashMap<K, ClientSubscriptions>,
    len: usize,
    shared_len: usize,
}

impl<K> Default for SubscriptionTable<K> {
    fn default() -> Self {
        SubscriptionTable {
            routes: Routes::default(),
            clients: HashMap::new(),
            len: 0,
            shared_len: 0,
        }
    }
}

impl<K: Clone + Eq + Hash> SubscriptionTable<K> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Subscribes `client` to `filter`, replacing its previous subscription to the same filter
    /// (same string, including any `$share/{ShareName}/`) [MQTT-3.8.4-3].
    ///
    /// A shared filter makes the client a member of the group of that ShareName and filter
    /// (spec 4.8.2). Checking that shared subscriptions do not set No Local [MQTT-3.8.3-4] is
    /// the decoder's job.
    pub fn subscribe(
        &mut self,
        client: K,
        filter: &TopicFilter,
        subscription: Subscription,
    ) -> SubscribeOutcome {
        if let Some(entry) = self
            .clients
            .get_mut(&client)
            .and_then(|subs| subs.get_mut(filter))
        {
            let previous = std::mem::replace(&mut entry.subscription, subscription);
            // Replaced in place: the client keeps its position, and a shared group its turn.
            if let Some(member) = self
                .routes
                .members_mut(filter)
                .and_then(|members| members.get_mut(entry.position))
            {
                member.subscription = subscription;
            }
            return SubscribeOutcome::Replaced(previous);
        }
        // A decoded filter is a slice of the packet buffer it came in; keeping it would keep the
        // whole buffer alive for as long as the subscription lasts.
        let filter = TopicFilter::new(filter.as_str()).unwrap_or_else(|_| filter.clone());
        let Some(members) = self.routes.members_or_insert(&filter) else {
            tracing::error!(%filter, "subscription table is inconsistent; subscription dropped");
            return SubscribeOutcome::Created;
        };
        let position = members.len();
        push_compact(
            members,
            Subscriber {
                client: client.clone(),
                subscription,
            },
        );
        self.len += 1;
        if filter.is_shared() {
            self.shared_len += 1;
        }
        self.clients.entry(client).or_default().insert(
            filter,
            Entry {
                subscription,
                position,
            },
        );
        SubscribeOutcome::Created
    }

    /// Removes the subscription of `client` to exactly `filter`; false if there was none.
    pub fn unsubscribe(&mut self, client: &K, filter: &TopicFilter) -> bool {
        let Some(subs) = self.clients.get_mut(client) else {
            return false;
        };
        let Some(entry) = subs.remove(filter) else {
            return false;
        };
        if subs.is_empty() {
            self.clients.remove(client);
        }
        self.detach(filter, entry.position);
        true
    }

    /// Removes every subscription of `client` (session ended), in time proportional to the
    /// number of its subscriptions.
    pub fn remove_client(&mut self, client: &K) {
        let Some(subs) = self.clients.remove(client) else {
            return;
        };
        for (filter, entry) in subs.into_vec() {
            self.detach(&filter, entry.position);
        }
    }

    /// Takes the subscription at `position` out of the member list of `filter`.
    fn detach(&mut self, filter: &TopicFilter, position: usize) {
        self.len = self.len.saturating_sub(1);
        if filter.is_shared() {
            self.shared_len = self.shared_len.saturating_sub(1);
        }
        let Some(members) = self.routes.members_mut(filter) else {
            return;
        };
        if position >= members.len() {
            return;
        }
        members.swap_remove(position);
        // The last member moved into the hole; a client appears once per member list, so it
        // is another client, whose index must follow.
        if let Some(moved) = members.get(position) {
            if let Some(entry) = self
                .clients
                .get_mut(&moved.client)
                .and_then(|subs| subs.get_mut(filter))
            {
                entry.position = position;
            }
        }
        if members.is_empty() {
            self.routes.remove_if_vacant(filter);
        } else if members.len() < members.capacity() / 4 {
            // A topic that had a million subscribers should not keep their memory forever.
            members.shrink_to(members.capacity() / 2);
        }
    }

    /// The subscriptions of `client`, in no particular order (for persistence and for
    /// resuming a session).
    pub fn subscriptions_of(
        &self,
        client: &K,
    ) -> impl Iterator<Item = (&TopicFilter, &Subscription)> + '_ {
        self.clients
            .get(client)
            .into_iter()
            .flat_map(ClientSubscriptions::iter)
            .map(|(filter, entry)| (filter, &entry.subscription))
    }

    /// The clients that have at least one subscription.
    pub fn clients(&self) -> impl Iterator<Item = &K> + '_ {
        self.clients.keys()
    }

    /// Fills `out` with who receives a PUBLISH to `topic` (spec 4.7): every matching non-shared
    /// subscription, and one member of every matching shared subscription group, the members of
    /// a group taking turns (spec 4.8.2). `out` is cleared first.
    ///
    /// Wildcards at the first level do not match topics beginning with `$` [MQTT-4.7.2-1].
    /// Takes `&self`: the round-robin cursors are atomic.
    pub fn matches(&self, topic: &TopicName, out: &mut Matches<K>) {
        out.clear();
        let Matches {
            subscribers,
            filters,
            shared,
            walk,
        } = out;
        let groups = &self.routes.groups;
        let mut collect = |slot: &Slot<K>| {
            if !slot.subscribers.is_empty() {
                *filters += 1;
            }
            subscribers.extend_from_slice(&slot.subscribers);
            for &group in slot.groups() {
                if let Some(member) = groups.get(group).and_then(Group::pick) {
                    shared.push(SharedMatch {
                        group,
                        subscriber: member.clone(),
                    });
                }
            }
        };
        if let Some(slot) = self.routes.exact.get(topic.as_str()) {
            collect(slot);
        }
        self.routes
            .trie
            .for_each_match(topic.as_str(), walk, &mut collect);
    }

    /// Another member of a shared subscription group, for when the one chosen (`skip`) cannot
    /// take the message (offline, or its Receive Maximum is reached): the member after `skip`
    /// in the group's turn order. The group's next turn starts after the returned member, so
    /// the members that took over are not chosen again straight away.
    ///
    /// `None` when the group no longer exists or `skip` is its only member. Calling it again
    /// with the returned member as `skip` goes round the group; the broker stops when it comes
    /// back to the first one chosen.
    pub fn next_member(&self, group: GroupId, skip: &K) -> Option<Subscriber<K>> {
        let group = self.routes.groups.get(group)?;
        let after = self
            .clients
            .get(skip)
            .and_then(|subs| subs.get(&group.filter))
            .map(|entry| entry.position);
        let (position, member) = group.next_after(after)?;
        if Some(position) == after {
            return None;
        }
        Some(member.clone())
    }

    /// The group of a shared filter (`$share/{ShareName}/{filter}`), if anyone subscribes to
    /// it. Group handles do not outlive the process; the filter names the group in a file.
    pub fn group_of(&self, filter: &TopicFilter) -> Option<GroupId> {
        self.routes.groups.find(filter)
    }

    /// The shared filter (`$share/{ShareName}/{filter}`) of a group that still exists.
    pub fn group_filter(&self, group: GroupId) -> Option<&TopicFilter> {
        self.routes.groups.get(group).map(|g| &g.filter)
    }

    /// Number of subscriptions, shared ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Number of shared subscriptions (memberships of shared subscription groups).
    pub fn shared_len(&self) -> usize {
        self.shared_len
    }

    /// True when there is no subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use bytes::Bytes;
    use mqtt_codec::QoS;
    use proptest::prelude::*;

    use super::*;

    fn filter(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    fn topic(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    fn sub(qos: QoS, id: u32) -> Subscription {
        Subscription {
            options: SubscriptionOptions::with_qos(qos),
            identifier: NonZeroU32::new(id),
        }
    }

    /// The non-shared matches as sorted (client, identifier) pairs.
    fn matched<K: Clone + Eq + Hash + Ord>(
        table: &SubscriptionTable<K>,
        t: &str,
    ) -> Vec<(K, Option<NonZeroU32>)> {
        let mut out = Matches::new();
        table.matches(&topic(t), &mut out);
        let mut v: Vec<_> = out
            .subscribers()
            .iter()
            .map(|s| (s.client.clone(), s.subscription.identifier))
            .collect();
        v.sort();
        v
    }

    fn clients(table: &SubscriptionTable<&'static str>, t: &str) -> Vec<&'static str> {
        matched(table, t).into_iter().map(|(c, _)| c).collect()
    }

    #[test]
    fn spec_4_7_examples_route_through_the_table() {
        // Non-normative examples of spec 4.7.1.1 to 4.7.1.3 and 4.7.3, plus empty levels.
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/ranking",
                true,
            ),
            (
                "sport/tennis/player1/#",
                "sport/tennis/player1/score/wimbledon",
                true,
            ),
            ("sport/#", "sport", true),
            ("#", "sport/tennis", true),
            ("sport/tennis#", "", false), // invalid filter, skipped below
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("+/tennis/#", "sport/tennis/player1", true),
            ("sport/+/player1", "sport/tennis/player1", true),
            ("ACCOUNTS", "Accounts", false),
            ("Accounts payable", "Accounts payable", true),
            ("/", "/", true),
            ("/", "//", false),
            ("a//b", "a//b", true),
            ("a/+/b", "a//b", true),
            ("a/b", "a/b/", false),
            ("a/b/", "a/b/", true),
            ("a/b/+", "a/b/", true),
            ("a/b/#", "a/b/", true),
        ];
        for (f, t, expected) in cases {
            let Ok(f) = TopicFilter::new(f) else {
                continue;
            };
            let mut table = SubscriptionTable::new();
            table.subscribe("c", &f, Subscription::default());
            assert_eq!(!clients(&table, t).is_empty(), expected, "{f} vs {t}");
            // The same through a shared group.
            let mut table = SubscriptionTable::new();
            table.subscribe(
                "c",
                &filter(&format!("$share/g/{f}")),
                Subscription::default(),
            );
            let mut out = Matches::new();
            table.matches(&topic(t), &mut out);
            assert_eq!(
                out.shared().len(),
                usize::from(expected),
                "$share/g/{f} vs {t}"
            );
        }
    }

    #[test]
    fn mqtt_4_7_2_1_wildcards_do_not_match_dollar_topics() {
        // [MQTT-4.7.2-1] The Server MUST NOT match Topic Filters starting with a wildcard
        // character (# or +) with Topic Names beginning with a $ character.
        let mut table = SubscriptionTable::new();
        for (client, f) in [
            ("hash", "#"),
            ("plus", "+/monitor/Clients"),
            ("sys", "$SYS/#"),
            ("sys-plus", "$SYS/monitor/+"),
            ("exact", "$SYS/monitor/Clients"),
            ("shared", "$share/g/#"),
        ] {
            table.subscribe(client, &filter(f), Subscription::default());
        }
        assert_eq!(
            clients(&table, "$SYS/monitor/Clients"),
            ["exact", "sys", "sys-plus"]
        );
        let mut out = Matches::new();
        table.matches(&topic("$SYS/monitor/Clients"), &mut out);
        assert!(out.shared().is_empty());
        table.matches(&topic("$SYS"), &mut out);
        assert_eq!(out.iter().map(|t| *t.client).collect::<Vec<_>>(), ["sys"]);
        table.matches(&topic("SYS"), &mut out);
        let mut targets: Vec<_> = out.iter().map(|t| (*t.client, t.group.is_some())).collect();
        targets.sort_unstable();
        assert_eq!(targets, [("hash", false), ("shared", true)]);
        // '$' elsewhere than the first character is an ordinary character.
        assert_eq!(clients(&table, "a/$SYS"), ["hash"]);
        assert_eq!(clients(&table, "x/monitor/Clients"), ["hash", "plus"]);
    }

    #[test]
    fn mqtt_3_3_4_2_overlapping_subscriptions_appear_once_each() {
        // [MQTT-3.3.4-2] / [MQTT-3.3.4-3]: the broker merges overlapping subscriptions, so the
        // table reports each one with its own options and identifier.
        let mut table = SubscriptionTable::new();
        table.subscribe("a", &filter("a/b"), sub(QoS::AtMostOnce, 1));
        table.subscribe("a", &filter("a/+"), sub(QoS::AtLeastOnce, 2));
        table.subscribe("a", &filter("a/#"), sub(QoS::ExactlyOnce, 3));
        table.subscribe("a", &filter("#"), sub(QoS::AtMostOnce, 4));
        table.subscribe("b", &filter("a/b"), sub(QoS::AtMostOnce, 5));
        let mut out = Matches::new();
        table.matches(&topic("a/b"), &mut out);
        let mut got: Vec<_> = out
            .subscribers()
            .iter()
            .map(|s| (s.client, s.subscription))
            .collect();
        got.sort_by_key(|(c, s)| (*c, s.identifier));
        assert_eq!(
            got,
            [
                ("a", sub(QoS::AtMostOnce, 1)),
                ("a", sub(QoS::AtLeastOnce, 2)),
                ("a", sub(QoS::ExactlyOnce, 3)),
                ("a", sub(QoS::AtMostOnce, 4)),
                ("b", sub(QoS::AtMostOnce, 5)),
            ]
        );
        assert_eq!(table.len(), 5);
    }

    #[test]
    fn mqtt_3_8_4_3_resubscribing_replaces_the_subscription() {
        // [MQTT-3.8.4-3] A SUBSCRIBE whose filter is identical to an existing subscription's
        // replaces it; the outcome tells Retain Handling 1 that it is not new.
        let mut table = SubscriptionTable::new();
        let f = filter("a/+");
        assert_eq!(
            table.subscribe("a", &f, sub(QoS::AtMostOnce, 1)),
            SubscribeOutcome::Created
        );
        table.subscribe("b", &f, sub(QoS::AtMostOnce, 2));
        let outcome = table.subscribe("a", &f, sub(QoS::ExactlyOnce, 7));
        assert_eq!(outcome, SubscribeOutcome::Replaced(sub(QoS::AtMostOnce, 1)));
        assert!(!outcome.is_new());
        assert_eq!(table.len(), 2);
        assert_eq!(
            matched(&table, "a/x"),
            [("a", NonZeroU32::new(7)), ("b", NonZeroU32::new(2))]
        );
        let subs: Vec<_> = table.subscriptions_of(&"a").collect();
        assert_eq!(subs, [(&f, &sub(QoS::ExactlyOnce, 7))]);
        // Shared subscriptions are replaced the same way, and keep their place in the group.
        let s = filter("$share/g/a/+");
        assert!(table.subscribe("a", &s, sub(QoS::AtMostOnce, 8)).is_new());
        assert_eq!(
            table.subscribe("a", &s, sub(QoS::AtLeastOnce, 9)),
            SubscribeOutcome::Replaced(sub(QoS::AtMostOnce, 8))
        );
        let mut out = Matches::new();
        table.matches(&topic("a/x"), &mut out);
        assert_eq!(out.shared().len(), 1);
        assert_eq!(
            out.shared()[0].subscriber.subscription,
            sub(QoS::AtLeastOnce, 9)
        );
        assert_eq!((table.len(), table.shared_len()), (3, 1));
        // A different ShareName, or no share, is a different subscription.
        assert!(table
            .subscribe("a", &filter("$share/h/a/+"), sub(QoS::AtMostOnce, 10))
            .is_new());
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn unsubscribe_removes_exactly_that_filter_and_frees_the_routes() {
        let mut table = SubscriptionTable::new();
        table.subscribe("a", &filter("a/b"), sub(QoS::AtMostOnce, 1));
        table.subscribe("a", &filter("a/+/c/#"), sub(QoS::AtMostOnce, 2));
        table.subscribe("a", &filter("$share/g/a/+/c/#"), sub(QoS::AtMostOnce, 3));
        table.subscribe("b", &filter("a/b"), sub(QoS::AtMostOnce, 4));
        assert!(!table.unsubscribe(&"a", &filter("a/c")));
        assert!(!table.unsubscribe(&"c", &filter("a/b")));
        assert!(table.unsubscribe(&"a", &filter("a/b")));
        assert!(!table.unsubscribe(&"a", &filter("a/b")));
        assert_eq!(clients(&table, "a/b"), ["b"]);
        assert!(table.unsubscribe(&"b", &filter("a/b")));
        assert!(table.routes.exact.is_empty());
        assert!(table.unsubscribe(&"a", &filter("a/+/c/#")));
        assert_eq!(
            table.routes.trie.node_count(),
            4,
            "the shared group still uses a/+/c"
        );
        let mut out = Matches::new();
        table.matches(&topic("a/x/c/d"), &mut out);
        assert!(out.subscribers().is_empty());
        let group = out.shared()[0].group;
        assert!(table.unsubscribe(&"a", &filter("$share/g/a/+/c/#")));
        assert_eq!(table.routes.trie.node_count(), 1);
        assert!(table.is_empty());
        assert_eq!(table.clients().count(), 0);
        assert_eq!(table.next_member(group, &"a"), None, "the group is gone");
        table.matches(&topic("a/x/c/d"), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn remove_client_keeps_the_other_members_indexed() {
        let mut table = SubscriptionTable::new();
        let f = filter("popular");
        let w = filter("w/+");
        for client in 0..100u32 {
            table.subscribe(client, &f, sub(QoS::AtMostOnce, client + 1));
            table.subscribe(client, &w, sub(QoS::AtMostOnce, client + 1));
            table.subscribe(
                client,
                &filter(&format!("own/{client}")),
                Subscription::default(),
            );
        }
        assert_eq!(table.len(), 300);
        // Remove every third client: each removal moves another client into the hole.
        for client in (0..100u32).step_by(3) {
            table.remove_client(&client);
        }
        table.remove_client(&1_000);
        let remaining: Vec<u32> = (0..100).filter(|c| c % 3 != 0).collect();
        assert_eq!(table.len(), remaining.len() * 3);
        let got: Vec<u32> = matched(&table, "popular")
            .into_iter()
            .map(|(c, _)| c)
            .collect();
        assert_eq!(got, remaining);
        // The moved clients' positions were updated: they unsubscribe and resubscribe correctly.
        for &client in &remaining {
            assert!(table.unsubscribe(&client, &f));
            assert_eq!(
                table.subscribe(client, &w, sub(QoS::AtLeastOnce, 1)),
                SubscribeOutcome::Replaced(sub(QoS::AtMostOnce, client + 1))
            );
        }
        assert!(matched(&table, "popular").is_empty());
        let mut out = Matches::new();
        table.matches(&topic("w/x"), &mut out);
        assert!(out
            .subscribers()
            .iter()
            .all(|s| s.subscription == sub(QoS::AtLeastOnce, 1)));
        assert_eq!(out.subscribers().len(), remaining.len());
        for &client in &remaining {
            table.remove_client(&client);
        }
        assert!(table.is_empty());
        assert!(table.routes.exact.is_empty());
        assert_eq!(table.routes.trie.node_count(), 1);
    }

    #[test]
    fn clients_with_many_subscriptions_switch_to_a_map() {
        let mut table = SubscriptionTable::new();
        for i in 0..100u32 {
            table.subscribe(
                "big",
                &filter(&format!("t/{i}")),
                sub(QoS::AtMostOnce, i + 1),
            );
        }
        assert!(matches!(
            table.clients.get("big"),
            Some(ClientSubscriptions::Many(_))
        ));
        assert_eq!(table.subscriptions_of(&"big").count(), 100);
        assert!(!table
            .subscribe("big", &filter("t/5"), Subscription::default())
            .is_new());
        assert!(table.unsubscribe(&"big", &filter("t/6")));
        assert_eq!(matched(&table, "t/7"), [("big", NonZeroU32::new(8))]);
        assert!(matched(&table, "t/6").is_empty());
        table.remove_client(&"big");
        assert!(table.is_empty());
    }

    /// How many times each member of each group was chosen, by (group filter, client).
    fn shared_counts(
        table: &SubscriptionTable<&'static str>,
        t: &str,
        publishes: usize,
    ) -> BTreeMap<(u32, &'static str), usize> {
        let mut counts = BTreeMap::new();
        let mut out = Matches::new();
        for _ in 0..publishes {
            table.matches(&topic(t), &mut out);
            let mut groups = std::collections::HashSet::new();
            for m in out.shared() {
                assert!(groups.insert(m.group), "one member per group and PUBLISH");
                let group = m.subscriber.subscription.identifier.unwrap().get();
                *counts.entry((group, m.subscriber.client)).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn mqtt_4_8_2_shared_groups_take_turns_fairly() {
        // Spec 4.8.2: each message goes to one member of each matching group. Groups are keyed
        // by ShareName and filter; each group's members take turns independently.
        let mut table = SubscriptionTable::new();
        for c in ["a", "b", "c"] {
            table.subscribe(c, &filter("$share/g1/jobs/+"), sub(QoS::AtLeastOnce, 1));
        }
        for c in ["a", "d"] {
            table.subscribe(c, &filter("$share/g2/jobs/+"), sub(QoS::AtLeastOnce, 2));
        }
        for c in ["e", "f", "g", "h"] {
            table.subscribe(c, &filter("$share/g1/jobs/print"), sub(QoS::AtLeastOnce, 3));
        }
        table.subscribe("z", &filter("$share/g1/other"), sub(QoS::AtLeastOnce, 4));
        table.subscribe("n", &filter("jobs/+"), sub(QoS::AtLeastOnce, 5));
        assert_eq!((table.len(), table.shared_len()), (11, 10));
        let counts = shared_counts(&table, "jobs/print", 120);
        let expected: BTreeMap<_, _> = [
            ((1, "a"), 40),
            ((1, "b"), 40),
            ((1, "c"), 40),
            ((2, "a"), 60),
            ((2, "d"), 60),
            ((3, "e"), 30),
            ((3, "f"), 30),
            ((3, "g"), 30),
            ((3, "h"), 30),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts, expected);
        // A member leaving keeps the remaining ones fair.
        table.unsubscribe(&"b", &filter("$share/g1/jobs/+"));
        let counts = shared_counts(&table, "jobs/x", 100);
        assert_eq!(counts.get(&(1, "a")), Some(&50));
        assert_eq!(counts.get(&(1, "c")), Some(&50));
        assert_eq!(counts.get(&(1, "b")), None);
    }

    #[test]
    fn shared_groups_are_found_by_their_filter() {
        let mut t = SubscriptionTable::new();
        let shared = filter("$share/g/a/+");
        assert_eq!(t.group_of(&shared), None);
        t.subscribe("a", &shared, Subscription::default());
        let id = t.group_of(&shared).expect("the group exists");
        assert_eq!(t.group_filter(id), Some(&shared));
        assert_eq!(t.group_of(&filter("$share/h/a/+")), None);
        t.unsubscribe(&"a", &shared);
        assert_eq!(t.group_filter(id), None, "gone with its last member");
    }

    #[test]
    fn next_member_skips_round_the_group() {
        let mut table = SubscriptionTable::new();
        let f = filter("$share/g/t");
        for c in ["a", "b", "c"] {
            table.subscribe(c, &f, Subscription::default());
        }
        let mut out = Matches::new();
        table.matches(&topic("t"), &mut out);
        let first = out.shared()[0].clone();
        let group = first.group;
        // Go round from the chosen member: every other member once, then back to it.
        let mut seen = vec![first.subscriber.client];
        let mut current = first.subscriber.client;
        loop {
            let next = table.next_member(group, &current).unwrap();
            if next.client == first.subscriber.client {
                break;
            }
            seen.push(next.client);
            current = next.client;
        }
        seen.sort_unstable();
        assert_eq!(seen, ["a", "b", "c"]);

        // After a skip, the next turn starts after the member that took over.
        let mut table = SubscriptionTable::new();
        for c in ["a", "b", "c"] {
            table.subscribe(c, &f, Subscription::default());
        }
        let mut picks = Vec::new();
        table.matches(&topic("t"), &mut out);
        let chosen = out.shared()[0].clone();
        picks.push(chosen.subscriber.client);
        let took_over = table
            .next_member(chosen.group, &chosen.subscriber.client)
            .unwrap();
        picks.push(took_over.client);
        table.matches(&topic("t"), &mut out);
        picks.push(out.shared()[0].subscriber.client);
        assert_eq!(picks, ["a", "b", "c"]);

        // A client that is not a member: the member whose turn it is.
        assert!(table.next_member(group, &"stranger").is_some());
        // A group of one has nobody else.
        let mut table = SubscriptionTable::new();
        table.subscribe("a", &f, Subscription::default());
        table.matches(&topic("t"), &mut out);
        let group = out.shared()[0].group;
        assert_eq!(table.next_member(group, &"a"), None);
        // An id of a removed group does not name a newer group that reuses its slot.
        table.remove_client(&"a");
        table.subscribe("b", &filter("$share/h/t"), Subscription::default());
        assert_eq!(table.next_member(group, &"x"), None);
        table.matches(&topic("t"), &mut out);
        assert_ne!(out.shared()[0].group, group);
    }

    #[test]
    fn matches_reuses_its_buffers() {
        let mut table = SubscriptionTable::new();
        for c in 0..50u32 {
            table.subscribe(c, &filter("a/+/c"), Subscription::default());
            table.subscribe(c, &filter("a/b/c"), Subscription::default());
            table.subscribe(
                c,
                &filter(&format!("$share/g{}/a/#", c % 5)),
                Subscription::default(),
            );
        }
        let mut out = Matches::new();
        table.matches(&topic("a/b/c"), &mut out);
        assert_eq!((out.subscribers().len(), out.shared().len()), (100, 5));
        let capacities = (
            out.subscribers.capacity(),
            out.shared.capacity(),
            out.walk.capacity(),
        );
        for _ in 0..100 {
            table.matches(&topic("a/b/c"), &mut out);
        }
        assert_eq!(
            (
                out.subscribers.capacity(),
                out.shared.capacity(),
                out.walk.capacity()
            ),
            capacities
        );
    }

    #[test]
    fn decoded_filters_are_copied_out_of_the_packet_buffer() {
        let packet = Bytes::from(b"xxxxa/b/cyyyy".to_vec());
        let f =
            TopicFilter::try_from(std::str::from_utf8(&packet[4..9]).unwrap().to_owned()).unwrap();
        let mut table = SubscriptionTable::new();
        table.subscribe(1u8, &f, Subscription::default());
        let (stored, _) = table.subscriptions_of(&1).next().unwrap();
        assert_eq!(stored, &f);
        assert_ne!(stored.as_bytes().as_ptr(), f.as_bytes().as_ptr());
    }

    // --- Property test against a naive model -------------------------------------------------

    const TOPIC_LEVELS: &[&str] = &["a", "b", "$c", ""];
    const FILTER_LEVELS: &[&str] = &["a", "b", "$c", "", "+", "#"];

    fn levels(alphabet: &'static [&'static str]) -> impl Strategy<Value = String> {
        proptest::collection::vec(proptest::sample::select(alphabet), 1..4).prop_map(|mut v| {
            if let Some(i) = v.iter().position(|l| *l == "#") {
                v.truncate(i + 1);
            }
            v.join("/")
        })
    }

    fn any_filter() -> impl Strategy<Value = TopicFilter> {
        (levels(FILTER_LEVELS), proptest::option::of(0..2u8)).prop_filter_map(
            "valid filter",
            |(f, share)| match share {
                Some(g) => TopicFilter::new(format!("$share/g{g}/{f}")).ok(),
                None => TopicFilter::new(f).ok(),
            },
        )
    }

    fn any_topic() -> impl Strategy<Value = TopicName> {
        levels(TOPIC_LEVELS).prop_filter_map("valid topic", |t| TopicName::new(t).ok())
    }

    #[derive(Debug, Clone)]
    enum Op {
        Subscribe(u8, TopicFilter),
        Unsubscribe(u8, TopicFilter),
        RemoveClient(u8),
        Match(TopicName),
    }

    fn any_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..6u8, any_filter()).prop_map(|(c, f)| Op::Subscribe(c, f)),
            2 => (0..6u8, any_filter()).prop_map(|(c, f)| Op::Unsubscribe(c, f)),
            1 => (0..6u8).prop_map(Op::RemoveClient),
            3 => any_topic().prop_map(Op::Match),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn table_agrees_with_a_naive_model(ops in proptest::collection::vec(any_op(), 1..60)) {
            let mut table = SubscriptionTable::new();
            // (client, whole filter) -> subscription; identifiers are unique per SUBSCRIBE.
            let mut model: BTreeMap<(u8, TopicFilter), Subscription> = BTreeMap::new();
            let mut out = Matches::new();
            for (i, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Subscribe(c, f) => {
                        let s = sub(QoS::AtMostOnce, u32::try_from(i).unwrap() + 1);
                        let outcome = table.subscribe(c, &f, s);
                        let previous = model.insert((c, f), s);
                        prop_assert_eq!(outcome.is_new(), previous.is_none());
                        if let (SubscribeOutcome::Replaced(p), Some(q)) = (outcome, previous) {
                            prop_assert_eq!(p, q);
                        }
                    }
                    Op::Unsubscribe(c, f) => {
                        let existed = model.remove(&(c, f.clone())).is_some();
                        prop_assert_eq!(table.unsubscribe(&c, &f), existed);
                    }
                    Op::RemoveClient(c) => {
                        table.remove_client(&c);
                        model.retain(|(client, _), _| *client != c);
                    }
                    Op::Match(t) => {
                        table.matches(&t, &mut out);
                        let matching = |f: &TopicFilter| {
                            mqtt_codec::topic_matches(f.filter().as_bytes(), t.as_bytes())
                        };
                        let mut expected: Vec<_> = model
                            .iter()
                            .filter(|((_, f), _)| !f.is_shared() && matching(f))
                            .map(|((c, _), s)| (*c, s.identifier))
                            .collect();
                        expected.sort();
                        let mut got: Vec<_> = out
                            .subscribers()
                            .iter()
                            .map(|s| (s.client, s.subscription.identifier))
                            .collect();
                        got.sort();
                        prop_assert_eq!(got, expected);
                        // One member of each matching group, found by its unique identifier.
                        let expected_groups: BTreeSet<&TopicFilter> = model
                            .keys()
                            .filter(|(_, f)| f.is_shared() && matching(f))
                            .map(|(_, f)| f)
                            .collect();
                        let mut got_groups = BTreeSet::new();
                        for m in out.shared() {
                            let found = model.iter().find(|((c, _), s)| {
                                *c == m.subscriber.client && **s == m.subscriber.subscription
                            });
                            let Some(((_, f), _)) = found else {
                                return Err(TestCaseError::fail("a shared match that is no member"));
                            };
                            prop_assert!(got_groups.insert(f), "two members of one group");
                        }
                        prop_assert_eq!(got_groups, expected_groups);
                    }
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert_eq!(
                    table.shared_len(),
                    model.keys().filter(|(_, f)| f.is_shared()).count()
                );
            }
            for c in 0..6u8 {
                let mut got: Vec<_> = table.subscriptions_of(&c).map(|(f, s)| (f.clone(), *s)).collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                let expected: Vec<_> = model
                    .iter()
                    .filter(|((client, _), _)| *client == c)
                    .map(|((_, f), s)| (f.clone(), *s))
                    .collect();
                prop_assert_eq!(got, expected);
            }
            // Emptying the table frees every route.
            for c in 0..6u8 {
                table.remove_client(&c);
            }
            prop_assert!(table.is_empty());
            prop_assert!(table.routes.exact.is_empty());
            prop_assert_eq!(table.routes.trie.node_count(), 1);
            prop_assert!(table.routes.groups.find(&TopicFilter::new("$share/g0/a").unwrap()).is_none());
        }
    }
}
