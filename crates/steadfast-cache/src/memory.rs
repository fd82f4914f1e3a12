//! [`MemoryStore`]: a bounded in-process store on `quick_cache`.

use std::fmt;
use std::future::{Future, ready};
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use quick_cache::sync::{Cache, DefaultLifecycle};
use quick_cache::{DefaultHashBuilder, OptionsBuilder, Weighter};
use tokio::time::Instant;

use crate::error::BuildError;
use crate::memo::Memos;
use crate::store::{Entry, Peek, Store, StoreError, StoreErrorKind};
use crate::too_large::EntryTooLarge;

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
/// # Hits
///
/// Each thread keeps copies of the last 4 entries it read, tagged with the
/// store's generation, which every put, removal and clear advances once it
/// has changed the entries: a [`peek`](Store::peek) answers from that memo
/// while the generation holds, so threads reading the same keys touch no
/// shared lock and write no shared word. Once a change has returned, no
/// thread's next read answers with what it replaced. A memo may keep a
/// removed value alive until its thread next reads the store.
///
/// # Bounds
///
/// The bound holds exactly, whatever the number of cores: the entries are
/// spread over shards (each with its own lock, so hits on different keys
/// do not contend), every shard gets the same share of the bound, and the
/// shares add up to at most the bound. [`capacity`](MemoryStore::capacity)
/// says what they add up to: the bound rounded down to a multiple of the
/// shard count (a 10,001-entry store on 8 shards holds at most 10,000).
/// A full shard evicts even while another has room, so a store may hold
/// somewhat less than its capacity.
///
/// - [`new`](MemoryStore::new) bounds the number of entries and uses up to
///   4 × the available cores as shards (fewer for small stores: at least
///   32 entries each).
/// - [`with_weigher`](MemoryStore::with_weigher) bounds the total weight
///   and uses one shard, so that any entry up to the whole bound fits (it
///   may evict every other). An entry heavier than the bound is refused at
///   [`put`](Store::put) with an [`EntryTooLarge`] store error, which the
///   cache layer counts and logs; the value is still served, and loaded
///   again on the next call.
/// - [`builder`](MemoryStore::builder) and
///   [`builder_with_weigher`](MemoryStore::builder_with_weigher) choose the
///   shard count. More shards spread hits on a busy weighted store over
///   more locks, but each shard holds only its share of the bound: an entry
///   heavier than one share ([`max_entry_weight`](MemoryStore::max_entry_weight))
///   is refused.
///
/// ```
/// use std::sync::Arc;
/// use steadfast_cache::MemoryStore;
///
/// let by_count: MemoryStore<Arc<str>, String> = MemoryStore::new(10_000).unwrap();
/// assert_eq!(by_count.len(), 0);
/// assert_eq!(by_count.capacity(), 10_000);
/// let by_size = MemoryStore::<Arc<str>, String, _>::with_weigher(
///     1 << 20,
///     4_096,
///     |_: &Arc<str>, v: &String| v.len() as u64,
/// )
/// .unwrap();
/// assert_eq!(by_size.capacity(), 1 << 20);
/// assert_eq!(by_size.max_entry_weight(), 1 << 20);
/// let spread = MemoryStore::<Arc<str>, String, _>::builder_with_weigher(
///     1 << 20,
///     4_096,
///     |_: &Arc<str>, v: &String| v.len() as u64,
/// )
/// .shards(8)
/// .build()
/// .unwrap();
/// assert_eq!((spread.shards(), spread.max_entry_weight()), (8, 128 << 10));
/// assert!(MemoryStore::<Arc<str>, String>::new(0).is_err());
/// ```
pub struct MemoryStore<K, V, W = Unit> {
    inner: Arc<Inner<K, V, W>>,
}

struct Inner<K, V, W> {
    cache: Cache<K, Entry<V>, EntryWeighter<W>>,
    /// Each thread's copies of the entries it read last.
    memos: Memos<K, V>,
    weigher: W,
    max_entry_weight: u64,
}

