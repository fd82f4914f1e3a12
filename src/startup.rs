//! What happens at startup: [`StartupPolicy`] and [`Loader::start`].
//!
//! With [`StartupPolicy::Wait`], the first load keeps trying the source
//! until it answers or the wait runs out. Each round goes through the
//! stack (cache, retry, breaker) while the circuit lets calls through. Once
//! the circuit is open, the rounds probe the source beneath it, through the
//! time limit and the response check only: the circuit's open duration
//! (60 s by default) is far longer than a startup wait, and waiting it out
//! would serve the fallback although the source came back. A probe that
//! answers stores its value in the cache, closes the circuit (the source
//! answers again) and ends the wait.
//!
//! Rounds are [`FIRST_PAUSE`] apart, doubling up to [`MAX_PAUSE`], or as
//! long as the server asked for (`Retry-After`), never past the deadline.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use steadfast_breaker as breaker;
use steadfast_cache::Store;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::{CacheKey, Failure};
use tokio::time::Instant;
use tower::ServiceExt;
use tower_service::Service;

use crate::beneath::Beneath;
use crate::layers::{Cached, Full, Key};
use crate::loader::{Loader, Parts};
use crate::policy::StartupPolicy;

/// The pause after the first failed round of a startup wait.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two rounds of a startup wait, unless the
/// server asks for a longer one.
const MAX_PAUSE: Duration = Duration::from_secs(1);

impl<S, St> Loader<S, St>
where
    Full<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    Cached<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    St: Store<Key, ConfigResponse>,
{
    /// The first load of a configuration, under the
    /// [`StartupPolicy`]: fail fast, serve the fallback, or keep trying the
    /// source for a bounded time first.
    ///
    /// The value is decoded once per version, shared with
    /// [`load`](Loader::load).
    pub async fn start<T: DeserializeOwned + Send + Sync + 'static>(
        &self,
        req: impl Into<ConfigRequest>,
    ) -> Result<Arc<T>, ConfigError> {
        let response = self.start_response(req.into()).await?;
        response.decode_shared::<T>().await
    }

    /// The first load's response under the [`StartupPolicy`].
    pub(crate) async fn start_response(
        &self,
        req: ConfigRequest,
    ) -> Result<ConfigResponse, ConfigError> {
        match self.parts.startup {
            StartupPolicy::FailFast => {
                let key = req.shared_key().clone();
                let answer = self.primary.clone().oneshot(req).await;
                if answer.is_err() {
                    // Beside the fallback layer: counted here.
                    self.parts.episodes.primary_error(&key);
                }
                answer
            }
            StartupPolicy::UseFallback => self.service.clone().oneshot(req).await,
            StartupPolicy::Wait(max) => self.wait_for_source(req, max).await,
        }
    }

    async fn wait_for_source(
        &self,
        req: ConfigRequest,
        max: Duration,
    ) -> Result<ConfigResponse, ConfigError> {
        let started = Instant::now();
        // `None`: a wait too long to have an end.
        let deadline = started.checked_add(max);
        let mut pause = FIRST_PAUSE;
        let mut last: Option<ConfigError> = None;
        let mut rounds = 0u32;
        let error = loop {
            let probe = self.probe_beneath_the_circuit();
            let round = async {
                match probe {
                    Some(probe) => self.parts.probe_once(probe, &req).await,
                    None => self.primary.clone().oneshot(req.clone()).await,
                }
            };
            let result = match deadline {
                Some(deadline) => tokio::time::timeout_at(deadline, round).await,
                None => Ok(round.await),
            };
            rounds = rounds.saturating_add(1);
            let error = match result {
                Ok(Ok(response)) => {
                    if last.is_some() {
                        tracing::info!(
                            elapsed = ?started.elapsed(),
                            rounds,
                            "config source answered at startup"
                        );
                    }
                    return Ok(response);
                }
                Ok(Err(error)) => error,
                // Cut off at the deadline: what the source said last is
                // the better answer, if it said anything.
                Err(_) => break last.unwrap_or(ConfigError::Timeout(max)),
            };
            let open = error.circuit_open().is_some();
            if !error.is_transient() {
                break error;
            }
            let now = Instant::now();
            // The remaining open time is no reason to wait where the
            // source can be probed beneath the circuit.
            let asked = if open && self.parts.probe.is_some() {
                None
            } else {
                error.retry_after()
            };
            let wait = asked.unwrap_or(pause).max(pause);
            if last.is_none() {
                tracing::warn!(%error, ?wait, "config source not available at startup; waiting");
            } else {
                tracing::debug!(%error, ?wait, "config source still not available at startup");
            }
            // An open circuit's rejection says nothing new about the
            // source: the error it last gave is kept.
            if !open || last.is_none() {
                last = Some(error);
            }
            let wake = match (now.checked_add(wait), deadline) {
                (Some(wake), Some(deadline)) => Some(wake.min(deadline)),
                (wake, None) => wake,
                (None, deadline) => deadline,
            };
            match wake {
                Some(wake) => tokio::time::sleep_until(wake).await,
                None => std::future::pending::<()>().await,
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break last.unwrap_or(ConfigError::Timeout(max));
            }
            pause = pause.saturating_mul(2).min(MAX_PAUSE);
        };
        // The source had its chance: answer from the fallback directly,
        // without another round through the source.
        self.parts.startup_fallback(&req, error)
    }

    /// The probe beneath the circuit, when the circuit is open (by its own
    /// decision: a circuit forced open is left alone).
    fn probe_beneath_the_circuit(&self) -> Option<&Beneath> {
        let breaker = self.parts.breaker.as_ref()?;
        match breaker.state() {
            breaker::State::Open => self.parts.probe.as_ref(),
            _ => None,
        }
    }
}

impl<St> Parts<St>
where
    St: Store<Key, ConfigResponse>,
{
    /// One call of the source beneath the circuit. An answer is stored in
    /// the cache and counted as a miss, as a load through it would be, and
    /// closes the circuit: the source answers again.
    async fn probe_once(
        &self,
        probe: &Beneath,
        req: &ConfigRequest,
    ) -> Result<ConfigResponse, ConfigError> {
        let response = probe.service().oneshot(req.clone()).await?;
        if let Some(cache) = &self.cache {
            // A store failure is counted and logged by the cache; the
            // answer is good all the same.
            let _ = cache.insert(req.cache_key(), response.clone()).await;
            // The load is answered with the value its own call got from
            // the source, beside the cache: a miss.
            self.episodes.count_probe_answer();
        }
        if let Some(breaker) = &self.breaker
            && matches!(
                breaker.state(),
                breaker::State::Open | breaker::State::HalfOpen
            )
        {
            // The breaker logs the circuit closing (`cause=Reset`), once.
            tracing::debug!("config source answered a startup probe; closing the circuit");
            breaker.reset();
        }
        Ok(response)
    }
}
