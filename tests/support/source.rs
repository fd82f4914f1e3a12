//! A scripted config source for timeline tests on the paused clock: it
//! answers, fails with 503, or serves an invalid body, as told, and counts
//! its calls.
#![allow(dead_code)]

use std::future::{Ready, ready};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::StatusCode;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use tower::Service;

/// What the source does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `{"name":…,"version":N}`.
    Up,
    /// 503 Service Unavailable.
    Down,
    /// A body that does not decode: a value is missing on line 2.
    Invalid,
}

/// The invalid body of [`Mode::Invalid`].
pub(crate) const INVALID: &str = "{\"name\": \"app\",\n \"version\": }";

#[derive(Clone)]
pub(crate) struct Script {
    mode: Arc<Mutex<Mode>>,
    calls: Arc<AtomicU64>,
    version: Arc<AtomicU64>,
}

impl Script {
    pub(crate) fn new(mode: Mode) -> Self {
        Self {
            mode: Arc::new(Mutex::new(mode)),
            calls: Arc::new(AtomicU64::new(0)),
            version: Arc::new(AtomicU64::new(1)),
        }
    }

    pub(crate) fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Calls so far.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The next answers carry the next version.
    pub(crate) fn bump(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
    }
}

/// The error of [`Mode::Down`].
pub(crate) fn unavailable() -> ConfigError {
    ConfigError::Status {
        code: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }
}

impl Service<ConfigRequest> for Script {
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = Ready<Result<ConfigResponse, ConfigError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ConfigRequest) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let version = self.version.load(Ordering::SeqCst);
        ready(match *self.mode.lock().unwrap() {
            Mode::Up => Ok(ConfigResponse::new(
                format!("{{\"name\":\"{}\",\"version\":{version}}}", req.name()),
                Format::Json,
            )
            .with_version(format!("\"v{version}\""))),
            Mode::Down => Err(unavailable()),
            Mode::Invalid => Ok(ConfigResponse::new(INVALID, Format::Json)),
        })
    }
}

/// What the tests decode configs as.
#[derive(Debug, serde::Deserialize, PartialEq)]
pub(crate) struct App {
    pub(crate) name: String,
    pub(crate) version: u64,
}
