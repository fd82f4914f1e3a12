//! Watching one configuration: poll it through a service at a jittered
//! interval and publish each new version.
//!
//! A [`Watcher`] loads one [`ConfigRequest`] through any
//! `Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>`
//! (typically the whole steadfast stack), decodes it to `T` and publishes it
//! on a [`tokio::sync::watch::Receiver<Arc<T>>`]. It then polls again and
//! again:
//!
//! - an unchanged response (the same version, or the same bytes when there is
//!   no version) is not decoded or published again;
//! - a failed load or decode keeps the last good value; the error is logged,
//!   counted and kept as the handle's [`last_error`](WatchHandle::last_error);
//! - it never goes back: a response fetched before the published one (an
//!   older cached copy) is ignored, and so is a fallback answer once a real
//!   value was published (while a fallback answer is published, any real
//!   value replaces it);
//! - it stops when the [`WatchHandle`] is dropped, or when every receiver is.
//!
//! Every poll is counted on the handle ([`WatchStats`]) and through the
//! `metrics` facade as `steadfast_config_watch_polls_total`, labelled
//! `outcome` = `published`, `unchanged`, `ignored` or `error`.
//!
//! Polls go through the whole stack: a fresh cache entry answers without
//! reaching the origin, and the HTTP source makes each poll a conditional GET
//! (`If-None-Match`), whose `304 Not Modified` comes back as the same
//! version.
//!
//! The first load is bounded by a startup timeout and returns a typed
//! [`StartError`]. Each version is decoded by a function of the response, or
//! with serde by [`build_decoded`](WatchBuilder::build_decoded) and
//! [`build_validated`](WatchBuilder::build_validated).
//!
//! ```
//! use std::time::Duration;
//!
//! use steadfast_config::watch::Watcher;
//! use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
//! use tower::service_fn;
//!
//! #[derive(serde::Deserialize)]
//! struct App {
//!     port: u16,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = service_fn(|_: ConfigRequest| async {
//!     let body = r#"{"port": 8080}"#;
//!     Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json).with_version("v1"))
//! });
//!
//! let (handle, app) = Watcher::builder("app")
//!     .interval(Duration::from_secs(30))
//!     .jitter(0.1)
//!     .seed(7)
//!     .build_decoded::<App>()?
//!     .start(source)
//!     .await?;
//!
//! assert_eq!(app.borrow().port, 8080);
//! assert_eq!(handle.stats().published, 1);
//! # Ok(())
//! # }
//! ```

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use steadfast_core::Source;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tower::{Service, ServiceExt};

use crate::{ConfigError, ConfigRequest, ConfigResponse, Validate};

/// Configures a [`Watcher`]; made by [`Watcher::builder`].
#[derive(Debug, Clone)]
pub struct WatchBuilder {
    request: ConfigRequest,
    interval: Duration,
    jitter: f64,
    startup_timeout: Duration,
    seed: Option<u64>,
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

    /// How long the first load may take. Defaults to 10 seconds; must not be
    /// zero.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Seeds the jitter's random numbers, for reproducible intervals.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Validates the settings and makes a watcher decoding each new version
    /// with serde, as the response's [format](crate::Format)
    /// ([`ConfigResponse::decode`]).
    pub fn build_decoded<T>(self) -> Result<Watcher<DecodeFn<T>>, InvalidWatch>
    where
        T: DeserializeOwned,
    {
        self.build(ConfigResponse::decode::<T> as DecodeFn<T>)
    }

    /// Validates the settings and makes a watcher decoding each new version
    /// with serde, then checking it with [`Validate`]
    /// ([`ConfigResponse::decode_validated`]); a version that fails the
    /// check is an error, and the last good value is kept.
    pub fn build_validated<T>(self) -> Result<Watcher<DecodeFn<T>>, InvalidWatch>
    where
        T: DeserializeOwned + Validate,
    {
        self.build(ConfigResponse::decode_validated::<T> as DecodeFn<T>)
    }

    /// Validates the settings and makes a watcher decoding each new version
    /// with `decode`.
    pub fn build<T, D>(self, decode: D) -> Result<Watcher<D>, InvalidWatch>
    where
        D: Fn(&ConfigResponse) -> Result<T, ConfigError>,
    {
        if self.interval.is_zero() {
            return Err(InvalidWatch::ZeroInterval);
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(InvalidWatch::Jitter(self.jitter));
        }
        if self.startup_timeout.is_zero() {
            return Err(InvalidWatch::ZeroStartupTimeout);
        }
        let rng = match self.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Ok(Watcher {
            request: self.request,
            interval: self.interval,
            jitter: self.jitter,
            startup_timeout: self.startup_timeout,
            rng,
            decode,
        })
    }
}

/// The decode function of a watcher made by
/// [`build_decoded`](WatchBuilder::build_decoded) or
/// [`build_validated`](WatchBuilder::build_validated).
pub type DecodeFn<T> = fn(&ConfigResponse) -> Result<T, ConfigError>;

