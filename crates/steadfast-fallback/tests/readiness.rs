//! The fallback service is polled ready with the inner service, and a call
//! uses the instance that was polled ready.

use std::task::Poll;
use std::time::Duration;

use steadfast_config::{ConfigRequest, ConfigResponse, Format, Source};
use steadfast_fallback::FallbackLayer;
use tower::Layer;
use tower_test::mock;

/// `future`'s output, or a panic if it does not finish within a second (a
/// call that panicked inside a spawned task never sends its request).
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(1), future)
        .await
        .expect("no progress within a second")
}

#[tokio::test(start_paused = true)]
async fn not_ready_until_the_fallback_service_is_ready() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let (backup, mut backup_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let layer = FallbackLayer::<_, _, _>::service(backup);
    let mut svc = mock::Spawn::new(layer.layer(inner));

    inner_handle.allow(1);
    backup_handle.allow(0);
    assert!(svc.poll_ready::<ConfigRequest>().is_pending());

    backup_handle.allow(1);
    assert!(svc.is_woken());
    assert!(matches!(
        svc.poll_ready::<ConfigRequest>(),
        Poll::Ready(Ok(()))
    ));
}

#[tokio::test(start_paused = true)]
async fn not_ready_while_the_inner_service_is_not() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let (backup, _backup_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let mut svc = mock::Spawn::new(FallbackLayer::<_, _, _>::service(backup).layer(inner));

    inner_handle.allow(0);
    assert!(svc.poll_ready::<ConfigRequest>().is_pending());

    inner_handle.allow(1);
    assert!(matches!(
        svc.poll_ready::<ConfigRequest>(),
        Poll::Ready(Ok(()))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_call_uses_the_fallback_instance_that_was_polled_ready() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let (backup, mut backup_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let layer = FallbackLayer::<_, _, _>::service(backup).provenance();
    let mut svc = mock::Spawn::new(layer.layer(inner));

    // One readiness permit each: a fallback call on any instance other than
    // the one polled ready panics inside the mock.
    inner_handle.allow(1);
    backup_handle.allow(1);
    assert!(matches!(
        svc.poll_ready::<ConfigRequest>(),
        Poll::Ready(Ok(()))
    ));
    let call = tokio::spawn(svc.call(ConfigRequest::new("app")));

    let (request, respond) = within(inner_handle.next_request()).await.unwrap();
    assert_eq!(request.key(), "app");
    respond.send_error("connection refused");

    let (request, respond) = within(backup_handle.next_request()).await.unwrap();
    assert_eq!(request.key(), "app");
    respond.send_response(ConfigResponse::new("{}", Format::Json).with_version("backup"));

    let response = within(call).await.unwrap().unwrap();
    assert_eq!(response.version(), Some("backup"));
    assert_eq!(response.source(), Source::Fallback);

    // The instance left in place has not been polled ready.
    backup_handle.allow(0);
    inner_handle.allow(1);
    assert!(svc.poll_ready::<ConfigRequest>().is_pending());
    assert_eq!(layer.handle().used(), 1);
}
