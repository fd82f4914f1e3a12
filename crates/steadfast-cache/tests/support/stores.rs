//! Stores for tests: one shared by several caches as a remote tier would
//! be (with leases), and one that always fails.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, ready};
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
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
    /// Whether every call fails as if the store were unreachable.
    pub(crate) down: Arc<AtomicBool>,
    /// How long each `get` takes.
    delay: Arc<Mutex<Duration>>,
    /// Run once, just before the next lease is granted or refused.
    before_lease: Arc<Mutex<Option<Hook>>>,
}

type Hook = Box<dyn FnOnce() + Send>;

impl<K, V> Clone for Remote<K, V> {
    fn clone(&self) -> Self {
        Self {
            entries: Arc::clone(&self.entries),
            leases: Arc::clone(&self.leases),
            next_token: Arc::clone(&self.next_token),
            gets: Arc::clone(&self.gets),
            down: Arc::clone(&self.down),
            delay: Arc::clone(&self.delay),
            before_lease: Arc::clone(&self.before_lease),
        }
    }
}

impl<K, V> Remote<K, V> {
    /// Makes every call fail (`true`) or answer again.
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Runs `hook` once, just before the next lease is asked for: what
    /// another instance did in between.
    pub(crate) fn before_next_lease(&self, hook: impl FnOnce() + Send + 'static) {
        *self.before_lease.lock().unwrap() = Some(Box::new(hook));
    }

    /// Makes each `get` take `delay`.
    pub(crate) fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    /// The entry held for `key`.
    pub(crate) fn entry(&self, key: &K) -> Option<Entry<V>>
    where
        K: Eq + Hash,
        V: Clone,
    {
        self.entries.lock().unwrap().get(key).cloned()
    }

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
            down: Arc::new(AtomicBool::new(false)),
            delay: Arc::new(Mutex::new(Duration::ZERO)),
            before_lease: Arc::new(Mutex::new(None)),
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
        let delay = *self.delay.lock().unwrap();
        let this = self.clone();
        let key = key.clone();
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if this.down.load(Ordering::SeqCst) {
                return Err(StoreError::from_kind(StoreErrorKind::Unavailable));
            }
            Ok(this.entries.lock().unwrap().get(&key).cloned())
        }
    }

    fn put(&self, key: K, entry: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send {
        if self.down.load(Ordering::SeqCst) {
            return ready(Err(StoreError::from_kind(StoreErrorKind::Unavailable)));
        }
        self.entries.lock().unwrap().insert(key, entry);
        ready(Ok(()))
    }

    fn remove(&self, key: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        if self.down.load(Ordering::SeqCst) {
            return ready(Err(StoreError::from_kind(StoreErrorKind::Unavailable)));
        }
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
        let hook = self.before_lease.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
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
