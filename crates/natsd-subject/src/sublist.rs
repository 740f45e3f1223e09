//! The subscription index: a trie of subject tokens with `*` and `>` branches.
//!
//! Matching a literal subject walks the trie once per token, following the literal child, the
//! `*` child and collecting the `>` child. Results are cached per subject in a bounded shared
//! cache; every insert or removal drops the cached results it could change and bumps a
//! generation counter, so per-connection caches in front of this one know when to clear.
//!
//! Removal costs O(1) however many subscriptions share a subject: a node's members sit in
//! a vector (matches copy it out in one go) with a position index once there are more than
//! a few. A closing connection's subscriptions leave in batches ([`Sublist::remove_batch`]),
//! one lock and one cache sweep per batch.

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use thiserror::Error;

use crate::validate::{matches, tokens, FULL_WILDCARD, SINGLE_WILDCARD};

/// Cached results kept before a sweep.
const CACHE_MAX: usize = 1024;
/// Cached results left after a sweep.
const CACHE_SWEEP_TO: usize = 256;
/// Members a node holds before it keeps an index of their positions.
const INDEX_FROM: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SublistError {
    #[error("invalid subject")]
    InvalidSubject,
}

/// The members of one queue group that a subject matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueGroup<T> {
    pub name: Box<[u8]>,
    pub members: Vec<T>,
}

/// What a subject matched: plain subscriptions, and queue subscriptions by group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SublistResult<T> {
    pub plain: Vec<T>,
    pub queues: Vec<QueueGroup<T>>,
}

impl<T> Default for SublistResult<T> {
    fn default() -> Self {
        SublistResult {
            plain: Vec::new(),
            queues: Vec::new(),
        }
    }
}

impl<T> SublistResult<T> {
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queues.is_empty()
    }
}

impl<T: Clone> SublistResult<T> {
    fn add_node(&mut self, node: &Node<T>) {
        self.plain.extend_from_slice(&node.plain.items);
        for (name, members) in &node.queues {
            match self.queues.iter_mut().find(|g| &g.name == name) {
                Some(existing) => existing.members.extend_from_slice(&members.items),
                None => self.queues.push(QueueGroup {
                    name: name.clone(),
                    members: members.items.clone(),
                }),
            }
        }
    }
}

/// The subscriptions of one node (or one queue group of it). Each item is held at most
/// once; past [`INDEX_FROM`] items their positions are indexed, so that removing one does
/// not scan the others.
#[derive(Debug)]
struct Members<T> {
    items: Vec<T>,
    positions: Option<foldhash::HashMap<T, usize>>,
}

impl<T> Default for Members<T> {
    fn default() -> Self {
        Members {
            items: Vec::new(),
            positions: None,
        }
    }
}

impl<T: Clone + Eq + Hash> Members<T> {
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn push(&mut self, item: T) {
        if let Some(positions) = &mut self.positions {
            positions.insert(item.clone(), self.items.len());
        }
        self.items.push(item);
        if self.positions.is_none() && self.items.len() > INDEX_FROM {
            let positions = self.items.iter().cloned().zip(0..).collect();
            self.positions = Some(positions);
        }
    }

    fn remove(&mut self, item: &T) -> bool {
        let found = match &mut self.positions {
            Some(positions) => positions.remove(item),
            None => self.items.iter().position(|x| x == item),
        };
        let Some(index) = found else {
            return false;
        };
        self.items.swap_remove(index);
        if let (Some(positions), Some(moved)) = (&mut self.positions, self.items.get(index)) {
            positions.insert(moved.clone(), index);
        }
        if self.items.is_empty() {
            self.positions = None;
        }
        true
    }
}

#[derive(Debug)]
struct Level<T> {
    literal: foldhash::HashMap<Box<[u8]>, Node<T>>,
    single: Option<Box<Node<T>>>,
    full: Option<Box<Node<T>>>,
}

impl<T> Default for Level<T> {
    fn default() -> Self {
        Level {
            literal: foldhash::HashMap::default(),
            single: None,
            full: None,
        }
    }
}

