//! The order of a store's changes to its files.
//!
//! Writes, removals and clears run on the blocking pool, where they may
//! start in any order. Each gets a sequence number when it is called; an
//! older write of a key never lands after a newer change of that key or
//! after a later clear, and [`Order::flush`] waits for every change called
//! before it.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// What one key's pending changes have done so far.
#[derive(Debug, Default)]
struct KeyOps {
    /// The newest change called.
    latest: u64,
    /// The newest change that took effect.
    applied: u64,
    /// Changes called and not yet finished.
    pending: u32,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<Box<str>, KeyOps>,
    /// Every change called and not yet finished.
    pending: BTreeSet<u64>,
    /// The newest clear called.
    cleared: u64,
}

/// Whether a change is still worth making when its turn comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Turn {
    /// Make it.
    Go,
    /// A newer change of the key (or a later clear) makes it moot.
    Superseded,
}

/// Sequence numbers and the record of pending changes. Its lock is held
/// only for a few map operations, never during I/O.
#[derive(Debug)]
pub(crate) struct Order {
    next: AtomicU64,
    state: Mutex<State>,
    done: Notify,
}

impl Order {
    pub(crate) fn new() -> Self {
        Self {
            next: AtomicU64::new(1),
            state: Mutex::new(State::default()),
            done: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a change of the file `name` being called; its sequence
    /// number.
    pub(crate) fn call(&self, name: &str) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        state.pending.insert(seq);
        let ops = state.keys.entry(Box::from(name)).or_default();
        ops.latest = ops.latest.max(seq);
        ops.pending += 1;
        seq
    }

    /// Records a clear being called; its sequence number.
    pub(crate) fn call_clear(&self) -> u64 {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        state.pending.insert(seq);
        state.cleared = state.cleared.max(seq);
        seq
    }

    /// Whether write `seq` of `name` is still to be made. Ask while holding
    /// the key's file lock.
    pub(crate) fn write_turn(&self, name: &str, seq: u64) -> Turn {
        let state = self.state();
        let ops = state.keys.get(name);
        if seq < state.cleared || ops.is_some_and(|ops| ops.latest > seq) {
            Turn::Superseded
        } else {
            Turn::Go
        }
    }

    /// Whether removal `seq` of `name` is still to be made: not when a newer
    /// change already took effect. Ask while holding the key's file lock.
    pub(crate) fn remove_turn(&self, name: &str, seq: u64) -> Turn {
        let state = self.state();
        if state.keys.get(name).is_some_and(|ops| ops.applied > seq) {
            Turn::Superseded
        } else {
            Turn::Go
        }
    }

    /// Records that change `seq` of `name` is over, and whether it took
    /// effect.
    pub(crate) fn finish(&self, name: &str, seq: u64, applied: bool) {
        let mut state = self.state();
        state.pending.remove(&seq);
        if let Some(ops) = state.keys.get_mut(name) {
            if applied {
                ops.applied = ops.applied.max(seq);
            }
            ops.pending -= 1;
            if ops.pending == 0 {
                state.keys.remove(name);
            }
        }
        drop(state);
        self.done.notify_waiters();
    }

    /// Records that clear `seq` is over.
    pub(crate) fn finish_clear(&self, seq: u64) {
        self.state().pending.remove(&seq);
        self.done.notify_waiters();
    }

    /// Completes when every change called before it has finished.
    pub(crate) async fn flush(&self) {
        let upto = self.next.load(Ordering::Relaxed);
        loop {
            let notified = self.done.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let oldest = self.state().pending.first().copied();
            if oldest.is_none_or(|seq| seq >= upto) {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_write_gives_way_to_any_newer_change() {
        let order = Order::new();
        let old = order.call("k");
        let new = order.call("k");
        assert_eq!(order.write_turn("k", old), Turn::Superseded);
        assert_eq!(order.write_turn("k", new), Turn::Go);
        order.finish("k", new, true);
        order.finish("k", old, false);
        assert!(order.state().keys.is_empty());
        assert!(order.state().pending.is_empty());
    }

    #[test]
    fn a_removal_gives_way_only_to_a_newer_change_that_took_effect() {
        let order = Order::new();
        let remove = order.call("k");
        let write = order.call("k");
        assert_eq!(order.remove_turn("k", remove), Turn::Go);
        order.finish("k", write, true);
        assert_eq!(order.remove_turn("k", remove), Turn::Superseded);
        order.finish("k", remove, false);
        let other = order.call("other");
        assert_eq!(order.remove_turn("other", other), Turn::Go);
    }

    #[test]
    fn a_clear_supersedes_every_write_called_before_it() {
        let order = Order::new();
        let before = order.call("a");
        let clear = order.call_clear();
        let after = order.call("b");
        assert_eq!(order.write_turn("a", before), Turn::Superseded);
        assert_eq!(order.write_turn("b", after), Turn::Go);
        order.finish_clear(clear);
        order.finish("a", before, false);
        order.finish("b", after, true);
        assert!(order.state().pending.is_empty());
    }

    #[tokio::test]
    async fn flush_waits_for_earlier_changes_only() {
        let order = std::sync::Arc::new(Order::new());
        order.flush().await;
        let first = order.call("a");
        let waiting = tokio::spawn({
            let order = order.clone();
            async move { order.flush().await }
        });
        tokio::task::yield_now().await;
        let later = order.call("b");
        assert!(!waiting.is_finished());
        order.finish("a", first, true);
        waiting.await.unwrap();
        order.finish("b", later, true);
    }
}
