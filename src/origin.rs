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
use steadfast_config::future::DecodeTask;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, decode_blocking};
use tower_service::Service;

/// A check of a response: `Err` makes it a failure of the source. A body of
/// at least [`BLOCKING_DECODE_SIZE`](steadfast_config::BLOCKING_DECODE_SIZE)
/// bytes is checked on tokio's blocking pool.
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
            state: OriginState::Calling {
                inner: self.inner.call(req),
            },
            check: self.check.clone(),
            counters: self.counters.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`Origin`].
    pub struct OriginFuture<F> {
        #[pin]
        state: OriginState<F>,
        check: Option<Check>,
        counters: Arc<OriginCounters>,
    }
}

pin_project! {
    #[project = OriginStateProj]
    enum OriginState<F> {
        Calling { #[pin] inner: F },
        /// The check of a response, on the blocking pool for a large body
        /// ([`decode_blocking`]).
        Checking { #[pin] task: DecodeTask<Result<(), ConfigError>> },
        Done,
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
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                OriginStateProj::Calling { inner } => {
                    let response = match ready!(inner.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            this.state.set(OriginState::Done);
                            return Poll::Ready(Err(error));
                        }
                    };
                    let Some(check) = this.check.take() else {
                        this.state.set(OriginState::Done);
                        return Poll::Ready(Ok(response));
                    };
                    let task = decode_blocking(response, move |response| check(response));
                    this.state.set(OriginState::Checking { task });
                }
                OriginStateProj::Checking { task } => {
                    let checked = ready!(task.poll(cx));
                    this.state.set(OriginState::Done);
                    let (response, outcome) = checked?;
                    if let Err(error) = outcome {
                        this.counters.rejected.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("steadfast_origin_rejected_total").increment(1);
                        tracing::debug!(%error, "the source answered with an invalid config");
                        return Poll::Ready(Err(error));
                    }
                    return Poll::Ready(Ok(response));
                }
                OriginStateProj::Done => {
                    return Poll::Ready(Err(ConfigError::invalid_request("polled again")));
                }
            }
        }
    }
}
