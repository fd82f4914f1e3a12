//! [`WatchBuilder`] and [`Watcher`]: a watch's settings, checked, and its
//! start.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use steadfast_core::Source;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tower::Service;

use super::WatchEvent;
use super::error::{InvalidWatch, StartError};
use super::event::WatchListener;
use super::fleet::{Fleet, WriteThrough};
use super::handle::{Shared, State, WatchHandle};
use super::order::{DEFAULT_REMEMBERED_VERSIONS, Rank, Versions, numeric_version};
use super::settings::Settings;
use super::stats::{Counters, Outcome};
use super::status::{FleetRole, WatchStatus};
use super::task::{self, Task};
use crate::{ConfigError, ConfigRequest, ConfigResponse, Validate};

/// The interval unless set: 30 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// Configures a [`Watcher`]; made by [`Watcher::builder`].
#[derive(Clone)]
pub struct WatchBuilder {
    request: ConfigRequest,
    interval: Duration,
    jitter: f64,
    poll_timeout: Option<Duration>,
    long_poll: Option<Duration>,
    seed: Option<u64>,
    remembered: usize,
    rank: Option<Rank>,
    write_through: Option<Arc<dyn WriteThrough>>,
    fleet: Option<Arc<dyn Fleet>>,
    lease_ttl: Option<Duration>,
    listeners: Vec<WatchListener>,
}

impl WatchBuilder {
    /// The time between two polls, before jitter. Defaults to 30 seconds;
    /// must not be zero.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// How far each wait may stray from the interval, as a fraction of it:
    /// each wait is drawn uniformly from
    /// `interval * (1 - jitter) .. interval * (1 + jitter)`, so that many
    /// watchers started together do not poll together. Defaults to `0.1`;
    /// must be in `0.0..1.0`.
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// How long one poll may take, retries included, before it counts as a
    /// failed poll ([`StaleCause::PollTimedOut`](super::StaleCause::PollTimedOut))
    /// and is dropped; the next poll goes out an interval later. Defaults to
    /// the interval; must not be zero. A long poll gets its wait on top.
    /// It also bounds the first load of [`start`](Watcher::start).
    pub fn poll_timeout(mut self, timeout: Duration) -> Self {
        self.poll_timeout = Some(timeout);
        self
    }

    /// Asks the source to hold each poll for up to `wait` until the
    /// configuration changes (a blocking query; see
    /// [`ConfigRequest::with_wait`] and
    /// [`HttpSourceBuilder::long_poll`](crate::HttpSourceBuilder::long_poll)).
    /// A change then arrives within a round trip. After an answer that
    /// brought a new version, or that the source held for the whole wait,
    /// the next poll goes out at once; after any other answer (a source
    /// that does not hold requests) or a failure, an interval later.
    /// `Duration::ZERO` turns it off (the default).
    pub fn long_poll(mut self, wait: Duration) -> Self {
        self.long_poll = (!wait.is_zero()).then_some(wait);
        self
    }

    /// Seeds the jitter's random numbers, for reproducible intervals.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How many superseded versions are remembered, to be refused if a
    /// source answers one again (a stale replica). Defaults to 64; must
    /// not be zero. A version forgotten past that looks new again: where
    /// versions have an order, [`order_by`](Self::order_by) decides
    /// exactly.
    pub fn remember_versions(mut self, versions: usize) -> Self {
        self.remembered = versions;
        self
    }

    /// Orders versions by `rank` (higher is newer) instead of remembering
    /// them: an answer of a lower rank than the published version is
    /// refused, one of the same rank is unchanged, one of a higher rank is
    /// new. An answer `rank` gives `None` for is an invalid config. For a
    /// numeric version header, a field of the body, etcd's mod revision.
    pub fn order_by<F>(mut self, rank: F) -> Self
    where
        F: Fn(&ConfigResponse) -> Option<u64> + Send + Sync + 'static,
    {
        self.rank = Some(Arc::new(rank));
        self
    }

    /// Orders versions as numbers: the version (an `ETag`, quotes and a
    /// weak `W/` ignored) parsed as a `u64`.
    pub fn numeric_versions(self) -> Self {
        self.order_by(numeric_version)
    }

    /// Writes each new version into `store` (the cache in front of the
    /// source) before publishing it.
    pub fn write_through(mut self, store: Arc<dyn WriteThrough>) -> Self {
        self.write_through = Some(store);
        self
    }

    /// Polls for a fleet: at each tick the watch asks `fleet` for its
    /// poller lease; only the instance that holds it polls the source, the
    /// others read what it writes. See [`Fleet`].
    pub fn fleet(mut self, fleet: Arc<dyn Fleet>) -> Self {
        self.fleet = Some(fleet);
        self
    }

