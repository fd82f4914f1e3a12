//! The [`Store`] trait: where cached entries live.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

/// A cached value with its freshness deadlines.
///
/// An entry is *fresh* until `fresh_until`; then *stale but revalidatable*
/// (stale-while-revalidate) until `revalidate_until`; then *usable only if
/// the source fails* (stale-if-error) until `expires_at`, after which it is
/// gone. `fresh_until <= revalidate_until <= expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<V> {
    /// The cached value.
    pub value: V,
    /// End of the fresh window.
    pub fresh_until: Instant,
    /// End of the stale-while-revalidate window.
    pub revalidate_until: Instant,
    /// End of the stale-if-error window: the entry is dead after it.
    pub expires_at: Instant,
}

/// Where an [`Entry`] stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it, and refresh it in the background.
    Revalidate,
    /// Serve it only if the source fails.
    StaleIfError,
    /// Do not serve it.
    Expired,
}

impl<V> Entry<V> {
    /// Where this entry stands at `now`.
    pub fn freshness(&self, now: Instant) -> Freshness {
        if now < self.fresh_until {
            Freshness::Fresh
        } else if now < self.revalidate_until {
            Freshness::Revalidate
        } else if now < self.expires_at {
            Freshness::StaleIfError
        } else {
            Freshness::Expired
        }
    }

    /// How long the store must keep this entry from `now` on.
    pub fn time_to_live(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }
}

/// The answer of a synchronous, in-memory look-up ([`Store::peek`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek<V> {
    /// Found in memory.
    Hit(Entry<V>),
    /// Definitely not in this store.
    Miss,
    /// Not in memory, but the store has a remote tier that must be asked
    /// with [`Store::get`].
    Unknown,
}

/// What [`Store::lookup`] found: the entry of the best tier that had one,
/// and the failure of a tier that could not be read.
///
/// A tiered store that answers from its local tier because its shared
/// tier failed returns both: the local entry and the shared tier's error,
/// so the cache layer serves the entry and still counts the failure.
#[derive(Debug)]
#[non_exhaustive]
pub struct Lookup<V> {
    /// The entry found, if any.
    pub entry: Option<Entry<V>>,
    /// The failure of a tier that could not be read.
    pub error: Option<StoreError>,
}

impl<V> Lookup<V> {
    /// A look-up that found `entry` (or nothing) with every tier answering.
    pub fn found(entry: Option<Entry<V>>) -> Self {
        Self { entry, error: None }
    }

    /// A look-up that found `entry` (or nothing) although a tier failed
    /// with `error`.
    pub fn partial(entry: Option<Entry<V>>, error: StoreError) -> Self {
        Self {
            entry,
            error: Some(error),
        }
    }

    /// The answer of [`Store::get`]: the entry, or the error when there is
    /// no entry.
    pub fn into_result(self) -> Result<Option<Entry<V>>, StoreError> {
        match (self.entry, self.error) {
            (None, Some(error)) => Err(error),
            (entry, _) => Ok(entry),
        }
    }
}

impl<V> From<Result<Option<Entry<V>>, StoreError>> for Lookup<V> {
    fn from(result: Result<Option<Entry<V>>, StoreError>) -> Self {
        match result {
            Ok(entry) => Self::found(entry),
            Err(error) => Self::partial(None, error),
        }
    }
}

