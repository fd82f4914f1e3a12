//! [`CacheLayer`] and its builder.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use steadfast_core::{Failure, Provenance};
use tower_layer::Layer;

use crate::error::BuildError;
use crate::event::{Event, Listener};
use crate::handle::CacheHandle;
use crate::key::DefaultKey;
use crate::memory::MemoryStore;
use crate::refresh::RefreshBackoff;
use crate::service::Cache;
use crate::state::{
    LeaseSettings, MAX_WINDOW, Policy, Shared, always_storable, is_fallback, never_fallback,
    never_not_found, no_mark,
};
use crate::store::Store;
use crate::tiered::Tiered;

/// Caches the responses of the service it wraps: fresh for a TTL, then
/// stale-while-revalidate, then stale-if-error; one load per key at a
/// time; optional negative caching of "not found".
///
/// The layer is configuration plus the shared cache: every service it makes
/// (and every clone of those) shares one store, one set of running loads and
/// one set of counters. Build it with [`CacheLayer::builder`].
///
/// Type parameters: `K` the key, `V` the cached response, `E` the error,
/// `F` the [`KeyFn`](crate::KeyFn), `S` the [`Store`]. They are usually
/// inferred from the service the layer wraps.
pub struct CacheLayer<K, V, E, F = DefaultKey, S = MemoryStore<K, V>> {
    key_fn: F,
    policy: Policy<V, E>,
    shared: Arc<Shared<K, V, S>>,
}

impl CacheLayer<(), (), ()> {
    /// A builder with the defaults: a TTL of one minute, no jitter, no stale
    /// windows, no negative caching, keys from
    /// [`CacheKey`](steadfast_core::CacheKey), a [`MemoryStore`] of 10,000
    /// entries.
    pub fn builder<V, E>() -> CacheLayerBuilder<V, E> {
        CacheLayerBuilder::new()
    }
}

impl<K, V, E, F, S> CacheLayer<K, V, E, F, S> {
    /// A handle on the shared cache: invalidation and counters.
    pub fn handle(&self) -> CacheHandle<K, V, S> {
        CacheHandle::new(Arc::clone(&self.shared), self.policy.windows())
    }
}

impl<Svc, K, V, E, F: Clone, S> Layer<Svc> for CacheLayer<K, V, E, F, S> {
    type Service = Cache<Svc, K, V, E, F, S>;

    fn layer(&self, inner: Svc) -> Self::Service {
        Cache::new(
            inner,
            self.key_fn.clone(),
            self.policy,
            Arc::clone(&self.shared),
        )
    }
}

