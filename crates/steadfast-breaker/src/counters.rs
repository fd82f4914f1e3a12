//! [`Counters`] and [`WindowTotals`]: what a circuit has counted, read
//! through its [`Handle`](crate::Handle).

/// Counters of one circuit since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Calls that reached the inner service and finished (a dropped call is
    /// not counted).
    pub calls: u64,
    /// Finished calls classified as successes.
    pub successes: u64,
    /// Finished calls classified as failures.
    pub failures: u64,
    /// Finished calls classified as ignored.
    pub ignored: u64,
    /// Finished calls slower than the slow-call threshold.
    pub slow: u64,
    /// Calls rejected without reaching the inner service.
    pub rejected: u64,
    /// Transitions to open or forced open.
    pub opened: u64,
    /// Transitions to half-open.
    pub half_opened: u64,
    /// Transitions to closed or disabled.
    pub closed: u64,
}

/// What a sliding window holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowTotals {
    /// Calls in the window.
    pub calls: u64,
    /// Failures in the window.
    pub failures: u64,
    /// Slow calls in the window.
    pub slow: u64,
}