    /// How long the fleet's poller lease lasts unless renewed: the longest
    /// the fleet goes without a poller when its holder dies without
    /// letting go. Defaults to one poll cycle (the longest wait, the poll
    /// timeout and the long-poll wait) plus an interval; must be longer
    /// than one poll cycle.
    pub fn lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = Some(ttl);
        self
    }

    /// Tells `listener` of each status change, published version and role
    /// change ([`WatchEvent`]); every listener set hears every event.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&WatchEvent<'_>) + Send + Sync + 'static,
    {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// The watched request.
    pub fn request(&self) -> &ConfigRequest {
        &self.request
    }

    /// Validates the settings and makes a watcher decoding each new version
    /// with serde, as the response's [format](crate::Format), once per
    /// version ([`ConfigResponse::decode_shared_sync`]): a cache holding the
    /// same version hands out the same `Arc<T>`.
    pub fn build_decoded<T>(self) -> Result<Watcher<DecodeFn<T>>, InvalidWatch>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        self.build(ConfigResponse::decode_shared_sync::<T> as DecodeFn<T>)
    }

    /// Validates the settings and makes a watcher decoding each new version
    /// with serde, then checking it with [`Validate`]
    /// ([`ConfigResponse::decode_shared_validated_sync`]); a version that
    /// fails the check is an error, and the last good value is kept.
    pub fn build_validated<T>(self) -> Result<Watcher<DecodeFn<T>>, InvalidWatch>
    where
        T: DeserializeOwned + Validate + Send + Sync + 'static,
    {
        self.build(ConfigResponse::decode_shared_validated_sync::<T> as DecodeFn<T>)
    }

    /// Validates the settings and makes a watcher decoding each new version
    /// with `decode`.
    pub fn build<T, D>(self, decode: D) -> Result<Watcher<D>, InvalidWatch>
    where
        D: Fn(&ConfigResponse) -> Result<Arc<T>, ConfigError>,
    {
        if self.interval.is_zero() {
            return Err(InvalidWatch::ZeroInterval);
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(InvalidWatch::Jitter(self.jitter));
        }
        let poll_timeout = self.poll_timeout.unwrap_or(self.interval);
        if poll_timeout.is_zero() {
            return Err(InvalidWatch::ZeroPollTimeout);
        }
        if self.remembered == 0 {
            return Err(InvalidWatch::ZeroRememberedVersions);
        }
        let longest_wait =
            Duration::try_from_secs_f64(self.interval.as_secs_f64() * (1.0 + self.jitter))
                .unwrap_or(Duration::MAX);
        let cycle = longest_wait
            .saturating_add(poll_timeout)
            .saturating_add(self.long_poll.unwrap_or_default());
        let lease_ttl = match self.lease_ttl {
            Some(ttl) if ttl <= cycle => {
                return Err(InvalidWatch::LeaseTooShort { ttl, min: cycle });
            }
            Some(ttl) => ttl,
            None => cycle.saturating_add(self.interval),
        };
        let rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Ok(Watcher {
            settings: Settings {
                request: self.request,
                interval: self.interval,
                jitter: self.jitter,
                poll_timeout,
                long_poll: self.long_poll,
                lease_ttl,
                remembered: self.remembered,
                rank: self.rank,
                write_through: self.write_through,
                fleet: self.fleet,
                listeners: self.listeners.into(),
            },
            rng,
            decode,
        })
    }
}

impl fmt::Debug for WatchBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchBuilder")
            .field("request", &self.request)
            .field("interval", &self.interval)
            .field("jitter", &self.jitter)
            .field("poll_timeout", &self.poll_timeout)
            .field("long_poll", &self.long_poll)
            .field("remembered", &self.remembered)
            .field("ordered", &self.rank.is_some())
            .field("write_through", &self.write_through.is_some())
            .field("fleet", &self.fleet.is_some())
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

/// The decode function of a watcher made by
/// [`build_decoded`](WatchBuilder::build_decoded) or
/// [`build_validated`](WatchBuilder::build_validated).
pub type DecodeFn<T> = fn(&ConfigResponse) -> Result<Arc<T>, ConfigError>;

/// A validated watch of one configuration, ready to
/// [`start`](Watcher::start).
pub struct Watcher<D> {
    settings: Settings,
    rng: fastrand::Rng,
    decode: D,
}

impl Watcher<()> {
    /// Starts configuring a watch of `request`.
    pub fn builder(request: impl Into<ConfigRequest>) -> WatchBuilder {
        WatchBuilder {
            request: request.into(),
            interval: DEFAULT_INTERVAL,
            jitter: 0.1,
            poll_timeout: None,
            long_poll: None,
            seed: None,
            remembered: DEFAULT_REMEMBERED_VERSIONS,
            rank: None,
            write_through: None,
            fleet: None,
            lease_ttl: None,
            listeners: Vec::new(),
        }
    }
}

