//! The trie of wildcard topic filters, keyed by topic level.
//!
//! Nodes live in an arena (`Vec<Node>`) and refer to each other by index. Filters may have up to
//! 32,768 levels (`+/+/+/...` in 65,535 bytes), so anything recursive over the trie, including
//! the `Drop` of a `Box`-linked tree, could overflow a task's stack; the arena is freed in one
//! piece and every walk uses an explicit stack that the caller owns and reuses.
//!
//! Literal children are not kept in a map per node but in one map for the whole trie, keyed by
//! (parent, level). A `HashMap` costs 48 bytes even when empty and most nodes have zero or one
//! literal child, so one shared map keeps a node small; a lookup is still one hash of the level.
//! `+` and `#` are not levels in that map: every node has a direct `plus` child and a `multi` value
//! (the `#` filters ending below it), because every walk tries them at every node and they would
//! otherwise cost a hash lookup each.
//!
//! Most nodes are intermediate levels that no filter ends at, so a node's two values are boxed
//! and absent until used, and ids are `u32`: a node is 32 bytes, which matters when a million
//! filters such as `devices/{id}/cmd/+` each bring two or three nodes of their own.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// The index of a node in the arena.
type NodeId = u32;

/// The root node: the position before the first level. It is never freed.
const ROOT: NodeId = 0;

/// What a trie stores for one filter; a node whose values are both vacant can be pruned.
pub(super) trait Vacancy {
    /// True when nothing is stored.
    fn is_vacant(&self) -> bool;
}

#[derive(Debug, Default)]
struct Node<V> {
    /// The child for a `+` level.
    plus: Option<NodeId>,
    /// How many entries of [`Trie::edges`] have this node as parent. Leaves are the majority of
    /// the nodes, and the count lets a walk skip hashing the level when there is nothing to find.
    literal_children: u32,
    /// The value of the filter that ends at this node.
    here: Option<Box<V>>,
    /// The value of the filter made of this node's levels followed by `/#`, which also matches
    /// the parent level itself (spec 4.7.1.2: `sport/#` matches `sport`).
    multi: Option<Box<V>>,
}

impl<V> Node<V> {
    fn is_prunable(&self) -> bool {
        self.plus.is_none()
            && self.literal_children == 0
            && self.here.is_none()
            && self.multi.is_none()
    }

    /// The value slot for the last level of a filter: `multi` for `#`, else `here`.
    fn value_slot(&mut self, last_level: Option<&str>) -> &mut Option<Box<V>> {
        if last_level == Some("#") {
            &mut self.multi
        } else {
            &mut self.here
        }
    }
}

/// A literal edge of the trie, owned by [`Trie::edges`].
#[derive(Debug)]
struct Edge {
    parent: NodeId,
    level: Box<str>,
}

/// The borrowed form of an [`Edge`], so that a lookup by `(parent, &str)` needs no allocation:
/// `HashMap::get` only accepts a type the key can borrow as, and a tuple of borrowed parts is not
/// one, but a trait object implemented by both is.
trait EdgeKey {
    fn key(&self) -> (NodeId, &str);
}

impl EdgeKey for Edge {
    fn key(&self) -> (NodeId, &str) {
        (self.parent, &self.level)
    }
}

impl EdgeKey for (NodeId, &str) {
    fn key(&self) -> (NodeId, &str) {
        *self
    }
}

impl<'a> Borrow<dyn EdgeKey + 'a> for Edge {
    fn borrow(&self) -> &(dyn EdgeKey + 'a) {
        self
    }
}

// `Hash` and `Eq` of `Edge` and of `dyn EdgeKey` must agree, so both go through `key()`.
impl Hash for dyn EdgeKey + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for dyn EdgeKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for dyn EdgeKey + '_ {}

impl Hash for Edge {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl PartialEq for Edge {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Edge {}

/// A position of a walk over a topic: a node, and the byte offset in the topic of the next level
/// to consume, or `None` once every level is consumed. `Some(topic.len())` is an empty last level
/// (the topic ends with `/`), which is not the same as no level at all.
pub(super) type WalkState = (NodeId, Option<usize>);

/// Wildcard topic filters and a value of type `V` for each.
#[derive(Debug)]
pub(super) struct Trie<V> {
    nodes: Vec<Node<V>>,
    /// Freed nodes, reused before the arena grows.
    free: Vec<NodeId>,
    edges: HashMap<Edge, NodeId>,
}

impl<V: Default + Vacancy> Default for Trie<V> {
    fn default() -> Self {
        Trie {
            nodes: vec![Node::default()],
            free: Vec::new(),
            edges: HashMap::new(),
        }
    }
}

impl<V: Default + Vacancy> Trie<V> {
    fn node(&self, id: NodeId) -> Option<&Node<V>> {
        self.nodes.get(usize::try_from(id).ok()?)
    }

