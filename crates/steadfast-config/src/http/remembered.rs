//! The last `ETag` and body per key, for conditional GETs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::HeaderValue;

use crate::Format;

/// A map from request key to the last body the server tagged, bounded by a
/// number of keys and a number of bytes; the least recently used entries go
/// first when either is reached.
///
/// The entries form a list from the most to the least recently used, so a
/// look-up, an insert and each eviction take constant time: the lock is
/// never held for a walk over the map.
#[derive(Debug)]
pub(crate) struct Remembered {
    max_keys: usize,
    max_bytes: usize,
    lru: Mutex<Lru>,
}

/// One remembered body.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) etag: HeaderValue,
    pub(crate) version: Arc<str>,
    /// Whether the tag is a weak validator (`W/"…"`).
    pub(crate) weak: bool,
    pub(crate) body: Bytes,
    pub(crate) format: Format,
}

impl Entry {
    pub(crate) fn new(etag: HeaderValue, version: Arc<str>, body: Bytes, format: Format) -> Self {
        Self {
            weak: super::etag::is_weak(&etag),
            etag,
            version,
            body,
            format,
        }
    }
}

/// The bytes an entry for `key` holds: its body, tag, version and key.
fn weigh(key: &str, entry: &Entry) -> usize {
    [
        key.len(),
        entry.etag.len(),
        entry.version.len(),
        entry.body.len(),
    ]
    .into_iter()
    .fold(0, usize::saturating_add)
}

/// No node: the end of the list.
const NIL: usize = usize::MAX;

/// A doubly linked list of nodes in a slab, most recently used first, and
/// the index of each key's node.
#[derive(Debug)]
struct Lru {
    index: HashMap<Arc<str>, usize>,
    nodes: Vec<Option<Node>>,
    free: Vec<usize>,
    newest: usize,
    oldest: usize,
    bytes: usize,
}

#[derive(Debug)]
struct Node {
    key: Arc<str>,
    entry: Entry,
    bytes: usize,
    newer: usize,
    older: usize,
}

impl Lru {
    fn new() -> Self {
        Self {
            index: HashMap::new(),
            nodes: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            bytes: 0,
        }
    }

    fn node(&mut self, at: usize) -> &mut Node {
        self.nodes[at]
            .as_mut()
            .expect("the list links only live nodes")
    }

    /// Takes the node at `at` out of the list, leaving it in its slot.
    fn unlink(&mut self, at: usize) {
        let (newer, older) = {
            let node = self.node(at);
            (node.newer, node.older)
        };
        match newer {
            NIL => self.newest = older,
            newer => self.node(newer).older = older,
        }
        match older {
            NIL => self.oldest = newer,
            older => self.node(older).newer = newer,
        }
    }

    /// Puts the node at `at` at the front of the list.
    fn link_newest(&mut self, at: usize) {
        let older = self.newest;
        {
            let node = self.node(at);
            node.newer = NIL;
            node.older = older;
        }
        match older {
            NIL => self.oldest = at,
            older => self.node(older).newer = at,
        }
        self.newest = at;
    }

    fn get(&mut self, key: &str) -> Option<Entry> {
        let at = *self.index.get(key)?;
        if self.newest != at {
            self.unlink(at);
            self.link_newest(at);
        }
        Some(self.node(at).entry.clone())
    }

    fn insert(&mut self, key: Arc<str>, entry: Entry, bytes: usize) {
        let node = Some(Node {
            key: key.clone(),
            entry,
            bytes,
            newer: NIL,
            older: NIL,
        });
        let at = match self.free.pop() {
            Some(at) => {
                self.nodes[at] = node;
                at
            }
            None => {
                self.nodes.push(node);
                self.nodes.len() - 1
            }
        };
        self.link_newest(at);
        self.index.insert(key, at);
        self.bytes += bytes;
    }

    fn remove_at(&mut self, at: usize) {
        self.unlink(at);
        if let Some(node) = self.nodes[at].take() {
            self.index.remove(&node.key);
            self.bytes -= node.bytes;
        }
        self.free.push(at);
    }

