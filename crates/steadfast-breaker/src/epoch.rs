//! Counts stamped with the closed period they belong to.
//!
//! Every count a closed circuit keeps (its failure streak, its window) lives
//! in words that also carry the epoch of the state word the circuit was
//! closed under. A call changes such a word only with a compare-and-swap
//! that finds its own epoch there (or, for a count window's position, with
//! an add whose result tells it which epoch it landed in), and clearing the
//! counts for a new closed period moves every word to the new epoch before
//! the new state word is published. A call admitted before a reset, a trip
//! or a forced state therefore either lands before the clear (and is
//! cleared with the rest) or finds the new epoch and counts nothing: clears
//! and calls are linearizable, with no lock on the call's path.

use std::sync::atomic::{AtomicU64, Ordering::*};

/// Bits of the count; the epoch takes the rest of the word.
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

/// Epochs are compared on this many bits: a call would have to stay between
/// two of its own steps while 2^24 transitions happen to be mistaken.
pub(crate) const EPOCH_MASK: u64 = (1 << (64 - COUNT_BITS)) - 1;

/// `a - b` modulo 2^40 (counts wrap there), for counts that only grow.
#[inline]
pub(crate) fn since(a: u64, b: u64) -> u64 {
    a.wrapping_sub(b) & COUNT_MASK
}

/// A count that another call's decrement may have left briefly below zero
/// (stored modulo 2^40), read as zero then.
#[inline]
pub(crate) fn non_negative(count: u64) -> u64 {
    if count >> (COUNT_BITS - 1) == 0 {
        count
    } else {
        0
    }
}

/// A count and the epoch it belongs to, in one word.
#[derive(Debug, Default)]
pub(crate) struct EpochCount(AtomicU64);

impl EpochCount {
    /// A zero count in epoch 0, the epoch of a new circuit.
    pub(crate) const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    #[inline]
    fn pack(epoch: u64, count: u64) -> u64 {
        ((epoch & EPOCH_MASK) << COUNT_BITS) | (count & COUNT_MASK)
    }

    #[inline]
    fn epoch_of(word: u64) -> u64 {
        word >> COUNT_BITS
    }

    /// The count, whatever its epoch.
    #[inline]
    pub(crate) fn count(&self) -> u64 {
        self.0.load(Acquire) & COUNT_MASK
    }

    /// The count, if it belongs to `epoch`.
    #[inline]
    pub(crate) fn get(&self, epoch: u64) -> Option<u64> {
        let word = self.0.load(Acquire);
        (Self::epoch_of(word) == epoch & EPOCH_MASK).then_some(word & COUNT_MASK)
    }

    /// Replaces the count with `next(count)` (taken modulo 2^40) if it
    /// belongs to `epoch`; returns the count
    /// before and after, or `None` when the word has moved to another epoch.
    #[inline]
    pub(crate) fn update(&self, epoch: u64, next: impl Fn(u64) -> u64) -> Option<(u64, u64)> {
        let epoch = epoch & EPOCH_MASK;
        let mut word = self.0.load(Acquire);
        loop {
            if Self::epoch_of(word) != epoch {
                return None;
            }
            let count = word & COUNT_MASK;
            let after = next(count) & COUNT_MASK;
            match self
                .0
                .compare_exchange_weak(word, Self::pack(epoch, after), AcqRel, Acquire)
            {
                Ok(_) => return Some((count, after)),
                Err(actual) => word = actual,
            }
        }
    }

    /// Adds one to the count whatever its epoch, and returns the epoch and
    /// the count before. The caller keeps the count below 2^40, or it would
    /// carry into the epoch.
    #[inline]
    pub(crate) fn bump(&self) -> (u64, u64) {
        let word = self.0.fetch_add(1, AcqRel);
        (Self::epoch_of(word), word & COUNT_MASK)
    }

    /// Moves to `epoch` with the count set to `count`.
    pub(crate) fn restart(&self, epoch: u64, count: u64) {
        self.0.store(Self::pack(epoch, count), Release);
    }

    /// Moves to `epoch`, keeping the count; returns the count kept, which is
    /// final for the epoch left.
    pub(crate) fn carry_to(&self, epoch: u64) -> u64 {
        let word = self
            .0
            .fetch_update(AcqRel, Acquire, |word| {
                Some(Self::pack(epoch, word & COUNT_MASK))
            })
            .unwrap_or_else(|word| word);
        word & COUNT_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COUNT_MODULUS: u64 = COUNT_MASK + 1;

    #[test]
    fn a_count_changes_only_in_its_own_epoch() {
        let count = EpochCount::new();
        assert_eq!(count.update(0, |n| n + 1), Some((0, 1)));
        assert_eq!(count.update(1, |n| n + 1), None);
        assert_eq!(count.carry_to(1), 1);
        assert_eq!(count.update(0, |n| n + 1), None);
        assert_eq!(count.update(1, |n| n + 1), Some((1, 2)));
        assert_eq!(count.get(1), Some(2));
        assert_eq!(count.get(0), None);
        count.restart(2, 0);
        assert_eq!((count.get(2), count.count()), (Some(0), 0));
        assert_eq!(count.bump(), (2, 0));
        assert_eq!(count.get(2), Some(1));
    }

    #[test]
    fn epochs_compare_on_their_low_bits_and_counts_wrap() {
        let count = EpochCount::new();
        count.restart(EPOCH_MASK + 3, COUNT_MODULUS - 1);
        assert_eq!(count.get(2), Some(COUNT_MODULUS - 1));
        assert_eq!(count.update(2, |n| n + 1), Some((COUNT_MODULUS - 1, 0)));
        assert_eq!(since(1, COUNT_MODULUS - 1), 2);
        assert_eq!(non_negative(0u64.wrapping_sub(1) & COUNT_MASK), 0);
        assert_eq!(non_negative(7), 7);
    }
}
