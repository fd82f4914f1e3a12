//! The whole stack, outermost first:
//! Fallback → Cache → Retry → CircuitBreaker → Timeout → source.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;
use steadfast_breaker::{self as breaker, CircuitBreaker, DefaultClassifier};
use steadfast_cache::{
    Cache, CacheHandle, CacheLayerBuilder, DefaultKey, DefaultStore, IntoStore, Store,
};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_core::{Failure, Provenance, Source};
use steadfast_fallback::{Answer, AnyError, FallbackHandle, FallbackLayer, FallbackService};
use steadfast_retry::{
    Backoff, CloneRequest, DefaultPolicy, Jitter, Retry, RetryHandle, RetryLayer, RetryLayerBuilder,
};
use tokio::time::Instant;
use tower::ServiceExt;
use tower::util::Either;
use tower_layer::Layer;
use tower_service::Service;

use crate::alert::{Alert, AlertListener};
use crate::origin::{Check, Origin, OriginCounters};
use crate::timeout::{Timeout, TimeoutLayer};

/// The cache's time to live unless set: 300 s.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// The number of attempts unless set: 3.
pub const DEFAULT_ATTEMPTS: u32 = 3;
/// The first retry delay unless set: 1 s (exponential, doubling, full jitter).
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_secs(1);
/// The consecutive failures that open the circuit unless set: 5.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;
/// How long the circuit stays open unless set: 60 s.
pub const DEFAULT_RECOVERY: Duration = Duration::from_secs(60);
/// The per-attempt time limit unless set: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The cache key of a [`ConfigRequest`].
pub type Key = Arc<str>;

/// The source with its call counter and response check.
pub type Checked<S> = Origin<S>;
/// … under an optional time limit.
pub type Timed<S> = Either<Timeout<Checked<S>>, Checked<S>>;
/// … under an optional circuit breaker.
pub type Guarded<S> = Either<CircuitBreaker<Timed<S>, DefaultClassifier>, Timed<S>>;
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

/// What the stack does when the source is down the first time a
/// configuration is needed ([`Loader::start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartupPolicy {
    /// Return the error: a service that cannot run without its
    /// configuration should not start.
    FailFast,
    /// Serve the fallback, as any later load would.
    #[default]
    UseFallback,
    /// Keep trying the source for up to this long, then serve the fallback
    /// (or the error, without one). A failure that would repeat (not
    /// [transient](steadfast_core::Failure::is_transient): a 4xx, an
    /// invalid body) ends the wait at once.
    Wait(Duration),
}

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
        match self {
            StackError::Cache(_) => f.pad("invalid cache settings"),
            StackError::Retry(_) => f.pad("invalid retry settings"),
            StackError::Breaker(_) => f.pad("invalid circuit breaker settings"),
            StackError::ZeroTimeout => f.pad("the time limit must be greater than zero"),
            StackError::ZeroStartupWait => f.pad("the startup wait must be greater than zero"),
            StackError::InvalidFallback(_) => f.pad("a fallback value fails the stack's check"),
        }
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

/// A fallback function: a response for a request whose load failed, or
/// `None` to let the error through.
pub type FallbackFn =
    Arc<dyn Fn(&ConfigRequest, &ConfigError) -> Option<ConfigResponse> + Send + Sync>;

/// The fallback answers of a stack: per configuration name, for every
/// name, or from a function.
#[derive(Clone, Default)]
pub struct Defaults {
    inner: Arc<DefaultsInner>,
}

#[derive(Default)]
struct DefaultsInner {
    by_name: HashMap<Arc<str>, ConfigResponse>,
    any: Option<ConfigResponse>,
    function: Option<FallbackFn>,
    listener: Option<AlertListener>,
}

impl Defaults {
    fn is_empty(&self) -> bool {
        self.inner.by_name.is_empty() && self.inner.any.is_none() && self.inner.function.is_none()
    }

    fn values(&self) -> impl Iterator<Item = &ConfigResponse> {
        self.inner.by_name.values().chain(self.inner.any.as_ref())
    }
}

impl DefaultsInner {
    fn find(&self, req: &ConfigRequest, error: &ConfigError) -> Option<ConfigResponse> {
        if let Some(value) = self.by_name.get(req.name()) {
            return Some(value.clone());
        }
        self.function
            .as_ref()
            .and_then(|function| function(req, error))
            .or_else(|| self.any.clone())
    }
}

