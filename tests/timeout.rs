//! The per-attempt time limit keeps the inner error type.

use std::time::Duration;

use std::task::Poll;
use steadfast::config::ConfigError;
use steadfast::core::{BoxError, TimedOut};
use steadfast::timeout::TimeoutLayer;

use tower::{Layer, ServiceExt};
use tower_test::mock;

#[tokio::test(start_paused = true)]
async fn an_answer_within_the_limit_passes_through() {
    let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
    let svc = TimeoutLayer::new(Duration::from_secs(2)).layer(inner.map_err(|e: BoxError| e));
    let call = tokio::spawn(svc.oneshot("req"));
    let (req, reply) = handle.next_request().await.unwrap();
    assert_eq!(req, "req");
    tokio::time::advance(Duration::from_millis(1999)).await;
    reply.send_response("resp");
    assert_eq!(call.await.unwrap().unwrap(), "resp");
}

#[tokio::test(start_paused = true)]
async fn a_late_answer_is_a_typed_timeout() {
    let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
    let svc = TimeoutLayer::new(Duration::from_secs(2))
        .layer(inner.map_err(|_: BoxError| ConfigError::transport("mock")));
    let call = tokio::spawn(svc.oneshot("req"));
    let (_req, _reply) = handle.next_request().await.unwrap();
    tokio::time::advance(Duration::from_secs(2)).await;
    let error = call.await.unwrap().unwrap_err();
    assert!(matches!(error, ConfigError::Timeout(d) if d == Duration::from_secs(2)));

    // A boxed error carries the `TimedOut` itself.
    let (inner, mut handle) = mock::pair::<&'static str, &'static str>();
    let svc = TimeoutLayer::new(Duration::from_millis(10)).layer(inner);
    let call = tokio::spawn(svc.oneshot("req"));
    let _pending = handle.next_request().await.unwrap();
    tokio::time::advance(Duration::from_millis(10)).await;
    let error: BoxError = call.await.unwrap().unwrap_err();
    assert_eq!(
        error.downcast_ref::<TimedOut>(),
        Some(&TimedOut::new(Duration::from_millis(10)))
    );
}

#[tokio::test(start_paused = true)]
async fn readiness_is_forwarded() {
    let (mut svc, mut handle) = mock::spawn_layer::<&'static str, &'static str, _>(
        TimeoutLayer::new(Duration::from_secs(1)),
    );
    handle.allow(0);
    assert!(svc.poll_ready().is_pending());
    handle.allow(1);
    assert!(matches!(svc.poll_ready(), Poll::Ready(Ok(()))));
}
