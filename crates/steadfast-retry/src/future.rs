//! The response future of [`Retry`](crate::Retry).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tower_service::Service;

use crate::backoff::rng_for;
use crate::event::{Event, Shared};
use crate::policy::{Action, Attempt, Policy, RequestCopier};

pin_project! {
    /// The future of one request through [`Retry`](crate::Retry): the
    /// attempts, the waits between them, and the inner service driven ready
    /// before each retry.
    pub struct ResponseFuture<S, Req, F, P, C> {
        #[pin]
        state: State<F>,
        service: S,
        next: Option<Req>,
        policy: P,
        copier: C,
        tries: Tries,
    }
}

/// The bookkeeping of one request's attempts, apart from its types.
struct Tries {
    /// The layer's state.
    shared: Arc<Shared>,
    /// Whether this request failed before and has its jitter stream.
    numbered: bool,
    /// The number of this request's jitter stream.
    stream: u64,
    attempt: u32,
    previous: Duration,
    start: Option<Instant>,
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // An attempt is running.
        Called {
            #[pin]
            future: F,
        },
        // Waiting out the delay before the next attempt (boxed, so that a
        // future whose first attempt succeeds stays small).
        Waiting {
            sleep: Pin<Box<Sleep>>,
        },
        // Driving the inner service ready for the next attempt.
        Retrying,
    }
}

impl<S, Req, F, P, C> ResponseFuture<S, Req, F, P, C> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        future: F,
        service: S,
        next: Option<Req>,
        shared: Arc<Shared>,
        policy: P,
        copier: C,
        start: Option<Instant>,
    ) -> Self {
        Self {
            state: State::Called { future },
            service,
            next,
            policy,
            copier,
            tries: Tries {
                shared,
                numbered: false,
                stream: 0,
                attempt: 1,
                previous: Duration::ZERO,
                start,
            },
        }
    }
}

/// Why a retryable result is returned after all.
enum Limit {
    Attempts,
    Deadline,
    Budget,
}

impl<S, Req, P, C> Future for ResponseFuture<S, Req, S::Future, P, C>
where
    S: Service<Req>,
    S::Error: fmt::Display,
    P: Policy<S::Response, S::Error>,
    C: RequestCopier<Req>,
{
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Called { future } => {
                    let result = ready!(future.poll(cx));
                    if this.next.is_none() {
                        return Poll::Ready(result);
                    }
                    let attempt = Attempt::new(this.tries.attempt);
                    let action = this.policy.classify(result.as_ref(), &attempt);
                    if action == Action::Stop {
                        return Poll::Ready(result);
                    }
                    let error = result.as_ref().err().map(|e| e as &dyn fmt::Display);
                    let Some(delay) = this.tries.schedule(action, error) else {
                        return Poll::Ready(result);
                    };
                    drop(result);
                    if delay.is_zero() {
                        this.state.set(State::Retrying);
                    } else {
                        this.state.set(State::Waiting {
                            sleep: Box::pin(tokio::time::sleep(delay)),
                        });
                    }
                }
                StateProj::Waiting { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Retrying);
                }
                StateProj::Retrying => {
                    ready!(this.service.poll_ready(cx))?;
                    let Some(request) = this.next.take() else {
                        unreachable!("a retry is only scheduled with a request to send");
                    };
                    *this.next = this.copier.copy(&request);
                    this.state.set(State::Called {
                        future: this.service.call(request),
                    });
                }
            }
        }
    }
}

impl Tries {
    /// The wait before the next attempt, or `None` if the layer's limits
    /// (or a circuit that stays open too long) stop here.
    #[cold]
    #[inline(never)]
    fn schedule(&mut self, action: Action, error: Option<&dyn fmt::Display>) -> Option<Duration> {
        let shared = &*self.shared;
        if !self.numbered {
            // The first failure of this request: number its jitter stream.
            self.stream = shared.failed.fetch_add(1, Ordering::Relaxed);
            self.previous = shared.config.backoff.initial();
            self.numbered = true;
        }
        let number = self.attempt;
        let backoff = &shared.config.backoff;
        let mut rng = rng_for(shared.config.seed, self.stream, number);
        let next = backoff.delay(number, self.previous, &mut rng);
        let delay = match action {
            Action::Stop | Action::Retry => next,
            Action::RetryAfter(delay) => delay.min(backoff.max()),
            Action::RetryWithin(delay) if delay <= next => delay,
            Action::RetryWithin(_) => return None,
        };
        if let Err(limit) = admit(shared, number, delay, self.start) {
            refuse(shared, limit, number, delay);
            return None;
        }
        retrying(shared, number, delay, error);
        self.attempt += 1;
        self.previous = delay;
        Some(delay)
    }
}

/// Applies the layer's limits to a retry the policy asked for.
fn admit(
    shared: &Shared,
    attempt: u32,
    delay: Duration,
    start: Option<Instant>,
) -> Result<(), Limit> {
    let config = &shared.config;
    if attempt >= config.max_attempts {
        return Err(Limit::Attempts);
    }
    if let (Some(deadline), Some(start)) = (config.deadline, start)
        && Instant::now()
            .saturating_duration_since(start)
            .saturating_add(delay)
            > deadline
    {
        return Err(Limit::Deadline);
    }
    if let Some(ledger) = &shared.budget
        && !ledger.withdraw(&shared.requests)
    {
        return Err(Limit::Budget);
    }
    Ok(())
}

fn refuse(shared: &Shared, limit: Limit, attempt: u32, delay: Duration) {
    match limit {
        Limit::Attempts => {
            shared.exhausted.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("steadfast_retry_exhausted_total").increment(1);
            tracing::debug!(attempt, "attempt {attempt} failed, no attempts left");
            shared.emit(Event::Exhausted { attempt });
        }
        Limit::Deadline => {
            shared.deadline_reached.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("steadfast_retry_deadline_reached_total").increment(1);
            tracing::debug!(
                attempt,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "attempt {attempt} failed, a retry would end past the deadline"
            );
            shared.emit(Event::DeadlineReached { attempt, delay });
        }
        Limit::Budget => {
            shared.budget_refusals.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("steadfast_retry_budget_refusals_total").increment(1);
            tracing::debug!(
                attempt,
                "attempt {attempt} failed, the retry budget is spent"
            );
            shared.emit(Event::BudgetRefused { attempt });
        }
    }
}

fn retrying(shared: &Shared, attempt: u32, delay: Duration, error: Option<&dyn fmt::Display>) {
    shared.retries.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("steadfast_retry_retries_total").increment(1);
    // Debug, not a warning: during an outage every request retries.
    match error {
        Some(error) => tracing::debug!(
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "attempt {attempt} failed, retrying in {delay:?}"
        ),
        None => tracing::debug!(
            attempt,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            "attempt {attempt} answered a retryable response, retrying in {delay:?}"
        ),
    }
    shared.emit(Event::Retrying {
        attempt,
        delay,
        error,
    });
}

impl<S, Req, F, P, C> fmt::Debug for ResponseFuture<S, Req, F, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Waiting { .. } => "waiting",
            State::Retrying => "retrying",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("attempt", &self.tries.attempt)
            .field("retryable", &self.next.is_some())
            .finish()
    }
}
