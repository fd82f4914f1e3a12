use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The error of a call rejected by an open (or busy half-open) circuit.
///
/// It carries how long until the circuit admits its next probe, so a caller
/// (or the retry layer) can decide whether waiting is worth it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitOpen {
    remaining: Duration,
}

impl CircuitOpen {
    /// A rejection whose next probe is `remaining` away.
    pub const fn new(remaining: Duration) -> Self {
        Self { remaining }
    }

    /// How long until the circuit admits its next probe.
    ///
    /// Zero means probes may be admitted now, but all permits were taken.
    pub const fn remaining(&self) -> Duration {
        self.remaining
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.remaining.is_zero() {
            f.pad("circuit half-open; all probe permits are taken")
        } else {
            f.pad(&format!("circuit open; next probe in {:?}", self.remaining))
        }
    }
}

impl Error for CircuitOpen {}

/// The error of a call that did not complete within its time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut {
    after: Duration,
}

impl TimedOut {
    /// A call that gave up after `after`.
    pub const fn new(after: Duration) -> Self {
        Self { after }
    }

    /// How long the call was given.
    pub const fn after(&self) -> Duration {
        self.after
    }
}

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("timed out after {:?}", self.after))
    }
}

impl Error for TimedOut {}

/// One error shared by many callers, for layers that must hand the same
/// failure to several waiters (single flight) without requiring `E: Clone`.
///
/// A layer moves the original error into a `SharedError` once and gives every
/// waiter `E::from(shared.clone())`. Error types that can rebuild themselves
/// from it do so with [`SharedError::downcast_ref`]; a boxed error simply
/// wraps it.
#[derive(Clone)]
pub struct SharedError {
    inner: Arc<dyn Error + Send + Sync + 'static>,
}

impl SharedError {
    /// Shares `error`.
    pub fn new<E>(error: E) -> Self
    where
        E: Error + Send + Sync + 'static,
    {
        Self {
            inner: Arc::new(error),
        }
    }

    /// Shares an already boxed error.
    pub fn from_box(error: Box<dyn Error + Send + Sync + 'static>) -> Self {
        Self {
            inner: Arc::from(error),
        }
    }

    /// The shared error, if it is an `E`.
    pub fn downcast_ref<E: Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }

    /// The shared error itself.
    pub fn get_ref(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.inner
    }
}

impl fmt::Debug for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.inner, f)
    }
}

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.inner, f)
    }
}

impl Error for SharedError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.inner.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circuit_open_displays_remaining() {
        let e = CircuitOpen::new(Duration::from_millis(1500));
        assert_eq!(e.to_string(), "circuit open; next probe in 1.5s");
        assert_eq!(e.remaining(), Duration::from_millis(1500));
        let busy = CircuitOpen::new(Duration::ZERO);
        assert_eq!(
            busy.to_string(),
            "circuit half-open; all probe permits are taken"
        );
    }

    #[test]
    fn shared_error_downcasts_and_displays() {
        let shared = SharedError::new(CircuitOpen::new(Duration::from_secs(2)));
        let copy = shared.clone();
        assert_eq!(
            copy.downcast_ref::<CircuitOpen>(),
            Some(&CircuitOpen::new(Duration::from_secs(2)))
        );
        assert_eq!(copy.to_string(), "circuit open; next probe in 2s");
        assert!(copy.downcast_ref::<std::io::Error>().is_none());
    }
}
