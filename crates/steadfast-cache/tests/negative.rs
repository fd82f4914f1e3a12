//! Negative caching: a "not found" is answered from the cache for its TTL,
//! and only when asked for.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::CacheLayer;
use steadfast_config::ConfigError;
use steadfast_core::Source;
use support::{TestSource, body, build, get, text};
use tokio::time::advance;

fn not_found() -> ConfigError {
    ConfigError::NotFound { name: "app".into() }
}

#[tokio::test(start_paused = true)]
async fn not_found_is_cached_for_its_ttl() {
    let source = TestSource::new(Duration::from_millis(10));
    source.fail(not_found());
    let cache = build(
        &source,
        CacheLayer::builder().negative_ttl(Duration::from_secs(5)),
    );
    let handle = cache.handle();

    let first = get(&cache, "app").await;
    assert!(matches!(first, Err(ConfigError::NotFound { ref name }) if &**name == "app"));
    advance(Duration::from_millis(4_999)).await;
    let cached = get(&cache, "app").await;
    assert!(matches!(cached, Err(ConfigError::NotFound { ref name }) if &**name == "app"));
    assert_eq!(source.calls(), 1);
    assert_eq!(handle.stats().negative_hits, 1);

    advance(Duration::from_millis(1)).await;
    source.succeed();
    let found = get(&cache, "app").await.unwrap();
    assert_eq!(text(&found), body("app", 2));
    assert_eq!(source.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn other_failures_and_unconfigured_layers_cache_nothing() {
    let source = TestSource::new(Duration::ZERO);
    source.fail(ConfigError::validation("bad"));
    let cache = build(
        &source,
        CacheLayer::builder().negative_ttl(Duration::from_secs(5)),
    );
    for _ in 0..3 {
        assert!(get(&cache, "app").await.is_err());
    }
    assert_eq!(source.calls(), 3);

    let source = TestSource::new(Duration::ZERO);
    source.fail(not_found());
    let cache = build(&source, CacheLayer::builder());
    for _ in 0..3 {
        assert!(get(&cache, "app").await.is_err());
    }
    assert_eq!(source.calls(), 3);
    assert_eq!(cache.handle().stats().negative_hits, 0);
}

#[tokio::test(start_paused = true)]
async fn a_key_found_missing_drops_its_stale_value() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(1))
            .stale_if_error(Duration::from_secs(60))
            .negative_ttl(Duration::from_secs(5))
            .provenance(),
    );
    let handle = cache.handle();
    get(&cache, "app").await.unwrap();

    source.fail(ConfigError::validation("bad"));
    advance(Duration::from_secs(2)).await;
    let stale = get(&cache, "app").await.unwrap();
    assert_eq!(stale.source(), Source::Stale);
    // Past the pause that follows a failed load of a stale value.
    advance(Duration::from_secs(1)).await;

    source.fail(not_found());
    assert!(matches!(
        get(&cache, "app").await,
        Err(ConfigError::NotFound { .. })
    ));
    assert_eq!(handle.stats().entries, 0);
    advance(Duration::from_secs(5)).await;
    source.fail(ConfigError::validation("bad"));
    assert!(matches!(
        get(&cache, "app").await,
        Err(ConfigError::Validation { .. })
    ));
}
