//! The watch's errors: settings that make no sense, a start that failed.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::ConfigError;

/// A watch setting that makes no sense.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum InvalidWatch {
    /// The interval is zero.
    ZeroInterval,
    /// The jitter is not in `0.0..1.0`.
    Jitter(f64),
    /// The poll timeout is zero.
    ZeroPollTimeout,
    /// No version is to be remembered.
    ZeroRememberedVersions,
    /// The fleet's lease would run out before its holder renews it: its
    /// TTL must be longer than the interval plus the poll timeout (and the
    /// long-poll wait).
    LeaseTooShort {
        /// The TTL asked for.
        ttl: Duration,
        /// The shortest that works.
        min: Duration,
    },
}

impl fmt::Display for InvalidWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidWatch::ZeroInterval => f.pad("watch interval must not be zero"),
            InvalidWatch::Jitter(jitter) => {
                write!(f, "watch jitter must be in 0.0..1.0, got {jitter}")
            }
            InvalidWatch::ZeroPollTimeout => f.pad("watch poll timeout must not be zero"),
            InvalidWatch::ZeroRememberedVersions => {
                f.pad("a watch must remember at least one version")
            }
            InvalidWatch::LeaseTooShort { ttl, min } => write!(
                f,
                "watch lease TTL {ttl:?} is shorter than a poll cycle; it must be over {min:?}"
            ),
        }
    }
}

impl Error for InvalidWatch {}

/// Why a watch could not start: its first load failed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum StartError {
    /// The first load did not finish within the poll timeout.
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
