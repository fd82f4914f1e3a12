//! State shared by every clone of a cache service and its handle.

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use metrics::Counter;
use quick_cache::sync::Cache;
use steadfast_core::counter::ThreadCounter;
use steadfast_core::{SharedError, Source};
use tokio::time::Instant;

use crate::event::{Event, Listener, StoreOp};
use crate::flight::Flights;
use crate::refresh::{HeldOff, RefreshBackoff};
use crate::stats::CacheStats;
use crate::store::{Entry, RemoteChange, StoreError};
use crate::wake::Wakers;

pub(crate) use crate::error::MAX_WINDOW;

/// Distributed single-flight settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeaseSettings {
    pub(crate) ttl: Duration,
    pub(crate) max_wait: Duration,
    pub(crate) poll_interval: Duration,
}

/// What the layer was configured with, copied into every service and load.
pub(crate) struct Policy<V, E> {
    pub(crate) ttl: Duration,
    pub(crate) jitter: f64,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) lease: Option<LeaseSettings>,
    /// `None` until set: [`RefreshBackoff::DEFAULT`].
    pub(crate) refresh_backoff: Option<RefreshBackoff>,
    pub(crate) mark: fn(&mut V, Source),
    /// Whether a loaded value is a fallback answer, never to be stored.
    pub(crate) is_fallback: fn(&V) -> bool,
    /// Whether a loaded value may be stored (`store_if`).
    pub(crate) storable: fn(&V) -> bool,
    pub(crate) not_found: fn(&E) -> bool,
}

impl<V, E> Clone for Policy<V, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V, E> Policy<V, E> {
    /// The part of the policy that makes an entry of a value.
    pub(crate) fn windows(&self) -> Windows<V> {
        Windows {
            ttl: self.ttl,
            jitter: self.jitter,
            stale_while_revalidate: self.stale_while_revalidate,
            stale_if_error: self.stale_if_error,
            is_fallback: self.is_fallback,
            storable: self.storable,
        }
    }

    /// Whether a value just loaded is stored: not a fallback answer, and
    /// storable.
    pub(crate) fn stores(&self, value: &V) -> bool {
        self.windows().stores(value)
    }
}

/// How an entry is made of a value: its windows, and whether the value may
/// be stored at all.
pub(crate) struct Windows<V> {
    pub(crate) ttl: Duration,
    pub(crate) jitter: f64,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) stale_if_error: Duration,
    /// Whether a value is a fallback answer, never to be stored.
    pub(crate) is_fallback: fn(&V) -> bool,
    /// Whether a value may be stored (`store_if`).
    pub(crate) storable: fn(&V) -> bool,
}

impl<V> Windows<V> {
    /// Whether `value` is stored: not a fallback answer, and storable.
    pub(crate) fn stores(&self, value: &V) -> bool {
        !(self.is_fallback)(value) && (self.storable)(value)
    }
}

impl<V> Clone for Windows<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for Windows<V> {}

impl<V, E> Copy for Policy<V, E> {}

impl<V, E> fmt::Debug for Policy<V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("ttl", &self.ttl)
            .field("jitter", &self.jitter)
            .field("stale_while_revalidate", &self.stale_while_revalidate)
            .field("stale_if_error", &self.stale_if_error)
            .field("negative_ttl", &self.negative_ttl)
            .field("lease", &self.lease)
            .field("refresh_backoff", &self.refresh_backoff)
            .finish_non_exhaustive()
    }
}

pub(crate) fn no_mark<V>(_: &mut V, _: Source) {}

pub(crate) fn never_fallback<V>(_: &V) -> bool {
    false
}

pub(crate) fn is_fallback<V: steadfast_core::Provenance>(value: &V) -> bool {
    value.source() == Source::Fallback
}

pub(crate) fn always_storable<V>(_: &V) -> bool {
    true
}

pub(crate) fn never_not_found<E>(_: &E) -> bool {
    false
}

/// The counters of one cache, with their `metrics` handles (registered when
/// the layer is built).
pub(crate) struct Counters {
    l1_hits: ThreadCounter,
    l2_hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    refreshes: AtomicU64,
    loads: AtomicU64,
    load_errors: AtomicU64,
    store_errors: AtomicU64,
    coalesced: AtomicU64,
    negative_hits: AtomicU64,
    errors: AtomicU64,
    m_l1_hits: Counter,
    m_l2_hits: Counter,
    m_misses: Counter,
    m_stale: Counter,
    m_refreshes: Counter,
    m_loads: Counter,
    m_load_errors: Counter,
    m_store_errors: Counter,
    m_coalesced: Counter,
    m_negative_hits: Counter,
    m_errors: Counter,
}

