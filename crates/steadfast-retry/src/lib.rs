//! A tower layer that retries failed requests, without turning an outage
//! into a retry storm.
//!
//! [`RetryLayer`] retries what its [`Policy`] calls retryable, waiting a
//! [`Backoff`] delay (constant, linear or exponential, capped, with
//! [`Jitter`]) or the delay a server asked for (`Retry-After`, an open
//! circuit's time to half-open). Three limits stop it: a number of attempts,
//! a total deadline, and a [`RetryBudget`] shared by every clone, which
//! allows retries only as a share of recent requests.
//!
//! The layer adds no failure of its own: when it stops, the caller gets the
//! last result of the inner service, with the inner error type. Before every
//! retry the inner service is driven ready again. A request is copied for
//! each attempt with `Clone`, or with a function given to
//! [`clone_request_with`](RetryLayerBuilder::clone_request_with); a request
//! that cannot be copied is sent once.
//!
//! The first attempt that succeeds allocates nothing and takes no lock: the
//! request is counted in a cell that only the current thread writes, by the
//! tenth of the budget window it arrived in (one clock read, shared with the
//! deadline), and its future holds
//! the layer's shared state, so a request keeps its retries even when every
//! service and layer it came from is gone (a one-shot call).
//!
//! # Observability
//!
//! Each retry is logged at debug level, "attempt N failed, retrying in
//! X", with the fields `attempt`, `delay_ms` and `error`, and so is a stop
//! for a limit: during an outage every request retries, so a warning per
//! attempt would flood the log (the failure reaches the caller, and the
//! listener hears every retry). [`RetryHandle::stats`] reads the counters
//! (requests, attempts, retries, budget refusals, exhausted, deadline
//! reached), and the `metrics` facade receives
//! `steadfast_retry_retries_total`, `steadfast_retry_budget_refusals_total`,
//! `steadfast_retry_exhausted_total` and
//! `steadfast_retry_deadline_reached_total` (requests and attempts are left
//! to the handle, to keep the facade off the first attempt). An [`Event`]
//! listener hears the same decisions.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use steadfast_retry::{Backoff, Jitter, RetryLayer};
//! use tower::{Service, ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let retry = RetryLayer::builder()
//!     .max_attempts(5)
//!     .backoff(
//!         Backoff::exponential(Duration::from_secs(1), 2.0).with_jitter(Jitter::None),
//!     )
//!     .build()?;
//! let handle = retry.handle();
//!
//! // Fails twice with a transient error, then answers.
//! let calls = Arc::new(AtomicU32::new(0));
//! let mut service = ServiceBuilder::new().layer(retry).service_fn(move |name: &'static str| {
//!     let call = calls.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         if call < 2 {
//!             Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
//!         } else {
//!             Ok(format!("{name} loaded"))
//!         }
//!     }
//! });
//!
//! let start = tokio::time::Instant::now();
//! let answer = service.ready().await?.call("app").await?;
//! assert_eq!(answer, "app loaded");
//! assert_eq!(start.elapsed(), Duration::from_secs(1 + 2));
//! assert_eq!(handle.stats().attempts, 3);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod arrivals;
mod backoff;
mod budget;
mod error;
mod event;
pub mod future;
pub mod http;
mod layer;
pub mod policy;
mod service;

pub use backoff::{Backoff, DEFAULT_INITIAL_DELAY, DEFAULT_MAX_DELAY, Delays, Jitter};
pub use budget::RetryBudget;
pub use error::BuildError;
pub use event::{Event, RetryHandle, RetryStats};
pub use layer::{DEFAULT_ATTEMPTS, RetryLayer, RetryLayerBuilder};
pub use policy::{Action, Attempt, CloneFn, CloneRequest, DefaultPolicy, Policy, RequestCopier};
pub use service::Retry;
