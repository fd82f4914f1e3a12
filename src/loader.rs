//! [`Loader`]: the built stack, as one service, with typed loading and the
//! layers' handles.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use steadfast_breaker as breaker;
use steadfast_cache::CacheHandle;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::{CircuitOpen, Provenance, Source};
use steadfast_fallback::FallbackHandle;
use steadfast_retry::RetryHandle;
use tower::ServiceExt;
use tower_service::Service;

use crate::builder::StackBuilder;
use crate::defaults::Defaults;
use crate::episode::Episodes;
use crate::layers::{Cached, Full, Key, Measured};
use crate::origin::OriginCounters;
use crate::startup::StartupPolicy;

pub(crate) struct Parts<St> {
    pub(crate) defaults: Option<Defaults>,
    pub(crate) episodes: Arc<Episodes>,
    pub(crate) cache: Option<CacheHandle<Key, ConfigResponse, St>>,
    pub(crate) retry: Option<RetryHandle>,
    pub(crate) breaker: Option<breaker::Handle>,
    pub(crate) fallback: Option<FallbackHandle>,
    pub(crate) origin: Arc<OriginCounters>,
    pub(crate) startup: StartupPolicy,
    pub(crate) probe: Option<crate::startup::Probe>,
    pub(crate) beneath: crate::watch::Beneath,
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
