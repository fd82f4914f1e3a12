//! A counter that threads bump without contending, and the per-thread slots
//! that spread them.
//!
//! A [`ThreadCounter`] starts small. The first thread to count owns it and
//! bumps its own word with a plain load and store; any other thread bumps a
//! second word with a compare-and-swap. The first time two threads are seen
//! counting at once (a swap fails because another thread swapped in
//! between, or the owner's word moved while another thread was counting),
//! the counter spreads out: from then on each of the first [`SLOTS`] threads
//! alive at once counts in a cell of its own, on cache lines of its own,
//! made the first time that thread counts there, and only the slot's owner
//! writes to it. A counter that no two threads ever bump at once therefore
//! stays a few words, and one that is contended grows by a cache line per
//! thread that uses it.
//!
//! When a thread ends, its slot (and with it the words it wrote) passes to
//! the next thread that needs one through a lock, so no count is lost and
//! thread churn never runs out of slots. Threads beyond the first [`SLOTS`]
//! bump the second word with `fetch_add`. The sum is exact.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use steadfast_core::counter::ThreadCounter;
//!
//! let counter = Arc::new(ThreadCounter::new());
//! let threads: Vec<_> = (0..4)
//!     .map(|_| {
//!         let counter = counter.clone();
//!         std::thread::spawn(move || {
//!             for _ in 0..1_000 {
//!                 counter.increment();
//!             }
//!         })
//!     })
//!     .collect();
//! for thread in threads {
//!     thread.join().unwrap();
//! }
//! assert_eq!(counter.sum(), 4_000);
//! ```

use std::cell::Cell as ThreadCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

/// How many threads alive at once get a slot of their own.
pub const SLOTS: usize = 64;

/// The slot of a thread that has not asked for one yet.
const UNCLAIMED: usize = usize::MAX;

/// Slots free to claim: those given back by ended threads, then those never
/// handed out (`next` up to [`SLOTS`]).
struct Pool {
    free: Vec<usize>,
    next: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    next: 0,
});

fn pool() -> MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives the thread's slot back when the thread ends.
struct Release;

impl Drop for Release {
    fn drop(&mut self) {
        let slot = SLOT.with(|slot| slot.replace(SLOTS));
        if slot < SLOTS {
            pool().free.push(slot);
        }
    }
}

thread_local! {
    static SLOT: ThreadCell<usize> = const { ThreadCell::new(UNCLAIMED) };
    static RELEASE: Release = const { Release };
}

#[cold]
fn claim() -> usize {
    // A slot is taken only if it can be given back: once the thread is
    // ending, `RELEASE` is gone and the thread shares the crowded cell.
    let slot = if RELEASE.try_with(|_| ()).is_ok() {
        let mut pool = pool();
        pool.free.pop().unwrap_or_else(|| {
            let next = pool.next;
            pool.next = (next + 1).min(SLOTS);
            next
        })
    } else {
        SLOTS
    };
    SLOT.with(|s| s.set(slot));
    slot
}

/// The slot of the current thread: below [`SLOTS`], a slot this thread owns
/// alone until it ends; [`SLOTS`] itself when every slot is taken, shared by
/// all such threads.
///
/// A thread keeps its slot for life, and the slot passes to another thread
/// only after this one has ended. Besides indexing a [`ThreadCounter`], the
/// slot spreads threads over any set of per-thread resources
/// (`thread_slot() % n`).
#[inline]
pub fn thread_slot() -> usize {
    let slot = SLOT.with(ThreadCell::get);
    if slot == UNCLAIMED { claim() } else { slot }
}

/// One cell, on cache lines of its own.
#[repr(align(128))]
struct Padded(AtomicU64);

/// A count bumped by many threads at once without contention.
///
/// Its first thread bumps it with a plain load and store, others with a
/// compare-and-swap, until two threads are seen counting at once; from then
/// on each thread writes only the cell of its [`thread_slot`], with a plain
/// load and store (see the [module documentation](self)).
/// [`sum`](Self::sum) is exact once the bumps it should see have happened
/// before it (a join, a channel, a lock).
pub struct ThreadCounter {
    /// The slot of the thread that counts in `own`, plus one; zero until a
    /// thread counts.
    owner: AtomicUsize,
    /// The owner's count, written by the owner alone.
    own: AtomicU64,
    /// The count of the other threads until the counter spreads, then of
    /// the threads without a slot.
    shared: AtomicU64,
    /// One cell per slot, each made the first time its thread counts; the
    /// list itself is made when the counter spreads.
    cells: OnceLock<Box<[OnceLock<Box<Padded>>; SLOTS]>>,
}

/// Adds one to a word only the calling thread writes.
#[inline]
fn bump_own(word: &AtomicU64) {
    word.store(word.load(Relaxed).wrapping_add(1), Relaxed);
}

impl ThreadCounter {
    /// A counter at zero.
    pub const fn new() -> Self {
        Self {
            owner: AtomicUsize::new(0),
            own: AtomicU64::new(0),
            shared: AtomicU64::new(0),
            cells: OnceLock::new(),
        }
    }

