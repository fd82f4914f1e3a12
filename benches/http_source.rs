//! The cost of a load through the HTTP source when every load evicts a
//! remembered body: the map at 256 keys and at 16,384. A constant-time
//! eviction costs the same at both sizes; a scan of the map grows with it.
//! The client answers at once from memory, so the source's own work is
//! what is measured.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use steadfast_config::{ConfigRequest, HttpSource, RequestBody};
use tower::{Service, ServiceExt, service_fn};

type Reply = Ready<Result<http::Response<Full<Bytes>>, Infallible>>;

/// Answers every GET with a small tagged JSON body.
fn client() -> impl Service<
    http::Request<RequestBody>,
    Response = http::Response<Full<Bytes>>,
    Error = Infallible,
    Future = Reply,
> + Clone {
    service_fn(|_: http::Request<RequestBody>| {
        ready(Ok(http::Response::builder()
            .header("content-type", "application/json")
            .header("etag", "\"v1\"")
            .body(Full::new(Bytes::from_static(b"{\"port\":8080}")))
            .unwrap()))
    })
}

fn evicting_loads(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("http_remembered_evicting_load");
    // Redirects followed (the default: each load keeps a clone of the
    // client, its URL and headers for a hop) and not (`max_redirects(0)`).
    for (keys, redirects) in [(256usize, 5), (256, 0), (16_384, 5), (16_384, 0)] {
        let source = HttpSource::builder("http://config.test")
            .remember(keys)
            .max_redirects(redirects)
            .build_with(client())
            .unwrap();
        // Twice as many names as the map holds, loaded in turn: each load
        // misses and evicts the least recently used.
        let requests: Vec<ConfigRequest> = (0..2 * keys)
            .map(|i| ConfigRequest::new(format!("app-{i}")))
            .collect();
        runtime.block_on(async {
            for request in &requests {
                source.clone().oneshot(request.clone()).await.unwrap();
            }
        });
        assert_eq!(source.remembered(), keys);
        // The turn goes on across batches, so that no load finds its name.
        let next = Cell::new(0usize);
        let name = match redirects {
            0 => format!("{keys}_keys_no_redirects"),
            _ => format!("{keys}_keys"),
        };
        group.bench_function(name, |b| {
            b.to_async(&runtime).iter_custom(|iters| {
                let mut source = source.clone();
                let (requests, next) = (&requests, &next);
                async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let turn = next.get();
                        next.set((turn + 1) % requests.len());
                        let request = requests[turn].clone();
                        let response = source.ready().await.unwrap().call(request).await;
                        black_box(response.unwrap());
                    }
                    let elapsed: Duration = start.elapsed();
                    elapsed
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, evicting_loads);
criterion_main!(benches);
