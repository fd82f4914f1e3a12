//! The pause after a failed refresh of a stale value, so a failing source
//! is not asked again by every request that finds the value stale.

use std::hash::Hash;
use std::time::Duration;

use quick_cache::sync::Cache;
use tokio::time::Instant;

/// How long refreshes of a key are held off after one failed: `initial`
/// after the first failure, doubling with each failure after it, at most
/// `max`. A zero `initial` holds nothing off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefreshBackoff {
    pub(crate) initial: Duration,
    pub(crate) max: Duration,
}

impl RefreshBackoff {
    /// The default: 1 s, doubling up to 30 s.
    pub(crate) const DEFAULT: Self = Self {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(30),
    };

    /// The pause after `failures` failures in a row (at least one).
    pub(crate) fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1u32 << doublings)
            .unwrap_or(Duration::MAX)
            .min(self.max)
    }
}

/// A key whose refreshes failed.
#[derive(Debug, Clone, Copy)]
struct Failed {
    failures: u32,
    until: Instant,
}

/// The keys whose last refresh failed, bounded (a key pushed out is
/// simply refreshed again).
pub(crate) struct HeldOff<K> {
    keys: Cache<K, Failed>,
    backoff: RefreshBackoff,
}

impl<K: Eq + Hash + Clone> HeldOff<K> {
    pub(crate) fn new(backoff: RefreshBackoff, capacity: usize) -> Self {
        Self {
            keys: Cache::new(capacity.max(1)),
            backoff,
        }
    }

    /// Until when refreshes of `key` are held off at `now`, if they are.
    pub(crate) fn until(&self, key: &K, now: Instant) -> Option<Instant> {
        self.keys
            .get(key)
            .map(|failed| failed.until)
            .filter(|until| now < *until)
    }

    /// Notes a failed refresh of `key` at `now`; returns the pause.
    pub(crate) fn failed(&self, key: &K, now: Instant) -> Duration {
        if self.backoff.initial.is_zero() {
            return Duration::ZERO;
        }
        let failures = self
            .keys
            .get(key)
            .map_or(1, |failed| failed.failures.saturating_add(1));
        let delay = self.backoff.delay(failures);
        let until = now
            .checked_add(delay)
            .unwrap_or(now + crate::error::MAX_WINDOW);
        self.keys.insert(key.clone(), Failed { failures, until });
        delay
    }

    /// Forgets the failures of `key`: it loaded, or was invalidated.
    pub(crate) fn clear(&self, key: &K) {
        self.keys.remove(key);
    }

    /// Forgets every failure.
    pub(crate) fn clear_all(&self) {
        self.keys.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_bound() {
        let backoff = RefreshBackoff::DEFAULT;
        let secs: Vec<u64> = (1..=8).map(|n| backoff.delay(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff.delay(u32::MAX), Duration::from_secs(30));
        let huge = RefreshBackoff {
            initial: Duration::MAX,
            max: Duration::MAX,
        };
        assert_eq!(huge.delay(5), Duration::MAX);
    }
}
