//! The handle: invalidating one key, clearing all, and a load running while
//! its key is invalidated.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::CacheLayer;
use steadfast_config::ConfigRequest;
use support::{TestSource, body, build, get, text};
use tokio::time::advance;
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn invalidate_drops_one_key_and_clear_drops_all() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(&source, CacheLayer::builder());
    let handle = cache.handle();
    for name in ["a", "b", "c"] {
        get(&cache, name).await.unwrap();
    }
    assert_eq!(handle.stats().entries, 3);

    handle.invalidate(&"a".into()).await.unwrap();
    assert_eq!(handle.stats().entries, 2);
    let a = get(&cache, "a").await.unwrap();
    assert_eq!(text(&a), body("a", 4));
    let b = get(&cache, "b").await.unwrap();
    assert_eq!(text(&b), body("b", 2));

    handle.clear().await.unwrap();
    assert_eq!(handle.stats().entries, 0);
    for (name, n) in [("a", 5), ("b", 6), ("c", 7)] {
        let res = get(&cache, name).await.unwrap();
        assert_eq!(text(&res), body(name, n));
    }
    assert_eq!(source.calls(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_load_running_when_its_key_is_invalidated_answers_but_is_not_stored() {
    let source = TestSource::new(Duration::from_secs(2));
    let cache = build(&source, CacheLayer::builder());
    let handle = cache.handle();

    let running = tokio::spawn(cache.clone().oneshot(ConfigRequest::new("app")));
    tokio::task::yield_now().await;
    assert_eq!(handle.loads_in_flight(), 1);
    handle.invalidate(&"app".into()).await.unwrap();
    assert_eq!(handle.loads_in_flight(), 0);

    // A caller after the invalidation starts a load of its own.
    let after = tokio::spawn(cache.clone().oneshot(ConfigRequest::new("app")));
    advance(Duration::from_secs(2)).await;
    assert_eq!(text(&running.await.unwrap().unwrap()), body("app", 1));
    assert_eq!(text(&after.await.unwrap().unwrap()), body("app", 2));

    let res = get(&cache, "app").await.unwrap();
    assert_eq!(text(&res), body("app", 2));
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_load_running_when_the_cache_is_cleared_is_not_stored() {
    let source = TestSource::new(Duration::from_secs(2));
    let cache = build(&source, CacheLayer::builder());
    let handle = cache.handle();

    let running = tokio::spawn(cache.clone().oneshot(ConfigRequest::new("app")));
    tokio::task::yield_now().await;
    handle.clear().await.unwrap();
    advance(Duration::from_secs(2)).await;
    assert_eq!(text(&running.await.unwrap().unwrap()), body("app", 1));
    assert_eq!(handle.stats().entries, 0);
}

mod slow_remote {
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use steadfast_cache::{Entry, Peek, Store, StoreError};

    /// A shared tier whose reads answer after `delay` with what the key
    /// held when they were asked, as a remote store's reply in transit.
    #[derive(Clone)]
    pub(crate) struct SlowRemote {
        pub(crate) entries: Arc<Mutex<HashMap<u64, Entry<String>>>>,
        pub(crate) delay: Duration,
    }

    impl Store<u64, String> for SlowRemote {
        fn peek(&self, _: &u64) -> Peek<String> {
            Peek::Unknown
        }

        fn get(
            &self,
            key: &u64,
        ) -> impl Future<Output = Result<Option<Entry<String>>, StoreError>> + Send {
            let found = self.entries.lock().unwrap().get(key).cloned();
            let delay = self.delay;
            async move {
                tokio::time::sleep(delay).await;
                Ok(found)
            }
        }

        async fn put(&self, key: u64, entry: Entry<String>) -> Result<(), StoreError> {
            self.entries.lock().unwrap().insert(key, entry);
            Ok(())
        }

        async fn remove(&self, key: &u64) -> Result<(), StoreError> {
            self.entries.lock().unwrap().remove(key);
            Ok(())
        }

        async fn clear(&self) -> Result<(), StoreError> {
            self.entries.lock().unwrap().clear();
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_shared_tier_read_that_outlives_an_invalidation_is_not_copied_back() {
    use steadfast_cache::{Entry, MemoryStore, Tiered};
    use tokio::time::Instant;
    use tower::{Layer, service_fn};

    let remote = slow_remote::SlowRemote {
        entries: Default::default(),
        delay: Duration::from_secs(1),
    };
    let now = Instant::now();
    remote.entries.lock().unwrap().insert(
        1,
        Entry {
            value: "old".to_owned(),
            fresh_until: now + Duration::from_secs(60),
            revalidate_until: now + Duration::from_secs(60),
            expires_at: now + Duration::from_secs(60),
        },
    );
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), remote.clone())
        .build()
        .unwrap();
    let layer = CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .key_fn(|k: &u64| *k)
        .store(store)
        .build()
        .unwrap();
    let handle = layer.handle();
    let cache = layer.layer(service_fn(|_: u64| async {
        Ok::<_, steadfast_core::BoxError>("new".to_owned())
    }));

    let running = tokio::spawn(cache.clone().oneshot(1));
    advance(Duration::from_millis(500)).await;
    handle.invalidate(&1).await.unwrap();
    // Its caller asked before the invalidation, and gets what was there.
    assert_eq!(running.await.unwrap().unwrap(), "old");

    assert_eq!(cache.oneshot(1).await.unwrap(), "new");
}
