//! Errors of the cache layer's own making.

use std::error::Error;
use std::fmt;
use std::time::Duration;

/// The longest fresh, stale or negative window a builder accepts (ten
/// years): a longer one is [`BuildError::WindowTooLong`].
pub const MAX_WINDOW: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);

/// A cache layer or memory store that cannot be built as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The fresh window (TTL) is zero.
    ZeroTtl,
    /// The TTL jitter is not a fraction in `[0, 1)`.
    InvalidJitter,
    /// The negative-cache TTL is zero.
    ZeroNegativeTtl,
    /// The negative cache can hold no entries.
    ZeroNegativeCapacity,
    /// A memory store would hold nothing (zero entries or zero weight).
    ZeroCapacity,
    /// A window is longer than [`MAX_WINDOW`](crate::MAX_WINDOW).
    WindowTooLong,
    /// A distributed single-flight setting is zero (lease TTL, maximum wait
    /// or poll interval).
    ZeroLeaseSetting,
    /// The lease poll interval is longer than the maximum wait.
    PollLongerThanWait,
    /// The refresh backoff's bound is below its first pause.
    BackoffMaxBelowInitial,
    /// The tiers of the store could not be put together.
    Tiers(crate::TieredError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            BuildError::ZeroTtl => "cache TTL must be greater than zero",
            BuildError::InvalidJitter => "cache TTL jitter must be a fraction in [0, 1)",
            BuildError::ZeroNegativeTtl => "negative-cache TTL must be greater than zero",
            BuildError::ZeroNegativeCapacity => "negative cache must hold at least one entry",
            BuildError::ZeroCapacity => "memory store must hold at least one entry",
            BuildError::WindowTooLong => "cache window is longer than the maximum of ten years",
            BuildError::ZeroLeaseSetting => {
                "lease TTL, maximum wait and poll interval must be greater than zero"
            }
            BuildError::PollLongerThanWait => {
                "lease poll interval must not be longer than the maximum wait"
            }
            BuildError::BackoffMaxBelowInitial => {
                "refresh backoff bound must not be below its first pause"
            }
            BuildError::Tiers(error) => {
                return write!(f, "the store's tiers could not be put together: {error}");
            }
        };
        f.pad(what)
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            BuildError::Tiers(error) => Some(error),
            _ => None,
        }
    }
}

/// The load a caller waited for ended without an answer (the task running
/// it panicked or its runtime shut down). Waiters receive it through
/// `E: From<SharedError>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadAbandoned;

impl fmt::Display for LoadAbandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("cache load ended without an answer")
    }
}

impl Error for LoadAbandoned {}
