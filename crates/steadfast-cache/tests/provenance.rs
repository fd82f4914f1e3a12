//! What the cache serves is marked: `Source::Cache` when fresh,
//! `Source::Stale` when stale, untouched from the origin or without
//! `.provenance()`.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::CacheLayer;
use steadfast_core::Source;
use support::{TestSource, build, get};
use tokio::time::advance;

#[tokio::test(start_paused = true)]
async fn config_responses_are_marked_cache_then_stale() {
    let source = TestSource::new(Duration::from_millis(10));
    let cache = build(
        &source,
        CacheLayer::builder()
            .ttl(Duration::from_secs(1))
            .stale_while_revalidate(Duration::from_secs(10))
            .provenance(),
    );
    let mut seen = Vec::new();
    for step in [0, 0, 2] {
        advance(Duration::from_secs(step)).await;
        seen.push(get(&cache, "app").await.unwrap().source());
    }
    assert_eq!(seen, [Source::Origin, Source::Cache, Source::Stale]);
}

#[tokio::test(start_paused = true)]
async fn without_provenance_responses_are_left_as_they_came() {
    let source = TestSource::new(Duration::ZERO);
    let cache = build(&source, CacheLayer::builder());
    for _ in 0..2 {
        let res = get(&cache, "app").await.unwrap();
        assert_eq!(res.source(), Source::Origin);
    }
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_answer_from_the_inner_service_is_never_stored() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
    use tower::{Layer, ServiceExt, service_fn};

    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let inner = service_fn(move |_: ConfigRequest| {
        let call = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let response = ConfigResponse::new("{}", Format::Json);
            Ok::<_, ConfigError>(if call < 2 {
                response.with_source(Source::Fallback)
            } else {
                response
            })
        }
    });
    let layer = CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .provenance()
        .build()
        .unwrap();
    let handle = layer.handle();
    let cache = layer.layer(inner);

    let mut seen = Vec::new();
    for _ in 0..4 {
        let response = cache.clone().oneshot(ConfigRequest::new("app")).await;
        seen.push(response.unwrap().source());
    }
    // Two fallback answers, each loaded and handed out but not kept; the
    // first real value is kept and then served from the cache.
    assert_eq!(
        seen,
        [
            Source::Fallback,
            Source::Fallback,
            Source::Origin,
            Source::Cache
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(handle.stats().loads, 3);
}
