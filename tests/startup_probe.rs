//! `StartupPolicy::Wait` keeps probing the source on its own bounded
//! backoff (100 ms, doubling, at most 1 s apart) until its deadline,
//! whatever the circuit's open duration: the real value arrives soon after
//! the source returns, and the fallback only when the whole wait ran out.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::breaker::{CircuitBreakerLayer, State};
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format, Source};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, StackBuilder, StartupPolicy, json_fallback};
use tokio::time::Instant;
use tower::service_fn;

const FALLBACK: &str = r#"{"version": 0}"#;

/// A source that refuses connections until `down_for` has passed since it
/// was made, then answers version 1; it records when it was called.
#[derive(Clone)]
struct Outage {
    start: Instant,
    down_for: Duration,
    calls: Arc<Mutex<Vec<Duration>>>,
}

impl Outage {
    fn new(down_for: Duration) -> Self {
        Self {
            start: Instant::now(),
            down_for,
            calls: Arc::default(),
        }
    }

    fn source(
        &self,
    ) -> impl tower::Service<
        ConfigRequest,
        Response = ConfigResponse,
        Error = ConfigError,
        Future = impl Send + 'static,
    > + Clone
    + Send
    + 'static {
        let outage = self.clone();
        service_fn(move |_: ConfigRequest| {
            let at = outage.start.elapsed();
            outage.calls.lock().unwrap().push(at);
            let up = at >= outage.down_for;
            async move {
                if up {
                    Ok(ConfigResponse::new(r#"{"version": 1}"#, Format::Json))
                } else {
                    Err(ConfigError::transport(std::io::Error::from_raw_os_error(
                        111,
                    )))
                }
            }
        })
    }

    fn calls(&self) -> Vec<Duration> {
        self.calls.lock().unwrap().clone()
    }
}

fn ms(millis: &[u64]) -> Vec<Duration> {
    millis.iter().copied().map(Duration::from_millis).collect()
}

/// 3 attempts from 1 s (doubling), 5 consecutive failures, 60 s open,
/// `Wait(10 s)`, a fallback, alerts recorded.
fn stack(jitter: Jitter, alerts: &Arc<Mutex<Vec<String>>>) -> StackBuilder {
    let alerts = alerts.clone();
    StackBuilder::new()
        .retry(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::exponential(Duration::from_secs(1), 2.0).with_jitter(jitter))
                .seed(7),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_secs(60)),
        )
        .fallback(json_fallback(FALLBACK))
        .startup(StartupPolicy::Wait(Duration::from_secs(10)))
        .on_alert(move |alert: &Alert| alerts.lock().unwrap().push(alert.to_string()))
}

