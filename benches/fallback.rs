//! The cost of the fallback layer on a call that succeeds (the path every
//! healthy call takes), against the bare service, for each kind of answer;
//! then the cost of a fallback answer after a failed call.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_core::BoxError;
use steadfast_fallback::FallbackLayer;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt, service_fn};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

async fn echo(request: u64) -> Result<u64, BoxError> {
    Ok(request)
}

async fn fail(_: u64) -> Result<u64, BoxError> {
    Err("down".into())
}

/// Runs `iters` calls through `svc` and returns the time they took.
async fn drive<S>(svc: &mut S, iters: u64) -> Duration
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for i in 0..iters {
        let response = svc.ready().await.unwrap().call(black_box(i)).await;
        black_box(response.unwrap());
    }
    start.elapsed()
}

/// Benches `svc` as `name` in `group`.
fn row<S>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &Runtime,
    name: &str,
    svc: S,
) where
    S: Service<u64, Response = u64> + Clone,
    S::Error: std::fmt::Debug,
{
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| {
            let mut svc = svc.clone();
            async move { drive(&mut svc, iters).await }
        })
    });
}

/// Benches each kind of fallback around `inner` in the group `name`, after
/// `inner` alone when `bare`.
fn kinds<S>(c: &mut Criterion, name: &str, inner: S, bare: bool)
where
    S: Service<u64, Response = u64, Error = BoxError> + Clone,
{
    let rt = runtime();
    let mut group = c.benchmark_group(name);
    if bare {
        row(&mut group, &rt, "bare", inner.clone());
    }
    let value = FallbackLayer::value(0).layer(inner.clone());
    row(&mut group, &rt, "value", value);
    let from_error = FallbackLayer::from_error(|_: &BoxError| 0).layer(inner.clone());
    row(&mut group, &rt, "from_error", from_error);
    let service = FallbackLayer::service(service_fn(echo)).layer(inner);
    row(&mut group, &rt, "service", service);
    group.finish();
}

fn success(c: &mut Criterion) {
    kinds(c, "fallback_success", service_fn(echo), true);
}

fn answer(c: &mut Criterion) {
    kinds(c, "fallback_answer", service_fn(fail), false);
}

criterion_group!(benches, success, answer);
criterion_main!(benches);
