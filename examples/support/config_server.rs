//! A small HTTP config server on loopback with injectable faults, shared by
//! the examples and the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use steadfast::config::Validate;
use tokio::net::TcpListener;
use tokio::sync::watch;

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
    /// Every request answers 200 with a body that is not valid JSON.
    InvalidJson = 3,
    /// Every request hangs until the client gives up.
    Hang = 4,
}

impl Mode {
    fn from_u8(v: u8) -> Mode {
        match v {
            1 => Mode::Flaky,
            2 => Mode::Down,
            3 => Mode::InvalidJson,
            4 => Mode::Hang,
            _ => Mode::Healthy,
        }
    }
}

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
}

struct State {
    mode: AtomicU8,
    version: AtomicU64,
    requests: AtomicU64,
    served_ok: AtomicU64,
    slow: Duration,
}

/// A running config server. It stops when dropped.
pub struct ConfigServer {
    addr: SocketAddr,
    state: Arc<State>,
    _stop: watch::Sender<()>,
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
        });
        let (stop, mut stopped) = watch::channel(());
        let accept_state = state.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(_) => continue,
                    },
                    _ = stopped.changed() => return,
                };
                let state = accept_state.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| handle(state.clone(), req));
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        _ = conn => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        ConfigServer {
            addr,
            state,
            _stop: stop,
        }
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
    };
    let version = state.version.load(Ordering::SeqCst);
    let etag = format!("\"v{version}\"");
    let response = match outcome {
        Outcome::Hang => {
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        Outcome::Error => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Full::new(Bytes::from_static(b"internal error"))),
        Outcome::Invalid => Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(b"{\"api_url\": oops"))),
        Outcome::Slow | Outcome::Ok | Outcome::NotModified => {
            if outcome == Outcome::Slow {
                tokio::time::sleep(state.slow).await;
            }
            state.served_ok.fetch_add(1, Ordering::SeqCst);
            let current = req
                .headers()
                .get(header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == etag.as_bytes());
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