/// A change another instance made to a shared tier, as the tier's
/// invalidation feed reports it to whoever observes the store
/// ([`Store::observe_remote`]). The cache layer applies each as it applies
/// its own invalidations: a removal cancels a running load of the key and
/// drops its cached "not found", and so on.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteChange<'a, K> {
    /// The key was removed.
    Removed(&'a K),
    /// A newer entry of the key was written.
    Updated(&'a K),
    /// The distributed single-flight lease of the key was given back.
    LeaseReleased(&'a K),
    /// Every key was removed.
    Cleared,
    /// The feed listens again after a break: any change may have been
    /// missed.
    Resubscribed,
}

impl<K> Clone for RemoteChange<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for RemoteChange<'_, K> {}

/// Called with each [`RemoteChange`]; returns `false` once it no longer
/// wants to hear any (its cache is gone), and is then forgotten.
pub type RemoteObserver<K> = Arc<dyn Fn(RemoteChange<'_, K>) -> bool + Send + Sync>;

/// A token proving ownership of a distributed single-flight lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub u64);

/// A failure of a store. It never fails a request: the cache layer treats it
/// as a miss (or a lost write), logs it and counts it.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

/// What kind of [`StoreError`] happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store did not answer in time.
    Timeout,
    /// The store could not be reached or the connection broke.
    Unavailable,
    /// The stored bytes could not be decoded (garbage, another version).
    Decode,
    /// The value could not be encoded.
    Encode,
    /// The store answered with an error.
    Backend,
}

impl StoreError {
    /// A store error of `kind`, caused by `source`.
    pub fn new<E>(kind: StoreErrorKind, source: E) -> Self
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// A store error of `kind` with no further cause.
    pub fn from_kind(kind: StoreErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// What kind of error this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            StoreErrorKind::Timeout => "cache store timed out",
            StoreErrorKind::Unavailable => "cache store unavailable",
            StoreErrorKind::Decode => "cache store returned undecodable bytes",
            StoreErrorKind::Encode => "cache value could not be encoded",
            StoreErrorKind::Backend => "cache store error",
        };
        let first = self.source.as_deref().map(|e| e as &(dyn Error + 'static));
        write!(f, "{what}{}", steadfast_core::Causes::new(what, first))
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Where cached entries live: memory, Redis, or both ([`Tiered`](crate::Tiered)).
///
/// Every clone of a store shares the same entries. Keys are displayed to
/// form remote keys; values are cloned out (keep them cheap to clone).
pub trait Store<K, V>: Clone + Send + Sync + 'static
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A synchronous look-up in memory: no allocation, no await. The cache
    /// layer's hit path uses only this.
    ///
    /// The entry may be past any of its deadlines: the caller judges its
    /// [`Freshness`], so the store need not read the clock.
    fn peek(&self, key: &K) -> Peek<V>;

    /// `f` of the entry [`peek`](Store::peek) would return, `None` when it
    /// finds none: for a caller that needs a part of the entry, without a
    /// copy of the whole. The default peeks; a store that keeps entries in
    /// memory runs `f` on its own copy.
    #[inline]
    fn peek_with<R>(&self, key: &K, f: impl FnOnce(&Entry<V>) -> R) -> Option<R> {
        match self.peek(key) {
            Peek::Hit(entry) => Some(f(&entry)),
            Peek::Miss | Peek::Unknown => None,
        }
    }

    /// Looks `key` up in every tier.
    ///
    /// The cache layer calls it on a miss, and when [`peek`](Store::peek)
    /// found only an entry that is past its revalidation window (a shared
    /// tier may hold a newer one).
    fn get(&self, key: &K) -> impl Future<Output = Result<Option<Entry<V>>, StoreError>> + Send;

    /// Like [`get`](Store::get), and also reports the failure of a tier
    /// the answer was found without (see [`Lookup`]). The cache layer reads
    /// through this; the default wraps `get`.
    fn lookup(&self, key: &K) -> impl Future<Output = Lookup<V>> + Send {
        let get = self.get(key);
        async move { Lookup::from(get.await) }
    }

    /// Stores `entry` under `key` until its `expires_at`.
    fn put(&self, key: K, entry: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores `entry`, which no load of this instance produced (a value
    /// inserted from outside, a watcher's new version), under `key`: like
    /// [`put`](Store::put), but a shared tier writes it whatever loads of
    /// the key began before a removal (see [fences](crate::redis#fences)).
    /// The default puts it.
    fn insert(
        &self,
        key: K,
        entry: Entry<V>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.put(key, entry)
    }

    /// Removes `key` (and, for a shared tier, tells other instances to drop
    /// their copies).
    fn remove(&self, key: &K) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes every entry of this store (for a shared tier: of its
    /// namespace).
    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops this instance's own copy of `key` and tells no one: what a
    /// store does when another instance removed the key from a shared
    /// tier. The default removes it; a shared tier does nothing (the other
    /// instance removed it there already).
    fn forget_local(&self, key: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.remove(key)
    }

    /// Drops every copy this instance holds and tells no one: what a store
    /// does when another instance cleared a shared tier. The default
    /// clears; a shared tier does nothing.
    fn forget_all_local(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.clear()
    }

    /// Stores `entry` in this instance's own tiers only: what a store does
    /// with a newer entry another instance wrote to a shared tier. The
    /// default puts it; a shared tier does nothing (it holds it already).
    fn put_local(
        &self,
        key: K,
        entry: Entry<V>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.put(key, entry)
    }

    /// Registers `observer` to hear the changes other instances make to a
    /// shared tier of this store (the cache layer registers one when it is
    /// built). A store that hears of no such changes ignores it (the
    /// default); a [`Tiered`](crate::Tiered) store with an invalidation
    /// feed calls it for each message, before it drops its local copies.
    fn observe_remote(&self, observer: RemoteObserver<K>) {
        let _ = observer;
    }

    /// Tries to take the distributed single-flight lease on `key` for `ttl`.
    /// `Ok(Some(token))`: this caller fetches; `Ok(None)`: another instance
    /// holds it. A store that is not shared always grants it.
    fn acquire_lease(
        &self,
        key: &K,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<LeaseToken>, StoreError>> + Send {
        let _ = (key, ttl);
        std::future::ready(Ok(Some(LeaseToken(0))))
    }

    /// Gives the lease back, if `token` still holds it.
    fn release_lease(
        &self,
        key: &K,
        token: LeaseToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = (key, token);
        std::future::ready(Ok(()))
    }

    /// The number of entries held in memory (an estimate for concurrent
    /// caches).
    fn len_hint(&self) -> u64 {
        0
    }
}
