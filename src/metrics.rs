//! [`Metrics`]: one snapshot of the counters of every layer of a
//! [`Loader`].

use steadfast_cache::Store;
use steadfast_config::ConfigResponse;

use crate::layers::Key;
use crate::loader::Loader;

/// A snapshot of a [`Loader`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Loads answered from the cache while fresh (memory or shared tier).
    pub cache_hits: u64,
    /// Loads that found nothing servable in the cache.
    pub cache_misses: u64,
    /// Calls that reached the source.
    pub primary_loads: u64,
    /// Source answers rejected by the stack's check (invalid configs).
    pub invalid_responses: u64,
    /// Loads answered by the fallback.
    pub fallback_uses: u64,
    /// Times the circuit opened.
    pub circuit_breaker_opens: u64,
    /// Calls the open circuit rejected without reaching the source.
    pub circuit_breaker_rejections: u64,
    /// Retries made.
    pub retries: u64,
    /// Loads answered with a stale value.
    pub stale_served: u64,
    /// Failed operations of the cache's stores (the shared L2 above all).
    pub l2_errors: u64,
}

impl<S, St> Loader<S, St> {
    /// A snapshot of the counters of every layer.
    pub fn metrics(&self) -> Metrics
    where
        St: Store<Key, ConfigResponse>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let mut m = Metrics {
            primary_loads: self.parts.origin.loads.load(Relaxed),
            invalid_responses: self.parts.origin.rejected.load(Relaxed),
            ..Metrics::default()
        };
        if let Some(cache) = &self.parts.cache {
            let s = cache.stats();
            m.cache_hits = s.l1_hits + s.l2_hits;
            m.cache_misses = s.misses;
            m.stale_served = s.stale_served;
            m.l2_errors = s.store_errors;
        }
        if let Some(retry) = &self.parts.retry {
            m.retries = retry.stats().retries;
        }
        if let Some(breaker) = &self.parts.breaker {
            let c = breaker.counters();
            m.circuit_breaker_opens = c.opened;
            m.circuit_breaker_rejections = c.rejected;
        }
        if let Some(fallback) = &self.parts.fallback {
            // A load the defaults have nothing for is counted as used and
            // as failed: it was not answered.
            m.fallback_uses = fallback.used().saturating_sub(fallback.failed())
                + self.parts.startup_fallbacks.load(Relaxed);
        }
        m
    }
}
