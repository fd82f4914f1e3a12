//! The types of the preset stack, one alias per layer, outermost last:
//! Fallback → Cache → Retry → CircuitBreaker → Timeout → source; and the
//! loaders an application holds.

use std::sync::Arc;

use steadfast_breaker::{CircuitBreaker, FailureKindClassifier};
use steadfast_cache::{Cache, DefaultKey, MemoryStore};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, HttpSource};
use steadfast_fallback::{AnyError, FallbackService};
use steadfast_retry::{CloneRequest, DefaultPolicy, Retry};
use tower::util::{BoxCloneSyncService, Either};

use crate::Loader;
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
pub type Cached<S, St> = Either<CacheService<S, St>, Retried<S>>;
/// The cache of [`Cached`], over the retried source.
pub type CacheService<S, St> = Cache<Retried<S>, Key, ConfigResponse, ConfigError, DefaultKey, St>;
/// … under an optional fallback: the whole stack.
pub type Full<S, St> = Either<
    FallbackService<Cached<S, St>, Defaults, ConfigResponse, ConfigError, AnyError>,
    Cached<S, St>,
>;
/// … timed, for the load latency histogram: what a [`Loader`](crate::Loader)
/// calls.
pub type Measured<S, St> = LoadLatency<Full<S, St>>;

/// The store of the preset cache unless one is given: memory, bounded by
/// entries.
pub type MemoryCache = MemoryStore<Key, ConfigResponse>;

/// A source of any type, boxed: what [`BoxLoader`] loads through.
pub type BoxSource = BoxCloneSyncService<ConfigRequest, ConfigResponse, ConfigError>;

/// The [`Loader`] that [`StackBuilder::new`](crate::StackBuilder::new)
/// builds over the source `S` (an [`HttpSource`] unless named), with its
/// memory cache: a type to hold in an application's state.
///
/// ```
/// use steadfast::config::{FileSource, HttpSource};
/// use steadfast::{DefaultLoader, HttpLoader};
///
/// struct State {
///     config: HttpLoader,
///     local: DefaultLoader<FileSource>,
/// }
/// # let _: Option<State> = None;
/// ```
pub type DefaultLoader<S = HttpSource> = Loader<S, MemoryCache>;

/// The [`Loader`] over an [`HttpSource`] with the default client.
pub type HttpLoader = DefaultLoader<HttpSource>;

/// A [`Loader`] whose source type is erased, built by
/// [`StackBuilder::build_boxed`](crate::StackBuilder::build_boxed): one
/// type whatever the source (HTTP, a file, a test double), with store
/// `St`. A hit never reaches the source, so the box costs a hit nothing;
/// a miss pays one boxed future.
pub type BoxLoader<St = MemoryCache> = Loader<BoxSource, St>;
