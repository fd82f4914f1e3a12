//! The fields of a `Metrics` snapshot by name, for exact assertions.
#![allow(dead_code)]

use steadfast::Metrics;

/// Every field of `m`, by name, in the order of its table.
pub(crate) fn by_field(m: &Metrics) -> [(&'static str, u64); 13] {
    [
        ("cache_l1_hits", m.cache_l1_hits),
        ("cache_l2_hits", m.cache_l2_hits),
        ("cache_misses", m.cache_misses),
        ("cache_coalesced", m.cache_coalesced),
        ("stale_served", m.stale_served),
        ("fallback_uses", m.fallback_uses),
        ("errors", m.errors),
        ("primary_loads", m.primary_loads),
        ("invalid_responses", m.invalid_responses),
        ("retries", m.retries),
        ("circuit_breaker_opens", m.circuit_breaker_opens),
        ("circuit_breaker_rejections", m.circuit_breaker_rejections),
        ("l2_errors", m.l2_errors),
    ]
}

/// The fields that are not zero, by name: an exact snapshot.
pub(crate) fn nonzero(m: &Metrics) -> Vec<(&'static str, u64)> {
    by_field(m).into_iter().filter(|(_, n)| *n != 0).collect()
}

/// The fields that moved from `before` to `after`, by how much.
pub(crate) fn moved(before: &Metrics, after: &Metrics) -> Vec<(&'static str, u64)> {
    by_field(after)
        .into_iter()
        .zip(by_field(before))
        .map(|((name, a), (_, b))| (name, a - b))
        .filter(|(_, n)| *n != 0)
        .collect()
}
