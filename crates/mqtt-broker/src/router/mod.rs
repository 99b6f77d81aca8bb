//! Routing: who receives a PUBLISH, and which retained messages a new subscription gets.
//!
//! # Subscriptions
//!
//! [`SubscriptionTable`] keeps every subscription three ways, each serving one question:
//!
//! - **Exact filters** (no `+` or `#`) sit in a hash map keyed by the filter. Most subscriptions
//!   of a large deployment are per-device topics; one hash of the PUBLISH topic finds all of them,
//!   and they cost no trie nodes, which keeps the trie small and its hot part in cache.
//! - **Wildcard filters** sit in a trie keyed by topic level (`trie.rs`). Matching a topic walks
//!   only the literal child equal to each level, the `+` child and the `#` entries on its path, so
//!   its cost depends on the filters that share a prefix with the topic, not on the number of
//!   subscriptions: a million unrelated filters cost nothing but memory.
//! - **A per-client index** maps each client's filters to its subscription and to its position in
//!   the member list of that filter (`clients.rs`). It answers "is this a repeated
//!   subscription" (Retain Handling 1), lists a session's subscriptions, and lets
//!   `unsubscribe` and `remove_client` take a member out with a `swap_remove` instead of
//!   searching a list that may hold every client of the broker.
//!
//! A shared subscription `$share/{ShareName}/{filter}` (spec 4.8.2) makes the client a member of
//! a group keyed by ShareName and filter (`shared.rs`). The group hangs off the same exact-map
//! entry or trie node as the non-shared subscriptions to that filter, so one walk finds both.
//! Each group picks its member round-robin with an atomic cursor, so [`SubscriptionTable::matches`]
//! needs only `&self` and can run under a read lock.
//!
//! Matching fills a caller-owned [`Matches`] whose buffers, including the trie walk's stack, are
//! reused: no allocation per PUBLISH in steady state, and no recursion, which matters because a
//! filter may have 32,768 levels.
//!
//! # Retained messages
//!
//! [`RetainedStore`] is a trie of topics (`retained.rs`): the query is a filter, so exact filters
//! cost one lookup per level and wildcard filters visit only the branches they can match.

mod clients;
mod retained;
mod shared;
mod table;
mod trie;

pub use retained::RetainedStore;
pub use shared::GroupId;
pub use table::{
    Matches, SharedMatch, SubscribeOutcome, Subscriber, Subscription, SubscriptionTable, Target,
};
