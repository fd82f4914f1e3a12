//! The steadfast layers around a reqwest client, with no config types
//! involved: `http::Request` in, a cloneable `BufferedResponse` out, through
//! the HTTP kit (`steadfast::http`, feature `http-kit`).
//!
//! ```text
//! Fallback -> Cache -> Retry -> CircuitBreaker -> Timeout -> Buffer -> reqwest::Client
//! ```
//!
//! `BufferLayer` reads each answer into a `BufferedResponse` and makes a
//! 5xx, 429 or 408 an `HttpError::Status` (with its `Retry-After`), which
//! the retry and breaker defaults classify; `copy_request` copies each
//! request for the next attempt; `RequestKey` keys the cache by method and
//! URI, and `store_if(BufferedResponse::is_storable)` keeps `no-store`
//! answers out of it.
//!
//! A loopback server (`support/flaky_http.rs`) answers 503 to every 4th
//! request and stalls every 11th past the time limit. Then the server goes
//! down (stale values and the fallback answer, the circuit opens), and comes
//! back (a probe closes the circuit).
//!
//! ```text
//! cargo run --example wrap_reqwest --features http-kit
//! ```

#[path = "support/flaky_http.rs"]
mod flaky_http;

use std::time::Duration;

use flaky_http::Handles;
use http::{HeaderMap, StatusCode};
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayer;
use steadfast::core::{BoxError, Source};
use steadfast::fallback::FallbackLayer;
use steadfast::http::{BufferLayer, BufferedResponse, RequestKey, ReqwestClient, copy_request};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::timeout::TimeoutLayer;
use tower::ServiceBuilder;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let client = ReqwestClient::new(reqwest::Client::builder().no_proxy().build()?);

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
        .clone_request_with(copy_request)
        .build()?;
    let breaker = CircuitBreakerLayer::builder()
        .consecutive_failures(4)
        .open_duration(Duration::from_millis(500))
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

    let service = ServiceBuilder::new()
        .layer(fallback)
        .layer(cache)
        .layer(retry)
        .layer(breaker)
        .layer(TimeoutLayer::new(Duration::from_millis(300)))
        .layer(BufferLayer::new())
        .service(client);

    flaky_http::demo::<_, bytes::Bytes>(service, handles).await?;
    Ok(())
}