impl fmt::Debug for Defaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Defaults")
            .field("names", &self.inner.by_name.keys().collect::<Vec<_>>())
            .field("any", &self.inner.any.is_some())
            .field("function", &self.inner.function.is_some())
            .finish()
    }
}

impl Answer<ConfigRequest, ConfigError> for Defaults {
    type Response = ConfigResponse;
    type Pending = (Defaults, ConfigRequest);
    type Future = Ready<Result<ConfigResponse, ConfigError>>;

    fn prepare(&mut self, request: &ConfigRequest) -> Self::Pending {
        (self.clone(), request.clone())
    }

    fn answer((defaults, request): Self::Pending, error: &ConfigError) -> Self::Future {
        let found = defaults.inner.find(&request, error);
        if found.is_some()
            && let Some(listener) = &defaults.inner.listener
        {
            listener(&Alert::FallbackUsed {
                error: error.clone(),
            });
        }
        ready(found.ok_or_else(|| error.clone()))
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
}

impl Default for StackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StackBuilder {
    /// A stack with the defaults: cache TTL 300 s, 3 attempts from 1 s,
    /// circuit opening after 5 consecutive failures for 60 s, a 10 s time
    /// limit per attempt, no fallback, and a check that the body parses in
    /// its format.
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
        }
    }
}

impl<St> StackBuilder<St> {
    /// Replaces the cache's settings (and store) with `cache`'s.
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

    /// Replaces the circuit breaker's settings.
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
    /// failure of the source: counted by the breaker, retried if transient,
    /// never cached. Replaces the default check (the body parses).
    pub fn check<F>(mut self, check: F) -> Self
    where
        F: Fn(&ConfigResponse) -> Result<(), ConfigError> + Send + Sync + 'static,
    {
        self.check = Some(Arc::new(check));
        self
    }

