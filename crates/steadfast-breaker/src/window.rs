//! Sliding windows of recent outcomes, shared by every caller without a lock.
//!
//! Both kinds keep their totals as they go, so that a call reads them in
//! O(1) and the rates are checked after every call. Their words carry the
//! epoch of the closed period they count for ([`EpochCount`]): a call
//! admitted in another period changes nothing, and a clear for a new period
//! is linearizable with the calls racing it.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::*, fence};
use std::sync::{Mutex, PoisonError};

use crate::cache_line::CacheLine;
use crate::epoch::{EPOCH_MASK, EpochCount, non_negative, since};

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

impl Totals {
    /// Totals whose failures and slow calls never exceed the calls: a call
    /// that finishes as the window moves on can leave its outcome counted
    /// a moment apart from the call itself.
    fn bounded(calls: u64, failures: u64, slow: u64) -> Self {
        Self {
            calls,
            failures: failures.min(calls),
            slow: slow.min(calls),
        }
    }
}

/// One window per breaker, kept in the breaker's state: only the word every
/// call writes sits on cache lines of its own, so that the totals, read by
/// every call and written only when an outcome changes, stay in the caches
/// of the threads calling at once.
#[derive(Debug)]
pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
}

impl Window {
    /// Records one outcome of a call admitted in `epoch`, finishing at
    /// `nanos` (time since the breaker's base instant; unused by a count
    /// window). Returns the totals just after it, or `None` when the window
    /// has been cleared for another epoch and the outcome was not counted.
    #[inline]
    pub(crate) fn record(&self, epoch: u64, bits: u8, nanos: u64) -> Option<Totals> {
        match self {
            Window::Count(w) => w.record(epoch, bits),
            Window::Time(w) => w.record(epoch, bits, nanos),
        }
    }

    /// The totals at `nanos`.
    pub(crate) fn totals(&self, nanos: u64) -> Totals {
        match self {
            Window::Count(w) => w.totals(),
            Window::Time(w) => w.totals_at(w.seq(nanos)),
        }
    }

    /// Empties the window and moves it to `epoch`: from then on only calls
    /// admitted in `epoch` count.
    pub(crate) fn clear(&self, epoch: u64) {
        match self {
            Window::Count(w) => w.clear(epoch),
            Window::Time(w) => w.clear(epoch),
        }
    }

    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Window::Time(_))
    }
}

/// The last `n` outcomes in a ring.
///
/// A call takes its position with an atomic add on `head`, writes its
/// outcome into the slot there, and adds the difference it made to the
/// running failure and slow totals, so the totals always equal the sum of
/// the slots. Each slot also holds the low 13 bits of the epoch that wrote
/// it; a slot of another epoch counts as empty. A call admitted in an
/// earlier epoch than the window's (the window was cleared since) finds
/// that out from the same add, and leaves a hole at its position instead of
/// its outcome: a hole is no call, and the ring counts them as it counts
/// failures.
///
#[derive(Debug)]
pub(crate) struct CountWindow {
    /// The position of the next call; once past the length of the ring,
    /// the ring is full, and positions are only read modulo it.
    head: Box<CacheLine<EpochCount>>,
    failures: EpochCount,
    slow: EpochCount,
    holes: EpochCount,
    slots: Box<[AtomicU16]>,
}

/// A slot's bit for a position that holds no call.
const HOLE: u8 = 4;
const TAG_SHIFT: u32 = 3;
const BITS_MASK: u16 = (1 << TAG_SHIFT) - 1;

/// Positions are brought back below this bound (by a multiple of the ring's
/// length) long before they could carry into the epoch.
const REWIND_AT: u64 = 1 << 39;

/// A slot written by a call of `epoch` with `bits`.
#[inline]
fn slot_value(epoch: u64, bits: u8) -> u16 {
    ((epoch as u16) << TAG_SHIFT) | u16::from(bits)
}

