//! What the layer reports: events for a listener, counters for a handle.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::arrivals::Arrivals;
use crate::backoff::Backoff;
use crate::budget::Ledger;

/// Something the retry layer did, as told to a listener set with
/// [`RetryLayerBuilder::on_event`](crate::RetryLayerBuilder::on_event).
///
/// `attempt` is the number (from 1) of the attempt that just failed.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The attempt failed and another one starts after `delay`.
    Retrying {
        /// The attempt that failed.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// The error, or `None` when the policy retries a response.
        error: Option<&'a dyn fmt::Display>,
    },
    /// The attempt could be retried, but the retry budget is spent.
    BudgetRefused {
        /// The attempt that failed.
        attempt: u32,
    },
    /// The attempt could be retried, but it was the last one allowed.
    Exhausted {
        /// The attempt that failed (the maximum).
        attempt: u32,
    },
    /// The attempt could be retried, but the next one would start after
    /// the total deadline.
    DeadlineReached {
        /// The attempt that failed.
        attempt: u32,
        /// The wait the retry would have needed.
        delay: Duration,
    },
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Retrying {
                attempt,
                delay,
                error,
            } => f
                .debug_struct("Retrying")
                .field("attempt", attempt)
                .field("delay", delay)
                .field("error", &error.map(|e| e.to_string()))
                .finish(),
            Event::BudgetRefused { attempt } => f
                .debug_struct("BudgetRefused")
                .field("attempt", attempt)
                .finish(),
            Event::Exhausted { attempt } => f
                .debug_struct("Exhausted")
                .field("attempt", attempt)
                .finish(),
            Event::DeadlineReached { attempt, delay } => f
                .debug_struct("DeadlineReached")
                .field("attempt", attempt)
                .field("delay", delay)
                .finish(),
        }
    }
}

/// A listener for [`Event`]s.
pub(crate) type Listener = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// The counters of a retry layer, read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RetryStats {
    /// Requests received (first attempts).
    pub requests: u64,
    /// Attempts made: requests plus retries.
    pub attempts: u64,
    /// Retries started.
    pub retries: u64,
    /// Retries refused because the budget was spent.
    pub budget_refusals: u64,
    /// Requests that failed on their last allowed attempt.
    pub exhausted: u64,
    /// Retries not started because they would end past the deadline.
    pub deadline_reached: u64,
}

/// The limits and delays of a layer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) max_attempts: u32,
    pub(crate) backoff: Backoff,
    pub(crate) deadline: Option<Duration>,
    pub(crate) seed: u64,
}

/// What every service made by one layer value, and every clone, shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    /// Requests received, by the budget slot they arrived in.
    pub(crate) requests: Arrivals,
    /// Requests that have failed once, numbering their jitter streams.
    pub(crate) failed: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) budget_refusals: AtomicU64,
    pub(crate) exhausted: AtomicU64,
    pub(crate) deadline_reached: AtomicU64,
    pub(crate) budget: Option<Ledger>,
    pub(crate) listener: Option<Listener>,
}

impl Shared {
    pub(crate) fn emit(&self, event: Event<'_>) {
        if let Some(listener) = &self.listener {
            listener(&event);
        }
    }

    pub(crate) fn stats(&self) -> RetryStats {
        let requests = self.requests.total();
        let retries = self.retries.load(Ordering::Relaxed);
        RetryStats {
            requests,
            attempts: requests + retries,
            retries,
            budget_refusals: self.budget_refusals.load(Ordering::Relaxed),
            exhausted: self.exhausted.load(Ordering::Relaxed),
            deadline_reached: self.deadline_reached.load(Ordering::Relaxed),
        }
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("budget", &self.budget)
            .field("listener", &self.listener.is_some())
            .field("stats", &self.stats())
            .finish()
    }
}

/// Reads the counters and the budget of a retry layer, from
/// [`RetryLayer::handle`](crate::RetryLayer::handle) or
/// [`Retry::handle`](crate::Retry::handle). Clones read the same state.
#[derive(Debug, Clone)]
pub struct RetryHandle {
    pub(crate) shared: Arc<Shared>,
}

impl RetryHandle {
    /// The counters now.
    pub fn stats(&self) -> RetryStats {
        self.shared.stats()
    }

    /// The retry tokens left in the budget now, or `None` without a budget.
    pub fn budget_balance(&self) -> Option<f64> {
        self.shared
            .budget
            .as_ref()
            .map(|ledger| ledger.balance(&self.shared.requests))
    }
}
