//! Requests counted by the slot of time they arrived in, per thread.
//!
//! Each of the first [`THREADS`] threads alive at once owns a cell (by its
//! [`thread_slot`]); only the owner writes to it, with plain loads and
//! stores on a cache line of its own, so counting a request is uncontended.
//! Threads beyond those share one more cell, updated with compare-and-swap.
//!
//! A cell holds one word per slot of the window: the lap of the window the
//! slot was last written in and the requests counted in it, packed so that a
//! reader sees both from one store. A slot written in an older lap is
//! counted as zero and restarted by its next write; readers never write.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use steadfast_core::counter::{SLOTS as THREADS, thread_slot};

/// Slots in a window.
pub(crate) const SLOTS: usize = 10;

const COUNT_BITS: u32 = 32;
const COUNT: u64 = (1 << COUNT_BITS) - 1;

/// One thread's counts: a packed word per window slot, and every request
/// ever counted.
#[repr(align(128))]
struct Cell {
    slots: [AtomicU64; SLOTS],
    total: AtomicU64,
}

impl Cell {
    const fn new() -> Self {
        Self {
            slots: [const { AtomicU64::new(0) }; SLOTS],
            total: AtomicU64::new(0),
        }
    }
}

/// The word for one more request in slot `slot`, given the word there.
fn bumped(word: u64, slot: u64) -> u64 {
    let lap = lap_of(slot);
    if word >> COUNT_BITS == lap {
        // A count cannot reach 2^32 in one slot of one thread (a slot lasts
        // at most 6 s); should it, it stays there.
        let count = (word & COUNT).saturating_add(1).min(COUNT);
        lap << COUNT_BITS | count
    } else {
        lap << COUNT_BITS | 1
    }
}

/// Where slot `slot` lies in a ring of `SLOTS`.
pub(crate) fn index(slot: u64) -> usize {
    (slot % SLOTS as u64) as usize
}

/// The lap of slot `slot`, as stored: its low 32 bits.
fn lap_of(slot: u64) -> u64 {
    (slot / SLOTS as u64) & COUNT
}

/// The requests a slot word holds if it belongs to the window that ends
/// with slot `current`.
fn in_window(word: u64, index: usize, current: u64) -> u64 {
    let count = word & COUNT;
    if count == 0 {
        return 0;
    }
    // The lap is stored in 32 bits: take the nearest lap with those bits.
    let current_lap = current / SLOTS as u64;
    let behind =
        i64::from((lap_of(current) as u32).wrapping_sub((word >> COUNT_BITS) as u32) as i32);
    let lap = i128::from(current_lap) - i128::from(behind);
    let slot = lap * SLOTS as i128 + index as i128;
    // A writer that read the clock after the reader may be a slot ahead:
    // its request has arrived, so it counts.
    let age = i128::from(current) - slot;
    if -(SLOTS as i128) < age && age < SLOTS as i128 {
        count
    } else {
        0
    }
}

/// Requests counted per thread, each with the slot of time it arrived in
/// when it has one. What a slot is, is up to the caller (the budget's
/// ledger); a window is `SLOTS` consecutive slots.
pub(crate) struct Arrivals {
    cells: [Cell; THREADS],
    crowded: Cell,
}

impl Arrivals {
    /// No requests yet.
    pub(crate) const fn new() -> Self {
        Self {
            cells: [const { Cell::new() }; THREADS],
            crowded: Cell::new(),
        }
    }

    /// Counts one request, arriving in slot `slot` if it has one.
    #[inline]
    pub(crate) fn record(&self, slot: Option<u64>) {
        match self.cells.get(thread_slot()) {
            Some(own) => {
                if let Some(slot) = slot {
                    let word = &own.slots[index(slot)];
                    word.store(bumped(word.load(Relaxed), slot), Relaxed);
                }
                own.total
                    .store(own.total.load(Relaxed).wrapping_add(1), Relaxed);
            }
            None => self.record_crowded(slot),
        }
    }

