use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower_service::Service;

use crate::answer::Answer;
use crate::event::{FallbackHandle, Shared};
use crate::future::ResponseFuture;
use crate::predicate::Predicate;

/// Answers failed calls of `inner` with a fallback; made by
/// [`FallbackLayer`](crate::FallbackLayer).
pub struct FallbackService<S, K, Res, E, P> {
    inner: S,
    kind: K,
    shared: Arc<Shared<P, Res, E>>,
}

impl<S, K, Res, E, P> FallbackService<S, K, Res, E, P> {
    pub(crate) fn new(inner: S, kind: K, shared: Arc<Shared<P, Res, E>>) -> Self {
        Self {
            inner,
            kind,
            shared,
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

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Reads the counters shared with the layer and its other services.
    pub fn handle(&self) -> FallbackHandle {
        FallbackHandle::new(self.shared.counters.clone())
    }
}

impl<S: Clone, K: Clone, Res, E, P> Clone for FallbackService<S, K, Res, E, P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            kind: self.kind.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, K: fmt::Debug, Res, E, P> fmt::Debug for FallbackService<S, K, Res, E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService")
            .field("inner", &self.inner)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<S, K, Req, Res, E, P> Service<Req> for FallbackService<S, K, Res, E, P>
where
    S: Service<Req, Response = Res, Error = E>,
    K: Answer<Req, E, Response = Res>,
    P: Predicate<E>,
    E: fmt::Display,
{
    type Response = Res;
    type Error = E;
    type Future = ResponseFuture<S::Future, K::Pending, K::Future, P, Res, E>;

    /// Ready when the inner service is: a fallback is made ready only for a
    /// call that needs its answer, inside that call's future.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let pending = self.kind.prepare(&request);
        let future = self.inner.call(request);
        ResponseFuture::new(future, pending, K::answer, self.shared.clone())
    }
}
