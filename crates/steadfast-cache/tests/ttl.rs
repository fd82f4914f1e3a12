//! Fresh windows: served until the TTL, reloaded after it; jitter stays in
//! its bounds and a seed repeats it.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::{CacheLayer, Peek, Store};
use steadfast_config::ConfigRequest;
use steadfast_core::Source;
use support::{TestSource, body, build, get, text};
use tokio::time::{Instant, advance};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn fresh_entries_are_served_until_the_ttl_then_reloaded() {
    let source = TestSource::new(Duration::from_millis(100));
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .provenance(),
    );
    let handle = cache.handle();

    let first = get(&cache, "app").await.unwrap();
    assert_eq!(text(&first), body("app", 1));
    assert_eq!(first.source(), Source::Origin);

    advance(Duration::from_millis(9_999)).await;
    let hit = get(&cache, "app").await.unwrap();
    assert_eq!(text(&hit), body("app", 1));
    assert_eq!(hit.source(), Source::Cache);
    assert_eq!(source.calls(), 1);

    advance(Duration::from_millis(1)).await;
    let reloaded = get(&cache, "app").await.unwrap();
    assert_eq!(text(&reloaded), body("app", 2));
    assert_eq!(reloaded.source(), Source::Origin);
    assert_eq!(source.calls(), 2);

    let stats = handle.stats();
    assert_eq!(stats.loads, 2);
    assert_eq!(stats.l1_hits, 1);
    assert_eq!(stats.misses, 2);
    assert_eq!(stats.entries, 1);
}

#[tokio::test(start_paused = true)]
async fn distinct_keys_are_cached_apart() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(&source, CacheLayer::builder());
    for name in ["a", "b", "a", "b@dev", "b"] {
        get(&cache, name).await.unwrap();
    }
    assert_eq!(source.calls(), 3);
    assert_eq!(cache.handle().stats().l1_hits, 2);
}

#[tokio::test(start_paused = true)]
async fn jitter_shortens_ttls_within_bounds_and_a_seed_repeats_them() {
    async fn deadlines(seed: u64) -> Vec<Duration> {
        let layer = CacheLayer::builder()
            .ttl(Duration::from_secs(100))
            .ttl_jitter(0.2)
            .seed(seed)
            .build()
            .unwrap();
        let handle = layer.handle();
        let cache = layer.layer(TestSource::new(Duration::ZERO));
        let start = Instant::now();
        let mut out = Vec::new();
        for i in 0..200 {
            let req = ConfigRequest::new(format!("k{i}"));
            let key = req.shared_key().clone();
            cache.clone().oneshot(req).await.unwrap();
            let Peek::Hit(entry) = handle.store().peek(&key) else {
                panic!("entry {i} not stored");
            };
            assert_eq!(entry.revalidate_until, entry.fresh_until);
            assert_eq!(entry.expires_at, entry.fresh_until);
            out.push(entry.fresh_until - start);
        }
        out
    }

    let first = deadlines(7).await;
    assert!(
        first
            .iter()
            .all(|ttl| *ttl >= Duration::from_secs(80) && *ttl <= Duration::from_secs(100))
    );
    let spread =
        first.iter().max().unwrap().as_secs_f64() - first.iter().min().unwrap().as_secs_f64();
    assert!(spread > 15.0, "jitter spread only {spread} s");
    assert_eq!(deadlines(7).await, first);
    assert_ne!(deadlines(8).await, first);
}