/// Builds a [`MemoryStore`] with a shard count of your choosing; see
/// [`MemoryStore::builder`] and [`MemoryStore::builder_with_weigher`].
pub struct MemoryStoreBuilder<K, V, W = Unit> {
    bound: u64,
    estimated_entries: usize,
    shards: usize,
    weigher: W,
    weighted: bool,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V, W> fmt::Debug for MemoryStoreBuilder<K, V, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStoreBuilder")
            .field("bound", &self.bound)
            .field("estimated_entries", &self.estimated_entries)
            .field("shards", &self.shards)
            .field("weighted", &self.weighted)
            .finish_non_exhaustive()
    }
}

/// The fewest estimated entries per shard before the shard count is halved
/// (as `quick_cache` itself does).
const MIN_ENTRIES_PER_SHARD: u64 = 32;

/// Share of each shard kept for entries seen more than once. A weighted
/// store keeps none aside, so an entry as heavy as a whole shard is
/// admitted.
const WEIGHTED_HOT_ALLOCATION: f64 = 1.0;

fn default_shards() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_mul(4)
}

/// The largest power of two not above `n` (at least one).
fn floor_power_of_two(n: usize) -> u64 {
    let n = n.max(1) as u64;
    1 << (u64::BITS - 1 - n.leading_zeros())
}

impl<K, V, W> MemoryStoreBuilder<K, V, W> {
    /// Spreads the entries over at most `shards` shards (rounded down to a
    /// power of two; zero counts as one). Fewer are used when a shard would
    /// get fewer than 32 of the estimated entries, or nothing of the bound.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards;
        self
    }

    /// The store. Fails on a zero bound or a zero entry estimate.
    pub fn build(self) -> Result<MemoryStore<K, V, W>, BuildError>
    where
        K: Eq + Hash,
        V: Clone,
        W: Weigh<K, V> + Clone,
    {
        if self.bound == 0 || self.estimated_entries == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        let estimated = self.estimated_entries as u64;
        let mut shards = floor_power_of_two(self.shards);
        while shards > 1
            && (estimated.div_ceil(shards) < MIN_ENTRIES_PER_SHARD || self.bound / shards == 0)
        {
            shards /= 2;
        }
        let share = self.bound / shards;
        let mut options = OptionsBuilder::new();
        options
            .shards(shards as usize)
            .estimated_items_capacity(self.estimated_entries)
            .weight_capacity(share * shards);
        let weighted = self.weighted;
        if weighted {
            options.hot_allocation(WEIGHTED_HOT_ALLOCATION);
        }
        let options = options.build().map_err(|_| BuildError::ZeroCapacity)?;
        let cache = Cache::with_options(
            options,
            EntryWeighter(self.weigher.clone()),
            DefaultHashBuilder::default(),
            DefaultLifecycle::default(),
        );
        // `quick_cache` may use fewer shards still; powers of two divide
        // each other, so every shard's share stays exact.
        let share = cache.capacity() / cache.num_shards() as u64;
        let max_entry_weight = if weighted {
            // How `quick_cache` sizes the part of a shard an entry must fit.
            ((share as f64 * WEIGHTED_HOT_ALLOCATION) as u64).clamp(share.min(1), share)
        } else {
            1
        };
        Ok(MemoryStore {
            inner: Arc::new(Inner {
                cache,
                memos: Memos::new(),
                weigher: self.weigher,
                max_entry_weight,
            }),
        })
    }
}

impl<K, V> MemoryStore<K, V, Unit>
where
    K: Eq + Hash,
    V: Clone,
{
    /// A store holding at most `max_entries` entries.
    pub fn new(max_entries: usize) -> Result<Self, BuildError> {
        Self::builder(max_entries).build()
    }

    /// Starts building a store holding at most `max_entries` entries, on 4
    /// × the available cores as shards unless told otherwise.
    pub fn builder(max_entries: usize) -> MemoryStoreBuilder<K, V, Unit> {
        MemoryStoreBuilder {
            bound: max_entries as u64,
            estimated_entries: max_entries,
            shards: default_shards(),
            weigher: Unit,
            weighted: false,
            _types: PhantomData,
        }
    }
}

