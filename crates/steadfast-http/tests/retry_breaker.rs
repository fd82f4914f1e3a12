//! `StatusClassifier` and `copy_request` with the retry and breaker
//! layers, over a real loopback server: failing statuses retried (after
//! their `Retry-After`), counted against the circuit, bodies copied.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::Full;
use steadfast_breaker::{CircuitBreakerLayer, State};
use steadfast_core::Failure;
use steadfast_http::{BufferLayer, BufferedResponse, HttpError, StatusClassifier, copy_request};
use steadfast_retry::{Action, Attempt, Backoff, Event, Jitter, Policy, RetryLayer};
use support::{Reply, Server, hyper_client};
use tower::{ServiceBuilder, ServiceExt};

fn answers() -> BufferLayer {
    BufferLayer::builder()
        .statuses(StatusClassifier::none())
        .build()
        .unwrap()
}

/// The retry events, as (attempt, delay) for retries and deadline stops.
type Log = Arc<Mutex<Vec<(&'static str, u32, Duration)>>>;

fn retry(log: &Log) -> steadfast_retry::RetryLayerBuilder {
    let log = log.clone();
    RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)).with_jitter(Jitter::None))
        .without_budget()
        .on_event(move |event: &Event<'_>| {
            let entry = match *event {
                Event::Retrying { attempt, delay, .. } => ("retrying", attempt, delay),
                Event::DeadlineReached { attempt, delay } => ("deadline", attempt, delay),
                Event::Exhausted { attempt } => ("exhausted", attempt, Duration::ZERO),
                _ => ("other", 0, Duration::ZERO),
            };
            log.lock().unwrap().push(entry);
        })
}

#[tokio::test]
async fn the_policy_reads_real_responses() {
    let server = Server::start(|seen, _| match seen.path_and_query.as_str() {
        "/busy" => Reply::status(503).header("retry-after", "7"),
        "/unimplemented" => Reply::status(501),
        "/gone" => Reply::status(410),
        _ => Reply::ok("fine"),
    })
    .await;
    let client = ServiceBuilder::new()
        .layer(answers())
        .service(hyper_client::<Full<Bytes>>());
    let first = Attempt::first();
    for (path, action) in [
        ("/busy", Action::RetryAfter(Duration::from_secs(7))),
        ("/unimplemented", Action::Stop),
        ("/gone", Action::Stop),
        ("/ok", Action::Stop),
    ] {
        let request = http::Request::get(server.url(path))
            .body(Full::default())
            .unwrap();
        let response = client.clone().oneshot(request).await.unwrap();
        let result: Result<&BufferedResponse, &HttpError> = Ok(&response);
        assert_eq!(
            StatusClassifier::new().classify(result, &first),
            action,
            "{path}"
        );
    }
    let refused = HttpError::transport("refused");
    let result: Result<&BufferedResponse, &HttpError> = Err(&refused);
    assert_eq!(
        StatusClassifier::new().classify(result, &first),
        Action::Retry
    );
}

#[tokio::test]
async fn a_failing_status_is_retried_until_it_passes() {
    // 503, 503, then 200: as responses (the policy) and as errors (the
    // buffer's default, retried by the default policy).
    for as_errors in [false, true] {
        let server = Server::start(|_, n| {
            if n < 2 {
                Reply::status(503)
            } else {
                Reply::ok("back")
            }
        })
        .await;
        let log = Log::default();
        let client = hyper_client::<Full<Bytes>>();
        let request = http::Request::get(server.url("/app"))
            .body(Full::default())
            .unwrap();
        let response = if as_errors {
            ServiceBuilder::new()
                .layer(
                    retry(&log)
                        .clone_request_with(copy_request)
                        .build()
                        .unwrap(),
                )
                .layer(BufferLayer::new())
                .service(client)
                .oneshot(request)
                .await
                .unwrap()
        } else {
            ServiceBuilder::new()
                .layer(
                    retry(&log)
                        .policy(StatusClassifier::new())
                        .clone_request_with(copy_request)
                        .build()
                        .unwrap(),
                )
                .layer(answers())
                .service(client)
                .oneshot(request)
                .await
                .unwrap()
        };
        assert_eq!(response.text().unwrap(), "back");
        assert_eq!(server.count(), 3);
        let ms = Duration::from_millis(1);
        assert_eq!(
            *log.lock().unwrap(),
            [("retrying", 1, ms), ("retrying", 2, ms)]
        );
    }
}

