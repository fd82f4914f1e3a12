//! Server pushback: `Retry-After` honoured and capped, open circuits
//! retried only when they half-open before the next delay.

mod support;

use std::time::{Duration, SystemTime};

use http::{HeaderValue, Response, StatusCode};
use steadfast_core::CircuitOpen;
use steadfast_retry::http::{HttpPolicy, is_retryable_status, parse_retry_after, retry_after};
use steadfast_retry::{Action, Attempt, Backoff, Jitter, Policy, RetryLayer};
use support::{Recorder, Script, TestError, millis, secs};
use tower::{Layer, ServiceExt};

fn builder() -> steadfast_retry::RetryLayerBuilder {
    RetryLayer::builder()
        .max_attempts(3)
        .backoff(
            Backoff::constant(secs(1))
                .with_max(secs(10))
                .with_jitter(Jitter::None),
        )
        .without_budget()
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_is_honoured() {
    let recorder = Recorder::default();
    let layer = builder().on_event(recorder.listener()).build().unwrap();
    let script = Script::new([Err(TestError::After(secs(4)))]);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Ok("ok"));
    assert_eq!(script.times(), [secs(0), secs(4)]);
    assert_eq!(recorder.lines(), ["retrying 1 in 4s: retry after 4s"]);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_is_capped_at_the_max_delay() {
    let layer = builder().build().unwrap();
    let script = Script::new([Err(TestError::After(secs(3600)))]);

    layer.layer(script.clone()).oneshot("config").await.unwrap();

    assert_eq!(script.times(), [secs(0), secs(10)]);
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_that_half_opens_before_the_next_delay_is_waited_for() {
    let layer = builder().build().unwrap();
    let script = Script::new([Err(TestError::Open(CircuitOpen::new(millis(300))))]);

    layer.layer(script.clone()).oneshot("config").await.unwrap();

    assert_eq!(script.times(), [secs(0), millis(300)]);
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_that_stays_open_past_the_next_delay_is_not_retried() {
    let layer = builder().build().unwrap();
    let open = TestError::Open(CircuitOpen::new(secs(5)));
    let script = Script::new([Err(open.clone())]);

    let result = layer.layer(script.clone()).oneshot("config").await;

    assert_eq!(result, Err(open));
    assert_eq!(script.count(), 1);
}

#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let header = |text: &'static str| HeaderValue::from_static(text);
    assert_eq!(parse_retry_after(&header("0"), now), Some(secs(0)));
    assert_eq!(parse_retry_after(&header(" 30 "), now), Some(secs(30)));
    let later = httpdate::fmt_http_date(now + secs(90));
    let later = HeaderValue::from_str(&later).unwrap();
    assert_eq!(parse_retry_after(&later, now), Some(secs(90)));
    let earlier = HeaderValue::from_str(&httpdate::fmt_http_date(now - secs(90))).unwrap();
    assert_eq!(parse_retry_after(&earlier, now), Some(secs(0)));
    assert_eq!(parse_retry_after(&header("-5"), now), None);
    assert_eq!(parse_retry_after(&header("1.5"), now), None);
    assert_eq!(parse_retry_after(&header(""), now), None);
}

fn response(status: u16, retry_after: Option<&'static str>) -> Response<()> {
    let mut builder = Response::builder().status(status);
    if let Some(value) = retry_after {
        builder = builder.header(http::header::RETRY_AFTER, value);
    }
    builder.body(()).unwrap()
}

#[test]
fn the_http_policy_retries_retryable_statuses_after_their_retry_after() {
    let attempt = Attempt::first();
    let classify =
        |r: &Response<()>| Policy::<_, TestError>::classify(&HttpPolicy, Ok(r), &attempt);
    assert_eq!(
        classify(&response(503, Some("7"))),
        Action::RetryAfter(secs(7))
    );
    assert_eq!(classify(&response(429, None)), Action::Retry);
    assert_eq!(classify(&response(200, Some("7"))), Action::Stop);
    assert_eq!(classify(&response(404, None)), Action::Stop);
    assert_eq!(
        retry_after(response(503, Some("12")).headers()),
        Some(secs(12))
    );
    assert!(is_retryable_status(StatusCode::BAD_GATEWAY));
    assert!(!is_retryable_status(StatusCode::NOT_IMPLEMENTED));
    assert!(!is_retryable_status(StatusCode::BAD_REQUEST));
}

#[tokio::test(start_paused = true)]
async fn the_http_policy_retries_a_503_response_through_the_layer() {
    let layer = builder().policy(HttpPolicy).build().unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = calls.clone();
    let service = tower::service_fn(move |_: &'static str| {
        let call = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            Ok::<_, TestError>(if call == 0 {
                response(503, Some("2"))
            } else {
                response(200, None)
            })
        }
    });
    let start = tokio::time::Instant::now();

    let answer = layer.layer(service).oneshot("config").await.unwrap();

    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(start.elapsed(), secs(2));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_too_large_for_a_u64_waits_the_max_delay() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let huge = HeaderValue::from_static("99999999999999999999999999");
    assert_eq!(
        parse_retry_after(&huge, now),
        Some(Duration::from_secs(u64::MAX))
    );

    let layer = builder().policy(HttpPolicy).build().unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = calls.clone();
    let service = tower::service_fn(move |_: &'static str| {
        let call = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            Ok::<_, TestError>(if call == 0 {
                response(503, Some("99999999999999999999999999"))
            } else {
                response(200, None)
            })
        }
    });
    let start = tokio::time::Instant::now();

    let answer = layer.layer(service).oneshot("config").await.unwrap();

    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(start.elapsed(), secs(10));
}
