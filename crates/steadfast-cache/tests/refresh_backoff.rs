//! After a failed refresh of a stale value, the next refresh of that key
//! waits a pause that doubles with each failure, up to a bound; the stale
//! value is served meanwhile, and the failing source is asked once per
//! pause instead of by every request.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::{BuildError, CacheLayer};
use steadfast_config::{ConfigError, ConfigResponse};
use steadfast_core::Source;
use support::{Cached, TestSource, body, build, get, text};
use tokio::time::{Instant, advance};

const TICK: Duration = Duration::from_millis(100);

fn down() -> ConfigError {
    ConfigError::Status {
        code: http::StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }
}

/// Calls `cache` every 100 ms for a minute from the end of the fresh
/// window (10 s), with the source failing: the instants (ms since the
/// first load) at which the source was asked, and how the calls were
/// answered.
async fn failing_minute(source: &TestSource, cache: &Cached) -> (Vec<u128>, Vec<Source>) {
    let start = Instant::now();
    get(cache, "app").await.unwrap();
    source.fail(down());
    advance(Duration::from_secs(10)).await;
    let mut asked = Vec::new();
    let mut answers = Vec::new();
    for _ in 0..600 {
        let before = source.calls();
        let at = start.elapsed().as_millis();
        let res = get(cache, "app").await.unwrap();
        answers.push(res.source());
        for _ in 0..5 {
            tokio::task::yield_now().await;
        }
        if source.calls() > before {
            asked.push(at);
        }
        advance(TICK).await;
    }
    (asked, answers)
}

fn swr() -> steadfast_cache::CacheLayerBuilder<ConfigResponse, ConfigError> {
    CacheLayer::builder()
        .ttl(Duration::from_secs(10))
        .stale_while_revalidate(Duration::from_secs(600))
        .provenance()
}

#[tokio::test(start_paused = true)]
async fn a_failing_source_is_asked_once_per_doubling_pause_while_stale_is_served() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(&source, swr());
    let (asked, answers) = failing_minute(&source, &cache).await;
    assert_eq!(asked, [10_000, 11_000, 13_000, 17_000, 25_000, 41_000]);
    assert!(answers.iter().all(|s| *s == Source::Stale));
    let stats = cache.handle().stats();
    assert_eq!(
        (
            stats.stale_served,
            stats.refreshes,
            stats.loads,
            stats.load_errors
        ),
        (600, 6, 7, 6)
    );

    // The source is back; the pause (until 71 s) still runs, then one
    // refresh brings the fresh value.
    source.succeed();
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(res.source(), Source::Stale);
    assert_eq!(source.calls(), 7);
    advance(Duration::from_secs(1)).await;
    get(&cache, "app").await.unwrap();
    tokio::task::yield_now().await;
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 8).as_str(), Source::Cache)
    );
}

#[tokio::test(start_paused = true)]
async fn without_the_pause_every_request_asks_the_failing_source() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(
        &source,
        swr().refresh_backoff(Duration::ZERO, Duration::ZERO),
    );
    let (asked, answers) = failing_minute(&source, &cache).await;
    assert_eq!(asked.len(), 600);
    assert!(answers.iter().all(|s| *s == Source::Stale));
}

#[tokio::test(start_paused = true)]
async fn the_pause_has_its_bound_and_holds_in_the_stale_if_error_window_too() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .stale_if_error(Duration::from_secs(600))
            .refresh_backoff(Duration::from_millis(500), Duration::from_secs(3))
            .provenance(),
    );
    let (asked, answers) = failing_minute(&source, &cache).await;
    // 0.5, 1, 2, then 3 s at most.
    let mut expected = vec![10_000, 10_500, 11_500, 13_500];
    while let Some(&last) = expected.last()
        && last + 3_000 < 70_000
    {
        expected.push(last + 3_000);
    }
    assert_eq!(asked, expected);
    assert!(answers.iter().all(|s| *s == Source::Stale));
    let stats = cache.handle().stats();
    assert_eq!(stats.loads as usize, 1 + expected.len());
    assert_eq!(stats.stale_served, 600);
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_ends_the_pause() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(&source, swr());
    get(&cache, "app").await.unwrap();
    source.fail(down());
    advance(Duration::from_secs(10)).await;
    get(&cache, "app").await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(source.calls(), 2);
    source.succeed();
    cache.handle().invalidate(&"app".into()).await.unwrap();
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 3).as_str(), Source::Origin)
    );
}

#[test]
fn a_bound_below_the_first_pause_is_refused() {
    let built = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .refresh_backoff(Duration::from_secs(2), Duration::from_secs(1))
        .build::<std::sync::Arc<str>>();
    assert_eq!(built.err(), Some(BuildError::BackoffMaxBelowInitial));
    let built = CacheLayer::builder::<ConfigResponse, ConfigError>()
        .refresh_backoff(Duration::from_secs(1), Duration::MAX)
        .build::<std::sync::Arc<str>>();
    assert_eq!(built.err(), Some(BuildError::WindowTooLong));
}
