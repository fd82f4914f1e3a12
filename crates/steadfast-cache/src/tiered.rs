//! [`Tiered`]: a memory L1 in front of a shared L2, kept coherent across
//! instances by invalidation messages.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::store::{Entry, Freshness, LeaseToken, Peek, Store, StoreError};

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

/// A message from a shared tier to the instances that keep local copies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation {
    /// Drop the copy of the key whose displayed form is this string.
    Key(String),
    /// Another instance wrote a newer entry of the key whose displayed
    /// form is this string: drop the local copy, so the next read fetches
    /// the newer one from the shared tier.
    Updated(String),
    /// Drop every copy: the shared tier was cleared.
    All,
    /// The feed is (again) listening. Anything published while it was not
    /// may have been missed, so every local copy is dropped.
    Subscribed,
    /// The feed lost its subscription; it keeps trying to get it back.
    Unsubscribed,
}

/// Where an [`Invalidations`] feed delivers its messages.
///
/// It closes when the last clone of the [`Tiered`] that listens is dropped;
/// a feed ends then.
#[derive(Debug, Clone)]
pub struct InvalidationSink {
    tx: mpsc::Sender<Invalidation>,
}

impl InvalidationSink {
    /// A sink holding up to `capacity` undelivered messages, and where they
    /// arrive: for a listener of a feed other than a [`Tiered`] store (a
    /// watcher following its fleet's notices).
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Invalidation>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }

    /// Delivers `message`; `false` when the sink is closed and the feed
    /// should end.
    pub async fn send(&self, message: Invalidation) -> bool {
        self.tx.send(message).await.is_ok()
    }

    /// Completes when the sink is closed.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Whether the sink is closed.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A source of [`Invalidation`] messages for [`Tiered`], such as a Redis
/// pub/sub channel
/// ([`RedisStore::invalidations`](crate::redis::RedisStore::invalidations)).
pub trait Invalidations: Send + 'static {
    /// Delivers messages into `sink` until it closes, reconnecting as
    /// needed. It sends [`Invalidation::Subscribed`] each time it starts
    /// listening and [`Invalidation::Unsubscribed`] each time it stops.
    fn run(self, sink: InvalidationSink) -> impl Future<Output = ()> + Send + 'static;
}

/// A bad [`Tiered`] configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TieredError {
    /// The L1 TTL cap is zero: nothing would ever be kept in L1.
    ZeroL1TtlCap,
    /// Listening for invalidations needs a tokio runtime, and the builder
    /// was not called inside one.
    NoRuntime,
}

impl fmt::Display for TieredError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            TieredError::ZeroL1TtlCap => "the L1 TTL cap must be greater than zero",
            TieredError::NoRuntime => "listening for invalidations needs a tokio runtime",
        })
    }
}

impl Error for TieredError {}

/// A snapshot of a [`Tiered`] store's own counters.
///
/// The same counts go to the `metrics` facade as
/// `steadfast_cache_l2_backfills_total`,
/// `steadfast_cache_l2_invalidations_total` and
/// `steadfast_cache_l2_remote_clears_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TieredStats {
    /// L2 entries copied into L1.
    pub backfills: u64,
    /// L1 copies dropped because another instance removed the key or
    /// wrote a newer entry of it.
    pub remote_removals: u64,
    /// Times L1 was emptied by a message: a remote clear, or a
    /// (re)subscription after which earlier messages may have been missed.
    pub remote_clears: u64,
}

#[derive(Debug, Default)]
struct State {
    subscribed: AtomicBool,
    backfills: AtomicU64,
    remote_removals: AtomicU64,
    remote_clears: AtomicU64,
}

fn bump(counter: &AtomicU64, name: &'static str) {
    counter.fetch_add(1, Ordering::Relaxed);
    metrics::counter!(name).increment(1);
}

type Start = Box<dyn FnOnce(Arc<State>, oneshot::Receiver<()>) + Send>;

/// Builds a [`Tiered`] store; see [`Tiered::builder`].
pub struct TieredBuilder<L1, L2> {
    l1: L1,
    l2: L2,
    l1_ttl_cap: Duration,
    start: Option<Start>,
}

