//! Redis unreachable, silent, or cut mid-test: the store answers within its
//! call timeout, and through the cache layer every request is still served.

#[path = "support/source.rs"]
mod source;
#[path = "support/redis.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use source::{TestSource, body, text};
use steadfast_cache::redis::RedisStore;
use steadfast_cache::{CacheLayer, MemoryStore, Store, StoreErrorKind, Tiered};
use steadfast_config::{ConfigRequest, ConfigResponse};
use steadfast_core::Source;
use support::{Proxy, closed_port, entry, prefix, redis_or_skip};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// Scheduling slack on a busy two-core machine.
const SLACK: Duration = Duration::from_millis(100);

fn store_at(url: &str, prefix: &str) -> RedisStore<String, String> {
    RedisStore::builder(url)
        .prefix(prefix)
        .call_timeout(CALL_TIMEOUT)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_unreachable_redis_is_a_quick_miss() {
    let port = closed_port().await;
    let store = store_at(&format!("redis://{port}"), "unreachable");
    for _ in 0..3 {
        let started = Instant::now();
        let error = store.get(&"k".to_owned()).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Unavailable);
        assert!(
            started.elapsed() < CALL_TIMEOUT + SLACK,
            "{:?}",
            started.elapsed()
        );
    }
    let error = store
        .put(
            "k".to_owned(),
            entry(
                "v".to_owned(),
                Duration::from_secs(1),
                Duration::ZERO,
                Duration::ZERO,
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    let stats = store.stats();
    assert_eq!((stats.unavailable, stats.errors()), (4, 4));
}

#[tokio::test]
async fn a_silent_redis_is_a_timeout_then_left_alone() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
        }
    });
    let store: RedisStore<String, String> = RedisStore::builder(format!("redis://{addr}"))
        .prefix("silent")
        .call_timeout(CALL_TIMEOUT)
        .reconnect_backoff(Duration::from_secs(5), Duration::from_secs(5))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = store.get(&"k".to_owned()).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(error.kind(), StoreErrorKind::Timeout);
    assert!(
        took >= CALL_TIMEOUT && took < CALL_TIMEOUT + SLACK,
        "{took:?}"
    );

    let started = Instant::now();
    let error = store.get(&"k".to_owned()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    assert!(
        started.elapsed() < Duration::from_millis(5),
        "{:?}",
        started.elapsed()
    );
    let stats = store.stats();
    assert_eq!((stats.timeouts, stats.unavailable), (1, 1));
    held.abort();
}

/// Writes `v` under the key `k`, checks it reads back, and returns the key.
async fn seeded(store: &RedisStore<String, String>) -> String {
    let k = "k".to_owned();
    let minute = Duration::from_secs(60);
    store
        .put(k.clone(), entry("v".to_owned(), minute, minute, minute))
        .await
        .unwrap();
    assert!(store.get(&k).await.unwrap().is_some());
    k
}

