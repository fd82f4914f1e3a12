//! What the breaker reports to a listener.

use std::fmt;
use std::time::Duration;

/// The state of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls pass and their outcomes are counted.
    Closed,
    /// Calls are rejected until the open duration has passed.
    Open,
    /// A fixed number of probe calls pass; everyone else is rejected.
    HalfOpen,
    /// Calls are rejected until the circuit is reset or forced closed.
    ForcedOpen,
    /// Calls pass and are counted, but the circuit never opens, until it is
    /// reset or forced open.
    Disabled,
}

impl State {
    /// A short lowercase name: `closed`, `open`, `half_open`, `forced_open`
    /// or `disabled`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
            State::ForcedOpen => "forced_open",
            State::Disabled => "disabled",
        }
    }

    /// Whether calls are admitted freely (closed or disabled).
    pub const fn admits_all(&self) -> bool {
        matches!(self, State::Closed | State::Disabled)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why the circuit changed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// This many failures in a row.
    ConsecutiveFailures {
        /// Failures in a row.
        failures: u32,
    },
    /// The failure rate over the window reached the threshold.
    FailureRate {
        /// Failures in the window.
        failures: u64,
        /// Calls in the window.
        calls: u64,
    },
    /// The slow-call rate over the window reached the threshold.
    SlowCallRate {
        /// Slow calls in the window.
        slow: u64,
        /// Calls in the window.
        calls: u64,
    },
    /// Too many half-open probes failed.
    ProbesFailed {
        /// Probes that succeeded.
        successes: u32,
        /// Probes that failed.
        failures: u32,
    },
    /// Enough half-open probes succeeded.
    ProbesSucceeded {
        /// Probes that succeeded.
        successes: u32,
    },
    /// The probes did not finish within the maximum half-open wait.
    HalfOpenTimeout,
    /// The open duration passed.
    OpenElapsed,
    /// [`Handle::force_open`](crate::Handle::force_open) or
    /// [`Handle::force_closed`](crate::Handle::force_closed).
    Forced,
    /// [`Handle::reset`](crate::Handle::reset).
    Reset,
}

/// Something the breaker reports to its listener.
///
/// A listener is set with
/// [`Builder::on_event`](crate::Builder::on_event); without one, no event
/// is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The circuit changed state.
    StateChanged {
        /// The state before.
        from: State,
        /// The state after.
        to: State,
        /// Why.
        cause: Cause,
        /// How long the circuit stays open, when it opened.
        open_for: Option<Duration>,
    },
    /// A call was rejected without reaching the inner service.
    Rejected {
        /// The state that rejected it.
        state: State,
        /// How long until the next probe may pass (zero: the half-open
        /// permits are all taken; `Duration::MAX`: forced open).
        retry_in: Duration,
    },
}
