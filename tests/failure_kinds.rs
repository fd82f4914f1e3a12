//! Failure kinds through the preset stack: only transient failures are
//! retried and counted by the breaker. A permanent failure (4xx, a rejected
//! certificate) is returned at once; invalid content from a source that
//! answers keeps the last good value served and never opens the circuit.

#[path = "../crates/steadfast-config/tests/support/tls.rs"]
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use http::StatusCode;
use steadfast::breaker::{CircuitBreakerLayer, State};
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format, HttpSource, Source};
use steadfast::core::{Failure, FailureKind};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{StackBuilder, StartupPolicy};
use tls::TlsServer;
use tokio::time::{Instant, advance};
use tower::service_fn;

/// The README's settings: 3 attempts from 1 s, 5 consecutive failures,
/// 60 s open.
fn readme_stack() -> StackBuilder {
    StackBuilder::new()
        .retry(
            RetryLayer::builder().max_attempts(3).backoff(
                Backoff::exponential(Duration::from_secs(1), 2.0).with_jitter(Jitter::Full),
            ),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_secs(60)),
        )
}

/// What a scripted source answers on its next call.
#[derive(Clone, Copy)]
enum Serve {
    Good(u32),
    Invalid,
    Status(u16),
}

struct Script {
    serve: AtomicU32,
    calls: AtomicUsize,
}

impl Script {
    fn new(serve: Serve) -> Arc<Self> {
        let script = Arc::new(Self {
            serve: AtomicU32::new(0),
            calls: AtomicUsize::new(0),
        });
        script.set(serve);
        script
    }

    fn set(&self, serve: Serve) {
        let code = match serve {
            Serve::Good(version) => version,
            Serve::Invalid => 1_000,
            Serve::Status(code) => 10_000 + u32::from(code),
        };
        self.serve.store(code, Ordering::SeqCst);
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn source(
        self: &Arc<Self>,
    ) -> impl tower::Service<
        ConfigRequest,
        Response = ConfigResponse,
        Error = ConfigError,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static {
        let script = self.clone();
        service_fn(move |_: ConfigRequest| {
            script.calls.fetch_add(1, Ordering::SeqCst);
            let code = script.serve.load(Ordering::SeqCst);
            async move {
                match code {
                    1_000 => Ok(ConfigResponse::new(r#"{"version": "#, Format::Json)),
                    code if code >= 10_000 => Err(ConfigError::Status {
                        code: StatusCode::from_u16((code - 10_000) as u16).unwrap(),
                        retry_after: None,
                    }),
                    version => Ok(ConfigResponse::new(
                        format!(r#"{{"version": {version}}}"#),
                        Format::Json,
                    )),
                }
            }
        })
    }
}

fn version(response: &ConfigResponse) -> u64 {
    response.decode::<serde_json::Value>().unwrap()["version"]
        .as_u64()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn invalid_content_keeps_the_last_good_value_and_the_circuit_closed() {
    let script = Script::new(Serve::Good(1));
    let loader = readme_stack()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_secs(10))
                .stale_if_error(Duration::from_secs(3600)),
        )
        .build(script.source())
        .unwrap();
    let breaker = loader.breaker().unwrap().clone();

    let first = loader.load_response("app").await.unwrap();
    assert_eq!((first.source(), version(&first)), (Source::Origin, 1));

    advance(Duration::from_secs(10)).await;
    script.set(Serve::Invalid);
    for load in 1..=8 {
        let started = Instant::now();
        let response = loader.load_response("app").await.unwrap();
        assert_eq!(
            (response.source(), version(&response)),
            (Source::Stale, 1),
            "load {load}"
        );
        // Not retried: no backoff was waited.
        assert_eq!(started.elapsed(), Duration::ZERO, "load {load}");
        assert_eq!(script.calls(), 1 + load, "load {load}");
    }
    assert_eq!(breaker.state(), State::Closed);
    let counters = breaker.counters();
    assert_eq!((counters.failures, counters.successes), (0, 9));
    assert_eq!(breaker.consecutive_failures(), 0);
    let metrics = loader.metrics();
    assert_eq!(metrics.invalid_responses, 8);
    assert_eq!(metrics.retries, 0);
    assert_eq!(metrics.circuit_breaker_opens, 0);

    // The fix is pushed: the very next load gets it, no open circuit to wait out.
    script.set(Serve::Good(2));
    let started = Instant::now();
    let fixed = loader.load_response("app").await.unwrap();
    assert_eq!((fixed.source(), version(&fixed)), (Source::Origin, 2));
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(script.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_client_error_is_returned_at_once_and_ignored_by_the_breaker() {
    let script = Script::new(Serve::Status(403));
    let loader = readme_stack().build(script.source()).unwrap();
    let breaker = loader.breaker().unwrap().clone();

    for load in 1..=8 {
        let started = Instant::now();
        let error = loader.load_response("app").await.unwrap_err();
        assert!(
            matches!(error, ConfigError::Status { code, .. } if code == StatusCode::FORBIDDEN),
            "load {load}: {error}"
        );
        assert_eq!(error.kind(), FailureKind::Permanent);
        assert_eq!(started.elapsed(), Duration::ZERO, "load {load}");
        assert_eq!(script.calls(), load, "load {load}");
    }
    assert_eq!(breaker.state(), State::Closed);
    let counters = breaker.counters();
    assert_eq!((counters.failures, counters.ignored), (0, 8));

    // A transient failure still counts, from a clean streak.
    script.set(Serve::Status(503));
    loader.load_response("app").await.unwrap_err();
    assert_eq!(script.calls(), 8 + 3);
    assert_eq!(breaker.consecutive_failures(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_startup_wait_ends_at_once_on_invalid_content() {
    let script = Script::new(Serve::Invalid);
    let loader = readme_stack()
        .startup(StartupPolicy::Wait(Duration::from_secs(10)))
        .build(script.source())
        .unwrap();
    let started = Instant::now();
    let error = loader.start::<serde_json::Value>("app").await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::InvalidContent);
    assert_eq!(
        error.to_string(),
        "invalid json config at line 1, column 12: EOF while parsing a value"
    );
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(script.calls(), 1);
}

#[tokio::test]
async fn a_rejected_certificate_is_tried_once_and_never_opens_the_circuit() {
    let server = TlsServer::start(r#"{"version": 1}"#).await;
    let source = HttpSource::builder(server.url())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let loader = readme_stack().build(source).unwrap();
    let breaker = loader.breaker().unwrap().clone();

    for load in 1..=7 {
        let error = loader.load_response("app").await.unwrap_err();
        assert_eq!(error.kind(), FailureKind::Permanent, "load {load}: {error}");
        assert!(!Failure::is_transient(&error));
        assert_eq!(
            error.to_string(),
            "transport error: client error (Connect): invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(server.connections(), load, "load {load}");
    }
    assert_eq!(server.handshakes(), 0);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(breaker.counters().ignored, 7);
    assert_eq!(loader.metrics().retries, 0);
}