    /// Checks every response of the source by decoding it as `T` and, with
    /// [`validate_as`](Self::validate_as), validating it.
    pub fn decode_as<T: DeserializeOwned + 'static>(self) -> Self {
        self.check(|response| response.decode::<T>().map(drop))
    }

    /// Checks every response of the source by decoding it as `T` and
    /// running `T`'s [`Validate`](steadfast_config::Validate) impl.
    pub fn validate_as<T>(self) -> Self
    where
        T: DeserializeOwned + steadfast_config::Validate + 'static,
    {
        self.check(|response| response.decode_validated::<T>().map(drop))
    }

    /// Accepts whatever the source answers.
    pub fn without_check(mut self) -> Self {
        self.check = None;
        self
    }

    /// Reports [`Alert`]s from every layer to `listener`. It replaces any
    /// listener set on the layers' own builders.
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
        let listener = self.listener;
        let mut defaults = self.defaults;
        defaults.listener = listener.clone();
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

        let (guarded, breaker_handle): (Guarded<S>, _) = match self.breaker {
            Some(mut builder) => {
                if let Some(listener) = listener.clone() {
                    builder = builder.on_event(move |event| {
                        if let Some(alert) = breaker_alert(event) {
                            listener(&alert);
                        }
                    });
                }
                let layer = builder.build().map_err(StackError::Breaker)?;
                let handle = layer.handle();
                (Either::Left(layer.layer(timed)), Some(handle))
            }
            None => (Either::Right(timed), None),
        };

        let (retried, retry_handle): (Retried<S>, _) = match self.retry {
            Some(builder) => {
                let layer = builder.build().map_err(StackError::Retry)?;
                let handle = layer.handle();
                (Either::Left(layer.layer(guarded)), Some(handle))
            }
            None => (Either::Right(guarded), None),
        };

        let (cached, cache_handle): (Cached<S, St::Store>, _) = match self.cache {
            Some(mut builder) => {
                builder = builder.provenance();
                if let Some(listener) = listener.clone() {
                    let alerts = CacheAlerts::default();
                    builder = builder.on_event(move |event| {
                        if let Some(alert) = alerts.alert(event) {
                            listener(&alert);
                        }
                    });
                }
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

        Ok(Loader {
            service: full,
            primary: cached,
            parts: Arc::new(Parts {
                cache: cache_handle,
                retry: retry_handle,
                breaker: breaker_handle,
                fallback: fallback_handle,
                defaults,
                listener,
                startup_fallbacks: AtomicU64::new(0),
                origin: counters,
                startup: self.startup,
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

fn breaker_alert(event: &breaker::Event) -> Option<Alert> {
    match event {
        breaker::Event::StateChanged { to, open_for, .. } => match to {
            breaker::State::Open | breaker::State::ForcedOpen => Some(Alert::CircuitOpened {
                open_for: *open_for,
            }),
            breaker::State::HalfOpen => Some(Alert::CircuitHalfOpen),
            breaker::State::Closed => Some(Alert::CircuitClosed),
            _ => None,
        },
        _ => None,
    }
}

/// Turns cache events into alerts. A key served stale is reported once,
/// when it turns stale, not on every stale load: it is reported again only
/// after a fresh load of it.
#[derive(Default)]
struct CacheAlerts {
    stale: Mutex<HashSet<Arc<str>>>,
}

impl CacheAlerts {
    fn alert(&self, event: &steadfast_cache::Event<'_>) -> Option<Alert> {
        match event {
            steadfast_cache::Event::StaleServed { key, reason } => {
                let key: Arc<str> = key.to_string().into();
                let first = lock(&self.stale).insert(key.clone());
                first.then_some(Alert::StaleServed {
                    key,
                    reason: *reason,
                })
            }
            steadfast_cache::Event::Loaded { key, .. } => {
                let mut stale = lock(&self.stale);
                if !stale.is_empty() {
                    stale.remove(key.to_string().as_str());
                }
                None
            }
            steadfast_cache::Event::StoreFailed { op, error, .. } => Some(Alert::StoreFailed {
                op: *op,
                kind: error.kind(),
            }),
            _ => None,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Parts<St> {
    defaults: Option<Defaults>,
    listener: Option<AlertListener>,
    startup_fallbacks: AtomicU64,
    cache: Option<CacheHandle<Key, ConfigResponse, St>>,
    retry: Option<RetryHandle>,
    breaker: Option<breaker::Handle>,
    fallback: Option<FallbackHandle>,
    origin: Arc<OriginCounters>,
    startup: StartupPolicy,
}

/// A snapshot of a [`Loader`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Loads answered from the cache while fresh (memory or shared tier).
    pub cache_hits: u64,
    /// Loads that found nothing servable in the cache.
    pub cache_misses: u64,
    /// Calls that reached the source.
    pub primary_loads: u64,
    /// Source answers rejected by the stack's check (invalid configs).
    pub invalid_responses: u64,
    /// Loads answered by the fallback.
    pub fallback_uses: u64,
    /// Times the circuit opened.
    pub circuit_breaker_opens: u64,
    /// Calls the open circuit rejected without reaching the source.
    pub circuit_breaker_rejections: u64,
    /// Retries made.
    pub retries: u64,
    /// Loads answered with a stale value.
    pub stale_served: u64,
    /// Failed operations of the cache's stores (the shared L2 above all).
    pub l2_errors: u64,
}

/// The whole resilient stack over a source, as one
/// `Service<ConfigRequest>`, with typed loading, startup policy and
/// counters.
pub struct Loader<S, St> {
    service: Full<S, St>,
    primary: Cached<S, St>,
    parts: Arc<Parts<St>>,
}

impl<S, St> Clone for Loader<S, St>
where
    Full<S, St>: Clone,
    Cached<S, St>: Clone,
{
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            primary: self.primary.clone(),
            parts: self.parts.clone(),
        }
    }
}

impl<S, St> fmt::Debug for Loader<S, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("cache", &self.parts.cache.is_some())
            .field("retry", &self.parts.retry.is_some())
            .field("breaker", &self.parts.breaker.is_some())
            .field("fallback", &self.parts.fallback.is_some())
            .field("startup", &self.parts.startup)
            .finish()
    }
}

impl<S, St> Service<ConfigRequest> for Loader<S, St>
where
    Full<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = <Full<S, St> as Service<ConfigRequest>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, req: ConfigRequest) -> Self::Future {
        self.service.call(req)
    }
}

impl<S, St> Loader<S, St>
where
    Full<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    Cached<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
{
    /// Loads a configuration through the whole stack.
    pub async fn load_response(
        &self,
        req: impl Into<ConfigRequest>,
    ) -> Result<ConfigResponse, ConfigError> {
        self.service.clone().oneshot(req.into()).await
    }

    /// Loads a configuration through the whole stack and decodes it as `T`.
    pub async fn load<T: DeserializeOwned>(
        &self,
        req: impl Into<ConfigRequest>,
    ) -> Result<Arc<T>, ConfigError> {
        let response = self.load_response(req).await?;
        Ok(Arc::new(response.decode::<T>()?))
    }

    /// The first load of a configuration, under the
    /// [`StartupPolicy`]: fail fast, serve the fallback, or keep trying the
    /// source for a bounded time first.
    pub async fn start<T: DeserializeOwned>(
        &self,
        req: impl Into<ConfigRequest>,
    ) -> Result<Arc<T>, ConfigError> {
        let req = req.into();
        let response = match self.parts.startup {
            StartupPolicy::FailFast => self.primary.clone().oneshot(req).await?,
            StartupPolicy::UseFallback => self.service.clone().oneshot(req).await?,
            StartupPolicy::Wait(max) => self.wait_for_source(req, max).await?,
        };
        Ok(Arc::new(response.decode::<T>()?))
    }

    async fn wait_for_source(
        &self,
        req: ConfigRequest,
        max: Duration,
    ) -> Result<ConfigResponse, ConfigError> {
        let deadline = Instant::now() + max;
        let mut pause = Duration::from_millis(100);
        let error = loop {
            let attempt =
                tokio::time::timeout_at(deadline, self.primary.clone().oneshot(req.clone()));
            match attempt.await {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(error)) => {
                    let now = Instant::now();
                    if now >= deadline || !error.is_transient() {
                        break error;
                    }
                    let wait = error.retry_after().unwrap_or(pause).max(pause);
                    tracing::warn!(%error, ?wait, "config source not available at startup; waiting");
                    tokio::time::sleep_until(deadline.min(now + wait)).await;
                    if Instant::now() >= deadline {
                        break error;
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                }
                Err(_) => break ConfigError::Timeout(max),
            }
        };
        // The source had its chance: answer from the fallback directly,
        // without another round through the source.
        let Some(defaults) = &self.parts.defaults else {
            return Err(error);
        };
        let mut response = defaults.inner.find(&req, &error).ok_or(error.clone())?;
        response.set_source(Source::Fallback);
        self.parts.startup_fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("steadfast_fallback_used_total").increment(1);
        tracing::warn!(%error, "config source not available at startup; serving the fallback");
        if let Some(listener) = &self.parts.listener {
            listener(&Alert::FallbackUsed { error });
        }
        Ok(response)
    }
}

impl<S, St> Loader<S, St> {
    /// The builder of a stack.
    pub fn builder() -> StackBuilder {
        StackBuilder::new()
    }

    /// The cache's handle: invalidate, clear, counters.
    pub fn cache(&self) -> Option<&CacheHandle<Key, ConfigResponse, St>> {
        self.parts.cache.as_ref()
    }

    /// The circuit breaker's handle: state, counters, manual control.
    pub fn breaker(&self) -> Option<&breaker::Handle> {
        self.parts.breaker.as_ref()
    }

    /// The retry layer's handle: counters.
    pub fn retry(&self) -> Option<&RetryHandle> {
        self.parts.retry.as_ref()
    }

    /// The fallback's handle: counters.
    pub fn fallback(&self) -> Option<&FallbackHandle> {
        self.parts.fallback.as_ref()
    }

    /// A snapshot of the counters of every layer.
    pub fn metrics(&self) -> Metrics
    where
        St: Store<Key, ConfigResponse>,
    {
        use std::sync::atomic::Ordering::Relaxed;
        let mut m = Metrics {
            primary_loads: self.parts.origin.loads.load(Relaxed),
            invalid_responses: self.parts.origin.rejected.load(Relaxed),
            ..Metrics::default()
        };
        if let Some(cache) = &self.parts.cache {
            let s = cache.stats();
            m.cache_hits = s.l1_hits + s.l2_hits;
            m.cache_misses = s.misses;
            m.stale_served = s.stale_served;
            m.l2_errors = s.store_errors;
        }
        if let Some(retry) = &self.parts.retry {
            m.retries = retry.stats().retries;
        }
        if let Some(breaker) = &self.parts.breaker {
            let c = breaker.counters();
            m.circuit_breaker_opens = c.opened;
            m.circuit_breaker_rejections = c.rejected;
        }
        if let Some(fallback) = &self.parts.fallback {
            // A load the defaults have nothing for is counted as used and
            // as failed: it was not answered.
            m.fallback_uses = fallback.used().saturating_sub(fallback.failed())
                + self.parts.startup_fallbacks.load(Relaxed);
        }
        m
    }
}

/// A JSON fallback body, for [`StackBuilder::fallback`].
pub fn json_fallback(body: impl Into<bytes::Bytes>) -> ConfigResponse {
    ConfigResponse::new(body, Format::Json).with_source(Source::Fallback)
}
