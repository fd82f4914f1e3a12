//! The layer and its builder: configuration only.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tower_layer::Layer;

use crate::arrivals::Arrivals;
use crate::backoff::Backoff;
use crate::budget::{Ledger, RetryBudget};
use crate::error::BuildError;
use crate::event::{Config, Event, Listener, RetryHandle, Shared};
use crate::policy::{CloneFn, CloneRequest, DefaultPolicy};
use crate::service::Retry;

/// Retries failed requests with backoff, within attempt, time and budget
/// limits.
///
/// Built by [`RetryLayer::builder`]. Every service this value makes, and every
/// clone of those, shares one budget and one set of counters.
pub struct RetryLayer<P = DefaultPolicy, C = CloneRequest> {
    shared: Arc<Shared>,
    policy: P,
    copier: C,
}

/// The attempts a request gets unless set, the first included: 3. The
/// preset stack uses it too.
pub const DEFAULT_ATTEMPTS: u32 = 3;

impl RetryLayer {
    /// A builder with the defaults: 3 attempts, exponential backoff from
    /// 100 ms (multiplier 2, capped at 30 s, full jitter), no deadline, the
    /// default [`RetryBudget`], the [`DefaultPolicy`], requests copied with
    /// `Clone`.
    pub fn builder() -> RetryLayerBuilder {
        RetryLayerBuilder {
            max_attempts: DEFAULT_ATTEMPTS,
            backoff: Backoff::default(),
            deadline: None,
            budget: Some(RetryBudget::default()),
            seed: None,
            listener: None,
            policy: DefaultPolicy,
            copier: CloneRequest,
        }
    }
}

impl<P, C> RetryLayer<P, C> {
    /// Reads the counters and the budget shared by every service of this
    /// layer.
    pub fn handle(&self) -> RetryHandle {
        RetryHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S, P: Clone, C: Clone> Layer<S> for RetryLayer<P, C> {
    type Service = Retry<S, P, C>;

    fn layer(&self, inner: S) -> Self::Service {
        Retry::new(
            inner,
            self.shared.clone(),
            self.policy.clone(),
            self.copier.clone(),
        )
    }
}

impl<P: Clone, C: Clone> Clone for RetryLayer<P, C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            policy: self.policy.clone(),
            copier: self.copier.clone(),
        }
    }
}

impl<P: fmt::Debug, C: fmt::Debug> fmt::Debug for RetryLayer<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayer")
            .field("shared", &self.shared)
            .field("policy", &self.policy)
            .field("copier", &self.copier)
            .finish()
    }
}

/// Configures a [`RetryLayer`]; [`build`](RetryLayerBuilder::build) checks it.
pub struct RetryLayerBuilder<P = DefaultPolicy, C = CloneRequest> {
    max_attempts: u32,
    backoff: Backoff,
    deadline: Option<Duration>,
    budget: Option<RetryBudget>,
    seed: Option<u64>,
    listener: Option<Listener>,
    policy: P,
    copier: C,
}

impl<P, C> RetryLayerBuilder<P, C> {
    /// Attempts per request, the first included (default 3; at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// The delays between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// A total deadline from the first call: attempts and delays together.
    /// No attempt starts whose delay would end past it; an attempt already
    /// running is not cut short (a timeout layer inside does that).
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The retry budget (the default one unless changed).
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// No retry budget: only attempts and the deadline limit retries.
    pub fn without_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// Seeds the jitter, so the same sequence of requests waits the same
    /// delays. Without a seed, one is drawn at random.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Calls `listener` on each [`Event`]. Without one, events cost nothing.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Decides which results are retried (the [`DefaultPolicy`] unless set).
    pub fn policy<Q>(self, policy: Q) -> RetryLayerBuilder<Q, C> {
        self.map(|_, copier| (policy, copier))
    }

    /// Copies requests with `copy` instead of `Clone`, for request types
    /// that are not `Clone`. A request for which it returns `None` is sent
    /// once.
    pub fn clone_request_with<F>(self, copy: F) -> RetryLayerBuilder<P, CloneFn<F>> {
        self.map(|policy, _| (policy, CloneFn(copy)))
    }

    fn map<Q, D>(self, f: impl FnOnce(P, C) -> (Q, D)) -> RetryLayerBuilder<Q, D> {
        let (policy, copier) = f(self.policy, self.copier);
        RetryLayerBuilder {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            deadline: self.deadline,
            budget: self.budget,
            seed: self.seed,
            listener: self.listener,
            policy,
            copier,
        }
    }

    /// Checks the configuration and builds the layer.
    pub fn build(self) -> Result<RetryLayer<P, C>, BuildError> {
        if self.max_attempts == 0 {
            return Err(BuildError::ZeroAttempts);
        }
        self.backoff.validate()?;
        if self.deadline == Some(Duration::ZERO) {
            return Err(BuildError::ZeroDeadline);
        }
        if let Some(budget) = &self.budget {
            budget.validate()?;
        }
        let config = Config {
            max_attempts: self.max_attempts,
            backoff: self.backoff,
            deadline: self.deadline,
            seed: self.seed.unwrap_or_else(|| fastrand::u64(..)),
        };
        let budget = self.budget.as_ref().map(Ledger::new);
        let listener = self.listener;
        let shared = Arc::new(Shared {
            config,
            requests: Arrivals::new(),
            failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            budget_refusals: AtomicU64::new(0),
            exhausted: AtomicU64::new(0),
            deadline_reached: AtomicU64::new(0),
            budget,
            listener,
        });
        Ok(RetryLayer {
            shared,
            policy: self.policy,
            copier: self.copier,
        })
    }
}

impl<P: fmt::Debug, C: fmt::Debug> fmt::Debug for RetryLayerBuilder<P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryLayerBuilder")
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("deadline", &self.deadline)
            .field("budget", &self.budget)
            .field("seed", &self.seed)
            .field("listener", &self.listener.is_some())
            .field("policy", &self.policy)
            .field("copier", &self.copier)
            .finish()
    }
}
