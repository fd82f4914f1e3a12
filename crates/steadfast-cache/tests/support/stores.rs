//! Stores for tests: one shared by several caches as a remote tier would
//! be (with leases), and one that always fails.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, ready};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_cache::{Entry, LeaseToken, Peek, Store, StoreError, StoreErrorKind};
use tokio::time::Instant;

/// A store standing for a tier shared by several instances: `peek` never
/// knows (so every miss asks `get`), leases are exclusive until they
/// expire or are released, and it holds no copies of its own to forget.
pub(crate) struct Remote<K, V> {
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
    leases: Arc<Mutex<HashMap<K, (LeaseToken, Instant)>>>,
    next_token: Arc<AtomicU64>,
    pub(crate) gets: Arc<AtomicUsize>,
}

impl<K, V> Clone for Remote<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: Arc::clone(&self.entries),
            leases: Arc::clone(&self.leases),
            next_token: Arc::clone(&self.next_token),
            gets: Arc::clone(&self.gets),
        }
    }
}

impl<K, V> Remote<K, V> {
    /// The number of entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    pub(crate) fn new() -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
            leases: Arc::new(Mutex::new(HashMap::new())),
            next_token: Arc::new(AtomicU64::new(1)),
            gets: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl<K, V> Store<K, V> for Remote<K, V>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn peek(&self, _: &K) -> Peek<V> {
        Peek::Unknown
    }

    fn get(&self, key: &K) -> impl Future<Output = Result<Option<Entry<V>>, StoreError>> + Send {
        self.gets.fetch_add(1, Ordering::SeqCst);
        ready(Ok(self.entries.lock().unwrap().get(key).cloned()))
    }

    fn put(&self, key: K, entry: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.entries.lock().unwrap().insert(key, entry);
        ready(Ok(()))
    }

    fn remove(&self, key: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.entries.lock().unwrap().remove(key);
        ready(Ok(()))
    }

    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.entries.lock().unwrap().clear();
        ready(Ok(()))
    }

    fn forget_local(&self, _: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Ok(()))
    }

    fn forget_all_local(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Ok(()))
    }

    fn put_local(&self, _: K, _: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(Ok(()))
    }

    fn acquire_lease(
        &self,
        key: &K,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<LeaseToken>, StoreError>> + Send {
        let now = Instant::now();
        let mut leases = self.leases.lock().unwrap();
        let granted = match leases.get(key) {
            Some((_, until)) if *until > now => None,
            _ => {
                let token = LeaseToken(self.next_token.fetch_add(1, Ordering::SeqCst));
                leases.insert(key.clone(), (token, now + ttl));
                Some(token)
            }
        };
        ready(Ok(granted))
    }

    fn release_lease(
        &self,
        key: &K,
        token: LeaseToken,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let mut leases = self.leases.lock().unwrap();
        if leases.get(key).is_some_and(|(held, _)| *held == token) {
            leases.remove(key);
        }
        ready(Ok(()))
    }
}

/// A store whose every operation fails.
#[derive(Clone, Debug, Default)]
pub(crate) struct Broken;

fn down<T>() -> std::future::Ready<Result<T, StoreError>> {
    ready(Err(StoreError::new(
        StoreErrorKind::Unavailable,
        "connection refused",
    )))
}

impl<K, V> Store<K, V> for Broken
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn peek(&self, _: &K) -> Peek<V> {
        Peek::Unknown
    }

    fn get(&self, _: &K) -> impl Future<Output = Result<Option<Entry<V>>, StoreError>> + Send {
        down()
    }

    fn put(&self, _: K, _: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send {
        down()
    }

    fn remove(&self, _: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        down()
    }

    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        down()
    }

    fn acquire_lease(
        &self,
        _: &K,
        _: Duration,
    ) -> impl Future<Output = Result<Option<LeaseToken>, StoreError>> + Send {
        down()
    }
}
