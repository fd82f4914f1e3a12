//! [`Tiered`]: a memory L1 in front of a shared L2, kept coherent across
//! instances by invalidation messages.

mod feed;
mod trust;

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use feed::{Invalidation, InvalidationSink, Invalidations};

use crate::store::{Entry, Freshness, LeaseToken, Lookup, Peek, RemoteObserver, Store, StoreError};
use trust::{Trust, TrustMap};

/// A key that can be rebuilt from its [`Display`](fmt::Display) form.
///
/// A shared tier names keys by their displayed string (`<prefix>:<key>` in
/// Redis) and tells other instances which key to drop by that string.
/// [`Tiered`] turns the string back into a key with this trait to drop the
/// matching L1 copy. `from_remote_key(&key.to_string())` must give back a
/// key equal to `key`; return `None` for a string that names no key of
/// this type (the message is then ignored).
///
/// ```
/// use steadfast_cache::RemoteKey;
///
/// #[derive(Debug, PartialEq)]
/// struct TenantKey(u32);
///
/// impl std::fmt::Display for TenantKey {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "tenant-{}", self.0)
///     }
/// }
///
/// impl RemoteKey for TenantKey {
///     fn from_remote_key(key: &str) -> Option<Self> {
///         key.strip_prefix("tenant-")?.parse().ok().map(TenantKey)
///     }
/// }
///
/// assert_eq!(TenantKey::from_remote_key("tenant-7"), Some(TenantKey(7)));
/// assert_eq!(TenantKey::from_remote_key("tenant-x"), None);
/// ```
pub trait RemoteKey: Sized {
    /// The key whose displayed form is `key`, if there is one.
    fn from_remote_key(key: &str) -> Option<Self>;
}

impl RemoteKey for String {
    fn from_remote_key(key: &str) -> Option<Self> {
        Some(key.to_owned())
    }
}

impl RemoteKey for Arc<str> {
    fn from_remote_key(key: &str) -> Option<Self> {
        Some(Arc::from(key))
    }
}

impl RemoteKey for Box<str> {
    fn from_remote_key(key: &str) -> Option<Self> {
        Some(Box::from(key))
    }
}

macro_rules! remote_key_from_str {
    ($($t:ty),*) => {$(
        impl RemoteKey for $t {
            fn from_remote_key(key: &str) -> Option<Self> {
                key.parse().ok()
            }
        }
    )*};
}

remote_key_from_str!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, char
);

/// A bad [`Tiered`] configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TieredError {
    /// The L1 TTL cap is zero: nothing would ever be kept in L1.
    ZeroL1TtlCap,
    /// Listening for invalidations needs a tokio runtime, and the builder
    /// was not called inside one.
    NoRuntime,
    /// The number of capped copies to remember is zero.
    ZeroTrustCapacity,
}

impl fmt::Display for TieredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            TieredError::ZeroL1TtlCap => "the L1 TTL cap must be greater than zero",
            TieredError::NoRuntime => "listening for invalidations needs a tokio runtime",
            TieredError::ZeroTrustCapacity => {
                "the number of capped L1 copies to remember must be greater than zero"
            }
        })
    }
}

impl Error for TieredError {}

/// A snapshot of a [`Tiered`] store's own counters.
///
/// The same counts go to the `metrics` facade as
/// `steadfast_cache_l2_backfills_total`,
/// `steadfast_cache_l2_invalidations_total`,
/// `steadfast_cache_l2_remote_clears_total` and
/// `steadfast_cache_l1_revalidations_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// L2 entries copied into L1 (after a look-up, a check of a copy past
    /// the cap, or another instance's newer write).
    pub backfills: u64,
    /// L1 copies dropped because another instance removed the key or
    /// wrote a newer entry of it.
    pub remote_removals: u64,
    /// Times L1 was emptied by a message: a remote clear, or a
    /// (re)subscription after which earlier messages may have been missed.
    pub remote_clears: u64,
    /// Checks against L2 of L1 copies past the L1 TTL cap but still fresh
    /// by their own windows, run in the background while the copy is
    /// served.
    pub revalidations: u64,
}

