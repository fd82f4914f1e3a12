//! The total deadline counts attempts and delays, and stops retries early.

mod support;

use std::time::Duration;

use steadfast_retry::{Backoff, Jitter, RetryLayer};
use support::{Recorder, Script, TestError, millis, secs};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

fn builder() -> steadfast_retry::RetryLayerBuilder {
    RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(secs(1)).with_jitter(Jitter::None))
        .without_budget()
}

#[tokio::test(start_paused = true)]
async fn no_retry_starts_past_the_deadline() {
    let recorder = Recorder::default();
    let layer = builder()
        .deadline(millis(2500))
        .on_event(recorder.listener())
        .build()
        .unwrap();
    let script = Script::failing(10);
    let start = Instant::now();

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Err(TestError::Transient(3)));
    assert_eq!(script.times(), [secs(0), secs(1), secs(2)]);
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(recorder.lines().last().unwrap(), "deadline reached 3 (1s)");
    let stats = layer.handle().stats();
    assert_eq!(
        (stats.retries, stats.deadline_reached, stats.exhausted),
        (2, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn the_time_spent_in_attempts_counts() {
    let layer = builder().deadline(millis(3500)).build().unwrap();
    // Each attempt takes 1 s, each wait 1 s: attempts start at 0 s and 2 s;
    // a third would start at 4 s, past the deadline.
    let script = Script::failing(10).with_latency(secs(1));
    let start = Instant::now();

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Err(TestError::Transient(2)));
    assert_eq!(script.times(), [secs(0), secs(2)]);
    assert_eq!(start.elapsed(), secs(3));
}

#[tokio::test(start_paused = true)]
async fn a_retry_that_ends_exactly_at_the_deadline_is_made() {
    let layer = builder().deadline(secs(2)).build().unwrap();
    let script = Script::failing(10);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Err(TestError::Transient(3)));
    assert_eq!(script.times(), [secs(0), secs(1), secs(2)]);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_too_long_to_add_to_the_clock_does_not_panic() {
    let layer = builder().deadline(Duration::MAX).build().unwrap();
    let script = Script::failing(2);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Ok("ok"));
    assert_eq!(script.times(), [secs(0), secs(1), secs(2)]);
}

#[tokio::test(start_paused = true)]
async fn a_delay_too_long_to_add_to_the_clock_ends_past_the_deadline() {
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .backoff(
            Backoff::constant(secs(1))
                .with_max(Duration::MAX)
                .with_jitter(Jitter::None),
        )
        .without_budget()
        .deadline(secs(10))
        .build()
        .unwrap();
    let script = Script::new([Err(TestError::After(Duration::MAX))]);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Err(TestError::After(Duration::MAX)));
    assert_eq!(script.count(), 1);
    assert_eq!(layer.handle().stats().deadline_reached, 1);
}