impl<K, V, E, F: Clone, S> Clone for CacheLayer<K, V, E, F, S> {
    fn clone(&self) -> Self {
        Self {
            key_fn: self.key_fn.clone(),
            policy: self.policy,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K, V, E, F, S> fmt::Debug for CacheLayer<K, V, E, F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayer")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// The store a [`CacheLayerBuilder`] builds when none was given: a
/// [`MemoryStore`] bounded by entry count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultStore {
    max_entries: usize,
}

/// A store given to [`CacheLayerBuilder::store`].
#[derive(Debug, Clone)]
pub struct WithStore<S>(S);

/// A store with a disk snapshot behind it, from
/// [`CacheLayerBuilder::snapshot`]: the store the builder had, as the first
/// tier of a [`Tiered`] store whose last tier is the disk.
#[derive(Debug, Clone)]
pub struct Snapshot<S, D> {
    front: S,
    disk: D,
}

/// How a [`CacheLayerBuilder`] comes by its store: [`DefaultStore`] builds
/// a [`MemoryStore`], [`WithStore`] hands over the one it holds, and
/// [`Snapshot`] puts a disk behind either.
pub trait IntoStore<K, V> {
    /// The store.
    type Store;

    /// Builds the store.
    fn into_store(self) -> Result<Self::Store, BuildError>;
}

impl<K: Eq + Hash, V: Clone> IntoStore<K, V> for DefaultStore {
    type Store = MemoryStore<K, V>;

    fn into_store(self) -> Result<MemoryStore<K, V>, BuildError> {
        MemoryStore::new(self.max_entries)
    }
}

impl<K, V, S, D> IntoStore<K, V> for Snapshot<S, D>
where
    S: IntoStore<K, V>,
    S::Store: Clone,
    D: Clone,
{
    type Store = Tiered<S::Store, D>;

    fn into_store(self) -> Result<Self::Store, BuildError> {
        // The disk holds what this instance wrote; the tiers in front keep
        // each entry's own windows.
        Tiered::builder(self.front.into_store()?, self.disk)
            .l1_ttl_cap(Duration::MAX)
            .build()
            .map_err(BuildError::Tiers)
    }
}

impl<K, V, S> IntoStore<K, V> for WithStore<S> {
    type Store = S;

    fn into_store(self) -> Result<S, BuildError> {
        Ok(self.0)
    }
}

/// How long an entry is fresh unless set: 60 s (no jitter, no stale
/// windows). The preset stack uses it too.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// Configures a [`CacheLayer`]; [`build`](CacheLayerBuilder::build)
/// validates the settings.
///
/// Windows follow one another: an entry is fresh for the TTL (less up to
/// `jitter` of it), then served stale while one background refresh runs
/// for the stale-while-revalidate window, then served only when the source
/// fails for the stale-if-error window, then dropped.
pub struct CacheLayerBuilder<V, E, F = DefaultKey, S = DefaultStore> {
    policy: Policy<V, E>,
    negative_capacity: usize,
    listener: Option<Listener>,
    seed: Option<u64>,
    key_fn: F,
    store: S,
}

impl<V, E> CacheLayerBuilder<V, E> {
    /// A builder with the defaults (see [`CacheLayer::builder`]).
    pub fn new() -> Self {
        Self {
            policy: Policy {
                ttl: DEFAULT_TTL,
                jitter: 0.0,
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
                negative_ttl: None,
                lease: None,
                refresh_backoff: None,
                mark: no_mark::<V>,
                is_fallback: never_fallback::<V>,
                storable: always_storable::<V>,
                not_found: never_not_found::<E>,
            },
            negative_capacity: 1024,
            listener: None,
            seed: None,
            key_fn: DefaultKey,
            store: DefaultStore {
                max_entries: 10_000,
            },
        }
    }
}

impl<V, E> Default for CacheLayerBuilder<V, E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V, E, F> CacheLayerBuilder<V, E, F, DefaultStore> {
    /// Bounds the default [`MemoryStore`] to `max_entries` entries (default
    /// 10,000). For a weight bound, give a store of your own with
    /// [`store`](Self::store).
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.store.max_entries = max_entries;
        self
    }
}

impl<V, E, F, S> CacheLayerBuilder<V, E, F, S> {
    /// How long an entry is fresh (default one minute).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.policy.ttl = ttl;
        self
    }

    /// Shortens each entry's TTL by a random part of up to `fraction` of it
    /// (in `[0, 1)`), so entries loaded together do not expire together.
    pub fn ttl_jitter(mut self, fraction: f64) -> Self {
        self.policy.jitter = fraction;
        self
    }

    /// Seeds the jitter's random numbers, for reproducible TTLs.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// After the TTL, serve the stale value at once for `window` while one
    /// background refresh runs (default none).
    pub fn stale_while_revalidate(mut self, window: Duration) -> Self {
        self.policy.stale_while_revalidate = window;
        self
    }

    /// After the stale-while-revalidate window, serve the stale value for
    /// `window` when the source fails (default none).
    pub fn stale_if_error(mut self, window: Duration) -> Self {
        self.policy.stale_if_error = window;
        self
    }

    /// Caches a "not found" ([`Failure::is_not_found`]) for `ttl`: callers
    /// get the same error without a load until it passes. The stale value
    /// of a key found missing is dropped, not served.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self
    where
        E: Failure,
    {
        self.policy.negative_ttl = Some(ttl);
        self.policy.not_found = <E as Failure>::is_not_found;
        self
    }