struct State {
    subscribed: AtomicBool,
    /// Whether an invalidation feed applies messages to this store.
    listening: AtomicBool,
    /// Whether L1's feed is relayed to L2's local copies.
    relaying: AtomicBool,
    backfills: AtomicU64,
    remote_removals: AtomicU64,
    remote_clears: AtomicU64,
    revalidations: AtomicU64,
    /// The [`RemoteObserver`]s of the key type the feed's messages name.
    observers: Mutex<Vec<Box<dyn Any + Send + Sync>>>,
    trust: TrustMap,
}

fn bump(counter: &AtomicU64, name: &'static str) {
    counter.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(name).increment(1);
}

type Start<L1, L2> = Box<dyn FnOnce(Tiered<L1, L2>, oneshot::Receiver<()>) + Send>;

/// Builds a [`Tiered`] store; see [`Tiered::builder`].
pub struct TieredBuilder<L1, L2> {
    l1: L1,
    l2: L2,
    l1_ttl_cap: Duration,
    trust_capacity: usize,
    start: Option<Start<L1, L2>>,
}

impl<L1: fmt::Debug, L2: fmt::Debug> fmt::Debug for TieredBuilder<L1, L2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredBuilder")
            .field("l1", &self.l1)
            .field("l2", &self.l2)
            .field("l1_ttl_cap", &self.l1_ttl_cap)
            .field("trust_capacity", &self.trust_capacity)
            .field("invalidations", &self.start.is_some())
            .finish()
    }
}

impl<L1, L2> TieredBuilder<L1, L2> {
    /// The longest L1 trusts a copy as fresh without asking L2 (default
    /// 30 s), whatever the entry's own fresh window.
    ///
    /// The cap bounds only that trust: a copy keeps the entry's own
    /// stale-while-revalidate and stale-if-error windows, so an L2 outage
    /// never shortens how long a value can be served. A copy past the cap
    /// but still fresh by its own window is served as fresh while one
    /// check against L2 runs in the background (as stale-while-revalidate
    /// does with the source): L2's newer entry replaces it; the same entry
    /// renews the trust; no entry in L2 (removed there) leaves the copy
    /// good only if the source fails; an L2 failure leaves it as it is,
    /// and the next check waits a second (or the cap, if shorter). Without
    /// invalidation messages, no copy is trusted longer than this.
    pub fn l1_ttl_cap(mut self, cap: Duration) -> Self {
        self.l1_ttl_cap = cap;
        self
    }

    /// How many copies whose fresh window the cap cut are remembered with
    /// their own fresh window (default 10,000; one small record each). A
    /// copy past the cap whose record was pushed out is served by its
    /// stale windows only (as stale, while the cache refreshes it).
    pub fn trust_capacity(mut self, copies: usize) -> Self {
        self.trust_capacity = copies;
        self
    }

    /// Listens to `feed` and applies its messages. A spawned task applies
    /// them; it ends with the last clone of the store.
    ///
    /// Each message does what the same change made on this instance does:
    /// a removal drops the L1 copy and those of L2's own local tiers (a
    /// [`FileStore`](crate::FileStore) snapshot behind a shared tier); a
    /// newer write ([`Invalidation::Updated`]) drops the L1 copy and, when
    /// there was one, takes the newer entry from L2 into L1 and L2's local
    /// tiers; a clear clears them. The cache layer on the store hears each
    /// message first (see [`Store::observe_remote`]), and cancels a load
    /// of a removed key, drops its cached "not found" and wakes the loads
    /// waiting for another instance's lease.
    ///
    /// The key type is inferred from `L1`; keys come back from their
    /// displayed form through [`RemoteKey`].
    pub fn invalidations<K, V, F>(mut self, feed: F) -> Self
    where
        L1: Store<K, V>,
        L2: Store<K, V>,
        K: RemoteKey + Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: Invalidations,
    {
        self.start = Some(Box::new(move |tiers, stop| {
            let (tx, rx) = mpsc::channel(256);
            tokio::spawn(feed.run(InvalidationSink::new(tx)));
            tokio::spawn(feed::apply::<K, V, L1, L2>(tiers, rx, stop));
        }));
        self
    }

