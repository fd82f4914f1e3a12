//! Keys: a request's own `CacheKey`, a key it lends (`KeyRef`), a closure,
//! and method + URI for `http::Request`.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::{CacheLayer, KeyRef};
use steadfast_config::ConfigRequest;
use support::{TestSource, body, text};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn a_lent_key_caches_like_the_default_key() {
    let source = TestSource::new(Duration::ZERO);
    let layer = CacheLayer::builder()
        .key_fn(KeyRef::new(ConfigRequest::shared_key))
        .build()
        .unwrap();
    let handle = layer.handle();
    let cache = layer.layer(source.clone());
    for (name, n) in [("a", 1), ("a", 1), ("b", 2), ("a", 1)] {
        let res = cache
            .clone()
            .oneshot(ConfigRequest::new(name))
            .await
            .unwrap();
        assert_eq!(text(&res), body(name, n));
    }
    assert_eq!(source.calls(), 2);
    assert_eq!(handle.stats().l1_hits, 2);
    handle.invalidate(&"a".into()).await.unwrap();
    assert_eq!(handle.stats().entries, 1);
}

#[tokio::test(start_paused = true)]
async fn a_closure_key_groups_requests() {
    let source = TestSource::new(Duration::ZERO);
    let layer = CacheLayer::builder()
        .key_fn(|req: &ConfigRequest| req.name().len())
        .build()
        .unwrap();
    let cache = layer.layer(source.clone());
    for name in ["ab", "cd", "efg"] {
        cache
            .clone()
            .oneshot(ConfigRequest::new(name))
            .await
            .unwrap();
    }
    assert_eq!(source.calls(), 2);
}

#[cfg(feature = "http")]
#[tokio::test(start_paused = true)]
async fn http_requests_are_keyed_by_method_and_uri() {
    use steadfast_cache::MethodUri;

    let layer = CacheLayer::builder().key_fn(MethodUri).build().unwrap();
    let handle = layer.handle();
    let cache = layer.layer(tower::service_fn(|req: http::Request<()>| async move {
        Ok::<_, steadfast_core::BoxError>(format!("{} {}", req.method(), req.uri().path()))
    }));
    let get = |uri: &str| http::Request::get(uri).body(()).unwrap();
    let post = |uri: &str| http::Request::post(uri).body(()).unwrap();

    assert_eq!(
        cache.clone().oneshot(get("http://c/a")).await.unwrap(),
        "GET /a"
    );
    assert_eq!(
        cache.clone().oneshot(get("http://c/a")).await.unwrap(),
        "GET /a"
    );
    assert_eq!(
        cache.clone().oneshot(post("http://c/a")).await.unwrap(),
        "POST /a"
    );
    assert_eq!(
        cache.clone().oneshot(get("http://c/b")).await.unwrap(),
        "GET /b"
    );
    let stats = handle.stats();
    assert_eq!((stats.loads, stats.l1_hits), (3, 1));
}
