//! The steadfast layers around a plain hyper client, with no config types
//! involved: `http::Request` in, a cloneable `Page` (status and body) out.
//!
//! ```text
//! Fallback -> Cache -> (5xx becomes an error) -> Retry -> CircuitBreaker -> Timeout -> hyper client
//! ```
//!
//! A loopback server (`support/flaky_http.rs`) answers 503 to every 4th
//! request and stalls every 11th past the time limit; the retry policy and
//! the breaker's classifier count a 5xx as a failure. Then the server goes
//! down (stale values and the fallback answer, the circuit opens), and comes
//! back (a probe closes the circuit).
//!
//! ```text
//! cargo run --example wrap_hyper
//! ```

#[path = "support/flaky_http.rs"]
mod flaky_http;

use std::error::Error;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use flaky_http::{Handles, Page};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::breaker::{CircuitBreakerLayer, Outcome};
use steadfast::cache::{CacheLayer, HttpKey, MethodUri};
use steadfast::core::{CircuitOpen, Failure, SharedError, Source, TimedOut};
use steadfast::fallback::FallbackLayer;
use steadfast::retry::http::is_retryable_status;
use steadfast::retry::policy::classify_failure;
use steadfast::retry::{Action, Attempt, Backoff, Jitter, RetryLayer};
use steadfast::timeout::TimeoutLayer;
use tower::{ServiceBuilder, service_fn};

/// Every way a fetch fails, as one error type of our own.
#[derive(Debug)]
enum FetchError {
    Connect(hyper_util::client::legacy::Error),
    Body(hyper::Error),
    Status(StatusCode),
    TimedOut(TimedOut),
    CircuitOpen(CircuitOpen),
    Shared(SharedError),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Connect(e) => write!(f, "request failed: {e}"),
            FetchError::Body(e) => write!(f, "reading the body failed: {e}"),
            FetchError::Status(status) => write!(f, "server answered {status}"),
            FetchError::TimedOut(e) => e.fmt(f),
            FetchError::CircuitOpen(e) => e.fmt(f),
            FetchError::Shared(e) => e.fmt(f),
        }
    }
}

impl Error for FetchError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FetchError::Connect(e) => Some(e),
            FetchError::Body(e) => Some(e),
            FetchError::TimedOut(e) => Some(e),
            FetchError::CircuitOpen(e) => Some(e),
            FetchError::Shared(e) => Some(e),
            FetchError::Status(_) => None,
        }
    }
}

impl Failure for FetchError {
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Status(status) => is_retryable_status(*status),
            FetchError::Shared(e) => e.is_transient(),
            _ => true,
        }
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        match self {
            FetchError::CircuitOpen(open) => Some(open),
            _ => None,
        }
    }
}

impl From<TimedOut> for FetchError {
    fn from(e: TimedOut) -> Self {
        FetchError::TimedOut(e)
    }
}

impl From<CircuitOpen> for FetchError {
    fn from(e: CircuitOpen) -> Self {
        FetchError::CircuitOpen(e)
    }
}

impl From<SharedError> for FetchError {
    fn from(e: SharedError) -> Self {
        FetchError::Shared(e)
    }
}

/// Retry a retryable status (a 503) like a transient error.
fn retry_policy(result: Result<&Page, &FetchError>, _: &Attempt) -> Action {
    match result {
        Ok(page) if is_retryable_status(page.status) => Action::Retry,
        Ok(_) => Action::Stop,
        Err(error) => classify_failure(error),
    }
}

/// A 5xx is a failure of the server, whatever the transport says.
fn breaker_classifier(result: Result<&Page, &FetchError>) -> Outcome {
    match result {
        Ok(page) if page.status.is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

/// What retries left as a 5xx is an error for the cache (never stored) and
/// the fallback (which answers it).
fn server_error_is_error(result: Result<Page, FetchError>) -> Result<Page, FetchError> {
    match result {
        Ok(page) if page.status.is_server_error() => Err(FetchError::Status(page.status)),
        other => other,
    }
}

/// `http::Request` is not `Clone`: copy one for each attempt.
fn copy_request(req: &Request<Empty<Bytes>>) -> Option<Request<Empty<Bytes>>> {
    let mut copy = Request::new(Empty::new());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let fetch = service_fn(move |req: Request<Empty<Bytes>>| {
        let client = client.clone();
        async move {
            let response = client.request(req).await.map_err(FetchError::Connect)?;
            let status = response.status();
            let body = response.into_body().collect().await;
            let body = body.map_err(FetchError::Body)?.to_bytes();
            Ok::<_, FetchError>(Page {
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
