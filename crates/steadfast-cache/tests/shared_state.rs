//! One cache per layer value: every clone and every service it makes share
//! the store, the running loads and the counters; separate layers do not.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::CacheLayer;
use steadfast_config::ConfigRequest;
use support::{TestSource, body, text};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn clones_and_services_of_one_layer_share_one_cache() {
    let source = TestSource::new(Duration::from_secs(1));
    let layer = CacheLayer::builder().build().unwrap();
    let first = layer.layer(source.clone());
    let second = layer.clone().layer(source.clone());
    let cloned = first.clone();

    let (a, b) = tokio::join!(
        first.clone().oneshot(ConfigRequest::new("app")),
        second.clone().oneshot(ConfigRequest::new("app")),
    );
    assert_eq!(text(&a.unwrap()), body("app", 1));
    assert_eq!(text(&b.unwrap()), body("app", 1));
    let c = cloned
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(text(&c), body("app", 1));
    assert_eq!(source.calls(), 1);

    for handle in [
        layer.handle(),
        first.handle(),
        second.handle(),
        cloned.handle(),
    ] {
        let stats = handle.stats();
        assert_eq!((stats.loads, stats.coalesced, stats.l1_hits), (1, 1, 1));
    }
    second.handle().invalidate(&"app".into()).await.unwrap();
    assert_eq!(first.handle().stats().entries, 0);
}

#[tokio::test(start_paused = true)]
async fn separate_layers_keep_separate_caches() {
    let source = TestSource::new(Duration::ZERO);
    let one = CacheLayer::builder().build().unwrap().layer(source.clone());
    let other = CacheLayer::builder().build().unwrap().layer(source.clone());
    one.clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    other
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(source.calls(), 2);
    assert_eq!(one.handle().stats().loads, 1);
    assert_eq!(other.handle().stats().loads, 1);
}
