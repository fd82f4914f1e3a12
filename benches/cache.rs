//! The cost of an L1 hit: through the whole `CacheLayer` (with
//! `ConfigRequest` keys), next to the bare service, a raw `MemoryStore`
//! peek, the raw caches it could be built on (`quick_cache`, `moka`), and a
//! hit through `tower-resilience-cache`; then L1 hits from two threads at
//! once.

use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_cache::{CacheLayer, KeyRef, MemoryStore, Peek, Store};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

/// A source that answers at once with a clone of one response.
#[derive(Clone)]
struct Bare(ConfigResponse);

impl Service<ConfigRequest> for Bare {
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = Ready<Result<ConfigResponse, ConfigError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: ConfigRequest) -> Self::Future {
        ready(Ok(self.0.clone()))
    }
}

fn response() -> ConfigResponse {
    ConfigResponse::new(Bytes::from(vec![b'x'; 512]), Format::Json).with_version("v1")
}

/// One call: ready, call, and poll the answer (every one here is ready at
/// once).
fn hit<S>(svc: &mut S, req: ConfigRequest) -> S::Response
where
    S: Service<ConfigRequest>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(svc.poll_ready(&mut cx).is_ready());
    let mut fut = std::pin::pin!(svc.call(req));
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(res) => res.unwrap(),
        Poll::Pending => panic!("a hit must be ready at once"),
    }
}

fn l1_hit(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let req = ConfigRequest::new("app").with_profile("prod");
    let key = req.shared_key().clone();

    let layer = CacheLayer::builder()
        .ttl(Duration::from_secs(3600))
        .provenance()
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut cached = layer.layer(Bare(response()));
    rt.block_on(cached.clone().oneshot(req.clone())).unwrap();
    assert_eq!(handle.stats().loads, 1);

    let mut lent = CacheLayer::builder()
        .ttl(Duration::from_secs(3600))
        .key_fn(KeyRef::new(ConfigRequest::shared_key))
        .provenance()
        .build()
        .unwrap()
        .layer(Bare(response()));
    rt.block_on(lent.clone().oneshot(req.clone())).unwrap();

    let store: MemoryStore<Arc<str>, ConfigResponse> = handle.store().clone();
    let quick = quick_cache::sync::Cache::<Arc<str>, ConfigResponse>::new(10_000);
    quick.insert(key.clone(), response());
    let moka = moka::sync::Cache::<Arc<str>, ConfigResponse>::new(10_000);
    moka.insert(key.clone(), response());

    let peer = tower_resilience_cache::CacheLayer::builder()
        .max_size(10_000)
        .ttl(Duration::from_secs(3600))
        .key_extractor(|req: &ConfigRequest| req.shared_key().clone())
        .build()
        .unwrap();
    let mut peer = peer.layer(Bare(response()));
    rt.block_on(async { peer.ready().await.unwrap().call(req.clone()).await.unwrap() });

    let mut bare = Bare(response());
    let mut group = c.benchmark_group("cache_l1_hit");
    group.bench_function("bare service", |b| b.iter(|| hit(&mut bare, req.clone())));
    group.bench_function("CacheLayer hit", |b| {
        b.iter(|| hit(&mut cached, req.clone()))
    });
    group.bench_function("CacheLayer hit, KeyRef", |b| {
        b.iter(|| hit(&mut lent, req.clone()))
    });
    group.bench_function("MemoryStore peek", |b| {
        b.iter(|| match store.peek(black_box(&key)) {
            Peek::Hit(entry) => entry,
            _ => unreachable!(),
        })
    });
    group.bench_function("quick_cache get", |b| {
        b.iter(|| quick.get(black_box(&key)).unwrap())
    });
    group.bench_function("moka sync get", |b| {
        b.iter(|| moka.get(black_box(&key)).unwrap())
    });
    group.bench_function("tower-resilience-cache hit", |b| {
        b.iter(|| hit(&mut peer, req.clone()))
    });
    group.bench_function("CacheLayer hit, two threads", |b| {
        b.iter_custom(|iters| two_threads(&cached, iters))
    });
    group.bench_function("tower-resilience-cache hit, two threads", |b| {
        b.iter_custom(|iters| two_threads(&peer, iters))
    });
    group.finish();
}

/// Wall time for two threads to make `iters` hits each, on clones of
/// `svc` and requests of their own.
fn two_threads<S>(svc: &S, iters: u64) -> Duration
where
    S: Service<ConfigRequest> + Clone + Send,
    S::Error: std::fmt::Debug,
{
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let mut svc = svc.clone();
            let req = ConfigRequest::new("app").with_profile("prod");
            scope.spawn(move || {
                for _ in 0..iters {
                    black_box(hit(&mut svc, req.clone()));
                }
            });
        }
    });
    start.elapsed()
}

criterion_group!(benches, l1_hit);
criterion_main!(benches);
