//! What happens at startup: [`StartupPolicy`] and [`Loader::start`].

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::Failure;
use tokio::time::Instant;
use tower::ServiceExt;
use tower_service::Service;

use crate::layers::{Cached, Full};
use crate::loader::Loader;

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

impl<S, St> Loader<S, St>
where
    Full<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    Cached<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
{
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
        self.parts.startup_fallback(&req, error)
    }
}
