//! The whole stack against a real HTTP config server on loopback, with
//! faults injected: source down from the start, dying after warm-up,
//! answering garbage, failing in bursts, recovering.
//!
//! These tests talk to a real server over real sockets, so they run on the
//! real clock with short durations and generous margins.

#[path = "../examples/support/config_server.rs"]
mod config_server;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use config_server::{ConfigServer, Mode, config_body};
use serde::Deserialize;
use steadfast::breaker::{CircuitBreakerLayer, State};
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigError, HttpSource, Source};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, StackBuilder, StackError, StartupPolicy, json_fallback};

#[derive(Debug, Deserialize, PartialEq)]
struct App {
    api_url: String,
    version: u64,
}

const FALLBACK: &str = r#"{"api_url":"https://fallback.example.com","version":0}"#;

fn source(server: &ConfigServer) -> HttpSource {
    HttpSource::builder(server.base_url())
        .path("/config/{name}.json")
        .timeout(Duration::from_millis(200))
        .build()
        .expect("valid source")
}

fn quick_retry() -> steadfast::retry::RetryLayerBuilder {
    RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::from_millis(1)).with_jitter(Jitter::None))
        .without_budget()
}

/// A cache whose entries expire after 50 ms and serve stale on errors for
/// a minute.
fn short_ttl_stale_if_error() -> CacheLayerBuilder<steadfast::config::ConfigResponse, ConfigError> {
    CacheLayerBuilder::new()
        .ttl(Duration::from_millis(50))
        .stale_if_error(Duration::from_secs(60))
}

fn stack() -> StackBuilder {
    StackBuilder::new()
        .retry(quick_retry())
        .without_timeout()
        .decode_as::<App>()
}

#[tokio::test]
async fn source_down_from_the_start_serves_the_fallback_and_caches_nothing() {
    let server = ConfigServer::start(Mode::Down, Duration::ZERO).await;
    let loader = stack()
        .fallback(json_fallback(FALLBACK))
        .build(source(&server))
        .unwrap();

    let response = loader.load_response("app").await.unwrap();
    assert_eq!(response.source(), Source::Fallback);
    let app = response.decode::<App>().unwrap();
    assert_eq!(app.version, 0);
    assert_eq!(server.requests(), 3);
    assert_eq!(loader.cache().unwrap().stats().entries, 0);

    // The source comes back: the next load is real, not the cached fallback.
    server.set_mode(Mode::Healthy);
    let response = loader.load_response("app").await.unwrap();
    assert_eq!(response.source(), Source::Origin);
    assert_eq!(response.decode::<App>().unwrap().version, 1);
    let m = loader.metrics();
    assert_eq!(m.fallback_uses, 1);
    assert_eq!(m.primary_loads, 4);
    assert_eq!(m.retries, 2);
}

#[tokio::test]
async fn source_dying_after_warm_up_serves_stale() {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let loader = stack()
        .cache(short_ttl_stale_if_error())
        .fallback(json_fallback(FALLBACK))
        .build(source(&server))
        .unwrap();

    let fresh = loader.load_response("app").await.unwrap();
    assert_eq!(fresh.source(), Source::Origin);
    let cached = loader.load_response("app").await.unwrap();
    assert_eq!(cached.source(), Source::Cache);

    server.set_mode(Mode::Down);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let stale = loader.load_response("app").await.unwrap();
    assert_eq!(stale.source(), Source::Stale);
    assert_eq!(stale.body(), fresh.body());
    assert_eq!(stale.version(), Some("v1"));
    let m = loader.metrics();
    assert_eq!(m.stale_served, 1);
    assert_eq!(m.fallback_uses, 0);
    assert_eq!(server.requests(), 1 + 3);
}

