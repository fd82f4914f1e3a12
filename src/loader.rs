//! [`Loader`]: the built stack, as one service, with typed loading and the
//! layers' handles.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use steadfast_breaker as breaker;
use steadfast_cache::{CacheHandle, Store};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Validate};
use steadfast_core::{CircuitOpen, Provenance, Source};
use steadfast_fallback::FallbackHandle;
use steadfast_retry::RetryHandle;
use tokio::time::Instant;
use tower::ServiceExt;
use tower::util::Either;
use tower_service::Service;

use crate::beneath::Beneath;
use crate::defaults::Defaults;
use crate::episode::Episodes;
use crate::layers::{CacheService, Cached, Full, Key, Measured};
use crate::origin::OriginCounters;
use crate::policy::StartupPolicy;

pub(crate) struct Parts<St> {
    pub(crate) defaults: Option<Defaults>,
    pub(crate) episodes: Arc<Episodes>,
    pub(crate) cache: Option<CacheHandle<Key, ConfigResponse, St>>,
    pub(crate) retry: Option<RetryHandle>,
    pub(crate) breaker: Option<breaker::Handle>,
    pub(crate) fallback: Option<FallbackHandle>,
    pub(crate) origin: Arc<OriginCounters>,
    pub(crate) startup: StartupPolicy,
    /// The source beneath the circuit breaker, for the startup wait's
    /// probes past an open circuit.
    pub(crate) probe: Option<Beneath>,
    /// The source beneath the cache, for the watcher's polls.
    pub(crate) beneath: Beneath,
}

/// The whole resilient stack over a source, as one
/// `Service<ConfigRequest>`, with typed loading, startup policy and
/// counters.
pub struct Loader<S, St> {
    pub(crate) service: Measured<S, St>,
    pub(crate) primary: Cached<S, St>,
    pub(crate) parts: Arc<Parts<St>>,
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
    type Future = <Measured<S, St> as Service<ConfigRequest>>::Future;

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
    St: Store<Key, ConfigResponse>,
{
    /// Loads a configuration through the whole stack.
    ///
    /// A fresh cache hit is answered at once, as the cache answers it,
    /// without the layers around it or below it; anything else goes
    /// through the whole stack.
    pub fn load_response(
        &self,
        req: impl Into<ConfigRequest>,
    ) -> impl Future<Output = Result<ConfigResponse, ConfigError>> + '_ {
        let req = req.into();
        let state = match self.fresh(&req) {
            Some(response) => Ok(response),
            // Boxed: the whole stack's future is large, and a hit should
            // not carry (and move) it.
            None => Err(Box::pin(self.service.clone().oneshot(req))),
        };
        async move {
            match state {
                Ok(response) => Ok(response),
                Err(load) => load.await,
            }
        }
    }

    /// A fresh hit of the cache, counted (and timed) as one, marked as
    /// the cache's.
    fn fresh(&self, req: &ConfigRequest) -> Option<ConfigResponse> {
        self.hit(|cache| cache.fresh(req))
    }

    /// `f` of a fresh hit of the cache, counted (and timed) as one.
    #[inline]
    fn fresh_with<R>(
        &self,
        req: &ConfigRequest,
        f: impl FnOnce(&ConfigResponse) -> R,
    ) -> Option<R> {
        self.hit(|cache| cache.fresh_with(req, f))
    }

    /// `look` at the cache, timed when it hits and load latency is
    /// measured.
    #[inline]
    fn hit<R>(&self, look: impl FnOnce(&CacheService<S, St>) -> Option<R>) -> Option<R> {
        let Either::Left(cache) = &self.primary else {
            return None;
        };
        let Some(histograms) = self.service.histograms() else {
            return look(cache);
        };
        let started = Instant::now();
        let hit = look(cache);
        if hit.is_some() {
            histograms.record_hit(started.elapsed().as_secs_f64());
        }
        hit
    }

    /// Loads a configuration through the whole stack, decoded as `T`.
    ///
    /// The value is decoded once per version and kept beside the cached
    /// bytes ([`ConfigResponse::decode_shared`]): a cache hit hands out a
    /// clone of the same `Arc<T>`, without parsing or allocating. A new
    /// version (a refresh, an invalidation, a copy read back from a shared
    /// store) is decoded once, however many callers ask for it at once, so
    /// the value is never older than [`load_response`](Self::load_response)'s.
    /// A body that does not decode as `T` is a [`ConfigError::Decode`] for
    /// `T` only: the bytes stay cached for the types they fit.
    pub fn load<T>(
        &self,
        req: impl Into<ConfigRequest>,
    ) -> impl Future<Output = Result<Arc<T>, ConfigError>> + '_
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let req = req.into();
        // A fresh hit whose value was decoded already is answered at once,
        // with only that value copied out of the cache; everything else is
        // boxed, so that a hit carries none of it.
        let found = self.fresh_with(&req, |response| match response.peek_shared::<T>() {
            Some(done) => Ok(done),
            None => Err(response.clone()),
        });
        let state = match found {
            Some(Ok(done)) => Ok(done),
            Some(Err(response)) => Err(Box::pin(Load::Decode(response).run::<T, S, St>(self))),
            None => Err(Box::pin(Load::Call(req).run::<T, S, St>(self))),
        };
        async move {
            match state {
                Ok(done) => done,
                Err(load) => load.await,
            }
        }
    }

    /// [`load`](Self::load), then `T`'s [`Validate`] check, also run once
    /// per version; a failed check is a [`ConfigError::Validation`].
    pub fn load_validated<T>(
        &self,
        req: impl Into<ConfigRequest>,
    ) -> impl Future<Output = Result<Arc<T>, ConfigError>> + '_
    where
        T: DeserializeOwned + Validate + Send + Sync + 'static,
    {
        let response = self.load_response(req);
        async move { response.await?.decode_shared_validated::<T>().await }
    }
}

/// What a typed load has left to do after looking at the cache.
enum Load {
    /// Call the stack.
    Call(ConfigRequest),
    /// Decode the fresh response it found.
    Decode(ConfigResponse),
}

impl Load {
    async fn run<T, S, St>(self, loader: &Loader<S, St>) -> Result<Arc<T>, ConfigError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
        Full<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    {
        let response = match self {
            Load::Decode(response) => response,
            Load::Call(req) => loader.service.clone().oneshot(req).await?,
        };
        response.decode_shared::<T>().await
    }
}

impl<S, St> Loader<S, St> {
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
}

impl<St> Parts<St> {
    /// Answers a startup wait that ran out from the fallback, counted and
    /// followed as any fallback answer is; the error when there is none.
    ///
    /// `error` may have been made a while ago (the wait slept toward its
    /// deadline since): a circuit's time to its next probe is read again.
    pub(crate) fn startup_fallback(
        &self,
        req: &ConfigRequest,
        error: ConfigError,
    ) -> Result<ConfigResponse, ConfigError> {
        let error = match (&error, &self.breaker) {
            (ConfigError::CircuitOpen(_), Some(breaker)) => match breaker.retry_in() {
                Some(remaining) => ConfigError::CircuitOpen(CircuitOpen::new(remaining)),
                None => error,
            },
            _ => error,
        };
        let found = self
            .defaults
            .as_ref()
            .and_then(|defaults| defaults.inner.find(req, &error));
        self.episodes
            .fallback(req.shared_key(), found.is_some().then_some(&error));
        let mut response = found.ok_or(error)?;
        response.set_source(Source::Fallback);
        Ok(response)
    }
}
