//! A per-attempt time limit that keeps the inner error type.
//!
//! tower's `TimeoutLayer` turns every error into a `BoxError`. This one
//! returns [`TimedOut`] through `E: From<TimedOut>`, so a stack over a
//! `Service<ConfigRequest, Error = ConfigError>` keeps its `ConfigError`
//! (a timeout becomes [`ConfigError::Timeout`](crate::config::ConfigError::Timeout)).
//!
//! ```
//! use std::time::Duration;
//! use steadfast::config::ConfigError;
//! use steadfast::timeout::TimeoutLayer;
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let slow = service_fn(|_: ()| async {
//!     tokio::time::sleep(Duration::from_secs(10)).await;
//!     Ok::<_, ConfigError>("late")
//! });
//! let svc = TimeoutLayer::new(Duration::from_secs(1)).layer(slow);
//! let err = svc.oneshot(()).await.unwrap_err();
//! assert!(matches!(err, ConfigError::Timeout(d) if d == Duration::from_secs(1)));
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use steadfast_core::TimedOut;
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

/// Applies a time limit to every call of the inner service; a
/// [`ConfigRequest`](steadfast_config::ConfigRequest) that asks to wait for
/// a change ([`with_wait`](steadfast_config::ConfigRequest::with_wait)) gets
/// its wait on top.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer {
    limit: Duration,
}

impl TimeoutLayer {
    /// A time limit of `limit` per call.
    pub const fn new(limit: Duration) -> Self {
        Self { limit }
    }

    /// The time limit.
    pub const fn limit(&self) -> Duration {
        self.limit
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Timeout {
            inner,
            limit: self.limit,
        }
    }
}

/// A service whose calls fail with [`TimedOut`] after a time limit.
#[derive(Debug, Clone, Copy)]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S> Timeout<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the layer, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// How long the source may hold `req` for a change, for a
/// [`ConfigRequest`](steadfast_config::ConfigRequest) that asks to wait.
fn held_for<Req: 'static>(req: &Req) -> Option<Duration> {
    (req as &dyn std::any::Any)
        .downcast_ref::<steadfast_config::ConfigRequest>()?
        .wait()
}

impl<S, Req> Service<Req> for Timeout<S>
where
    Req: 'static,
    S: Service<Req>,
    S::Error: From<TimedOut>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        // A request the source may hold for a change (a long poll) gets
        // its wait on top of the limit.
        let limit = match held_for(&req) {
            Some(wait) => self.limit.saturating_add(wait),
            None => self.limit,
        };
        TimeoutFuture {
            inner: self.inner.call(req),
            sleep: tokio::time::sleep(limit),
            limit,
        }
    }
}

pin_project! {
    /// The response future of [`Timeout`].
    pub struct TimeoutFuture<F> {
        #[pin]
        inner: F,
        #[pin]
        sleep: Sleep,
        limit: Duration,
    }
}

impl<F> fmt::Debug for TimeoutFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeoutFuture")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<F, T, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<TimedOut>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(result) = this.inner.poll(cx) {
            return Poll::Ready(result);
        }
        ready!(this.sleep.poll(cx));
        Poll::Ready(Err(E::from(TimedOut::new(*this.limit))))
    }
}
