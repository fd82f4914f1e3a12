//! Wake-ups for loads waiting on another instance's lease: the key's
//! entry landed in the shared tier, or the lease was given back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The keys loads are waiting on, each with the [`Notify`] that wakes them.
pub(crate) struct Wakers<K> {
    waiting: Mutex<HashMap<K, Arc<Notify>>>,
}

/// A load's place among the waiters of its key; it leaves when dropped.
pub(crate) struct Waiting<'a, K: Eq + Hash> {
    wakers: &'a Wakers<K>,
    key: &'a K,
    pub(crate) notify: Arc<Notify>,
}

impl<K: Eq + Hash + Clone> Wakers<K> {
    pub(crate) fn new() -> Self {
        Self {
            waiting: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Arc<Notify>>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits on `key` from now until the returned guard is dropped.
    pub(crate) fn wait<'a>(&'a self, key: &'a K) -> Waiting<'a, K> {
        let notify = Arc::clone(self.lock().entry(key.clone()).or_default());
        Waiting {
            wakers: self,
            key,
            notify,
        }
    }

    /// Wakes the loads waiting on `key`.
    pub(crate) fn wake(&self, key: &K) {
        if let Some(notify) = self.lock().get(key) {
            notify.notify_waiters();
        }
    }

    /// Wakes every waiting load.
    pub(crate) fn wake_all(&self) {
        for notify in self.lock().values() {
            notify.notify_waiters();
        }
    }
}

impl<K: Eq + Hash> Drop for Waiting<'_, K> {
    fn drop(&mut self) {
        let mut waiting = self
            .wakers
            .waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The map's reference and this one: no other load waits.
        if Arc::strong_count(&self.notify) <= 2 {
            waiting.remove(self.key);
        }
    }
}
