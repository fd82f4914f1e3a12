use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use steadfast_core::Source;

use crate::predicate::Predicate;

/// What the fallback layer reports to its listener
/// ([`FallbackLayer::on_event`](crate::FallbackLayer::on_event)).
///
/// Events borrow the error, so nothing is cloned or formatted unless a
/// listener is set.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a, E> {
    /// The inner service failed with `error` and the fallback answers in its
    /// place (for a fallback service: the fallback service is called).
    Used {
        /// The inner service's error.
        error: &'a E,
    },
    /// The inner service failed with `error`, which the predicate does not
    /// answer; the error is returned.
    Passed {
        /// The inner service's error.
        error: &'a E,
    },
    /// The fallback's answer failed too (a fallback service's error, or an
    /// [`Answer`](crate::Answer) that has nothing for this call); its
    /// `error` is returned.
    Failed {
        /// The fallback's error.
        error: &'a E,
    },
}

pub(crate) type Listener<E> = Arc<dyn Fn(&Event<'_, E>) + Send + Sync>;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    used: AtomicU64,
    passed: AtomicU64,
    failed: AtomicU64,
}

/// Reads the counters of a fallback layer, shared by every service the
/// layer made and all their clones.
#[derive(Debug, Clone)]
pub struct FallbackHandle {
    counters: Arc<Counters>,
}

impl FallbackHandle {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    /// How many failed calls the fallback answered.
    pub fn used(&self) -> u64 {
        self.counters.used.load(Ordering::Relaxed)
    }

    /// How many errors the predicate let through unanswered.
    pub fn passed(&self) -> u64 {
        self.counters.passed.load(Ordering::Relaxed)
    }

    /// How many fallback answers failed too (see [`Event::Failed`]).
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// All counters at once.
    pub fn stats(&self) -> FallbackStats {
        FallbackStats {
            used: self.used(),
            passed: self.passed(),
            failed: self.failed(),
        }
    }
}

/// A snapshot of a fallback layer's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FallbackStats {
    /// Failed calls the fallback answered.
    pub used: u64,
    /// Errors the predicate let through unanswered.
    pub passed: u64,
    /// Fallback answers that failed too.
    pub failed: u64,
}

/// What every service made by one layer shares.
pub(crate) struct Shared<P, Res, E> {
    pub(crate) predicate: P,
    pub(crate) mark: fn(&mut Res, Source),
    pub(crate) listener: Option<Listener<E>>,
    pub(crate) counters: Arc<Counters>,
}

impl<P, Res, E> Shared<P, Res, E> {
    /// Whether the fallback answers `error`; counts and reports the decision.
    pub(crate) fn answers(&self, error: &E) -> bool
    where
        P: Predicate<E>,
        E: fmt::Display,
    {
        if self.predicate.answers(error) {
            self.counters.used.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("steadfast_fallback_used_total").increment(1);
            tracing::debug!(error = %error, "the fallback answers in place of a failed call");
            self.emit(&Event::Used { error });
            true
        } else {
            self.counters.passed.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("steadfast_fallback_passed_total").increment(1);
            tracing::debug!(error = %error, "error not answered by the fallback");
            self.emit(&Event::Passed { error });
            false
        }
    }

    /// Counts and reports a failed fallback service call.
    pub(crate) fn failed(&self, error: &E)
    where
        E: fmt::Display,
    {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("steadfast_fallback_failed_total").increment(1);
        tracing::debug!(error = %error, "the fallback service failed too");
        self.emit(&Event::Failed { error });
    }

    fn emit(&self, event: &Event<'_, E>) {
        if let Some(listener) = &self.listener {
            listener(event);
        }
    }
}

impl<P, Res, E> fmt::Debug for Shared<P, Res, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("listener", &self.listener.is_some())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}
