//! The steadfast layers around a plain hyper-util client, with no config
//! types involved: `http::Request` in, a cloneable `BufferedResponse` out,
//! through the HTTP kit (`steadfast::http`, feature `http-kit`), whose
//! `HttpError` every layer accepts as its error type.
//!
//! ```text
//! Fallback -> Cache -> Retry -> CircuitBreaker -> Timeout -> Buffer -> hyper client
//! ```
//!
//! Here the statuses stay answers (`StatusClassifier::none()` in the
//! buffer) and the same `StatusClassifier` is the retry policy (a 503 is
//! retried after its `Retry-After`) and the breaker's classifier (a 5xx is
//! a failure); a `map_result` above the retries turns what is left of a 5xx
//! into an error, so the cache never stores it and the fallback answers it.
//! `wrap_reqwest` shows the other way: failing statuses as errors from the
//! buffer.
//!
//! A loopback server (`support/flaky_http.rs`) answers 503 to every 4th
//! request and stalls every 11th past the time limit. Then the server goes
//! down (stale values and the fallback answer, the circuit opens), and comes
//! back (a probe closes the circuit).
//!
//! ```text
//! cargo run --example wrap_hyper --features http-kit
//! ```

#[path = "support/flaky_http.rs"]
mod flaky_http;

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use flaky_http::Handles;
use http::{HeaderMap, StatusCode};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayer;
use steadfast::core::Source;
use steadfast::fallback::FallbackLayer;
use steadfast::http::{
    BufferLayer, BufferedResponse, HttpError, RequestKey, StatusClassifier, copy_request,
};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::timeout::TimeoutLayer;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let statuses = StatusClassifier::new();

    let cache = CacheLayer::builder()
        .key_fn(RequestKey::new())
        .store_if(BufferedResponse::is_storable)
        .ttl(Duration::from_millis(200))
        .stale_if_error(Duration::from_secs(30))
        .provenance()
        .build()?;
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::exponential(Duration::from_millis(20), 2.0).with_jitter(Jitter::Full))
        .policy(statuses)
        .clone_request_with(copy_request)
        .build()?;
    let breaker = CircuitBreakerLayer::builder()
        .consecutive_failures(4)
        .open_duration(Duration::from_millis(500))
        .classifier(statuses)
        .build()?;
    let default = BufferedResponse::new(StatusCode::OK, HeaderMap::new(), r#"{"default":true}"#)
        .with_source(Source::Fallback);
    let fallback = FallbackLayer::value(default).provenance();
    let handles = Handles {
        cache: cache.handle(),
        retry: retry.handle(),
        breaker: breaker.handle(),
        fallback: fallback.handle(),
    };
    let answers = BufferLayer::builder()
        .statuses(StatusClassifier::none())
        .build()?;

    let service = ServiceBuilder::new()
        .layer(fallback)
        .layer(cache)
        .map_result(move |result: Result<BufferedResponse, HttpError>| {
            result.and_then(|response| statuses.check(response))
        })
        .layer(retry)
        .layer(breaker)
        .layer(TimeoutLayer::new(Duration::from_millis(300)))
        .layer(answers)
        .service(client);

    flaky_http::demo(service, handles).await?;
    Ok(())
}
