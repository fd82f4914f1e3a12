//! The steadfast layers around a reqwest client, with no config types
//! involved: `http::Request` in, a cloneable `Page` (status and body) out.
//!
//! ```text
//! Fallback -> Cache -> (5xx becomes an error) -> Retry -> CircuitBreaker -> Timeout -> reqwest::Client
//! ```
//!
//! `reqwest::Client` is a `tower::Service<reqwest::Request>`; a small
//! `service_fn` turns an `http::Request` into one and collects the answer.
//! The error type here is tower's `BoxError`, which every layer accepts as
//! well as an error type of your own (see `wrap_hyper`).
//!
//! A loopback server answers 503 to every 4th request and stalls every 11th
//! past the time limit; the retry policy and the breaker's classifier count
//! a 5xx as a failure. Then the server goes down (stale values and the
//! fallback answer, the circuit opens), and comes back (a probe closes the
//! circuit).
//!
//! ```text
//! cargo run --example wrap_reqwest
//! ```

use std::convert::Infallible;
use std::error::Error;
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
use steadfast::breaker::{CircuitBreakerLayer, Outcome};
use steadfast::cache::{CacheLayer, HttpKey, MethodUri};
use steadfast::core::{BoxError, Provenance, Source};
use steadfast::fallback::FallbackLayer;
use steadfast::retry::http::is_retryable_status;
use steadfast::retry::policy::classify_failure;
use steadfast::retry::{Action, Attempt, Backoff, Jitter, RetryLayer};
use steadfast::timeout::TimeoutLayer;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// What the stack hands out: cheap to clone, so the cache can keep it.
#[derive(Debug, Clone)]
struct Page {
    status: StatusCode,
    body: Bytes,
    source: Source,
}

impl Provenance for Page {
    fn source(&self) -> Source {
        self.source
    }

    fn set_source(&mut self, source: Source) {
        self.source = source;
    }
}

/// A 5xx that retries could not get past.
#[derive(Debug)]
struct ServerError(StatusCode);

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server answered {}", self.0)
    }
}

impl Error for ServerError {}

/// Retry a retryable status (a 503) like a transient error.
fn retry_policy(result: Result<&Page, &BoxError>, _: &Attempt) -> Action {
    match result {
        Ok(page) if is_retryable_status(page.status) => Action::Retry,
        Ok(_) => Action::Stop,
        Err(error) => classify_failure(error),
    }
}

/// A 5xx is a failure of the server, whatever the transport says.
fn breaker_classifier(result: Result<&Page, &BoxError>) -> Outcome {
    match result {
        Ok(page) if page.status.is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

/// What retries left as a 5xx is an error for the cache (never stored) and
/// the fallback (which answers it).
fn server_error_is_error(result: Result<Page, BoxError>) -> Result<Page, BoxError> {
    match result {
        Ok(page) if page.status.is_server_error() => Err(ServerError(page.status).into()),
        other => other,
    }
}

/// `http::Request` is not `Clone`: copy one for each attempt.
fn copy_request(req: &Request<Bytes>) -> Option<Request<Bytes>> {
    let mut copy = Request::new(req.body().clone());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let server = Server::start().await;

    let client = reqwest::Client::builder().no_proxy().build()?;
    let fetch = service_fn(move |req: Request<Bytes>| {
        let client = client.clone();
        async move {
            let req = reqwest::Request::try_from(req)?;
            let response = client.oneshot(req).await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, BoxError>(Page {
                status,
                body,
                source: Source::Origin,
            })
        }
    });

    let cache = CacheLayer::builder()
        .key_fn(MethodUri)
        .ttl(Duration::from_millis(200))
        .stale_if_error(Duration::from_secs(30))
        .provenance()
        .build::<HttpKey>()?;
    let retry = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::exponential(Duration::from_millis(20), 2.0).with_jitter(Jitter::Full))
        .policy(retry_policy)
        .clone_request_with(copy_request)
        .build()?;
    let breaker = CircuitBreakerLayer::builder()
        .consecutive_failures(4)
        .open_duration(Duration::from_millis(500))
        .classifier(breaker_classifier)
        .build()?;
    let fallback = FallbackLayer::value(Page {
        status: StatusCode::OK,
        body: Bytes::from_static(br#"{"default":true}"#),
        source: Source::Fallback,
    })
    .provenance();
    let (cache_handle, retry_handle, breaker_handle, fallback_handle) = (
        cache.handle(),
        retry.handle(),
        breaker.handle(),
        fallback.handle(),
    );

    let service = ServiceBuilder::new()
        .layer(fallback)
        .layer(cache)
        .map_result(server_error_is_error)
        .layer(retry)
        .layer(breaker)
        .layer(TimeoutLayer::new(Duration::from_millis(300)))
        .service(fetch);

    let get = |path: &str| {
        let uri = format!("http://{}{path}", server.addr);
        Request::builder()
            .method(Method::GET)
            .uri(uri)
            .body(Bytes::new())
    };

    let mut n = 0;
    let mut run = async |path: &str| -> Result<(), BoxError> {
        n += 1;
        let started = Instant::now();
        let result = service.clone().oneshot(get(path)?).await;
        let elapsed = started.elapsed();
        match result {
            Ok(page) => println!(
                "{n:>2} GET {path:<4} {:>8.1?}  {} {:<8} {}  circuit {:?}",
                elapsed,
                page.status.as_u16(),
                page.source,
                String::from_utf8_lossy(&page.body),
                breaker_handle.state(),
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

    let cache = cache_handle.stats();
    let retry = retry_handle.stats();
    let breaker = breaker_handle.counters();
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
    println!("fallback: used {}", fallback_handle.used());
    println!(
        "server:   {} requests",
        server.requests.load(Ordering::SeqCst)
    );
    Ok(())
}

/// A loopback HTTP server that fails now and then, or always when `down`.
struct Server {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
}

impl Server {
    async fn start() -> Server {
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
