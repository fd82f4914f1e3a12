//! The circuit breaker service.

use std::fmt;
use std::task::{Context, Poll};

use steadfast_core::CircuitOpen;
use tokio::time::Instant;
use tower_service::Service;

use crate::future::{Permit, ResponseFuture};
use crate::handle::Handle;
use crate::lane::Circuit;
use crate::policy::Classifier;
use crate::state::{Admission, TICKET_EMPTY, TICKET_PROBE, TICKET_REJECT, passes};

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
///
/// The probe permit is taken in `poll_ready`, not in `call`: a caller told
/// `Ready` is never turned away afterwards, and only a call that will reach
/// the inner service drives it ready. The cost is that a service polled
/// ready and then neither called nor dropped keeps its permit; the
/// half-open maximum wait ([`Builder::half_open_max_wait`]) bounds that.
/// Likewise a rejection decided by `poll_ready` stands for its `call`, even
/// if the circuit closed in between, since the inner service was not made
/// ready. A clone starts without a decision, as `tower`'s concurrency limit
/// does.
///
/// # Panics
///
/// `call` panics when `poll_ready` has not returned `Ready(Ok(()))` since the
/// previous call, as `tower`'s contract forbids.
///
/// [`Builder::half_open_max_wait`]: crate::Builder::half_open_max_wait
pub struct CircuitBreaker<S, C> {
    inner: S,
    circuit: Circuit<C>,
    /// What `poll_ready` decided for the next call (see `state::passes`).
    ticket: u64,
    /// The permit of a probe admitted by `poll_ready`.
    probe: Option<Permit<C>>,
}

impl<S, C> CircuitBreaker<S, C> {
    pub(crate) fn new(inner: S, circuit: Circuit<C>) -> Self {
        Self {
            inner,
            circuit,
            ticket: TICKET_EMPTY,
            probe: None,
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
        Handle::new(self.circuit.shared.clone())
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
        if self.ticket != TICKET_PROBE {
            let word = self.circuit.shared.core.word();
            if passes(word) {
                self.ticket = word;
            } else if self.admit_unusual() {
                return Poll::Ready(Ok(()));
            }
        }
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let ticket = std::mem::replace(&mut self.ticket, TICKET_EMPTY);
        if passes(ticket) {
            let start = self.circuit.shared.core.times_calls().then(Instant::now);
            let future = self.inner.call(request);
            return ResponseFuture::called(future, self.circuit.link(), ticket, start);
        }
        match ticket {
            TICKET_PROBE => {
                let permit = self.probe.take().expect("a probe ticket holds its permit");
                let start = self.circuit.shared.core.times_calls().then(Instant::now);
                ResponseFuture::probe(self.inner.call(request), permit, start)
            }
            TICKET_REJECT => ResponseFuture::rejected(self.circuit.shared.core.reject()),
            _ => panic!("CircuitBreaker::call without a ready poll_ready first"),
        }
    }
}

impl<S, C> CircuitBreaker<S, C> {
    /// Decides for a circuit that is not closed; returns whether the call is
    /// rejected.
    #[cold]
    fn admit_unusual(&mut self) -> bool {
        match self.circuit.shared.core.admit() {
            Admission::Pass(word) => self.ticket = word,
            Admission::Probe(word) => {
                self.ticket = TICKET_PROBE;
                self.probe = Some(Permit::new(self.circuit.shared.clone(), word));
            }
            Admission::Reject => {
                self.ticket = TICKET_REJECT;
                return true;
            }
        }
        false
    }
}

impl<S: Clone, C> Clone for CircuitBreaker<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            circuit: self.circuit.clone(),
            ticket: TICKET_EMPTY,
            probe: None,
        }
    }
}

impl<S: fmt::Debug, C> fmt::Debug for CircuitBreaker<S, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("core", &self.circuit.shared.core)
            .field("ticket", &self.ticket)
            .field("probe", &self.probe.is_some())
            .finish()
    }
}
