//! Delays between attempts: a growth curve, a cap and a jitter.

use std::time::Duration;

use fastrand::Rng;

use crate::error::BuildError;

/// How the delay before a retry is spread at random, as defined in AWS's
/// "Exponential Backoff and Jitter". Draws are in whole milliseconds, the
/// resolution of tokio's timer.
///
/// The [cap](Backoff::with_max) applies before the jitter: with a curve value
/// `b` (already capped), [`Full`](Jitter::Full) waits a uniform draw from
/// `[0, b]`, [`Equal`](Jitter::Equal) from `[b/2, b]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Jitter {
    /// No jitter: the curve value itself.
    None,
    /// A uniform draw from `[0, b]`.
    #[default]
    Full,
    /// Half the curve value plus a uniform draw from `[0, b/2]`.
    Equal,
    /// `min(max, uniform(initial, previous * 3))`, starting from
    /// `previous = initial`. The curve is not used: each delay grows from the
    /// previous one.
    Decorrelated,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Curve {
    Constant,
    Linear { step: Duration },
    Exponential { multiplier: f64 },
}

/// The delay before each retry: a constant, linear or exponential curve from
/// an initial delay, capped at a maximum, then jittered.
///
/// The default is exponential from 100 ms with multiplier 2, capped at 30 s,
/// with [full jitter](Jitter::Full).
///
/// ```
/// use std::time::Duration;
/// use steadfast_retry::{Backoff, Jitter};
///
/// let backoff = Backoff::exponential(Duration::from_secs(1), 2.0)
///     .with_max(Duration::from_secs(5))
///     .with_jitter(Jitter::None);
/// let delays: Vec<_> = backoff.delays(7).take(5).collect();
/// assert_eq!(
///     delays,
///     [1, 2, 4, 5, 5].map(Duration::from_secs),
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    curve: Curve,
    initial: Duration,
    max: Duration,
    jitter: Jitter,
}

/// The longest delay of a backoff unless set: 30 s.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);

/// The first delay of the default backoff: 100 ms (exponential, doubling,
/// full jitter). The preset stack uses it too.
pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(100);

impl Backoff {
    fn new(curve: Curve, initial: Duration) -> Self {
        Self {
            curve,
            initial,
            max: if initial > DEFAULT_MAX_DELAY {
                initial
            } else {
                DEFAULT_MAX_DELAY
            },
            jitter: Jitter::Full,
        }
    }

    /// The same delay before every retry.
    pub fn constant(delay: Duration) -> Self {
        Self::new(Curve::Constant, delay)
    }

    /// `initial`, then `initial + step`, `initial + 2 * step`, ...
    pub fn linear(initial: Duration, step: Duration) -> Self {
        Self::new(Curve::Linear { step }, initial)
    }

    /// `initial`, then `initial * multiplier`, `initial * multiplier²`, ...
    /// The multiplier must be finite and at least 1.
    pub fn exponential(initial: Duration, multiplier: f64) -> Self {
        Self::new(Curve::Exponential { multiplier }, initial)
    }

    /// Caps the curve (before jitter) and any delay a server asks for. It must
    /// be at least the initial delay. Defaults to 30 s, or the initial delay
    /// if that is longer.
    pub fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// Sets the jitter; [`Jitter::Full`] by default.
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The initial delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The maximum delay.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The jitter.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// Checks the parameters: a multiplier that is finite and at least 1, a
    /// maximum no shorter than the initial delay.
    pub fn validate(&self) -> Result<(), BuildError> {
        if let Curve::Exponential { multiplier } = self.curve
            && (!multiplier.is_finite() || multiplier < 1.0)
        {
            return Err(BuildError::Multiplier { multiplier });
        }
        if self.max < self.initial {
            return Err(BuildError::MaxBelowInitial {
                initial: self.initial,
                max: self.max,
            });
        }
        Ok(())
    }

    /// The delays before successive retries, drawn from `seed`: the same
    /// seed gives the same delays. They are the delays the first request
    /// through a layer built with this backoff and
    /// [`seed`](crate::RetryLayerBuilder::seed) waits.
    pub fn delays(&self, seed: u64) -> Delays {
        Delays {
            backoff: *self,
            seed,
            retry: 1,
            previous: self.initial,
        }
    }

    /// The curve value before retry `retry` (1-based), capped.
    fn curve(&self, retry: u32) -> Duration {
        let steps = retry.saturating_sub(1);
        let value = match self.curve {
            Curve::Constant => self.initial,
            Curve::Linear { step } => step
                .checked_mul(steps)
                .and_then(|grown| self.initial.checked_add(grown))
                .unwrap_or(Duration::MAX),
            Curve::Exponential { multiplier } => {
                let nanos = self.initial.as_nanos() as f64
                    * multiplier.powi(i32::try_from(steps).unwrap_or(i32::MAX));
                if nanos < u64::MAX as f64 {
                    Duration::from_nanos(nanos.round() as u64)
                } else {
                    Duration::MAX
                }
            }
        };
        value.min(self.max)
    }

    /// The delay before retry `retry` (1-based), given the previous delay.
    pub(crate) fn delay(&self, retry: u32, previous: Duration, rng: &mut Rng) -> Duration {
        match self.jitter {
            Jitter::None => self.curve(retry),
            Jitter::Full => uniform(rng, Duration::ZERO, self.curve(retry)),
            Jitter::Equal => {
                let capped = self.curve(retry);
                let half = capped / 2;
                uniform(rng, capped - half, capped)
            }
            Jitter::Decorrelated => {
                let high = previous.saturating_mul(3).max(self.initial);
                uniform(rng, self.initial, high).min(self.max)
            }
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::exponential(DEFAULT_INITIAL_DELAY, 2.0)
    }
}

/// A uniform draw from `[low, high]`, in whole milliseconds (the resolution
/// of tokio's timer) when the range holds one, in nanoseconds otherwise.
fn uniform(rng: &mut Rng, low: Duration, high: Duration) -> Duration {
    let (low, high) = (nanos(low), nanos(high));
    let high = high.max(low);
    let (low_ms, high_ms) = (low.div_ceil(MILLI), high / MILLI);
    if low_ms <= high_ms {
        Duration::from_millis(rng.u64(low_ms..=high_ms))
    } else {
        Duration::from_nanos(rng.u64(low..=high))
    }
}

const MILLI: u64 = 1_000_000;

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The delays before successive retries of one request, from
/// [`Backoff::delays`]. Endless; take as many as there are retries.
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    seed: u64,
    retry: u32,
    previous: Duration,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let mut rng = rng_for(self.seed, 0, self.retry);
        let delay = self.backoff.delay(self.retry, self.previous, &mut rng);
        self.retry = self.retry.saturating_add(1);
        self.previous = delay;
        Some(delay)
    }
}

/// The `Rng` for the delay before retry `retry` of request number `index`:
/// one seed per layer, one stream per request, nothing shared to lock.
pub(crate) fn rng_for(seed: u64, index: u64, retry: u32) -> Rng {
    let mixed = splitmix(seed ^ splitmix(index)).wrapping_add(u64::from(retry));
    Rng::with_seed(splitmix(mixed))
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
