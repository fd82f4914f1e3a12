//! Alerts and warnings describe episodes: one when an episode starts, one
//! when it ends, never one per request. Timelines on the paused clock
//! through the whole `Loader`, asserting the exact alerts (with the time
//! they came), the exact warning and info lines, and the metrics.

#[path = "support/logs.rs"]
mod logs;
#[path = "support/source.rs"]
mod source;
#[path = "support/stores.rs"]
mod stores;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use source::{App, Mode, Script};
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Source};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, Ended, StackBuilder, json_fallback};
use stores::SharedTier;
use tokio::time::{Instant, sleep_until};

const FALLBACK: &str = r#"{"name":"fallback","version":0}"#;

/// The alerts heard, as `"<seconds since start>s <alert>"`.
#[derive(Clone)]
struct Heard {
    start: Instant,
    lines: Arc<Mutex<Vec<String>>>,
    alerts: Arc<Mutex<Vec<Alert>>>,
}

impl Heard {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            lines: Arc::default(),
            alerts: Arc::default(),
        }
    }

    fn listener(&self) -> impl Fn(&Alert) + Send + Sync + 'static {
        let heard = self.clone();
        move |alert: &Alert| {
            let at = heard.start.elapsed().as_secs();
            heard.lines.lock().unwrap().push(format!("{at}s {alert}"));
            heard.alerts.lock().unwrap().push(alert.clone());
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn alerts(&self) -> Vec<Alert> {
        self.alerts.lock().unwrap().clone()
    }
}

/// The README's settings on a shorter scale: fresh for 10 s, then served
/// while it refreshes for 10 s, then served if the source fails for an hour;
/// 3 attempts a second apart; the circuit opens after 5 failures in a row
/// for 60 s.
fn stack() -> StackBuilder {
    StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_secs(10))
                .stale_while_revalidate(Duration::from_secs(10))
                .stale_if_error(Duration::from_secs(3600)),
        )
        .retry(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(Backoff::constant(Duration::from_secs(1)).with_jitter(Jitter::None))
                .without_budget(),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_secs(60)),
        )
        .decode_as::<App>()
}

/// Loads `name` once a second from `from` to `to` (seconds since `start`),
/// and returns the sources of the answers, in order.
async fn every_second<S, St>(
    loader: &steadfast::Loader<S, St>,
    names: &[&str],
    start: Instant,
    from: u64,
    to: u64,
) -> Vec<Source>
where
    steadfast::Full<S, St>:
        tower::Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    steadfast::Cached<S, St>:
        tower::Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    St: steadfast::cache::Store<steadfast::Key, ConfigResponse>,
{
    let mut sources = Vec::new();
    for second in from..to {
        sleep_until(start + Duration::from_secs(second)).await;
        for name in names {
            match loader.load_response(*name).await {
                Ok(response) => sources.push(response.source()),
                Err(error) => panic!("{name} at {second}s: {error}"),
            }
        }
    }
    sources
}

fn count(sources: &[Source], source: Source) -> usize {
    sources.iter().filter(|s| **s == source).count()
}

