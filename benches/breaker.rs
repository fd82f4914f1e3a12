//! The cost of a closed circuit breaker per call: a bare `service_fn`,
//! steadfast's breaker in each trip mode, tower-resilience's breaker (count
//! window of 100) and failsafe, side by side on a current-thread runtime;
//! then the same calls on two threads at once through one shared circuit.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use failsafe::futures::CircuitBreaker as _;
use steadfast_breaker::{Builder, CircuitBreakerLayer};
use steadfast_core::BoxError;
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

/// Runs `iters` calls on each of two threads at once, each with its own
/// clone of `svc` and its own current-thread runtime; returns the time
/// until both finished.
fn drive_two_threads<S>(svc: &S, iters: u64) -> Duration
where
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
{
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let mut svc = svc.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let rt = runtime();
                barrier.wait();
                rt.block_on(drive(&mut svc, iters))
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for thread in threads {
        thread.join().unwrap();
    }
    start.elapsed()
}

fn steadfast(builder: Builder) -> CircuitBreakerLayer {
    builder.build().unwrap()
}

fn modes() -> Vec<(&'static str, CircuitBreakerLayer)> {
    let b = CircuitBreakerLayer::builder;
    vec![
        (
            "steadfast_consecutive",
            steadfast(b().consecutive_failures(5)),
        ),
        (
            "steadfast_count_window_100",
            steadfast(b().count_window(100).failure_rate(0.5)),
        ),
        (
            "steadfast_time_window_10s",
            steadfast(
                b().time_window(Duration::from_secs(10), 10)
                    .failure_rate(0.5),
            ),
        ),
        (
            "steadfast_slow_call",
            steadfast(b().slow_calls(Duration::from_secs(1), 0.5)),
        ),
    ]
}

fn closed(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("breaker_closed");

    group.bench_function("bare", |b| {
        let mut svc = service_fn(echo);
        b.iter_custom(|iters| rt.block_on(drive(&mut svc, iters)));
    });
    for (name, layer) in modes() {
        group.bench_function(name, |b| {
            let mut svc = layer.layer(service_fn(echo));
            b.iter_custom(|iters| rt.block_on(drive(&mut svc, iters)));
        });
    }
    group.bench_function("tower_resilience_count_window_100", |b| {
        let layer = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .build()
            .unwrap();
        let mut svc = layer.layer(service_fn(echo));
        b.iter_custom(|iters| rt.block_on(drive(&mut svc, iters)));
    });
    group.bench_function("failsafe", |b| {
        let breaker = failsafe::Config::new().build();
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(breaker.call(echo(black_box(i))).await.unwrap());
                }
                start.elapsed()
            })
        });
    });

    // What a time window (one read per call) and the slow-call policy (two)
    // pay for the clock, measured the same way.
    group.bench_function("clock_read", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio::time::Instant::now());
                }
                start.elapsed()
            })
        });
    });

    group.bench_function("bare_2_threads", |b| {
        let svc = service_fn(echo);
        b.iter_custom(|iters| drive_two_threads(&svc, iters));
    });
    for (name, layer) in modes().into_iter().take(2) {
        group.bench_function(format!("{name}_2_threads"), |b| {
            let svc = layer.layer(service_fn(echo));
            b.iter_custom(|iters| drive_two_threads(&svc, iters));
        });
    }
    group.finish();
}

criterion_group!(benches, closed);
criterion_main!(benches);
