//! The response future of [`Cache`](crate::Cache).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A load shared with other callers: boxed once per miss.
pub(crate) type Waiting<V, E> = Pin<Box<dyn Future<Output = Result<V, E>> + Send + 'static>>;

/// The response future of [`Cache`](crate::Cache): an answer already known
/// (a hit, a stale value, a cached "not found"), or a wait for the load of
/// the key.
pub struct ResponseFuture<V, E> {
    state: State<V, E>,
}

enum State<V, E> {
    Ready(Option<Result<V, E>>),
    Waiting(Waiting<V, E>),
}

impl<V, E> ResponseFuture<V, E> {
    #[inline]
    pub(crate) fn ready(result: Result<V, E>) -> Self {
        Self {
            state: State::Ready(Some(result)),
        }
    }

    pub(crate) fn waiting(fut: Waiting<V, E>) -> Self {
        Self {
            state: State::Waiting(fut),
        }
    }
}

// Nothing in it is pinned: the waiting future is boxed.
impl<V, E> Unpin for ResponseFuture<V, E> {}

impl<V, E> Future for ResponseFuture<V, E> {
    type Output = Result<V, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().state {
            State::Ready(result) => Poll::Ready(
                result
                    .take()
                    .expect("cache ResponseFuture polled after completion"),
            ),
            State::Waiting(fut) => fut.as_mut().poll(cx),
        }
    }
}

impl<V, E> fmt::Debug for ResponseFuture<V, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Ready(Some(_)) => "Ready",
            State::Ready(None) => "Done",
            State::Waiting(_) => "Waiting",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
