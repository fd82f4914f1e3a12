//! A store standing for a shared tier (L2) in timeline tests: every clone
//! shares its entries, `peek` never knows (so each look-up asks `get`), and
//! it can be switched off, failing every operation.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::cache::{Entry, Peek, Store, StoreError, StoreErrorKind};

pub(crate) struct SharedTier<K, V> {
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
    down: Arc<AtomicBool>,
    put_delay: Arc<Mutex<Duration>>,
}

impl<K, V> Clone for SharedTier<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: Arc::clone(&self.entries),
            down: Arc::clone(&self.down),
            put_delay: Arc::clone(&self.put_delay),
        }
    }
}

impl<K, V> SharedTier<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
            down: Arc::new(AtomicBool::new(false)),
            put_delay: Arc::new(Mutex::new(Duration::ZERO)),
        }
    }

    /// Each write takes this long from now on, as a remote one does.
    pub(crate) fn set_put_delay(&self, delay: Duration) {
        *self.put_delay.lock().unwrap() = delay;
    }

    /// Fails every operation from now on (`true`), or none.
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "Connection refused (os error 111)",
            ))
        } else {
            Ok(())
        }
    }
}

impl<K, V> Store<K, V> for SharedTier<K, V>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn peek(&self, _: &K) -> Peek<V> {
        Peek::Unknown
    }

    async fn get(&self, key: &K) -> Result<Option<Entry<V>>, StoreError> {
        self.check()?;
        Ok(self.entries.lock().unwrap().get(key).cloned())
    }

    async fn put(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        let delay = *self.put_delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        self.check()?;
        self.entries.lock().unwrap().insert(key, entry);
        Ok(())
    }

    async fn remove(&self, key: &K) -> Result<(), StoreError> {
        self.check()?;
        self.entries.lock().unwrap().remove(key);
        Ok(())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.check()?;
        self.entries.lock().unwrap().clear();
        Ok(())
    }
}
