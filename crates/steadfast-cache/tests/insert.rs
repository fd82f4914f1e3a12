//! `CacheHandle::insert`: a value written through the handle lives by the
//! cache's own windows, drops a cached "not found", and is never a
//! fallback answer.

#[path = "support/source.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use steadfast_cache::{CacheLayer, Event};
use steadfast_config::{ConfigError, ConfigResponse, Format};
use steadfast_core::Source;
use support::{TestSource, build, get, text};
use tokio::time::advance;

fn unavailable() -> ConfigError {
    ConfigError::Status {
        code: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }
}

#[tokio::test(start_paused = true)]
async fn an_inserted_value_is_fresh_then_stale_by_the_caches_windows() {
    let source = TestSource::new(Duration::ZERO);
    source.fail(unavailable());
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .stale_if_error(Duration::from_secs(20))
            .provenance()
            .on_event(move |event| {
                if let Event::Inserted { key } = event {
                    seen.lock().unwrap().push(key.to_string());
                }
            }),
    );
    let handle = cache.handle();
    handle
        .insert(
            Arc::from("app"),
            ConfigResponse::new("inserted", Format::Json),
        )
        .await
        .unwrap();
    assert_eq!(*events.lock().unwrap(), ["app"]);

    let hit = get(&cache, "app").await.unwrap();
    assert_eq!((text(&hit), hit.source()), ("inserted", Source::Cache));
    assert_eq!(source.calls(), 0);

    // Past the TTL the source fails: the inserted value is served stale.
    advance(Duration::from_secs(10)).await;
    let stale = get(&cache, "app").await.unwrap();
    assert_eq!((text(&stale), stale.source()), ("inserted", Source::Stale));
    assert_eq!(source.calls(), 1);

    // Past the stale-if-error window it is gone.
    advance(Duration::from_secs(20)).await;
    assert!(get(&cache, "app").await.is_err());
    assert_eq!(handle.stats().entries, 0);
}

#[tokio::test(start_paused = true)]
async fn an_insert_drops_a_cached_not_found_and_never_stores_a_fallback() {
    let source = TestSource::new(Duration::ZERO);
    source.fail(ConfigError::NotFound { name: "app".into() });
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(10))
            .negative_ttl(Duration::from_secs(60))
            .provenance(),
    );
    let handle = cache.handle();
    assert!(get(&cache, "app").await.is_err());
    assert!(get(&cache, "app").await.is_err());
    assert_eq!((source.calls(), handle.stats().negative_hits), (1, 1));

    let fallback = ConfigResponse::new("fallback", Format::Json).with_source(Source::Fallback);
    handle.insert(Arc::from("app"), fallback).await.unwrap();
    assert_eq!(handle.stats().entries, 0);

    handle
        .insert(Arc::from("app"), ConfigResponse::new("real", Format::Json))
        .await
        .unwrap();
    let hit = get(&cache, "app").await.unwrap();
    assert_eq!((text(&hit), hit.source()), ("real", Source::Cache));
    assert_eq!(source.calls(), 1);
}