    /// How many "not found" answers are kept (default 1,024).
    pub fn negative_capacity(mut self, entries: usize) -> Self {
        self.negative_capacity = entries;
        self
    }

    /// Marks what the cache serves as [`Source::Cache`](steadfast_core::Source::Cache) (fresh) or
    /// [`Source::Stale`](steadfast_core::Source::Stale) through [`Provenance`]; values loaded by the
    /// inner service are handed out as they came. A value the inner service
    /// marked [`Source::Fallback`](steadfast_core::Source::Fallback) is handed
    /// to its callers but never stored: a fallback answer is not a real value.
    pub fn provenance(mut self) -> Self
    where
        V: Provenance,
    {
        self.policy.mark = <V as Provenance>::set_source;
        self.policy.is_fallback = is_fallback::<V>;
        self
    }

    /// Stores only the values for which `storable` is true; the others are
    /// handed to the callers of their load (and those that joined it) and
    /// never stored, like a fallback answer. For an HTTP response that
    /// says `Cache-Control: no-store`, say. By default every value is
    /// stored. [`CacheHandle::insert`](crate::CacheHandle::insert) obeys it
    /// too.
    ///
    /// ```
    /// use steadfast_cache::CacheLayerBuilder;
    ///
    /// let layer = CacheLayerBuilder::<String, std::io::Error>::new()
    ///     .store_if(|value: &String| !value.is_empty())
    ///     .build::<u64>();
    /// # drop(layer);
    /// ```
    pub fn store_if(mut self, storable: fn(&V) -> bool) -> Self {
        self.policy.storable = storable;
        self
    }

    /// Calls `listener` for every [`Event`]. Without one, events cost
    /// nothing.
    pub fn on_event<L>(mut self, listener: L) -> Self
    where
        L: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Distributed single flight, for stores shared between instances: a
    /// load first takes a lease on its key for `lease_ttl`; when another
    /// instance holds it, it polls the store every `poll_interval` until a
    /// fresh entry appears or `max_wait` passes, then loads itself.
    pub fn distributed_single_flight(
        mut self,
        lease_ttl: Duration,
        max_wait: Duration,
        poll_interval: Duration,
    ) -> Self {
        self.policy.lease = Some(LeaseSettings {
            ttl: lease_ttl,
            max_wait,
            poll_interval,
        });
        self
    }

