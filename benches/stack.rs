//! The whole stack per call, on a current-thread runtime, over a source
//! that answers at once with a cloned `ConfigResponse`:
//!
//! - `bare`: the source alone;
//! - `loader_cache_hit`: the `Loader` with its defaults (cache, retry,
//!   breaker, timeout, check; no fallback), answered from the cache;
//! - `loader_cache_hit_fallback_on`: the same with a fallback value;
//! - `cache_layer_hit`: steadfast's `CacheLayer` alone, answered from
//!   memory;
//! - `loader_cache_off`: the `Loader` without its cache: every call goes
//!   through retry, breaker, timeout and the check (the body is parsed);
//! - `loader_cache_off_unchecked`: the same without the check;
//! - `tower_resilience_cache_hit`: tower-resilience 0.14's cache over its
//!   retry and circuit breaker over tower's timeout, answered from the cache;
//! - `tower_resilience_no_cache`: its retry and circuit breaker over tower's
//!   timeout.

use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast::cache::CacheLayer;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast::{StackBuilder, json_fallback};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt, service_fn};

const BODY: &str = r#"{"api_url":"https://api.example.com/v1","timeout_seconds":30,"max_retries":3,"enable_caching":true,"debug_mode":false}"#;

/// A source that answers every request at once.
fn source() -> impl Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = ConfigError,
    Future = Ready<Result<ConfigResponse, ConfigError>>,
> + Clone
+ Send
+ 'static {
    let response = ConfigResponse::new(BODY, Format::Json).with_version("\"v1\"");
    service_fn(move |_: ConfigRequest| ready(Ok(response.clone())))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Runs `iters` calls through `svc` and returns the time they took.
async fn drive<S>(svc: &mut S, req: &ConfigRequest, iters: u64) -> Duration
where
    S: Service<ConfigRequest, Response = ConfigResponse>,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    for _ in 0..iters {
        let response = svc.ready().await.unwrap().call(req.clone()).await;
        black_box(response.unwrap());
    }
    start.elapsed()
}

fn stack(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let req = ConfigRequest::new("app").with_profile("prod");
    let mut group = c.benchmark_group("stack");

    let mut bare = source();
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut bare, &req, iters)))
    });

    let mut cached = StackBuilder::new().build(source()).unwrap();
    rt.block_on(drive(&mut cached, &req, 1));
    group.bench_function("loader_cache_hit", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut cached, &req, iters)))
    });
    assert_eq!(cached.metrics().primary_loads, 1);

    let mut with_fallback = StackBuilder::new()
        .fallback(json_fallback(BODY))
        .build(source())
        .unwrap();
    rt.block_on(drive(&mut with_fallback, &req, 1));
    group.bench_function("loader_cache_hit_fallback_on", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut with_fallback, &req, iters)))
    });

    let cache = CacheLayer::builder()
        .ttl(Duration::from_secs(300))
        .provenance()
        .build()
        .unwrap();
    let mut cache_only = cache.layer(source());
    rt.block_on(drive(&mut cache_only, &req, 1));
    group.bench_function("cache_layer_hit", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut cache_only, &req, iters)))
    });

    // The same cache with an event listener that, as the loader's episode
    // tracking does, returns at once on a hit: the cost of the dispatch.
    let listened = CacheLayer::builder()
        .ttl(Duration::from_secs(300))
        .provenance()
        .on_event(|event| {
            if !matches!(event, steadfast::cache::Event::Hit { .. }) {
                black_box(event);
            }
        })
        .build()
        .unwrap();
    let mut cache_listened = listened.layer(source());
    rt.block_on(drive(&mut cache_listened, &req, 1));
    group.bench_function("cache_layer_hit_listener", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut cache_listened, &req, iters)))
    });

    let mut uncached = StackBuilder::new().without_cache().build(source()).unwrap();
    group.bench_function("loader_cache_off", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut uncached, &req, iters)))
    });

    let mut unchecked = StackBuilder::new()
        .without_cache()
        .without_check()
        .build(source())
        .unwrap();
    group.bench_function("loader_cache_off_unchecked", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut unchecked, &req, iters)))
    });

    let peer_inner = || {
        let breaker = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .build()
            .unwrap();
        let retry =
            tower_resilience_retry::RetryLayer::<ConfigRequest, ConfigResponse, _>::builder()
                .max_attempts(3)
                .exponential_backoff(Duration::from_secs(1))
                .build();
        let timeout = tower::timeout::TimeoutLayer::new(Duration::from_secs(10));
        retry.layer(breaker.layer(timeout.layer(source())))
    };

    let peer_cache = tower_resilience_cache::CacheLayer::builder()
        .max_size(10_000)
        .ttl(Duration::from_secs(300))
        .key_extractor(|req: &ConfigRequest| req.shared_key().clone())
        .build()
        .unwrap();
    let mut peer_cached = peer_cache.layer(peer_inner());
    rt.block_on(drive(&mut peer_cached, &req, 1));
    group.bench_function("tower_resilience_cache_hit", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut peer_cached, &req, iters)))
    });

    let mut peer_uncached = peer_inner();
    group.bench_function("tower_resilience_no_cache", |b| {
        b.iter_custom(|iters| rt.block_on(drive(&mut peer_uncached, &req, iters)))
    });

    group.finish();
}

criterion_group!(benches, stack);
criterion_main!(benches);
