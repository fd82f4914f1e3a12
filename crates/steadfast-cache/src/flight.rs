//! Single flight: one load per key, however many callers wait for it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use steadfast_core::SharedError;
use tokio::sync::watch;

use crate::error::LoadAbandoned;
use crate::event::StaleReason;

/// How a value reached the callers of a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Served {
    /// Loaded from the inner service: handed out as it came.
    Origin,
    /// Found fresh in memory.
    Cache,
    /// Found fresh in a shared tier (L2).
    Remote,
    /// A stale value, for `reason`.
    Stale(StaleReason),
}

/// What a load hands every caller waiting for it.
#[derive(Clone)]
pub(crate) enum Outcome<V> {
    /// A value, and how it was found.
    Value(V, Served),
    /// The failure, shared.
    Failed(SharedError),
}

type Slot<V> = Option<Outcome<V>>;

/// A load that runs on.
const RUNNING: u8 = 0;
/// A load whose key was invalidated on this instance.
const CANCELLED: u8 = 1;
/// A load whose key another instance invalidated.
const CANCELLED_REMOTELY: u8 = 2;

struct Running<V> {
    id: u64,
    rx: watch::Receiver<Slot<V>>,
    cancelled: Arc<AtomicU8>,
}

/// The loads running, by key.
pub(crate) struct Flights<K, V> {
    running: Mutex<HashMap<K, Running<V>>>,
    next_id: AtomicU64,
}

/// The caller that started a load: it publishes the outcome.
pub(crate) struct Lead<V> {
    pub(crate) id: u64,
    tx: watch::Sender<Slot<V>>,
    cancelled: Arc<AtomicU8>,
}

/// Where a caller stands after [`Flights::join`].
pub(crate) enum Join<V> {
    /// It started the load, and waits on the receiver like everyone else.
    Lead(Lead<V>, Waiter<V>),
    /// A load was already running.
    Wait(Waiter<V>),
}

/// A caller waiting for a load's outcome.
pub(crate) struct Waiter<V> {
    rx: watch::Receiver<Slot<V>>,
}

impl<K: Eq + Hash, V> Flights<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            running: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Running<V>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the load of `key`, or starts one.
    pub(crate) fn join(&self, key: &K) -> Join<V>
    where
        K: Clone,
    {
        let mut running = self.lock();
        if let Some(flight) = running.get(key) {
            // A load whose task was dropped before it ran (its runtime shut
            // down) never publishes nor forgets itself: start afresh.
            let abandoned = flight.rx.has_changed().is_err() && flight.rx.borrow().is_none();
            if !abandoned {
                return Join::Wait(Waiter {
                    rx: flight.rx.clone(),
                });
            }
        }
        let (tx, rx) = watch::channel(None);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancelled = Arc::new(AtomicU8::new(RUNNING));
        running.insert(
            key.clone(),
            Running {
                id,
                rx: rx.clone(),
                cancelled: Arc::clone(&cancelled),
            },
        );
        Join::Lead(Lead { id, tx, cancelled }, Waiter { rx })
    }

    /// Starts a load of `key` if none is running.
    pub(crate) fn lead(&self, key: &K) -> Option<Lead<V>>
    where
        K: Clone,
    {
        match self.join(key) {
            Join::Lead(lead, _) => Some(lead),
            Join::Wait(_) => None,
        }
    }

    /// Forgets the load `id` of `key` once it is over.
    pub(crate) fn finish(&self, key: &K, id: u64) {
        let mut running = self.lock();
        if running.get(key).is_some_and(|flight| flight.id == id) {
            running.remove(key);
        }
    }

    /// Tells the load of `key`, if any, not to store what it gets, and
    /// forgets it so the next caller starts afresh.
    pub(crate) fn cancel(&self, key: &K) {
        if let Some(flight) = self.lock().remove(key) {
            flight.cancelled.store(CANCELLED, Ordering::Release);
        }
    }

    /// [`cancel`](Self::cancel)s every load.
    pub(crate) fn cancel_all(&self) {
        for (_, flight) in self.lock().drain() {
            flight.cancelled.store(CANCELLED, Ordering::Release);
        }
    }

    /// Cancels the load of `key`, which another instance invalidated: it
    /// stores nothing, and drops only what it may have put in this
    /// instance's own tiers.
    pub(crate) fn cancel_remotely(&self, key: &K) {
        if let Some(flight) = self.lock().remove(key) {
            flight
                .cancelled
                .store(CANCELLED_REMOTELY, Ordering::Release);
        }
    }

    /// [`cancel_remotely`](Self::cancel_remotely)s every load.
    pub(crate) fn cancel_all_remotely(&self) {
        for (_, flight) in self.lock().drain() {
            flight
                .cancelled
                .store(CANCELLED_REMOTELY, Ordering::Release);
        }
    }

    /// The number of loads running.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

impl<V> Lead<V> {
    /// Hands `outcome` to every waiter, present and future.
    pub(crate) fn publish(&self, outcome: Outcome<V>) {
        self.tx.send_replace(Some(outcome));
    }

    /// Whether the key was invalidated while loading.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire) != RUNNING
    }

    /// Whether it was another instance that invalidated the key.
    pub(crate) fn is_cancelled_remotely(&self) -> bool {
        self.cancelled.load(Ordering::Acquire) == CANCELLED_REMOTELY
    }
}

impl<V: Clone> Waiter<V> {
    /// The outcome, if the load has already published it: a caller that
    /// arrives after the value is known takes it at once.
    pub(crate) fn known(&self) -> Option<Outcome<V>> {
        self.rx.borrow().clone()
    }

    /// The outcome of the load; a load that ended without one (its task
    /// panicked or was shut down) fails with [`LoadAbandoned`].
    pub(crate) async fn outcome(mut self) -> Outcome<V> {
        match self.rx.wait_for(Option::is_some).await {
            Ok(slot) => slot
                .clone()
                .unwrap_or_else(|| Outcome::Failed(SharedError::new(LoadAbandoned))),
            Err(_) => Outcome::Failed(SharedError::new(LoadAbandoned)),
        }
    }
}
