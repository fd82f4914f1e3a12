//! A store that fails never fails a request: every call is answered from
//! the source, and the failures are counted and reported.

#[path = "support/stores.rs"]
mod stores;
#[path = "support/source.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_cache::{CacheLayer, Event, StoreOp};
use steadfast_config::ConfigRequest;
use stores::Broken;
use support::{TestSource, body, text};
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn a_broken_store_degrades_to_the_source() {
    let failed = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&failed);
    let source = TestSource::new(Duration::from_millis(10));
    let layer = CacheLayer::builder()
        .store(Broken)
        .distributed_single_flight(
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_millis(100),
        )
        .on_event(move |event: &Event<'_>| {
            if let Event::StoreFailed { op, .. } = event {
                log.lock().unwrap().push(*op);
            }
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    let cache = layer.layer(source.clone());

    for n in 1..=3 {
        let res = cache
            .clone()
            .oneshot(ConfigRequest::new("app"))
            .await
            .unwrap();
        assert_eq!(text(&res), body("app", n));
    }
    assert_eq!(source.calls(), 3);
    assert_eq!(handle.stats().store_errors, 9);
    assert_eq!(
        failed.lock().unwrap()[..3],
        [StoreOp::Get, StoreOp::Lease, StoreOp::Put]
    );

    let invalidated = handle.invalidate(&"app".into()).await;
    assert_eq!(
        invalidated.unwrap_err().to_string(),
        "cache store unavailable: connection refused"
    );
    assert!(handle.clear().await.is_err());
    assert_eq!(handle.stats().store_errors, 11);
    assert_eq!(
        failed.lock().unwrap()[9..],
        [StoreOp::Remove, StoreOp::Clear]
    );
}
