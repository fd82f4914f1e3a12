//! [`Metrics`]: one snapshot of the counters of every layer of a
//! [`Loader`].

use steadfast_cache::Store;
use steadfast_config::ConfigResponse;

use crate::layers::Key;
use crate::loader::Loader;

/// A snapshot of a [`Loader`]'s counters.
///
/// Every load the loader answers (through [`Loader::load_response`],
/// [`Loader::load`] or its `Service` impl) is counted exactly once, in one
/// of the first seven fields, by how it was answered:
///
/// `cache_l1_hits + cache_l2_hits + cache_misses + cache_coalesced +
/// stale_served + fallback_uses + errors` = loads answered
///
/// ([`answered`](Metrics::answered)). A load whose caller went away before
/// its answer is not counted there. The other fields count the work behind
/// the answers. Each field is also reported through the `metrics` facade,
/// under exactly one name (the breaker's with a `breaker` label):
///
/// | field | `metrics` counter | counts |
/// |---|---|---|
/// | `cache_l1_hits` | `steadfast_cache_l1_hits_total` | loads answered with a fresh value from memory |
/// | `cache_l2_hits` | `steadfast_cache_l2_hits_total` | loads answered with a fresh value from the shared cache tier (L2) |
/// | `cache_misses` | `steadfast_cache_misses_total` | loads answered with the value their own load got from the source (the startup wait's probe beneath an open circuit included) |
/// | `cache_coalesced` | `steadfast_cache_coalesced_total` | loads answered with the value of a load another caller started (single flight) |
/// | `stale_served` | `steadfast_cache_stale_served_total` | loads answered with a stale value (while it refreshes, or because the source failed) |
/// | `fallback_uses` | `steadfast_loader_fallback_answers_total` | loads answered by the fallback (the startup wait's included) |
/// | `errors` | `steadfast_loader_errors_total` | loads answered with an error |
/// | `primary_loads` | `steadfast_origin_loads_total` | calls that reached the source (each attempt of each load, each background refresh) |
/// | `invalid_responses` | `steadfast_origin_rejected_total` | source answers rejected by the stack's check (invalid configs) |
/// | `retries` | `steadfast_retry_retries_total` | retries made |
/// | `circuit_breaker_opens` | `steadfast_breaker_opened_total` | times the circuit opened, re-opening after a failed probe included |
/// | `circuit_breaker_rejections` | `steadfast_breaker_rejected_total` | calls the open circuit rejected without reaching the source |
/// | `l2_errors` | `steadfast_cache_store_errors_total` | failed operations of the cache's stores (the shared L2 above all) |
///
/// Without a cache, a load answered by the source is counted in
/// `primary_loads` only. Without a fallback, an error is counted when the
/// cache hands it out, so [`Loader::start`]'s attempts that fail while it
/// waits for the source count as errors too; with a fallback, only the
/// answers that leave the stack do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Loads answered with a fresh value from memory (L1).
    pub cache_l1_hits: u64,
    /// Loads answered with a fresh value from the shared cache tier (L2).
    pub cache_l2_hits: u64,
    /// Loads answered with the value their own load got from the source,
    /// through the cache or by the startup wait's probe beneath it.
    pub cache_misses: u64,
    /// Loads answered with the value of a load another caller had started.
    pub cache_coalesced: u64,
    /// Loads answered with a stale value.
    pub stale_served: u64,
    /// Loads answered by the fallback.
    pub fallback_uses: u64,
    /// Loads answered with an error.
    pub errors: u64,
    /// Calls that reached the source.
    pub primary_loads: u64,
    /// Source answers rejected by the stack's check (invalid configs).
    pub invalid_responses: u64,
    /// Retries made.
    pub retries: u64,
    /// Times the circuit opened (re-opening after a failed probe included).
    pub circuit_breaker_opens: u64,
    /// Calls the open circuit rejected without reaching the source.
    pub circuit_breaker_rejections: u64,
    /// Failed operations of the cache's stores (the shared L2 above all).
    pub l2_errors: u64,
}

impl Metrics {
    /// The loads answered, each counted once: fresh hits (memory and shared
    /// tier), misses, coalesced loads, stale answers, fallback answers and
    /// errors.
    pub fn answered(&self) -> u64 {
        self.cache_l1_hits
            + self.cache_l2_hits
            + self.cache_misses
            + self.cache_coalesced
            + self.stale_served
            + self.fallback_uses
            + self.errors
    }

    /// Loads answered with a fresh value from the cache, either tier.
    pub fn cache_hits(&self) -> u64 {
        self.cache_l1_hits + self.cache_l2_hits
    }
}

impl<S, St> Loader<S, St> {
    /// A snapshot of the counters of every layer.
    pub fn metrics(&self) -> Metrics
    where
        St: Store<Key, ConfigResponse>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let parts = &self.parts;
        let mut m = Metrics {
            primary_loads: parts.origin.loads.load(Relaxed),
            invalid_responses: parts.origin.rejected.load(Relaxed),
            fallback_uses: parts.episodes.fallback_answers(),
            errors: parts.episodes.errors(),
            ..Metrics::default()
        };
        if let Some(cache) = &parts.cache {
            let s = cache.stats();
            m.cache_l1_hits = s.l1_hits;
            m.cache_l2_hits = s.l2_hits;
            m.cache_misses = s.misses + parts.episodes.probe_answers();
            m.cache_coalesced = s.coalesced;
            m.stale_served = s.stale_served;
            m.l2_errors = s.store_errors;
        }
        if let Some(retry) = &parts.retry {
            m.retries = retry.stats().retries;
        }
        if let Some(breaker) = &parts.breaker {
            let c = breaker.counters();
            m.circuit_breaker_opens = c.opened;
            m.circuit_breaker_rejections = c.rejected;
        }
        m
    }
}