/// A validated watch of one configuration, ready to
/// [`start`](Watcher::start).
pub struct Watcher<D> {
    request: ConfigRequest,
    interval: Duration,
    jitter: f64,
    startup_timeout: Duration,
    rng: fastrand::Rng,
    decode: D,
}

impl Watcher<()> {
    /// Starts configuring a watch of `request`.
    pub fn builder(request: impl Into<ConfigRequest>) -> WatchBuilder {
        WatchBuilder {
            request: request.into(),
            interval: Duration::from_secs(30),
            jitter: 0.1,
            startup_timeout: Duration::from_secs(10),
            seed: None,
        }
    }
}

impl<D> Watcher<D> {
    /// Loads the configuration once, within the startup timeout, then keeps
    /// polling it through `service` on a spawned task.
    ///
    /// Returns the handle that keeps the watch running and a receiver of
    /// every published version, starting with the first.
    pub async fn start<S, T>(
        self,
        mut service: S,
    ) -> Result<(WatchHandle<T>, watch::Receiver<Arc<T>>), StartError>
    where
        S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Send + 'static,
        S::Future: Send,
        D: Fn(&ConfigResponse) -> Result<T, ConfigError> + Send + 'static,
        T: Send + Sync + 'static,
    {
        let Watcher {
            request,
            interval,
            jitter,
            startup_timeout,
            rng,
            decode,
        } = self;
        let first = tokio::time::timeout(startup_timeout, load(&mut service, &request)).await;
        let loaded = first.map(|result| {
            result.and_then(|response| {
                let value = decode(&response)?;
                Ok((response, value))
            })
        });
        let (response, value) = match loaded {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(error)) => {
                tracing::warn!(config = %request, %error, "first config load failed");
                return Err(StartError::Load(error));
            }
            Err(_) => {
                tracing::warn!(config = %request, timeout = ?startup_timeout, "first config load timed out");
                return Err(StartError::TimedOut(startup_timeout));
            }
        };
        tracing::info!(config = %request, version = response.version(), "config loaded");

        let (sender, receiver) = watch::channel(Arc::new(value));
        let shared = Arc::new(Shared {
            sender,
            counters: Counters::default(),
            last_error: Mutex::new(None),
        });
        shared.counters.count(Outcome::Published);
        let (stop, stopped) = oneshot::channel();
        let task = Task {
            service,
            request,
            decode,
            interval,
            jitter,
            rng,
            published: Published::of(&response),
            shared: shared.clone(),
        };
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
        f.debug_struct("Watcher")
            .field("request", &self.request)
            .field("interval", &self.interval)
            .field("jitter", &self.jitter)
            .field("startup_timeout", &self.startup_timeout)
            .finish_non_exhaustive()
    }
}

async fn load<S>(service: &mut S, request: &ConfigRequest) -> Result<ConfigResponse, ConfigError>
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    service.ready().await?.call(request.clone()).await
}

/// Keeps a watch running; dropping it stops the watch.
///
/// Reads the current value, the counters and the last error, and makes more
/// receivers.
pub struct WatchHandle<T> {
    shared: Arc<Shared<T>>,
    _stop: oneshot::Sender<()>,
}

impl<T> WatchHandle<T> {
    /// The value published last.
    pub fn current(&self) -> Arc<T> {
        self.shared.sender.borrow().clone()
    }

    /// A new receiver of published versions.
    ///
    /// The watch stops once every receiver is dropped; a receiver made after
    /// that sees the last value and no further change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<T>> {
        self.shared.sender.subscribe()
    }

    /// The counters so far.
    pub fn stats(&self) -> WatchStats {
        self.shared.counters.snapshot()
    }

    /// The error of the latest failed poll, if any poll has failed since the
    /// watch started.
    pub fn last_error(&self) -> Option<ConfigError> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether the polling task is still running (neither the handle nor
    /// every receiver was dropped).
    pub fn is_running(&self) -> bool {
        !self.shared.sender.is_closed()
    }

    /// Stops the watch; the same as dropping the handle.
    pub fn stop(self) {}
}

impl<T> fmt::Debug for WatchHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchHandle")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A snapshot of a watch's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchStats {
    /// Loads attempted, the first included.
    pub polls: u64,
    /// Versions published, the first included.
    pub published: u64,
    /// Responses equal to the published version, not published again.
    pub unchanged: u64,
    /// Responses ignored as going back: fetched before the published one,
    /// or a fallback answer after a real value.
    pub ignored: u64,
    /// Loads or decodes that failed; the last good value was kept.
    pub errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    polls: AtomicU64,
    published: AtomicU64,
    unchanged: AtomicU64,
    ignored: AtomicU64,
    errors: AtomicU64,
}

/// What became of one poll.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Published,
    Unchanged,
    Ignored,
    Error,
}