impl<L1: fmt::Debug, L2: fmt::Debug> fmt::Debug for TieredBuilder<L1, L2> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredBuilder")
            .field("l1", &self.l1)
            .field("l2", &self.l2)
            .field("l1_ttl_cap", &self.l1_ttl_cap)
            .field("invalidations", &self.start.is_some())
            .finish()
    }
}

impl<L1, L2> TieredBuilder<L1, L2> {
    /// The longest an entry stays in L1 (default 30 s), whatever its own
    /// deadlines. Copies written or back-filled into L1 have every deadline
    /// capped at now + this, so without invalidation messages an L1 copy is
    /// never older than this.
    pub fn l1_ttl_cap(mut self, cap: Duration) -> Self {
        self.l1_ttl_cap = cap;
        self
    }

    /// Listens to `feed` and drops L1 copies as it says. A spawned task
    /// applies the messages; it ends with the last clone of the store.
    ///
    /// The key type is inferred from `L1`; keys come back from their
    /// displayed form through [`RemoteKey`].
    pub fn invalidations<K, V, F>(mut self, feed: F) -> Self
    where
        L1: Store<K, V>,
        K: RemoteKey + Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: Invalidations,
    {
        let l1 = self.l1.clone();
        self.start = Some(Box::new(move |state, stop| {
            let (tx, rx) = mpsc::channel(256);
            tokio::spawn(feed.run(InvalidationSink { tx }));
            tokio::spawn(apply::<K, V, L1>(l1, rx, stop, state));
        }));
        self
    }

    /// The store. Fails on a zero L1 TTL cap, or when invalidations are
    /// set up outside a tokio runtime.
    pub fn build(self) -> Result<Tiered<L1, L2>, TieredError> {
        if self.l1_ttl_cap.is_zero() {
            return Err(TieredError::ZeroL1TtlCap);
        }
        let state = Arc::new(State::default());
        let alive = match self.start {
            None => None,
            Some(start) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(TieredError::NoRuntime);
                }
                let (alive, stop) = oneshot::channel();
                start(state.clone(), stop);
                Some(Arc::new(alive))
            }
        };
        Ok(Tiered {
            l1: self.l1,
            l2: self.l2,
            l1_ttl_cap: self.l1_ttl_cap,
            state,
            _alive: alive,
        })
    }
}

async fn apply<K, V, L1>(
    l1: L1,
    mut rx: mpsc::Receiver<Invalidation>,
    mut stop: oneshot::Receiver<()>,
    state: Arc<State>,
) where
    L1: Store<K, V>,
    K: RemoteKey + Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut stop => break,
            message = rx.recv() => message,
        };
        let Some(message) = message else { break };
        match message {
            Invalidation::Key(raw) | Invalidation::Updated(raw) => match K::from_remote_key(&raw) {
                Some(key) => {
                    if let Err(error) = l1.remove(&key).await {
                        tracing::warn!(key = %raw, %error, "could not drop an invalidated L1 copy");
                    }
                    bump(
                        &state.remote_removals,
                        "steadfast_cache_l2_invalidations_total",
                    );
                    tracing::debug!(key = %raw, "dropped an L1 copy removed by another instance");
                }
                None => tracing::debug!(key = %raw, "ignored an invalidation for a foreign key"),
            },
            Invalidation::All | Invalidation::Subscribed => {
                if let Err(error) = l1.clear().await {
                    tracing::warn!(%error, "could not clear L1 after an invalidation");
                }
                bump(
                    &state.remote_clears,
                    "steadfast_cache_l2_remote_clears_total",
                );
                if message == Invalidation::Subscribed {
                    state.subscribed.store(true, Ordering::Release);
                    tracing::debug!("listening for invalidations; L1 cleared");
                } else {
                    tracing::debug!("L1 cleared by another instance");
                }
            }
            Invalidation::Unsubscribed => {
                state.subscribed.store(false, Ordering::Release);
                tracing::warn!("invalidation feed lost; L1 copies may lag until it is back");
            }
        }
    }
    state.subscribed.store(false, Ordering::Release);
}

