//! The cost of a retry layer when the first attempt succeeds: bare service,
//! steadfast's retry (budget on), tower's retry with a no-op policy, and
//! tower-resilience's retry, side by side.

use std::fmt;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_core::Failure;
use tower::{Layer, Service};

#[derive(Debug, Clone)]
struct BenchError;

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("bench error")
    }
}

impl std::error::Error for BenchError {}

impl Failure for BenchError {
    fn is_transient(&self) -> bool {
        true
    }
}

/// Answers at once with the request.
#[derive(Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = BenchError;
    type Future = Ready<Result<u64, BenchError>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BenchError>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, request: u64) -> Self::Future {
        ready(Ok(request))
    }
}

/// Never retries.
#[derive(Clone, Copy)]
struct NoRetry;

impl tower::retry::Policy<u64, u64, BenchError> for NoRetry {
    type Future = Ready<()>;

    fn retry(&mut self, _: &mut u64, _: &mut Result<u64, BenchError>) -> Option<Self::Future> {
        None
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

/// One ready call, polled to completion with a no-op waker.
fn once<S: Service<u64, Response = u64>>(service: &mut S, request: u64) -> u64 {
    let mut cx = Context::from_waker(Waker::noop());
    match service.poll_ready(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => panic!("the service is always ready"),
    }
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response,
        _ => panic!("the call answers at once"),
    }
}

fn first_attempt_success(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _context = runtime.enter();
    let mut group = c.benchmark_group("retry_first_attempt_success");

    let mut bare = Echo;
    group.bench_function("bare", |b| b.iter(|| once(&mut bare, black_box(7))));

    let layer = steadfast_retry::RetryLayer::builder()
        .max_attempts(3)
        .backoff(steadfast_retry::Backoff::exponential(
            Duration::from_millis(100),
            2.0,
        ))
        .budget(steadfast_retry::RetryBudget::default())
        .seed(1)
        .build()
        .unwrap();
    let mut steadfast = layer.layer(Echo);
    group.bench_function("steadfast", |b| {
        b.iter(|| once(&mut steadfast, black_box(7)))
    });

    let mut tower = tower::retry::RetryLayer::new(NoRetry).layer(Echo);
    group.bench_function("tower", |b| b.iter(|| once(&mut tower, black_box(7))));

    let layer = tower_resilience_retry::RetryLayer::<u64, u64, BenchError>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_millis(100))
        .build();
    let mut resilience = layer.layer(Echo);
    group.bench_function("tower_resilience", |b| {
        b.iter(|| once(&mut resilience, black_box(7)))
    });

    group.finish();
}

criterion_group!(benches, first_attempt_success);
criterion_main!(benches);
