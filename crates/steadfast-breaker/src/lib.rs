//! A `tower` circuit breaker.
//!
//! [`CircuitBreakerLayer`] stops calling a service that keeps failing, so a
//! dead dependency costs its callers nothing but an immediate
//! [`CircuitOpen`] error, and lets a few probes through after a while to
//! find out whether it recovered.
//!
//! - **Trip policies**, any combination: consecutive failures; failure rate
//!   over a count window (the last *n* calls) or a time window (buckets
//!   that slide); slow-call rate. Rates apply after a minimum number of
//!   calls.
//! - **Classifier**: each result is a success, a failure or ignored; an
//!   `Ok` can be a failure ([`Classifier`]). [`FailureKindClassifier`]
//!   counts only transient errors as failures.
//! - **Open**: calls are rejected at once with [`CircuitOpen`] (through
//!   `E: From<CircuitOpen>`), without touching the inner service, for an
//!   open duration that can back off with jitter on repeated trips.
//! - **Half-open**: a fixed number of probes pass; a dropped probe gives
//!   its permit back; a share of them must succeed to close; a maximum
//!   wait re-opens if they never finish.
//! - **Shared state**: every clone and every service made from one layer
//!   value share one circuit; a [`Handle`] reads its state and counters,
//!   forces it open or closed and resets it; a listener hears [`Event`]s.
//!
//! # Readiness
//!
//! `poll_ready` decides for the next call and keeps the decision for `call`
//! (see [`CircuitBreaker`]): a closed circuit drives the inner service
//! ready; a half-open one takes a probe permit first; an open one answers
//! `Ready` at once, without polling the inner service, and `call` returns
//! [`CircuitOpen`] without calling it.
//!
//! # Cost
//!
//! A closed circuit takes no lock and allocates nothing: one atomic load to
//! admit; for the response future, a reference-count increment; on a
//! success, a plain store to the call counter and, with a window, one
//! atomic add (count window) or compare-and-swap (time window) on the
//! window and a read of its totals, which are kept as the calls go, so the
//! rates are checked after every call without a scan. Failures, transitions and rejections take slower paths. A time
//! window reads the clock once per call, the slow-call policy twice (start
//! and end), and the first call of each new bucket takes a short lock.
//!
//! An idle circuit costs a little over half a kibibyte, plus two bytes per
//! call of a count window or 32 bytes per bucket of a time window. Once two
//! threads are seen calling through a circuit at once, its call counter and
//! the reference counts of its response futures spread out, a cache line
//! per thread, so that threads calling at once write to lines of their own
//! (a window's own line is the one exception).
//!
//! # Observability
//!
//! - [`Handle::counters`]: calls, successes, failures, ignored, slow,
//!   rejected, and transitions.
//! - `metrics` counters, labelled `breaker = <name>`:
//!   `steadfast_breaker_failures_total`, `steadfast_breaker_slow_calls_total`,
//!   `steadfast_breaker_rejected_total`, `steadfast_breaker_opened_total`,
//!   `steadfast_breaker_half_opened_total`, `steadfast_breaker_closed_total`
//!   (successes are not sent per call; read them from the handle).
//! - `tracing`: `warn` when the circuit opens, `info` when it closes,
//!   `debug` on half-open, on each rejection and when a failed probe keeps
//!   it open (one warning per outage, however long), with the breaker's
//!   name, the states and the cause as fields.
//! - [`Event`]s for a listener set with [`Builder::on_event`].
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_breaker::{CircuitBreakerLayer, State};
//! use steadfast_core::{BoxError, CircuitOpen};
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let layer = CircuitBreakerLayer::builder()
//!     .consecutive_failures(3)
//!     .open_duration(Duration::from_secs(30))
//!     .build()?;
//! let handle = layer.handle();
//!
//! let mut service = ServiceBuilder::new()
//!     .layer(layer)
//!     .service(service_fn(|fail: bool| async move {
//!         if fail { Err::<&str, BoxError>("config server down".into()) } else { Ok("config") }
//!     }));
//!
//! assert_eq!(service.ready().await?.call(false).await?, "config");
//! for _ in 0..3 {
//!     assert!(service.ready().await?.call(true).await.is_err());
//! }
//! assert_eq!(handle.state(), State::Open);
//!
//! // Open: rejected at once, the inner service is not called.
//! let error = service.ready().await?.call(false).await.unwrap_err();
//! let open = error.downcast_ref::<CircuitOpen>().unwrap();
//! assert!(open.remaining() <= Duration::from_secs(30));
//! assert_eq!(handle.counters().rejected, 1);
//! # Ok(())
//! # }
//! ```

#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]
#![forbid(unsafe_code)]

mod cache_line;
mod counters;
mod epoch;
mod error;
mod event;
pub mod future;
mod handle;
mod lane;
mod layer;
mod policy;
mod service;
mod state;
mod window;

pub use counters::{Counters, WindowTotals};
pub use error::BuildError;
pub use event::{Cause, Event, State};
pub use handle::Handle;
pub use layer::{
    Builder, CircuitBreakerLayer, DEFAULT_CONSECUTIVE_FAILURES, DEFAULT_OPEN_DURATION, MAX_BUCKETS,
    MAX_COUNT_WINDOW,
};
pub use policy::{Classifier, DefaultClassifier, FailureKindClassifier, Outcome};
pub use service::CircuitBreaker;
pub use steadfast_core::CircuitOpen;
