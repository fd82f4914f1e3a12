//! Removal fences on a real Redis: a load that began before another
//! instance removed its key does not write its value back, while inserts,
//! loads that began after the removal and loads with no removal write as
//! usual.

#[path = "../../../tests/support/logs.rs"]
mod logs;
#[path = "support/redis.rs"]
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use steadfast_cache::redis::RedisStore;
use steadfast_cache::{CacheLayer, MemoryStore, Store, Tiered};
use support::{cleanup, entry, eventually, prefix, redis_or_skip, redis_url, stats, store};
use tokio::sync::Semaphore;
use tower::{BoxError, Layer, Service, ServiceExt};

const SEC: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(5);

fn k(key: &str) -> String {
    key.to_owned()
}

async fn raw_get(raw: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET").arg(key).query_async(raw).await.unwrap()
}

async fn keys(raw: &mut MultiplexedConnection, prefix: &str) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(raw)
        .await
        .unwrap();
    keys.sort();
    keys
}

/// Redis's clock, unix µs.
async fn server_us(raw: &mut MultiplexedConnection) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(raw).await.unwrap();
    secs * 1_000_000 + micros
}

#[tokio::test]
async fn a_load_that_began_before_a_removal_is_not_written_back() {
    let Some(mut raw) =
        redis_or_skip("a_load_that_began_before_a_removal_is_not_written_back").await
    else {
        return;
    };
    let prefix = prefix("fenced");
    let (a, b) = (store::<String>(&prefix), store::<String>(&prefix));
    let logs = logs::capture();

    assert_eq!(b.get(&k("cfg")).await.unwrap(), None);
    let before = server_us(&mut raw).await;
    a.remove(&k("cfg")).await.unwrap();
    let after = server_us(&mut raw).await;
    b.put(k("cfg"), entry(k("old"), MINUTE, SEC, SEC))
        .await
        .expect("a fenced write is no error");

    assert_eq!(raw_get(&mut raw, &b.redis_key(&k("cfg"))).await, None);
    assert_eq!(a.get(&k("cfg")).await.unwrap(), None);
    let fence: u64 = String::from_utf8(raw_get(&mut raw, &a.fence_key(&k("cfg"))).await.unwrap())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (before..=after).contains(&fence),
        "{before} <= {fence} <= {after}"
    );
    let pttl: i64 = redis::cmd("PTTL")
        .arg(a.fence_key(&k("cfg")))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((299_000..=300_000).contains(&pttl), "fence PTTL {pttl}");
    assert_eq!(
        b.stats(),
        stats(|s| {
            s.misses = 1;
            s.fenced_writes = 1;
        })
    );
    assert_eq!(
        a.stats(),
        stats(|s| {
            s.removes = 1;
            s.misses = 1;
        })
    );
    assert_eq!(logs.count("DEBUG", "not written"), 1, "{:?}", logs.all());
    assert_eq!(logs.warnings(), Vec::<String>::new());
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn writes_without_a_load_or_after_the_removal_land() {
    let Some(mut raw) = redis_or_skip("writes_without_a_load_or_after_the_removal_land").await
    else {
        return;
    };
    let prefix = prefix("unfenced");
    let (a, b) = (store::<String>(&prefix), store::<String>(&prefix));
    let logs = logs::capture();

    // A load with no removal.
    assert_eq!(b.get(&k("plain")).await.unwrap(), None);
    b.put(k("plain"), entry(k("loaded"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    assert!(raw_get(&mut raw, &b.redis_key(&k("plain"))).await.is_some());

    // An insert after a removal: no load, nothing to fence.
    a.remove(&k("insert")).await.unwrap();
    b.put(k("insert"), entry(k("inserted"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    assert_eq!(
        b.get(&k("insert")).await.unwrap().map(|e| e.value),
        Some(k("inserted"))
    );

    // A load that began after the removal, at once: the fence is older.
    a.remove(&k("later")).await.unwrap();
    assert_eq!(b.get(&k("later")).await.unwrap(), None);
    b.put(k("later"), entry(k("fresh"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    assert_eq!(
        a.get(&k("later")).await.unwrap().map(|e| e.value),
        Some(k("fresh"))
    );

    // The start is used once: the next put of a fenced key is an insert.
    assert_eq!(b.get(&k("once")).await.unwrap(), None);
    a.remove(&k("once")).await.unwrap();
    b.put(k("once"), entry(k("load"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    b.put(k("once"), entry(k("insert"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    assert_eq!(
        a.get(&k("once")).await.unwrap().map(|e| e.value),
        Some(k("insert"))
    );

    let got = b.stats();
    assert_eq!((got.writes, got.fenced_writes), (4, 1));
    assert_eq!(logs.count("DEBUG", "not written"), 1, "{:?}", logs.all());
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn a_revalidation_that_began_before_a_removal_is_not_written_back() {
    let Some(mut raw) =
        redis_or_skip("a_revalidation_that_began_before_a_removal_is_not_written_back").await
    else {
        return;
    };
    let prefix = prefix("revalidate");
    let (a, b) = (store::<String>(&prefix), store::<String>(&prefix));

    a.put(k("stale"), entry(k("v1"), Duration::ZERO, MINUTE, MINUTE))
        .await
        .unwrap();
    a.put(k("fresh"), entry(k("v1"), MINUTE, MINUTE, MINUTE))
        .await
        .unwrap();
    assert!(b.get(&k("stale")).await.unwrap().is_some());
    assert!(b.get(&k("fresh")).await.unwrap().is_some());
    a.remove(&k("stale")).await.unwrap();
    a.remove(&k("fresh")).await.unwrap();
    b.put(k("stale"), entry(k("v1"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    // After a fresh hit no load is under way: the write is an insert.
    b.put(k("fresh"), entry(k("v2"), MINUTE, SEC, SEC))
        .await
        .unwrap();

    assert_eq!(raw_get(&mut raw, &b.redis_key(&k("stale"))).await, None);
    assert!(raw_get(&mut raw, &b.redis_key(&k("fresh"))).await.is_some());
    let got = b.stats();
    assert_eq!((got.hits, got.writes, got.fenced_writes), (2, 1, 1));
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn a_clear_keeps_the_fences() {
    let Some(mut raw) = redis_or_skip("a_clear_keeps_the_fences").await else {
        return;
    };
    let prefix = prefix("clear_fence");
    let (a, b) = (store::<String>(&prefix), store::<String>(&prefix));

    a.put(k("x"), entry(k("v"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    assert_eq!(b.get(&k("gone")).await.unwrap(), None);
    a.remove(&k("gone")).await.unwrap();
    a.clear().await.unwrap();
    assert_eq!(keys(&mut raw, &prefix).await, [a.fence_key(&k("gone"))]);
    b.put(k("gone"), entry(k("old"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    assert_eq!(raw_get(&mut raw, &b.redis_key(&k("gone"))).await, None);
    assert_eq!(b.stats().fenced_writes, 1);
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn a_fence_lives_for_the_fence_lifetime() {
    let Some(mut raw) = redis_or_skip("a_fence_lives_for_the_fence_lifetime").await else {
        return;
    };
    let prefix = prefix("lifetime");
    let a = RedisStore::<String, String>::builder(redis_url())
        .prefix(&prefix)
        .call_timeout(Duration::from_millis(500))
        .fence_lifetime(Duration::from_millis(1_500))
        .build()
        .unwrap();
    a.remove(&k("k")).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(a.fence_key(&k("k")))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((1_000..=1_500).contains(&pttl), "fence PTTL {pttl}");
    cleanup(&mut raw, &prefix).await;
}

/// A source that answers `v<version>` once the test lets each call through.
#[derive(Clone)]
struct Held {
    calls: Arc<AtomicUsize>,
    version: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

impl Service<String> for Held {
    type Response = String;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<String, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: String) -> Self::Future {
        // The value is read when the call starts, as a source would.
        let value = format!("v{}", self.version.load(Ordering::SeqCst));
        self.calls.fetch_add(1, Ordering::SeqCst);
        let gate = self.gate.clone();
        Box::pin(async move {
            gate.acquire().await.unwrap().forget();
            Ok(value)
        })
    }
}

type L2 = RedisStore<String, String>;
type Instance = Tiered<MemoryStore<String, String>, L2>;

/// An instance without the invalidation feed: only the fence can stop its
/// write.
fn instance(prefix: &str) -> (Instance, L2) {
    let l2 = store::<String>(prefix);
    let tiered = Tiered::builder(MemoryStore::new(100).unwrap(), l2.clone())
        .build()
        .unwrap();
    (tiered, l2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_whose_load_spans_a_remote_removal_does_not_bring_the_old_value_back() {
    let Some(mut raw) = redis_or_skip(
        "a_cache_whose_load_spans_a_remote_removal_does_not_bring_the_old_value_back",
    )
    .await
    else {
        return;
    };
    let prefix = prefix("cache_fence");
    let source = Held {
        calls: Arc::new(AtomicUsize::new(0)),
        version: Arc::new(AtomicUsize::new(1)),
        gate: Arc::new(Semaphore::new(0)),
    };
    let (store_a, l2_a) = instance(&prefix);
    let (store_b, l2_b) = instance(&prefix);
    let layer_a = CacheLayer::builder()
        .ttl(MINUTE)
        .key_fn(|req: &String| req.clone())
        .store(store_a)
        .build()
        .unwrap();
    let handle_a = layer_a.handle();
    let cache_a = layer_a.layer(source.clone());
    let cache_b = CacheLayer::builder()
        .ttl(MINUTE)
        .key_fn(|req: &String| req.clone())
        .store(store_b)
        .build()
        .unwrap()
        .layer(source.clone());

    let load_b = tokio::spawn(cache_b.clone().oneshot(k("cfg")));
    while source.calls.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The source changes and A invalidates while B's call is in flight.
    source.version.store(2, Ordering::SeqCst);
    handle_a.invalidate(&k("cfg")).await.unwrap();
    source.gate.add_permits(1);
    assert_eq!(load_b.await.unwrap().unwrap(), "v1", "B keeps its answer");
    // The write-back may follow the answer.
    let settled = |l2: &L2| {
        let l2 = l2.clone();
        move || {
            let s = l2.stats();
            s.writes + s.fenced_writes == 1
        }
    };
    assert!(eventually(WAIT, settled(&l2_b)).await, "B tried to write");

    assert_eq!(raw_get(&mut raw, &l2_b.redis_key(&k("cfg"))).await, None);
    assert_eq!(keys(&mut raw, &prefix).await, [l2_b.fence_key(&k("cfg"))]);
    assert_eq!((l2_b.stats().writes, l2_b.stats().fenced_writes), (0, 1));

    source.gate.add_permits(1);
    assert_eq!(cache_a.clone().oneshot(k("cfg")).await.unwrap(), "v2");
    assert_eq!(source.calls.load(Ordering::SeqCst), 2);
    assert!(eventually(WAIT, settled(&l2_a)).await, "A tried to write");
    assert_eq!((l2_a.stats().writes, l2_a.stats().fenced_writes), (1, 0));
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn an_insert_lands_whatever_load_began_before_the_removal() {
    let Some(mut raw) =
        redis_or_skip("an_insert_lands_whatever_load_began_before_the_removal").await
    else {
        return;
    };
    let prefix = prefix("insert_fence");
    let (a, b) = (store::<String>(&prefix), store::<String>(&prefix));

    // B's load of the key misses and then fails: nothing is put, and its
    // start stays recorded. A removes the key, and B then inserts a value
    // from outside (a watcher's new version): it lands.
    assert_eq!(b.get(&k("cfg")).await.unwrap(), None);
    a.remove(&k("cfg")).await.unwrap();
    b.insert(k("cfg"), entry(k("watched"), MINUTE, SEC, SEC))
        .await
        .unwrap();
    assert!(raw_get(&mut raw, &b.redis_key(&k("cfg"))).await.is_some());
    assert_eq!((b.stats().writes, b.stats().fenced_writes), (1, 0));

    // The same through a cache's handle over tiers: the insert reaches
    // Redis, and another instance reads it.
    let (tiered, l2) = instance(&prefix);
    assert!(tiered.get(&k("next")).await.unwrap().is_none());
    a.remove(&k("next")).await.unwrap();
    let layer = CacheLayer::builder::<String, BoxError>()
        .ttl(MINUTE)
        .key_fn(|req: &String| req.clone())
        .store(tiered)
        .build()
        .unwrap();
    layer.handle().insert(k("next"), k("new")).await.unwrap();
    assert_eq!(
        a.get(&k("next")).await.unwrap().map(|e| e.value),
        Some(k("new"))
    );
    assert_eq!((l2.stats().writes, l2.stats().fenced_writes), (1, 0));
    cleanup(&mut raw, &prefix).await;
}
