//! [`Loader`]: the built stack, as one service, with typed loading and the
//! layers' handles.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use steadfast_breaker as breaker;
use steadfast_cache::CacheHandle;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::{Provenance, Source};
use steadfast_fallback::FallbackHandle;
use steadfast_retry::RetryHandle;
use tower::ServiceExt;
use tower_service::Service;

use crate::alert::{Alert, AlertListener};
use crate::builder::StackBuilder;
use crate::defaults::Defaults;
use crate::layers::{Cached, Full, Key};
use crate::origin::OriginCounters;
use crate::startup::StartupPolicy;

pub(crate) struct Parts<St> {
    pub(crate) defaults: Option<Defaults>,
    pub(crate) listener: Option<AlertListener>,
    pub(crate) startup_fallbacks: AtomicU64,
    pub(crate) cache: Option<CacheHandle<Key, ConfigResponse, St>>,
    pub(crate) retry: Option<RetryHandle>,
    pub(crate) breaker: Option<breaker::Handle>,
    pub(crate) fallback: Option<FallbackHandle>,
    pub(crate) origin: Arc<OriginCounters>,
    pub(crate) startup: StartupPolicy,
    pub(crate) probe: Option<crate::startup::Probe>,
}

/// The whole resilient stack over a source, as one
/// `Service<ConfigRequest>`, with typed loading, startup policy and
/// counters.
pub struct Loader<S, St> {
    pub(crate) service: Full<S, St>,
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
    /// reported as any fallback answer is; the error when there is none.
    pub(crate) fn startup_fallback(
        &self,
        req: &ConfigRequest,
        error: ConfigError,
    ) -> Result<ConfigResponse, ConfigError> {
        let Some(defaults) = &self.defaults else {
            return Err(error);
        };
        let mut response = defaults.inner.find(req, &error).ok_or(error.clone())?;
        response.set_source(Source::Fallback);
        self.startup_fallbacks.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("steadfast_fallback_used_total").increment(1);
        tracing::warn!(%error, "config source not available at startup; serving the fallback");
        if let Some(listener) = &self.listener {
            listener(&Alert::FallbackUsed { error });
        }
        Ok(response)
    }
}
