//! Classifiers: an `Ok` that is a failure, results that are ignored.

mod support;

use steadfast_breaker::{CircuitBreakerLayer, Outcome, State};
use steadfast_core::{BoxError, CircuitOpen};
use support::*;
use tokio::time::advance;
use tower::{Layer, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn an_ok_response_can_be_a_failure() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(2)
        .classifier(|result: Result<&u16, &BoxError>| match result {
            Ok(status) if *status >= 500 => Outcome::Failure,
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(|status: u16| async move {
        Ok::<_, BoxError>(status)
    }));

    assert_eq!(svc.clone().oneshot(503).await.unwrap(), 503);
    assert_eq!(handle.consecutive_failures(), 1);
    assert_eq!(svc.clone().oneshot(200).await.unwrap(), 200);
    assert_eq!(handle.consecutive_failures(), 0);
    svc.clone().oneshot(503).await.unwrap();
    svc.clone().oneshot(502).await.unwrap();
    assert_eq!(handle.state(), State::Open);
    let error = svc.clone().oneshot(200).await.unwrap_err();
    assert!(error.downcast_ref::<CircuitOpen>().is_some());
    assert_eq!(handle.counters().failures, 3);
}

fn ignoring_not_found(result: Result<&u16, &TestError>) -> Outcome {
    match result {
        Ok(404) => Outcome::Ignored,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

/// Answers with the status asked for; 5xx statuses are errors.
async fn status_service(status: u16) -> Result<u16, TestError> {
    if status >= 500 {
        Err(TestError::Inner)
    } else {
        Ok(status)
    }
}

#[tokio::test(start_paused = true)]
async fn ignored_results_neither_break_nor_extend_a_streak() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(2)
        .classifier(ignoring_not_found)
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(status_service));

    svc.clone().oneshot(500).await.unwrap_err();
    svc.clone().oneshot(404).await.unwrap();
    assert_eq!(handle.consecutive_failures(), 1);
    svc.clone().oneshot(500).await.unwrap_err();
    assert_eq!(handle.state(), State::Open);
    let counters = handle.counters();
    assert_eq!(
        (counters.calls, counters.ignored, counters.successes),
        (3, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn an_ignored_probe_gives_its_permit_back() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .open_duration(secs(1))
        .classifier(ignoring_not_found)
        .build()
        .unwrap();
    let handle = layer.handle();
    let svc = layer.layer(service_fn(status_service));

    svc.clone().oneshot(500).await.unwrap_err();
    advance(secs(1)).await;
    assert_eq!(svc.clone().oneshot(404).await, Ok(404));
    assert_eq!(handle.state(), State::HalfOpen);
    assert_eq!(svc.clone().oneshot(200).await, Ok(200));
    assert_eq!(handle.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_user_error_type_composes() {
    // The inner error only needs `From<CircuitOpen>`.
    let layer = CircuitBreakerLayer::builder().build().unwrap();
    let svc = layer.layer(service_fn(|x: u8| async move { Ok::<_, TestError>(x) }));
    assert_eq!(svc.oneshot(7).await, Ok(7));
}
