//! steadfast: tower layers that keep remote configuration loading alive when
//! the config server is slow, flaky or gone.
//!
//! Each pattern is its own crate and its own `tower::Layer`, re-exported
//! here: [`cache`] (memory L1, Redis L2, single flight, stale serving),
//! [`retry`] (backoff with jitter, budget, Retry-After), [`breaker`]
//! (sliding windows, half-open probes), [`fallback`] (a value, a function,
//! a service), and the [`config`] domain (HTTP and file sources, typed
//! decoding, a watcher). They compose with `ServiceBuilder` over any
//! `Service`, config or not.
//!
//! This crate adds the preset stack, outermost first:
//!
//! ```text
//! Fallback -> Cache -> Retry -> CircuitBreaker -> Timeout -> source
//! ```
//!
//! built by [`StackBuilder`] into a [`Loader`], with one [`Alert`] listener
//! for every layer and a [`Metrics`] snapshot of all their counters.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format, Source};
//! use steadfast::{StackBuilder, json_fallback};
//! use tower::service_fn;
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct App {
//!     api_url: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A source that is down.
//! let source = service_fn(|_: ConfigRequest| async {
//!     Err::<ConfigResponse, _>(ConfigError::transport("connection refused"))
//! });
//! let loader = StackBuilder::new()
//!     .timeout(Duration::from_secs(2))
//!     .fallback(json_fallback(r#"{"api_url": "http://localhost"}"#))
//!     .build(source)?;
//!
//! let app = loader.load::<App>("app").await?;
//! assert_eq!(app.api_url, "http://localhost");
//! let response = loader.load_response("app").await?;
//! assert_eq!(response.source(), Source::Fallback);
//! let metrics = loader.metrics();
//! assert_eq!(metrics.fallback_uses, 2);
//! // Three attempts for the first load; two more for the second, which
//! // open the circuit (5 consecutive failures): the third is not made.
//! assert_eq!(metrics.primary_loads, 5);
//! assert_eq!(metrics.circuit_breaker_opens, 1);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod alert;
mod beneath;
mod builder;
mod defaults;
mod episode;
#[cfg(feature = "redis")]
mod fleet;
pub mod latency;
mod layers;
mod loader;
mod metrics;
pub mod origin;
mod policy;
mod startup;
pub mod timeout;
mod watch;

pub use alert::{Alert, AlertListener, Answered, Ended, WatchEnded};
pub use builder::{
    DEFAULT_ATTEMPTS, DEFAULT_FAILURE_THRESHOLD, DEFAULT_INITIAL_DELAY, DEFAULT_RECOVERY,
    DEFAULT_TIMEOUT, DEFAULT_TTL, StackBuilder, StackError,
};
pub use defaults::{Defaults, FallbackFn, json_fallback};
#[cfg(feature = "redis")]
pub use fleet::{NoRuntime, RedisFleet};
pub use layers::{
    BoxLoader, BoxSource, CacheService, Cached, Checked, DefaultLoader, Full, Guarded, HttpLoader,
    Key, Measured, MemoryCache, Retried, Timed,
};
pub use loader::Loader;
pub use metrics::Metrics;
pub use policy::StartupPolicy;

pub use steadfast_breaker as breaker;
pub use steadfast_cache as cache;
pub use steadfast_config as config;
pub use steadfast_core as core;
pub use steadfast_fallback as fallback;
#[cfg(feature = "http-kit")]
pub use steadfast_http as http;

pub use steadfast_retry as retry;

// The README's Rust blocks, compiled as doctests; one of them wraps a
// reqwest client with the HTTP kit (`steadfast::http`).
#[cfg(all(doctest, feature = "http-kit"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
