//! [`StackBuilder`]: the settings of the preset stack, and its assembly.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use steadfast_breaker as breaker;
use steadfast_cache::{CacheLayerBuilder, DefaultKey, DefaultStore, IntoStore, Snapshot, Store};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::{Causes, Provenance, Source};
use steadfast_fallback::FallbackLayer;
use steadfast_retry::{Backoff, Jitter, RetryLayer, RetryLayerBuilder};
use tower::util::Either;
use tower_layer::Layer;
use tower_service::Service;

use crate::alert::{Alert, AlertListener};
use crate::beneath::Beneath;
use crate::defaults::{Defaults, DefaultsInner};
use crate::episode::Episodes;
use crate::latency::{Histograms, LoadLatency};
use crate::layers::{BoxLoader, BoxSource, Cached, Full, Guarded, Key, Retried, Timed};
use crate::loader::{Loader, Parts};
use crate::origin::{Check, Origin, OriginCounters};
use crate::policy::StartupPolicy;
use crate::timeout::TimeoutLayer;

// The stack's defaults are the layers' own: a layer alone and the preset
// stack behave alike unless told otherwise.

/// The cache's time to live unless set: 60 s, as [`CacheLayer`]'s
/// (`steadfast_cache::DEFAULT_TTL`).
///
/// [`CacheLayer`]: steadfast_cache::CacheLayer
pub const DEFAULT_TTL: Duration = steadfast_cache::DEFAULT_TTL;
/// The number of attempts unless set: 3, as [`RetryLayer`]'s.
pub const DEFAULT_ATTEMPTS: u32 = steadfast_retry::DEFAULT_ATTEMPTS;
/// The first retry delay unless set: 100 ms, as [`RetryLayer`]'s
/// (exponential, doubling, capped at 30 s, full jitter).
pub const DEFAULT_INITIAL_DELAY: Duration = steadfast_retry::DEFAULT_INITIAL_DELAY;
/// The consecutive failures that open the circuit unless set: 5, as the
/// circuit breaker's.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = breaker::DEFAULT_CONSECUTIVE_FAILURES;
/// How long the circuit stays open unless set: 60 s, as the circuit
/// breaker's.
pub const DEFAULT_RECOVERY: Duration = breaker::DEFAULT_OPEN_DURATION;
/// The per-attempt time limit unless set: 10 s, the same value as
/// [`HttpSource`](steadfast_config::HttpSource)'s own request timeout
/// (`steadfast_config::DEFAULT_TIMEOUT`). The stack's limit applies
/// around any source; with an `HttpSource`, the shorter of the two cuts an
/// attempt, so set both when raising it.
pub const DEFAULT_TIMEOUT: Duration = steadfast_config::DEFAULT_TIMEOUT;
/// Why a stack could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum StackError {
    /// The cache's settings are invalid.
    Cache(steadfast_cache::BuildError),
    /// The retry settings are invalid.
    Retry(steadfast_retry::BuildError),
    /// The circuit breaker's settings are invalid.
    Breaker(steadfast_breaker::BuildError),
    /// A zero time limit.
    ZeroTimeout,
    /// A zero startup wait.
    ZeroStartupWait,
    /// A fallback value fails the stack's own check.
    InvalidFallback(ConfigError),
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = match self {
            StackError::Cache(_) => "invalid cache settings",
            StackError::Retry(_) => "invalid retry settings",
            StackError::Breaker(_) => "invalid circuit breaker settings",
            StackError::ZeroTimeout => "the time limit must be greater than zero",
            StackError::ZeroStartupWait => "the startup wait must be greater than zero",
            StackError::InvalidFallback(_) => "a fallback value fails the stack's check",
        };
        write!(
            f,
            "{head}{}",
            Causes::new(head, std::error::Error::source(self))
        )
    }
}

impl std::error::Error for StackError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StackError::Cache(e) => Some(e),
            StackError::Retry(e) => Some(e),
            StackError::Breaker(e) => Some(e),
            StackError::InvalidFallback(e) => Some(e),
            StackError::ZeroTimeout | StackError::ZeroStartupWait => None,
        }
    }
}
/// Builds a [`Loader`]: the whole resilient stack over a source.
///
/// Every part is on by default with the defaults above; each can be
/// replaced by its own builder (`cache`, `retry`, `breaker`) or turned off
/// (`without_*`). The fallback is off until a value or a function is given.
pub struct StackBuilder<St = DefaultStore> {
    cache: Option<CacheLayerBuilder<ConfigResponse, ConfigError, DefaultKey, St>>,
    retry: Option<RetryLayerBuilder>,
    breaker: Option<breaker::Builder>,
    timeout: Option<Duration>,
    defaults: DefaultsInner,
    check: Option<Check>,
    listener: Option<AlertListener>,
    startup: StartupPolicy,
    load_latency: bool,
}