    fn node_mut(&mut self, id: NodeId) -> Option<&mut Node<V>> {
        self.nodes.get_mut(usize::try_from(id).ok()?)
    }

    fn child(&self, parent: NodeId, level: &str) -> Option<NodeId> {
        let node = self.node(parent)?;
        if level == "+" {
            return node.plus;
        }
        if node.literal_children == 0 {
            return None;
        }
        self.edges.get(&(parent, level) as &dyn EdgeKey).copied()
    }

    /// A fresh node; `None` past 2^32 nodes, far beyond any memory.
    fn allocate(&mut self) -> Option<NodeId> {
        if let Some(id) = self.free.pop() {
            return Some(id);
        }
        let id = NodeId::try_from(self.nodes.len()).ok()?;
        self.nodes.push(Node::default());
        Some(id)
    }

    fn child_or_insert(&mut self, parent: NodeId, level: &str) -> Option<NodeId> {
        if let Some(child) = self.child(parent, level) {
            return Some(child);
        }
        let child = self.allocate()?;
        let parent_node = self.node_mut(parent)?;
        if level == "+" {
            parent_node.plus = Some(child);
        } else {
            parent_node.literal_children += 1;
            let edge = Edge {
                parent,
                level: level.into(),
            };
            self.edges.insert(edge, child);
        }
        Some(child)
    }

    /// The node where `filter` ends ('#' ends at its parent), and the filter's last level.
    fn find<'f>(&self, filter: &'f str) -> Option<(NodeId, Option<&'f str>)> {
        let mut node = ROOT;
        let mut last = None;
        for level in filter.split('/') {
            last = Some(level);
            if level == "#" {
                // '#' is always the last level (the filter was validated).
                break;
            }
            node = self.child(node, level)?;
        }
        Some((node, last))
    }

    /// The value of `filter` (without any `$share/{ShareName}/` prefix), if it has one.
    pub(super) fn get_mut(&mut self, filter: &str) -> Option<&mut V> {
        let (node, last) = self.find(filter)?;
        self.node_mut(node)?.value_slot(last).as_deref_mut()
    }

    /// The value of `filter`, creating it and its nodes as needed. `None` only if the arena is
    /// inconsistent, which the trie's own operations never make it.
    pub(super) fn get_or_insert(&mut self, filter: &str) -> Option<&mut V> {
        let mut node = ROOT;
        let mut last = None;
        for level in filter.split('/') {
            last = Some(level);
            if level == "#" {
                break;
            }
            node = self.child_or_insert(node, level)?;
        }
        let slot = self.node_mut(node)?.value_slot(last);
        Some(slot.get_or_insert_with(Box::default))
    }

    /// Drops the value of `filter` if it is vacant, then frees the nodes that no longer lead to
    /// any value, from the deepest up.
    ///
    /// Called after a value became vacant, so that a trie where filters come and go (client ids
    /// in topics are common) does not keep growing.
    pub(super) fn prune(&mut self, filter: &str) {
        let mut path: Vec<(NodeId, &str)> = Vec::new();
        let mut node = ROOT;
        let mut last = None;
        for level in filter.split('/') {
            last = Some(level);
            if level == "#" {
                break;
            }
            let Some(child) = self.child(node, level) else {
                return;
            };
            path.push((node, level));
            node = child;
        }
        let Some(end) = self.node_mut(node) else {
            return;
        };
        let value = end.value_slot(last);
        if value.as_deref().is_some_and(V::is_vacant) {
            *value = None;
        }
        for &(parent, level) in path.iter().rev() {
            if !self.node(node).is_some_and(Node::is_prunable) {
                return;
            }
            let Some(parent_node) = self.node_mut(parent) else {
                return;
            };
            if level == "+" {
                parent_node.plus = None;
            } else {
                parent_node.literal_children = parent_node.literal_children.saturating_sub(1);
                self.edges.remove(&(parent, level) as &dyn EdgeKey);
            }
            // A prunable node owns no allocation, so it goes back to the free list as is.
            self.free.push(node);
            node = parent;
        }
    }