impl<T> Level<T> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.single.is_none() && self.full.is_none()
    }

    fn child_mut(&mut self, token: &[u8]) -> &mut Node<T> {
        if token == SINGLE_WILDCARD {
            self.single.get_or_insert_with(Box::default)
        } else if token == FULL_WILDCARD {
            self.full.get_or_insert_with(Box::default)
        } else {
            self.literal.entry(token.into()).or_default()
        }
    }
}

#[derive(Debug)]
struct Node<T> {
    next: Option<Box<Level<T>>>,
    plain: Members<T>,
    /// Queue groups by name.
    queues: Vec<(Box<[u8]>, Members<T>)>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            next: None,
            plain: Members::default(),
            queues: Vec::new(),
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.plain.items.is_empty() && self.queues.is_empty() && self.next.is_none()
    }
}

/// Match results by literal subject.
type ResultCache<T> = foldhash::HashMap<Box<[u8]>, Arc<SublistResult<T>>>;

/// The subscription index of one account.
#[derive(Debug)]
pub struct Sublist<T> {
    root: RwLock<Level<T>>,
    cache: Option<Mutex<ResultCache<T>>>,
    generation: AtomicU64,
    count: AtomicUsize,
    inserts: AtomicU64,
    removes: AtomicU64,
    lookups: AtomicU64,
    cache_hits: AtomicU64,
}

/// Counters of a [`Sublist`], the figures nats-server reports in `/subsz`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SublistStats {
    pub subscriptions: usize,
    pub cached_results: usize,
    pub inserts: u64,
    pub removes: u64,
    pub matches: u64,
    pub cache_hit_rate: f64,
    /// Largest and mean number of subscriptions among the cached results.
    pub max_fanout: usize,
    pub avg_fanout: f64,
}

impl<T: Clone + Eq + Hash> Default for Sublist<T> {
    fn default() -> Self {
        Sublist::new(true)
    }
}

impl<T: Clone + Eq + Hash> Sublist<T> {
    /// A new index; `cache` enables the shared result cache.
    pub fn new(cache: bool) -> Self {
        Sublist {
            root: RwLock::new(Level::default()),
            cache: cache.then(|| Mutex::new(foldhash::HashMap::default())),
            generation: AtomicU64::new(0),
            count: AtomicUsize::new(0),
            inserts: AtomicU64::new(0),
            removes: AtomicU64::new(0),
            lookups: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> SublistStats {
        let (cached_results, max_fanout, total_fanout) = match &self.cache {
            Some(cache) => {
                let cache = cache.lock();
                let sizes = cache.values().map(|r| r.plain.len() + r.queues.len());
                let (max, total) = sizes.fold((0, 0), |(max, total), n| (max.max(n), total + n));
                (cache.len(), max, total)
            }
            None => (0, 0, 0),
        };
        let matches = self.lookups.load(Ordering::Relaxed);
        let hits = self.cache_hits.load(Ordering::Relaxed);
        SublistStats {
            subscriptions: self.count(),
            cached_results,
            inserts: self.inserts.load(Ordering::Relaxed),
            removes: self.removes.load(Ordering::Relaxed),
            matches,
            cache_hit_rate: if matches == 0 {
                0.0
            } else {
                hits as f64 / matches as f64
            },
            max_fanout,
            avg_fanout: if cached_results == 0 {
                0.0
            } else {
                total_fanout as f64 / cached_results as f64
            },
        }
    }

    /// Changes whenever the set of subscriptions changes.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Number of subscriptions held.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Number of cached match results.
    pub fn cache_len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.lock().len())
    }