impl<S, St> Loader<S, St> {
    /// The builder of a stack.
    pub fn builder() -> StackBuilder {
        StackBuilder::new()
    }
}

impl Default for StackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StackBuilder {
    /// A stack with the defaults, the layers' own: cache TTL 60 s,
    /// 3 attempts from 100 ms, circuit opening after 5 consecutive failures
    /// for 60 s, a 10 s time limit per attempt, no fallback, and a check
    /// that the body parses in its format.
    pub fn new() -> Self {
        Self {
            cache: Some(CacheLayerBuilder::new().ttl(DEFAULT_TTL)),
            retry: Some(
                RetryLayer::builder()
                    .max_attempts(DEFAULT_ATTEMPTS)
                    .backoff(
                        Backoff::exponential(DEFAULT_INITIAL_DELAY, 2.0).with_jitter(Jitter::Full),
                    ),
            ),
            breaker: Some(
                breaker::CircuitBreakerLayer::builder()
                    .consecutive_failures(DEFAULT_FAILURE_THRESHOLD)
                    .open_duration(DEFAULT_RECOVERY),
            ),
            timeout: Some(DEFAULT_TIMEOUT),
            defaults: DefaultsInner::default(),
            check: Some(Arc::new(|response: &ConfigResponse| {
                response.decode::<serde::de::IgnoredAny>().map(drop)
            })),
            listener: None,
            startup: StartupPolicy::default(),
            load_latency: false,
        }
    }
}

impl<St> StackBuilder<St> {
    /// Replaces the cache's settings (and store) with `cache`'s. In the
    /// stack, the cache's pause after a failed refresh
    /// ([`refresh_backoff`](CacheLayerBuilder::refresh_backoff)) is off
    /// unless set on `cache`: the retries and the circuit breaker pace the
    /// calls of a failing source.
    pub fn cache<St2>(
        self,
        cache: CacheLayerBuilder<ConfigResponse, ConfigError, DefaultKey, St2>,
    ) -> StackBuilder<St2> {
        StackBuilder {
            cache: Some(cache),
            retry: self.retry,
            breaker: self.breaker,
            timeout: self.timeout,
            defaults: self.defaults,
            check: self.check,
            listener: self.listener,
            startup: self.startup,
            load_latency: self.load_latency,
        }
    }

    /// Keeps the last good value of every configuration on `disk`, behind
    /// the cache's store: its memory store, or the tiers given to
    /// [`cache`](Self::cache) (a memory L1 in front of a shared
    /// `RedisStore`, say, which then sits between memory and disk). A
    /// process that restarts while the source and Redis are down starts
    /// on the last good value at once, marked
    /// [`Source::Stale`](steadfast_core::Source::Stale), while a refresh
    /// is tried in the background. See
    /// [`CacheLayerBuilder::snapshot`](steadfast_cache::CacheLayerBuilder::snapshot)
    /// and [`FileStore`](steadfast_cache::FileStore) (bounds, atomic writes,
    /// a corrupt file read as a miss). Without a cache, nothing is kept.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use steadfast::StackBuilder;
    /// use steadfast::cache::FileStore;
    /// use steadfast::config::HttpSource;
    ///
    /// let disk = FileStore::builder("/var/lib/myapp/config-snapshot")
    ///     .max_entries(256)
    ///     .build()?;
    /// let loader = StackBuilder::new()
    ///     .snapshot(disk)
    ///     .build(HttpSource::builder("https://config.example.com/").build()?)?;
    /// # let _ = loader;
    /// # Ok(())
    /// # }
    /// ```
    pub fn snapshot<D>(self, disk: D) -> StackBuilder<Snapshot<St, D>> {
        StackBuilder {
            cache: self.cache.map(|cache| cache.snapshot(disk)),
            retry: self.retry,
            breaker: self.breaker,
            timeout: self.timeout,
            defaults: self.defaults,
            check: self.check,
            listener: self.listener,
            startup: self.startup,
            load_latency: self.load_latency,
        }
    }

    /// Turns the cache off.
    pub fn without_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// Replaces the retry settings.
    pub fn retry(mut self, retry: RetryLayerBuilder) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Turns retries off.
    pub fn without_retry(mut self) -> Self {
        self.retry = None;
        self
    }