/// Two stores as one: a fast local L1 (a memory store) in front of a shared
/// L2 (a [`RedisStore`](crate::redis::RedisStore)).
///
/// - [`peek`](Store::peek) looks at L1 only: an L1 entry that is fresh
///   or within its stale-while-revalidate window is a hit; anything else
///   (no copy, or one only good if the source fails) is
///   [`Peek::Unknown`], so the cache layer asks [`get`](Store::get).
/// - [`get`](Store::get) answers from L1 while the L1 entry is fresh;
///   otherwise it reads L2, and when L2 has a fresher entry it back-fills
///   L1 with it (deadlines capped by the [L1 TTL
///   cap](TieredBuilder::l1_ttl_cap)) and returns it. When L2 fails or has
///   nothing newer, the L1 entry (if not expired) is returned.
/// - [`put`](Store::put) writes both; [`remove`](Store::remove) and
///   [`clear`](Store::clear) act on both (a Redis L2 tells other instances);
///   leases are L2's.
///
/// With [`invalidations`](TieredBuilder::invalidations), every instance
/// drops its L1 copy when any instance removes the key or clears the store.
/// Every clone shares the same tiers and listener.
///
/// ```no_run
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
        }
    }

    fn capped<V>(&self, mut entry: Entry<V>, now: Instant) -> Entry<V> {
        if let Some(limit) = now.checked_add(self.l1_ttl_cap) {
            entry.fresh_until = entry.fresh_until.min(limit);
            entry.revalidate_until = entry.revalidate_until.min(limit);
            entry.expires_at = entry.expires_at.min(limit);
        }
        entry
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
        match self.l1.peek(key) {
            // A copy past its revalidation window is served only if the
            // source fails, and L2 may hold a newer one: L2 must be asked,
            // and a fresh value found there is L2's, not this copy's.
            Peek::Hit(entry) if entry.revalidate_until <= Instant::now() => Peek::Unknown,
            Peek::Hit(entry) => Peek::Hit(entry),
            Peek::Miss | Peek::Unknown => Peek::Unknown,
        }
    }

    async fn get(&self, key: &K) -> Result<Option<Entry<V>>, StoreError> {
        let local = match self.l1.peek(key) {
            Peek::Hit(entry) => Some(entry),
            Peek::Miss => None,
            Peek::Unknown => self.l1.get(key).await.unwrap_or_else(|error| {
                tracing::debug!(key = %key, %error, "L1 look-up failed");
                None
            }),
        };
        let now = Instant::now();
        let local = local.filter(|e| e.freshness(now) != Freshness::Expired);
        if local
            .as_ref()
            .is_some_and(|e| e.freshness(now) == Freshness::Fresh)
        {
            return Ok(local);
        }
        match self.l2.get(key).await {
            Ok(Some(remote))
                if remote.freshness(now) != Freshness::Expired
                    && local
                        .as_ref()
                        .is_none_or(|l| remote.fresh_until > l.fresh_until) =>
            {
                let copy = self.capped(remote.clone(), now);
                match self.l1.put(key.clone(), copy).await {
                    Ok(()) => bump(&self.state.backfills, "steadfast_cache_l2_backfills_total"),
                    Err(error) => tracing::debug!(key = %key, %error, "L1 back-fill failed"),
                }
                Ok(Some(remote))
            }
            Ok(_) => Ok(local),
            Err(error) if local.is_some() => {
                tracing::debug!(key = %key, %error, "L2 failed; serving the L1 copy");
                Ok(local)
            }
            Err(error) => Err(error),
        }
    }

    async fn put(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        let copy = self.capped(entry.clone(), Instant::now());
        let local = self.l1.put(key.clone(), copy).await;
        let remote = self.l2.put(key, entry).await;
        remote.and(local)
    }

    async fn remove(&self, key: &K) -> Result<(), StoreError> {
        let local = self.l1.remove(key).await;
        let remote = self.l2.remove(key).await;
        remote.and(local)
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let local = self.l1.clear().await;
        let remote = self.l2.clear().await;
        remote.and(local)
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