impl<D> Watcher<D> {
    /// The watched request.
    pub fn request(&self) -> &ConfigRequest {
        &self.settings.request
    }

    /// The poll timeout.
    pub fn poll_timeout(&self) -> Duration {
        self.settings.poll_timeout
    }

    /// Loads the configuration once through `service`, within the poll
    /// timeout, writes it through, then keeps polling on a spawned task.
    ///
    /// `service` should be the source beneath any cache (through retries
    /// and a circuit breaker): each poll then reaches the source, whatever
    /// a cache's TTL. Returns the handle that keeps the watch running and
    /// a receiver of every published version, starting with the first.
    pub async fn start<S, T>(
        self,
        mut service: S,
    ) -> Result<(WatchHandle<T>, watch::Receiver<Arc<T>>), StartError>
    where
        S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Send + 'static,
        S::Future: Send,
        D: Fn(&ConfigResponse) -> Result<Arc<T>, ConfigError> + Send + 'static,
        T: Send + Sync + 'static,
    {
        let request = self.settings.request.clone();
        let limit = self.settings.poll_timeout;
        let first = match tokio::time::timeout(limit, task::load(&mut service, &request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                tracing::warn!(config = %request, %error, "first config load failed");
                return Err(StartError::Load(error));
            }
            Err(_) => {
                tracing::warn!(config = %request, timeout = ?limit, "first config load timed out");
                return Err(StartError::TimedOut(limit));
            }
        };
        if let Some(store) = &self.settings.write_through {
            store.write(&request, &first).await;
        }
        self.start_with(first, service, true)
    }

    /// Starts from `first`, the configuration as it was just loaded (by a
    /// stack's startup policy, say: a fallback answer is published as such
    /// and replaced by the first real value), then keeps polling through
    /// `service` on a spawned task. `polled` tells whether `first` is
    /// counted as a poll of the source.
    pub fn start_with<S, T>(
        self,
        first: ConfigResponse,
        service: S,
        polled: bool,
    ) -> Result<(WatchHandle<T>, watch::Receiver<Arc<T>>), StartError>
    where
        S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Send + 'static,
        S::Future: Send,
        D: Fn(&ConfigResponse) -> Result<Arc<T>, ConfigError> + Send + 'static,
        T: Send + Sync + 'static,
    {
        let Watcher {
            settings,
            rng,
            decode,
        } = self;
        let request = settings.request.clone();
        let value = decode(&first).map_err(|error| {
            tracing::warn!(config = %request, %error, "first config version does not decode");
            StartError::Load(error)
        })?;
        let mut versions = Versions::new(settings.rank.clone(), settings.remembered);
        if let Err(error) = versions.judge(&first) {
            return Err(StartError::Load(error));
        }
        versions.accept(&first);
        let now = Instant::now();
        let fallback = first.source() == Source::Fallback;
        let status = if fallback {
            WatchStatus::Fallback {
                since: now,
                error: None,
            }
        } else {
            WatchStatus::Live { since: now }
        };
        let (sender, receiver) = watch::channel(value);
        let shared = Arc::new(Shared {
            sender,
            counters: Counters::default(),
            state: Mutex::new(State {
                status: status.clone(),
                last_error: None,
                role: FleetRole::Alone,
            }),
        });
        if polled {
            shared.counters.poll(Outcome::Published);
        } else {
            shared.counters.followed(true);
        }
        tracing::info!(config = %request, version = first.version(), source = %first.source(), "config watch started");
        if fallback {
            tracing::warn!(config = %request, "config watch started on the fallback; the source has not answered");
            let stopped = WatchStatus::Stopped { at: now };
            settings.tell(&WatchEvent::StatusChanged {
                request: &request,
                from: &stopped,
                to: &status,
            });
        }
        let (stop, stopped) = oneshot::channel();
        let task = Task::new(settings, service, decode, rng, versions, shared.clone());
        tokio::spawn(task.run(stopped));
        Ok((
            WatchHandle {
                shared,
                _stop: stop,
            },
            receiver,
        ))
    }
}

impl<D> fmt::Debug for Watcher<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("Watcher")
            .field("request", &s.request)
            .field("interval", &s.interval)
            .field("jitter", &s.jitter)
            .field("poll_timeout", &s.poll_timeout)
            .field("long_poll", &s.long_poll)
            .field("lease_ttl", &s.lease_ttl)
            .field("fleet", &s.fleet.is_some())
            .finish_non_exhaustive()
    }
}
