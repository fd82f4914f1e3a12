//! Sliding windows of recent outcomes, shared by every caller without a lock.

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicU64, Ordering::*};
use std::sync::{Mutex, PoisonError};

use crate::state::CacheLine;

/// Outcome bits stored per call.
pub(crate) const FAILED: u8 = 1;
pub(crate) const SLOW: u8 = 2;

/// What a window holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

/// One window per breaker, read on every call: kept inline, its padded
/// count-window head and all.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// Records one outcome at `nanos` (time since the breaker's base
    /// instant; unused by a count window). Returns the totals when they may
    /// have crossed a threshold: after a failure or slow call, after the
    /// call that completes the minimum number of a count window, and after
    /// the first call of a new time bucket (older calls just left).
    #[inline]
    pub(crate) fn record(&self, bits: u8, nanos: u64) -> Option<Totals> {
        match self {
            Window::Count(w) => w.record(bits),
            Window::Time(w) => w.record(bits, nanos),
        }
    }

    pub(crate) fn totals(&self, nanos: u64) -> Totals {
        match self {
            Window::Count(w) => w.totals(),
            Window::Time(w) => w.totals(w.seq(nanos)),
        }
    }

    pub(crate) fn clear(&self) {
        match self {
            Window::Count(w) => w.clear(),
            Window::Time(w) => w.clear(),
        }
    }

    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Window::Time(_))
    }
}

/// The last `n` outcomes in a ring. The running failure and slow totals
/// always equal the sum of the slots: every slot change is a swap whose
/// difference is added to them.
#[derive(Debug)]
pub(crate) struct CountWindow {
    head: CacheLine<AtomicU64>,
    check_at: u64,
    slots: Box<[AtomicU8]>,
    failures: AtomicI64,
    slow: AtomicI64,
}

impl CountWindow {
    pub(crate) fn new(size: u32, minimum_calls: u64) -> Self {
        Self {
            head: CacheLine(AtomicU64::new(0)),
            check_at: minimum_calls,
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            failures: AtomicI64::new(0),
            slow: AtomicI64::new(0),
        }
    }

    #[inline]
    fn record(&self, bits: u8) -> Option<Totals> {
        let len = self.slots.len() as u64;
        let index = self.head.fetch_add(1, Relaxed);
        let slot = &self.slots[(index % len) as usize];
        // A slot that already holds this outcome needs no write.
        let old = if slot.load(Relaxed) == bits {
            bits
        } else {
            slot.swap(bits, Relaxed)
        };
        if old != bits {
            let failed = i64::from(bits & FAILED) - i64::from(old & FAILED);
            if failed != 0 {
                self.failures.fetch_add(failed, Relaxed);
            }
            let slow = i64::from((bits & SLOW) >> 1) - i64::from((old & SLOW) >> 1);
            if slow != 0 {
                self.slow.fetch_add(slow, Relaxed);
            }
        }
        if bits == 0 && index + 1 != self.check_at {
            None
        } else {
            Some(self.totals())
        }
    }

    fn totals(&self) -> Totals {
        let len = self.slots.len() as u64;
        Totals {
            calls: self.head.load(Relaxed).min(len),
            failures: self.failures.load(Relaxed).max(0) as u64,
            slow: self.slow.load(Relaxed).max(0) as u64,
        }
    }

    fn clear(&self) {
        self.head.store(0, Relaxed);
        for slot in self.slots.iter() {
            slot.store(0, Relaxed);
        }
        self.failures.store(0, Relaxed);
        self.slow.store(0, Relaxed);
    }
}

/// Outcomes of the last `buckets × width`, one bucket per `width`.
///
/// Each counter packs the bucket's sequence number (high 32 bits) with its
/// count (low 32 bits), so a bucket that comes round again is restarted by
/// the same compare-and-swap that counts into it. The newest full sequence
/// number seen tells when the whole window has gone idle, so that stamps
/// that wrapped round in 32 bits are never taken for recent ones.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    width: u64,
    latest: AtomicU64,
    advancing: Mutex<()>,
    buckets: Box<[Bucket]>,
}

#[derive(Debug, Default)]
struct Bucket {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl TimeWindow {
    pub(crate) fn new(width_nanos: u64, buckets: u32) -> Self {
        Self {
            width: width_nanos,
            latest: AtomicU64::new(0),
            advancing: Mutex::new(()),
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
        }
    }

    #[inline]
    fn seq(&self, nanos: u64) -> u64 {
        nanos / self.width
    }

