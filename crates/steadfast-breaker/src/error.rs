//! Errors of the breaker's builder.

use std::error::Error;
use std::fmt;

/// A breaker configuration that makes no sense, reported by
/// [`Builder::build`](crate::Builder::build).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BuildError {
    /// A rate (failure rate, slow-call rate, half-open success ratio) outside
    /// `(0, 1]`, or not a number.
    InvalidRate {
        /// Which rate.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// A count that must be at least one was zero (consecutive failures,
    /// window size, buckets, minimum calls, probes).
    Zero {
        /// Which setting.
        name: &'static str,
    },
    /// A duration that must be positive was zero (time window, open
    /// duration, slow-call threshold, half-open wait).
    ZeroDuration {
        /// Which setting.
        name: &'static str,
    },
    /// The minimum number of calls is larger than the count window, so the
    /// rates could never apply.
    MinimumCallsExceedWindow {
        /// The minimum number of calls.
        minimum_calls: u32,
        /// The window size.
        window: u32,
    },
    /// The time window is shorter than one nanosecond per bucket.
    WindowTooShort {
        /// The number of buckets.
        buckets: u32,
    },
    /// The open-duration multiplier is below 1 or not a number.
    InvalidMultiplier {
        /// The value given.
        value: f64,
    },
    /// The jitter is outside `[0, 1]` or not a number.
    InvalidJitter {
        /// The value given.
        value: f64,
    },
    /// The maximum open duration is shorter than the open duration.
    MaxOpenBelowOpen,
    /// A window larger than the breaker accepts
    /// ([`MAX_COUNT_WINDOW`](crate::MAX_COUNT_WINDOW) calls,
    /// [`MAX_BUCKETS`](crate::MAX_BUCKETS) buckets): its memory is taken
    /// up front.
    TooLarge {
        /// Which setting.
        name: &'static str,
        /// The value given.
        value: u32,
        /// The largest value accepted.
        max: u32,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            BuildError::InvalidRate { name, value } => {
                format!("circuit breaker: {name} must be in (0, 1], got {value}")
            }
            BuildError::Zero { name } => format!("circuit breaker: {name} must be at least 1"),
            BuildError::ZeroDuration { name } => {
                format!("circuit breaker: {name} must be longer than zero")
            }
            BuildError::MinimumCallsExceedWindow {
                minimum_calls,
                window,
            } => format!(
                "circuit breaker: minimum calls ({minimum_calls}) exceed the window ({window} calls)"
            ),
            BuildError::WindowTooShort { buckets } => format!(
                "circuit breaker: the time window is shorter than its {buckets} buckets allow"
            ),
            BuildError::InvalidMultiplier { value } => {
                format!("circuit breaker: open-duration multiplier must be at least 1, got {value}")
            }
            BuildError::InvalidJitter { value } => {
                format!("circuit breaker: jitter must be in [0, 1], got {value}")
            }
            BuildError::TooLarge { name, value, max } => {
                format!("circuit breaker: {name} must be at most {max}, got {value}")
            }
            BuildError::MaxOpenBelowOpen => {
                "circuit breaker: the maximum open duration is shorter than the open duration"
                    .to_owned()
            }
        };
        f.pad(&text)
    }
}

impl Error for BuildError {}
