//! The cost of a closed circuit breaker per call: a bare `service_fn`,
//! steadfast's breaker in each trip mode, tower-resilience's breaker (count
//! window of 100) and failsafe, side by side on a current-thread runtime;
//! then the same calls on two threads at once through one shared circuit.
//!
//! Before the timings, the memory each breaker holds is printed: 50,000 of
//! each are built and kept, and the growth of the process's resident set
//! is divided among them (so the allocator's own overhead is included; the
//! heap bytes asked for are checked in the breaker's `memory` test). The
//! `breaker_build` group times building one.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
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

/// Runs `iters` calls through failsafe's `breaker` and returns the time they
/// took.
async fn drive_failsafe<B: failsafe::futures::CircuitBreaker>(breaker: &B, iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        black_box(breaker.call(echo(black_box(i))).await.unwrap());
    }
    start.elapsed()
}

/// Runs `run` on each of two threads at once, each with its own clone of
/// `value` and its own current-thread runtime; returns the time until both
/// finished.
fn on_two_threads<T, F>(value: &T, run: F) -> Duration
where
    T: Clone + Send + 'static,
    F: Fn(T, &Runtime) -> Duration + Clone + Send + 'static,
{
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (value, run, barrier) = (value.clone(), run.clone(), barrier.clone());
            std::thread::spawn(move || {
                let rt = runtime();
                barrier.wait();
                run(value, &rt)
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

/// Runs `iters` calls on each of two threads at once through clones of
/// `svc`.
fn drive_two_threads<S>(svc: &S, iters: u64) -> Duration
where
    S: Service<u64, Response = u64> + Clone + Send + 'static,
    S::Error: std::fmt::Debug,
{
    on_two_threads(svc, move |mut svc, rt| rt.block_on(drive(&mut svc, iters)))
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

fn tower_resilience() -> tower_resilience_circuitbreaker::CircuitBreakerLayer {
    tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .unwrap()
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
        let mut svc = tower_resilience().layer(service_fn(echo));
        b.iter_custom(|iters| rt.block_on(drive(&mut svc, iters)));
    });
    group.bench_function("failsafe", |b| {
        let breaker = failsafe::Config::new().build();
        b.iter_custom(|iters| rt.block_on(drive_failsafe(&breaker, iters)));
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
    for (name, layer) in modes().into_iter().take(3) {
        group.bench_function(format!("{name}_2_threads"), |b| {
            let svc = layer.layer(service_fn(echo));
            b.iter_custom(|iters| drive_two_threads(&svc, iters));
        });
    }
    group.bench_function("tower_resilience_count_window_100_2_threads", |b| {
        let svc = tower_resilience().layer(service_fn(echo));
        b.iter_custom(|iters| drive_two_threads(&svc, iters));
    });
    group.bench_function("failsafe_2_threads", |b| {
        let breaker = failsafe::Config::new().build();
        b.iter_custom(|iters| {
            on_two_threads(&breaker, move |breaker, rt| {
                rt.block_on(drive_failsafe(&breaker, iters))
            })
        });
    });
    group.finish();
}

/// The process's resident set, in bytes.
fn resident() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|kb| {
            kb.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<usize>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

const BREAKERS: usize = 50_000;

/// Builds and keeps `BREAKERS` values from `make`, and returns the resident
/// bytes they added each (with the size of the value itself) and the
/// values, to be kept until every measurement is done, so that no
/// measurement reuses memory another one freed.
fn resident_per<T>(make: impl Fn(usize) -> T) -> (usize, Vec<T>) {
    let mut kept = Vec::with_capacity(BREAKERS);
    let before = resident();
    for host in 0..BREAKERS {
        kept.push(make(host));
    }
    let grown = resident().saturating_sub(before);
    (grown / BREAKERS + size_of::<T>(), kept)
}

fn named(host: usize) -> Builder {
    CircuitBreakerLayer::builder().name(format!("host-{host:05}"))
}

fn build(c: &mut Criterion) {
    let (consecutive, a) = resident_per(|host| {
        let layer = steadfast(named(host).consecutive_failures(5));
        let svc = layer.layer(service_fn(echo));
        (layer, svc)
    });
    let (count, b) = resident_per(|host| {
        let layer = steadfast(named(host).count_window(100).failure_rate(0.5));
        let svc = layer.layer(service_fn(echo));
        (layer, svc)
    });
    let (time, d) = resident_per(|host| {
        let layer = steadfast(
            named(host)
                .time_window(Duration::from_secs(10), 10)
                .failure_rate(0.5),
        );
        let svc = layer.layer(service_fn(echo));
        (layer, svc)
    });
    let (resilience, e) = resident_per(|_| {
        let layer = tower_resilience();
        let svc = layer.layer(service_fn(echo));
        (layer, svc)
    });
    let (failsafe, f) = resident_per(|_| failsafe::Config::new().build());
    println!(
        "resident bytes per breaker ({BREAKERS} built and kept, layer and service): \
         steadfast_consecutive {consecutive}, steadfast_count_window_100 {count}, \
         steadfast_time_window_10s {time}, tower_resilience_count_window_100 {resilience}, \
         failsafe {failsafe}"
    );
    drop((a, b, d, e, f));

    let mut group = c.benchmark_group("breaker_build");
    group.bench_function("steadfast_consecutive", |b| {
        b.iter(|| {
            black_box(steadfast(
                CircuitBreakerLayer::builder().consecutive_failures(5),
            ))
        })
    });
    group.bench_function("steadfast_count_window_100", |b| {
        b.iter(|| {
            black_box(steadfast(
                CircuitBreakerLayer::builder()
                    .count_window(100)
                    .failure_rate(0.5),
            ))
        })
    });
    group.bench_function("tower_resilience_count_window_100", |b| {
        b.iter(|| black_box(tower_resilience()))
    });
    group.bench_function("failsafe", |b| {
        b.iter(|| black_box(failsafe::Config::new().build()))
    });
    group.finish();
}

criterion_group!(benches, build, closed);
criterion_main!(benches);