/// The bits a slot holds for `epoch`: none if another epoch wrote it.
#[inline]
fn bits_for(value: u16, epoch: u64) -> u8 {
    if value >> TAG_SHIFT == (epoch as u16) & (u16::MAX >> TAG_SHIFT) {
        (value & BITS_MASK) as u8
    } else {
        0
    }
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        Self {
            head: Box::default(),
            failures: EpochCount::new(),
            slow: EpochCount::new(),
            holes: EpochCount::new(),
            slots: (0..size).map(|_| AtomicU16::new(0)).collect(),
        }
    }

    #[inline]
    fn len(&self) -> u64 {
        self.slots.len() as u64
    }

    #[inline]
    fn record(&self, epoch: u64, bits: u8) -> Option<Totals> {
        let len = self.len();
        let (window, at) = self.head.bump();
        if at >= REWIND_AT {
            self.rewind(window);
        }
        let stale = window != epoch & EPOCH_MASK;
        let bits = if stale { HOLE } else { bits };
        let old = self.write(window, &self.slots[(at % len) as usize], bits)?;
        if old != bits {
            adjust(&self.failures, window, bits & FAILED, old & FAILED)?;
            adjust(&self.slow, window, bits & SLOW, old & SLOW)?;
            adjust(&self.holes, window, bits & HOLE, old & HOLE)?;
        }
        if stale {
            return None;
        }
        // Totals read across a clear can only lead to a trip that the
        // change of state word then refuses.
        Some(self.totals_at(at + 1))
    }

    /// Writes `bits` into `slot` for `epoch` and returns the bits it held
    /// for that epoch; `None` if the window was cleared meanwhile.
    #[inline]
    fn write(&self, epoch: u64, slot: &AtomicU16, bits: u8) -> Option<u8> {
        let mut current = slot.load(Acquire);
        loop {
            let old = bits_for(current, epoch);
            // A slot that already holds this outcome needs no write.
            if old == bits {
                return Some(old);
            }
            // Once the window is cleared, a slot may hold a call of the new
            // epoch, which this one must not overwrite.
            self.head.get(epoch)?;
            match slot.compare_exchange_weak(current, slot_value(epoch, bits), AcqRel, Acquire) {
                Ok(_) => return Some(old),
                Err(actual) => current = actual,
            }
        }
    }

    /// Brings the position back by a multiple of the ring's length.
    #[cold]
    fn rewind(&self, epoch: u64) {
        let len = self.len();
        self.head.update(
            epoch,
            |at| {
                if at >= REWIND_AT { len + at % len } else { at }
            },
        );
    }

    fn totals(&self) -> Totals {
        self.totals_at(self.head.count())
    }

    /// The totals with the position at `head`.
    #[inline]
    fn totals_at(&self, head: u64) -> Totals {
        let calls = head.min(self.len());
        Totals::bounded(
            calls.saturating_sub(non_negative(self.holes.count())),
            non_negative(self.failures.count()),
            non_negative(self.slow.count()),
        )
    }

    /// Empties the slots, then the totals, then moves the position to
    /// `epoch`: from that moment calls of the old epoch leave holes there,
    /// and nothing clears a slot under them any more. Slots the old epoch
    /// writes meanwhile keep its tag, so they count as empty.
    fn clear(&self, epoch: u64) {
        for slot in self.slots.iter() {
            if slot.load(Relaxed) & BITS_MASK != 0 {
                slot.store(0, Release);
            }
        }
        self.failures.restart(epoch, 0);
        self.slow.restart(epoch, 0);
        self.holes.restart(epoch, 0);
        self.head.restart(epoch, 0);
    }
}

/// Adds one to `total` when a slot gained the outcome bit, takes one away
/// when it lost it; `None` if the window moved to another epoch meanwhile.
#[inline]
fn adjust(total: &EpochCount, epoch: u64, now: u8, before: u8) -> Option<()> {
    match now.cmp(&before) {
        std::cmp::Ordering::Equal => Some(()),
        std::cmp::Ordering::Greater => total.update(epoch, |n| n + 1).map(drop),
        std::cmp::Ordering::Less => total.update(epoch, |n| n.wrapping_sub(1)).map(drop),
    }
}

