//! A small HTTP config server on loopback with injectable faults, shared by
//! the examples and the integration tests.
//!
//! It can be stopped (its port refuses connections and every open connection
//! is dropped) and resumed on the same port, and it serves connections over
//! any transport handed to it ([`Acceptor::serve`]), so a test on the paused
//! clock can reach it without a socket. It logs every request it gets, with
//! the path and how it answered.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use steadfast::config::Validate;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Every request gets the current config.
    Healthy = 0,
    /// The demo schedule: every 10th request hangs (a timeout), every 7th
    /// answers 500, every 15th is slow; the rest are healthy.
    Flaky = 1,
    /// Every request answers 500.
    Down = 2,
    /// Every request answers 200 with a body that is not valid JSON
    /// ([`INVALID_BODY`], with an `ETag` of its own: `304` when asked
    /// with it).
    InvalidJson = 3,
    /// Every request hangs until the client gives up.
    Hang = 4,
    /// Every request answers 503 with `Retry-After: 1` (maintenance).
    Unavailable = 5,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Flaky,
            2 => Mode::Down,
            3 => Mode::InvalidJson,
            4 => Mode::Hang,
            5 => Mode::Unavailable,
            _ => Mode::Healthy,
        }
    }
}

/// The body of [`Mode::InvalidJson`]: a value is missing at line 1,
/// column 13.
pub const INVALID_BODY: &str = "{\"api_url\": oops";

/// What a request met, for the printouts of the demo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with the config.
    Ok,
    /// 200 after a delay.
    Slow,
    /// 500.
    Error,
    /// Never answered.
    Hang,
    /// 200 with a body that does not parse.
    Invalid,
    /// 304, the client's version is current.
    NotModified,
    /// 503 with `Retry-After: 1`.
    Unavailable,
}

impl Outcome {
    /// The status sent, `None` for a request never answered.
    pub fn status(self) -> Option<u16> {
        match self {
            Outcome::Ok | Outcome::Slow | Outcome::Invalid => Some(200),
            Outcome::NotModified => Some(304),
            Outcome::Error => Some(500),
            Outcome::Unavailable => Some(503),
            Outcome::Hang => None,
        }
    }
}

/// A request the server got.
#[derive(Debug, Clone)]
pub struct Logged {
    /// Its path.
    pub path: String,
    /// How it was answered.
    pub outcome: Outcome,
    /// When it arrived.
    pub at: tokio::time::Instant,
}

struct State {
    mode: AtomicU8,
    version: AtomicU64,
    requests: AtomicU64,
    served_ok: AtomicU64,
    slow: Duration,
    log: Mutex<Vec<Logged>>,
    /// The generation of the server's run: odd while it runs, even while
    /// it is stopped. Every connection of a run ends when it changes.
    run: watch::Sender<u64>,
}

impl State {
    fn running(&self) -> Option<u64> {
        let run = *self.run.borrow();
        (run % 2 == 1).then_some(run)
    }

    /// Ends the current run, if one runs.
    fn halt(&self) {
        self.run.send_if_modified(|run| {
            let running = *run % 2 == 1;
            if running {
                *run += 1;
            }
            running
        });
    }
}

/// Serves connections of a [`ConfigServer`] over any transport. Clones
/// share the server.
#[derive(Clone)]
pub struct Acceptor {
    state: Arc<State>,
}

impl Acceptor {
    /// Serves one connection over `io`, or refuses it
    /// (`ConnectionRefused`) while the server is stopped. The connection
    /// ends when the server stops.
    pub fn serve<I>(&self, io: I) -> io::Result<()>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(run) = self.state.running() else {
            return Err(io::ErrorKind::ConnectionRefused.into());
        };
        serve_connection(self.state.clone(), run, io);
        Ok(())
    }
}

fn serve_connection<I>(state: Arc<State>, run: u64, io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut runs = state.run.subscribe();
    tokio::spawn(async move {
        let svc = service_fn(move |req| handle(state.clone(), req));
        let conn = http1::Builder::new().serve_connection(TokioIo::new(io), svc);
        tokio::select! {
            _ = conn => {}
            _ = runs.wait_for(|now| *now != run) => {}
        }
    });
}

/// A running config server. It stops when dropped.
pub struct ConfigServer {
    addr: SocketAddr,
    state: Arc<State>,
    accepting: Mutex<Option<JoinHandle<()>>>,
}