#[tokio::test]
async fn invalid_json_is_never_cached_or_served() {
    let server = ConfigServer::start(Mode::InvalidJson, Duration::ZERO).await;
    let loader = stack()
        .cache(short_ttl_stale_if_error())
        .fallback(json_fallback(FALLBACK))
        .build(source(&server))
        .unwrap();

    // Garbage from the start: the fallback answers; nothing is cached, and
    // garbage is not retried (it would repeat).
    let response = loader.load_response("app").await.unwrap();
    assert_eq!(response.source(), Source::Fallback);
    assert_eq!(server.requests(), 1);
    assert_eq!(loader.metrics().invalid_responses, 1);
    assert_eq!(loader.cache().unwrap().stats().entries, 0);

    // A good value, then garbage again: the good value is served stale.
    server.set_mode(Mode::Healthy);
    let good = loader.load_response("app").await.unwrap();
    assert_eq!(good.source(), Source::Origin);
    server.set_mode(Mode::InvalidJson);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let stale = loader.load_response("app").await.unwrap();
    assert_eq!(stale.source(), Source::Stale);
    assert_eq!(stale.body(), good.body());
    assert_eq!(loader.metrics().invalid_responses, 2);
}

#[tokio::test]
async fn a_burst_of_failures_opens_the_breaker_and_bounds_the_calls() {
    let server = ConfigServer::start(Mode::Down, Duration::ZERO).await;
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let seen = alerts.clone();
    let loader = stack()
        .without_cache()
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_secs(60)),
        )
        .on_alert(move |alert| seen.lock().unwrap().push(alert.to_string()))
        .build(source(&server))
        .unwrap();

    for _ in 0..20 {
        let error = loader.load_response("app").await.unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Status { .. } | ConfigError::CircuitOpen(_)
            ),
            "{error:?}"
        );
    }
    // 5 consecutive failures open the circuit; nothing more reaches the
    // server, and an open circuit is not retried.
    assert_eq!(server.requests(), 5);
    assert_eq!(loader.breaker().unwrap().state(), State::Open);
    let m = loader.metrics();
    assert_eq!(m.circuit_breaker_opens, 1);
    assert_eq!(m.primary_loads, 5);
    // The last attempt of the second load, and each of the 18 loads after.
    assert_eq!(m.circuit_breaker_rejections, 19);
    // One alert for the outage, not one per rejected call.
    assert_eq!(
        alerts.lock().unwrap().as_slice(),
        ["circuit opened for 1m: 5 consecutive failures"]
    );
}

#[tokio::test]
async fn the_source_recovers_and_fresh_values_come_back() {
    let server = ConfigServer::start(Mode::Down, Duration::ZERO).await;
    let alerts = Arc::new(Mutex::new(Vec::<Alert>::new()));
    let seen = alerts.clone();
    let loader = stack()
        .without_cache()
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(3)
                .open_duration(Duration::from_millis(100)),
        )
        .on_alert(move |alert| seen.lock().unwrap().push(alert.clone()))
        .build(source(&server))
        .unwrap();

    assert!(loader.load_response("app").await.is_err());
    assert_eq!(loader.breaker().unwrap().state(), State::Open);

    server.set_mode(Mode::Healthy);
    server.bump_version();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let app = loader.load::<App>("app").await.unwrap();
    assert_eq!(app.version, 2);
    assert_eq!(loader.breaker().unwrap().state(), State::Closed);
    let kinds: Vec<&'static str> = alerts
        .lock()
        .unwrap()
        .iter()
        .map(|alert| match alert {
            Alert::CircuitOpened { .. } => "opened",
            Alert::CircuitClosed { .. } => "closed",
            _ => "other",
        })
        .collect();
    // Half-open is part of the episode, not an alert of its own.
    assert_eq!(kinds, ["opened", "closed"]);
}