impl Counters {
    /// Counts a poll, here and through the `metrics` facade.
    fn count(&self, outcome: Outcome) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        let (counter, label) = match outcome {
            Outcome::Published => (&self.published, "published"),
            Outcome::Unchanged => (&self.unchanged, "unchanged"),
            Outcome::Ignored => (&self.ignored, "ignored"),
            Outcome::Error => (&self.errors, "error"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("steadfast_config_watch_polls_total", "outcome" => label).increment(1);
    }

    fn snapshot(&self) -> WatchStats {
        WatchStats {
            polls: self.polls.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
            ignored: self.ignored.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}

struct Shared<T> {
    sender: watch::Sender<Arc<T>>,
    counters: Counters,
    last_error: Mutex<Option<ConfigError>>,
}

/// What is known of the published version.
struct Published {
    version: Option<Arc<str>>,
    body: Bytes,
    fetched_at: Instant,
    fallback: bool,
}

impl Published {
    fn of(response: &ConfigResponse) -> Self {
        Self {
            version: response.version().map(Arc::from),
            body: response.body().clone(),
            fetched_at: response.fetched_at(),
            fallback: response.source() == Source::Fallback,
        }
    }

    fn is_same(&self, response: &ConfigResponse) -> bool {
        match (response.version(), self.version.as_deref()) {
            (Some(new), Some(old)) => new == old,
            _ => *response.body() == self.body,
        }
    }
}

struct Task<S, D, T> {
    service: S,
    request: ConfigRequest,
    decode: D,
    interval: Duration,
    jitter: f64,
    rng: fastrand::Rng,
    published: Published,
    shared: Arc<Shared<T>>,
}

impl<S, D, T> Task<S, D, T>
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
    D: Fn(&ConfigResponse) -> Result<T, ConfigError>,
{
    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let shared = self.shared.clone();
        loop {
            let wait = self.next_wait();
            tokio::select! {
                biased;
                _ = &mut stop => break,
                () = shared.sender.closed() => break,
                () = tokio::time::sleep(wait) => {}
            }
            let result = tokio::select! {
                biased;
                _ = &mut stop => break,
                () = shared.sender.closed() => break,
                result = load(&mut self.service, &self.request) => result,
            };
            self.apply(result);
        }
        tracing::debug!(config = %self.request, "config watch stopped");
    }

    fn next_wait(&mut self) -> Duration {
        if self.jitter == 0.0 {
            return self.interval;
        }
        let factor = 1.0 - self.jitter + 2.0 * self.jitter * self.rng.f64();
        Duration::try_from_secs_f64(self.interval.as_secs_f64() * factor).unwrap_or(self.interval)
    }

    fn apply(&mut self, result: Result<ConfigResponse, ConfigError>) {
        let counters = &self.shared.counters;
        let response = match result {
            Ok(response) => response,
            Err(error) => return self.failed(error),
        };
        let fallback = response.source() == Source::Fallback;
        let older = response.fetched_at() < self.published.fetched_at;
        let going_back = match (self.published.fallback, fallback) {
            // Any real value replaces a fallback answer, however old.
            (true, false) => false,
            (false, true) => true,
            _ => older,
        };
        if going_back {
            counters.count(Outcome::Ignored);
            tracing::debug!(
                config = %self.request,
                version = response.version(),
                source = %response.source(),
                "config response going back from the published one ignored"
            );
            return;
        }
        if self.published.is_same(&response) {
            counters.count(Outcome::Unchanged);
            self.published.fetched_at = self.published.fetched_at.max(response.fetched_at());
            self.published.fallback = fallback;
            return;
        }
        match (self.decode)(&response) {
            Ok(value) => {
                self.published = Published::of(&response);
                self.shared.sender.send_replace(Arc::new(value));
                counters.count(Outcome::Published);
                tracing::info!(
                    config = %self.request,
                    version = response.version(),
                    source = %response.source(),
                    "new config version published"
                );
            }
            Err(error) => self.failed(error),
        }
    }

    fn failed(&self, error: ConfigError) {
        self.shared.counters.count(Outcome::Error);
        tracing::warn!(config = %self.request, %error, "config poll failed; keeping the last good value");
        *self
            .shared
            .last_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error);
    }
}

/// A watch setting that makes no sense.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum InvalidWatch {
    /// The interval is zero.
    ZeroInterval,
    /// The jitter is not in `0.0..1.0`.
    Jitter(f64),
    /// The startup timeout is zero.
    ZeroStartupTimeout,
}

impl fmt::Display for InvalidWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidWatch::ZeroInterval => f.pad("watch interval must not be zero"),
            InvalidWatch::Jitter(jitter) => {
                write!(f, "watch jitter must be in 0.0..1.0, got {jitter}")
            }
            InvalidWatch::ZeroStartupTimeout => f.pad("watch startup timeout must not be zero"),
        }
    }
}

impl Error for InvalidWatch {}

/// Why a watch could not start: its first load failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StartError {
    /// The first load did not finish within the startup timeout.
    TimedOut(Duration),
    /// The first load, or decoding it, failed.
    Load(ConfigError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::TimedOut(after) => {
                write!(f, "first config load did not finish within {after:?}")
            }
            StartError::Load(error) => write!(f, "first config load failed: {error}"),
        }
    }
}

impl Error for StartError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            StartError::TimedOut(_) => None,
            StartError::Load(error) => Some(error),
        }
    }
}