macro_rules! count {
    ($($name:ident => $atomic:ident, $metric:ident;)*) => {
        $(
            #[inline]
            pub(crate) fn $name(&self) {
                self.$atomic.fetch_add(1, Relaxed);
                self.$metric.increment(1);
            }
        )*
    };
}

impl Counters {
    pub(crate) fn new() -> Self {
        Self {
            l1_hits: ThreadCounter::new(),
            l2_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            load_errors: AtomicU64::new(0),
            store_errors: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            negative_hits: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            m_l1_hits: metrics::counter!("steadfast_cache_l1_hits_total"),
            m_l2_hits: metrics::counter!("steadfast_cache_l2_hits_total"),
            m_misses: metrics::counter!("steadfast_cache_misses_total"),
            m_stale: metrics::counter!("steadfast_cache_stale_served_total"),
            m_refreshes: metrics::counter!("steadfast_cache_refreshes_total"),
            m_loads: metrics::counter!("steadfast_cache_loads_total"),
            m_load_errors: metrics::counter!("steadfast_cache_load_errors_total"),
            m_store_errors: metrics::counter!("steadfast_cache_store_errors_total"),
            m_coalesced: metrics::counter!("steadfast_cache_coalesced_total"),
            m_negative_hits: metrics::counter!("steadfast_cache_negative_hits_total"),
            m_errors: metrics::counter!("steadfast_cache_errors_total"),
        }
    }

    #[inline]
    pub(crate) fn l1_hit(&self) {
        self.l1_hits.increment();
        self.m_l1_hits.increment(1);
    }

    count! {
        l2_hit => l2_hits, m_l2_hits;
        miss => misses, m_misses;
        stale_served => stale_served, m_stale;
        refresh => refreshes, m_refreshes;
        load => loads, m_loads;
        load_error => load_errors, m_load_errors;
        store_error => store_errors, m_store_errors;
        coalesced => coalesced, m_coalesced;
        negative_hit => negative_hits, m_negative_hits;
        error => errors, m_errors;
    }

    pub(crate) fn snapshot(&self, entries: u64) -> CacheStats {
        CacheStats {
            l1_hits: self.l1_hits.sum(),
            l2_hits: self.l2_hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
            refreshes: self.refreshes.load(Relaxed),
            loads: self.loads.load(Relaxed),
            load_errors: self.load_errors.load(Relaxed),
            store_errors: self.store_errors.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            negative_hits: self.negative_hits.load(Relaxed),
            errors: self.errors.load(Relaxed),
            entries,
        }
    }
}

/// A cached "not found": until when, and the failure to hand out.
#[derive(Clone)]
pub(crate) struct Negative {
    pub(crate) until: Instant,
    pub(crate) error: SharedError,
}

/// Whether the store is failing: an episode from its first failed
/// operation to the next one it answers.
#[derive(Default)]
struct StoreHealth {
    /// Read by every store operation that succeeds; set and cleared with
    /// `outage` held.
    failing: AtomicBool,
    outage: Mutex<Option<StoreOutage>>,
}

struct StoreOutage {
    since: Instant,
    failures: u64,
}

