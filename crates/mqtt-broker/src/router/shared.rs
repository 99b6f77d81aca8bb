//! Shared subscription groups (spec 4.8.2): `$share/{ShareName}/{filter}`.
//!
//! A group is identified by its ShareName *and* its filter, which is exactly the whole
//! `$share/...` string, so that string is the key that finds a group on SUBSCRIBE.
//! Groups live in a slab addressed by [`GroupId`]; the routing structures (exact map and trie)
//! keep the ids of the groups whose filter ends there, so matching a topic finds its groups by
//! the same walk that finds its non-shared subscribers.
//!
//! Each group has an atomic cursor for round-robin so that matching needs only `&self`: the
//! broker can match under a read lock from many connections at once. `Relaxed` is enough because
//! the cursor only spreads load; two publishers racing may pick the same member, which costs
//! fairness for one message and never correctness.
//!
//! An id carries a generation, so an id kept across a table change (the broker may release its
//! lock between matching and asking for another member) cannot name a newer group that reused
//! the slab entry.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use mqtt_codec::TopicFilter;

use super::Subscriber;

/// A handle on a shared subscription group, as reported in [`Matches`](super::Matches) and
/// accepted by [`SubscriptionTable::next_member`](super::SubscriptionTable::next_member).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId {
    index: usize,
    generation: u32,
}

#[derive(Debug)]
pub(super) struct Group<K> {
    /// The whole `$share/{ShareName}/{filter}`, as the member's index entries are keyed.
    pub(super) filter: TopicFilter,
    pub(super) members: Vec<Subscriber<K>>,
    /// Where the next round-robin pick starts; taken modulo the member count.
    cursor: AtomicUsize,
}

impl<K> Group<K> {
    /// The member at the cursor, moving the cursor past it.
    pub(super) fn pick(&self) -> Option<&Subscriber<K>> {
        let count = self.members.len();
        if count == 0 {
            return None;
        }
        let turn = self.cursor.fetch_add(1, Ordering::Relaxed);
        self.members.get(turn % count)
    }

    /// The member after position `after` (or at the cursor when `after` is unknown), moving the
    /// cursor past it so that the next pick does not return to a member that was skipped.
    pub(super) fn next_after(&self, after: Option<usize>) -> Option<(usize, &Subscriber<K>)> {
        let count = self.members.len();
        if count == 0 {
            return None;
        }
        let position = match after {
            Some(after) => (after + 1) % count,
            None => self.cursor.load(Ordering::Relaxed) % count,
        };
        self.cursor.store(position + 1, Ordering::Relaxed);
        Some((position, self.members.get(position)?))
    }
}

#[derive(Debug)]
struct GroupSlot<K> {
    generation: u32,
    group: Option<Group<K>>,
}

/// All shared subscription groups.
#[derive(Debug)]
pub(super) struct Groups<K> {
    slots: Vec<GroupSlot<K>>,
    free: Vec<usize>,
    by_filter: HashMap<Bytes, GroupId>,
}

impl<K> Default for Groups<K> {
    fn default() -> Self {
        Groups {
            slots: Vec::new(),
            free: Vec::new(),
            by_filter: HashMap::new(),
        }
    }
}

impl<K> Groups<K> {
    pub(super) fn get(&self, id: GroupId) -> Option<&Group<K>> {
        let slot = self.slots.get(id.index)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.group.as_ref()
    }

    fn get_mut(&mut self, id: GroupId) -> Option<&mut Group<K>> {
        let slot = self.slots.get_mut(id.index)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.group.as_mut()
    }

    /// The group of a `$share/...` filter.
    pub(super) fn find(&self, filter: &TopicFilter) -> Option<GroupId> {
        self.by_filter.get(filter.as_bytes().as_ref()).copied()
    }

    /// The members of the group of a `$share/...` filter.
    pub(super) fn members_mut(&mut self, filter: &TopicFilter) -> Option<&mut Vec<Subscriber<K>>> {
        let id = self.find(filter)?;
        Some(&mut self.get_mut(id)?.members)
    }

    /// Creates the (empty) group of a `$share/...` filter that has none.
    pub(super) fn create(&mut self, filter: TopicFilter) -> GroupId {
        let key = filter.as_bytes().clone();
        let group = Group {
            filter,
            members: Vec::new(),
            cursor: AtomicUsize::new(0),
        };
        let id = match self.free.pop() {
            Some(index) => match self.slots.get_mut(index) {
                Some(slot) => {
                    slot.group = Some(group);
                    GroupId {
                        index,
                        generation: slot.generation,
                    }
                }
                None => self.push(group),
            },
            None => self.push(group),
        };
        self.by_filter.insert(key, id);
        id
    }

    fn push(&mut self, group: Group<K>) -> GroupId {
        self.slots.push(GroupSlot {
            generation: 0,
            group: Some(group),
        });
        GroupId {
            index: self.slots.len() - 1,
            generation: 0,
        }
    }

    /// Removes a group; its id, and any copy of it, no longer names anything.
    pub(super) fn remove(&mut self, id: GroupId) -> Option<Group<K>> {
        let slot = self.slots.get_mut(id.index)?;
        if slot.generation != id.generation {
            return None;
        }
        let group = slot.group.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.by_filter.remove(group.filter.as_bytes().as_ref());
        Some(group)
    }
}
