//! A flaky loopback HTTP server and the demo script that `wrap_hyper` and
//! `wrap_reqwest` run against it: the same phases, lines and counters,
//! whatever client the layers wrap.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use steadfast::breaker::Handle;
use steadfast::cache::{CacheHandle, MemoryStore};
use steadfast::fallback::FallbackHandle;
use steadfast::http::{BufferedResponse, HttpCacheKey};
use steadfast::retry::RetryHandle;
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

/// A handle on each layer of the stack, for the state and counters the demo
/// prints.
pub struct Handles {
    pub cache:
        CacheHandle<HttpCacheKey, BufferedResponse, MemoryStore<HttpCacheKey, BufferedResponse>>,
    pub retry: RetryHandle,
    pub breaker: Handle,
    pub fallback: FallbackHandle,
}

/// Starts a [`Server`] and sends `GET`s through `service` in three phases:
/// the server flaky, down, then back after the circuit's open time. Prints
/// one line a request (time taken, status, where the answer came from, the
/// circuit's state), then every layer's counters.
pub async fn demo<S, B>(service: S, handles: Handles) -> Result<(), http::Error>
where
    S: Service<Request<B>, Response = BufferedResponse> + Clone,
    S::Error: fmt::Display,
    B: Default,
{
    let server = Server::start().await;

    let get = |path: &str| {
        let uri = format!("http://{}{path}", server.addr);
        Request::builder()
            .method(Method::GET)
            .uri(uri)
            .body(B::default())
    };

    let mut n = 0;
    let mut run = async |path: &str| -> Result<(), http::Error> {
        n += 1;
        let started = Instant::now();
        let result = service.clone().oneshot(get(path)?).await;
        let elapsed = started.elapsed();
        match result {
            Ok(page) => println!(
                "{n:>2} GET {path:<4} {:>8.1?}  {} {:<8} {}  circuit {:?}",
                elapsed,
                page.status().as_u16(),
                page.source(),
                String::from_utf8_lossy(page.body()),
                handles.breaker.state(),
            ),
            Err(error) => println!("{n:>2} GET {path:<4} {elapsed:>8.1?}  error: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
        Ok(())
    };

    println!("-- flaky server: every 4th request 503, every 11th stalls");
    for path in ["/a", "/b", "/c"].iter().cycle().take(15) {
        run(path).await?;
    }

    println!("-- server down");
    server.down.store(true, Ordering::SeqCst);
    for path in ["/a", "/b", "/new", "/c", "/a", "/new"] {
        run(path).await?;
    }

    println!("-- server back; waiting for the circuit to half-open");
    server.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    for path in ["/a", "/b", "/new", "/a"] {
        run(path).await?;
    }

    let cache = handles.cache.stats();
    let retry = handles.retry.stats();
    let breaker = handles.breaker.counters();
    println!("-- counters");
    println!(
        "cache:    hits {}, misses {}, stale served {}, loads {} ({} failed)",
        cache.l1_hits, cache.misses, cache.stale_served, cache.loads, cache.load_errors
    );
    println!(
        "retry:    requests {}, attempts {}, retries {}",
        retry.requests, retry.attempts, retry.retries
    );
    println!(
        "breaker:  calls {}, failures {}, opened {}, rejected {}, closed {}",
        breaker.calls, breaker.failures, breaker.opened, breaker.rejected, breaker.closed
    );
    println!("fallback: used {}", handles.fallback.used());
    println!(
        "server:   {} requests",
        server.requests.load(Ordering::SeqCst)
    );
    Ok(())
}

/// A loopback HTTP server that answers 503 to every 4th request and stalls
/// every 11th for a second, or answers 503 to all of them while `down`.
pub struct Server {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    pub down: Arc<AtomicBool>,
}

impl Server {
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let requests = Arc::new(AtomicU64::new(0));
        let down = Arc::new(AtomicBool::new(false));
        let (count, off) = (requests.clone(), down.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (count, off) = (count.clone(), off.clone());
                let answer = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                    let down = off.load(Ordering::SeqCst);
                    async move {
                        let status = if down || n % 4 == 0 {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            if n % 11 == 0 {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                            StatusCode::OK
                        };
                        let body = format!(r#"{{"path":"{}","request":{n}}}"#, req.uri().path());
                        let mut response = Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), answer));
            }
        });
        Server {
            addr,
            requests,
            down,
        }
    }
}