    /// The store. Fails on a zero L1 TTL cap or trust capacity, or when
    /// invalidations are set up outside a tokio runtime.
    pub fn build(self) -> Result<Tiered<L1, L2>, TieredError>
    where
        L1: Clone,
        L2: Clone,
    {
        if self.l1_ttl_cap.is_zero() {
            return Err(TieredError::ZeroL1TtlCap);
        }
        if self.trust_capacity == 0 {
            return Err(TieredError::ZeroTrustCapacity);
        }
        let state = Arc::new(State {
            subscribed: AtomicBool::new(false),
            listening: AtomicBool::new(self.start.is_some()),
            relaying: AtomicBool::new(false),
            backfills: AtomicU64::new(0),
            remote_removals: AtomicU64::new(0),
            remote_clears: AtomicU64::new(0),
            revalidations: AtomicU64::new(0),
            observers: Mutex::new(Vec::new()),
            trust: TrustMap::new(self.trust_capacity),
        });
        let mut tiers = Tiered {
            l1: self.l1,
            l2: self.l2,
            l1_ttl_cap: self.l1_ttl_cap,
            state,
            _alive: None,
        };
        if let Some(start) = self.start {
            if tokio::runtime::Handle::try_current().is_err() {
                return Err(TieredError::NoRuntime);
            }
            let (alive, stop) = oneshot::channel();
            start(tiers.detached(), stop);
            tiers._alive = Some(Arc::new(alive));
        }
        Ok(tiers)
    }
}

/// Two stores as one: a fast local L1 (a memory store) in front of a shared
/// L2 (a [`RedisStore`](crate::redis::RedisStore)).
///
/// - [`peek`](Store::peek) looks at L1 only. A copy L1 still trusts (see
///   the [L1 TTL cap](TieredBuilder::l1_ttl_cap)) is a hit; a copy past
///   the cap that is fresh by its own window is a fresh hit too, while
///   one background check against L2 runs; a copy in its
///   stale-while-revalidate window is a hit (the cache layer serves it
///   stale and refreshes it); anything else (no copy, or one only good if
///   the source fails) is [`Peek::Unknown`], so the cache layer asks
///   [`get`](Store::get).
/// - [`get`](Store::get) answers from L1 while L1 trusts its copy;
///   otherwise it reads L2, and when L2 has a fresher entry it back-fills
///   L1 with it and returns it. When L2 has the same entry, L1 trusts its
///   copy again; when L2 has none, L1's copy is kept only for when the
///   source fails; when L2 fails, L1's copy (if not expired) is returned,
///   and [`lookup`](Store::lookup) reports L2's failure with it.
/// - [`put`](Store::put) writes both; [`remove`](Store::remove) and
///   [`clear`](Store::clear) act on both (a Redis L2 tells other instances);
///   leases are L2's.
///
/// With [`invalidations`](TieredBuilder::invalidations), every instance
/// applies what the others do: a removal or a clear drops its local
/// copies, and a newer write ([`Invalidation::Updated`], which a
/// [`RedisStore`](crate::redis::RedisStore) publishes on every put) replaces
/// its L1 copy with the newer entry, so no instance serves an older copy
/// once the message has arrived. Every clone shares the same tiers and
/// listener.
///
/// With the `redis` feature:
///
#[cfg_attr(feature = "redis", doc = "```no_run")]
#[cfg_attr(not(feature = "redis"), doc = "```ignore")]
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast_cache::redis::RedisStore;
/// use steadfast_cache::{CacheLayer, MemoryStore, Tiered};
/// use steadfast_config::{ConfigError, ConfigResponse};
///
/// let l1 = MemoryStore::<Arc<str>, ConfigResponse>::new(10_000)?;
/// let l2 = RedisStore::<Arc<str>, ConfigResponse>::builder("redis://127.0.0.1:6379")
///     .prefix("myapp:config")
///     .build()?;
/// let store = Tiered::builder(l1, l2.clone())
///     .l1_ttl_cap(Duration::from_secs(10))
///     .invalidations(l2.invalidations())
///     .build()?;
/// let cache = CacheLayer::builder::<ConfigResponse, ConfigError>()
///     .ttl(Duration::from_secs(60))
///     .store(store)
///     .distributed_single_flight(
///         Duration::from_secs(5),
///         Duration::from_secs(3),
///         Duration::from_millis(20),
///     )
///     .build()?;
/// # let _ = cache;
/// # Ok(())
/// # }
/// ```
pub struct Tiered<L1, L2> {
    l1: L1,
    l2: L2,
    l1_ttl_cap: Duration,
    state: Arc<State>,
    _alive: Option<Arc<oneshot::Sender<()>>>,
}