impl ConfigServer {
    /// Starts a server on `127.0.0.1:0` in `mode`; a slow answer takes
    /// `slow`.
    pub async fn start(mode: Mode, slow: Duration) -> ConfigServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            mode: AtomicU8::new(mode as u8),
            version: AtomicU64::new(1),
            requests: AtomicU64::new(0),
            served_ok: AtomicU64::new(0),
            slow,
            log: Mutex::new(Vec::new()),
            run: watch::channel(1).0,
        });
        let accepting = accept(state.clone(), 1, listener);
        ConfigServer {
            addr,
            state,
            accepting: Mutex::new(Some(accepting)),
        }
    }

    /// Stops the server: its port refuses connections and every open
    /// connection is dropped, until [`resume`](Self::resume).
    pub async fn stop(&self) {
        self.state.halt();
        let accepting = self.accepting.lock().unwrap().take();
        if let Some(accepting) = accepting {
            // Returns once the listener is closed.
            let _ = accepting.await;
        }
    }

    /// Starts the server again on the same port, with the same state.
    pub async fn resume(&self) {
        if self.state.running().is_some() {
            return;
        }
        let listener = TcpListener::bind(self.addr).await.expect("bind again");
        let mut run = 0;
        self.state.run.send_modify(|now| {
            *now += 1;
            run = *now;
        });
        let accepting = accept(self.state.clone(), run, listener);
        *self.accepting.lock().unwrap() = Some(accepting);
    }

    /// Whether it runs (not stopped).
    pub fn is_running(&self) -> bool {
        self.state.running().is_some()
    }

    /// Serves connections over other transports than its TCP port.
    pub fn acceptor(&self) -> Acceptor {
        Acceptor {
            state: self.state.clone(),
        }
    }

    /// Every request it got so far, in order.
    pub fn log(&self) -> Vec<Logged> {
        self.state.log.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Changes how it answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Publishes a new config version.
    pub fn bump_version(&self) -> u64 {
        self.state.version.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Publishes config `version`.
    pub fn set_version(&self, version: u64) {
        self.state.version.store(version, Ordering::SeqCst);
    }

    /// The current config version.
    pub fn version(&self) -> u64 {
        self.state.version.load(Ordering::SeqCst)
    }

    /// How many requests reached it.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// How many requests it answered with a valid config (200 or 304).
    pub fn served_ok(&self) -> u64 {
        self.state.served_ok.load(Ordering::SeqCst)
    }

    /// What the `n`th request (1-based) meets in [`Mode::Flaky`].
    pub fn flaky_outcome(n: u64) -> Outcome {
        if n.is_multiple_of(10) {
            Outcome::Hang
        } else if n.is_multiple_of(7) {
            Outcome::Error
        } else if n.is_multiple_of(15) {
            Outcome::Slow
        } else {
            Outcome::Ok
        }
    }
}

impl Drop for ConfigServer {
    fn drop(&mut self) {
        self.state.halt();
        if let Some(accepting) = self.accepting.lock().unwrap().take() {
            accepting.abort();
        }
    }
}

/// Accepts the TCP connections of run `run` until it ends; the listener is
/// closed when the task returns.
fn accept(state: Arc<State>, run: u64, listener: TcpListener) -> JoinHandle<()> {
    let mut runs = state.run.subscribe();
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
                _ = runs.wait_for(|now| *now != run) => return,
            };
            serve_connection(state.clone(), run, stream);
        }
    })
}

/// The application's remote configuration, as this server serves it.
#[derive(Debug, serde::Deserialize)]
pub struct RemoteAppConfig {
    pub api_url: String,
    pub timeout_seconds: u64,
    pub max_retries: u32,
    pub enable_caching: bool,
    pub debug_mode: bool,
}

impl Validate for RemoteAppConfig {
    fn validate(&self) -> Result<(), String> {
        if !self.api_url.starts_with("https://") {
            return Err(format!("api_url {:?} is not https", self.api_url));
        }
        if self.timeout_seconds == 0 {
            return Err("timeout_seconds must be above zero".into());
        }
        Ok(())
    }
}

/// The JSON body of config `version`.
pub fn config_body(version: u64) -> String {
    format!(
        concat!(
            "{{\"api_url\":\"https://api.example.com/v{v}\",",
            "\"timeout_seconds\":30,\"max_retries\":3,",
            "\"enable_caching\":true,\"debug_mode\":false,\"version\":{v}}}"
        ),
        v = version
    )
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let n = state.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let outcome = match Mode::from_u8(state.mode.load(Ordering::SeqCst)) {
        Mode::Healthy => Outcome::Ok,
        Mode::Flaky => ConfigServer::flaky_outcome(n),
        Mode::Down => Outcome::Error,
        Mode::InvalidJson => Outcome::Invalid,
        Mode::Hang => Outcome::Hang,
        Mode::Unavailable => Outcome::Unavailable,
    };
    let version = state.version.load(Ordering::SeqCst);
    // The invalid body has a tag of its own, as a file server gives every
    // body one.
    let etag = match outcome {
        Outcome::Invalid => format!("\"v{version}-invalid\""),
        _ => format!("\"v{version}\""),
    };
    let current = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let logged = match outcome {
        Outcome::Ok | Outcome::Invalid if current => Outcome::NotModified,
        other => other,
    };
    let path = req.uri().path().to_owned();
    state.log.lock().unwrap().push(Logged {
        path,
        outcome: logged,
        at: tokio::time::Instant::now(),
    });
    let response = match outcome {
        Outcome::Hang => {
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        Outcome::Error => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Full::new(Bytes::from_static(b"internal error"))),
        Outcome::Unavailable => Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::RETRY_AFTER, "1")
            .body(Full::new(Bytes::from_static(b"maintenance"))),
        Outcome::Invalid if current => Response::builder()
            .status(StatusCode::NOT_MODIFIED)
            .header(header::ETAG, &etag)
            .body(Full::new(Bytes::new())),
        Outcome::Invalid => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ETAG, &etag)
            .body(Full::new(Bytes::from_static(INVALID_BODY.as_bytes()))),
        Outcome::Slow | Outcome::Ok | Outcome::NotModified => {
            if outcome == Outcome::Slow {
                tokio::time::sleep(state.slow).await;
            }
            state.served_ok.fetch_add(1, Ordering::SeqCst);
            if current {
                Response::builder()
                    .status(StatusCode::NOT_MODIFIED)
                    .header(header::ETAG, &etag)
                    .body(Full::new(Bytes::new()))
            } else {
                Response::builder()
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::ETAG, &etag)
                    .body(Full::new(Bytes::from(config_body(version))))
            }
        }
    };
    Ok(response.expect("a valid response"))
}
