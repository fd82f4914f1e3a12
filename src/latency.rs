//! [`LoadLatency`]: the histogram of how long loads take, by how they were
//! answered.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::{Provenance, Source};
use tokio::time::Instant;
use tower_service::Service;

/// The name of the histogram: seconds from a load's call to its answer,
/// labelled `outcome` = `hit`, `miss`, `stale`, `fallback` or `error`.
pub const LOAD_DURATION: &str = "steadfast_loader_load_duration_seconds";

/// One histogram handle per outcome, registered once.
#[derive(Debug)]
pub(crate) struct Histograms {
    hit: metrics::Histogram,
    miss: metrics::Histogram,
    stale: metrics::Histogram,
    fallback: metrics::Histogram,
    error: metrics::Histogram,
}

impl Histograms {
    pub(crate) fn new() -> Self {
        let by = |outcome: &'static str| metrics::histogram!(LOAD_DURATION, "outcome" => outcome);
        Self {
            hit: by("hit"),
            miss: by("miss"),
            stale: by("stale"),
            fallback: by("fallback"),
            error: by("error"),
        }
    }

    /// Records a fresh hit the loader answered beside the stack.
    pub(crate) fn record_hit(&self, seconds: f64) {
        self.hit.record(seconds);
    }

    fn record(&self, answer: Result<&ConfigResponse, &ConfigError>, seconds: f64) {
        let histogram = match answer.map(Provenance::source) {
            Ok(Source::Cache) => &self.hit,
            Ok(Source::Stale) => &self.stale,
            Ok(Source::Fallback) => &self.fallback,
            // `Source` may grow: an unknown one is an origin answer.
            Ok(_) => &self.miss,
            Err(_) => &self.error,
        };
        histogram.record(seconds);
    }
}

/// The whole stack, timed: each answered load is recorded in the
/// [`LOAD_DURATION`] histogram when the stack was built with
/// [`StackBuilder::load_latency`](crate::StackBuilder::load_latency);
/// otherwise a pass-through that reads no clock.
#[derive(Debug, Clone)]
pub struct LoadLatency<S> {
    inner: S,
    histograms: Option<Arc<Histograms>>,
}

impl<S> LoadLatency<S> {
    pub(crate) fn new(inner: S, histograms: Option<Arc<Histograms>>) -> Self {
        Self { inner, histograms }
    }

    /// The histograms, if loads are timed.
    pub(crate) fn histograms(&self) -> Option<&Histograms> {
        self.histograms.as_deref()
    }
}

impl<S> Service<ConfigRequest> for LoadLatency<S>
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = LatencyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: ConfigRequest) -> Self::Future {
        let timing = self
            .histograms
            .as_ref()
            .map(|histograms| (Arc::clone(histograms), Instant::now()));
        LatencyFuture {
            inner: self.inner.call(req),
            timing,
        }
    }
}

pin_project! {
    /// The future of a [`LoadLatency`] call.
    #[derive(Debug)]
    pub struct LatencyFuture<F> {
        #[pin]
        inner: F,
        timing: Option<(Arc<Histograms>, Instant)>,
    }
}

impl<F> Future for LatencyFuture<F>
where
    F: Future<Output = Result<ConfigResponse, ConfigError>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = ready!(this.inner.poll(cx));
        if let Some((histograms, started)) = this.timing.take() {
            histograms.record(answer.as_ref(), started.elapsed().as_secs_f64());
        }
        Poll::Ready(answer)
    }
}