impl<L1: Clone, L2: Clone> Clone for Tiered<L1, L2> {
    fn clone(&self) -> Self {
        Self {
            l1: self.l1.clone(),
            l2: self.l2.clone(),
            l1_ttl_cap: self.l1_ttl_cap,
            state: self.state.clone(),
            _alive: self._alive.clone(),
        }
    }
}

impl<L1: fmt::Debug, L2: fmt::Debug> fmt::Debug for Tiered<L1, L2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tiered")
            .field("l1", &self.l1)
            .field("l2", &self.l2)
            .field("l1_ttl_cap", &self.l1_ttl_cap)
            .field("subscribed", &self.is_subscribed())
            .finish()
    }
}

impl<L1, L2> Tiered<L1, L2> {
    /// Starts building a store of `l1` in front of `l2`.
    pub fn builder(l1: L1, l2: L2) -> TieredBuilder<L1, L2> {
        TieredBuilder {
            l1,
            l2,
            l1_ttl_cap: Duration::from_secs(30),
            trust_capacity: 10_000,
            start: None,
        }
    }

    /// The local tier.
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// The shared tier.
    pub fn l2(&self) -> &L2 {
        &self.l2
    }

    /// Whether invalidation messages are being received right now.
    pub fn is_subscribed(&self) -> bool {
        self.state.subscribed.load(Ordering::Acquire)
    }

    /// The store's own counters (each tier keeps its own as well).
    pub fn stats(&self) -> TieredStats {
        TieredStats {
            backfills: self.state.backfills.load(Ordering::Relaxed),
            remote_removals: self.state.remote_removals.load(Ordering::Relaxed),
            remote_clears: self.state.remote_clears.load(Ordering::Relaxed),
            revalidations: self.state.revalidations.load(Ordering::Relaxed),
        }
    }

    /// A clone that does not keep the invalidation listener alive, for the
    /// store's own tasks.
    fn detached(&self) -> Self
    where
        L1: Clone,
        L2: Clone,
    {
        Self {
            l1: self.l1.clone(),
            l2: self.l2.clone(),
            l1_ttl_cap: self.l1_ttl_cap,
            state: self.state.clone(),
            _alive: None,
        }
    }
}

impl<L1, L2> Tiered<L1, L2> {
    /// The L1 copy of `entry` for `key` at `now`.
    fn capped<K: Hash, V>(&self, key: &K, entry: Entry<V>, now: Instant) -> Entry<V> {
        let trust = &self.state.trust;
        trust.cap(trust.hash(key), entry, now, self.l1_ttl_cap)
    }

