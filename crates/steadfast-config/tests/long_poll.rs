//! Long polling against a loopback server that holds requests as Consul's
//! blocking queries do: a change is published within a round trip, not an
//! interval. Real sockets, so a real clock; the margins are generous
//! against the 5 s interval the change would otherwise wait for.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use steadfast_config::watch::Watcher;
use steadfast_config::{ConfigResponse, HttpSource, LongPoll};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;

/// A config server with Consul's blocking queries: `?index=N&wait=W`
/// is held while the index is still `N`, up to `W`.
struct Consul {
    index: watch::Sender<u64>,
    seen: Arc<Mutex<Vec<String>>>,
    held: Arc<AtomicU64>,
    url: String,
}

fn wait_of(text: &str) -> Duration {
    if let Some(ms) = text.strip_suffix("ms") {
        return Duration::from_millis(ms.parse().unwrap());
    }
    Duration::from_secs(text.strip_suffix('s').unwrap().parse().unwrap())
}

impl Consul {
    async fn start() -> Consul {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (index, _) = watch::channel(1u64);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::new(AtomicU64::new(0));
        let (tx, seen2, held2) = (index.clone(), seen.clone(), held.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (tx, seen, held) = (tx.clone(), seen2.clone(), held2.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (tx, seen, held) = (tx.clone(), seen.clone(), held.clone());
                        async move {
                            let pq = req.uri().path_and_query().unwrap().as_str().to_owned();
                            seen.lock().unwrap().push(pq.clone());
                            let query = req.uri().query().unwrap_or_default();
                            let param = |name: &str| {
                                query
                                    .split('&')
                                    .find_map(|p| p.strip_prefix(&format!("{name}=")))
                                    .map(str::to_owned)
                            };
                            let mut rx = tx.subscribe();
                            if let (Some(asked), Some(wait)) = (param("index"), param("wait")) {
                                let asked: u64 = asked.parse().unwrap();
                                let wait = wait_of(&wait);
                                held.fetch_add(1, Ordering::SeqCst);
                                let _ =
                                    tokio::time::timeout(wait, rx.wait_for(|now| *now != asked))
                                        .await;
                                held.fetch_sub(1, Ordering::SeqCst);
                            }
                            let now = *rx.borrow();
                            let response = Response::builder()
                                .header("content-type", "application/json")
                                .header("x-consul-index", now.to_string())
                                .body(Full::new(Bytes::from(format!("{{\"v\":{now}}}"))))
                                .unwrap();
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Consul {
            index,
            seen,
            held,
            url,
        }
    }

    async fn until_held(&self) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while self.held.load(Ordering::SeqCst) == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .expect("a poll is held");
    }
}

#[derive(Debug, serde::Deserialize)]
struct Value {
    v: u64,
}

fn value(response: &ConfigResponse) -> Result<std::sync::Arc<u64>, steadfast_config::ConfigError> {
    Ok(std::sync::Arc::new(response.decode::<Value>()?.v))
}

#[tokio::test]
async fn a_change_is_published_within_a_round_trip_of_the_servers_change() {
    let consul = Consul::start().await;
    let source = HttpSource::builder(&consul.url)
        .path("/v1/kv/{name}")
        .long_poll(LongPoll::consul())
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (handle, mut rx) = Watcher::builder("app")
        .interval(Duration::from_secs(5))
        .jitter(0.0)
        .long_poll(Duration::from_secs(10))
        .build(value)
        .unwrap()
        .start(source)
        .await
        .unwrap();
    assert_eq!(**rx.borrow_and_update(), 1);

    let mut latencies = Vec::new();
    for n in 2..=11u64 {
        consul.until_held().await;
        let changed = Instant::now();
        consul.index.send_replace(n);
        tokio::time::timeout(Duration::from_secs(2), rx.changed())
            .await
            .expect("published")
            .unwrap();
        latencies.push(changed.elapsed());
        assert_eq!(**rx.borrow_and_update(), n);
    }
    latencies.sort();
    eprintln!(
        "long poll change-to-published: min {:?}, median {:?}, max {:?}",
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1]
    );
    assert!(
        latencies.iter().all(|l| *l < Duration::from_millis(50)),
        "{latencies:?}"
    );
    consul.until_held().await;
    let seen = consul.seen.lock().unwrap().clone();
    assert_eq!(seen[0], "/v1/kv/app", "the first load is not held");
    assert_eq!(seen[1], "/v1/kv/app?index=1&wait=10s");
    assert_eq!(seen[2], "/v1/kv/app?index=2&wait=10s");
    // One request per change, plus the one held now.
    assert_eq!(seen.len(), 12);
    assert_eq!(handle.stats().published, 11);
    assert_eq!(handle.stats().errors, 0);
}

#[tokio::test]
async fn a_source_that_does_not_hold_is_polled_at_the_interval() {
    let consul = Consul::start().await;
    // No long polling configured on the source: every poll is answered at
    // once, and the watch must not poll back to back.
    let source = HttpSource::builder(&consul.url)
        .path("/v1/kv/{name}")
        .build()
        .unwrap();
    let (handle, _rx) = Watcher::builder("app")
        .interval(Duration::from_millis(200))
        .jitter(0.0)
        .long_poll(Duration::from_secs(10))
        .build(value)
        .unwrap()
        .start(source)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let polls = handle.stats().polls;
    // The first load, the immediate first poll, then one per 200 ms.
    assert!((6..=8).contains(&polls), "{polls} polls");
    assert!(
        consul
            .seen
            .lock()
            .unwrap()
            .iter()
            .all(|pq| pq == "/v1/kv/app")
    );
}