    /// Adds `item` under `subject` (a queue member when `queue` is given); an item is added
    /// at most once under one subject and queue. Subjects with empty tokens or tokens after
    /// `>` are refused, as nats-server refuses them.
    pub fn insert(
        &self,
        subject: &[u8],
        queue: Option<&[u8]>,
        item: T,
    ) -> Result<(), SublistError> {
        if !insertable(subject) {
            return Err(SublistError::InvalidSubject);
        }
        let mut root = self.root.write();
        let mut level = &mut *root;
        let mut token_iter = tokens(subject).peekable();
        let node = loop {
            let token = token_iter.next().ok_or(SublistError::InvalidSubject)?;
            let node = level.child_mut(token);
            if token_iter.peek().is_none() {
                break node;
            }
            level = node.next.get_or_insert_with(Box::default);
        };
        match queue {
            None => node.plain.push(item),
            Some(name) => match node.queues.iter_mut().find(|(n, _)| &**n == name) {
                Some((_, members)) => members.push(item),
                None => {
                    let mut members = Members::default();
                    members.push(item);
                    node.queues.push((name.into(), members));
                }
            },
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.inserts.fetch_add(1, Ordering::Relaxed);
        self.changed(subject);
        Ok(())
    }

    /// Removes one `item` stored under `subject` and `queue`; returns whether it was there.
    pub fn remove(&self, subject: &[u8], queue: Option<&[u8]>, item: &T) -> bool {
        let mut root = self.root.write();
        let token_list: Vec<&[u8]> = tokens(subject).collect();
        let removed = remove_from_level(&mut root, &token_list, queue, item);
        if removed {
            self.count.fetch_sub(1, Ordering::Relaxed);
            self.removes.fetch_add(1, Ordering::Relaxed);
            self.changed(subject);
        }
        removed
    }

    /// Removes each `(subject, queue, item)` under one lock and drops the cached results
    /// once, rather than sweeping the cache per item; returns, in order, whether each was
    /// there. Callers with very many items give them in batches, so that matching in
    /// between is never held up long.
    pub fn remove_batch<'a>(
        &self,
        batch: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>, &'a T)>,
    ) -> Vec<bool>
    where
        T: 'a,
    {
        let mut root = self.root.write();
        let removed: Vec<bool> = batch
            .into_iter()
            .map(|(subject, queue, item)| {
                let token_list: Vec<&[u8]> = tokens(subject).collect();
                remove_from_level(&mut root, &token_list, queue, item)
            })
            .collect();
        let count = removed.iter().filter(|&&r| r).count();
        if count > 0 {
            self.count.fetch_sub(count, Ordering::Relaxed);
            self.removes.fetch_add(count as u64, Ordering::Relaxed);
            if let Some(cache) = &self.cache {
                cache.lock().clear();
            }
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        removed
    }

    /// Everything that a message published to the literal `subject` reaches.
    pub fn matches(&self, subject: &[u8]) -> Arc<SublistResult<T>> {
        let root = self.root.read();
        self.lookups.fetch_add(1, Ordering::Relaxed);
        if let Some(cache) = &self.cache {
            if let Some(hit) = cache.lock().get(subject) {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Arc::clone(hit);
            }
        }
        let token_list: Vec<&[u8]> = tokens(subject).collect();
        let mut result = SublistResult::default();
        if token_list.iter().all(|t| !t.is_empty()) {
            match_level(&root, &token_list, &mut result);
        }
        let result = Arc::new(result);
        if let Some(cache) = &self.cache {
            // Cached while the read lock is held, so no insert or removal can slip in between
            // computing the result and caching it.
            let mut cache = cache.lock();
            cache.insert(subject.into(), Arc::clone(&result));
            if cache.len() > CACHE_MAX {
                let excess: Vec<Box<[u8]>> = cache
                    .keys()
                    .take(cache.len() - CACHE_SWEEP_TO)
                    .cloned()
                    .collect();
                for key in excess {
                    cache.remove(&key);
                }
            }
        }
        result
    }

    fn changed(&self, pattern: &[u8]) {
        if let Some(cache) = &self.cache {
            cache.lock().retain(|subject, _| !matches(pattern, subject));
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }
}

fn insertable(subject: &[u8]) -> bool {
    let mut after_full = false;
    for token in tokens(subject) {
        if token.is_empty() || after_full {
            return false;
        }
        after_full = token == FULL_WILDCARD;
    }
    true
}

fn match_level<T: Clone>(level: &Level<T>, token_list: &[&[u8]], result: &mut SublistResult<T>) {
    let Some((token, rest)) = token_list.split_first() else {
        return;
    };
    if let Some(full) = &level.full {
        result.add_node(full);
    }
    // nats-server's order: for inner tokens the `*` branch is walked before the literal
    // one, for the last token the literal match comes before the `*` match. Clients see
    // this order when several of their subscriptions match one message.
    let literal = level.literal.get(*token);
    if rest.is_empty() {
        if let Some(node) = literal {
            result.add_node(node);
        }
        if let Some(single) = &level.single {
            result.add_node(single);
        }
    } else {
        if let Some(next) = level.single.as_ref().and_then(|n| n.next.as_deref()) {
            match_level(next, rest, result);
        }
        if let Some(next) = literal.and_then(|n| n.next.as_deref()) {
            match_level(next, rest, result);
        }
    }
}

fn remove_from_level<T: Clone + Eq + Hash>(
    level: &mut Level<T>,
    token_list: &[&[u8]],
    queue: Option<&[u8]>,
    item: &T,
) -> bool {
    let Some((token, rest)) = token_list.split_first() else {
        return false;
    };
    let token = *token;
    let node = if token == SINGLE_WILDCARD {
        level.single.as_deref_mut()
    } else if token == FULL_WILDCARD {
        level.full.as_deref_mut()
    } else {
        level.literal.get_mut(token)
    };
    let Some(node) = node else {
        return false;
    };
    let removed = if rest.is_empty() {
        remove_from_node(node, queue, item)
    } else {
        match node.next.as_deref_mut() {
            Some(next) => {
                let removed = remove_from_level(next, rest, queue, item);
                if next.is_empty() {
                    node.next = None;
                }
                removed
            }
            None => false,
        }
    };
    if node.is_empty() {
        if token == SINGLE_WILDCARD {
            level.single = None;
        } else if token == FULL_WILDCARD {
            level.full = None;
        } else {
            level.literal.remove(token);
        }
    }
    removed
}

fn remove_from_node<T: Clone + Eq + Hash>(
    node: &mut Node<T>,
    queue: Option<&[u8]>,
    item: &T,
) -> bool {
    match queue {
        None => node.plain.remove(item),
        Some(name) => {
            let Some(group_index) = node.queues.iter().position(|(n, _)| &**n == name) else {
                return false;
            };
            let members = &mut node.queues[group_index].1;
            let removed = members.remove(item);
            if members.is_empty() {
                node.queues.swap_remove(group_index);
            }
            removed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_and_wildcards() {
        let list = Sublist::new(true);
        list.insert(b"foo.bar", None, 1).unwrap();
        list.insert(b"foo.*", None, 2).unwrap();
        list.insert(b"foo.>", None, 3).unwrap();
        list.insert(b">", None, 4).unwrap();
        list.insert(b"foo", None, 5).unwrap();
        let mut got = list.matches(b"foo.bar").plain.clone();
        got.sort();
        assert_eq!(got, vec![1, 2, 3, 4]);
        let mut got = list.matches(b"foo").plain.clone();
        got.sort();
        assert_eq!(got, vec![4, 5]);
        assert_eq!(list.matches(b"foo..bar").plain, Vec::<i32>::new());
        assert_eq!(list.count(), 5);
    }

    #[test]
    fn match_order_follows_nats_server() {
        let list = Sublist::new(false);
        for (i, pattern) in ["foo.bar", "foo.*", "foo.>", ">", "*.bar", "*.*"]
            .iter()
            .enumerate()
        {
            list.insert(pattern.as_bytes(), None, i + 1).unwrap();
        }
        assert_eq!(list.matches(b"foo.bar").plain, vec![4, 5, 6, 3, 1, 2]);
    }

    #[test]
    fn queue_groups_merge_across_nodes() {
        let list = Sublist::new(true);
        list.insert(b"a.b", Some(b"q"), 1).unwrap();
        list.insert(b"a.*", Some(b"q"), 2).unwrap();
        list.insert(b"a.*", Some(b"r"), 3).unwrap();
        let result = list.matches(b"a.b");
        assert_eq!(result.queues.len(), 2);
        let q = result.queues.iter().find(|g| &*g.name == b"q").unwrap();
        assert_eq!(q.members.len(), 2);
    }

    #[test]
    fn cache_is_invalidated_by_changes() {
        let list = Sublist::new(true);
        assert!(list.matches(b"a.b").is_empty());
        let before = list.generation();
        list.insert(b"a.>", None, 7).unwrap();
        assert!(list.generation() > before);
        assert_eq!(list.matches(b"a.b").plain, vec![7]);
        assert!(list.remove(b"a.>", None, &7));
        assert!(!list.remove(b"a.>", None, &7));
        assert!(list.matches(b"a.b").is_empty());
        assert_eq!(list.count(), 0);
    }

    #[test]
    fn removal_prunes_the_trie() {
        let list = Sublist::new(false);
        list.insert(b"a.b.c.d", None, 1).unwrap();
        assert!(list.remove(b"a.b.c.d", None, &1));
        assert!(list.root.read().is_empty());
    }

    #[test]
    fn many_members_of_one_subject_are_removed_in_any_order() {
        let list = Sublist::new(true);
        for i in 0..200 {
            list.insert(b"same", if i % 2 == 0 { None } else { Some(&b"q"[..]) }, i)
                .unwrap();
        }
        // Odd removals one by one, from the middle out; even ones in one batch.
        for i in (1..200).step_by(2).rev() {
            assert!(list.remove(b"same", Some(b"q"), &i));
            assert!(!list.remove(b"same", Some(b"q"), &i));
        }
        let evens: Vec<i32> = (0..200).step_by(2).collect();
        let mut left = list.matches(b"same").plain.clone();
        left.sort();
        assert_eq!(left, evens);
        let batch = evens.iter().map(|i| (&b"same"[..], None, i));
        assert!(list.remove_batch(batch).into_iter().all(|r| r));
        assert!(list.matches(b"same").is_empty());
        assert_eq!(list.count(), 0);
        assert!(list.root.read().is_empty());
    }

    #[test]
    fn a_batch_says_what_was_there_and_clears_cached_results() {
        let list = Sublist::new(true);
        list.insert(b"a.b", None, 1).unwrap();
        list.insert(b"a.*", None, 2).unwrap();
        assert_eq!(list.matches(b"a.b").plain.len(), 2);
        let before = list.generation();
        let removed = list.remove_batch([(&b"a.b"[..], None, &1), (&b"a.b"[..], None, &9)]);
        assert_eq!(removed, vec![true, false]);
        assert!(list.generation() > before);
        assert_eq!(list.matches(b"a.b").plain, vec![2]);
        assert_eq!(list.count(), 1);
    }

    /// Removing n members of one subject costs O(n) in all: with a scan per removal, the
    /// 200,000 here would take minutes.
    #[test]
    fn removal_is_not_quadratic() {
        const N: u32 = 200_000;
        let list = Sublist::new(false);
        for i in 0..N {
            list.insert(b"crowded", None, i).unwrap();
        }
        let started = std::time::Instant::now();
        for i in 0..N {
            assert!(list.remove(b"crowded", None, &i));
        }
        assert_eq!(list.count(), 0);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn invalid_subjects_are_refused() {
        let list = Sublist::new(true);
        for bad in [&b""[..], b"a..b", b".a", b"a.", b"a.>.b"] {
            assert_eq!(list.insert(bad, None, 1), Err(SublistError::InvalidSubject));
        }
    }

    #[test]
    fn cache_stays_bounded() {
        let list: Sublist<u8> = Sublist::new(true);
        for i in 0..3000 {
            list.matches(format!("s.{i}").as_bytes());
        }
        assert!(list.cache_len() <= CACHE_MAX);
    }
}
