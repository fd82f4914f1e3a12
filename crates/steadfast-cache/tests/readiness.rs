//! `poll_ready` is the inner service's, and a load calls the very service
//! that was driven ready.

use std::time::Duration;

use steadfast_cache::CacheLayer;
use steadfast_core::BoxError;
use tower::{Layer, ServiceExt};
use tower_test::assert_request_eq;
use tower_test::mock::{self, Mock, Spawn};

#[tokio::test(start_paused = true)]
async fn readiness_is_forwarded_and_the_ready_service_loads() {
    let layer = CacheLayer::builder()
        .key_fn(|k: &u64| *k)
        .ttl(Duration::from_secs(60))
        .build()
        .unwrap();
    let handle = layer.handle();
    let (inner, mut server): (Mock<u64, u64>, _) = mock::pair();
    let mut cache = Spawn::new(layer.layer(inner.map_err(BoxError::from)));

    server.allow(0);
    assert!(cache.poll_ready().is_pending());
    server.allow(1);
    assert!(cache.poll_ready().is_ready());

    let answer = tokio::spawn(cache.call(7));
    assert_request_eq!(server, 7).send_response(49);
    assert_eq!(answer.await.unwrap().unwrap(), 49);

    // A hit needs no inner call, but readiness is still the inner's.
    server.allow(0);
    assert!(cache.poll_ready().is_pending());
    server.allow(1);
    assert!(cache.poll_ready().is_ready());
    assert_eq!(cache.call(7).await.unwrap(), 49);
    assert_eq!(handle.stats().loads, 1);
}
