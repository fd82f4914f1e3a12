//! Each counter counts what its name says, and every answered call is
//! counted exactly once: as a fresh hit (memory or shared tier), a miss (the
//! caller whose load reached the source), a coalesced caller (one that joined
//! that load), a stale answer, a cached "not found", or an error.

#[path = "support/stores.rs"]
mod stores;
#[path = "support/source.rs"]
mod support;

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use steadfast_cache::{
    CacheHandle, CacheLayer, CacheStats, Entry, MemoryStore, Peek, Store, StoreError, Tiered,
};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_core::Source;
use stores::Remote;
use support::{TestSource, build, get};
use tokio::task::JoinSet;
use tokio::time::{Instant, advance};
use tower::{Layer, ServiceExt};

type Key = Arc<str>;

/// Writes `body` to the shared tier under `app`, as another instance
/// would, fresh, revalidatable and servable for the given seconds from now.
async fn share(remote: &Remote<Key, ConfigResponse>, body: &'static str, secs: [u64; 3]) {
    let now = Instant::now();
    let at = |n: u64| now + Duration::from_secs(n);
    let entry = Entry {
        value: ConfigResponse::new(body, Format::Json),
        fresh_until: at(secs[0]),
        revalidate_until: at(secs[1]),
        expires_at: at(secs[2]),
    };
    remote.put("app".into(), entry).await.unwrap();
}

/// The counters that are not zero, by name: an exact snapshot.
fn nonzero(s: &CacheStats) -> Vec<(&'static str, u64)> {
    [
        ("l1_hits", s.l1_hits),
        ("l2_hits", s.l2_hits),
        ("misses", s.misses),
        ("coalesced", s.coalesced),
        ("stale_served", s.stale_served),
        ("negative_hits", s.negative_hits),
        ("errors", s.errors),
        ("refreshes", s.refreshes),
        ("loads", s.loads),
        ("load_errors", s.load_errors),
        ("store_errors", s.store_errors),
        ("entries", s.entries),
    ]
    .into_iter()
    .filter(|(_, n)| *n != 0)
    .collect()
}

fn down() -> ConfigError {
    ConfigError::Status {
        code: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }
}

#[tokio::test(start_paused = true)]
async fn eight_concurrent_cold_loads_are_one_miss_one_load_and_seven_coalesced() {
    let source = TestSource::new(Duration::from_secs(1));
    let cache = build(&source, CacheLayer::builder());
    let handle = cache.handle();

    let mut callers = JoinSet::new();
    for _ in 0..8 {
        let cache = cache.clone();
        callers.spawn(async move { get(&cache, "app").await.unwrap().source() });
    }
    let mut sources = Vec::new();
    while let Some(source) = callers.join_next().await {
        sources.push(source.unwrap());
    }
    assert_eq!(sources, [Source::Origin; 8]);
    assert_eq!(source.calls(), 1);

    let stats = handle.stats();
    let expected: Vec<(&str, u64)> = vec![
        ("misses", 1),
        ("coalesced", 7),
        ("loads", 1),
        ("entries", 1),
    ];
    assert_eq!(nonzero(&stats), expected);
    assert_eq!(stats.answered(), 8);
}

