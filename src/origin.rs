//! The innermost part of the stack: counts the calls that reach the source
//! and checks what it answers, so an invalid body is a failure of the source:
//! invalid content, never cached, never retried, and not held against the
//! source by the breaker (it answered).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use tower_service::Service;

/// A check of a response: `Err` makes it a failure of the source.
pub type Check = Arc<dyn Fn(&ConfigResponse) -> Result<(), ConfigError> + Send + Sync>;

#[derive(Debug, Default)]
pub(crate) struct OriginCounters {
    pub(crate) loads: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

/// Wraps the source: counts its calls and checks its answers.
pub struct Origin<S> {
    inner: S,
    check: Option<Check>,
    counters: Arc<OriginCounters>,
}

impl<S> Origin<S> {
    pub(crate) fn new(inner: S, check: Option<Check>, counters: Arc<OriginCounters>) -> Self {
        Self {
            inner,
            check,
            counters,
        }
    }

    /// The source.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone> Clone for Origin<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            check: self.check.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Origin<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("inner", &self.inner)
            .field("checked", &self.check.is_some())
            .finish()
    }
}

impl<S> Service<ConfigRequest> for Origin<S>
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = OriginFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: ConfigRequest) -> Self::Future {
        self.counters.loads.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("steadfast_origin_loads_total").increment(1);
        OriginFuture {
            inner: self.inner.call(req),
            check: self.check.clone(),
            counters: self.counters.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`Origin`].
    pub struct OriginFuture<F> {
        #[pin]
        inner: F,
        check: Option<Check>,
        counters: Arc<OriginCounters>,
    }
}

impl<F> fmt::Debug for OriginFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OriginFuture").finish_non_exhaustive()
    }
}

impl<F> Future for OriginFuture<F>
where
    F: Future<Output = Result<ConfigResponse, ConfigError>>,
{
    type Output = Result<ConfigResponse, ConfigError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        if let Some(Err(error)) = this.check.as_ref().map(|check| check(&response)) {
            this.counters.rejected.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("steadfast_origin_rejected_total").increment(1);
            tracing::debug!(%error, "the source answered with an invalid config");
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(response))
    }
}
