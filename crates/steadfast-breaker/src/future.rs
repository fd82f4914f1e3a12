//! Response futures of [`CircuitBreaker`](crate::CircuitBreaker).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use steadfast_core::CircuitOpen;
use tokio::time::Instant;

use crate::lane::Link;
use crate::policy::{Classifier, Outcome};
use crate::state::Shared;

pin_project! {
    /// The response future of [`CircuitBreaker`](crate::CircuitBreaker):
    /// the inner call, whose outcome it records when it finishes, or an
    /// immediate [`CircuitOpen`] rejection.
    pub struct ResponseFuture<F, C> {
        #[pin]
        state: Inner<F, C>,
    }
}

pin_project! {
    #[project = InnerProj]
    enum Inner<F, C> {
        Called {
            #[pin]
            future: F,
            link: Link<C>,
            word: u64,
            start: Option<Instant>,
        },
        Probe {
            #[pin]
            future: F,
            permit: Permit<C>,
            start: Option<Instant>,
        },
        Rejected {
            open: CircuitOpen,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    #[inline]
    pub(crate) fn called(future: F, link: Link<C>, word: u64, start: Option<Instant>) -> Self {
        Self {
            state: Inner::Called {
                future,
                link,
                word,
                start,
            },
        }
    }

    pub(crate) fn probe(future: F, permit: Permit<C>, start: Option<Instant>) -> Self {
        Self {
            state: Inner::Probe {
                future,
                permit,
                start,
            },
        }
    }

    pub(crate) fn rejected(open: CircuitOpen) -> Self {
        Self {
            state: Inner::Rejected { open },
        }
    }
}

impl<F, C, T, E> Future for ResponseFuture<F, C>
where
    F: Future<Output = Result<T, E>>,
    E: From<CircuitOpen>,
    C: Classifier<T, E>,
{
    type Output = Result<T, E>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            InnerProj::Called {
                future,
                link,
                word,
                start,
            } => {
                let result = ready!(future.poll(cx));
                let shared: &Shared<C> = link;
                let (outcome, slow, now) = judge(shared, *start, &result);
                shared.core.record(*word, outcome, slow, now);
                Poll::Ready(result)
            }
            InnerProj::Probe {
                future,
                permit,
                start,
            } => {
                let result = ready!(future.poll(cx));
                let (outcome, slow, _) = judge(&permit.shared, *start, &result);
                permit.done = true;
                permit.shared.core.record_probe(permit.word, outcome, slow);
                Poll::Ready(result)
            }
            InnerProj::Rejected { open } => Poll::Ready(Err(E::from(*open))),
        }
    }
}

/// Classifies a result, and tells whether the call was slow and the time it
/// finished, when the breaker keeps time.
#[inline]
fn judge<C, T, E>(
    shared: &Shared<C>,
    start: Option<Instant>,
    result: &Result<T, E>,
) -> (Outcome, bool, Option<Instant>)
where
    C: Classifier<T, E>,
{
    let outcome = shared.classifier.classify(result.as_ref());
    if !shared.core.timed() {
        return (outcome, false, None);
    }
    let now = Instant::now();
    let slow = start.is_some_and(|start| shared.core.is_slow(now.saturating_duration_since(start)));
    (outcome, slow, Some(now))
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

/// A half-open probe's permit: given back if the probe is dropped before it
/// finishes.
pub(crate) struct Permit<C> {
    shared: Arc<Shared<C>>,
    word: u64,
    done: bool,
}

impl<C> Permit<C> {
    pub(crate) fn new(shared: Arc<Shared<C>>, word: u64) -> Self {
        Self {
            shared,
            word,
            done: false,
        }
    }
}

impl<C> Drop for Permit<C> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.core.release(self.word);
        }
    }
}

impl<C> fmt::Debug for Permit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