#[tokio::test(start_paused = true)]
async fn the_real_value_arrives_soon_after_the_source_returns_under_an_open_circuit() {
    let outage = Outage::new(Duration::from_secs(8));
    let alerts = Arc::default();
    let loader = stack(Jitter::None, &alerts).build(outage.source()).unwrap();

    let started = Instant::now();
    let value = loader.start::<serde_json::Value>("app").await.unwrap();

    assert_eq!(value["version"], 1);
    assert_eq!(started.elapsed(), Duration::from_millis(8_500));
    // Through the stack: 3 attempts (retries after 1 s and 2 s), 100 ms,
    // 2 attempts (the fifth failure opens the circuit; the third attempt,
    // at 6.1 s, is rejected). Then beneath the open circuit, 200, 400,
    // 800 ms and 1 s apart.
    assert_eq!(
        outage.calls(),
        ms(&[0, 1_000, 3_000, 3_100, 4_100, 6_300, 6_700, 7_500, 8_500])
    );
    // The source answers: the circuit is closed again and the value cached.
    let breaker = loader.breaker().unwrap();
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(
        *alerts.lock().unwrap(),
        [
            "app: the source fails: transport error: Connection refused (os error 111)",
            "circuit opened for 1m: 5 consecutive failures",
            "app: loaded again after 5.5s (2 failed loads; 0 requests answered meanwhile: 0 stale, 0 by the fallback, 0 with an error)",
            "circuit closed after 4.4s: the source answers again (0 failed probes, 1 call rejected)"
        ]
    );
    let again = loader.load_response("app").await.unwrap();
    assert_eq!(again.source(), Source::Cache);
    let metrics = loader.metrics();
    assert_eq!(metrics.primary_loads, 9);
    assert_eq!(metrics.fallback_uses, 0);
    assert_eq!(metrics.cache_hits(), 1);
    // The start was answered with the value its own probe got from the
    // source: a miss, as a load through the cache would be.
    assert_eq!(metrics.cache_misses, 1);
    assert_eq!(metrics.answered(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_readme_settings_recover_within_a_second_of_the_source() {
    let outage = Outage::new(Duration::from_secs(4));
    let alerts = Arc::default();
    let loader = stack(Jitter::Full, &alerts).build(outage.source()).unwrap();

    let started = Instant::now();
    let value = loader.start::<serde_json::Value>("app").await.unwrap();

    assert_eq!(value["version"], 1);
    let calls = outage.calls();
    let answered = *calls.last().unwrap();
    assert_eq!(started.elapsed(), answered);
    assert!(answered >= Duration::from_secs(4), "{calls:?}");
    assert!(answered <= Duration::from_secs(5), "{calls:?}");
    // Every call but the last failed, and none waited more than the
    // retry's own backoff or the wait's 1 s.
    assert!(
        calls[..calls.len() - 1]
            .iter()
            .all(|at| *at < Duration::from_secs(4))
    );
    assert!(
        calls
            .windows(2)
            .all(|w| w[1] - w[0] <= Duration::from_secs(2)),
        "{calls:?}"
    );
    assert_eq!(loader.breaker().unwrap().state(), State::Closed);
    assert_eq!(loader.metrics().fallback_uses, 0);
}

#[tokio::test(start_paused = true)]
async fn the_fallback_comes_only_when_the_whole_wait_ran_out() {
    let outage = Outage::new(Duration::MAX);
    let alerts = Arc::default();
    let loader = stack(Jitter::None, &alerts).build(outage.source()).unwrap();

    let started = Instant::now();
    let value = loader.start::<serde_json::Value>("app").await.unwrap();

    assert_eq!(value["version"], 0);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(
        outage.calls(),
        ms(&[
            0, 1_000, 3_000, 3_100, 4_100, 6_300, 6_700, 7_500, 8_500, 9_500
        ])
    );
    // The fallback names the source's last real error, not the circuit.
    assert_eq!(
        *alerts.lock().unwrap(),
        [
            "app: the source fails: transport error: Connection refused (os error 111)",
            "circuit opened for 1m: 5 consecutive failures",
            "app: the fallback answers: transport error: Connection refused (os error 111)"
        ]
    );
    assert_eq!(loader.breaker().unwrap().state(), State::Open);
    assert_eq!(loader.cache().unwrap().stats().entries, 0);
    assert_eq!(loader.metrics().fallback_uses, 1);
}

#[tokio::test(start_paused = true)]
async fn an_attempt_running_at_the_deadline_ends_with_the_last_real_error() {
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    let source = service_fn(move |_: ConfigRequest| {
        let call = {
            let mut calls = counted.lock().unwrap();
            *calls += 1;
            *calls
        };
        async move {
            if call == 1 {
                return Err(ConfigError::Status {
                    code: http::StatusCode::SERVICE_UNAVAILABLE,
                    retry_after: None,
                });
            }
            std::future::pending().await
        }
    });
    let loader = StackBuilder::new()
        .without_retry()
        .without_breaker()
        .without_timeout()
        .startup(StartupPolicy::Wait(Duration::from_secs(1)))
        .build(source)
        .unwrap();

    let started = Instant::now();
    let error = loader.start::<serde_json::Value>("app").await.unwrap_err();

    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(
        error.to_string(),
        "config server answered 503 Service Unavailable"
    );
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_first_attempt_running_at_the_deadline_is_a_timeout_of_the_wait() {
    let source = service_fn(|_: ConfigRequest| {
        std::future::pending::<Result<ConfigResponse, ConfigError>>()
    });
    let loader = StackBuilder::new()
        .without_timeout()
        .startup(StartupPolicy::Wait(Duration::from_secs(3)))
        .build(source)
        .unwrap();
    let started = Instant::now();
    let error = loader.start::<serde_json::Value>("app").await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert!(
        matches!(error, ConfigError::Timeout(d) if d == Duration::from_secs(3)),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_forced_open_circuit_is_not_probed_around() {
    let outage = Outage::new(Duration::ZERO);
    let alerts = Arc::default();
    let loader = stack(Jitter::None, &alerts).build(outage.source()).unwrap();
    loader.breaker().unwrap().force_open();

    let started = Instant::now();
    let value = loader.start::<serde_json::Value>("app").await.unwrap();

    assert_eq!(value["version"], 0);
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert!(outage.calls().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_wait_without_end_does_not_panic() {
    let outage = Outage::new(Duration::from_secs(30));
    let alerts = Arc::default();
    let loader = stack(Jitter::None, &alerts)
        .startup(StartupPolicy::Wait(Duration::MAX))
        .build(outage.source())
        .unwrap();

    let started = Instant::now();
    let value = loader.start::<serde_json::Value>("app").await.unwrap();

    assert_eq!(value["version"], 1);
    assert_eq!(started.elapsed(), Duration::from_millis(30_500));
}

#[tokio::test(start_paused = true)]
async fn a_huge_retry_after_waits_to_the_deadline_without_panicking() {
    let calls = Arc::new(Mutex::new(0u32));
    let counted = calls.clone();
    let source = service_fn(move |_: ConfigRequest| {
        *counted.lock().unwrap() += 1;
        async {
            Err::<ConfigResponse, _>(ConfigError::Status {
                code: http::StatusCode::SERVICE_UNAVAILABLE,
                retry_after: Some(Duration::from_secs(u64::MAX)),
            })
        }
    });
    let loader = StackBuilder::new()
        .without_retry()
        .fallback(json_fallback(FALLBACK))
        .startup(StartupPolicy::Wait(Duration::from_secs(5)))
        .build(source)
        .unwrap();

    let started = Instant::now();
    let value = loader.start::<serde_json::Value>("app").await.unwrap();

    assert_eq!(value["version"], 0);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(*calls.lock().unwrap(), 1);
}
