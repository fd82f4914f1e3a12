//! The inner service is driven ready before every attempt.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use steadfast_retry::{Backoff, Jitter, RetryLayer};
use tower_test::mock;

fn poll<F: Future + Unpin>(future: &mut F) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(Waker::noop()))
}

type Handle = mock::Handle<&'static str, &'static str>;

/// The retry service under test: a retry layer over a mock.
type Service = steadfast_retry::Retry<
    mock::Mock<&'static str, &'static str>,
    steadfast_retry::DefaultPolicy,
    steadfast_retry::CloneRequest,
>;

/// A retry layer over a mock, with one second between attempts.
fn spawn() -> (mock::Spawn<Service>, Handle) {
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_secs(1)).with_jitter(Jitter::None))
        .without_budget()
        .build()
        .unwrap();
    mock::spawn_layer(layer)
}

#[tokio::test(start_paused = true)]
async fn each_retry_waits_for_the_inner_service_to_be_ready() {
    let (mut service, mut handle) = spawn();

    handle.allow(0);
    assert!(service.poll_ready().is_pending());
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let mut future = Box::pin(service.call("config"));

    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(request, "config");
    send.send_error("refused");
    assert!(poll(&mut future).is_pending());

    // The delay passes, but the inner service is not ready: no retry yet.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(poll(&mut future).is_pending());
    tokio::time::advance(Duration::from_secs(10)).await;
    assert!(poll(&mut future).is_pending());
    assert!(handle.poll_request().is_pending());

    // Once it is ready, the retry goes out.
    handle.allow(1);
    assert!(poll(&mut future).is_pending());
    let (request, send) = handle.next_request().await.unwrap();
    assert_eq!(request, "config");
    send.send_response("loaded");
    assert!(matches!(poll(&mut future), Poll::Ready(Ok("loaded"))));
}

#[tokio::test(start_paused = true)]
async fn an_error_while_driving_ready_is_returned() {
    let (mut service, mut handle) = spawn();
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
    let mut future = Box::pin(service.call("config"));
    let (_, send) = handle.next_request().await.unwrap();
    send.send_error("first");
    assert!(poll(&mut future).is_pending());

    handle.send_error("not ready");
    tokio::time::advance(Duration::from_secs(1)).await;
    match poll(&mut future) {
        Poll::Ready(Err(error)) => assert_eq!(error.to_string(), "not ready"),
        other => panic!("expected the readiness error, got {other:?}"),
    }
}
