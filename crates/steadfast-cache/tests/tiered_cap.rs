//! The L1 TTL cap bounds only how long L1 trusts its copy as fresh: past
//! it, the copy is checked against L2 in the background while it is
//! served, and it stays servable within the entry's own stale windows.

#[path = "support/stores.rs"]
mod stores;
#[path = "support/source.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use steadfast_cache::{Cache, CacheLayer, DefaultKey, Entry, MemoryStore, Store, Tiered};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_core::Source;
use stores::Remote;
use support::{TestSource, body, text};
use tokio::time::{Instant, advance};
use tower::{Layer, ServiceExt};

const SEC: Duration = Duration::from_secs(1);

type Key = Arc<str>;
type L2 = Remote<Key, ConfigResponse>;
type Store2 = Tiered<MemoryStore<Key, ConfigResponse>, L2>;
type Instance = Cache<TestSource, Key, ConfigResponse, ConfigError, DefaultKey, Store2>;

/// A cache with a 300 s TTL and an hour of stale-if-error, on a memory L1
/// capped at 30 s in front of `l2`.
fn instance(source: &TestSource, l2: &L2) -> (Instance, Store2) {
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), l2.clone())
        .l1_ttl_cap(30 * SEC)
        .build()
        .unwrap();
    let cache = CacheLayer::builder()
        .ttl(300 * SEC)
        .stale_if_error(3600 * SEC)
        .provenance()
        .store(store.clone())
        .build()
        .unwrap()
        .layer(source.clone());
    (cache, store)
}

async fn get(cache: &Instance) -> Result<ConfigResponse, ConfigError> {
    cache.clone().oneshot(ConfigRequest::new("app")).await
}

fn unavailable() -> ConfigError {
    ConfigError::Status {
        code: http::StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }
}

/// Lets spawned tasks run until nothing is left to do.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn with_l2_and_the_source_down_a_copy_past_the_cap_is_served_within_its_own_windows() {
    let source = TestSource::new(Duration::ZERO);
    let l2 = L2::new();
    let (cache, store) = instance(&source, &l2);
    assert_eq!(get(&cache).await.unwrap().source(), Source::Origin);

    l2.set_down(true);
    source.fail(unavailable());
    advance(31 * SEC).await;
    let started = Instant::now();
    let res = get(&cache).await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO, "no wait on L2");
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 1).as_str(), Source::Cache),
        "still fresh by its own 300 s"
    );
    settle().await;
    assert_eq!(store.stats().revalidations, 1);
    assert_eq!(source.calls(), 1);

    // Past its fresh window, within its hour of stale-if-error.
    advance(300 * SEC).await;
    let res = get(&cache).await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 1).as_str(), Source::Stale)
    );
    assert_eq!(source.calls(), 2, "the source was asked, and failed");
    advance(3000 * SEC).await;
    let res = get(&cache).await.unwrap();
    assert_eq!(res.source(), Source::Stale);
}

#[tokio::test(start_paused = true)]
async fn past_the_cap_a_copy_is_served_at_once_while_l2_is_asked_in_the_background() {
    let source = TestSource::new(Duration::ZERO);
    let l2 = L2::new();
    let (cache, store) = instance(&source, &l2);
    get(&cache).await.unwrap();
    l2.set_delay(SEC);

    // Another instance wrote a newer entry; its message was lost.
    advance(5 * SEC).await;
    let now = Instant::now();
    let newer = Entry {
        value: ConfigResponse::new("{\"newer\":true}", Format::Json),
        fresh_until: now + 300 * SEC,
        revalidate_until: now + 300 * SEC,
        expires_at: now + 3900 * SEC,
    };
    l2.put(Arc::from("app"), newer).await.unwrap();

    advance(26 * SEC).await;
    let gets = l2.gets.load(Ordering::SeqCst);
    let started = Instant::now();
    for _ in 0..3 {
        let res = get(&cache).await.unwrap();
        assert_eq!(
            (text(&res), res.source()),
            (body("app", 1).as_str(), Source::Cache)
        );
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "no caller waits on L2");
    settle().await;
    assert_eq!(store.stats().revalidations, 1, "one check for the three");
    assert_eq!(l2.gets.load(Ordering::SeqCst), gets + 1);

    advance(SEC).await;
    settle().await;
    let res = get(&cache).await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        ("{\"newer\":true}", Source::Cache)
    );
    assert_eq!(store.stats().backfills, 1);
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn l2_holding_the_same_entry_renews_the_trust_for_another_cap() {
    let source = TestSource::new(Duration::ZERO);
    let l2 = L2::new();
    let (cache, store) = instance(&source, &l2);
    get(&cache).await.unwrap();
    let gets = l2.gets.load(Ordering::SeqCst);

    advance(31 * SEC).await;
    get(&cache).await.unwrap();
    settle().await;
    assert_eq!(store.stats().revalidations, 1);
    // Trusted again until 61 s: no check before then.
    advance(29 * SEC).await;
    get(&cache).await.unwrap();
    settle().await;
    assert_eq!(store.stats().revalidations, 1);
    advance(2 * SEC).await;
    get(&cache).await.unwrap();
    settle().await;
    assert_eq!(store.stats().revalidations, 2);
    assert_eq!(l2.gets.load(Ordering::SeqCst), gets + 2);
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_copy_l2_no_longer_holds_is_kept_only_for_when_the_source_fails() {
    let source = TestSource::new(Duration::ZERO);
    let l2 = L2::new();
    let (cache, _store) = instance(&source, &l2);
    get(&cache).await.unwrap();
    // Another instance removed the key; its message was lost.
    l2.remove(&Arc::from("app")).await.unwrap();

    advance(31 * SEC).await;
    assert_eq!(get(&cache).await.unwrap().source(), Source::Cache);
    settle().await;
    // The check found nothing: the next call loads.
    let res = get(&cache).await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 2).as_str(), Source::Origin)
    );

    // The same, with the source down: the copy is served stale.
    l2.remove(&Arc::from("app")).await.unwrap();
    source.fail(unavailable());
    advance(31 * SEC).await;
    assert_eq!(get(&cache).await.unwrap().source(), Source::Cache);
    settle().await;
    let res = get(&cache).await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 2).as_str(), Source::Stale)
    );
    assert_eq!(source.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_failed_check_waits_a_second_before_the_next() {
    let source = TestSource::new(Duration::ZERO);
    let l2 = L2::new();
    let (cache, store) = instance(&source, &l2);
    get(&cache).await.unwrap();
    l2.set_down(true);
    advance(31 * SEC).await;
    for _ in 0..5 {
        get(&cache).await.unwrap();
        settle().await;
    }
    assert_eq!(store.stats().revalidations, 1);
    advance(SEC).await;
    get(&cache).await.unwrap();
    settle().await;
    assert_eq!(store.stats().revalidations, 2);
    assert_eq!(source.calls(), 1);
}