    /// Starts the check of `key`'s L1 copy against L2, unless one runs.
    fn revalidate_in_background<K, V>(&self, key: &K, trust: Arc<Trust>, now: Instant)
    where
        L1: Store<K, V>,
        L2: Store<K, V>,
        K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !trust.claim(now) {
            return;
        }
        bump(
            &self.state.revalidations,
            "steadfast_cache_l1_revalidations_total",
        );
        let tiers = self.detached();
        let key = key.clone();
        runtime.spawn(async move {
            let local = match tiers.l1.peek(&key) {
                Peek::Hit(copy) => Some(tiers.state.trust.own(tiers.state.trust.hash(&key), copy)),
                Peek::Miss | Peek::Unknown => None,
            };
            let found = tiers.reconcile(&key, local, Instant::now()).await;
            if let Some(error) = &found.error {
                tracing::debug!(key = %key, %error, "could not check an L1 copy against L2; serving it");
            }
            trust.done(found.error.is_none(), Instant::now(), tiers.l1_ttl_cap);
        });
    }

    /// Asks L2 about `key`, whose L1 copy (by its own windows) is `local`
    /// and no longer trusted, and brings L1 in line with the answer.
    async fn reconcile<K, V>(&self, key: &K, local: Option<Entry<V>>, now: Instant) -> Lookup<V>
    where
        L1: Store<K, V>,
        L2: Store<K, V>,
        K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let Lookup { entry, error } = self.l2.lookup(key).await;
        let remote = entry.filter(|e| e.freshness(now) != Freshness::Expired);
        let answer = match (remote, local) {
            (Some(remote), local)
                if local
                    .as_ref()
                    .is_none_or(|l| remote.fresh_until > l.fresh_until) =>
            {
                let copy = self.capped(key, remote.clone(), now);
                match self.l1.put_local(key.clone(), copy).await {
                    Ok(()) => bump(&self.state.backfills, "steadfast_cache_l2_backfills_total"),
                    Err(error) => tracing::debug!(key = %key, %error, "L1 back-fill failed"),
                }
                Some(remote)
            }
            // L2 holds this copy (or an older one): trust it again.
            (Some(_), Some(local)) => {
                if local.freshness(now) == Freshness::Fresh {
                    self.keep(key, self.capped(key, local.clone(), now)).await;
                }
                Some(local)
            }
            // L2 has none (another instance removed it, or L2 lost it):
            // the copy is good only if the source fails.
            (None, Some(local)) if error.is_none() && local.revalidate_until > now => {
                let demoted = Entry {
                    fresh_until: now,
                    revalidate_until: now,
                    ..local
                };
                self.state.trust.forget(self.state.trust.hash(key));
                self.keep(key, demoted.clone()).await;
                Some(demoted)
            }
            (_, local) => local,
        };
        Lookup {
            entry: answer,
            error,
        }
    }

    /// Writes `copy` over L1's copy of `key`.
    async fn keep<K, V>(&self, key: &K, copy: Entry<V>)
    where
        L1: Store<K, V>,
        K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        if let Err(error) = self.l1.put_local(key.clone(), copy).await {
            tracing::debug!(key = %key, %error, "could not update an L1 copy");
        }
    }
}