#[tokio::test(start_paused = true)]
async fn an_answer_from_the_shared_tier_is_an_l2_hit_and_not_a_miss() {
    let remote = Remote::<Key, ConfigResponse>::new();
    share(&remote, "{}", [60, 60, 60]).await;
    let source = TestSource::new(Duration::ZERO);
    let cache = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .provenance()
        .store(remote)
        .build::<Key>()
        .unwrap()
        .layer(source.clone());

    let answer = cache.clone().oneshot(ConfigRequest::new("app")).await;
    assert_eq!(answer.unwrap().source(), Source::Cache);
    assert_eq!(source.calls(), 0);
    let stats = cache.handle().stats();
    assert_eq!(nonzero(&stats), vec![("l2_hits", 1)]);
    assert_eq!(stats.answered(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_newer_shared_value_found_behind_an_expired_memory_copy_is_an_l2_hit() {
    let remote = Remote::<Key, ConfigResponse>::new();
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), remote.clone())
        .l1_ttl_cap(Duration::from_secs(30))
        .build()
        .unwrap();
    let source = TestSource::new(Duration::ZERO);
    let cache = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .ttl(Duration::from_secs(10))
        .stale_if_error(Duration::from_secs(60))
        .provenance()
        .store(store)
        .build::<Key>()
        .unwrap()
        .layer(source.clone());

    // Loaded at 0 s: the memory copy is fresh until 10 s and, capped, gone
    // at 30 s; past 10 s it is only good if the source fails.
    let first = cache.clone().oneshot(ConfigRequest::new("app")).await;
    assert_eq!(first.unwrap().source(), Source::Origin);
    advance(Duration::from_secs(20)).await;

    // Another instance wrote a newer value to the shared tier meanwhile.
    share(&remote, "{\"newer\":true}", [10, 10, 70]).await;
    let second = cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(second.body().as_ref(), b"{\"newer\":true}");
    assert_eq!(second.source(), Source::Cache);
    assert_eq!(source.calls(), 1);

    let stats = cache.handle().stats();
    assert_eq!(
        (stats.misses, stats.l1_hits, stats.l2_hits, stats.loads),
        (1, 0, 1, 1)
    );
    assert_eq!(stats.answered(), 2);
}

/// A memory store whose writes take a second, as a shared tier's can: the
/// load's value is known to its callers before it is stored.
#[derive(Clone)]
struct SlowPut<S>(S);

impl<K, V, S> Store<K, V> for SlowPut<S>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    fn peek(&self, key: &K) -> Peek<V> {
        self.0.peek(key)
    }

    async fn get(&self, key: &K) -> Result<Option<Entry<V>>, StoreError> {
        self.0.get(key).await
    }

    async fn put(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        self.0.put(key, entry).await
    }

    async fn remove(&self, key: &K) -> Result<(), StoreError> {
        self.0.remove(key).await
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.0.clear().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_caller_arriving_after_the_value_is_known_is_answered_as_a_hit() {
    let source = TestSource::new(Duration::from_millis(100));
    let store = SlowPut(MemoryStore::<Key, ConfigResponse>::new(100).unwrap());
    let cache = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .provenance()
        .store(store)
        .build::<Key>()
        .unwrap()
        .layer(source.clone());

    let first = cache.clone().oneshot(ConfigRequest::new("app")).await;
    assert_eq!(first.unwrap().source(), Source::Origin);
    // The value is known; its write is still under way.
    advance(Duration::from_millis(20)).await;
    let started = Instant::now();
    let second = cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(second.source(), Source::Cache);
    assert_eq!(source.calls(), 1);

    let stats = cache.handle().stats();
    assert_eq!((stats.misses, stats.l1_hits, stats.coalesced), (1, 1, 0));
    assert_eq!(stats.answered(), 2);
}

#[tokio::test(start_paused = true)]
async fn stale_answers_are_neither_misses_nor_hits() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .stale_while_revalidate(Duration::from_secs(10))
            .stale_if_error(Duration::from_secs(60)),
    );
    let handle = cache.handle();

    get(&cache, "app").await.unwrap(); // miss: loaded
    get(&cache, "app").await.unwrap(); // fresh hit
    advance(Duration::from_secs(12)).await;
    get(&cache, "app").await.unwrap(); // stale while it refreshes
    tokio::task::yield_now().await;
    get(&cache, "app").await.unwrap(); // the refreshed value, fresh
    advance(Duration::from_secs(30)).await;
    source.fail(down());
    get(&cache, "app").await.unwrap(); // stale: the source failed
    get(&cache, "app").await.unwrap(); // stale again, within the pause: no load
    advance(Duration::from_secs(1)).await;
    get(&cache, "app").await.unwrap(); // stale: the pause is over, a second failed load
    assert_eq!(source.calls(), 4);

    let stats = handle.stats();
    assert_eq!(
        nonzero(&stats),
        vec![
            ("l1_hits", 2),
            ("misses", 1),
            ("stale_served", 4),
            ("refreshes", 1),
            ("loads", 4),
            ("load_errors", 2),
            ("entries", 1)
        ]
    );
    assert_eq!(stats.answered(), 7);
}

#[tokio::test(start_paused = true)]
async fn a_failed_load_is_an_error_for_each_of_its_callers_and_no_miss() {
    let source = TestSource::new(Duration::from_secs(1));
    source.fail(down());
    let cache = build(&source, CacheLayer::builder());
    let handle: CacheHandle<_, _, _> = cache.handle();

    let (a, b, c) = tokio::join!(get(&cache, "app"), get(&cache, "app"), get(&cache, "app"));
    assert!(a.is_err() && b.is_err() && c.is_err());
    assert_eq!(source.calls(), 1);

    let stats = handle.stats();
    assert_eq!(
        nonzero(&stats),
        vec![("errors", 3), ("loads", 1), ("load_errors", 1)]
    );
    assert_eq!(stats.answered(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_background_refresh_that_finds_a_fresh_shared_value_counts_no_answer() {
    let remote = Remote::<Key, ConfigResponse>::new();
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), remote.clone())
        .l1_ttl_cap(Duration::from_secs(300))
        .build()
        .unwrap();
    let source = TestSource::new(Duration::ZERO);
    let cache = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .ttl(Duration::from_secs(10))
        .stale_while_revalidate(Duration::from_secs(30))
        .provenance()
        .store(store)
        .build::<Key>()
        .unwrap()
        .layer(source.clone());

    cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    advance(Duration::from_secs(15)).await;
    share(&remote, "{\"newer\":true}", [10, 40, 40]).await;
    let stale = cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(stale.source(), Source::Stale);
    tokio::task::yield_now().await;
    let fresh = cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(fresh.source(), Source::Cache);
    assert_eq!(fresh.body().as_ref(), b"{\"newer\":true}");
    assert_eq!(source.calls(), 1);

    let stats = cache.handle().stats();
    assert_eq!(
        (
            stats.misses,
            stats.stale_served,
            stats.refreshes,
            stats.l1_hits,
            stats.l2_hits
        ),
        (1, 1, 1, 1, 0)
    );
    assert_eq!(stats.answered(), 3);
}
