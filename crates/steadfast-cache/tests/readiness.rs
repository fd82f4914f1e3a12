//! The cache is always ready: hits never wait on the inner service's
//! readiness, and a load drives its own clone of the inner service ready
//! before calling it.

use std::time::Duration;

use steadfast_cache::CacheLayer;
use steadfast_core::BoxError;
use tower::{Layer, ServiceExt};
use tower_test::assert_request_eq;
use tower_test::mock::{self, Mock, Spawn};

#[tokio::test(start_paused = true)]
async fn hits_never_wait_and_loads_wait_for_readiness() {
    let layer = CacheLayer::builder()
        .key_fn(|k: &u64| *k)
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let handle = layer.handle();
    let (inner, mut server): (Mock<u64, u64>, _) = mock::pair();
    let mut cache = Spawn::new(layer.layer(inner.map_err(BoxError::from)));

    // The source is not ready: the cache is, and the load waits.
    server.allow(0);
    assert!(cache.poll_ready().is_ready());
    let answer = tokio::spawn(cache.call(7));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(!answer.is_finished());
    assert_eq!(handle.stats().loads, 1);

    // Once it is ready, the load calls it.
    server.allow(1);
    assert_request_eq!(server, 7).send_response(49);
    assert_eq!(answer.await.unwrap().unwrap(), 49);

    // A hit while the source is not ready at all.
    server.allow(0);
    assert!(cache.poll_ready().is_ready());
    assert_eq!(cache.call(7).await.unwrap(), 49);
    assert_eq!(handle.stats().loads, 1);
    assert_eq!(handle.stats().l1_hits, 1);
}
