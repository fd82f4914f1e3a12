use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;

use tower_service::Service;

use crate::future::ServiceAnswer;

/// How a [`FallbackService`](crate::FallbackService) answers in place of a
/// failed call: with a [`Value`], a function of the error ([`FromError`]) or
/// another service ([`ServiceFallback`]).
///
/// A call goes through three steps. Before the inner service is called,
/// [`prepare`](Answer::prepare) keeps what a fallback answer would need
/// (a copy of the fallback service and its request, a reference to the
/// value); when the inner service fails with an error the layer answers,
/// [`answer`](Answer::answer) turns it into the fallback's future; otherwise
/// it is dropped unused.
///
/// The layer's readiness is the inner service's alone: whatever a fallback
/// must wait for (a fallback service's readiness) is waited for inside the
/// answer's future, only when an answer is needed.
pub trait Answer<Req, E> {
    /// The response of a fallback answer.
    type Response;
    /// What a call keeps for a possible fallback answer.
    type Pending;
    /// The future of a fallback answer.
    type Future: Future<Output = Result<Self::Response, E>>;

    /// Keeps what a fallback answer for `request` would need.
    fn prepare(&mut self, request: &Req) -> Self::Pending;

    /// Answers in place of `error`.
    fn answer(pending: Self::Pending, error: &E) -> Self::Future;
}

/// Answers with a clone of one value.
///
/// The value is kept behind an `Arc`, so a call that succeeds costs a
/// reference-count increment; only a fallback answer clones the value.
pub struct Value<T> {
    value: Arc<T>,
}

impl<T> Value<T> {
    /// Answers with clones of `value`.
    pub fn new(value: T) -> Self {
        Self {
            value: Arc::new(value),
        }
    }

    /// The value answered with.
    pub fn get_ref(&self) -> &T {
        &self.value
    }
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.value).finish()
    }
}

impl<Req, E, T> Answer<Req, E> for Value<T>
where
    T: Clone,
{
    type Response = T;
    type Pending = Arc<T>;
    type Future = Ready<Result<T, E>>;

    fn prepare(&mut self, _request: &Req) -> Arc<T> {
        self.value.clone()
    }

    fn answer(pending: Arc<T>, _error: &E) -> Self::Future {
        ready(Ok(T::clone(&pending)))
    }
}

/// Answers with a function of the error, `Fn(&E) -> Res`.
///
/// The function is infallible: which errors get an answer is decided by the
/// layer's predicate ([`FallbackLayer::when`](crate::FallbackLayer::when)),
/// so the decision lives in one place, and every call of the function is one
/// answer served (and counted). A fallback that can itself fail is a
/// service ([`ServiceFallback`]).
pub struct FromError<F> {
    f: Arc<F>,
}

impl<F> FromError<F> {
    /// Answers with `f(&error)`.
    pub fn new(f: F) -> Self {
        Self { f: Arc::new(f) }
    }
}

impl<F> Clone for FromError<F> {
    fn clone(&self) -> Self {
        Self { f: self.f.clone() }
    }
}

impl<F> fmt::Debug for FromError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromError").finish_non_exhaustive()
    }
}

impl<Req, E, F, Res> Answer<Req, E> for FromError<F>
where
    F: Fn(&E) -> Res,
{
    type Response = Res;
    type Pending = Arc<F>;
    type Future = Ready<Result<Res, E>>;

    fn prepare(&mut self, _request: &Req) -> Arc<F> {
        self.f.clone()
    }

    fn answer(pending: Arc<F>, error: &E) -> Self::Future {
        ready(Ok(pending(error)))
    }
}

/// Answers by calling another service with the same request.
///
/// The fallback service never gates the inner one: the layer is ready when
/// the inner service is, and a call that succeeds never polls the fallback
/// nor holds any of its capacity (a concurrency limit's permit, a pool
/// slot). Each call keeps a clone of the fallback service; only when the
/// inner service failed with an error the layer answers does the answer's
/// future drive that clone ready and call it (see tower-service's "Be
/// careful when cloning inner services"). A fallback service that fails to
/// get ready fails that answer with its error. Its request is made from the
/// original before the inner service consumes it, by a [`MakeRequest`]
/// ([`CloneRequest`] by default).
pub struct ServiceFallback<S, M = CloneRequest> {
    service: S,
    make_request: M,
}

impl<S, M> ServiceFallback<S, M> {
    /// Falls back to `service`, called with `make_request(&request)`.
    pub fn new(service: S, make_request: M) -> Self {
        Self {
            service,
            make_request,
        }
    }

    /// The fallback service.
    pub fn get_ref(&self) -> &S {
        &self.service
    }
}

impl<S: Clone, M: Clone> Clone for ServiceFallback<S, M> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
            make_request: self.make_request.clone(),
        }
    }
}

impl<S: fmt::Debug, M> fmt::Debug for ServiceFallback<S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceFallback")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl<Req, E, S, M> Answer<Req, E> for ServiceFallback<S, M>
where
    S: Service<Req, Error = E> + Clone,
    M: MakeRequest<Req>,
{
    type Response = S::Response;
    type Pending = (S, Req);
    type Future = ServiceAnswer<S, Req, S::Future>;

    fn prepare(&mut self, request: &Req) -> (S, Req) {
        (
            self.service.clone(),
            self.make_request.make_request(request),
        )
    }

    fn answer((service, request): (S, Req), _error: &E) -> Self::Future {
        ServiceAnswer::new(service, request)
    }
}

/// Makes the fallback service's request from the original one.
///
/// Implemented by [`CloneRequest`] for `Req: Clone` and by every
/// `Fn(&Req) -> Req`, so requests that are not `Clone` can still fall back
/// to a service.
pub trait MakeRequest<Req> {
    /// The fallback's request for `request`.
    fn make_request(&self, request: &Req) -> Req;
}

/// Clones the request for the fallback service.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneRequest;

impl<Req: Clone> MakeRequest<Req> for CloneRequest {
    fn make_request(&self, request: &Req) -> Req {
        request.clone()
    }
}

impl<Req, F> MakeRequest<Req> for F
where
    F: Fn(&Req) -> Req,
{
    fn make_request(&self, request: &Req) -> Req {
        self(request)
    }
}