/// The outcomes of the last `buckets × width`, sliding one bucket at a
/// time.
///
/// The window counts calls, failures and slow calls cumulatively, and notes
/// the counts at the start of each bucket: what the window holds is the
/// counts now less those at the start of its oldest bucket. A call costs a
/// compare-and-swap on the calls count (and one more for a failure or a slow
/// call); only the first call of a new bucket takes a lock, to note the
/// bucket's start. Clearing the window moves the counts to a new epoch and
/// notes them as the start of every bucket.
#[derive(Debug)]
pub(crate) struct TimeWindow {
    width: u64,
    /// Written by every call: on cache lines of its own.
    calls: Box<CacheLine<EpochCount>>,
    failures: EpochCount,
    slow: EpochCount,
    /// The newest bucket started, by [`TimeWindow::seq`].
    latest: AtomicU64,
    advancing: Mutex<()>,
    starts: Box<[Start]>,
}

/// The counts at the start of one bucket, written under the window's lock
/// and read without one: `stamp` holds the bucket's sequence number (its
/// low 48 bits) above a 16-bit version that is odd while the counts change.
#[derive(Debug, Default)]
struct Start {
    stamp: AtomicU64,
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

const VERSION_BITS: u32 = 16;
const VERSION_MASK: u64 = (1 << VERSION_BITS) - 1;

#[derive(Debug, Clone, Copy)]
struct Counts {
    calls: u64,
    failures: u64,
    slow: u64,
}

impl Start {
    fn new(seq: u64) -> Self {
        Self {
            stamp: AtomicU64::new(seq << VERSION_BITS),
            ..Self::default()
        }
    }

    /// Notes `counts` as the start of bucket `seq`; only under the lock.
    fn write(&self, seq: u64, counts: Counts) {
        let stamp = self.stamp.load(Relaxed);
        let version = stamp & VERSION_MASK;
        self.stamp.store(
            (stamp & !VERSION_MASK) | ((version + 1) & VERSION_MASK),
            Relaxed,
        );
        fence(Release);
        self.calls.store(counts.calls, Relaxed);
        self.failures.store(counts.failures, Relaxed);
        self.slow.store(counts.slow, Relaxed);
        self.stamp.store(
            (seq << VERSION_BITS) | ((version + 2) & VERSION_MASK),
            Release,
        );
    }

    /// The counts at the start of bucket `seq`, if this is its start and no
    /// write got in the way.
    #[inline]
    fn read(&self, seq: u64) -> Option<Counts> {
        let stamp = self.stamp.load(Acquire);
        if stamp & 1 != 0 || stamp >> VERSION_BITS != seq & (u64::MAX >> VERSION_BITS) {
            return None;
        }
        let counts = Counts {
            calls: self.calls.load(Relaxed),
            failures: self.failures.load(Relaxed),
            slow: self.slow.load(Relaxed),
        };
        fence(Acquire);
        (self.stamp.load(Relaxed) == stamp).then_some(counts)
    }

    fn seq(&self) -> u64 {
        self.stamp.load(Relaxed) >> VERSION_BITS
    }
}

impl TimeWindow {
    pub(crate) fn new(width_nanos: u64, buckets: u32) -> Self {
        let len = u64::from(buckets);
        // Bucket sequence numbers start at `len` (see `seq`), so the window
        // starts out as `len` buckets, all starting with no calls.
        Self {
            width: width_nanos,
            calls: Box::default(),
            failures: EpochCount::new(),
            slow: EpochCount::new(),
            latest: AtomicU64::new(len),
            advancing: Mutex::new(()),
            starts: (0..len)
                .map(|i| Start::new(if i == 0 { len } else { i }))
                .collect(),
        }
    }

    #[inline]
    fn len(&self) -> u64 {
        self.starts.len() as u64
    }

    /// The sequence number of the bucket of `nanos`, counted from the
    /// number of buckets, so that the oldest bucket of any window is at
    /// least 1.
    #[inline]
    fn seq(&self, nanos: u64) -> u64 {
        (nanos / self.width).saturating_add(self.len())
    }

    #[inline]
    fn record(&self, epoch: u64, bits: u8, nanos: u64) -> Option<Totals> {
        let seq = self.seq(nanos);
        if seq > self.latest.load(Acquire) {
            self.advance(seq);
        }
        // The calls count first: a reader that sees a failure or a slow
        // call also sees its call.
        self.calls.update(epoch, |n| n + 1)?;
        if bits & FAILED != 0 {
            self.failures.update(epoch, |n| n + 1)?;
        }
        if bits & SLOW != 0 {
            self.slow.update(epoch, |n| n + 1)?;
        }
        Some(self.totals_at(seq))
    }

