//! The response future of [`FallbackService`](crate::FallbackService), and
//! the answer future of a [`ServiceFallback`](crate::ServiceFallback).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use steadfast_core::Source;
use tower_service::Service;

use crate::event::Shared;
use crate::predicate::Predicate;

pin_project! {
    /// The response future of [`FallbackService`](crate::FallbackService):
    /// the inner call, then the fallback's answer if the inner call failed
    /// with an error the layer answers.
    pub struct ResponseFuture<F, A, AF, P, Res, E> {
        #[pin]
        state: State<F, AF>,
        pending: Option<A>,
        answer: fn(A, &E) -> AF,
        shared: Arc<Shared<P, Res, E>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, AF> {
        Primary { #[pin] future: F },
        Fallback { #[pin] future: AF },
    }
}

impl<F, A, AF, P, Res, E> ResponseFuture<F, A, AF, P, Res, E> {
    pub(crate) fn new(
        future: F,
        pending: A,
        answer: fn(A, &E) -> AF,
        shared: Arc<Shared<P, Res, E>>,
    ) -> Self {
        Self {
            state: State::Primary { future },
            pending: Some(pending),
            answer,
            shared,
        }
    }
}

impl<F, A, AF, P, Res, E> Future for ResponseFuture<F, A, AF, P, Res, E>
where
    F: Future<Output = Result<Res, E>>,
    AF: Future<Output = Result<Res, E>>,
    P: Predicate<E>,
    E: fmt::Display,
{
    type Output = Result<Res, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Primary { future } => {
                    let error = match ready!(future.poll(cx)) {
                        Ok(response) => return Poll::Ready(Ok(response)),
                        Err(error) => error,
                    };
                    if !this.shared.answers(&error) {
                        return Poll::Ready(Err(error));
                    }
                    let pending = this
                        .pending
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let future = (this.answer)(pending, &error);
                    this.state.set(State::Fallback { future });
                }
                StateProj::Fallback { future } => {
                    return Poll::Ready(match ready!(future.poll(cx)) {
                        Ok(mut response) => {
                            (this.shared.mark)(&mut response, Source::Fallback);
                            Ok(response)
                        }
                        Err(error) => {
                            this.shared.failed(&error);
                            Err(error)
                        }
                    });
                }
            }
        }
    }
}

impl<F, A, AF, P, Res, E> fmt::Debug for ResponseFuture<F, A, AF, P, Res, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Primary { .. } => "primary",
            State::Fallback { .. } => "fallback",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// The answer of a [`ServiceFallback`](crate::ServiceFallback): drives
    /// the call's own copy of the fallback service ready, then calls it.
    ///
    /// Made only once the inner service has failed, so the fallback's
    /// readiness is waited for only when an answer is needed; an error from
    /// its `poll_ready` is the answer's error.
    pub struct ServiceAnswer<S, Req, F> {
        #[pin]
        state: AnswerState<S, Req, F>,
    }
}

pin_project! {
    #[project = AnswerStateProj]
    enum AnswerState<S, Req, F> {
        Readying { service: S, request: Option<Req> },
        Called { #[pin] future: F },
    }
}

impl<S, Req, F> ServiceAnswer<S, Req, F> {
    pub(crate) fn new(service: S, request: Req) -> Self {
        Self {
            state: AnswerState::Readying {
                service,
                request: Some(request),
            },
        }
    }
}

impl<S, Req> Future for ServiceAnswer<S, Req, S::Future>
where
    S: Service<Req>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                AnswerStateProj::Readying { service, request } => {
                    ready!(service.poll_ready(cx))?;
                    let request = request
                        .take()
                        .expect("ServiceAnswer polled after completion");
                    let future = service.call(request);
                    this.state.set(AnswerState::Called { future });
                }
                AnswerStateProj::Called { future } => return future.poll(cx),
            }
        }
    }
}

impl<S, Req, F> fmt::Debug for ServiceAnswer<S, Req, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            AnswerState::Readying { .. } => "readying",
            AnswerState::Called { .. } => "called",
        };
        f.debug_struct("ServiceAnswer")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
