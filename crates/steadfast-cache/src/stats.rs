//! [`CacheStats`]: what a cache has answered, and how.

/// A snapshot of a cache's counters, from [`CacheHandle::stats`](crate::CacheHandle::stats).
///
/// Every call that is answered is counted exactly once, in one of the
/// first seven counters, by how it was answered; a call whose caller went
/// away before its answer is not counted there. The other counters count
/// the work behind the answers. Each is also reported through the
/// `metrics` facade under the name given.
///
/// | field | `metrics` counter | counts |
/// |---|---|---|
/// | `l1_hits` | `steadfast_cache_l1_hits_total` | calls answered with a fresh value from memory (also a caller that came after a load's value was known, before it was stored) |
/// | `l2_hits` | `steadfast_cache_l2_hits_total` | calls answered with a fresh value a load found in a shared tier (L2), an expired memory copy or not |
/// | `misses` | `steadfast_cache_misses_total` | calls answered with the value their own load got from the inner service |
/// | `coalesced` | `steadfast_cache_coalesced_total` | calls answered with the value another caller's load got from the inner service (single flight) |
/// | `stale_served` | `steadfast_cache_stale_served_total` | calls answered with a stale value, while it refreshes or because the load failed |
/// | `negative_hits` | `steadfast_cache_negative_hits_total` | calls answered with a cached "not found" |
/// | `errors` | `steadfast_cache_errors_total` | calls answered with the failure of the load they waited for |
/// | `refreshes` | `steadfast_cache_refreshes_total` | background refreshes started |
/// | `loads` | `steadfast_cache_loads_total` | calls of the inner service (for misses and refreshes) |
/// | `load_errors` | `steadfast_cache_load_errors_total` | calls of the inner service that failed |
/// | `store_errors` | `steadfast_cache_store_errors_total` | store operations that failed (and were gone on without) |
/// | `entries` | — | entries held in memory (an estimate), not a counter |
///
/// So `l1_hits + l2_hits + misses + coalesced + stale_served +
/// negative_hits + errors` is the number of answered calls, and eight
/// concurrent calls for a cold key make one miss, seven coalesced and one
/// load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered with a fresh value from memory.
    pub l1_hits: u64,
    /// Calls answered with a fresh value from a shared tier (L2).
    pub l2_hits: u64,
    /// Calls answered with the value their own load got from the inner
    /// service.
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
    /// Calls answered with the value a load another caller started got
    /// from the inner service.
    pub coalesced: u64,
    /// Calls answered with a cached "not found".
    pub negative_hits: u64,
    /// Calls answered with the failure of the load they waited for.
    pub errors: u64,
    /// Entries held in memory (an estimate).
    pub entries: u64,
}

impl CacheStats {
    /// The calls answered, each counted once: fresh hits, misses,
    /// coalesced calls, stale answers, cached "not found"s and errors.
    pub fn answered(&self) -> u64 {
        self.l1_hits
            + self.l2_hits
            + self.misses
            + self.coalesced
            + self.stale_served
            + self.negative_hits
            + self.errors
    }
}
