//! A request counter that costs no atomic read-modify-write to bump.
//!
//! Every thread gets a cell of its own (the first 32 threads alive at once;
//! any more share one atomic cell), so a bump is a plain load and store by
//! the only writer of that cell. A thread's cell passes to the next thread
//! only through a lock, so no count is lost. Reading sums the cells.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const CELLS: usize = 32;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Cell(AtomicU64);

/// A count shared by every thread, bumped without contention.
#[derive(Debug)]
pub(crate) struct Counter {
    cells: [Cell; CELLS],
    crowded: AtomicU64,
}

impl Counter {
    pub(crate) fn new() -> Self {
        Self {
            cells: std::array::from_fn(|_| Cell::default()),
            crowded: AtomicU64::new(0),
        }
    }

    /// Adds one.
    #[inline]
    pub(crate) fn increment(&self) {
        match SLOT.try_with(|slot| slot.0) {
            Ok(index) if index < CELLS => {
                let cell = &self.cells[index].0;
                cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            _ => {
                self.crowded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The count so far.
    pub(crate) fn sum(&self) -> u64 {
        self.cells
            .iter()
            .map(|cell| cell.0.load(Ordering::Relaxed))
            .fold(self.crowded.load(Ordering::Relaxed), u64::wrapping_add)
    }
}

/// The cell index of the current thread, returned when the thread ends.
struct Slot(usize);

static NEXT: AtomicUsize = AtomicUsize::new(0);
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

impl Slot {
    fn claim() -> Self {
        let reused = FREE.lock().unwrap_or_else(|e| e.into_inner()).pop();
        Slot(reused.unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.0 < CELLS {
            FREE.lock().unwrap_or_else(|e| e.into_inner()).push(self.0);
        }
    }
}

thread_local! {
    static SLOT: Slot = Slot::claim();
}