/// Everything every clone of a cache service shares.
pub(crate) struct Shared<K, V, S> {
    pub(crate) store: S,
    pub(crate) flights: Flights<K, V>,
    pub(crate) negative: Option<Cache<K, Negative>>,
    /// Keys whose last refresh failed, and until when the next waits.
    pub(crate) held_off: HeldOff<K>,
    /// Loads waiting on another instance's lease.
    pub(crate) wakers: Wakers<K>,
    pub(crate) counters: Counters,
    pub(crate) listener: Option<Listener>,
    health: StoreHealth,
    rng: Mutex<fastrand::Rng>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many keys whose refresh failed are remembered.
const HELD_OFF_CAPACITY: usize = 4096;

impl<K, V, S> Shared<K, V, S>
where
    K: Eq + Hash + Clone,
{
    pub(crate) fn new(
        store: S,
        negative_capacity: Option<usize>,
        listener: Option<Listener>,
        seed: Option<u64>,
        refresh_backoff: RefreshBackoff,
    ) -> Self {
        let rng = seed.map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Self {
            store,
            flights: Flights::new(),
            negative: negative_capacity.map(Cache::new),
            held_off: HeldOff::new(refresh_backoff, HELD_OFF_CAPACITY),
            wakers: Wakers::new(),
            counters: Counters::new(),
            listener,
            health: StoreHealth::default(),
            rng: Mutex::new(rng),
        }
    }

    /// Applies a change another instance made, as this instance applies its
    /// own invalidations: a removed key's running load is cancelled (it
    /// stores nothing) and its cached "not found" dropped; a newer write
    /// drops the "not found"; and loads waiting on the key's lease wake
    /// up to look again.
    pub(crate) fn remote(&self, change: RemoteChange<'_, K>) {
        match change {
            RemoteChange::Removed(key) => {
                self.flights.cancel_remotely(key);
                if let Some(negative) = &self.negative {
                    negative.remove(key);
                }
                self.held_off.clear(key);
                self.wakers.wake(key);
            }
            RemoteChange::Updated(key) => {
                if let Some(negative) = &self.negative {
                    negative.remove(key);
                }
                self.held_off.clear(key);
                self.wakers.wake(key);
            }
            RemoteChange::LeaseReleased(key) => self.wakers.wake(key),
            RemoteChange::Cleared => {
                self.flights.cancel_all_remotely();
                if let Some(negative) = &self.negative {
                    negative.clear();
                }
                self.held_off.clear_all();
                self.wakers.wake_all();
            }
            RemoteChange::Resubscribed => self.wakers.wake_all(),
        }
    }
}

impl<K, V, S> Shared<K, V, S>
where
    K: Eq + Hash,
{
    /// Reports `event` to the listener, if there is one.
    #[inline]
    pub(crate) fn notify(&self, event: &Event<'_>) {
        if let Some(listener) = &self.listener {
            listener(event);
        }
    }

    /// Counts, logs and reports a failed store operation.
    ///
    /// The first failure after the store last answered starts an episode:
    /// it is logged as a warning and reported as [`Event::StoreFailing`].
    /// The failures after it, until the store answers again, are logged at
    /// debug level only; each is counted and reported as
    /// [`Event::StoreFailed`].
    pub(crate) fn store_failed(
        &self,
        key: Option<&dyn fmt::Display>,
        op: StoreOp,
        error: &StoreError,
    ) {
        self.counters.store_error();
        let first = {
            let mut outage = lock(&self.health.outage);
            match &mut *outage {
                Some(outage) => {
                    outage.failures += 1;
                    false
                }
                None => {
                    *outage = Some(StoreOutage {
                        since: Instant::now(),
                        failures: 1,
                    });
                    self.health.failing.store(true, Ordering::Release);
                    true
                }
            }
        };
        if first {
            tracing::warn!(
                key = key.map(tracing::field::display),
                op = op.as_str(),
                kind = ?error.kind(),
                error = %error,
                "cache store failing; going on without it until it answers again"
            );
            self.notify(&Event::StoreFailing { key, op, error });
        } else {
            tracing::debug!(
                key = key.map(tracing::field::display),
                op = op.as_str(),
                kind = ?error.kind(),
                error = %error,
                "cache store operation failed"
            );
        }
        self.notify(&Event::StoreFailed { key, op, error });
    }

    /// Notes a store operation that reached the store and succeeded: it
    /// ends a store episode, if one is running. An atomic load otherwise.
    ///
    /// A read that came back with a copy that is not fresh does not count:
    /// a tiered store may have answered it from its local tier because the
    /// shared one failed.
    #[inline]
    pub(crate) fn store_answered(&self) {
        if self.health.failing.load(Ordering::Acquire) {
            self.store_recovered();
        }
    }

    #[cold]
    fn store_recovered(&self) {
        let outage = {
            let mut outage = lock(&self.health.outage);
            self.health.failing.store(false, Ordering::Release);
            outage.take()
        };
        if let Some(StoreOutage { since, failures }) = outage {
            let lasted = since.elapsed();
            tracing::info!(
                failures,
                lasted = ?lasted,
                "cache store answers again after {lasted:?}; {failures} operations failed meanwhile"
            );
            self.notify(&Event::StoreRecovered { failures, lasted });
        }
    }

    /// A new entry for `value`, loaded at `now`, with a jittered fresh
    /// window.
    pub(crate) fn entry<E>(&self, policy: &Policy<V, E>, value: V, now: Instant) -> Entry<V> {
        self.entry_in(&policy.windows(), value, now)
    }

    /// A new entry for `value`, loaded at `now`, in `windows`.
    pub(crate) fn entry_in(&self, windows: &Windows<V>, value: V, now: Instant) -> Entry<V> {
        let mut ttl = windows.ttl;
        if windows.jitter > 0.0 {
            let draw = lock(&self.rng).f64();
            ttl = ttl.saturating_sub(ttl.mul_f64(windows.jitter * draw));
        }
        let fresh_until = now + ttl;
        let revalidate_until = fresh_until + windows.stale_while_revalidate;
        Entry {
            value,
            fresh_until,
            revalidate_until,
            expires_at: revalidate_until + windows.stale_if_error,
        }
    }
}