    /// After a refresh of a stale value fails, refreshes of that key wait
    /// `initial` (default 1 s), doubling with each failure in a row up to
    /// `max` (default 30 s). Meanwhile the stale value is served at once
    /// within its windows (in the stale-if-error window, as the answer of a
    /// source that just failed), so a failing source is asked about each
    /// key at most once per pause, not by every request. A load that
    /// succeeds, or an invalidation, ends the pause. A zero `initial` turns
    /// the pause off.
    pub fn refresh_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.policy.refresh_backoff = Some(RefreshBackoff { initial, max });
        self
    }

    /// Sets the [refresh backoff](Self::refresh_backoff) unless it was set
    /// already: for a stack that paces the calls of a failing source by
    /// other means (a circuit breaker beneath the cache), and so chooses
    /// another default.
    pub fn refresh_backoff_unless_set(mut self, initial: Duration, max: Duration) -> Self {
        self.policy
            .refresh_backoff
            .get_or_insert(RefreshBackoff { initial, max });
        self
    }

    /// Keeps the last good value of every key on `disk` too (a
    /// [`FileStore`](crate::FileStore)), behind the store the builder has
    /// (its memory store, or the one given to [`store`](Self::store)), so
    /// a process that restarts while the source (and any shared tier) is
    /// down starts on the last good values, served as stale (see
    /// [`Restore`](crate::Restore)). Every value this instance loads or
    /// inserts is written to disk (off the runtime's threads); a removal or
    /// a clear, here or on another instance through a
    /// [`Tiered`] store's invalidation feed, removes it there too.
    pub fn snapshot<D>(self, disk: D) -> CacheLayerBuilder<V, E, F, Snapshot<S, D>> {
        self.with(|key_fn| key_fn, |front| Snapshot { front, disk })
    }

    /// Keys requests with `key_fn` instead of their
    /// [`CacheKey`](steadfast_core::CacheKey).
    pub fn key_fn<F2>(self, key_fn: F2) -> CacheLayerBuilder<V, E, F2, S> {
        self.with(|_| key_fn, |store| store)
    }

    /// Keeps entries in `store` instead of a new [`MemoryStore`].
    pub fn store<S2>(self, store: S2) -> CacheLayerBuilder<V, E, F, WithStore<S2>> {
        self.with(|key_fn| key_fn, |_| WithStore(store))
    }

    fn with<F2, S2>(
        self,
        key_fn: impl FnOnce(F) -> F2,
        store: impl FnOnce(S) -> S2,
    ) -> CacheLayerBuilder<V, E, F2, S2> {
        CacheLayerBuilder {
            policy: self.policy,
            negative_capacity: self.negative_capacity,
            listener: self.listener,
            seed: self.seed,
            key_fn: key_fn(self.key_fn),
            store: store(self.store),
        }
    }

    /// Validates the settings and builds the layer (and its store).
    pub fn build<K>(self) -> Result<CacheLayer<K, V, E, F, S::Store>, BuildError>
    where
        K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        S: IntoStore<K, V>,
        S::Store: Store<K, V>,
    {
        let policy = self.policy;
        if policy.ttl.is_zero() {
            return Err(BuildError::ZeroTtl);
        }
        if !(policy.jitter.is_finite() && (0.0..1.0).contains(&policy.jitter)) {
            return Err(BuildError::InvalidJitter);
        }
        let windows = [
            policy.ttl,
            policy.stale_while_revalidate,
            policy.stale_if_error,
            policy.negative_ttl.unwrap_or_default(),
        ];
        if windows.iter().any(|w| *w > MAX_WINDOW) {
            return Err(BuildError::WindowTooLong);
        }
        if policy.negative_ttl.is_some_and(|ttl| ttl.is_zero()) {
            return Err(BuildError::ZeroNegativeTtl);
        }
        if policy.negative_ttl.is_some() && self.negative_capacity == 0 {
            return Err(BuildError::ZeroNegativeCapacity);
        }
        if let Some(lease) = &policy.lease {
            if lease.ttl.is_zero() || lease.max_wait.is_zero() || lease.poll_interval.is_zero() {
                return Err(BuildError::ZeroLeaseSetting);
            }
            if lease.poll_interval > lease.max_wait {
                return Err(BuildError::PollLongerThanWait);
            }
            if lease.ttl > MAX_WINDOW || lease.max_wait > MAX_WINDOW {
                return Err(BuildError::WindowTooLong);
            }
        }
        let backoff = policy.refresh_backoff.unwrap_or(RefreshBackoff::DEFAULT);
        if !backoff.initial.is_zero() && backoff.max < backoff.initial {
            return Err(BuildError::BackoffMaxBelowInitial);
        }
        if backoff.max > MAX_WINDOW {
            return Err(BuildError::WindowTooLong);
        }
        let store = self.store.into_store()?;
        let negative_capacity = policy.negative_ttl.map(|_| self.negative_capacity);
        let shared = Arc::new(Shared::new(
            store,
            negative_capacity,
            self.listener,
            self.seed,
            backoff,
        ));
        let weak = Arc::downgrade(&shared);
        shared
            .store
            .observe_remote(Arc::new(move |change| match weak.upgrade() {
                Some(shared) => {
                    shared.remote(change);
                    true
                }
                None => false,
            }));
        Ok(CacheLayer {
            key_fn: self.key_fn,
            policy,
            shared,
        })
    }
}

impl<V, E, F, S: fmt::Debug> fmt::Debug for CacheLayerBuilder<V, E, F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheLayerBuilder")
            .field("policy", &self.policy)
            .field("negative_capacity", &self.negative_capacity)
            .field("seed", &self.seed)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
