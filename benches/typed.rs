//! A cache hit, typed and untyped, on a 2 KiB JSON configuration (nested
//! endpoints and maps), each call polled once on the calling thread (every
//! hit is ready at once):
//!
//! - `bare`: the source alone;
//! - `quick_cache get`: a raw `quick_cache` look-up of the same key;
//! - `clock: …`: one read of tokio's clock (as a hit reads it; with
//!   tokio's `test-util` on, as in every dev build, it asks the runtime
//!   whether time is paused) and of std's;
//! - `CacheLayer hit`: steadfast's cache alone;
//! - `load_response hit`: the `Loader` with its defaults (cache, retry,
//!   breaker, timeout, check; no fallback), but for a TTL of an hour, longer
//!   than the run;
//! - `load::<T>() hit`: the same, decoded as `AppConfig`;
//! - `BoxLoader load::<T>() hit`: the same through a loader whose source
//!   is boxed;
//! - `load_response + decode`: what a typed hit costs when the body is
//!   decoded on every call;
//! - `tower-resilience stack hit`: tower-resilience 0.14's cache over its
//!   retry and circuit breaker over tower's timeout;
//! - `load::<T>() hit, one thread` and `…, two threads`: the same hits
//!   made on one spawned thread, then on two at once (each row's time is
//!   the wall time for every thread to make its share);
//! - `load::<T>() hit, two threads, a key each`: the same on two keys, one
//!   per thread;
//! - `Arc clone + drop, one thread` and `…, two threads`: what handing out
//!   one shared `Arc<T>` costs by itself, the bound of any API that
//!   returns the same `Arc` to threads calling at once.

