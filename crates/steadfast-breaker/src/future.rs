//! Response futures of [`CircuitBreaker`](crate::CircuitBreaker).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use steadfast_core::CircuitOpen;
use tokio::time::Instant;

use crate::policy::Classifier;
use crate::state::Shared;

pin_project! {
    /// The response future of [`CircuitBreaker`](crate::CircuitBreaker):
    /// either the inner call, whose outcome it records when it finishes, or
    /// an immediate [`CircuitOpen`] rejection.
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
            tracker: Tracker<C>,
        },
        Rejected {
            open: CircuitOpen,
        },
    }
}

impl<F, C> ResponseFuture<F, C> {
    pub(crate) fn called(future: F, tracker: Tracker<C>) -> Self {
        Self {
            state: Inner::Called { future, tracker },
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            InnerProj::Called { future, tracker } => {
                let result = ready!(future.poll(cx));
                tracker.finish(&result);
                Poll::Ready(result)
            }
            InnerProj::Rejected { open } => Poll::Ready(Err(E::from(*open))),
        }
    }
}

impl<F, C> fmt::Debug for ResponseFuture<F, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseFuture")
    }
}

/// Follows one admitted call to its outcome. A probe that is dropped before
/// it finishes gives its permit back.
pub(crate) struct Tracker<C> {
    shared: Arc<Shared<C>>,
    word: u64,
    probe: bool,
    start: Option<Instant>,
}

impl<C> Tracker<C> {
    #[inline]
    pub(crate) fn new(shared: Arc<Shared<C>>, word: u64, probe: bool) -> Self {
        Self {
            shared,
            word,
            probe,
            start: None,
        }
    }

    /// Marks the start of the inner call, when slow calls are measured.
    #[inline]
    pub(crate) fn started(mut self) -> Self {
        if self.shared.core.times_calls() {
            self.start = Some(Instant::now());
        }
        self
    }

    #[inline]
    fn finish<T, E>(&mut self, result: &Result<T, E>)
    where
        C: Classifier<T, E>,
    {
        let outcome = self.shared.classifier.classify(result.as_ref());
        let core = &self.shared.core;
        let (slow, now) = if core.timed() {
            let now = Instant::now();
            let slow = self
                .start
                .is_some_and(|start| core.is_slow(now.saturating_duration_since(start)));
            (slow, Some(now))
        } else {
            (false, None)
        };
        if self.probe {
            self.probe = false;
            core.record_probe(self.word, outcome, slow);
        } else {
            core.record(self.word, outcome, slow, now);
        }
    }
}

impl<C> Drop for Tracker<C> {
    fn drop(&mut self) {
        if self.probe {
            self.shared.core.release(self.word);
        }
    }
}

impl<C> fmt::Debug for Tracker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("probe", &self.probe)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}
