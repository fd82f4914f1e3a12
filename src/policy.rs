//! [`StartupPolicy`]: what the first load of a configuration does while
//! the source is down.

use std::time::Duration;

/// What the stack does when the source is down the first time a
/// configuration is needed ([`Loader::start`](crate::Loader::start)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StartupPolicy {
    /// Return the error: a service that cannot run without its
    /// configuration should not start.
    FailFast,
    /// Serve the fallback, as any later load would.
    #[default]
    UseFallback,
    /// Keep trying the source for up to this long, then serve the fallback
    /// (or the source's last error, without one). Rounds are 100 ms apart,
    /// doubling up to 1 s (or the server's `Retry-After`); an open circuit
    /// does not stop them: the source is probed beneath it. A failure that
    /// would repeat (not [transient](steadfast_core::Failure::is_transient):
    /// a 4xx, a rejected certificate, an invalid body) ends the wait at
    /// once. `Duration::MAX` waits until the source answers.
    Wait(Duration),
}
