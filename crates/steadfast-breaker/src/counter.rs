//! A counter that the threads incrementing it do not fight over, and the
//! thread numbers that spread them.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// How many stripes a counter (and lanes a circuit) has.
pub(crate) const STRIPES: usize = 16;

static NEXT_THREAD: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static THREAD: Cell<u32> = const { Cell::new(0) };
}

/// A small number naming the current thread, never zero.
#[inline]
pub(crate) fn thread_number() -> u32 {
    THREAD.with(|id| {
        let mut n = id.get();
        if n == 0 {
            n = NEXT_THREAD.fetch_add(1, Relaxed).max(1);
            id.set(n);
        }
        n
    })
}

/// One stripe, on its own cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

/// A counter split in stripes, one chosen by the counting thread, so that
/// threads counting at once touch different cache lines. The sum is exact.
#[derive(Debug)]
pub(crate) struct StripedCounter {
    stripes: Box<[Stripe]>,
}

impl Default for StripedCounter {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}

impl StripedCounter {
    #[inline]
    pub(crate) fn increment(&self) {
        self.stripes[thread_number() as usize % STRIPES]
            .0
            .fetch_add(1, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes.iter().map(|s| s.0.load(Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_exactly_across_threads() {
        let counter = std::sync::Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counter.increment();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(counter.get(), 40_000);
    }
}