#[tokio::test(start_paused = true)]
async fn refreshing_while_healthy_is_silent() {
    let logs = logs::capture();
    let heard = Heard::new();
    let script = Script::new(Mode::Up);
    let loader = stack()
        .on_alert(heard.listener())
        .build(script.clone())
        .unwrap();

    // 95 s of loads, one a second: a background refresh every TTL.
    let sources = every_second(&loader, &["app"], heard.start, 0, 95).await;
    assert_eq!(count(&sources, Source::Stale), 9);
    assert_eq!(heard.lines(), Vec::<String>::new());
    assert_eq!(logs.warnings(), Vec::<String>::new());
    assert_eq!(logs.infos(), Vec::<String>::new());
    assert_eq!(script.calls(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_ten_minute_outage_is_one_episode_per_key_and_one_for_the_circuit() {
    let logs = logs::capture();
    let heard = Heard::new();
    let script = Script::new(Mode::Up);
    let loader = stack()
        .fallback(json_fallback(FALLBACK))
        .on_alert(heard.listener())
        .build(script.clone())
        .unwrap();
    let start = heard.start;

    let healthy = every_second(&loader, &["app"], start, 0, 30).await;
    script.set(Mode::Down);
    let down = every_second(&loader, &["app"], start, 30, 60).await;
    let down_two_keys = every_second(&loader, &["app", "flags"], start, 60, 630).await;
    script.set(Mode::Up);
    script.bump();
    let back = every_second(&loader, &["app", "flags"], start, 630, 720).await;

    assert_eq!(
        (
            count(&healthy, Source::Cache),
            count(&healthy, Source::Stale)
        ),
        (27, 2)
    );
    assert_eq!(down, [Source::Stale; 30]);
    assert_eq!(count(&down_two_keys, Source::Stale), 570);
    assert_eq!(count(&down_two_keys, Source::Fallback), 570);
    // The source is back at 630 s; the circuit lets its probe through at
    // 634 s, and from then on every answer is real.
    assert_eq!(&back[..8], {
        use Source::*;
        [
            Stale, Fallback, Stale, Fallback, Stale, Fallback, Origin, Origin,
        ]
    });
    assert!(
        back[8..]
            .iter()
            .all(|s| matches!(s, Source::Cache | Source::Stale))
    );

    assert_eq!(
        heard.lines(),
        [
            "32s app: the source fails: config server answered 503 Service Unavailable",
            "34s circuit opened for 1m: 5 consecutive failures",
            "60s flags: the source fails: circuit open; next probe in 34s",
            "60s flags: the fallback answers: circuit open; next probe in 34s",
            "634s circuit closed after 10m: the source answers again (9 failed probes, 1181 calls rejected)",
            "634s app: loaded again after 10m 2s (599 failed loads; 600 requests answered meanwhile: 600 stale, 0 by the fallback, 0 with an error)",
            "634s flags: loaded again after 9m 34s (573 failed loads; 573 requests answered meanwhile: 0 stale, 573 by the fallback, 0 with an error)",
            "634s flags: loaded again after 9m 34s; the fallback answered 573 requests",
        ]
    );
    // The failed loads the episodes count are the cache's failed loads.
    let failed_loads: u64 = heard
        .alerts()
        .iter()
        .map(|alert| match alert {
            Alert::SourceRecovered { failed_loads, .. } => *failed_loads,
            _ => 0,
        })
        .sum();
    assert_eq!(failed_loads, loader.cache().unwrap().stats().load_errors);

    // One warning per episode start, the circuit's included (the breaker's
    // own; its 9 failed probes are at debug level); one info line per end.
    // The cache's per-load failure and the retries' are at debug level.
    assert_eq!(
        per_episode(logs.warnings()),
        [
            r#"WARN steadfast::episode: app: the source fails: config server answered 503 Service Unavailable key="app""#,
            "WARN steadfast_breaker::state: circuit opened breaker=default from=closed to=open cause=ConsecutiveFailures { failures: 5 } open_for=Some(60s)",
            r#"WARN steadfast::episode: flags: the source fails: circuit open; next probe in 34s key="flags""#,
            r#"WARN steadfast::episode: flags: the fallback answers: circuit open; next probe in 34s key="flags""#,
        ]
    );
    assert_eq!(
        logs.count("DEBUG", "circuit still open: its probes failed"),
        9
    );
    assert_eq!(
        logs.infos(),
        [
            "INFO steadfast_breaker::state: circuit closed breaker=default from=half_open to=closed cause=ProbesSucceeded { successes: 1 }",
            r#"INFO steadfast::episode: app: loaded again after 10m 2s (599 failed loads; 600 requests answered meanwhile: 600 stale, 0 by the fallback, 0 with an error) key="app""#,
            r#"INFO steadfast::episode: flags: loaded again after 9m 34s (573 failed loads; 573 requests answered meanwhile: 0 stale, 573 by the fallback, 0 with an error) key="flags""#,
            r#"INFO steadfast::episode: flags: loaded again after 9m 34s; the fallback answered 573 requests key="flags""#,
        ]
    );
    assert_eq!(logs.count("DEBUG", "cache load failed"), 1172);

    let m = loader.metrics();
    assert_eq!(
        (
            m.cache_l1_hits,
            m.cache_l2_hits,
            m.cache_misses,
            m.cache_coalesced,
            m.stale_served,
            m.fallback_uses,
            m.errors
        ),
        (183, 0, 3, 0, 621, 573, 0)
    );
    assert_eq!(m.answered(), 30 + 30 + 2 * 570 + 2 * 90);
    assert_eq!(
        (
            m.primary_loads,
            m.retries,
            m.circuit_breaker_opens,
            m.circuit_breaker_rejections
        ),
        (35, 23, 10, 1181)
    );
    assert_eq!(script.calls(), 35);
}

/// The warnings but those logged for every answer by the fallback layer
/// and by the source's check, which their own files keep: each of their
/// episodes is warned about once, by the stack.
fn per_episode(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|line| {
            !line.starts_with("WARN steadfast_fallback::")
                && !line.starts_with("WARN steadfast::origin:")
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_invalid_config_from_a_healthy_server_is_one_episode_until_it_is_fixed() {
    let logs = logs::capture();
    let heard = Heard::new();
    let script = Script::new(Mode::Up);
    let loader = stack()
        .without_breaker()
        .on_alert(heard.listener())
        .build(script.clone())
        .unwrap();
    let start = heard.start;

    every_second(&loader, &["app"], start, 0, 30).await;
    script.set(Mode::Invalid);
    let invalid = every_second(&loader, &["app"], start, 30, 90).await;
    script.set(Mode::Up);
    script.bump();
    let fixed = every_second(&loader, &["app"], start, 90, 100).await;

    assert_eq!(invalid, [Source::Stale; 60]);
    assert_eq!(fixed[0], Source::Origin);
    assert_eq!(
        heard.lines(),
        [
            "30s app: the source serves an invalid config: invalid json config at line 2, column 13: expected value",
            "90s app: a valid config loaded after 1m (60 invalid answers rejected; 59 requests answered meanwhile: 59 stale, 0 by the fallback, 0 with an error)",
        ]
    );
    assert_eq!(
        per_episode(logs.warnings()),
        [
            r#"WARN steadfast::episode: app: the source serves an invalid config: invalid json config at line 2, column 13: expected value key="app""#
        ]
    );
    assert_eq!(
        logs.infos(),
        [
            r#"INFO steadfast::episode: app: a valid config loaded after 1m (60 invalid answers rejected; 59 requests answered meanwhile: 59 stale, 0 by the fallback, 0 with an error) key="app""#
        ]
    );
    let m = loader.metrics();
    assert_eq!(
        (
            m.cache_l1_hits,
            m.cache_misses,
            m.stale_served,
            m.answered()
        ),
        (36, 2, 62, 100)
    );
    assert_eq!(
        (m.primary_loads, m.invalid_responses, m.retries),
        (64, 60, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn the_fallback_at_the_end_of_the_startup_wait_names_the_sources_last_answer() {
    let heard = Heard::new();
    let script = Script::new(Mode::Down);
    let loader = stack()
        .fallback(json_fallback(FALLBACK))
        .startup(steadfast::StartupPolicy::Wait(Duration::from_secs(10)))
        .on_alert(heard.listener())
        .build(script.clone())
        .unwrap();

    let app = loader.start::<App>("app").await.unwrap();
    assert_eq!(app.version, 0);
    let retry_in = loader.breaker().unwrap().retry_in().unwrap();
    assert_eq!(heard.start.elapsed(), Duration::from_secs(10));
    assert_eq!(retry_in, Duration::from_millis(53_100));
    // The circuit opened at 3.1 s; the wait went on probing beneath it, so
    // the alert at 10 s names the source's own last answer, not the open
    // circuit.
    assert_eq!(
        heard.lines(),
        [
            "2s app: the source fails: config server answered 503 Service Unavailable",
            "3s circuit opened for 1m: 5 consecutive failures",
            "10s app: the fallback answers: config server answered 503 Service Unavailable",
        ]
    );
    assert_eq!(loader.metrics().fallback_uses, 1);
}

type Shared = SharedTier<steadfast::Key, ConfigResponse>;
type TieredStore =
    steadfast::cache::Tiered<steadfast::cache::MemoryStore<steadfast::Key, ConfigResponse>, Shared>;

/// A stack whose cache keeps a memory L1 in front of `shared`.
fn tiered(shared: &Shared) -> StackBuilder<steadfast::cache::WithStore<TieredStore>> {
    let store = steadfast::cache::Tiered::builder(
        steadfast::cache::MemoryStore::new(100).unwrap(),
        shared.clone(),
    )
    .l1_ttl_cap(Duration::from_secs(3600))
    .build()
    .unwrap();
    stack().without_breaker().without_retry().cache(
        CacheLayerBuilder::new()
            .ttl(Duration::from_secs(10))
            .stale_while_revalidate(Duration::from_secs(10))
            .stale_if_error(Duration::from_secs(3600))
            .store(store),
    )
}

#[tokio::test(start_paused = true)]
async fn a_key_refreshed_from_the_shared_tier_ends_its_episode() {
    let heard = Heard::new();
    let shared = SharedTier::new();
    let down = Script::new(Mode::Up);
    let a = tiered(&shared)
        .on_alert(heard.listener())
        .build(down.clone())
        .unwrap();
    let b = tiered(&shared).build(Script::new(Mode::Up)).unwrap();
    let start = heard.start;

    every_second(&a, &["app"], start, 0, 1).await;
    down.set(Mode::Down);
    let stale = every_second(&a, &["app"], start, 30, 40).await;
    assert_eq!(stale, [Source::Stale; 10]);
    // Another instance, whose source answers, loads it and shares it.
    every_second(&b, &["app"], start, 40, 41).await;
    let fresh = every_second(&a, &["app"], start, 41, 43).await;
    assert_eq!(fresh, [Source::Cache; 2]);

    assert_eq!(
        heard.lines(),
        [
            "30s app: the source fails: config server answered 503 Service Unavailable",
            "41s app: fresh again from the shared cache after 11s (10 failed loads; 10 requests answered meanwhile: 10 stale, 0 by the fallback, 0 with an error)",
        ]
    );
    let m = a.metrics();
    assert_eq!(
        (
            m.cache_misses,
            m.stale_served,
            m.cache_l2_hits,
            m.cache_l1_hits
        ),
        (1, 10, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_shared_tier_is_one_episode() {
    let logs = logs::capture();
    let heard = Heard::new();
    let shared = SharedTier::new();
    let loader = tiered(&shared)
        .on_alert(heard.listener())
        .build(Script::new(Mode::Up))
        .unwrap();
    let start = heard.start;

    shared.set_down(true);
    every_second(&loader, &["app", "db", "flags"], start, 0, 30).await;
    shared.set_down(false);
    every_second(&loader, &["app", "db", "flags"], start, 30, 60).await;

    assert_eq!(
        heard.lines(),
        [
            "0s cache store failing (get Unavailable): cache store unavailable: Connection refused (os error 111); loads go on without it",
            "30s cache store answers again after 30s (12 operations failed)",
        ]
    );
    assert_eq!(
        logs.warnings(),
        [
            r#"WARN steadfast_cache::state: cache store failing; going on without it until it answers again key=app op="get" kind=Unavailable error=cache store unavailable: Connection refused (os error 111)"#
        ]
    );
    assert_eq!(
        logs.infos(),
        [
            "INFO steadfast_cache::state: cache store answers again after 30s; 12 operations failed meanwhile failures=12 lasted=30s"
        ]
    );
    // Each key's first load fails to read and to write the shared tier;
    // each refresh (at 10 s and 20 s) fails to write it.
    assert_eq!(loader.metrics().l2_errors, 12);
}

/// A loader whose source is down, with a fallback for every name, one
/// attempt per load and no breaker.
fn down_with_a_fallback() -> (
    Heard,
    Script,
    steadfast::Loader<Script, steadfast::cache::MemoryStore<steadfast::Key, ConfigResponse>>,
) {
    let heard = Heard::new();
    let script = Script::new(Mode::Down);
    let loader = stack()
        .without_retry()
        .without_breaker()
        .fallback(json_fallback(FALLBACK))
        .on_alert(heard.listener())
        .build(script.clone())
        .unwrap();
    (heard, script, loader)
}

fn kind(alert: &Alert) -> &'static str {
    match alert {
        Alert::SourceFailing { .. } => "source failing",
        Alert::SourceRecovered { .. } => "source recovered",
        Alert::FallbackUsed { .. } => "fallback used",
        Alert::FallbackEnded { .. } => "fallback ended",
        Alert::KeysUntracked { .. } => "keys untracked",
        Alert::KeysUntrackedEnded { .. } => "keys untracked ended",
        _ => "other",
    }
}

fn kinds(alerts: &[Alert]) -> Vec<(&'static str, usize)> {
    let mut counted: Vec<(&'static str, usize)> = Vec::new();
    for alert in alerts {
        match counted.iter_mut().find(|(k, _)| *k == kind(alert)) {
            Some((_, n)) => *n += 1,
            None => counted.push((kind(alert), 1)),
        }
    }
    counted
}

#[tokio::test(start_paused = true)]
async fn past_1024_keys_episodes_are_followed_together_and_memory_stays_bounded() {
    let (heard, script, loader) = down_with_a_fallback();
    let names: Vec<String> = (0..1030).map(|n| format!("k{n:04}")).collect();

    for _ in 0..3 {
        for name in &names {
            let response = loader.load_response(name.as_str()).await.unwrap();
            assert_eq!(response.source(), Source::Fallback);
        }
    }
    let alerts = heard.alerts();
    assert_eq!(
        kinds(&alerts),
        [
            ("source failing", 1024),
            ("fallback used", 1024),
            ("keys untracked", 1)
        ]
    );
    assert_eq!(
        alerts[2048].to_string(),
        "more than 1024 keys in episodes: further keys are reported together"
    );
    // Three rounds: the alerts came in the first, for the first keys.
    assert_eq!(alerts[0].key(), Some("k0000"));
    assert_eq!(alerts[2047].key(), Some("k1023"));

    tokio::time::advance(Duration::from_secs(60)).await;
    script.set(Mode::Up);
    for name in &names {
        let response = loader.load_response(name.as_str()).await.unwrap();
        assert_eq!(response.source(), Source::Origin);
    }
    let ends = &heard.alerts()[2049..];
    assert_eq!(
        kinds(ends),
        [
            ("source recovered", 1024),
            ("fallback ended", 1024),
            ("keys untracked ended", 1)
        ]
    );
    assert_eq!(
        ends.last().unwrap().to_string(),
        "and 6 more keys: all loaded again after 1m (18 requests answered meanwhile: 0 stale, 18 by the fallback, 0 with an error)"
    );
    let m = loader.metrics();
    assert_eq!(
        (m.fallback_uses, m.cache_misses, m.answered()),
        (3090, 1030, 4120)
    );
}

#[tokio::test(start_paused = true)]
async fn an_episode_of_a_key_no_longer_asked_for_is_forgotten_after_15_minutes() {
    let (heard, _script, loader) = down_with_a_fallback();

    loader.load_response("lonely").await.unwrap();
    tokio::time::advance(Duration::from_secs(14 * 60)).await;
    loader.load_response("busy").await.unwrap();
    tokio::time::advance(Duration::from_secs(2 * 60)).await;
    loader.load_response("busy").await.unwrap();
    // Asked for again: a new episode.
    loader.load_response("lonely").await.unwrap();

    assert_eq!(
        heard.lines(),
        [
            "0s lonely: the source fails: config server answered 503 Service Unavailable",
            "0s lonely: the fallback answers: config server answered 503 Service Unavailable",
            "840s busy: the source fails: config server answered 503 Service Unavailable",
            "840s busy: the fallback answers: config server answered 503 Service Unavailable",
            "960s lonely: not asked for in 15m; episode closed after 16m (1 failed load; 1 request answered meanwhile: 0 stale, 1 by the fallback, 0 with an error)",
            "960s lonely: not asked for in 15m; episode closed after 16m; the fallback answered 1 request",
            "960s lonely: the source fails: config server answered 503 Service Unavailable",
            "960s lonely: the fallback answers: config server answered 503 Service Unavailable",
        ]
    );
    let ended = heard.alerts()[4].clone();
    assert!(matches!(
        ended,
        Alert::SourceRecovered {
            ended: Ended::NotRequested,
            ..
        }
    ));
}