    /// Replaces the circuit breaker's settings. The stack classifies results
    /// with [`FailureKindClassifier`](breaker::FailureKindClassifier): only
    /// transient failures count against the circuit; a permanent failure
    /// (4xx, a rejected certificate) is ignored and invalid content (a body
    /// that fails the check) is a success, since the source answered.
    pub fn breaker(mut self, breaker: breaker::Builder) -> Self {
        self.breaker = Some(breaker);
        self
    }

    /// Turns the circuit breaker off.
    pub fn without_breaker(mut self) -> Self {
        self.breaker = None;
        self
    }

    /// Sets the time limit of each attempt.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Records how long each load takes, by how it was answered, in the
    /// `steadfast_loader_load_duration_seconds` histogram of the `metrics`
    /// facade (label `outcome`: `hit`, `miss`, `stale`, `fallback`,
    /// `error`; see [`latency`](crate::latency)). Off by default: it reads
    /// the clock twice per load, about 50 ns on a VM whose clock read costs
    /// 25 ns, which is a fifth of a cache hit.
    pub fn load_latency(mut self, on: bool) -> Self {
        self.load_latency = on;
        self
    }

    /// Turns the per-attempt time limit off (the source may have its own).
    pub fn without_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Answers any failed load with `value` (marked [`Source::Fallback`]).
    pub fn fallback(mut self, value: ConfigResponse) -> Self {
        self.defaults.any = Some(value);
        self
    }

    /// Answers a failed load of the configuration called `name` with
    /// `value`.
    pub fn fallback_for(mut self, name: impl Into<Arc<str>>, value: ConfigResponse) -> Self {
        self.defaults.by_name.insert(name.into(), value);
        self
    }

    /// Answers a failed load with what `f` returns for it; `None` lets the
    /// error through (or the value of [`fallback`](Self::fallback)).
    pub fn fallback_fn<F>(mut self, f: F) -> Self
    where
        F: Fn(&ConfigRequest, &ConfigError) -> Option<ConfigResponse> + Send + Sync + 'static,
    {
        self.defaults.function = Some(Arc::new(f));
        self
    }

    /// Checks every response of the source with `check`; an `Err` is a
    /// failure of the source, never cached, retried and counted by the
    /// breaker only if [transient](steadfast_core::FailureKind::Transient)
    /// (a decode or validation error is invalid content: the last good
    /// value stays served). Replaces the default check (the body parses).
    pub fn check<F>(mut self, check: F) -> Self
    where
        F: Fn(&ConfigResponse) -> Result<(), ConfigError> + Send + Sync + 'static,
    {
        self.check = Some(Arc::new(check));
        self
    }