impl<K, V, L1, L2> Store<K, V> for Tiered<L1, L2>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    L1: Store<K, V>,
    L2: Store<K, V>,
{
    fn peek(&self, key: &K) -> Peek<V> {
        let Peek::Hit(copy) = self.l1.peek(key) else {
            return Peek::Unknown;
        };
        let now = Instant::now();
        if now < copy.fresh_until {
            return Peek::Hit(copy);
        }
        self.past_cap(key, copy, now)
    }

    fn peek_with<R>(&self, key: &K, f: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        // A fresh copy in memory is what `peek` answers; past its fresh
        // window, `peek` decides.
        let now = Instant::now();
        let mut f = Some(f);
        let fresh = self
            .l1
            .peek_with(key, |copy| {
                (now < copy.fresh_until)
                    .then(|| f.take().map(|f| f(copy)))
                    .flatten()
            })
            .flatten();
        if fresh.is_some() {
            return fresh;
        }
        match self.peek(key) {
            Peek::Hit(entry) => f.map(|f| f(&entry)),
            Peek::Miss | Peek::Unknown => None,
        }
    }

    async fn get(&self, key: &K) -> Result<Option<Entry<V>>, StoreError> {
        self.lookup(key).await.into_result()
    }

    async fn lookup(&self, key: &K) -> Lookup<V> {
        // An L1 that is itself tiered (a shared tier with a disk behind)
        // may fail in part: its failure is reported with the answer.
        let (copy, l1_error) = match self.l1.peek(key) {
            Peek::Hit(entry) => (Some(entry), None),
            Peek::Miss => (None, None),
            Peek::Unknown => {
                let found = self.l1.lookup(key).await;
                if let Some(error) = &found.error {
                    tracing::debug!(key = %key, %error, "L1 look-up failed");
                }
                (found.entry, found.error)
            }
        };
        let now = Instant::now();
        let copy = copy.filter(|e| e.freshness(now) != Freshness::Expired);
        let trust = &self.state.trust;
        if copy.as_ref().is_some_and(|e| now < e.fresh_until) {
            let entry = copy.map(|e| trust.own(trust.hash(key), e));
            return Lookup {
                entry,
                error: l1_error,
            };
        }
        let local = copy.map(|e| trust.own(trust.hash(key), e));
        let mut found = self.reconcile(key, local, now).await;
        found.error = found.error.or(l1_error);
        found
    }

    async fn put(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        let copy = self.capped(&key, entry.clone(), Instant::now());
        let local = self.l1.put(key.clone(), copy).await;
        let remote = self.l2.put(key, entry).await;
        remote.and(local)
    }

    async fn insert(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        let copy = self.capped(&key, entry.clone(), Instant::now());
        let local = self.l1.insert(key.clone(), copy).await;
        let remote = self.l2.insert(key, entry).await;
        remote.and(local)
    }

    async fn remove(&self, key: &K) -> Result<(), StoreError> {
        self.state.trust.forget(self.state.trust.hash(key));
        let local = self.l1.remove(key).await;
        let remote = self.l2.remove(key).await;
        remote.and(local)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.state.trust.clear();
        let local = self.l1.clear().await;
        let remote = self.l2.clear().await;
        remote.and(local)
    }

    async fn forget_local(&self, key: &K) -> Result<(), StoreError> {
        self.state.trust.forget(self.state.trust.hash(key));
        let local = self.l1.forget_local(key).await;
        let remote = self.l2.forget_local(key).await;
        remote.and(local)
    }

    async fn forget_all_local(&self) -> Result<(), StoreError> {
        self.state.trust.clear();
        let local = self.l1.forget_all_local().await;
        let remote = self.l2.forget_all_local().await;
        remote.and(local)
    }

    async fn put_local(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        let copy = self.capped(&key, entry.clone(), Instant::now());
        let local = self.l1.put_local(key.clone(), copy).await;
        let remote = self.l2.put_local(key, entry).await;
        remote.and(local)
    }

    fn observe_remote(&self, observer: RemoteObserver<K>) {
        if self.state.listening.load(Ordering::Acquire) {
            let mut observers = self
                .state
                .observers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            observers.push(Box::new(observer));
            return;
        }
        // The feed is L1's (a shared tier in front of a disk snapshot):
        // what it says also reaches the copies kept in L2.
        if !self.state.relaying.swap(true, Ordering::AcqRel) {
            let l2 = self.l2.clone();
            self.l1
                .observe_remote(Arc::new(move |change| feed::relay(&l2, change)));
        }
        self.l1.observe_remote(observer.clone());
        self.l2.observe_remote(observer);
    }

    fn acquire_lease(
        &self,
        key: &K,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<LeaseToken>, StoreError>> + Send {
        self.l2.acquire_lease(key, ttl)
    }

    fn release_lease(
        &self,
        key: &K,
        token: LeaseToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.l2.release_lease(key, token)
    }

    fn len_hint(&self) -> u64 {
        self.l1.len_hint()
    }
}

impl<L1, L2> Tiered<L1, L2> {
    /// What [`peek`](Store::peek) answers for an L1 copy past the cap.
    #[inline(never)]
    fn past_cap<K, V>(&self, key: &K, copy: Entry<V>, now: Instant) -> Peek<V>
    where
        L1: Store<K, V>,
        L2: Store<K, V>,
        K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let trust = &self.state.trust;
        if let Some(record) = trust.of(trust.hash(key), &copy)
            && now < record.fresh_until
        {
            let fresh_until = record.fresh_until;
            self.revalidate_in_background(key, record, now);
            return Peek::Hit(Entry {
                fresh_until,
                ..copy
            });
        }
        // A copy past its revalidation window is served only if the
        // source fails, and L2 may hold a newer one: L2 must be asked,
        // and a fresh value found there is L2's, not this copy's.
        if copy.revalidate_until <= now {
            Peek::Unknown
        } else {
            Peek::Hit(copy)
        }
    }
}