#[tokio::test]
async fn retry_after_is_the_delay() {
    // A deadline shorter than the server's Retry-After: the layer stops at
    // once, and says which delay the retry needed.
    for as_errors in [false, true] {
        let server = Server::always(Reply::status(429).header("retry-after", "7")).await;
        let log = Log::default();
        let client = hyper_client::<Full<Bytes>>();
        let request = http::Request::get(server.url("/app"))
            .body(Full::default())
            .unwrap();
        let builder = retry(&log)
            .backoff(
                Backoff::constant(Duration::from_millis(1))
                    .with_jitter(Jitter::None)
                    .with_max(Duration::from_secs(60)),
            )
            .deadline(Duration::from_secs(1));
        let status = if as_errors {
            let error = ServiceBuilder::new()
                .layer(builder.clone_request_with(copy_request).build().unwrap())
                .layer(BufferLayer::new())
                .service(client)
                .oneshot(request)
                .await
                .unwrap_err();
            assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
            error.status().unwrap()
        } else {
            ServiceBuilder::new()
                .layer(
                    builder
                        .policy(StatusClassifier::new())
                        .clone_request_with(copy_request)
                        .build()
                        .unwrap(),
                )
                .layer(answers())
                .service(client)
                .oneshot(request)
                .await
                .unwrap()
                .status()
        };
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(server.count(), 1);
        assert_eq!(
            *log.lock().unwrap(),
            [("deadline", 1, Duration::from_secs(7))]
        );
    }
}

#[tokio::test]
async fn the_breaker_counts_failing_statuses() {
    let server = Server::start(|seen, _| match seen.path_and_query.as_str() {
        "/missing" => Reply::status(404),
        "/unimplemented" => Reply::status(501),
        _ => Reply::status(502),
    })
    .await;
    let breaker = CircuitBreakerLayer::builder()
        .consecutive_failures(2)
        .open_duration(Duration::from_secs(60))
        .classifier(StatusClassifier::new())
        .build()
        .unwrap();
    let handle = breaker.handle();
    let svc = ServiceBuilder::new()
        .layer(breaker)
        .layer(answers())
        .service(hyper_client::<Full<Bytes>>());
    let get = |path: &str| {
        svc.clone().oneshot(
            http::Request::get(server.url(path))
                .body(Full::default())
                .unwrap(),
        )
    };
    assert_eq!(get("/bad").await.unwrap().status(), StatusCode::BAD_GATEWAY);
    // A 404 is an answer: it ends the streak. A 501 is ignored.
    assert_eq!(
        get("/missing").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get("/bad").await.unwrap().status(), StatusCode::BAD_GATEWAY);
    assert_eq!(
        get("/unimplemented").await.unwrap().status(),
        StatusCode::NOT_IMPLEMENTED
    );
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(get("/bad").await.unwrap().status(), StatusCode::BAD_GATEWAY);
    assert_eq!(handle.state(), State::Open);
    let rejected = get("/bad").await.unwrap_err();
    assert!(rejected.circuit_open().is_some(), "{rejected:?}");
    assert!(matches!(rejected, HttpError::CircuitOpen(_)));
    assert_eq!(server.count(), 5);
}

#[tokio::test]
async fn a_copied_request_carries_its_body_and_headers() {
    let server = Server::start(|_, n| {
        if n == 0 {
            Reply::status(503)
        } else {
            Reply::ok("done")
        }
    })
    .await;
    let log = Log::default();
    let svc = ServiceBuilder::new()
        .layer(
            retry(&log)
                .clone_request_with(copy_request)
                .build()
                .unwrap(),
        )
        .layer(BufferLayer::new())
        .service(hyper_client::<Full<Bytes>>());
    let request = http::Request::post(server.url("/items?x=1"))
        .header("content-type", "application/json")
        .header("x-request-id", "42")
        .body(Full::new(Bytes::from_static(br#"{"name":"a"}"#)))
        .unwrap();
    assert_eq!(svc.oneshot(request).await.unwrap().text().unwrap(), "done");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.path_and_query, "/items?x=1");
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["x-request-id"], "42");
        assert_eq!(request.body, Bytes::from_static(br#"{"name":"a"}"#));
    }
}
