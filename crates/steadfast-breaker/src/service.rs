//! The circuit breaker service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use steadfast_core::CircuitOpen;
use tower_service::Service;

use crate::event::State;
use crate::future::{ResponseFuture, Tracker};
use crate::handle::Handle;
use crate::policy::Classifier;
use crate::state::{Admission, Shared};

/// A service guarded by a circuit breaker; made by
/// [`CircuitBreakerLayer`](crate::CircuitBreakerLayer).
///
/// # Readiness
///
/// `poll_ready` decides whether the next call may pass and keeps that
/// decision for `call`:
///
/// - closed or disabled: it drives the inner service ready;
/// - half-open: it takes a probe permit if one is free (the permit stays
///   with this service until `call`, or goes back when the service is
///   dropped) and then drives the inner service ready;
/// - open, forced open, or half-open with every permit taken: it returns
///   `Ready` at once without touching the inner service, and `call` answers
///   with [`CircuitOpen`] without calling it.
///
/// An open circuit therefore never waits on the inner service's readiness.
/// A clone starts without a decision, as `tower`'s concurrency limit does.
pub struct CircuitBreaker<S, C> {
    inner: S,
    shared: Arc<Shared<C>>,
    ticket: Ticket<C>,
}

enum Ticket<C> {
    Empty,
    Pass(u64),
    Probe(Tracker<C>),
    Reject(CircuitOpen, State),
}

impl<S, C> CircuitBreaker<S, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared<C>>) -> Self {
        Self {
            inner,
            shared,
            ticket: Ticket::Empty,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service. A probe permit taken by `poll_ready` goes
    /// back.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// A handle on this service's circuit.
    pub fn handle(&self) -> Handle
    where
        C: Send + Sync + 'static,
    {
        Handle::new(self.shared.clone())
    }
}

impl<S, C, Req, T, E> Service<Req> for CircuitBreaker<S, C>
where
    S: Service<Req, Response = T, Error = E>,
    E: From<CircuitOpen>,
    C: Classifier<T, E>,
{
    type Response = T;
    type Error = E;
    type Future = ResponseFuture<S::Future, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        if !matches!(self.ticket, Ticket::Probe(_)) {
            self.ticket = match self.shared.core.admit() {
                Admission::Pass(word) => Ticket::Pass(word),
                Admission::Probe(word) => {
                    Ticket::Probe(Tracker::new(self.shared.clone(), word, true))
                }
                Admission::Reject(open, state) => {
                    self.ticket = Ticket::Reject(open, state);
                    return Poll::Ready(Ok(()));
                }
            };
        }
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        match std::mem::replace(&mut self.ticket, Ticket::Empty) {
            Ticket::Pass(word) => {
                let tracker = Tracker::new(self.shared.clone(), word, false).started();
                ResponseFuture::called(self.inner.call(request), tracker)
            }
            Ticket::Probe(tracker) => {
                let tracker = tracker.started();
                ResponseFuture::called(self.inner.call(request), tracker)
            }
            Ticket::Reject(open, state) => {
                self.shared.core.rejected(open, state);
                ResponseFuture::rejected(open)
            }
            Ticket::Empty => panic!("CircuitBreaker::call without a ready poll_ready first"),
        }
    }
}

impl<S: Clone, C> Clone for CircuitBreaker<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            ticket: Ticket::Empty,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ticket = match &self.ticket {
            Ticket::Empty => "none",
            Ticket::Pass(_) => "pass",
            Ticket::Probe(_) => "probe",
            Ticket::Reject(..) => "reject",
        };
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("core", &self.shared.core)
            .field("ticket", &ticket)
            .finish()
    }
}