#[tokio::test]
async fn a_redis_cut_mid_test_degrades_then_comes_back() {
    let Some(_raw) = redis_or_skip("a_redis_cut_mid_test_degrades_then_comes_back").await else {
        return;
    };
    let proxy = Proxy::start().await;
    let store = store_at(&proxy.url(), &prefix("cut"));
    let k = seeded(&store).await;

    proxy.cut();
    let started = Instant::now();
    let error = store.get(&k).await.unwrap_err();
    assert!(
        matches!(
            error.kind(),
            StoreErrorKind::Unavailable | StoreErrorKind::Timeout
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < CALL_TIMEOUT + SLACK,
        "{:?}",
        started.elapsed()
    );

    proxy.restore().await;
    let back = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Some(found)) = store.get(&k).await {
                break found.value;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the store reconnects once Redis is back");
    assert_eq!(back, "v");
    store.remove(&k).await.unwrap();
}

#[tokio::test]
async fn a_redis_down_at_start_is_used_once_it_comes_up() {
    let Some(_raw) = redis_or_skip("a_redis_down_at_start_is_used_once_it_comes_up").await else {
        return;
    };
    let proxy = Proxy::start().await;
    proxy.cut();
    let store = store_at(&proxy.url(), &prefix("down_at_start"));
    let k = "k".to_owned();
    let started = Instant::now();
    assert_eq!(
        store.get(&k).await.unwrap_err().kind(),
        StoreErrorKind::Unavailable
    );
    assert!(
        started.elapsed() < CALL_TIMEOUT + SLACK,
        "{:?}",
        started.elapsed()
    );

    proxy.restore().await;
    let minute = Duration::from_secs(60);
    let written = tokio::time::timeout(Duration::from_secs(5), async {
        while store
            .put(k.clone(), entry("v".to_owned(), minute, minute, minute))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(written.is_ok(), "the store never connected");
    assert_eq!(
        store.get(&k).await.unwrap().map(|e| e.value),
        Some("v".to_owned())
    );
    store.remove(&k).await.unwrap();
}

type Key = Arc<str>;
type Mem = MemoryStore<Key, ConfigResponse>;
type Redis = RedisStore<Key, ConfigResponse>;

fn layered(
    url: &str,
    prefix: &str,
    source: &TestSource,
) -> impl tower::Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = steadfast_config::ConfigError,
    Future: Send,
> + Clone
+ use<> {
    let l2: Redis = RedisStore::builder(url)
        .prefix(prefix)
        .call_timeout(CALL_TIMEOUT)
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    let store = Tiered::builder(Mem::new(100).unwrap(), l2).build().unwrap();
    CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .provenance()
        .store(store)
        .build()
        .unwrap()
        .layer(source.clone())
}

async fn load(
    cache: &(
         impl tower::Service<
        ConfigRequest,
        Response = ConfigResponse,
        Error = steadfast_config::ConfigError,
        Future: Send,
    > + Clone
     ),
    name: &str,
) -> ConfigResponse {
    let started = Instant::now();
    let response = cache
        .clone()
        .oneshot(ConfigRequest::new(name))
        .await
        .unwrap();
    assert!(
        started.elapsed() < 2 * CALL_TIMEOUT + SLACK,
        "{name}: {:?}",
        started.elapsed()
    );
    response
}

#[tokio::test]
async fn every_request_is_served_with_redis_unreachable() {
    let port = closed_port().await;
    let source = TestSource::new(Duration::ZERO);
    let cache = layered(&format!("redis://{port}"), "unreachable", &source);
    let names = ["a", "b", "c", "d", "e"];
    for (i, name) in names.iter().enumerate() {
        let response = load(&cache, name).await;
        assert_eq!(text(&response), body(name, i + 1));
        assert_eq!(response.source(), Source::Origin);
    }
    for (i, name) in names.iter().enumerate() {
        let response = load(&cache, name).await;
        assert_eq!(text(&response), body(name, i + 1));
        assert_eq!(response.source(), Source::Cache);
    }
    assert_eq!(source.calls(), 5);
}

#[tokio::test]
async fn every_request_is_served_when_redis_dies_mid_test() {
    let Some(_raw) = redis_or_skip("every_request_is_served_when_redis_dies_mid_test").await else {
        return;
    };
    let proxy = Proxy::start().await;
    let prefix = prefix("dies");
    let source = TestSource::new(Duration::ZERO);
    let first = layered(&proxy.url(), &prefix, &source);
    assert_eq!(text(&load(&first, "a").await), body("a", 1));
    assert_eq!(text(&load(&first, "b").await), body("b", 2));

    let second = layered(&proxy.url(), &prefix, &source);
    let from_l2 = load(&second, "a").await;
    assert_eq!(text(&from_l2), body("a", 1));
    assert_eq!(from_l2.source(), Source::Cache);
    assert_eq!(source.calls(), 2);

    proxy.cut();
    let cached = load(&first, "b").await;
    assert_eq!(
        (text(&cached), cached.source()),
        (body("b", 2).as_str(), Source::Cache)
    );
    let reloaded = load(&second, "b").await;
    assert_eq!(
        (text(&reloaded), reloaded.source()),
        (body("b", 3).as_str(), Source::Origin)
    );
    let fresh = load(&second, "c").await;
    assert_eq!(text(&fresh), body("c", 4));
    assert_eq!(source.calls(), 4);

    proxy.restore().await;
    let third = layered(&proxy.url(), &prefix, &source);
    let again = load(&third, "a").await;
    assert_eq!(
        (text(&again), again.source()),
        (body("a", 1).as_str(), Source::Cache)
    );
    assert_eq!(source.calls(), 4);
}

#[tokio::test]
async fn a_silent_connection_is_replaced_and_used_again_once_the_blackhole_heals() {
    let Some(_raw) =
        redis_or_skip("a_silent_connection_is_replaced_and_used_again_once_the_blackhole_heals")
            .await
    else {
        return;
    };
    let proxy = Proxy::start().await;
    let store = store_at(&proxy.url(), &prefix("blackhole"));
    let k = seeded(&store).await;

    // Every packet is dropped from now on, and no socket is closed: the
    // connection in use, and any opened meanwhile, stay silent for good.
    proxy.freeze();
    let blackhole_ends = Instant::now() + Duration::from_secs(1);
    while Instant::now() < blackhole_ends {
        let started = Instant::now();
        let error = store.get(&k).await.unwrap_err();
        assert!(
            matches!(
                error.kind(),
                StoreErrorKind::Timeout | StoreErrorKind::Unavailable
            ),
            "{error:?}"
        );
        assert!(started.elapsed() < CALL_TIMEOUT + SLACK);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(store.stats().timeouts >= 2, "{:?}", store.stats());

    // The network heals: new connections get through, the old ones stay dead.
    proxy.thaw();
    let healed = Instant::now();
    let back = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            if let Ok(Some(found)) = store.get(&k).await {
                break found.value;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the store still uses its silent connection");
    let took = healed.elapsed();
    eprintln!("reconnected {took:?} after the blackhole healed");
    assert_eq!(back, "v");
    assert!(store.stats().reconnects >= 1, "{:?}", store.stats());
    store.remove(&k).await.unwrap();
}