    /// Moves the newest bucket to `seq`, noting the counts now as the start
    /// of every bucket from the previous newest one to `seq`.
    #[cold]
    fn advance(&self, seq: u64) {
        let _advancing = self.lock();
        let previous = self.latest.load(Relaxed);
        if seq <= previous {
            return;
        }
        let counts = self.counts();
        let len = self.len();
        for q in previous.max(seq - len) + 1..=seq {
            self.starts[(q % len) as usize].write(q, counts);
        }
        self.latest.store(seq, Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.advancing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn counts(&self) -> Counts {
        Counts {
            calls: self.calls.count(),
            failures: self.failures.count(),
            slow: self.slow.count(),
        }
    }

    /// The totals of the window ending with bucket `seq`, or with the
    /// newest bucket if that is newer.
    #[inline]
    fn totals_at(&self, seq: u64) -> Totals {
        let len = self.len();
        loop {
            let latest = self.latest.load(Acquire);
            let oldest = seq.max(latest) - len + 1;
            if oldest > latest {
                return Totals::default();
            }
            if let Some(start) = self.starts[(oldest % len) as usize].read(oldest) {
                let now = self.counts();
                return Totals::bounded(
                    since(now.calls, start.calls),
                    since(now.failures, start.failures),
                    since(now.slow, start.slow),
                );
            }
            // The window is moving on: read it again.
            std::hint::spin_loop();
        }
    }

    fn clear(&self, epoch: u64) {
        let _advancing = self.lock();
        let counts = Counts {
            calls: self.calls.carry_to(epoch),
            failures: self.failures.carry_to(epoch),
            slow: self.slow.carry_to(epoch),
        };
        for start in self.starts.iter() {
            start.write(start.seq(), counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(calls: u64, failures: u64, slow: u64) -> Totals {
        Totals {
            calls,
            failures,
            slow,
        }
    }

    #[test]
    fn count_window_slides() {
        let w = CountWindow::new(4);
        assert_eq!(w.record(0, 0), Some(totals(1, 0, 0)));
        assert_eq!(w.record(0, FAILED), Some(totals(2, 1, 0)));
        assert_eq!(w.record(0, FAILED | SLOW), Some(totals(3, 2, 1)));
        assert_eq!(w.record(0, 0), Some(totals(4, 2, 1)));
        // Four more successes push every failure out.
        for _ in 0..3 {
            w.record(0, 0);
        }
        assert_eq!(w.totals(), totals(4, 0, 0));
        w.clear(1);
        assert_eq!(w.totals(), Totals::default());
    }

    #[test]
    fn count_window_leaves_a_hole_for_a_call_of_another_epoch() {
        let w = CountWindow::new(3);
        w.record(0, FAILED);
        w.clear(5);
        assert_eq!(w.record(0, FAILED), None);
        assert_eq!(w.totals(), Totals::default());
        assert_eq!(w.record(5, SLOW), Some(totals(1, 0, 1)));
        assert_eq!(w.record(5, FAILED), Some(totals(2, 1, 1)));
        // The next call takes the hole's place: three calls.
        assert_eq!(w.record(5, 0), Some(totals(3, 1, 1)));
        assert_eq!(w.record(5, 0), Some(totals(3, 1, 0)));
    }

    #[test]
    fn count_window_positions_come_back_before_they_carry_into_the_epoch() {
        let w = CountWindow::new(3);
        w.clear(2);
        w.head.restart(2, REWIND_AT - 1);
        for _ in 0..4 {
            w.record(2, FAILED);
        }
        assert!(w.head.count() < 6, "{}", w.head.count());
        assert_eq!(w.head.get(2).map(|at| at % 3), Some((REWIND_AT + 3) % 3));
        assert_eq!(w.totals(), totals(3, 3, 0));
    }

    #[test]
    fn count_window_keeps_its_place_over_many_laps() {
        let w = CountWindow::new(3);
        for i in 0..10_000u32 {
            w.record(0, if i % 3 == 0 { FAILED } else { 0 });
        }
        // The last three calls: 9_997, 9_998 and 9_999 (F).
        assert_eq!(w.totals(), totals(3, 1, 0));
    }

    #[test]
    fn time_window_forgets_old_buckets() {
        let w = TimeWindow::new(10, 3);
        w.record(0, FAILED, 0);
        w.record(0, 0, 15);
        w.record(0, 0, 16);
        w.record(0, SLOW, 29);
        assert_eq!(w.totals_at(w.seq(29)), totals(4, 1, 1));
        // At 30 the bucket of [0, 10) has left.
        assert_eq!(w.totals_at(w.seq(30)), totals(3, 0, 1));
        // An outcome that arrives late counts in the newest bucket.
        w.record(0, FAILED, 31);
        w.record(0, FAILED, 5);
        assert_eq!(w.totals_at(w.seq(31)), totals(5, 2, 1));
        // A whole window of silence empties it.
        assert_eq!(w.totals_at(w.seq(61)), Totals::default());
        assert_eq!(w.record(0, 0, 61), Some(totals(1, 0, 0)));
    }

    #[test]
    fn time_window_clears_into_a_new_epoch() {
        let w = TimeWindow::new(10, 3);
        w.record(0, FAILED, 0);
        w.record(0, SLOW, 12);
        w.clear(1);
        assert_eq!(w.totals_at(w.seq(12)), Totals::default());
        assert_eq!(w.record(0, FAILED, 13), None);
        assert_eq!(w.record(1, FAILED, 14), Some(totals(1, 1, 0)));
        // The buckets keep sliding after a clear.
        assert_eq!(w.record(1, 0, 45), Some(totals(1, 0, 0)));
    }

    /// Threads record random outcomes while this thread clears the window
    /// again and again, some of them with the epoch before the clear. After
    /// each clear, once the calls racing it have finished, the running
    /// totals (failures, slow calls, holes) must equal what the slots hold.
    #[test]
    fn clears_racing_records_keep_a_count_window_whole() {
        use std::sync::atomic::{AtomicBool, AtomicU64 as Counter};
        use std::sync::{Arc, Barrier};

        const THREADS: usize = 3;
        let w = Arc::new(CountWindow::new(8));
        let epoch = Arc::new(Counter::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let pause = Arc::new(AtomicBool::new(false));
        let paused = Arc::new(Barrier::new(THREADS + 1));
        let resumed = Arc::new(Barrier::new(THREADS + 1));
        let threads: Vec<_> = (0..THREADS as u64)
            .map(|i| {
                let (w, epoch, stop) = (w.clone(), epoch.clone(), stop.clone());
                let (pause, paused, resumed) = (pause.clone(), paused.clone(), resumed.clone());
                std::thread::spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(i);
                    while !stop.load(Relaxed) {
                        if pause.load(Acquire) {
                            paused.wait();
                            resumed.wait();
                        }
                        w.record(epoch.load(Relaxed), rng.u8(0..4));
                    }
                })
            })
            .collect();
        let mut wrong = 0;
        for round in 1..=2_000u64 {
            for _ in 0..200 {
                std::hint::spin_loop();
            }
            w.clear(round);
            epoch.store(round, Relaxed);
            for _ in 0..200 {
                std::hint::spin_loop();
            }
            pause.store(true, Release);
            paused.wait();
            let held = w.slots.iter().fold([0; 3], |[f, s, h], slot| {
                let bits = bits_for(slot.load(Relaxed), round);
                [
                    f + u64::from(bits & FAILED),
                    s + u64::from(bits & SLOW) / 2,
                    h + u64::from(bits & HOLE) / 4,
                ]
            });
            let totals = [&w.failures, &w.slow, &w.holes].map(|t| t.get(round));
            if totals != held.map(Some) {
                wrong += 1;
            }
            pause.store(false, Release);
            if round == 2_000 {
                stop.store(true, Relaxed);
            }
            resumed.wait();
        }
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(wrong, 0, "rounds whose totals left their slots");
    }
}
