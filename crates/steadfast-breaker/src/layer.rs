//! The layer and its builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::error::BuildError;
use crate::event::Event;
use crate::handle::Handle;
use crate::lane::Circuit;
use crate::policy::DefaultClassifier;
use crate::service::CircuitBreaker;
use crate::state::{Config, Core, Listener, Shared};
use crate::window::{CountWindow, TimeWindow, Window};

/// The consecutive failures that open the circuit unless set: 5. The
/// preset stack uses it too.
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 5;
const DEFAULT_WINDOW: u32 = 100;
const DEFAULT_MINIMUM_CALLS: u32 = 10;
/// How long the circuit stays open before a probe unless set: 60 s. The
/// preset stack uses it too.
pub const DEFAULT_OPEN_DURATION: Duration = Duration::from_secs(60);

/// The largest count window a builder accepts: 2^20 calls (2 MiB).
pub const MAX_COUNT_WINDOW: u32 = 1 << 20;
/// The most buckets a time window may have: 2^16 (2 MiB).
pub const MAX_BUCKETS: u32 = 1 << 16;

/// Wraps services in a [`CircuitBreaker`].
///
/// The layer holds one circuit: every service it makes, every clone of those
/// services and every clone of the layer share it, and
/// [`handle`](CircuitBreakerLayer::handle) reads and steers it. Build one
/// with [`CircuitBreakerLayer::builder`].
pub struct CircuitBreakerLayer<C = DefaultClassifier> {
    circuit: Circuit<C>,
}

impl CircuitBreakerLayer {
    /// A builder with the defaults: open after 5 consecutive failures, stay
    /// open 60 s, then let one probe through.
    pub fn builder() -> Builder {
        Builder::default()
    }
}

impl<C> CircuitBreakerLayer<C> {
    /// A handle on this layer's circuit.
    pub fn handle(&self) -> Handle
    where
        C: Send + Sync + 'static,
    {
        Handle::new(self.circuit.shared.clone())
    }
}

impl<C> Clone for CircuitBreakerLayer<C> {
    fn clone(&self) -> Self {
        Self {
            circuit: self.circuit.clone(),
        }
    }
}

impl<C> fmt::Debug for CircuitBreakerLayer<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreakerLayer")
            .field("core", &self.circuit.shared.core)
            .finish_non_exhaustive()
    }
}

impl<S, C> Layer<S> for CircuitBreakerLayer<C> {
    type Service = CircuitBreaker<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::new(inner, self.circuit.clone())
    }
}

#[derive(Debug, Clone, Copy)]
enum WindowKind {
    Count(u32),
    Time(Duration, u32),
}

/// Settings of a [`CircuitBreakerLayer`], checked by
/// [`build`](Builder::build).
///
/// Trip policies combine freely: the circuit opens when any one of them
/// trips. With none set, it opens after 5 consecutive failures. The rates
/// share one sliding window (by default the last 100 calls) and apply once
/// it holds [`minimum_calls`](Builder::minimum_calls). They are checked
/// after every call the window counts, as Resilience4j does; both windows
/// keep running totals, so a check costs no scan of the window.
pub struct Builder<C = DefaultClassifier> {
    classifier: C,
    name: Arc<str>,
    consecutive: Option<u32>,
    failure_rate: Option<f64>,
    slow: Option<(Duration, f64)>,
    window: Option<WindowKind>,
    minimum_calls: Option<u32>,
    open: Duration,
    backoff: Option<(f64, Duration)>,
    jitter: f64,
    seed: Option<u64>,
    probes: u32,
    success_ratio: f64,
    max_wait: Option<Duration>,
    listener: Option<Listener>,
}

impl Default for Builder {
    fn default() -> Self {
        Self {
            classifier: DefaultClassifier,
            name: Arc::from("default"),
            consecutive: None,
            failure_rate: None,
            slow: None,
            window: None,
            minimum_calls: None,
            open: DEFAULT_OPEN_DURATION,
            backoff: None,
            jitter: 0.0,
            seed: None,
            probes: 1,
            success_ratio: 1.0,
            max_wait: None,
            listener: None,
        }
    }
}

