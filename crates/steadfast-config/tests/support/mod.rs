//! A real HTTP/1.1 server on 127.0.0.1, started inside a test.
#![allow(dead_code, unreachable_pub)]

pub mod tls;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Asserts that `error` is a permanent "not found" for `name`.
pub fn assert_not_found(error: &steadfast_config::ConfigError, name: &str) {
    use steadfast_config::{ConfigError, Failure};
    assert!(
        matches!(error, ConfigError::NotFound { name: n } if &**n == name),
        "{error:?}"
    );
    assert!(error.is_not_found());
    assert!(!error.is_transient());
}

/// What the server answers.
#[derive(Clone)]
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: ReplyBody,
    delay: Duration,
    stall: bool,
}

#[derive(Clone)]
enum ReplyBody {
    Full(Bytes),
    /// Chunks with no `Content-Length`, `count` of them (`None`: forever).
    Chunks {
        chunk: Bytes,
        count: Option<usize>,
    },
}

impl Reply {
    pub fn status(code: u16) -> Self {
        Self {
            status: StatusCode::from_u16(code).unwrap(),
            headers: Vec::new(),
            body: ReplyBody::Full(Bytes::new()),
            delay: Duration::ZERO,
            stall: false,
        }
    }

    pub fn json(body: &str) -> Self {
        Self::status(200)
            .header("content-type", "application/json")
            .body(body.as_bytes())
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((
            HeaderName::from_static(name),
            HeaderValue::from_str(value).unwrap(),
        ));
        self
    }

    pub fn body(mut self, body: &[u8]) -> Self {
        self.body = ReplyBody::Full(Bytes::copy_from_slice(body));
        self
    }

    /// A body of `count` chunks of `size` bytes, without a length.
    pub fn chunks(mut self, size: usize, count: usize) -> Self {
        self.body = ReplyBody::Chunks {
            chunk: Bytes::from(vec![b' '; size]),
            count: Some(count),
        };
        self
    }

    /// A body that never ends.
    pub fn endless(mut self) -> Self {
        self.body = ReplyBody::Chunks {
            chunk: Bytes::from(vec![b' '; 16 * 1024]),
            count: None,
        };
        self
    }

    /// Sends the headers and `head` of the body, then nothing, forever.
    pub fn stall_after(mut self, head: &[u8]) -> Self {
        self.body = ReplyBody::Chunks {
            chunk: Bytes::copy_from_slice(head),
            count: Some(usize::MAX),
        };
        self.stall = true;
        self
    }

    /// Waits this long (in real time) before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: HeaderMap,
}

type Route = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// The server; stops when dropped.
pub struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    body_bytes_sent: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Builds the routes of a [`Server`], by exact path.
#[derive(Default)]
pub struct Routes {
    routes: HashMap<String, Route>,
}

impl Routes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Always answers `path` with `reply`.
    pub fn at(self, path: &str, reply: Reply) -> Self {
        self.with(path, move |_| reply.clone())
    }

    /// Answers `path` with what `route` makes of the request.
    pub fn with(
        mut self,
        path: &str,
        route: impl Fn(&Seen) -> Reply + Send + Sync + 'static,
    ) -> Self {
        self.routes.insert(path.to_owned(), Arc::new(route));
        self
    }

    pub async fn start(self) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sent = Arc::new(AtomicUsize::new(0));
        let routes = Arc::new(self.routes);
        let task = {
            let seen = seen.clone();
            let sent = sent.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let routes = routes.clone();
                    let seen = seen.clone();
                    let sent = sent.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req: Request<Incoming>| {
                            let routes = routes.clone();
                            let seen = seen.clone();
                            let sent = sent.clone();
                            async move { Ok::<_, Infallible>(answer(&routes, &seen, sent, req).await) }
                        });
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        Server {
            addr,
            seen,
            body_bytes_sent: sent,
            task,
        }
    }
}

async fn answer(
    routes: &HashMap<String, Route>,
    seen: &Mutex<Vec<Seen>>,
    sent: Arc<AtomicUsize>,
    req: Request<Incoming>,
) -> Response<TestBody> {
    let request = Seen {
        path_and_query: req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_default(),
        headers: req.headers().clone(),
    };
    seen.lock().unwrap().push(request.clone());
    let reply = match routes.get(req.uri().path()) {
        Some(route) => route(&request),
        None => Reply::status(404),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = match reply.body {
        ReplyBody::Full(bytes) => TestBody {
            chunk: bytes,
            left: Some(1),
            full: true,
            stall: false,
            sent,
        },
        ReplyBody::Chunks { chunk, count } => TestBody {
            chunk,
            left: count,
            full: false,
            stall: reply.stall,
            sent,
        },
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    for (name, value) in reply.headers {
        response.headers_mut().append(name, value);
    }
    response
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many body bytes the server has handed to hyper.
    pub fn body_bytes_sent(&self) -> usize {
        self.body_bytes_sent.load(Ordering::SeqCst)
    }
}

/// A response body: one full chunk with a known length, or chunks without
/// one (a fixed number or forever).
pub struct TestBody {
    chunk: Bytes,
    left: Option<usize>,
    full: bool,
    stall: bool,
    sent: Arc<AtomicUsize>,
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.stall && self.sent.load(Ordering::SeqCst) > 0 {
            return Poll::Pending;
        }
        match &mut self.left {
            Some(0) => return Poll::Ready(None),
            Some(left) => *left -= 1,
            None => {}
        }
        self.sent.fetch_add(self.chunk.len(), Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match (self.full, self.left) {
            (true, Some(left)) => SizeHint::with_exact((self.chunk.len() * left) as u64),
            _ => SizeHint::default(),
        }
    }
}
