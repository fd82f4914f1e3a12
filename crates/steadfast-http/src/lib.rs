//! An HTTP kit for the steadfast layers: what it takes to put the cache,
//! retry, circuit breaker and fallback around hyper-util's `Client` or a
//! `reqwest::Client`, as reqwest-middleware and tower-http users would.
//!
//! - [`BufferLayer`] reads each response to its end into a cloneable
//!   [`BufferedResponse`] (status, headers, [`Bytes`](bytes::Bytes) body)
//!   under a size limit ([`HttpError::BodyTooLarge`]), and turns a failing
//!   status into [`HttpError::Status`].
//! - [`StatusClassifier`] says which statuses are failures (5xx, 429, 408)
//!   and reads `Retry-After` on a 429 or 503; it is also a retry
//!   [`Policy`](steadfast_retry::Policy) and a breaker
//!   [`Classifier`](steadfast_breaker::Classifier) for stacks that keep
//!   statuses as responses.
//! - [`copy_request`] copies a request whose body can be copied
//!   ([`CopyBody`]) for each retry.
//! - [`RequestKey`] keys the cache by method, URI and chosen headers
//!   (`Accept`), passing through what must not be cached;
//!   [`BufferedResponse::is_storable`] keeps `Cache-Control: no-store`
//!   answers out of it.
//! - [`HttpError`] is an error type every layer accepts.
//! - `ReqwestClient` (feature `reqwest`, from `steadfast-reqwest`) makes a
//!   `reqwest::Client` a `Service<http::Request<B>>` for any body that is
//!   `IntoReqwestBody`.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use bytes::Bytes;
//! use http::header::ACCEPT;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use steadfast_breaker::CircuitBreakerLayer;
//! use steadfast_cache::CacheLayer;
//! use steadfast_fallback::FallbackLayer;
//! use steadfast_http::{BufferLayer, BufferedResponse, RequestKey, copy_request};
//! use steadfast_retry::RetryLayer;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
//! let default = BufferedResponse::new(http::StatusCode::OK, Default::default(), "{}");
//!
//! let svc = ServiceBuilder::new()
//!     .layer(FallbackLayer::value(default))
//!     .layer(
//!         CacheLayer::builder()
//!             .ttl(Duration::from_secs(30))
//!             .key_fn(RequestKey::new().vary(ACCEPT))
//!             .store_if(BufferedResponse::is_storable)
//!             .build()?,
//!     )
//!     .layer(RetryLayer::builder().clone_request_with(copy_request).build()?)
//!     .layer(CircuitBreakerLayer::builder().consecutive_failures(5).build()?)
//!     .layer(BufferLayer::new())
//!     .service(client);
//!
//! let request = http::Request::get("http://config.local/app.json").body(Full::default())?;
//! let response = svc.oneshot(request).await?;
//! println!("{} {}", response.status(), response.text()?);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod cache_control;
mod classify;
mod copy;
mod error;
mod key;
mod layer;
mod response;
mod service;

pub mod future;

pub use classify::StatusClassifier;
pub use copy::{CopyBody, copy_request};
pub use error::{BuildError, HttpError};
pub use key::{HttpCacheKey, RequestKey};
pub use layer::{BufferLayer, BufferLayerBuilder, DEFAULT_MAX_BODY_SIZE};
pub use response::BufferedResponse;
pub use service::Buffer;
#[cfg(feature = "reqwest")]
pub use steadfast_reqwest::{IntoReqwestBody, ReqwestClient, ReqwestFuture};
