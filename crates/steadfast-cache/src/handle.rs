//! [`CacheHandle`]: invalidation and counters from outside the service.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use tokio::time::Instant;

use crate::event::{Event, StoreOp};
use crate::state::{Shared, Windows};
use crate::stats::CacheStats;
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
    /// Drops `key` from the cache: its entry, its cached "not found", the
    /// pause after a failed refresh, and the result of a load still running
    /// for it (which its callers still get, but which is not stored).
    /// Through a shared tier's invalidation feed, every other instance does
    /// the same with its own copies and loads.
    ///
    /// A store failure is counted, logged and returned.
    pub async fn invalidate(&self, key: &K) -> Result<(), StoreError> {
        let shared = &*self.shared;
        shared.flights.cancel(key);
        shared.held_off.clear(key);
        if let Some(negative) = &shared.negative {
            negative.remove(key);
        }
        tracing::debug!(key = %key, "cache key invalidated");
        shared.notify(&Event::Invalidated { key });
        let removed = shared.store.remove(key).await;
        match &removed {
            Ok(()) => shared.store_answered(),
            Err(error) => shared.store_failed(Some(key), StoreOp::Remove, error),
        }
        removed
    }

    /// Drops every entry, cached "not found" and running load's result.
    ///
    /// A store failure is counted, logged and returned.
    pub async fn clear(&self) -> Result<(), StoreError> {
        let shared = &*self.shared;
        shared.flights.cancel_all();
        shared.held_off.clear_all();
        if let Some(negative) = &shared.negative {
            negative.clear();
        }
        tracing::debug!("cache cleared");
        shared.notify(&Event::Cleared);
        let cleared = shared.store.clear().await;
        match &cleared {
            Ok(()) => shared.store_answered(),
            Err(error) => shared.store_failed(None, StoreOp::Clear, error),
        }
        cleared
    }

    /// The time to live of the entries the cache makes, before its jitter.
    pub fn ttl(&self) -> std::time::Duration {
        self.windows.ttl
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
    /// [`provenance`](crate::CacheLayerBuilder::provenance) on), or one
    /// [`store_if`](crate::CacheLayerBuilder::store_if) refuses, is not
    /// stored. A load running for `key` is left alone: it stores its own
    /// answer when it ends. Listeners hear [`Event::Inserted`]. A store
    /// failure is counted, logged and returned.
    pub async fn insert(&self, key: K, value: V) -> Result<(), StoreError> {
        let shared = &*self.shared;
        if !self.windows.stores(&value) {
            return Ok(());
        }
        if let Some(negative) = &shared.negative {
            negative.remove(&key);
        }
        let entry = shared.entry_in(&self.windows, value, Instant::now());
        tracing::debug!(key = %key, "cache entry inserted");
        shared.notify(&Event::Inserted { key: &key });
        let stored = shared.store.insert(key.clone(), entry).await;
        match &stored {
            Ok(()) => shared.store_answered(),
            Err(error) => shared.store_failed(Some(&key), StoreOp::Put, error),
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
