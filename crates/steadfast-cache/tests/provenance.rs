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
