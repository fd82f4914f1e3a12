//! Loads waiting on another instance's lease, over a real Redis: they wake
//! when the value lands (the invalidation channel announces it) instead of
//! at their next poll, and when the holder fails and gives the lease back,
//! one of them takes it over and loads while the rest keep waiting.

#[path = "support/source.rs"]
mod source;
#[path = "support/redis.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use source::{TestSource, body, text};
use steadfast_cache::redis::RedisStore;
use steadfast_cache::{Cache, CacheHandle, CacheLayer, DefaultKey, MemoryStore, Tiered};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::Source;
use support::{prefix, redis_or_skip, redis_url};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

type Key = Arc<str>;
type Store = Tiered<MemoryStore<Key, ConfigResponse>, RedisStore<Key, ConfigResponse>>;
type Instance = Cache<TestSource, Key, ConfigResponse, ConfigError, DefaultKey, Store>;

/// How often a waiting load looks at Redis on its own: far longer than
/// any wake-up here may take.
const POLL: Duration = Duration::from_secs(2);
const MAX_WAIT: Duration = Duration::from_secs(4);

/// An instance with its own Redis store and feed, leases on.
async fn instance(
    prefix: &str,
    source: &TestSource,
) -> (Instance, CacheHandle<Key, ConfigResponse, Store>) {
    let l2 = RedisStore::builder(redis_url())
        .prefix(prefix)
        .call_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), l2.clone())
        .invalidations(l2.invalidations())
        .build()
        .unwrap();
    let layer = CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .provenance()
        .store(store.clone())
        .distributed_single_flight(Duration::from_secs(10), MAX_WAIT, POLL)
        .build()
        .unwrap();
    let handle = layer.handle();
    // Wait until the feed listens.
    for _ in 0..200 {
        if store.is_subscribed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(store.is_subscribed(), "the feed never subscribed");
    (layer.layer(source.clone()), handle)
}

fn down() -> ConfigError {
    ConfigError::Status {
        code: http::StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_load_wakes_when_the_value_lands() {
    let Some(_raw) = redis_or_skip("a_waiting_load_wakes_when_the_value_lands").await else {
        return;
    };
    let prefix = prefix("lease_wake");
    let holder_source = TestSource::new(Duration::from_millis(300));
    let waiter_source = TestSource::new(Duration::ZERO);
    let (holder, holder_handle) = instance(&prefix, &holder_source).await;
    let (waiter, waiter_handle) = instance(&prefix, &waiter_source).await;

    let started = Instant::now();
    let loading = tokio::spawn(holder.oneshot(ConfigRequest::new("app")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let res = waiter.oneshot(ConfigRequest::new("app")).await.unwrap();
    let waited = started.elapsed();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 1).as_str(), Source::Cache)
    );
    assert!(
        waited < POLL / 2,
        "woken by the stored value, not by a poll: {waited:?}"
    );
    assert_eq!(waiter_source.calls(), 0);
    let stats = waiter_handle.stats();
    assert_eq!((stats.l2_hits, stats.loads), (1, 0));
    loading.await.unwrap().unwrap();
    println!("waiter answered {waited:?} after the holder started a 300 ms load");
    holder_handle.clear().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_holder_hands_the_lease_to_one_waiter() {
    let Some(_raw) = redis_or_skip("a_failed_holder_hands_the_lease_to_one_waiter").await else {
        return;
    };
    let prefix = prefix("lease_handover");
    let failing = TestSource::new(Duration::from_millis(200));
    failing.fail(down());
    let working = TestSource::new(Duration::from_millis(200));
    let (holder, holder_handle) = instance(&prefix, &failing).await;
    let (b, _) = instance(&prefix, &working).await;
    let (c, _) = instance(&prefix, &working).await;

    let started = Instant::now();
    let failed = tokio::spawn(holder.oneshot(ConfigRequest::new("app")));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (rb, rc) = tokio::join!(
        b.oneshot(ConfigRequest::new("app")),
        c.oneshot(ConfigRequest::new("app"))
    );
    let took = started.elapsed();
    assert!(failed.await.unwrap().is_err());
    let (rb, rc) = (rb.unwrap(), rc.unwrap());
    assert_eq!(working.calls(), 1, "one waiter took the lease and loaded");
    assert_eq!(text(&rb), body("app", 1));
    assert_eq!(text(&rc), body("app", 1));
    let mut sources = [rb.source(), rc.source()];
    sources.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(sources, [Source::Cache, Source::Origin]);
    assert!(
        took < POLL / 2,
        "handed on at once, not after a poll or the maximum wait: {took:?}"
    );
    println!("both waiters answered {took:?} after a holder that failed after 200 ms");
    holder_handle.clear().await.unwrap();
}
