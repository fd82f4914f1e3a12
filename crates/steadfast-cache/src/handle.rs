//! [`CacheHandle`]: invalidation and counters from outside the service.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use tokio::time::Instant;

use crate::event::{Event, StoreOp};
use crate::state::{Shared, Windows};
use crate::store::{Store, StoreError};

/// A handle on a cache shared by a layer and every service it made:
/// invalidate a key, clear everything, read the counters.
///
/// Made by [`CacheLayer::handle`](crate::CacheLayer::handle) or
/// [`Cache::handle`](crate::Cache::handle); cloning is cheap.
pub struct CacheHandle<K, V, S> {
    shared: Arc<Shared<K, V, S>>,
    windows: Windows<V>,
}

/// A snapshot of a cache's counters, from [`CacheHandle::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered with a fresh value from memory.
    pub l1_hits: u64,
    /// Loads answered with a fresh value from a shared tier (L2).
    pub l2_hits: u64,
    /// Calls that found no servable value and waited for a load.
    pub misses: u64,
    /// Calls answered with a stale value (while revalidating, or because
    /// the source failed).
    pub stale_served: u64,
    /// Background refreshes started.
    pub refreshes: u64,
    /// Calls of the inner service.
    pub loads: u64,
    /// Calls of the inner service that failed.
    pub load_errors: u64,
    /// Store operations that failed (and were gone on without).
    pub store_errors: u64,
    /// Calls that joined a load already running for their key.
    pub coalesced: u64,
    /// Calls answered with a cached "not found".
    pub negative_hits: u64,
    /// Entries held in memory (an estimate).
    pub entries: u64,
}

impl<K, V, S> CacheHandle<K, V, S> {
    pub(crate) fn new(shared: Arc<Shared<K, V, S>>, windows: Windows<V>) -> Self {
        Self { shared, windows }
    }
}

impl<K, V, S> CacheHandle<K, V, S>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    /// Drops `key` from the cache: its entry, its cached "not found", and
    /// the result of a load still running for it (which its callers still
    /// get, but which is not stored).
    ///
    /// A store failure is counted, logged and returned.
    pub async fn invalidate(&self, key: &K) -> Result<(), StoreError> {
        let shared = &*self.shared;
        shared.flights.cancel(key);
        if let Some(negative) = &shared.negative {
            negative.remove(key);
        }
        tracing::debug!(key = %key, "cache key invalidated");
        shared.notify(&Event::Invalidated { key });
        let removed = shared.store.remove(key).await;
        if let Err(error) = &removed {
            shared.store_failed(Some(key), StoreOp::Remove, error);
        }
        removed
    }

    /// Drops every entry, cached "not found" and running load's result.
    ///
    /// A store failure is counted, logged and returned.
    pub async fn clear(&self) -> Result<(), StoreError> {
        let shared = &*self.shared;
        shared.flights.cancel_all();
        if let Some(negative) = &shared.negative {
            negative.clear();
        }
        tracing::debug!("cache cleared");
        shared.notify(&Event::Cleared);
        let cleared = shared.store.clear().await;
        if let Err(error) = &cleared {
            shared.store_failed(None, StoreOp::Clear, error);
        }
        cleared
    }

    /// The counters, and the number of entries in memory.
    pub fn stats(&self) -> CacheStats {
        self.shared.counters.snapshot(self.shared.store.len_hint())
    }

    /// The number of loads running now.
    pub fn loads_in_flight(&self) -> usize {
        self.shared.flights.len()
    }

    /// The store, to read or write it directly.
    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// Stores `value` under `key` as a value the source just answered with,
    /// in an entry made by the cache's own settings (TTL with its jitter,
    /// stale-while-revalidate and stale-if-error windows from now), and
    /// drops a cached "not found" for `key`. For a value that reached the
    /// source by another way than through the cache: a probe, a watcher.
    ///
    /// A value marked as a fallback answer (with
    /// [`provenance`](crate::CacheLayerBuilder::provenance) on) is not
    /// stored. A load running for `key` is left alone: it stores its own
    /// answer when it ends. Listeners hear [`Event::Inserted`]. A store
    /// failure is counted, logged and returned.
    pub async fn insert(&self, key: K, value: V) -> Result<(), StoreError> {
        let shared = &*self.shared;
        if (self.windows.is_fallback)(&value) {
            return Ok(());
        }
        if let Some(negative) = &shared.negative {
            negative.remove(&key);
        }
        let entry = shared.entry_in(&self.windows, value, Instant::now());
        tracing::debug!(key = %key, "cache entry inserted");
        shared.notify(&Event::Inserted { key: &key });
        let stored = shared.store.put(key.clone(), entry).await;
        if let Err(error) = &stored {
            shared.store_failed(Some(&key), StoreOp::Put, error);
        }
        stored
    }
}

impl<K, V, S> Clone for CacheHandle<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            windows: self.windows,
        }
    }
}

impl<K, V, S> fmt::Debug for CacheHandle<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheHandle").finish_non_exhaustive()
    }
}