impl<C> fmt::Debug for Builder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("name", &self.name)
            .field("consecutive", &self.consecutive)
            .field("failure_rate", &self.failure_rate)
            .field("slow", &self.slow)
            .field("window", &self.window)
            .field("minimum_calls", &self.minimum_calls)
            .field("open", &self.open)
            .field("backoff", &self.backoff)
            .field("jitter", &self.jitter)
            .field("probes", &self.probes)
            .field("success_ratio", &self.success_ratio)
            .field("max_wait", &self.max_wait)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> Builder<C> {
    /// Names the breaker in tracing fields and metric labels (default
    /// `default`).
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Opens after `failures` failures in a row (at least 1).
    pub fn consecutive_failures(mut self, failures: u32) -> Self {
        self.consecutive = Some(failures);
        self
    }

    /// Opens when the share of failures in the window reaches `rate`, in
    /// `(0, 1]`.
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = Some(rate);
        self
    }

    /// Opens when the share of calls slower than `threshold` in the window
    /// reaches `rate`, in `(0, 1]`. A slow half-open probe counts as a
    /// failed one.
    pub fn slow_calls(mut self, threshold: Duration, rate: f64) -> Self {
        self.slow = Some((threshold, rate));
        self
    }

    /// Rates are computed over the last `calls` calls (default 100, at most
    /// [`MAX_COUNT_WINDOW`]). The window takes two bytes per call.
    pub fn count_window(mut self, calls: u32) -> Self {
        self.window = Some(WindowKind::Count(calls));
        self
    }

    /// Rates are computed over the calls that finished in the last
    /// `window`, kept in `buckets` buckets: the window slides by
    /// `window / buckets`. The window takes 32 bytes per bucket; at most
    /// [`MAX_BUCKETS`] buckets.
    pub fn time_window(mut self, window: Duration, buckets: u32) -> Self {
        self.window = Some(WindowKind::Time(window, buckets));
        self
    }

    /// Rates apply only once the window holds `calls` calls (default 10, or
    /// the count window's size if smaller).
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.minimum_calls = Some(calls);
        self
    }

    /// How long the circuit stays open before a probe (default 60 s).
    pub fn open_duration(mut self, open: Duration) -> Self {
        self.open = open;
        self
    }

    /// Each trip that follows another without the circuit closing in
    /// between stays open `multiplier` times longer, up to `max`.
    pub fn open_backoff(mut self, multiplier: f64, max: Duration) -> Self {
        self.backoff = Some((multiplier, max));
        self
    }

    /// Spreads each open duration uniformly over `±jitter` of itself, with
    /// `jitter` in `[0, 1]` (default 0).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Seeds the random number generator behind the jitter.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How many probes may run while half-open (default 1).
    pub fn half_open_probes(mut self, probes: u32) -> Self {
        self.probes = probes;
        self
    }

    /// The share of probes that must succeed to close, in `(0, 1]` (default
    /// 1: every probe). The circuit re-opens as soon as the share can no
    /// longer be reached.
    pub fn half_open_success_ratio(mut self, ratio: f64) -> Self {
        self.success_ratio = ratio;
        self
    }

    /// Re-opens if the probes have not decided within `wait` of the circuit
    /// half-opening (default: no limit). Checked when a call arrives or the
    /// state is read.
    pub fn half_open_max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = Some(wait);
        self
    }

    /// Calls `listener` on every state change and rejection. Without a
    /// listener no event is built.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&Event) + Send + Sync + 'static,
    {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Decides with `classifier` whether a result is a success, a failure or
    /// ignored (see [`Classifier`](crate::Classifier)).
    pub fn classifier<D>(self, classifier: D) -> Builder<D> {
        Builder {
            classifier,
            name: self.name,
            consecutive: self.consecutive,
            failure_rate: self.failure_rate,
            slow: self.slow,
            window: self.window,
            minimum_calls: self.minimum_calls,
            open: self.open,
            backoff: self.backoff,
            jitter: self.jitter,
            seed: self.seed,
            probes: self.probes,
            success_ratio: self.success_ratio,
            max_wait: self.max_wait,
            listener: self.listener,
        }
    }

    /// Checks the settings and builds the layer.
    pub fn build(self) -> Result<CircuitBreakerLayer<C>, BuildError> {
        let any_policy =
            self.consecutive.is_some() || self.failure_rate.is_some() || self.slow.is_some();
        let consecutive = if any_policy {
            self.consecutive
        } else {
            Some(DEFAULT_CONSECUTIVE_FAILURES)
        };
        if consecutive == Some(0) {
            return Err(BuildError::Zero {
                name: "consecutive failures",
            });
        }
        let failure_ppm = self
            .failure_rate
            .map(|rate| ppm("failure rate", rate))
            .transpose()?;
        let slow = self
            .slow
            .map(|(threshold, rate)| {
                if threshold.is_zero() {
                    return Err(BuildError::ZeroDuration {
                        name: "slow-call threshold",
                    });
                }
                Ok((threshold, ppm("slow-call rate", rate)?))
            })
            .transpose()?;

        let windowed = failure_ppm.is_some() || slow.is_some();
        let kind = self.window.unwrap_or(WindowKind::Count(DEFAULT_WINDOW));
        let mut default_minimum = DEFAULT_MINIMUM_CALLS;
        match kind {
            WindowKind::Count(0) => {
                return Err(BuildError::Zero {
                    name: "count window",
                });
            }
            WindowKind::Count(size) if size > MAX_COUNT_WINDOW => {
                return Err(BuildError::TooLarge {
                    name: "count window",
                    value: size,
                    max: MAX_COUNT_WINDOW,
                });
            }
            WindowKind::Count(size) => {
                default_minimum = default_minimum.min(size);
                if let Some(minimum) = self.minimum_calls
                    && minimum > size
                {
                    return Err(BuildError::MinimumCallsExceedWindow {
                        minimum_calls: minimum,
                        window: size,
                    });
                }
            }
            WindowKind::Time(window, _) if window.is_zero() => {
                return Err(BuildError::ZeroDuration {
                    name: "time window",
                });
            }
            WindowKind::Time(_, 0) => return Err(BuildError::Zero { name: "buckets" }),
            WindowKind::Time(_, buckets) if buckets > MAX_BUCKETS => {
                return Err(BuildError::TooLarge {
                    name: "buckets",
                    value: buckets,
                    max: MAX_BUCKETS,
                });
            }
            WindowKind::Time(window, buckets) if window.as_nanos() < u128::from(buckets) => {
                return Err(BuildError::WindowTooShort { buckets });
            }
            WindowKind::Time(..) => {}
        }
        let minimum_calls = self.minimum_calls.unwrap_or(default_minimum);
        if minimum_calls == 0 {
            return Err(BuildError::Zero {
                name: "minimum calls",
            });
        }

        if self.open.is_zero() {
            return Err(BuildError::ZeroDuration {
                name: "open duration",
            });
        }
        let (multiplier, max_open) = match self.backoff {
            None => (1.0, self.open),
            Some((multiplier, _)) if multiplier.is_nan() || multiplier < 1.0 => {
                return Err(BuildError::InvalidMultiplier { value: multiplier });
            }
            Some((_, max)) if max < self.open => return Err(BuildError::MaxOpenBelowOpen),
            Some(backoff) => backoff,
        };
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(BuildError::InvalidJitter { value: self.jitter });
        }
        if self.probes == 0 {
            return Err(BuildError::Zero {
                name: "half-open probes",
            });
        }
        if !(self.success_ratio > 0.0 && self.success_ratio <= 1.0) {
            return Err(BuildError::InvalidRate {
                name: "half-open success ratio",
                value: self.success_ratio,
            });
        }
        if self.max_wait.is_some_and(|wait| wait.is_zero()) {
            return Err(BuildError::ZeroDuration {
                name: "half-open wait",
            });
        }
        let needed = ((self.success_ratio * f64::from(self.probes)) - 1e-9)
            .ceil()
            .clamp(1.0, f64::from(self.probes)) as u32;

        let window = windowed.then(|| match kind {
            WindowKind::Count(size) => Window::Count(CountWindow::new(size)),
            WindowKind::Time(window, buckets) => {
                let width = window.as_nanos() / u128::from(buckets);
                Window::Time(TimeWindow::new(
                    u64::try_from(width).unwrap_or(u64::MAX),
                    buckets,
                ))
            }
        });
        let config = Config {
            name: self.name,
            consecutive,
            failure_ppm,
            slow_threshold: slow.map(|(threshold, _)| threshold),
            slow_ppm: slow.map_or(0, |(_, ppm)| ppm),
            minimum_calls,
            open: self.open,
            multiplier,
            max_open,
            jitter: self.jitter,
            probes: self.probes,
            needed,
            max_wait: self.max_wait,
        };
        let rng = self
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        Ok(CircuitBreakerLayer {
            circuit: Circuit::new(Shared {
                core: Core::new(config, window, rng, self.listener),
                classifier: self.classifier,
            }),
        })
    }
}

/// A rate in `(0, 1]` as parts per million.
fn ppm(name: &'static str, rate: f64) -> Result<u32, BuildError> {
    if rate > 0.0 && rate <= 1.0 {
        Ok(((rate * 1_000_000.0).round() as u32).max(1))
    } else {
        Err(BuildError::InvalidRate { name, value: rate })
    }
}
