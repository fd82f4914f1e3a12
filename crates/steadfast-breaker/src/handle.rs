//! Reading and steering a circuit from outside the service.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::counters::{Counters, WindowTotals};
use crate::event::{Cause, State};
use crate::state::Shared;

/// A handle on one circuit: its state, its counters, and manual control.
///
/// Every handle, layer, service and clone made from one
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer) value sees and
/// steers the same circuit. Reading the state applies the transitions time
/// alone has made due (open → half-open, a half-open wait that ran out).
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared<dyn Send + Sync>>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared<dyn Send + Sync>>) -> Self {
        Self { shared }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.shared.core.state()
    }

    /// How long until the next probe may pass: `Some` while open (or
    /// `Duration::MAX` while forced open), `None` otherwise.
    pub fn retry_in(&self) -> Option<Duration> {
        self.shared.core.retry_in()
    }

    /// The counters since the circuit was built.
    pub fn counters(&self) -> Counters {
        self.shared.core.counters()
    }

    /// What the sliding window holds now, if a rate policy keeps one.
    pub fn window(&self) -> Option<WindowTotals> {
        self.shared.core.window()
    }

    /// Failures in a row counted so far while closed.
    pub fn consecutive_failures(&self) -> u32 {
        self.shared.core.consecutive_failures()
    }

    /// The breaker's name, as used in tracing fields and metric labels.
    pub fn name(&self) -> &str {
        self.shared.core.name()
    }

    /// Opens the circuit until [`reset`](Handle::reset) or
    /// [`force_closed`](Handle::force_closed). Rejections say
    /// `Duration::MAX` until the next probe. On a circuit already forced
    /// open, does nothing: no event, no count.
    pub fn force_open(&self) {
        self.shared.core.force(State::ForcedOpen, Cause::Forced);
    }

    /// Disables the breaker: every call passes and is counted, but the
    /// circuit never opens, until [`reset`](Handle::reset) or
    /// [`force_open`](Handle::force_open). On a disabled circuit, does
    /// nothing: no event, no count.
    pub fn force_closed(&self) {
        self.shared.core.force(State::Disabled, Cause::Forced);
    }

    /// Closes the circuit with an empty window, a zero failure streak and
    /// the open-duration backoff restarted. Counters are kept. Calls
    /// admitted before the reset and still running count in no window
    /// afterwards. Resetting a circuit that is already closed empties its
    /// window and streak but is no transition: no event, no count.
    pub fn reset(&self) {
        self.shared.core.force(State::Closed, Cause::Reset);
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.name())
            .field("core", &self.shared.core)
            .finish()
    }
}
