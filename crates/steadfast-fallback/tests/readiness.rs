//! A fallback service never gates the inner one: the layer is ready when
//! the inner service is, a call that succeeds never touches the fallback,
//! and a call whose inner service failed drives its own copy of the
//! fallback ready, then calls exactly that copy.

use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format, Source};
use steadfast_fallback::{FallbackLayer, FallbackStats};
use tower::limit::ConcurrencyLimitLayer;
use tower::{BoxError, Layer, Service, ServiceExt};
use tower_test::mock;

/// `future`'s output, or a panic if it does not finish within a second (a
/// call that panicked inside a spawned task never sends its request).
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(1), future)
        .await
        .expect("no progress within a second")
}

fn ready<S: Service<ConfigRequest>>(svc: &mut mock::Spawn<S>) -> bool {
    matches!(svc.poll_ready::<ConfigRequest>(), Poll::Ready(Ok(())))
}

fn response(version: &'static str) -> ConfigResponse {
    ConfigResponse::new("{}", Format::Json).with_version(version)
}

#[tokio::test(start_paused = true)]
async fn ready_while_the_fallback_service_is_not() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let (backup, mut backup_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let layer = FallbackLayer::<_, _, _>::service(backup);
    let mut svc = mock::Spawn::new(layer.layer(inner));

    inner_handle.allow(1);
    backup_handle.allow(0);
    assert!(ready(&mut svc));
    let call = tokio::spawn(svc.call(ConfigRequest::new("app")));
    let (_, respond) = within(inner_handle.next_request()).await.unwrap();
    respond.send_response(response("primary"));
    let answer = within(call).await.unwrap().unwrap();
    assert_eq!(answer.version(), Some("primary"));
    assert_eq!(layer.handle().stats(), FallbackStats::default());
}

#[tokio::test(start_paused = true)]
async fn not_ready_while_the_inner_service_is_not() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let (backup, _backup_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let mut svc = mock::Spawn::new(FallbackLayer::<_, _, _>::service(backup).layer(inner));

    inner_handle.allow(0);
    assert!(svc.poll_ready::<ConfigRequest>().is_pending());

    inner_handle.allow(1);
    assert!(svc.is_woken());
    assert!(ready(&mut svc));
}

/// A fallback service that is never ready: its `poll_ready` fails.
#[derive(Clone)]
struct Broken;

impl Service<ConfigRequest> for Broken {
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = std::future::Ready<Result<ConfigResponse, ConfigError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        Poll::Ready(Err(ConfigError::Timeout(Duration::from_secs(7))))
    }

    fn call(&mut self, _: ConfigRequest) -> Self::Future {
        panic!("called without being ready");
    }
}

#[tokio::test(start_paused = true)]
async fn a_broken_fallback_service_does_not_fail_a_healthy_inner_one() {
    let layer = FallbackLayer::service(Broken);
    let primary =
        tower::service_fn(|_: ConfigRequest| async { Ok::<_, ConfigError>(response("primary")) });
    let answer = layer
        .layer(primary)
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(answer.version(), Some("primary"));
    assert_eq!(layer.handle().stats(), FallbackStats::default());

    // When an answer is needed, the fallback's readiness error is its
    // failure.
    let down = tower::service_fn(|_: ConfigRequest| async {
        Err::<ConfigResponse, _>(ConfigError::Timeout(Duration::from_secs(1)))
    });
    let error = layer
        .layer(down)
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap_err();
    assert!(matches!(error, ConfigError::Timeout(d) if d == Duration::from_secs(7)));
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 1,
            passed: 0,
            failed: 1
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_in_flight_holds_none_of_the_fallback_capacity() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let backup = ConcurrencyLimitLayer::new(1).layer(tower::service_fn(
        |request: ConfigRequest| async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, BoxError>(
                ConfigResponse::new("{}", Format::Json).with_version(request.name().to_owned()),
            )
        },
    ));
    let layer = FallbackLayer::service(backup).provenance();
    let mut svc = mock::Spawn::new(layer.layer(inner));

    inner_handle.allow(2);
    assert!(ready(&mut svc));
    let first = tokio::spawn(svc.call(ConfigRequest::new("first")));
    assert!(
        ready(&mut svc),
        "the first call holds the fallback's permit"
    );
    let second = tokio::spawn(svc.call(ConfigRequest::new("second")));

    // Both fail: the fallback answers them one after the other, each call
    // waiting for the permit inside its own future.
    let start = tokio::time::Instant::now();
    for _ in 0..2 {
        let (_, respond) = within(inner_handle.next_request()).await.unwrap();
        respond.send_error("connection refused");
    }
    let (first, second) = tokio::time::timeout(Duration::from_secs(3), async {
        (first.await.unwrap(), second.await.unwrap())
    })
    .await
    .unwrap();
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.version(), Some("first"));
    assert_eq!(second.version(), Some("second"));
    assert_eq!(second.source(), Source::Fallback);
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(layer.handle().used(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failed_call_waits_for_the_fallback_and_calls_the_copy_it_made_ready() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let (backup, mut backup_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let layer = FallbackLayer::<_, _, _>::service(backup).provenance();
    let mut svc = mock::Spawn::new(layer.layer(inner));

    // The mock panics if an instance is called without being polled ready.
    inner_handle.allow(1);
    backup_handle.allow(0);
    assert!(ready(&mut svc));
    let call = tokio::spawn(svc.call(ConfigRequest::new("app")));

    let (request, respond) = within(inner_handle.next_request()).await.unwrap();
    assert_eq!(request.key(), "app");
    respond.send_error("connection refused");
    let waited = tokio::time::timeout(Duration::from_secs(5), backup_handle.next_request()).await;
    assert!(
        waited.is_err(),
        "the fallback was called before it was ready"
    );
    assert!(!call.is_finished());

    backup_handle.allow(1);
    let (request, respond) = within(backup_handle.next_request()).await.unwrap();
    assert_eq!(request.key(), "app");
    respond.send_response(response("backup"));

    let answer = within(call).await.unwrap().unwrap();
    assert_eq!(answer.version(), Some("backup"));
    assert_eq!(answer.source(), Source::Fallback);
    assert_eq!(layer.handle().used(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_readiness_error_of_the_fallback_is_returned_when_an_answer_is_needed() {
    let (inner, mut inner_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let (backup, mut backup_handle) = mock::pair::<ConfigRequest, ConfigResponse>();
    let layer = FallbackLayer::<_, _, _>::service(backup);
    let mut svc = mock::Spawn::new(layer.layer(inner));

    inner_handle.allow(1);
    backup_handle.send_error("backup unreachable");
    assert!(ready(&mut svc));
    let call = tokio::spawn(svc.call(ConfigRequest::new("app")));
    let (_, respond) = within(inner_handle.next_request()).await.unwrap();
    respond.send_error("connection refused");

    let error = within(call).await.unwrap().unwrap_err();
    assert_eq!(error.to_string(), "backup unreachable");
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 1,
            passed: 0,
            failed: 1
        }
    );
}