    /// Calls `found` with the value of every filter that matches `topic` (spec 4.7), each once.
    ///
    /// The walk keeps, per level, at most two branches alive per node (the literal child equal
    /// to the level and the `+` child), so its cost depends on the filters that share a prefix
    /// with the topic, not on how many filters the trie holds. A node is reached by a single
    /// level count, hence visited at most once. `stack` is scratch space, kept by the caller so
    /// that a steady state allocates nothing.
    pub(super) fn for_each_match<'s>(
        &'s self,
        topic: &str,
        stack: &mut Vec<WalkState>,
        mut found: impl FnMut(&'s V),
    ) {
        // [MQTT-4.7.2-1] A filter starting with a wildcard does not match a topic starting
        // with '$': at the root, neither '+' nor '#' is followed for such topics.
        let dollar = topic.starts_with('$');
        stack.clear();
        stack.push((ROOT, Some(0)));
        while let Some((id, start)) = stack.pop() {
            let Some(node) = self.node(id) else {
                continue;
            };
            let wildcards = !(dollar && id == ROOT);
            if wildcards {
                if let Some(value) = node.multi.as_deref() {
                    found(value);
                }
            }
            let Some(start) = start else {
                if let Some(value) = node.here.as_deref() {
                    found(value);
                }
                continue;
            };
            let rest = topic.get(start..).unwrap_or_default();
            let (level, next) = match rest.find('/') {
                Some(end) => (rest.get(..end).unwrap_or_default(), Some(start + end + 1)),
                None => (rest, None),
            };
            if wildcards {
                if let Some(plus) = node.plus {
                    stack.push((plus, next));
                }
            }
            if node.literal_children > 0 {
                if let Some(&child) = self.edges.get(&(id, level) as &dyn EdgeKey) {
                    stack.push((child, next));
                }
            }
        }
    }

    /// Number of nodes in use, the root included (for tests and memory estimates).
    #[cfg(test)]
    pub(super) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Vacancy for Vec<u32> {
        fn is_vacant(&self) -> bool {
            self.is_empty()
        }
    }

    fn matching(trie: &Trie<Vec<u32>>, topic: &str) -> Vec<u32> {
        let mut out = Vec::new();
        trie.for_each_match(topic, &mut Vec::new(), |v| out.extend_from_slice(v));
        out.sort_unstable();
        out
    }

    #[test]
    fn nodes_stay_small() {
        // Intermediate nodes are most of the trie; their size is most of its memory.
        assert_eq!(std::mem::size_of::<Node<[u64; 8]>>(), 32);
    }

    #[test]
    fn walk_follows_literals_plus_and_multi() {
        let mut trie: Trie<Vec<u32>> = Trie::default();
        for (i, f) in ["a/+/c", "a/#", "#", "+/b/+", "a//c", "+/"]
            .into_iter()
            .enumerate()
        {
            trie.get_or_insert(f).unwrap().push(i as u32);
        }
        assert_eq!(matching(&trie, "a/b/c"), [0, 1, 2, 3]);
        assert_eq!(matching(&trie, "a//c"), [0, 1, 2, 4]);
        assert_eq!(matching(&trie, "a"), [1, 2]);
        assert_eq!(matching(&trie, "x/"), [2, 5]);
        assert_eq!(matching(&trie, "$x/b/c"), Vec::<u32>::new());
    }

    #[test]
    fn prune_frees_every_vacant_node_and_keeps_shared_prefixes() {
        let mut trie: Trie<Vec<u32>> = Trie::default();
        trie.get_or_insert("a/b/+/d").unwrap().push(1);
        trie.get_or_insert("a/b/#").unwrap().push(2);
        assert_eq!(trie.node_count(), 5);
        trie.get_mut("a/b/+/d").unwrap().clear();
        trie.prune("a/b/+/d");
        assert_eq!(trie.node_count(), 3, "a and b are still used by a/b/#");
        trie.get_mut("a/b/#").unwrap().clear();
        trie.prune("a/b/#");
        assert_eq!(trie.node_count(), 1);
        assert!(trie.edges.is_empty());
        // Freed nodes are reused.
        trie.get_or_insert("x/+").unwrap().push(3);
        assert_eq!(trie.nodes.len(), 5);
        assert_eq!(matching(&trie, "x/y"), [3]);
    }

    #[test]
    fn deep_filters_do_not_recurse() {
        // 30,000 levels: a recursive walk or drop would overflow the 2 MiB test thread stack.
        let filter = vec!["+"; 30_000].join("/");
        let topic = "/".repeat(29_999);
        let mut trie: Trie<Vec<u32>> = Trie::default();
        trie.get_or_insert(&filter).unwrap().push(7);
        assert_eq!(matching(&trie, &topic), [7]);
        trie.get_mut(&filter).unwrap().clear();
        trie.prune(&filter);
        assert_eq!(trie.node_count(), 1);
    }
}