    fn remove(&mut self, key: &str) {
        if let Some(&at) = self.index.get(key) {
            self.remove_at(at);
        }
    }
}

impl Remembered {
    /// A map of at most `max_keys` entries holding at most `max_bytes`
    /// bytes; either at zero remembers nothing.
    pub(crate) fn new(max_keys: usize, max_bytes: usize) -> Self {
        Self {
            max_keys,
            max_bytes,
            lru: Mutex::new(Lru::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn disabled(&self) -> bool {
        self.max_keys == 0 || self.max_bytes == 0
    }

    /// The remembered `ETag` of `key`.
    #[cfg(test)]
    pub(crate) fn etag(&self, key: &str) -> Option<HeaderValue> {
        let lru = self.lock();
        let at = *lru.index.get(key)?;
        lru.nodes[at].as_ref().map(|node| node.entry.etag.clone())
    }

    /// The remembered body of `key`, marked as the most recently used.
    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        if self.disabled() {
            return None;
        }
        self.lock().get(key)
    }

    /// Remembers `entry` for `key`, in place of what was remembered for it.
    /// An entry larger than the whole byte bound is not remembered.
    pub(crate) fn put(&self, key: Arc<str>, entry: Entry) {
        if self.disabled() {
            return;
        }
        let bytes = weigh(&key, &entry);
        let mut lru = self.lock();
        lru.remove(&key);
        if bytes > self.max_bytes {
            return;
        }
        while lru.index.len() >= self.max_keys || lru.bytes.saturating_add(bytes) > self.max_bytes {
            let oldest = lru.oldest;
            if oldest == NIL {
                break;
            }
            lru.remove_at(oldest);
        }
        lru.insert(key, entry, bytes);
    }

    /// Forgets `key`.
    pub(crate) fn remove(&self, key: &str) {
        if !self.disabled() {
            self.lock().remove(key);
        }
    }

    /// How many keys are remembered.
    pub(crate) fn len(&self) -> usize {
        self.lock().index.len()
    }

    /// How many bytes the remembered entries hold.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: &'static str) -> Entry {
        sized(tag, 2)
    }

    /// An entry whose body is `len` bytes.
    fn sized(tag: &'static str, len: usize) -> Entry {
        Entry::new(
            HeaderValue::from_static(tag),
            Arc::from(tag),
            Bytes::from(vec![b' '; len]),
            Format::Json,
        )
    }

    fn unbounded(keys: usize) -> Remembered {
        Remembered::new(keys, usize::MAX)
    }

    /// The keys from the most to the least recently used, following the
    /// links both ways.
    fn order(map: &Remembered) -> Vec<String> {
        let lru = map.lock();
        let mut forward = Vec::new();
        let mut at = lru.newest;
        while at != NIL {
            let node = lru.nodes[at].as_ref().unwrap();
            forward.push(node.key.to_string());
            at = node.older;
        }
        let mut backward = Vec::new();
        let mut at = lru.oldest;
        while at != NIL {
            let node = lru.nodes[at].as_ref().unwrap();
            backward.push(node.key.to_string());
            at = node.newer;
        }
        backward.reverse();
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), lru.index.len());
        forward
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let map = unbounded(2);
        map.put("a".into(), entry("\"1\""));
        map.put("b".into(), entry("\"2\""));
        assert!(map.get("a").is_some());
        map.put("c".into(), entry("\"3\""));
        assert_eq!(map.len(), 2);
        assert!(map.get("b").is_none());
        assert_eq!(map.etag("a"), Some(HeaderValue::from_static("\"1\"")));
        assert_eq!(map.etag("c"), Some(HeaderValue::from_static("\"3\"")));
        map.remove("a");
        assert_eq!(map.etag("a"), None);
        assert_eq!(order(&map), ["c"]);
    }

    #[test]
    fn zero_keys_or_bytes_remember_nothing() {
        for map in [Remembered::new(0, 100), Remembered::new(10, 0)] {
            map.put("a".into(), entry("\"1\""));
            assert_eq!(map.len(), 0);
            assert_eq!(map.bytes(), 0);
            assert_eq!(map.etag("a"), None);
        }
    }

    #[test]
    fn the_bytes_of_the_entries_are_bounded() {
        // Each entry holds 1 (key) + 3 (tag) + 3 (version) + 93 (body) = 100
        // bytes.
        let map = Remembered::new(10, 250);
        map.put("a".into(), sized("\"1\"", 93));
        map.put("b".into(), sized("\"2\"", 93));
        assert_eq!(map.bytes(), 200);
        assert!(map.get("a").is_some());
        map.put("c".into(), sized("\"3\"", 93));
        assert_eq!(order(&map), ["c", "a"]);
        assert_eq!(map.bytes(), 200);

        // One entry worth two: both older ones go.
        map.put("d".into(), sized("\"4\"", 193));
        assert_eq!(order(&map), ["d"]);
        assert_eq!(map.bytes(), 200);

        // A smaller new version of a key takes its place.
        map.put("d".into(), sized("\"5\"", 3));
        assert_eq!(map.bytes(), 10);
        map.remove("d");
        assert_eq!(map.bytes(), 0);
    }

    #[test]
    fn an_entry_larger_than_the_bound_is_not_remembered_and_forgets_the_old_one() {
        let map = Remembered::new(10, 250);
        map.put("a".into(), sized("\"1\"", 93));
        map.put("b".into(), sized("\"2\"", 93));
        map.put("a".into(), sized("\"3\"", 244));
        assert_eq!(order(&map), ["b"]);
        assert_eq!(map.etag("a"), None);
        assert_eq!(map.bytes(), 100);
    }

    #[test]
    fn the_order_follows_every_use() {
        let map = unbounded(4);
        for key in ["a", "b", "c", "d"] {
            map.put(key.into(), entry("\"1\""));
        }
        assert_eq!(order(&map), ["d", "c", "b", "a"]);
        map.get("b");
        map.get("a");
        map.get("a");
        assert_eq!(order(&map), ["a", "b", "d", "c"]);
        map.remove("d");
        map.put("b".into(), entry("\"2\""));
        assert_eq!(order(&map), ["b", "a", "c"]);
        map.put("e".into(), entry("\"1\""));
        map.put("f".into(), entry("\"1\""));
        assert_eq!(order(&map), ["f", "e", "b", "a"]);
        assert_eq!(map.lock().nodes.len(), 4, "freed slots are reused");
    }

    /// Random operations against a plain list kept in recency order.
    #[test]
    fn follows_a_simple_model() {
        let mut rng = fastrand::Rng::with_seed(13);
        let map = Remembered::new(5, 600);
        let mut model: Vec<(String, usize)> = Vec::new();
        for _ in 0..5_000 {
            let key = format!("{}", rng.u8(..12));
            match rng.u8(..3) {
                0 => {
                    let len = rng.usize(..300);
                    map.put(key.as_str().into(), sized("\"1\"", len));
                    let bytes = key.len() + 6 + len;
                    model.retain(|(k, _)| *k != key);
                    if bytes <= 600 {
                        while model.len() >= 5
                            || model.iter().map(|(_, b)| b).sum::<usize>() + bytes > 600
                        {
                            model.pop();
                        }
                        model.insert(0, (key, bytes));
                    }
                }
                1 => {
                    let found = map.get(&key).is_some();
                    let at = model.iter().position(|(k, _)| *k == key);
                    assert_eq!(found, at.is_some());
                    if let Some(at) = at {
                        let used = model.remove(at);
                        model.insert(0, used);
                    }
                }
                _ => {
                    map.remove(&key);
                    model.retain(|(k, _)| *k != key);
                }
            }
            let keys: Vec<String> = model.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(order(&map), keys);
            assert_eq!(map.bytes(), model.iter().map(|(_, b)| b).sum::<usize>());
        }
    }
}
