//! The pause after Redis failed to answer: while it lasts, calls are
//! answered at once instead of waiting on a Redis that is not there.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// A growing pause: `min`, doubling per consecutive failure, up to `max`,
/// with equal jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Backoff {
    pub(super) min: Duration,
    pub(super) max: Duration,
}

impl Backoff {
    pub(super) fn delay(self, failures: u32, rng: &Mutex<fastrand::Rng>) -> Duration {
        let doubled = self
            .min
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let full = doubled.min(self.max);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = rng.lock().map_or(0, |mut rng| rng.u64(0..=nanos));
        half + Duration::from_nanos(jitter)
    }
}

/// Whether Redis may be called now, after recent failures.
#[derive(Debug)]
pub(super) struct Gate {
    epoch: Instant,
    /// Nanoseconds after `epoch` when calls may go through again; 0 = open.
    reopen_at: AtomicU64,
    failures: AtomicU32,
}

impl Gate {
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            reopen_at: AtomicU64::new(0),
            failures: AtomicU32::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    pub(super) fn is_open(&self, now: Instant) -> bool {
        let at = self.reopen_at.load(Ordering::Relaxed);
        at == 0 || self.nanos(now) >= at
    }

    /// Closes the gate for a pause that grows with consecutive failures.
    /// Failures of calls that were already under way when another one
    /// closed the gate do not lengthen it.
    pub(super) fn failed(
        &self,
        now: Instant,
        backoff: Backoff,
        rng: &Mutex<fastrand::Rng>,
    ) -> Duration {
        let reopen_at = self.reopen_at.load(Ordering::Relaxed);
        let now_nanos = self.nanos(now);
        if reopen_at > now_nanos {
            return Duration::from_nanos(reopen_at - now_nanos);
        }
        let failures = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let pause = backoff.delay(failures, rng);
        let reopen_at = now.checked_add(pause).map_or(u64::MAX, |at| self.nanos(at));
        self.reopen_at.store(reopen_at.max(1), Ordering::Relaxed);
        pause
    }

    pub(super) fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
            self.reopen_at.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_equal_jitter() {
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let rng = Mutex::new(fastrand::Rng::with_seed(7));
        for (failures, full) in [(1, 100), (2, 200), (3, 400), (4, 500), (40, 500)] {
            let d = backoff.delay(failures, &rng);
            let full = Duration::from_millis(full);
            assert!(
                d >= full / 2 && d <= full,
                "{failures}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gate_closes_after_a_failure_and_reopens_after_the_pause() {
        let gate = Gate::new();
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let rng = Mutex::new(fastrand::Rng::with_seed(1));
        let now = Instant::now();
        assert!(gate.is_open(now));
        let pause = gate.failed(now, backoff, &rng);
        assert!(!gate.is_open(now));
        assert!(!gate.is_open(now + pause - Duration::from_nanos(1)));
        assert!(gate.is_open(now + pause));
        gate.succeeded();
        assert!(gate.is_open(now));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_while_closed_do_not_lengthen_the_pause() {
        let gate = Gate::new();
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let rng = Mutex::new(fastrand::Rng::with_seed(3));
        let now = Instant::now();
        let pause = gate.failed(now, backoff, &rng);
        for _ in 0..50 {
            assert_eq!(gate.failed(now, backoff, &rng), pause);
        }
        assert!(gate.is_open(now + pause));
        let second = gate.failed(now + pause, backoff, &rng);
        assert!(
            second >= Duration::from_millis(100) && second <= Duration::from_millis(200),
            "the second consecutive failure doubles the first: {second:?}"
        );
    }
}