    /// Checks every response of the source by decoding it as `T` and, with
    /// [`validate_as`](Self::validate_as), validating it.
    ///
    /// The decoded value is kept beside the bytes: [`Loader::load::<T>`](Loader::load)
    /// hands it out without decoding again.
    pub fn decode_as<T: DeserializeOwned + Send + Sync + 'static>(self) -> Self {
        self.check(|response| response.decode_shared_sync::<T>().map(drop))
    }

    /// Checks every response of the source by decoding it as `T` and
    /// running `T`'s [`Validate`](steadfast_config::Validate) impl; the value
    /// is kept for [`Loader::load_validated::<T>`](Loader::load_validated).
    pub fn validate_as<T>(self) -> Self
    where
        T: DeserializeOwned + steadfast_config::Validate + Send + Sync + 'static,
    {
        self.check(|response| response.decode_shared_validated_sync::<T>().map(drop))
    }

    /// Accepts whatever the source answers.
    pub fn without_check(mut self) -> Self {
        self.check = None;
        self
    }

    /// Reports [`Alert`]s from every layer to `listener`: each episode's
    /// start and end (see [`Alert`]).
    ///
    /// The stack follows episodes through the cache's and the breaker's
    /// event listeners, with a listener or without: one set on the builders
    /// given to [`cache`](Self::cache) and [`breaker`](Self::breaker) is
    /// replaced.
    pub fn on_alert<F>(mut self, listener: F) -> Self
    where
        F: Fn(&Alert) + Send + Sync + 'static,
    {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// What [`Loader::start`] does when the source is down.
    pub fn startup(mut self, policy: StartupPolicy) -> Self {
        self.startup = policy;
        self
    }

    /// Builds the stack over `source`, boxed: a [`BoxLoader`], one type
    /// whatever the source's.
    pub fn build_boxed<S>(self, source: S) -> Result<BoxLoader<St::Store>, StackError>
    where
        St: IntoStore<Key, ConfigResponse>,
        St::Store: Store<Key, ConfigResponse>,
        S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.build(BoxSource::new(source))
    }

    /// Builds the stack over `source`.
    pub fn build<S>(self, source: S) -> Result<Loader<S, St::Store>, StackError>
    where
        St: IntoStore<Key, ConfigResponse>,
        St::Store: Store<Key, ConfigResponse>,
        S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(StackError::ZeroTimeout);
        }
        if matches!(self.startup, StartupPolicy::Wait(d) if d.is_zero()) {
            return Err(StackError::ZeroStartupWait);
        }
        let mut defaults = self.defaults;
        let episodes = Arc::new(Episodes::new(self.listener, !defaults.is_empty()));
        defaults.episodes = Some(episodes.clone());
        let stamp = |value: &mut ConfigResponse| value.set_source(Source::Fallback);
        defaults.by_name.values_mut().for_each(stamp);
        defaults.any.iter_mut().for_each(stamp);
        let defaults = Defaults {
            inner: Arc::new(defaults),
        };
        if let Some(check) = &self.check {
            for value in defaults.values() {
                check(value).map_err(StackError::InvalidFallback)?;
            }
        }

        let counters = Arc::new(OriginCounters::default());
        let origin = Origin::new(source, self.check, counters.clone());
        let timed: Timed<S> = match self.timeout {
            Some(limit) => Either::Left(TimeoutLayer::new(limit).layer(origin)),
            None => Either::Right(origin),
        };

        let (guarded, breaker_handle, probe): (Guarded<S>, _, _) = match self.breaker {
            Some(builder) => {
                let episodes = episodes.clone();
                let layer = builder
                    .on_event(move |event| episodes.breaker_event(event))
                    .classifier(breaker::FailureKindClassifier)
                    .build()
                    .map_err(StackError::Breaker)?;
                let handle = layer.handle();
                let probe = Beneath::new(timed.clone());
                (Either::Left(layer.layer(timed)), Some(handle), Some(probe))
            }
            None => (Either::Right(timed), None, None),
        };

        let (retried, retry_handle): (Retried<S>, _) = match self.retry {
            Some(builder) => {
                let layer = builder.build().map_err(StackError::Retry)?;
                let handle = layer.handle();
                (Either::Left(layer.layer(guarded)), Some(handle))
            }
            None => (Either::Right(guarded), None),
        };
        let beneath = Beneath::new(retried.clone());

        let (cached, cache_handle): (Cached<S, St::Store>, _) = match self.cache {
            Some(builder) => {
                let episodes = episodes.clone();
                let mut builder = builder
                    .provenance()
                    .on_event(move |event| episodes.cache_event(event));
                // The stack's retries and circuit breaker pace the calls of
                // a failing source; the cache's own pause is for when set.
                builder = builder.refresh_backoff_unless_set(Duration::ZERO, Duration::ZERO);
                let layer = builder.build::<Key>().map_err(StackError::Cache)?;
                let handle = layer.handle();
                (Either::Left(layer.layer(retried)), Some(handle))
            }
            None => (Either::Right(retried), None),
        };

        let defaults = (!defaults.is_empty()).then_some(defaults);
        let (full, fallback_handle): (Full<S, St::Store>, _) = match &defaults {
            None => (Either::Right(cached.clone()), None),
            Some(defaults) => {
                let layer = FallbackLayer::<_, ConfigResponse, ConfigError>::new(defaults.clone())
                    .provenance();
                let handle = layer.handle();
                (Either::Left(layer.layer(cached.clone())), Some(handle))
            }
        };

        let histograms = self.load_latency.then(|| Arc::new(Histograms::new()));
        Ok(Loader {
            service: LoadLatency::new(full, histograms),
            primary: cached,
            parts: Arc::new(Parts {
                cache: cache_handle,
                retry: retry_handle,
                breaker: breaker_handle,
                fallback: fallback_handle,
                defaults,
                episodes,
                origin: counters,
                startup: self.startup,
                probe,
                beneath,
            }),
        })
    }
}

impl<St: fmt::Debug> fmt::Debug for StackBuilder<St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackBuilder")
            .field("cache", &self.cache)
            .field("retry", &self.retry)
            .field("breaker", &self.breaker)
            .field("timeout", &self.timeout)
            .field("checked", &self.check.is_some())
            .field("startup", &self.startup)
            .finish_non_exhaustive()
    }
}
