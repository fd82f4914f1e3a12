//! The types of the preset stack, one alias per layer, outermost last:
//! Fallback → Cache → Retry → CircuitBreaker → Timeout → source.

use std::sync::Arc;

use steadfast_breaker::{CircuitBreaker, FailureKindClassifier};
use steadfast_cache::{Cache, DefaultKey};
use steadfast_config::{ConfigError, ConfigResponse};
use steadfast_fallback::{AnyError, FallbackService};
use steadfast_retry::{CloneRequest, DefaultPolicy, Retry};
use tower::util::Either;

use crate::defaults::Defaults;
use crate::latency::LoadLatency;
use crate::origin::Origin;
use crate::timeout::Timeout;

/// The cache key of a [`ConfigRequest`](steadfast_config::ConfigRequest).
pub type Key = Arc<str>;

/// The source with its call counter and response check.
pub type Checked<S> = Origin<S>;
/// … under an optional time limit.
pub type Timed<S> = Either<Timeout<Checked<S>>, Checked<S>>;
/// … under an optional circuit breaker, which counts only transient
/// failures ([`FailureKindClassifier`]).
pub type Guarded<S> = Either<CircuitBreaker<Timed<S>, FailureKindClassifier>, Timed<S>>;
/// … under optional retries.
pub type Retried<S> = Either<Retry<Guarded<S>, DefaultPolicy, CloneRequest>, Guarded<S>>;
/// … under an optional cache with store `St`.
pub type Cached<S, St> =
    Either<Cache<Retried<S>, Key, ConfigResponse, ConfigError, DefaultKey, St>, Retried<S>>;
/// … under an optional fallback: the whole stack.
pub type Full<S, St> = Either<
    FallbackService<Cached<S, St>, Defaults, ConfigResponse, ConfigError, AnyError>,
    Cached<S, St>,
>;
/// … timed, for the load latency histogram: what a [`Loader`](crate::Loader)
/// calls.
pub type Measured<S, St> = LoadLatency<Full<S, St>>;