    #[inline]
    fn record(&self, bits: u8, nanos: u64) -> Option<Totals> {
        let full = self.seq(nanos);
        if full > self.latest.load(Acquire) {
            self.advance(full);
        }
        let seq = full as u32;
        let bucket = &self.buckets[(full % self.buckets.len() as u64) as usize];
        let restarted = bump(&bucket.calls, seq);
        if bits == 0 && !restarted {
            return None;
        }
        if bits & FAILED != 0 {
            bump(&bucket.failures, seq);
        }
        if bits & SLOW != 0 {
            bump(&bucket.slow, seq);
        }
        Some(self.totals(full))
    }

    /// Moves the newest sequence number to `seq`, once per bucket; after a
    /// gap of a whole window or more, first empties every bucket, before any
    /// call counts into round `seq`.
    #[cold]
    fn advance(&self, seq: u64) {
        let _advancing = self
            .advancing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let previous = self.latest.load(Relaxed);
        if seq <= previous {
            return;
        }
        if seq - previous >= self.buckets.len() as u64 {
            self.clear();
        }
        self.latest.store(seq, Release);
    }

    fn totals(&self, seq: u64) -> Totals {
        let len = self.buckets.len() as u32;
        if seq.saturating_sub(self.latest.load(Acquire)) >= u64::from(len) {
            return Totals::default();
        }
        let seq = seq as u32;
        let live = |cell: &AtomicU64| {
            let value = cell.load(Relaxed);
            if seq.wrapping_sub((value >> 32) as u32) < len {
                value & u64::from(u32::MAX)
            } else {
                0
            }
        };
        self.buckets.iter().fold(Totals::default(), |t, b| Totals {
            calls: t.calls + live(&b.calls),
            failures: t.failures + live(&b.failures),
            slow: t.slow + live(&b.slow),
        })
    }

    fn clear(&self) {
        for bucket in self.buckets.iter() {
            bucket.calls.store(0, Relaxed);
            bucket.failures.store(0, Relaxed);
            bucket.slow.store(0, Relaxed);
        }
    }
}

/// Counts one outcome into `cell` for bucket `seq`, restarting the bucket if
/// it still holds an older round. An outcome older than the bucket's round
/// has already left the window and is dropped; an empty counter is
/// restarted whatever its stamp. Returns whether this call restarted the
/// bucket.
#[inline]
fn bump(cell: &AtomicU64, seq: u32) -> bool {
    let mut current = cell.load(Relaxed);
    loop {
        let stamp = (current >> 32) as u32;
        let (next, restart) = if current as u32 == 0 {
            ((u64::from(seq) << 32) | 1, true)
        } else if stamp == seq {
            if current as u32 == u32::MAX {
                return false;
            }
            (current + 1, false)
        } else if (stamp.wrapping_sub(seq) as i32) > 0 {
            return false;
        } else {
            ((u64::from(seq) << 32) | 1, true)
        };
        match cell.compare_exchange_weak(current, next, Relaxed, Relaxed) {
            Ok(_) => return restart,
            Err(actual) => current = actual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_window_slides() {
        let w = CountWindow::new(4, 3);
        assert_eq!(w.record(0), None);
        assert_eq!(
            w.record(FAILED),
            Some(Totals {
                calls: 2,
                failures: 1,
                slow: 0
            })
        );
        w.record(FAILED | SLOW);
        // No threshold can be crossed by a success past the minimum.
        assert_eq!(w.record(0), None);
        assert_eq!(
            w.totals(),
            Totals {
                calls: 4,
                failures: 2,
                slow: 1
            }
        );
        // Four more successes push every failure out.
        for _ in 0..3 {
            w.record(0);
        }
        assert_eq!(
            w.totals(),
            Totals {
                calls: 4,
                failures: 0,
                slow: 0
            }
        );
        w.clear();
        assert_eq!(w.totals(), Totals::default());
    }

    #[test]
    fn time_window_forgets_old_buckets() {
        let w = TimeWindow::new(10, 3);
        w.record(FAILED, 0);
        assert!(w.record(0, 15).is_some(), "first call of a bucket");
        assert_eq!(w.record(0, 16), None);
        w.record(SLOW, 29);
        assert_eq!(
            w.totals(w.seq(29)),
            Totals {
                calls: 4,
                failures: 1,
                slow: 1
            }
        );
        // At 30 the bucket of [0, 10) has left.
        assert_eq!(
            w.totals(w.seq(30)),
            Totals {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        // Recording at 30 reuses that bucket and restarts it.
        w.record(0, 30);
        assert_eq!(w.totals(w.seq(30)).calls, 4);
        // An outcome stamped before the bucket's round is dropped.
        w.record(FAILED, 5);
        assert_eq!(w.totals(w.seq(30)).failures, 0);
    }
}
