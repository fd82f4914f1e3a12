//! The retrying service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::time::Instant;
use tower_service::Service;

use crate::event::{RetryHandle, Shared};
use crate::future::ResponseFuture;
use crate::policy::{Policy, RequestCopier};

/// A service that retries failed requests, made by a
/// [`RetryLayer`](crate::RetryLayer).
///
/// Each call takes the inner service that `poll_ready` made ready and leaves
/// a clone in its place; the response future keeps the taken one and drives
/// it ready again before every retry. The inner error type is kept; it must
/// be `Display`, for the line logged at each retry.
pub struct Retry<S, P, C> {
    inner: S,
    shared: Arc<Shared>,
    policy: P,
    copier: C,
}

impl<S, P, C> Retry<S, P, C> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>, policy: P, copier: C) -> Self {
        Self {
            inner,
            shared,
            policy,
            copier,
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

    /// The inner service, consuming this one.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Reads the counters and the budget shared with the layer.
    pub fn handle(&self) -> RetryHandle {
        RetryHandle {
            shared: self.shared.clone(),
        }
    }
}

impl<S, P, C, Req> Service<Req> for Retry<S, P, C>
where
    S: Service<Req> + Clone,
    S::Error: fmt::Display,
    P: Policy<S::Response, S::Error> + Clone,
    C: RequestCopier<Req> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, Req, S::Future, P, C>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Req) -> Self::Future {
        let shared: &Shared = &self.shared;
        // One clock read serves the budget and the deadline.
        let timed = shared
            .budget
            .as_ref()
            .filter(|ledger| ledger.credits_requests());
        let now = (timed.is_some() || shared.config.deadline.is_some()).then(Instant::now);
        shared
            .requests
            .record(timed.zip(now).map(|(ledger, now)| ledger.slot(now)));
        let start = shared.config.deadline.and(now);
        let next = self.copier.copy(&request);
        let clone = self.inner.clone();
        let mut service = std::mem::replace(&mut self.inner, clone);
        let future = service.call(request);
        ResponseFuture::new(
            future,
            service,
            next,
            Arc::clone(&self.shared),
            self.policy.clone(),
            self.copier.clone(),
            start,
        )
    }
}

impl<S: Clone, P: Clone, C: Clone> Clone for Retry<S, P, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
            policy: self.policy.clone(),
            copier: self.copier.clone(),
        }
    }
}

impl<S: fmt::Debug, P: fmt::Debug, C: fmt::Debug> fmt::Debug for Retry<S, P, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("inner", &self.inner)
            .field("shared", &self.shared)
            .field("policy", &self.policy)
            .field("copier", &self.copier)
            .finish()
    }
}
