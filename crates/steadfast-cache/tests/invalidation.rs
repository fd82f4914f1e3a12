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
