//! The steadfast layers around a reqwest client, with no config types
//! involved: `http::Request` in, a cloneable `Page` (status and body) out.
//!
//! ```text
//! Fallback -> Cache -> (5xx becomes an error) -> Retry -> CircuitBreaker -> Timeout -> reqwest::Client
//! ```
//!
//! `reqwest::Client` is a `tower::Service<reqwest::Request>`; a small
//! `service_fn` turns an `http::Request` into one and collects the answer.
//! The error type here is tower's `BoxError`, which every layer accepts as
//! well as an error type of your own (see `wrap_hyper`).
//!
//! A loopback server (`support/flaky_http.rs`) answers 503 to every 4th
//! request and stalls every 11th past the time limit; the retry policy and
//! the breaker's classifier count a 5xx as a failure. Then the server goes
//! down (stale values and the fallback answer, the circuit opens), and comes
//! back (a probe closes the circuit).
//!
//! ```text
//! cargo run --example wrap_reqwest
//! ```

#[path = "support/flaky_http.rs"]
mod flaky_http;

use std::error::Error;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use flaky_http::{Handles, Page};
use http::{Request, StatusCode};
use steadfast::breaker::{CircuitBreakerLayer, Outcome};
use steadfast::cache::{CacheLayer, HttpKey, MethodUri};
use steadfast::core::{BoxError, Source};
use steadfast::fallback::FallbackLayer;
use steadfast::retry::http::is_retryable_status;
use steadfast::retry::policy::classify_failure;
use steadfast::retry::{Action, Attempt, Backoff, Jitter, RetryLayer};
use steadfast::timeout::TimeoutLayer;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// A 5xx that retries could not get past.
#[derive(Debug)]
struct ServerError(StatusCode);

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server answered {}", self.0)
    }
}

impl Error for ServerError {}

/// Retry a retryable status (a 503) like a transient error.
fn retry_policy(result: Result<&Page, &BoxError>, _: &Attempt) -> Action {
    match result {
        Ok(page) if is_retryable_status(page.status) => Action::Retry,
        Ok(_) => Action::Stop,
        Err(error) => classify_failure(error),
    }
}

/// A 5xx is a failure of the server, whatever the transport says.
fn breaker_classifier(result: Result<&Page, &BoxError>) -> Outcome {
    match result {
        Ok(page) if page.status.is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

/// What retries left as a 5xx is an error for the cache (never stored) and
/// the fallback (which answers it).
fn server_error_is_error(result: Result<Page, BoxError>) -> Result<Page, BoxError> {
    match result {
        Ok(page) if page.status.is_server_error() => Err(ServerError(page.status).into()),
        other => other,
    }
}

/// `http::Request` is not `Clone`: copy one for each attempt.
fn copy_request(req: &Request<Bytes>) -> Option<Request<Bytes>> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let client = reqwest::Client::builder().no_proxy().build()?;
    let fetch = service_fn(move |req: Request<Bytes>| {
        let client = client.clone();
        async move {
            let req = reqwest::Request::try_from(req)?;
            let response = client.oneshot(req).await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, BoxError>(Page {
                status,
                body,
                source: Source::Origin,
            })
        }
    });

    let cache = CacheLayer::builder()
        .key_fn(MethodUri)
        .ttl(Duration::from_millis(200))
        .stale_if_error(Duration::from_secs(30))
        .provenance()
        .build::<HttpKey>()?;
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::exponential(Duration::from_millis(20), 2.0).with_jitter(Jitter::Full))
        .policy(retry_policy)
        .clone_request_with(copy_request)
        .build()?;
    let breaker = CircuitBreakerLayer::builder()
        .consecutive_failures(4)
        .open_duration(Duration::from_millis(500))
        .classifier(breaker_classifier)
        .build()?;
    let fallback = FallbackLayer::value(Page {
        status: StatusCode::OK,
        body: Bytes::from_static(br#"{"default":true}"#),
        source: Source::Fallback,
    })
    .provenance();
    let handles = Handles {
        cache: cache.handle(),
        retry: retry.handle(),
        breaker: breaker.handle(),
        fallback: fallback.handle(),
    };

    let service = ServiceBuilder::new()
        .layer(fallback)
        .layer(cache)
        .map_result(server_error_is_error)
        .layer(retry)
        .layer(breaker)
        .layer(TimeoutLayer::new(Duration::from_millis(300)))
        .service(fetch);

    flaky_http::demo(service, handles).await?;
    Ok(())
}
