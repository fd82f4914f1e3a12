//! The steadfast layers around a plain hyper client, with no config types
//! involved: `http::Request` in, a cloneable `Page` (status and body) out.
//!
//! ```text
//! Fallback -> Cache -> (5xx becomes an error) -> Retry -> CircuitBreaker -> Timeout -> hyper client
//! ```
//!
//! A loopback server answers 503 to every 4th request and stalls every 11th
//! past the time limit; the retry policy and the breaker's classifier count
//! a 5xx as a failure. Then the server goes down (stale values and the
//! fallback answer, the circuit opens), and comes back (a probe closes the
//! circuit).
//!
//! ```text
//! cargo run --example wrap_hyper
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
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use steadfast::breaker::{CircuitBreakerLayer, Outcome};
use steadfast::cache::{CacheLayer, HttpKey, MethodUri};
use steadfast::core::{CircuitOpen, Failure, Provenance, SharedError, Source, TimedOut};
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

/// Every way a fetch fails, as one error type of our own.
#[derive(Debug)]
enum FetchError {
    Connect(hyper_util::client::legacy::Error),
    Body(hyper::Error),
    Status(StatusCode),
    TimedOut(TimedOut),
    CircuitOpen(CircuitOpen),
    Shared(SharedError),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Connect(e) => write!(f, "request failed: {e}"),
            FetchError::Body(e) => write!(f, "reading the body failed: {e}"),
            FetchError::Status(status) => write!(f, "server answered {status}"),
            FetchError::TimedOut(e) => e.fmt(f),
            FetchError::CircuitOpen(e) => e.fmt(f),
            FetchError::Shared(e) => e.fmt(f),
        }
    }
}

impl Error for FetchError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            FetchError::Connect(e) => Some(e),
            FetchError::Body(e) => Some(e),
            FetchError::TimedOut(e) => Some(e),
            FetchError::CircuitOpen(e) => Some(e),
            FetchError::Shared(e) => Some(e),
            FetchError::Status(_) => None,
        }
    }
}

impl Failure for FetchError {
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Status(status) => is_retryable_status(*status),
            FetchError::Shared(e) => e.is_transient(),
            _ => true,
        }
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        match self {
            FetchError::CircuitOpen(open) => Some(open),
            _ => None,
        }
    }
}

impl From<TimedOut> for FetchError {
    fn from(e: TimedOut) -> Self {
        FetchError::TimedOut(e)
    }
}

impl From<CircuitOpen> for FetchError {
    fn from(e: CircuitOpen) -> Self {
        FetchError::CircuitOpen(e)
    }
}

impl From<SharedError> for FetchError {
    fn from(e: SharedError) -> Self {
        FetchError::Shared(e)
    }
}

/// Retry a retryable status (a 503) like a transient error.
fn retry_policy(result: Result<&Page, &FetchError>, _: &Attempt) -> Action {
    match result {
        Ok(page) if is_retryable_status(page.status) => Action::Retry,
        Ok(_) => Action::Stop,
        Err(error) => classify_failure(error),
    }
}

/// A 5xx is a failure of the server, whatever the transport says.
fn breaker_classifier(result: Result<&Page, &FetchError>) -> Outcome {
    match result {
        Ok(page) if page.status.is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

/// What retries left as a 5xx is an error for the cache (never stored) and
/// the fallback (which answers it).
fn server_error_is_error(result: Result<Page, FetchError>) -> Result<Page, FetchError> {
    match result {
        Ok(page) if page.status.is_server_error() => Err(FetchError::Status(page.status)),
        other => other,
    }
}

/// `http::Request` is not `Clone`: copy one for each attempt.
fn copy_request(req: &Request<Empty<Bytes>>) -> Option<Request<Empty<Bytes>>> {
    let mut copy = Request::new(Empty::new());
    *copy.method_mut() = req.method().clone();
    *copy.uri_mut() = req.uri().clone();
    *copy.version_mut() = req.version();
    *copy.headers_mut() = req.headers().clone();
    Some(copy)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = Server::start().await;

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let fetch = service_fn(move |req: Request<Empty<Bytes>>| {
        let client = client.clone();
        async move {
            let response = client.request(req).await.map_err(FetchError::Connect)?;
            let status = response.status();
            let body = response.into_body().collect().await;
            let body = body.map_err(FetchError::Body)?.to_bytes();
            Ok::<_, FetchError>(Page {
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
            .body(Empty::new())
    };

    let mut n = 0;
    let mut run = async |path: &str| -> Result<(), Box<dyn Error>> {
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
