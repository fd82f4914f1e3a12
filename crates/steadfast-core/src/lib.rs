//! Shared vocabulary of the steadfast layers.
//!
//! This crate holds only what two or more layers (or a layer and the config
//! domain) truly share:
//!
//! - [`CircuitOpen`]: the error an open circuit breaker answers with. The retry
//!   layer reads it to decide whether a retry can succeed before the circuit
//!   half-opens.
//! - [`Failure`] and [`FailureKind`]: how an error classifies itself
//!   (transient, permanent, or invalid content; a delay requested by the
//!   server; "not found"), used by the default retry, breaker and cache
//!   policies.
//! - [`Causes`] and [`chain()`]: an error's causes, shown on one line
//!   without repeats, and walked.
//! - [`Source`] and [`Provenance`]: where a response came from (origin, cache,
//!   stale cache, fallback), set by the cache and fallback layers.
//! - [`CacheKey`]: a stable cache key for a request type.
//! - [`SharedError`]: one error handed to many waiters without `E: Clone`.
//! - [`TimedOut`]: a call that did not complete in time.
//! - [`counter::ThreadCounter`]: a count bumped by many threads without
//!   contention, and [`counter::thread_slot`], the per-thread slot behind it.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_core::{CircuitOpen, Failure};
//!
//! let open = CircuitOpen::new(Duration::from_secs(3));
//! assert_eq!(open.retry_after(), Some(Duration::from_secs(3)));
//! assert!(open.circuit_open().is_some());
//! assert_eq!(open.to_string(), "circuit open; next probe in 3s");
//! ```

#![forbid(unsafe_code)]

mod chain;
pub mod counter;
mod error;
mod failure;
mod source;

pub use chain::{Causes, chain};
pub use error::{CircuitOpen, SharedError, TimedOut};
pub use failure::{BoxError, Failure, FailureKind};
pub use source::{CacheKey, Provenance, Source};
