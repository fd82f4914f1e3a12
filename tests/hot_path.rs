//! The hot paths allocate nothing: a cache hit, a closed breaker, a first
//! attempt that succeeds, a fallback that is not needed, an attempt within
//! its time limit — each alone and all together in the preset stack — and
//! a typed load answered from the cache.
//!
//! Allocations are counted by dhat's heap profiler, which counts every
//! thread's: the test runs without libtest's harness, on the process's only
//! thread, so nothing else allocates while it counts (libtest's own thread
//! books the test it started at a moment of its choosing).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayer;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast::fallback::FallbackLayer;
use steadfast::retry::RetryLayer;
use steadfast::timeout::TimeoutLayer;
use steadfast::{StackBuilder, json_fallback};
use tower::{Layer, Service, ServiceExt, service_fn};

#[derive(serde::Deserialize)]
struct Port {
    port: u16,
}

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn source() -> impl Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = ConfigError,
    Future = std::future::Ready<Result<ConfigResponse, ConfigError>>,
> + Clone
+ Send
+ 'static {
    let response = ConfigResponse::new(Bytes::from_static(b"{\"port\":8080}"), Format::Json)
        .with_version("\"v1\"");
    service_fn(move |_: ConfigRequest| std::future::ready(Ok(response.clone())))
}

/// Calls `svc` `n` times and returns how many heap blocks that allocated.
async fn blocks_per<S>(svc: &mut S, req: &ConfigRequest, n: usize) -> u64
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    // Warm up: the first call may fill a cache or register a thread.
    for _ in 0..2 {
        svc.ready().await.unwrap().call(req.clone()).await.unwrap();
    }
    let before = dhat::HeapStats::get().total_blocks;
    for _ in 0..n {
        let response = svc.ready().await.unwrap().call(req.clone()).await.unwrap();
        std::hint::black_box(response);
    }
    dhat::HeapStats::get().total_blocks - before
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let req = ConfigRequest::new("app").with_profile("prod");
        let n = 1000;

        let mut cache = CacheLayer::builder()
            .ttl(Duration::from_secs(300))
            .provenance()
            .build()
            .unwrap()
            .layer(source());
        assert_eq!(blocks_per(&mut cache, &req, n).await, 0, "cache hit");

        let mut breaker = CircuitBreakerLayer::builder()
            .failure_rate(0.5)
            .count_window(100)
            .build()
            .unwrap()
            .layer(source());
        assert_eq!(blocks_per(&mut breaker, &req, n).await, 0, "closed breaker");

        let mut retry = RetryLayer::builder().build().unwrap().layer(source());
        assert_eq!(blocks_per(&mut retry, &req, n).await, 0, "first attempt");

        let fallback_value = ConfigResponse::new("{}", Format::Json);
        let mut fallback = FallbackLayer::value(fallback_value)
            .provenance()
            .layer(source());
        assert_eq!(
            blocks_per(&mut fallback, &req, n).await,
            0,
            "fallback unused"
        );

        let mut timeout = TimeoutLayer::new(Duration::from_secs(1)).layer(source());
        assert_eq!(
            blocks_per(&mut timeout, &req, n).await,
            0,
            "within the limit"
        );

        let mut stack = StackBuilder::new()
            .fallback(json_fallback("{}"))
            .build(source())
            .unwrap();
        assert_eq!(
            blocks_per(&mut stack, &req, n).await,
            0,
            "preset stack, hit"
        );
        assert_eq!(stack.metrics().primary_loads, 1);

        // With an alert listener: episodes are followed off the hit path.
        let mut listened = StackBuilder::new()
            .fallback(json_fallback("{}"))
            .on_alert(|alert| {
                std::hint::black_box(alert);
            })
            .build(source())
            .unwrap();
        assert_eq!(
            blocks_per(&mut listened, &req, n).await,
            0,
            "preset stack with an alert listener, hit"
        );

        // A typed hit hands out the value decoded once for this version.
        let typed = StackBuilder::new().build(source()).unwrap();
        let first = typed.load::<Port>(req.clone()).await.unwrap();
        typed.load::<Port>(req.clone()).await.unwrap();
        let before = dhat::HeapStats::get().total_blocks;
        for _ in 0..n {
            let port = typed.load::<Port>(req.clone()).await.unwrap();
            assert!(Arc::ptr_eq(&port, &first));
        }
        assert_eq!(
            dhat::HeapStats::get().total_blocks - before,
            0,
            "load::<T>(), hit"
        );
        assert_eq!(first.port, 8080);

        // The counter does count: a load that must format allocates.
        let before = dhat::HeapStats::get().total_blocks;
        std::hint::black_box(Arc::new(req.key().to_string()));
        assert!(dhat::HeapStats::get().total_blocks > before);
    });
    println!("hot paths allocate nothing: ok");
}
