//! Attempts: how many, what comes back, what is counted and told.

mod support;

use steadfast_retry::{Backoff, Jitter, RetryLayer, RetryStats};
use support::{Recorder, Script, TestError, secs};
use tower::{Layer, Service, ServiceExt};

fn constant(delay_secs: u64) -> Backoff {
    Backoff::constant(secs(delay_secs)).with_jitter(Jitter::None)
}

#[tokio::test(start_paused = true)]
async fn exhausted_attempts_return_the_last_error() {
    let recorder = Recorder::default();
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .backoff(constant(1))
        .on_event(recorder.listener())
        .build()
        .unwrap();
    let script = Script::failing(5);
    let service = layer.layer(script.clone());

    let result = service.oneshot("config").await;

    assert_eq!(result, Err(TestError::Transient(3)));
    assert_eq!(script.times(), [secs(0), secs(1), secs(2)]);
    assert_eq!(
        recorder.lines(),
        [
            "retrying 1 in 1s: transient failure 1",
            "retrying 2 in 1s: transient failure 2",
            "exhausted 3",
        ]
    );
    let stats = layer.handle().stats();
    assert_eq!(
        (
            stats.requests,
            stats.attempts,
            stats.retries,
            stats.exhausted
        ),
        (1, 3, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_after_failures_is_returned() {
    let layer = RetryLayer::builder()
        .max_attempts(5)
        .backoff(constant(1))
        .build()
        .unwrap();
    let script = Script::failing(2);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Ok("ok"));
    assert_eq!(script.count(), 3);
    assert_eq!(script.requests(), ["config"; 3]);
    let stats = layer.handle().stats();
    assert_eq!((stats.attempts, stats.retries, stats.exhausted), (3, 2, 0));
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_success_is_not_retried_and_tells_nothing() {
    let recorder = Recorder::default();
    let layer = RetryLayer::builder()
        .on_event(recorder.listener())
        .build()
        .unwrap();
    let script = Script::new([]);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Ok("ok"));
    assert_eq!(script.count(), 1);
    assert!(recorder.lines().is_empty());
    let mut expected = RetryStats::default();
    expected.requests = 1;
    expected.attempts = 1;
    assert_eq!(layer.handle().stats(), expected);
}

#[tokio::test(start_paused = true)]
async fn a_non_retryable_error_passes_straight_through() {
    let recorder = Recorder::default();
    let layer = RetryLayer::builder()
        .max_attempts(5)
        .on_event(recorder.listener())
        .build()
        .unwrap();
    let script = Script::new([Err(TestError::Fatal)]);
    let start = tokio::time::Instant::now();

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Err(TestError::Fatal));
    assert_eq!(start.elapsed(), secs(0));
    assert_eq!(script.count(), 1);
    assert!(recorder.lines().is_empty());
    let stats = layer.handle().stats();
    assert_eq!((stats.attempts, stats.retries, stats.exhausted), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn one_attempt_means_no_retry() {
    let layer = RetryLayer::builder().max_attempts(1).build().unwrap();
    let script = Script::failing(1);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Err(TestError::Transient(1)));
    assert_eq!(script.count(), 1);
    assert_eq!(layer.handle().stats().exhausted, 1);
}

#[tokio::test(start_paused = true)]
async fn counters_are_shared_by_clones_and_services_of_one_layer() {
    let layer = RetryLayer::builder().backoff(constant(1)).build().unwrap();
    let mut first = layer.layer(Script::failing(1));
    let second = first.clone();
    let third = layer.layer(Script::failing(1));

    first.ready().await.unwrap().call("a").await.unwrap();
    second.oneshot("b").await.unwrap();
    third.oneshot("c").await.unwrap();

    let stats = first.handle().stats();
    assert_eq!((stats.requests, stats.attempts, stats.retries), (3, 5, 2));
    assert_eq!(layer.handle().stats(), stats);
}

#[tokio::test(start_paused = true)]
async fn a_request_outliving_its_layer_keeps_its_retries() {
    let layer = RetryLayer::builder().backoff(constant(1)).build().unwrap();
    let script = Script::failing(5);
    let mut service = layer.layer(script.clone());
    service.ready().await.unwrap();
    let future = service.call("config");
    drop((service, layer));

    assert_eq!(future.await, Err(TestError::Transient(3)));
    assert_eq!(script.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_one_shot_call_through_an_inline_stack_is_retried() {
    let script = Script::failing(2);
    // The layer is gone once the service is made, and the service once
    // `oneshot` has called it.
    let service = RetryLayer::builder()
        .backoff(constant(1))
        .build()
        .unwrap()
        .layer(script.clone());
    let answer = service.oneshot("config").await;
    assert!(answer.is_ok());
    assert_eq!(script.count(), 3);
}
