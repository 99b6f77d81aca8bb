//! The per-client index of subscriptions: filter → subscription and position in its slot.
//!
//! The index answers "does this client already have this filter" (a repeated SUBSCRIBE replaces
//! the subscription, spec 3.8.4) and lists a client's subscriptions for `remove_client`,
//! persistence and session resume, without searching the routing structures. Each entry also
//! records where the client sits in the member list of its filter, so removing it is a
//! `swap_remove` rather than a search through what may be a million subscribers of one topic.
//!
//! Most clients hold a handful of subscriptions; a `HashMap` would allocate four 64-byte buckets
//! for the first one, so a short list searched linearly is used until it grows past
//! [`LINEAR_MAX`] entries (bridges and gateways can hold thousands), and a map after that.

use std::collections::HashMap;

use mqtt_codec::TopicFilter;

use super::Subscription;

/// Above this many subscriptions, a client's index switches from a list to a map.
const LINEAR_MAX: usize = 16;

/// One subscription of a client.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) subscription: Subscription,
    /// Index of the client in the member list of the filter (see `Routes::members_mut`).
    pub(super) position: usize,
}

/// The subscriptions of one client.
#[derive(Debug)]
pub(super) enum ClientSubscriptions {
    /// Few subscriptions, searched linearly.
    Few(Vec<(TopicFilter, Entry)>),
    /// Many subscriptions. Boxed so that the common case, the list, keeps the entry of every
    /// client in the table's client map at 24 bytes.
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer: a HashMap inline would double the size of every client's entry"
    )]
    Many(Box<HashMap<TopicFilter, Entry>>),
}

impl Default for ClientSubscriptions {
    fn default() -> Self {
        ClientSubscriptions::Few(Vec::new())
    }
}

impl ClientSubscriptions {
    pub(super) fn get(&self, filter: &TopicFilter) -> Option<&Entry> {
        match self {
            ClientSubscriptions::Few(list) => {
                list.iter().find(|(f, _)| f == filter).map(|(_, e)| e)
            }
            ClientSubscriptions::Many(map) => map.get(filter),
        }
    }

    pub(super) fn get_mut(&mut self, filter: &TopicFilter) -> Option<&mut Entry> {
        match self {
            ClientSubscriptions::Few(list) => {
                list.iter_mut().find(|(f, _)| f == filter).map(|(_, e)| e)
            }
            ClientSubscriptions::Many(map) => map.get_mut(filter),
        }
    }

    /// Adds a filter the client does not have yet.
    pub(super) fn insert(&mut self, filter: TopicFilter, entry: Entry) {
        match self {
            ClientSubscriptions::Few(list) if list.len() < LINEAR_MAX => {
                push_compact(list, (filter, entry));
            }
            ClientSubscriptions::Few(list) => {
                let mut map: HashMap<TopicFilter, Entry> = list.drain(..).collect();
                map.insert(filter, entry);
                *self = ClientSubscriptions::Many(Box::new(map));
            }
            ClientSubscriptions::Many(map) => {
                map.insert(filter, entry);
            }
        }
    }

    pub(super) fn remove(&mut self, filter: &TopicFilter) -> Option<Entry> {
        match self {
            ClientSubscriptions::Few(list) => {
                let index = list.iter().position(|(f, _)| f == filter)?;
                Some(list.swap_remove(index).1)
            }
            ClientSubscriptions::Many(map) => map.remove(filter),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            ClientSubscriptions::Few(list) => list.is_empty(),
            ClientSubscriptions::Many(map) => map.is_empty(),
        }
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&TopicFilter, &Entry)> {
        let (few, many) = match self {
            ClientSubscriptions::Few(list) => (Some(list.iter()), None),
            ClientSubscriptions::Many(map) => (None, Some(map.iter())),
        };
        few.into_iter()
            .flatten()
            .map(|(f, e)| (f, e))
            .chain(many.into_iter().flatten())
    }

    pub(super) fn into_vec(self) -> Vec<(TopicFilter, Entry)> {
        match self {
            ClientSubscriptions::Few(list) => list,
            ClientSubscriptions::Many(map) => map.into_iter().collect(),
        }
    }
}

/// Pushes onto a vector that is usually tiny: the first few elements grow it one at a time
/// instead of jumping to a capacity of four, since a million one-subscriber filters or
/// one-subscription clients would otherwise waste three quarters of their allocation.
pub(super) fn push_compact<T>(list: &mut Vec<T>, item: T) {
    if list.len() == list.capacity() && list.len() < 4 {
        list.reserve_exact(1);
    }
    list.push(item);
}
