//! A counter that the threads incrementing it do not fight over.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

const STRIPES: usize = 16;

static NEXT_THREAD: AtomicU32 = AtomicU32::new(1);

thread_local! {
    static THREAD: Cell<u32> = const { Cell::new(0) };
}

/// A small number naming the current thread, never zero.
#[inline]
fn thread_number() -> u32 {
    THREAD.with(|id| {
        let mut n = id.get();
        if n == 0 {
            n = NEXT_THREAD.fetch_add(1, Relaxed).max(1);
            id.set(n);
        }
        n
    })
}

/// One stripe, on its own cache line, owned by the first thread that counts
/// into it.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe {
    owner: AtomicU32,
    count: AtomicU64,
}

/// Counts without a read-modify-write instruction on the common path: each
/// thread counts into a stripe it owns with a plain load and store, which
/// is exact because no other thread writes that stripe. A thread whose
/// stripe belongs to another thread counts into a shared overflow with an
/// atomic add.
#[derive(Debug)]
pub(crate) struct StripedCounter {
    stripes: Box<[Stripe]>,
    overflow: AtomicU64,
}

impl Default for StripedCounter {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            overflow: AtomicU64::new(0),
        }
    }
}

impl StripedCounter {
    #[inline]
    pub(crate) fn increment(&self) {
        let me = thread_number();
        let stripe = &self.stripes[me as usize % STRIPES];
        let owner = stripe.owner.load(Relaxed);
        if owner == me
            || (owner == 0
                && stripe
                    .owner
                    .compare_exchange(0, me, Relaxed, Relaxed)
                    .is_ok())
        {
            stripe.count.store(stripe.count.load(Relaxed) + 1, Relaxed);
        } else {
            self.overflow.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.count.load(Relaxed))
            .sum::<u64>()
            + self.overflow.load(Relaxed)
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
