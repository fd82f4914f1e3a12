//! A failing store is an episode: one warning when it starts failing, one
//! info line when it answers again (with how many operations failed and
//! for how long), and the failures in between at debug level only. Each
//! failure is still counted.

#[path = "../../../tests/support/logs.rs"]
mod logs;
#[path = "support/stores.rs"]
mod stores;
#[path = "support/source.rs"]
mod support;

use std::fmt;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_cache::{CacheLayer, Entry, Event, Peek, Store, StoreError, StoreErrorKind};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use stores::Remote;
use support::TestSource;
use tokio::time::advance;
use tower::{Layer, ServiceExt};

/// A shared tier that can be switched off.
#[derive(Clone)]
struct Switch<S> {
    inner: S,
    down: Arc<AtomicBool>,
}

impl<S> Switch<S> {
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

impl<K, V, S> Store<K, V> for Switch<S>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    fn peek(&self, key: &K) -> Peek<V> {
        self.inner.peek(key)
    }

    async fn get(&self, key: &K) -> Result<Option<Entry<V>>, StoreError> {
        self.check()?;
        self.inner.get(key).await
    }

    async fn put(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        self.check()?;
        self.inner.put(key, entry).await
    }

    async fn remove(&self, key: &K) -> Result<(), StoreError> {
        self.check()?;
        self.inner.remove(key).await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.clear().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_outage_is_one_warning_and_one_info_line() {
    let logs = logs::capture();
    let down = Arc::new(AtomicBool::new(false));
    let store = Switch {
        inner: Remote::<Arc<str>, ConfigResponse>::new(),
        down: down.clone(),
    };
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let source = TestSource::new(Duration::ZERO);
    let layer = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .store(store)
        .on_event(move |event: &Event<'_>| match event {
            Event::StoreFailing { op, error, .. } => log
                .lock()
                .unwrap()
                .push(format!("failing: {} {error}", op.as_str())),
            Event::StoreRecovered { failures, lasted } => log
                .lock()
                .unwrap()
                .push(format!("recovered: {failures} failures in {lasted:?}")),
            _ => {}
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    let cache = layer.layer(source.clone());
    let load = |name: &'static str| cache.clone().oneshot(ConfigRequest::new(name));

    load("a").await.unwrap();
    down.store(true, Ordering::SeqCst);
    // Ten loads while the store is down: a read and a write each fail.
    for n in 0..10 {
        advance(Duration::from_secs(1)).await;
        load(["b", "c"][n % 2]).await.unwrap();
    }
    assert_eq!(handle.stats().store_errors, 20);
    assert_eq!(
        logs.warnings(),
        [
            "WARN steadfast_cache::state: cache store failing; going on without it until it answers again key=b op=\"get\" kind=Unavailable error=cache store unavailable: Connection refused (os error 111)"
        ]
    );
    assert_eq!(logs.infos(), Vec::<String>::new());
    assert_eq!(logs.count("DEBUG", "cache store operation failed"), 19);

    advance(Duration::from_secs(5)).await;
    down.store(false, Ordering::SeqCst);
    load("d").await.unwrap();
    load("e").await.unwrap();
    assert_eq!(
        logs.infos(),
        [
            "INFO steadfast_cache::state: cache store answers again after 14s; 20 operations failed meanwhile failures=20 lasted=14s"
        ]
    );

    // A new outage is a new episode.
    down.store(true, Ordering::SeqCst);
    load("f").await.unwrap();
    assert_eq!(logs.warnings().len(), 2);
    assert_eq!(
        *heard.lock().unwrap(),
        [
            "failing: get cache store unavailable: Connection refused (os error 111)",
            "recovered: 20 failures in 14s",
            "failing: get cache store unavailable: Connection refused (os error 111)",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn an_l2_failure_behind_a_served_l1_copy_is_counted_and_starts_the_episode() {
    let logs = logs::capture();
    let down = Arc::new(AtomicBool::new(false));
    let l2 = Switch {
        inner: Remote::<Arc<str>, ConfigResponse>::new(),
        down: down.clone(),
    };
    let store =
        steadfast_cache::Tiered::builder(steadfast_cache::MemoryStore::new(100).unwrap(), l2)
            .build()
            .unwrap();
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let source = TestSource::new(Duration::ZERO);
    let layer = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .ttl(Duration::from_secs(10))
        .stale_if_error(Duration::from_secs(600))
        .store(store)
        .on_event(move |event: &Event<'_>| {
            if let Event::StoreFailing { op, .. } = event {
                log.lock().unwrap().push(op.as_str());
            }
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    let cache = layer.layer(source.clone());

    cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    down.store(true, Ordering::SeqCst);
    advance(Duration::from_secs(20)).await;
    // L1 holds a copy good only if the source fails, so L2 is read: it
    // fails, and the copy comes back with its failure.
    cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(
        *heard.lock().unwrap(),
        ["get"],
        "the read's failure starts it"
    );
    assert_eq!(handle.stats().store_errors, 2, "the read and the write");
    assert_eq!(logs.warnings().len(), 1);
}