use std::collections::BTreeMap;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use serde::Deserialize;
use steadfast::cache::CacheLayer;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast::{BoxLoader, Loader, StackBuilder};
use tower::{Layer, Service};

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct AppConfig {
    service: String,
    version: u32,
    endpoints: Vec<Endpoint>,
    limits: BTreeMap<String, u64>,
    features: BTreeMap<String, bool>,
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Endpoint {
    name: String,
    url: String,
    timeout_ms: u64,
    retries: u32,
    headers: BTreeMap<String, String>,
}

/// About 2 KB of JSON (1,984 bytes).
fn body() -> String {
    let endpoints: Vec<String> = (0..11)
        .map(|i| {
            format!(
                r#"{{"name":"svc-{i}","url":"https://svc{i}.internal.example.com/api/v2","timeout_ms":{},"retries":{},"headers":{{"x-team":"core","x-tier":"gold"}}}}"#,
                250 * (i + 1),
                i % 4
            )
        })
        .collect();
    let limits: Vec<String> = (0..12)
        .map(|i| format!(r#""limit_{i}":{}"#, 100 * i))
        .collect();
    let features: Vec<String> = (0..8)
        .map(|i| format!(r#""feature_{i}":{}"#, i % 2 == 0))
        .collect();
    format!(
        r#"{{"service":"checkout","version":42,"endpoints":[{}],"limits":{{{}}},"features":{{{}}},"labels":{{"region":"eu-west-1","zone":"b","owner":"payments"}}}}"#,
        endpoints.join(","),
        limits.join(","),
        features.join(",")
    )
}

/// A source that answers every request at once with one response.
fn source(
    response: ConfigResponse,
) -> impl Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = ConfigError,
    Future = Ready<Result<ConfigResponse, ConfigError>>,
> + Clone
+ Send
+ 'static {
    tower::service_fn(move |_: ConfigRequest| ready(Ok(response.clone())))
}

/// Polls `future` once: every hit here is ready at once.
fn now<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = std::pin::pin!(future);
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a hit must be ready at once"),
    }
}

/// One call of `svc`: ready, call, and its answer.
fn hit<S>(svc: &mut S, req: ConfigRequest) -> S::Response
where
    S: Service<ConfigRequest>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    now(svc.call(req)).unwrap()
}

/// Wall time for `threads` threads to make `iters` calls of `typed` each,
/// on clones of `loader`, the thread numbered `i` asking for `keys[i]`.
fn on_threads<L, F>(loader: &L, keys: &[&str], iters: u64, typed: F) -> Duration
where
    L: Clone + Send,
    F: Fn(&L, ConfigRequest) -> Arc<AppConfig> + Copy + Send,
{
    let start = Instant::now();
    std::thread::scope(|scope| {
        for key in keys {
            let loader = loader.clone();
            let req = ConfigRequest::new(*key).with_profile("prod");
            scope.spawn(move || {
                for _ in 0..iters {
                    black_box(typed(&loader, req.clone()));
                }
            });
        }
    });
    start.elapsed()
}

fn typed_hit(c: &mut Criterion) {
    let text = body();
    assert!((1950..2200).contains(&text.len()), "{} bytes", text.len());
    let response = ConfigResponse::new(text, Format::Json).with_version("\"v1\"");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let req = ConfigRequest::new("app").with_profile("prod");
    let key = req.shared_key().clone();

    // A response of its own for each key: keys share no decoded value.
    let body = response.body().clone();
    let per_key = tower::service_fn(move |_: ConfigRequest| {
        ready(Ok::<_, ConfigError>(
            ConfigResponse::new(body.clone(), Format::Json).with_version("\"v1\""),
        ))
    });
    // The defaults, but for a TTL longer than the whole run.
    let hour = || CacheLayer::builder().ttl(Duration::from_secs(3600));
    let loader = StackBuilder::new().cache(hour()).build(per_key).unwrap();
    rt.block_on(loader.load::<AppConfig>(req.clone())).unwrap();
    rt.block_on(loader.load::<AppConfig>(ConfigRequest::new("other").with_profile("prod")))
        .unwrap();

    let boxed: BoxLoader = StackBuilder::new()
        .cache(hour())
        .build_boxed(source(response.clone()))
        .unwrap();
    rt.block_on(boxed.load::<AppConfig>(req.clone())).unwrap();

    let mut cache_only = CacheLayer::builder()
        .ttl(Duration::from_secs(3600))
        .provenance()
        .build()
        .unwrap()
        .layer(source(response.clone()));
    rt.block_on(tower::ServiceExt::ready(&mut cache_only))
        .unwrap();
    rt.block_on(cache_only.call(req.clone())).unwrap();

    let quick = quick_cache::sync::Cache::<Arc<str>, ConfigResponse>::new(10_000);
    quick.insert(key.clone(), response.clone());

    let breaker = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .unwrap();
    let retry = tower_resilience_retry::RetryLayer::<ConfigRequest, ConfigResponse, _>::builder()
        .max_attempts(3)
        .exponential_backoff(Duration::from_secs(1))
        .build();
    let timeout = tower::timeout::TimeoutLayer::new(Duration::from_secs(10));
    let peer_cache = tower_resilience_cache::CacheLayer::builder()
        .max_size(10_000)
        .ttl(Duration::from_secs(3600))
        .key_extractor(|req: &ConfigRequest| req.shared_key().clone())
        .build()
        .unwrap();
    let mut peer =
        peer_cache.layer(retry.layer(breaker.layer(timeout.layer(source(response.clone())))));
    rt.block_on(async {
        tower::ServiceExt::ready(&mut peer)
            .await
            .unwrap()
            .call(req.clone())
            .await
            .unwrap()
    });

    let load_typed = |loader: &_, req| now(Loader::load::<AppConfig>(loader, req)).unwrap();
    let mut bare = source(response.clone());
    let mut group = c.benchmark_group("typed_hit");
    group.bench_function("bare", |b| b.iter(|| hit(&mut bare, req.clone())));
    group.bench_function("quick_cache get", |b| {
        b.iter(|| quick.get(black_box(&key)).unwrap())
    });
    group.bench_function("clock: tokio Instant::now", |b| {
        b.iter(tokio::time::Instant::now)
    });
    group.bench_function("clock: std Instant::now", |b| b.iter(Instant::now));
    group.bench_function("CacheLayer hit", |b| {
        b.iter(|| hit(&mut cache_only, req.clone()))
    });
    group.bench_function("load_response hit", |b| {
        b.iter(|| now(loader.load_response(req.clone())).unwrap())
    });
    group.bench_function("load::<T>() hit", |b| {
        b.iter(|| now(loader.load::<AppConfig>(req.clone())).unwrap())
    });
    group.bench_function("load_response + decode", |b| {
        b.iter(|| {
            let response = now(loader.load_response(req.clone())).unwrap();
            Arc::new(response.decode::<AppConfig>().unwrap())
        })
    });
    group.bench_function("BoxLoader load::<T>() hit", |b| {
        b.iter(|| now(boxed.load::<AppConfig>(req.clone())).unwrap())
    });
    group.bench_function("tower-resilience stack hit", |b| {
        b.iter(|| hit(&mut peer, req.clone()))
    });
    group.bench_function("load::<T>() hit, one thread", |b| {
        b.iter_custom(|iters| on_threads(&loader, &["app"], iters, load_typed))
    });
    group.bench_function("load::<T>() hit, two threads", |b| {
        b.iter_custom(|iters| on_threads(&loader, &["app", "app"], iters, load_typed))
    });
    group.bench_function("load::<T>() hit, two threads, a key each", |b| {
        b.iter_custom(|iters| on_threads(&loader, &["app", "other"], iters, load_typed))
    });
    let shared = Arc::new(0u64);
    let clone_drop = |threads: usize, iters: u64| {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let shared = &shared;
                scope.spawn(move || {
                    for _ in 0..iters {
                        black_box(Arc::clone(black_box(shared)));
                    }
                });
            }
        });
        start.elapsed()
    };
    group.bench_function("Arc clone + drop, one thread", |b| {
        b.iter_custom(|iters| clone_drop(1, iters))
    });
    group.bench_function("Arc clone + drop, two threads", |b| {
        b.iter_custom(|iters| clone_drop(2, iters))
    });
    group.finish();
}

criterion_group!(benches, typed_hit);
criterion_main!(benches);