impl<K, V, W> MemoryStore<K, V, W>
where
    K: Eq + Hash,
    V: Clone,
    W: Weigh<K, V> + Clone,
{
    /// A store whose entries weigh at most `max_weight` in total, as
    /// `weigher` weighs them; `estimated_entries` sizes its tables. Any
    /// entry up to `max_weight` fits; a heavier one is refused.
    pub fn with_weigher(
        max_weight: u64,
        estimated_entries: usize,
        weigher: W,
    ) -> Result<Self, BuildError> {
        Self::builder_with_weigher(max_weight, estimated_entries, weigher).build()
    }

    /// Starts building a store whose entries weigh at most `max_weight` in
    /// total, on one shard unless told otherwise.
    pub fn builder_with_weigher(
        max_weight: u64,
        estimated_entries: usize,
        weigher: W,
    ) -> MemoryStoreBuilder<K, V, W> {
        MemoryStoreBuilder {
            bound: max_weight,
            estimated_entries,
            shards: 1,
            weigher,
            weighted: true,
            _types: PhantomData,
        }
    }

    /// The number of entries held, live or past their deadlines.
    pub fn len(&self) -> usize {
        self.inner.cache.len()
    }

    /// Whether the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.inner.cache.is_empty()
    }

    /// The total weight of the entries held.
    pub fn weight(&self) -> u64 {
        self.inner.cache.weight()
    }

    /// The most the entries may weigh together (for a store made with
    /// [`MemoryStore::new`], the most entries it holds): the bound, rounded
    /// down to a multiple of the shard count.
    pub fn capacity(&self) -> u64 {
        self.inner.cache.capacity()
    }

    /// The heaviest entry the store accepts: one shard's share of the
    /// bound. [`put`](Store::put) refuses a heavier one.
    pub fn max_entry_weight(&self) -> u64 {
        self.inner.max_entry_weight
    }

    /// The number of shards the entries are spread over.
    pub fn shards(&self) -> usize {
        self.inner.cache.num_shards()
    }
}

impl<K, V, W> Clone for MemoryStore<K, V, W> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
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
            .field("len", &self.len())
            .field("weight", &self.weight())
            .field("capacity", &self.capacity())
            .field("shards", &self.shards())
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
        match self.peek_with(key, Entry::clone) {
            Some(entry) => Peek::Hit(entry),
            None => Peek::Miss,
        }
    }

    #[inline]
    fn peek_with<R>(&self, key: &K, f: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        let cache = &self.inner.cache;
        self.inner.memos.peek_with(key, || cache.get(key), f)
    }

    fn get(&self, key: &K) -> impl Future<Output = Result<Option<Entry<V>>, StoreError>> + Send {
        let cache = &self.inner.cache;
        let found = match cache.get(key) {
            Some(entry) if entry.expires_at <= Instant::now() => {
                if cache
                    .remove_if(key, |e| e.expires_at <= entry.expires_at)
                    .is_some()
                {
                    self.inner.memos.changed();
                }
                None
            }
            found => found,
        };
        ready(Ok(found))
    }

    fn put(&self, key: K, entry: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send {
        let inner = &*self.inner;
        if entry.expires_at <= Instant::now() {
            inner.cache.remove(&key);
            inner.memos.changed();
            return ready(Ok(()));
        }
        let weight = inner.weigher.weigh(&key, &entry.value).max(1);
        if weight > inner.max_entry_weight {
            inner.cache.remove(&key);
            inner.memos.changed();
            let cause = EntryTooLarge::new(weight, inner.max_entry_weight);
            return ready(Err(StoreError::new(StoreErrorKind::Backend, cause)));
        }
        // Replacing a key's value with a heavier one can make the shard
        // evict the entry it just replaced; it is then put back as a new
        // entry, which a shard always admits.
        inner.cache.insert(key.clone(), entry.clone());
        if !inner.cache.contains_key(&key) {
            inner.cache.insert(key, entry);
        }
        inner.memos.changed();
        ready(Ok(()))
    }

    fn remove(&self, key: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.cache.remove(key);
        self.inner.memos.changed();
        ready(Ok(()))
    }

    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.cache.clear();
        self.inner.memos.changed();
        ready(Ok(()))
    }

    fn len_hint(&self) -> u64 {
        self.inner.cache.len() as u64
    }
}
