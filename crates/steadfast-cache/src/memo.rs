//! Per-thread memos of a [`MemoryStore`](crate::MemoryStore)'s recent hits,
//! so that threads reading the same keys do not contend on the lock of the
//! shard that holds them.
//!
//! Every thread (by its [`thread_slot`]) has a cell of its own, on cache
//! lines of its own, holding copies of the last few entries it read. A
//! store-wide generation, bumped after every change to the entries (a put,
//! a removal, a clear, an expired entry dropped), tags each cell: a cell of
//! an older generation is emptied before it is used, so a memo never
//! answers with an entry older than what the store holds once the change
//! has returned. A read takes the generation before it reads the shards, so
//! a change that lands between the two leaves a cell of the old generation.
//!
//! A memo hit touches only the thread's own cell and reads the generation,
//! a word no hit writes. Keys served from memos still count as used for
//! eviction: the shards evict only when an entry is put, which empties
//! every memo, so each thread's next read of a key after it goes to the
//! shards and marks the key there.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use steadfast_core::counter::{SLOTS, thread_slot};

use crate::store::Entry;

/// How many entries one thread's memo holds.
const PER_THREAD: usize = 4;

/// The store-wide generation, on cache lines of its own: every hit reads
/// it, only changes write it.
#[repr(align(128))]
struct Generation(AtomicU64);

/// One thread's memo, on cache lines of its own.
#[repr(align(128))]
struct Cell<K, V>(Mutex<Memo<K, V>>);

struct Memo<K, V> {
    generation: u64,
    entries: Vec<(K, Entry<V>)>,
    /// The entry the next new one replaces once the memo is full.
    next: usize,
}

/// A thread's cell, made the first time the thread reads the store.
type LazyCell<K, V> = OnceLock<Box<Cell<K, V>>>;

/// The memos of one store; see the [module documentation](self).
pub(crate) struct Memos<K, V> {
    generation: Generation,
    cells: Box<[LazyCell<K, V>]>,
}

impl<K, V> Memos<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            generation: Generation(AtomicU64::new(0)),
            cells: (0..=SLOTS).map(|_| OnceLock::new()).collect(),
        }
    }

    /// Marks every memo as older than the store: called after each change
    /// to the store's entries.
    #[inline]
    pub(crate) fn changed(&self) {
        self.generation.0.fetch_add(1, Ordering::Release);
    }
}

impl<K: Clone + Eq, V: Clone> Memos<K, V> {
    /// `f` of the entry held under `key`: from this thread's memo when it
    /// has the entry of the current generation, else from `read` (the
    /// shards), which the memo then keeps. `None` when `read` finds
    /// nothing.
    #[inline]
    pub(crate) fn peek_with<R>(
        &self,
        key: &K,
        read: impl FnOnce() -> Option<Entry<V>>,
        f: impl FnOnce(&Entry<V>) -> R,
    ) -> Option<R> {
        let generation = self.generation.0.load(Ordering::Acquire);
        let slot = thread_slot().min(SLOTS);
        let Some(cell) = self.cells.get(slot) else {
            return read().map(|entry| f(&entry));
        };
        let cell = cell.get_or_init(|| {
            Box::new(Cell(Mutex::new(Memo {
                generation,
                entries: Vec::with_capacity(PER_THREAD),
                next: 0,
            })))
        });
        let mut memo = cell.0.lock().unwrap_or_else(PoisonError::into_inner);
        if memo.generation != generation {
            memo.entries.clear();
            memo.next = 0;
            memo.generation = generation;
        }
        if let Some((_, entry)) = memo.entries.iter().find(|(k, _)| k == key) {
            return Some(f(entry));
        }
        let entry = read()?;
        let answer = f(&entry);
        if memo.entries.len() < PER_THREAD {
            memo.entries.push((key.clone(), entry));
        } else {
            let next = memo.next;
            memo.entries[next] = (key.clone(), entry);
            memo.next = (next + 1) % PER_THREAD;
        }
        Some(answer)
    }
}