    /// Adds one.
    #[inline]
    pub fn increment(&self) {
        let slot = thread_slot();
        if let Some(cells) = self.cells.get() {
            match cells.get(slot) {
                Some(cell) => bump_own(&cell.get_or_init(Self::cell).0),
                None => {
                    self.shared.fetch_add(1, Relaxed);
                }
            }
            return;
        }
        let owner = self.owner.load(Relaxed);
        if owner == slot + 1
            || (owner == 0
                && slot < SLOTS
                && self
                    .owner
                    .compare_exchange(0, slot + 1, Relaxed, Relaxed)
                    .is_ok())
        {
            bump_own(&self.own);
        } else {
            self.visit();
        }
    }

    fn cell() -> Box<Padded> {
        Box::new(Padded(AtomicU64::new(0)))
    }

    /// Counts a bump of a thread other than the owner, and spreads the
    /// counter if another thread counted meanwhile.
    #[cold]
    #[inline(never)]
    fn visit(&self) {
        let owned = self.own.load(Relaxed);
        let count = self.shared.load(Relaxed);
        let collided = self
            .shared
            .compare_exchange(count, count.wrapping_add(1), Relaxed, Relaxed)
            .is_err();
        if collided {
            self.shared.fetch_add(1, Relaxed);
        }
        if collided || self.own.load(Relaxed) != owned {
            self.cells
                .get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        }
    }

    /// Whether two threads have been seen counting at once, so that each
    /// now counts in a cell of its own. Other per-thread state that the same
    /// threads touch as often can follow this signal to spread out too.
    #[inline]
    pub fn contended(&self) -> bool {
        self.cells.get().is_some()
    }

    /// The count so far.
    pub fn sum(&self) -> u64 {
        let unspread = self
            .own
            .load(Relaxed)
            .wrapping_add(self.shared.load(Relaxed));
        self.cells.get().map_or(unspread, |cells| {
            cells
                .iter()
                .filter_map(OnceLock::get)
                .map(|cell| cell.0.load(Relaxed))
                .fold(unspread, u64::wrapping_add)
        })
    }
}

impl Default for ThreadCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ThreadCounter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadCounter")
            .field("sum", &self.sum())
            .field("contended", &self.contended())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Tests that hold slots run one at a time, so each sees the slots it
    /// expects to be free.
    fn serial() -> MutexGuard<'static, ()> {
        static SERIAL: Mutex<()> = Mutex::new(());
        SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count_on_threads(counter: &Arc<ThreadCounter>, threads: usize, each: u64) {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..each {
                        counter.increment();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
    }

    #[test]
    fn sums_exactly_across_threads() {
        let _serial = serial();
        let counter = Arc::new(ThreadCounter::new());
        count_on_threads(&counter, 8, 100_000);
        assert_eq!(counter.sum(), 800_000);
    }

    #[test]
    fn threads_beyond_the_slots_share_a_cell_exactly() {
        let _serial = serial();
        let counter = Arc::new(ThreadCounter::new());
        let threads = 2 * SLOTS;
        let start = Arc::new(std::sync::Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (counter, start) = (counter.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..1_000 {
                        counter.increment();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        assert_eq!(counter.sum(), 1_000 * threads as u64);
    }

    #[test]
    fn slots_of_ended_threads_are_reused() {
        let _serial = serial();
        let counter = Arc::new(ThreadCounter::new());
        for _ in 0..200 {
            count_on_threads(&counter, 1, 10);
        }
        assert_eq!(counter.sum(), 2_000);

        let slots: Vec<usize> = (0..200)
            .map(|_| std::thread::spawn(thread_slot).join().unwrap())
            .collect();
        assert!(slots.iter().all(|&slot| slot < SLOTS), "{slots:?}");

        count_on_threads(&counter, 8, 10_000);
        assert_eq!(counter.sum(), 82_000);
    }

    #[test]
    fn threads_that_take_turns_never_spread_the_counter() {
        let _serial = serial();
        let counter = Arc::new(ThreadCounter::new());
        for _ in 0..100 {
            count_on_threads(&counter, 1, 1_000);
        }
        for _ in 0..1_000 {
            counter.increment();
        }
        assert_eq!(counter.sum(), 101_000);
        assert!(!counter.contended());
    }

    #[test]
    fn threads_that_collide_spread_the_counter_and_keep_the_sum() {
        let _serial = serial();
        let counter = Arc::new(ThreadCounter::new());
        let mut rounds = 0;
        // Two threads bumping at once collide within a few rounds on any
        // machine that runs them side by side.
        while !counter.contended() && rounds < 100 {
            count_on_threads(&counter, 2, 100_000);
            rounds += 1;
        }
        assert!(counter.contended(), "no collision in {rounds} rounds");
        count_on_threads(&counter, 8, 10_000);
        assert_eq!(counter.sum(), rounds * 200_000 + 80_000);
    }

    #[test]
    fn a_thread_keeps_its_slot() {
        let _serial = serial();
        let first = thread_slot();
        let counter = ThreadCounter::new();
        counter.increment();
        assert_eq!(thread_slot(), first);
        assert_eq!(counter.sum(), 1);
    }
}
