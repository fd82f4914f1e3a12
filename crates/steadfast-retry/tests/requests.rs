//! Requests are copied per attempt through a hook; one that cannot be copied
//! is sent once.

mod support;

use steadfast_retry::{Backoff, Jitter, RetryLayer};
use support::{Script, TestError, secs};
use tower::{Layer, ServiceExt};

/// A request that is not `Clone`.
#[derive(Debug, PartialEq)]
struct Body(String);

fn layer_builder() -> steadfast_retry::RetryLayerBuilder {
    RetryLayer::builder()
        .max_attempts(4)
        .backoff(Backoff::constant(secs(1)).with_jitter(Jitter::None))
}

#[tokio::test(start_paused = true)]
async fn a_request_that_cannot_be_copied_is_sent_once() {
    let layer = layer_builder()
        .clone_request_with(|_: &Body| None)
        .build()
        .unwrap();
    let script = Script::<Body>::failing(3);

    let result = layer
        .layer(script.clone())
        .oneshot(Body("once".into()))
        .await;

    assert_eq!(result, Err(TestError::Transient(1)));
    assert_eq!(script.count(), 1);
    let stats = layer.handle().stats();
    assert_eq!((stats.attempts, stats.retries, stats.exhausted), (1, 0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_copy_function_makes_a_request_retryable() {
    let layer = layer_builder()
        .clone_request_with(|body: &Body| Some(Body(body.0.clone())))
        .build()
        .unwrap();
    let script = Script::<Body>::failing(2);

    let result = layer
        .layer(script.clone())
        .oneshot(Body("again".into()))
        .await;

    assert_eq!(result, Ok("ok"));
    assert_eq!(script.count(), 3);
    let sent: Vec<String> = script.calls_map(|body: &Body| body.0.clone());
    assert_eq!(sent, ["again", "again", "again"]);
}

#[tokio::test(start_paused = true)]
async fn a_copy_function_may_decline_later_attempts() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    let copies = Arc::new(AtomicU32::new(0));
    let counter = copies.clone();
    let layer = layer_builder()
        .clone_request_with(move |body: &Body| {
            (counter.fetch_add(1, Ordering::SeqCst) < 1).then(|| Body(body.0.clone()))
        })
        .build()
        .unwrap();
    let script = Script::<Body>::failing(3);

    let result = layer
        .layer(script.clone())
        .oneshot(Body("twice".into()))
        .await;

    assert_eq!(result, Err(TestError::Transient(2)));
    assert_eq!(script.count(), 2);
    assert_eq!(copies.load(Ordering::SeqCst), 2);
}
