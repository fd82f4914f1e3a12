//! The polling task: ticks, the fleet's lease, polls under their timeout,
//! and what each answer makes of the published version and the status.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use super::event::WatchEvent;
use super::fleet::Notices;
use super::handle::Shared;
use super::order::{Verdict, Versions};
use super::settings::Settings;
use super::stats::Outcome;
use super::status::{FleetRole, StaleCause, WatchStatus};
use crate::{ConfigError, ConfigRequest, ConfigResponse};

pub(crate) async fn load<S>(
    service: &mut S,
    request: &ConfigRequest,
) -> Result<ConfigResponse, ConfigError>
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    service.ready().await?.call(request.clone()).await
}

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// A poll of the source.
    Poll,
    /// The fleet's shared copy.
    Fleet,
}

pub(crate) struct Task<S, D, T> {
    settings: Settings,
    service: S,
    /// The request each poll sends: the watched one, with the long-poll
    /// wait.
    poll: ConfigRequest,
    decode: D,
    rng: fastrand::Rng,
    versions: Versions,
    shared: Arc<Shared<T>>,
    role: FleetRole,
    /// When the published version was last written through (or loaded
    /// through the cache, for the first one).
    written: Instant,
}

impl<S, D, T> Task<S, D, T>
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
    D: Fn(&ConfigResponse) -> Result<Arc<T>, ConfigError>,
{
    pub(crate) fn new(
        settings: Settings,
        service: S,
        decode: D,
        rng: fastrand::Rng,
        versions: Versions,
        shared: Arc<Shared<T>>,
    ) -> Self {
        let poll = match settings.long_poll {
            Some(wait) => settings.request.clone().with_wait(wait),
            None => settings.request.clone(),
        };
        Self {
            settings,
            service,
            poll,
            decode,
            rng,
            versions,
            shared,
            role: FleetRole::Alone,
            written: Instant::now(),
        }
    }

    pub(crate) async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let shared = self.shared.clone();
        let mut notices: Option<watch::Receiver<Notices>> = self
            .settings
            .fleet
            .as_ref()
            .map(|fleet| fleet.follow(self.settings.request.key()));
        let mut heard = notices.as_ref().map(|n| *n.borrow()).unwrap_or_default();
        // A long poll goes out at once: the source holds it until a change.
        let long_poll = self.settings.long_poll.is_some();
        let mut next = self.next_tick(Instant::now(), long_poll);
        loop {
            let following = self.role == FleetRole::Follower;
            tokio::select! {
                biased;
                _ = &mut stop => break,
                () = shared.sender.closed() => break,
                changed = changed(&mut notices) => {
                    if !changed {
                        notices = None;
                        continue;
                    }
                    let now = notices.as_ref().map(|n| *n.borrow()).unwrap_or_default();
                    let news = now.updates != heard.updates || (now.listening && !heard.listening);
                    heard = now;
                    if news && following {
                        tokio::select! {
                            biased;
                            _ = &mut stop => break,
                            () = shared.sender.closed() => break,
                            () = self.follow() => {}
                        }
                    }
                    continue;
                }
                () = tokio::time::sleep_until(next) => {}
            }
            let again = tokio::select! {
                biased;
                _ = &mut stop => break,
                () = shared.sender.closed() => break,
                again = self.tick(heard.listening) => again,
            };
            next = self.next_tick(Instant::now(), again);
        }
        if self.role == FleetRole::Poller
            && let Some(fleet) = &self.settings.fleet
        {
            // Best effort, bounded: another instance takes over at its next
            // tick instead of after the lease's TTL.
            let key = self.settings.request.key();
            let _ = tokio::time::timeout(self.settings.poll_timeout, fleet.release(key)).await;
        }
        self.set_status(WatchStatus::Stopped { at: Instant::now() });
        tracing::debug!(config = %self.settings.request, "config watch stopped");
    }

    /// When the next tick is: at once after a long poll that should be
    /// followed by another, else after a jittered interval.
    fn next_tick(&mut self, now: Instant, again: bool) -> Instant {
        if again {
            return now;
        }
        let s = &self.settings;
        let wait = if s.jitter == 0.0 {
            s.interval
        } else {
            let factor = 1.0 - s.jitter + 2.0 * s.jitter * self.rng.f64();
            Duration::try_from_secs_f64(s.interval.as_secs_f64() * factor).unwrap_or(s.interval)
        };
        now.checked_add(wait)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
    }

    /// One tick: takes part in the fleet's election, then polls (or, as a
    /// follower not hearing notices, reads the shared copy). Whether the
    /// next poll should go out at once.
    async fn tick(&mut self, listening: bool) -> bool {
        let role = self.elect().await;
        self.set_role(role);
        match role {
            FleetRole::Follower => {
                if !listening {
                    self.follow().await;
                }
                false
            }
            FleetRole::Poller | FleetRole::Alone => self.poll_once().await,
        }
    }

    /// The role for this tick: the lease's answer, or alone without a
    /// fleet (or one that cannot answer).
    async fn elect(&mut self) -> FleetRole {
        let Some(fleet) = &self.settings.fleet else {
            return FleetRole::Alone;
        };
        let key = self.settings.request.key();
        let held = tokio::time::timeout(
            self.settings.poll_timeout,
            fleet.hold(key, self.settings.lease_ttl),
        )
        .await;
        match held {
            Ok(Ok(true)) => FleetRole::Poller,
            Ok(Ok(false)) => FleetRole::Follower,
            Ok(Err(error)) => {
                if self.role != FleetRole::Alone {
                    tracing::debug!(config = %self.settings.request, %error, "fleet lease not available; polling alone");
                }
                FleetRole::Alone
            }
            Err(_) => FleetRole::Alone,
        }
    }

    /// Polls the source once under the poll timeout and applies the
    /// answer. Whether the next poll should go out at once (a long poll
    /// that brought a change or was held for its whole wait).
    async fn poll_once(&mut self) -> bool {
        let wait = self.settings.long_poll;
        let limit = self
            .settings
            .poll_timeout
            .saturating_add(wait.unwrap_or_default());
        let started = Instant::now();
        let result = tokio::time::timeout(limit, load(&mut self.service, &self.poll)).await;
        let outcome = match result {
            Ok(result) => self.apply(result, Via::Poll).await,
            Err(_) => {
                tracing::debug!(config = %self.settings.request, timeout = ?limit, "config poll timed out");
                self.failed(
                    ConfigError::Timeout(limit),
                    StaleCause::PollTimedOut,
                    Via::Poll,
                );
                Outcome::Error
            }
        };
        match (wait, outcome) {
            (Some(_), Outcome::Published) => true,
            (Some(wait), Outcome::Unchanged) => started.elapsed() >= wait,
            _ => false,
        }
    }

    /// Reads the fleet's shared copy and applies it.
    async fn follow(&mut self) {
        let Some(fleet) = self.settings.fleet.clone() else {
            return;
        };
        let key = self.settings.request.key();
        let read = tokio::time::timeout(self.settings.poll_timeout, fleet.adopt(key)).await;
        match read {
            Ok(Ok(Some(response))) => {
                self.apply(Ok(response), Via::Fleet).await;
            }
            Ok(Ok(None)) => {
                tracing::debug!(config = %self.settings.request, "no shared copy to follow yet");
            }
            Ok(Err(error)) => {
                tracing::debug!(config = %self.settings.request, %error, "could not read the shared copy");
            }
            Err(_) => {
                tracing::debug!(config = %self.settings.request, "reading the shared copy timed out");
            }
        }
    }

    async fn apply(&mut self, result: Result<ConfigResponse, ConfigError>, via: Via) -> Outcome {
        let counters = &self.shared.counters;
        let response = match result {
            Ok(response) => response,
            Err(error) => {
                let cause = StaleCause::of(&error);
                self.failed(error, cause, via);
                return Outcome::Error;
            }
        };
        let verdict = match self.versions.judge(&response) {
            Ok(verdict) => verdict,
            Err(error) => {
                self.failed(error, StaleCause::InvalidConfig, via);
                return Outcome::Error;
            }
        };
        let outcome = match verdict {
            Verdict::Older => {
                tracing::debug!(
                    config = %self.settings.request,
                    version = response.version(),
                    source = %response.source(),
                    "config version superseded by the published one; refused"
                );
                Outcome::Ignored
            }
            Verdict::Same => {
                if via == Via::Poll
                    && let Some(store) = &self.settings.write_through
                    && store
                        .refresh_every()
                        .is_some_and(|every| self.written.elapsed() >= every)
                {
                    store.write(&self.settings.request, &response).await;
                    self.written = Instant::now();
                }
                Outcome::Unchanged
            }
            Verdict::Newer => match (self.decode)(&response) {
                Err(error) => {
                    self.failed(error, StaleCause::InvalidConfig, via);
                    return Outcome::Error;
                }
                Ok(value) => {
                    if via == Via::Poll
                        && let Some(store) = &self.settings.write_through
                    {
                        store.write(&self.settings.request, &response).await;
                        self.written = Instant::now();
                    }
                    self.versions.accept(&response);
                    self.shared.sender.send_replace(value);
                    tracing::info!(
                        config = %self.settings.request,
                        version = response.version(),
                        followed = via == Via::Fleet,
                        "new config version published"
                    );
                    self.settings.tell(&WatchEvent::Published {
                        request: &self.settings.request,
                        response: &response,
                        followed: via == Via::Fleet,
                    });
                    Outcome::Published
                }
            },
        };
        match via {
            Via::Poll => counters.poll(outcome),
            Via::Fleet => counters.followed(outcome == Outcome::Published),
        }
        // An answer of the source (or of the fleet's poller) ends a stale
        // period; a fallback start ends only with a real value.
        if !self.versions.on_fallback() {
            let live = matches!(self.shared.state().status, WatchStatus::Live { .. });
            if !live {
                self.set_status(WatchStatus::Live {
                    since: Instant::now(),
                });
            }
        }
        outcome
    }

    fn failed(&mut self, error: ConfigError, cause: StaleCause, via: Via) {
        if via == Via::Poll {
            self.shared.counters.poll(Outcome::Error);
        }
        tracing::debug!(config = %self.settings.request, %error, %cause, "config poll failed; keeping the last good value");
        let next = {
            let mut state = self.shared.state();
            state.last_error = Some(error.clone());
            match &mut state.status {
                WatchStatus::Stale {
                    error: last,
                    cause: last_cause,
                    failed_polls,
                    ..
                } => {
                    *last = error;
                    *last_cause = cause;
                    *failed_polls += 1;
                    None
                }
                WatchStatus::Fallback { error: last, .. } => {
                    *last = Some(error);
                    None
                }
                WatchStatus::Live { .. } | WatchStatus::Stopped { .. } => {
                    Some(WatchStatus::Stale {
                        since: Instant::now(),
                        error,
                        cause,
                        failed_polls: 1,
                    })
                }
            }
        };
        if let Some(next) = next {
            self.set_status(next);
        }
    }

    /// Changes the status: logs the episode it starts or ends, once, and
    /// tells the listeners.
    fn set_status(&self, to: WatchStatus) {
        let from = std::mem::replace(&mut self.shared.state().status, to.clone());
        let config = &self.settings.request;
        match (&from, &to) {
            (_, WatchStatus::Stale { error, cause, .. }) => {
                tracing::warn!(config = %config, %cause, %error, "config watch stale: polls fail; keeping the last good value");
            }
            (
                WatchStatus::Stale {
                    since,
                    failed_polls,
                    ..
                },
                _,
            ) => {
                tracing::info!(config = %config, status = %to, lasted = ?since.elapsed(), failed_polls, "config watch no longer stale");
            }
            (WatchStatus::Fallback { since, .. }, _) => {
                tracing::info!(config = %config, status = %to, lasted = ?since.elapsed(), "config watch no longer on the fallback");
            }
            _ => {}
        }
        self.settings.tell(&WatchEvent::StatusChanged {
            request: config,
            from: &from,
            to: &to,
        });
    }

    fn set_role(&mut self, role: FleetRole) {
        if role == self.role {
            return;
        }
        let from = std::mem::replace(&mut self.role, role);
        self.shared.state().role = role;
        tracing::debug!(config = %self.settings.request, %from, to = %role, "config watch fleet role changed");
        self.settings.tell(&WatchEvent::RoleChanged {
            request: &self.settings.request,
            from,
            to: role,
        });
    }
}

/// Whether the notices changed (`false`: their sender is gone); pending
/// forever without notices.
async fn changed(notices: &mut Option<watch::Receiver<Notices>>) -> bool {
    match notices {
        Some(notices) => notices.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}
