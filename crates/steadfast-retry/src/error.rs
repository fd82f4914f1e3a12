//! The error of a builder given parameters that make no sense.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// Why a [`RetryLayer`](crate::RetryLayer) could not be built.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_attempts` was zero: a request must be tried at least once.
    ZeroAttempts,
    /// An exponential multiplier below 1, infinite or NaN.
    Multiplier {
        /// The multiplier given.
        multiplier: f64,
    },
    /// A maximum delay shorter than the initial delay.
    MaxBelowInitial {
        /// The initial delay.
        initial: Duration,
        /// The maximum delay.
        max: Duration,
    },
    /// A zero total deadline: no attempt could ever start.
    ZeroDeadline,
    /// A budget percentage outside `0..=1000`, or NaN.
    BudgetPercent {
        /// The percentage given.
        percent: f64,
    },
    /// A budget time to live outside 1 s to 60 s.
    BudgetTtl {
        /// The time to live given.
        ttl: Duration,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroAttempts => f.pad("max attempts must be at least 1"),
            BuildError::Multiplier { multiplier } => f.pad(&format!(
                "backoff multiplier must be finite and at least 1, got {multiplier}"
            )),
            BuildError::MaxBelowInitial { initial, max } => f.pad(&format!(
                "maximum delay {max:?} is shorter than the initial delay {initial:?}"
            )),
            BuildError::ZeroDeadline => f.pad("the total deadline must be longer than zero"),
            BuildError::BudgetPercent { percent } => f.pad(&format!(
                "retry budget percentage must be within 0..=1000, got {percent}"
            )),
            BuildError::BudgetTtl { ttl } => f.pad(&format!(
                "retry budget time to live must be within 1s..=60s, got {ttl:?}"
            )),
        }
    }
}

impl Error for BuildError {}
