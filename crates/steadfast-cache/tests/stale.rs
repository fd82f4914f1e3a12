//! Stale serving: stale-while-revalidate answers at once and refreshes once
//! per key; stale-if-error answers a failed load with the stale value inside
//! its window and with the error after it.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use http::StatusCode;
use steadfast_cache::CacheLayer;
use steadfast_config::{ConfigError, ConfigRequest};
use steadfast_core::Source;
use support::{TestSource, body, build, get, text};
use tokio::time::{Instant, advance};
use tower::ServiceExt;

fn unavailable() -> ConfigError {
    ConfigError::Status {
        code: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_answers_at_once_and_refreshes_exactly_once() {
    let source = TestSource::new(Duration::from_secs(2));
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .stale_while_revalidate(Duration::from_secs(20))
            .provenance(),
    );
    let handle = cache.handle();
    get(&cache, "app").await.unwrap();
    assert_eq!(source.calls(), 1);

    // Fresh until t = 12 s; now t = 13 s.
    advance(Duration::from_secs(11)).await;
    for _ in 0..10 {
        let asked = Instant::now();
        let res = get(&cache, "app").await.unwrap();
        assert_eq!(asked.elapsed(), Duration::ZERO);
        assert_eq!(text(&res), body("app", 1));
        assert_eq!(res.source(), Source::Stale);
    }
    tokio::task::yield_now().await;
    assert_eq!(source.calls(), 2);
    assert_eq!(handle.loads_in_flight(), 1);

    advance(Duration::from_secs(2)).await;
    tokio::task::yield_now().await;
    assert_eq!(handle.loads_in_flight(), 0);
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(text(&res), body("app", 2));
    assert_eq!(res.source(), Source::Cache);
    assert_eq!(source.calls(), 2);

    let stats = handle.stats();
    assert_eq!(stats.refreshes, 1);
    assert_eq!(stats.stale_served, 10);
    assert_eq!(stats.loads, 2);
    assert_eq!(stats.misses, 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_refresh_keeps_the_stale_value_and_a_later_call_refreshes_again() {
    let source = TestSource::new(Duration::from_secs(1));
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .stale_while_revalidate(Duration::from_secs(60))
            .provenance(),
    );
    let handle = cache.handle();
    get(&cache, "app").await.unwrap();

    source.fail(unavailable());
    advance(Duration::from_secs(20)).await;
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 1).as_str(), Source::Stale)
    );
    tokio::task::yield_now().await;
    advance(Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert_eq!(handle.stats().load_errors, 1);

    source.succeed();
    // Within the pause after the failed refresh: stale, and no refresh.
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 1).as_str(), Source::Stale)
    );
    assert_eq!(handle.stats().refreshes, 1);
    advance(Duration::from_secs(1)).await;
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 1).as_str(), Source::Stale)
    );
    tokio::task::yield_now().await;
    advance(Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 3).as_str(), Source::Cache)
    );
    assert_eq!(handle.stats().refreshes, 2);
}

#[tokio::test(start_paused = true)]
async fn stale_if_error_serves_the_stale_value_within_its_window_then_the_error() {
    let source = TestSource::new(Duration::from_secs(1));
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .stale_if_error(Duration::from_secs(30))
            .provenance(),
    );
    let handle = cache.handle();
    // Loaded at t = 1 s: fresh until 11 s, usable on error until 41 s.
    get(&cache, "app").await.unwrap();
    source.fail(unavailable());

    // t = 39 s: the load fails at 40 s, inside the window.
    advance(Duration::from_secs(38)).await;
    let asked = Instant::now();
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(asked.elapsed(), Duration::from_secs(1));
    assert_eq!(text(&res), body("app", 1));
    assert_eq!(res.source(), Source::Stale);
    assert_eq!(source.calls(), 2);

    // t = 41 s: the window is over.
    advance(Duration::from_secs(1)).await;
    let err = get(&cache, "app").await.unwrap_err();
    assert!(
        matches!(err, ConfigError::Status { code, .. } if code == StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(source.calls(), 3);

    let stats = handle.stats();
    assert_eq!(stats.stale_served, 1);
    assert_eq!(stats.load_errors, 2);
    assert_eq!(stats.loads, 3);
}

#[tokio::test(start_paused = true)]
async fn every_waiter_of_a_failed_load_gets_the_stale_value() {
    let source = TestSource::new(Duration::from_secs(1));
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(1))
            .stale_if_error(Duration::from_secs(60))
            .provenance(),
    );
    let handle = cache.handle();
    get(&cache, "app").await.unwrap();
    source.fail(unavailable());
    advance(Duration::from_secs(5)).await;

    let calls: Vec<_> = (0..50)
        .map(|_| cache.clone().oneshot(ConfigRequest::new("app")))
        .collect();
    for res in futures_util::future::join_all(calls).await {
        let res = res.unwrap();
        assert_eq!(
            (text(&res), res.source()),
            (body("app", 1).as_str(), Source::Stale)
        );
    }
    assert_eq!(source.calls(), 2);
    assert_eq!(handle.stats().stale_served, 50);
}

#[tokio::test(start_paused = true)]
async fn without_stale_windows_an_expired_entry_is_not_served_on_error() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(&source, CacheLayer::builder().ttl(Duration::from_secs(10)));
    get(&cache, "app").await.unwrap();
    source.fail(unavailable());
    advance(Duration::from_secs(10)).await;
    assert!(get(&cache, "app").await.is_err());
}
