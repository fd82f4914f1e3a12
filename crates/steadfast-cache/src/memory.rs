//! [`MemoryStore`]: a bounded in-process store on `quick_cache`.

use std::fmt;
use std::future::{Future, ready};
use std::hash::Hash;
use std::sync::Arc;

use quick_cache::Weighter;
use quick_cache::sync::Cache;
use tokio::time::Instant;

use crate::error::BuildError;
use crate::store::{Entry, Peek, Store, StoreError};

/// Gives a cached value its weight, for a [`MemoryStore`] bounded by weight.
///
/// Implemented by closures `Fn(&K, &V) -> u64`. A weight of zero counts as
/// one, so no entry escapes the bound.
pub trait Weigh<K, V> {
    /// The weight of `value` stored under `key`.
    fn weigh(&self, key: &K, value: &V) -> u64;
}

/// Every entry weighs one: the store is bounded by its number of entries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unit;

impl<K, V> Weigh<K, V> for Unit {
    #[inline]
    fn weigh(&self, _: &K, _: &V) -> u64 {
        1
    }
}

impl<K, V, F> Weigh<K, V> for F
where
    F: Fn(&K, &V) -> u64,
{
    fn weigh(&self, key: &K, value: &V) -> u64 {
        self(key, value)
    }
}

#[derive(Clone)]
struct EntryWeighter<W>(W);

impl<K, V, W: Weigh<K, V>> Weighter<K, Entry<V>> for EntryWeighter<W> {
    #[inline]
    fn weight(&self, key: &K, entry: &Entry<V>) -> u64 {
        self.0.weigh(key, &entry.value).max(1)
    }
}

/// An in-process store, bounded by entry count or by weight, on
/// [`quick_cache`]'s sharded CLOCK-Pro cache.
///
/// Deadlines are the cache layer's: entries past `expires_at` are dropped
/// when next read through [`Store::get`] and never written; the bound evicts
/// the rest. Every clone shares the same entries.
///
/// ```
/// use std::sync::Arc;
/// use steadfast_cache::MemoryStore;
///
/// let by_count: MemoryStore<Arc<str>, String> = MemoryStore::new(10_000).unwrap();
/// assert_eq!(by_count.len(), 0);
/// let by_size = MemoryStore::<Arc<str>, String, _>::with_weigher(
///     1 << 20,
///     4_096,
///     |_: &Arc<str>, v: &String| v.len() as u64,
/// )
/// .unwrap();
/// assert_eq!(by_size.capacity(), 1 << 20);
/// assert!(MemoryStore::<Arc<str>, String>::new(0).is_err());
/// ```
pub struct MemoryStore<K, V, W = Unit> {
    cache: Arc<Cache<K, Entry<V>, EntryWeighter<W>>>,
}

impl<K, V> MemoryStore<K, V, Unit>
where
    K: Eq + Hash,
    V: Clone,
{
    /// A store holding at most `max_entries` entries.
    pub fn new(max_entries: usize) -> Result<Self, BuildError> {
        if max_entries == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        Ok(Self {
            cache: Arc::new(Cache::with_weighter(
                max_entries,
                max_entries as u64,
                EntryWeighter(Unit),
            )),
        })
    }
}

impl<K, V, W> MemoryStore<K, V, W>
where
    K: Eq + Hash,
    V: Clone,
    W: Weigh<K, V> + Clone,
{
    /// A store whose entries weigh at most `max_weight` in total, as
    /// `weigher` weighs them; `estimated_entries` sizes its tables.
    pub fn with_weigher(
        max_weight: u64,
        estimated_entries: usize,
        weigher: W,
    ) -> Result<Self, BuildError> {
        if max_weight == 0 || estimated_entries == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        Ok(Self {
            cache: Arc::new(Cache::with_weighter(
                estimated_entries,
                max_weight,
                EntryWeighter(weigher),
            )),
        })
    }

    /// The number of entries held, live or past their deadlines.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The total weight of the entries held.
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }

    /// The maximum total weight (the entry bound for a store made with
    /// [`MemoryStore::new`]).
    pub fn capacity(&self) -> u64 {
        self.cache.capacity()
    }
}

impl<K, V, W> Clone for MemoryStore<K, V, W> {
    fn clone(&self) -> Self {
        Self {
            cache: Arc::clone(&self.cache),
        }
    }
}

impl<K, V, W> fmt::Debug for MemoryStore<K, V, W>
where
    K: Eq + Hash,
    V: Clone,
    W: Weigh<K, V> + Clone,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.cache.len())
            .field("weight", &self.cache.weight())
            .field("capacity", &self.cache.capacity())
            .finish()
    }
}

impl<K, V, W> Store<K, V> for MemoryStore<K, V, W>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    W: Weigh<K, V> + Clone + Send + Sync + 'static,
{
    #[inline]
    fn peek(&self, key: &K) -> Peek<V> {
        match self.cache.get(key) {
            Some(entry) => Peek::Hit(entry),
            None => Peek::Miss,
        }
    }

    fn get(&self, key: &K) -> impl Future<Output = Result<Option<Entry<V>>, StoreError>> + Send {
        let found = match self.cache.get(key) {
            Some(entry) if entry.expires_at <= Instant::now() => {
                self.cache
                    .remove_if(key, |e| e.expires_at <= entry.expires_at);
                None
            }
            found => found,
        };
        ready(Ok(found))
    }

    fn put(&self, key: K, entry: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send {
        if entry.expires_at > Instant::now() {
            self.cache.insert(key, entry);
        } else {
            self.cache.remove(&key);
        }
        ready(Ok(()))
    }

    fn remove(&self, key: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.cache.remove(key);
        ready(Ok(()))
    }

    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.cache.clear();
        ready(Ok(()))
    }

    fn len_hint(&self) -> u64 {
        self.cache.len() as u64
    }
}