    #[cold]
    fn record_crowded(&self, slot: Option<u64>) {
        if let Some(slot) = slot {
            let word = &self.crowded.slots[index(slot)];
            // The closure always answers `Some`, so the update cannot fail.
            let _ = word.fetch_update(Relaxed, Relaxed, |word| Some(bumped(word, slot)));
        }
        self.crowded.total.fetch_add(1, Relaxed);
    }

    /// Every request counted so far.
    pub(crate) fn total(&self) -> u64 {
        self.all_cells()
            .map(|cell| cell.total.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }

    /// The requests that arrived in the window ending with slot `current`:
    /// that slot and the `SLOTS - 1` before it.
    pub(crate) fn in_window(&self, current: u64) -> u64 {
        self.all_cells()
            .flat_map(|cell| cell.slots.iter().enumerate())
            .map(|(index, word)| in_window(word.load(Relaxed), index, current))
            .fold(0, u64::saturating_add)
    }

    fn all_cells(&self) -> impl Iterator<Item = &Cell> {
        self.cells.iter().chain(std::iter::once(&self.crowded))
    }
}

impl fmt::Debug for Arrivals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Arrivals")
            .field("total", &self.total())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    /// Threads alive together, more of them than there are cells, all
    /// counting in slot 3: every request is in the total and in the window.
    #[test]
    fn requests_on_many_threads_are_all_counted() {
        let arrivals = Arc::new(Arrivals::new());
        let threads = THREADS + 36;
        let start = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (arrivals, start) = (arrivals.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..1_000 {
                        arrivals.record(Some(3));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let expected = 1_000 * threads as u64;
        assert_eq!(arrivals.total(), expected);
        assert_eq!(arrivals.in_window(3), expected);
        assert_eq!(arrivals.in_window(12), expected);
        assert_eq!(arrivals.in_window(13), 0);
    }

    #[test]
    fn requests_without_a_slot_count_only_in_the_total() {
        let arrivals = Arrivals::new();
        for _ in 0..5 {
            arrivals.record(None);
        }
        assert_eq!(arrivals.total(), 5);
        assert_eq!(arrivals.in_window(0), 0);
    }

    #[test]
    fn requests_count_in_the_windows_that_hold_their_slot() {
        let arrivals = Arrivals::new();
        arrivals.record(Some(0));
        arrivals.record(Some(2));
        arrivals.record(Some(2));
        assert_eq!(arrivals.in_window(2), 3);
        assert_eq!(arrivals.in_window(9), 3);
        assert_eq!(arrivals.in_window(10), 2);
        assert_eq!(arrivals.in_window(12), 0);
        // Slot 12 takes the place of slot 2 and starts again from one.
        arrivals.record(Some(12));
        assert_eq!(arrivals.in_window(12), 1);
        assert_eq!(arrivals.total(), 4);
    }

    #[test]
    fn a_word_counts_only_in_the_windows_that_hold_its_slot() {
        // Slot 37 is index 7 of lap 3.
        let word = bumped(bumped(0, 37), 37);
        assert_eq!(word, 3 << COUNT_BITS | 2);
        assert_eq!(in_window(word, 7, 36), 2, "a writer one slot ahead");
        assert_eq!(in_window(word, 7, 37), 2);
        assert_eq!(in_window(word, 7, 46), 2);
        assert_eq!(in_window(word, 7, 47), 0);
        assert_eq!(in_window(word, 7, 27), 0);
        // The next write to the same index in a later lap restarts it.
        assert_eq!(bumped(word, 47), 4 << COUNT_BITS | 1);
    }

    #[test]
    fn a_slot_left_for_half_the_lap_range_is_stale() {
        // Laps are told apart up to 2^31 laps (68 years of the shortest
        // window) either way; a slot left that long is stale, not ahead.
        let laps = 1u64 << 31;
        let word = bumped(0, 7);
        assert_eq!(in_window(word, 7, laps * SLOTS as u64 + 7), 0);
        assert_eq!(in_window(word, 7, (laps - 1) * SLOTS as u64 + 7), 0);
    }

    #[test]
    fn a_full_slot_stays_full() {
        let full = 5 << COUNT_BITS | COUNT;
        assert_eq!(bumped(full, 50), full);
    }
}
