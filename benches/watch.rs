//! Change-to-visible latency of a long-polling watch, beside the floor it
//! cannot beat: one plain GET round trip to the same loopback server. The
//! server holds `?index=N&wait=W` as Consul does; each measured iteration
//! changes the index and waits for the watch to publish the new version.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use steadfast::config::watch::Watcher;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, HttpSource, LongPoll};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// A loopback server with blocking queries; its index, and how many
/// requests it holds now.
async fn consul() -> (String, watch::Sender<u64>, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (index, _) = watch::channel(1u64);
    let held = Arc::new(AtomicU64::new(0));
    let (tx, count) = (index.clone(), held.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (tx, count) = (tx.clone(), count.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (tx, count) = (tx.clone(), count.clone());
                    async move {
                        let query = req.uri().query().unwrap_or_default().to_owned();
                        let asked = query
                            .split('&')
                            .find_map(|p| p.strip_prefix("index="))
                            .and_then(|i| i.parse::<u64>().ok());
                        let mut rx = tx.subscribe();
                        if let Some(asked) = asked {
                            count.fetch_add(1, Ordering::SeqCst);
                            let _ = tokio::time::timeout(
                                Duration::from_secs(30),
                                rx.wait_for(|now| *now != asked),
                            )
                            .await;
                            count.fetch_sub(1, Ordering::SeqCst);
                        }
                        let now = *rx.borrow();
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .header("x-consul-index", now.to_string())
                                .body(Full::new(Bytes::from(format!("{{\"v\":{now}}}"))))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, index, held)
}

#[derive(serde::Deserialize)]
struct Value {
    #[allow(dead_code)]
    v: u64,
}

fn change_to_visible(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (url, index, held) = runtime.block_on(consul());
    let source = HttpSource::builder(&url)
        .path("/v1/kv/{name}")
        .long_poll(LongPoll::consul())
        .build()
        .unwrap();
    let (handle, rx) = runtime.block_on(async {
        Watcher::builder("app")
            .interval(Duration::from_secs(30))
            .jitter(0.0)
            .long_poll(Duration::from_secs(30))
            .build(|r: &ConfigResponse| r.decode::<Value>().map(Arc::new))
            .unwrap()
            .start(source.clone())
            .await
            .unwrap()
    });

    let mut group = c.benchmark_group("watch_change_to_visible");
    group.bench_function("long_poll_change", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let (index, held) = (&index, &held);
            let mut rx = rx.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    while held.load(Ordering::SeqCst) == 0 {
                        tokio::task::yield_now().await;
                    }
                    rx.borrow_and_update();
                    let start = Instant::now();
                    index.send_modify(|i| *i += 1);
                    rx.changed().await.unwrap();
                    total += start.elapsed();
                }
                total
            }
        })
    });
    group.bench_function("plain_get_round_trip", |b| {
        b.to_async(&runtime).iter(|| {
            let source = source.clone();
            async move {
                let response: Result<ConfigResponse, ConfigError> =
                    source.oneshot(ConfigRequest::new("app")).await;
                black_box(response.unwrap())
            }
        })
    });
    group.finish();
    drop(handle);
}

criterion_group!(benches, change_to_visible);
criterion_main!(benches);