#[tokio::test]
async fn startup_policies() {
    let server = Arc::new(ConfigServer::start(Mode::Down, Duration::ZERO).await);

    let fail_fast = stack()
        .fallback(json_fallback(FALLBACK))
        .startup(StartupPolicy::FailFast)
        .build(source(&server))
        .unwrap();
    let error = fail_fast.start::<App>("app").await.unwrap_err();
    assert!(matches!(error, ConfigError::Status { code, .. } if code == 500));
    // The error went straight to the caller, past the fallback: one error.
    let metrics = fail_fast.metrics();
    assert_eq!((metrics.errors, metrics.fallback_uses), (1, 0));

    let use_fallback = stack()
        .fallback(json_fallback(FALLBACK))
        .startup(StartupPolicy::UseFallback)
        .build(source(&server))
        .unwrap();
    assert_eq!(use_fallback.start::<App>("app").await.unwrap().version, 0);

    // Waiting: the source comes up while the loader waits for it; the wait
    // honours the circuit's time to its next probe.
    let waiting = stack()
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_millis(300)),
        )
        .fallback(json_fallback(FALLBACK))
        .startup(StartupPolicy::Wait(Duration::from_secs(5)))
        .build(source(&server))
        .unwrap();
    let comes_up = server.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        comes_up.set_mode(Mode::Healthy);
    });
    let started = tokio::time::Instant::now();
    let app = waiting.start::<App>("app").await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(app.version, 1);
    assert_eq!(app.api_url, "https://api.example.com/v1");
    assert_eq!(waiting.metrics().fallback_uses, 0);
}

#[tokio::test]
async fn a_fallback_that_fails_the_check_is_refused_at_build() {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let error = stack()
        .fallback(json_fallback("{not json"))
        .build(source(&server))
        .unwrap_err();
    assert!(matches!(
        error,
        StackError::InvalidFallback(ConfigError::Decode { .. })
    ));
    assert!(config_body(1).contains("\"version\":1"));
}

#[tokio::test]
async fn waiting_at_startup_ends_at_once_on_a_failure_that_would_repeat() {
    let server = ConfigServer::start(Mode::InvalidJson, Duration::ZERO).await;
    let loader = stack()
        .fallback(json_fallback(FALLBACK))
        .startup(StartupPolicy::Wait(Duration::from_secs(30)))
        .build(source(&server))
        .unwrap();
    let started = tokio::time::Instant::now();
    let app = loader.start::<App>("app").await.unwrap();
    assert_eq!(app.version, 0);
    assert!(started.elapsed() < Duration::from_secs(5));
    // One attempt: an invalid body is not retried, nor waited out.
    assert_eq!(server.requests(), 1);
    assert_eq!(loader.metrics().fallback_uses, 1);
}

#[tokio::test]
async fn a_stale_key_is_alerted_once_per_episode() {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let seen = alerts.clone();
    let loader = stack()
        .cache(short_ttl_stale_if_error())
        .without_breaker()
        .on_alert(move |alert| seen.lock().unwrap().push(alert.clone()))
        .build(source(&server))
        .unwrap();
    let kinds = || {
        alerts
            .lock()
            .unwrap()
            .iter()
            .map(|alert| match alert {
                Alert::SourceFailing { key, .. } => format!("{key} failing"),
                Alert::SourceRecovered { key, answered, .. } => {
                    format!("{key} recovered, {} stale", answered.stale)
                }
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
    };

    loader.load_response("app").await.unwrap();
    server.set_mode(Mode::Down);
    tokio::time::sleep(Duration::from_millis(80)).await;
    for _ in 0..3 {
        let stale = loader.load_response("app").await.unwrap();
        assert_eq!(stale.source(), Source::Stale);
    }
    assert_eq!(kinds(), ["app failing"]);

    // A fresh load ends the episode; the next stale serving is a new one.
    server.set_mode(Mode::Healthy);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(
        loader.load_response("app").await.unwrap().source(),
        Source::Origin
    );
    server.set_mode(Mode::Down);
    tokio::time::sleep(Duration::from_millis(80)).await;
    loader.load_response("app").await.unwrap();
    loader.load_response("app").await.unwrap();
    assert_eq!(
        kinds(),
        ["app failing", "app recovered, 3 stale", "app failing"]
    );
    assert_eq!(loader.metrics().stale_served, 5);
}
