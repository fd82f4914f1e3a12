//! Watching through the whole stack: polls beneath the cache, write
//! through, never backwards, the status and its alerts, and one poller per
//! fleet over a private Redis.
//!
//! Real HTTP servers on loopback (and a real `redis-server`): real clock,
//! short intervals, margins stated with each bound.

#[path = "../examples/support/config_server.rs"]
mod config_server;
#[path = "support/private_redis.rs"]
mod private_redis;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use config_server::{ConfigServer, Mode};
use serde::Deserialize;
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::redis::RedisStore;
use steadfast::cache::{CacheLayerBuilder, MemoryStore, Tiered};
use steadfast::config::watch::{FleetRole, StaleCause, WatchHandle, WatchStatus, Watcher};
use steadfast::config::{ConfigResponse, HttpSource};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, Key, RedisFleet, StackBuilder, StartupPolicy, WatchEnded, json_fallback};
use tokio::sync::watch;
use tokio::time::Instant;

#[derive(Debug, Deserialize, PartialEq)]
struct App {
    version: u64,
}

fn source(server: &ConfigServer) -> HttpSource {
    HttpSource::builder(server.base_url())
        .path("/config/{name}.json")
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

fn quick_retry() -> steadfast::retry::RetryLayerBuilder {
    RetryLayer::builder()
        .max_attempts(2)
        .backoff(Backoff::constant(Duration::from_millis(1)).with_jitter(Jitter::None))
}

/// Every version `rx` publishes from now on, in order.
fn record(mut rx: watch::Receiver<Arc<App>>) -> Arc<Mutex<Vec<u64>>> {
    let seen = Arc::new(Mutex::new(vec![rx.borrow_and_update().version]));
    let out = seen.clone();
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let v = rx.borrow_and_update().version;
            out.lock().unwrap().push(v);
        }
    });
    seen
}

async fn until(limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_stale_replica_is_never_published_again() {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let loader = StackBuilder::new()
        .retry(quick_retry())
        .decode_as::<App>()
        .build(source(&server))
        .unwrap();
    let interval = Duration::from_millis(50);
    let (handle, rx) = loader
        .watch::<App>(Watcher::builder("app").interval(interval).jitter(0.0))
        .await
        .unwrap();
    let seen = record(rx);

    // Versions 1, 2, 1 (a stale replica), 3, each served for 4 intervals.
    for version in [2, 1, 3] {
        tokio::time::sleep(interval * 4).await;
        server.set_version(version);
    }
    tokio::time::sleep(interval * 4).await;

    assert_eq!(*seen.lock().unwrap(), [1, 2, 3]);
    let stats = handle.stats();
    assert_eq!(stats.published, 3);
    assert!(stats.ignored >= 3, "{stats:?}");
    assert_eq!(stats.errors, 0);
}

#[tokio::test]
async fn a_change_shows_within_an_interval_whatever_the_ttl() {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    // The README's TTL: 300 s.
    let loader = StackBuilder::new()
        .decode_as::<App>()
        .build(source(&server))
        .unwrap();
    let interval = Duration::from_secs(1);
    let (handle, mut rx) = loader
        .watch::<App>(Watcher::builder("app").interval(interval).jitter(0.0))
        .await
        .unwrap();
    assert_eq!(rx.borrow_and_update().version, 1);
    assert_eq!(loader.load::<App>("app").await.unwrap().version, 1);

    let mut latencies = Vec::new();
    for version in 2..=4 {
        let changed = Instant::now();
        server.set_version(version);
        tokio::time::timeout(interval + Duration::from_millis(500), rx.changed())
            .await
            .expect("within one interval plus a round trip")
            .unwrap();
        latencies.push(changed.elapsed());
        let published = rx.borrow_and_update().clone();
        assert_eq!(published.version, version);
        // Written through before it was published: a cache hit, handing
        // out the very value the receivers got (one decode per version).
        let hits = loader.cache().unwrap().stats().l1_hits;
        let loaded = loader.load::<App>("app").await.unwrap();
        assert!(Arc::ptr_eq(&loaded, &published));
        assert_eq!(loader.cache().unwrap().stats().l1_hits, hits + 1);
    }
    eprintln!("polling (1 s interval) change-to-visible: {latencies:?}");
    for latency in &latencies {
        assert!(
            *latency <= interval + Duration::from_millis(100),
            "{latency:?}"
        );
    }
    assert_eq!(handle.stats().errors, 0);
}

/// The watch alerts the stack's listener reported, as text.
fn watch_alerts(alerts: &Mutex<Vec<Alert>>) -> Vec<String> {
    alerts
        .lock()
        .unwrap()
        .iter()
        .filter_map(|alert| match alert {
            Alert::WatchStale { cause, .. } => Some(format!("stale {cause}")),
            Alert::WatchRecovered { ended, .. } => Some(format!("recovered {ended:?}")),
            Alert::WatchOnFallback { .. } => Some("on fallback".to_owned()),
            Alert::WatchFallbackEnded { ended, .. } => Some(format!("fallback ended {ended:?}")),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_status_and_its_alerts_through_an_outage_and_a_recovery() {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let heard = alerts.clone();
    let loader = StackBuilder::new()
        .retry(quick_retry())
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(4)
                .open_duration(Duration::from_millis(200)),
        )
        .decode_as::<App>()
        .fallback(json_fallback(r#"{"version":0}"#))
        .on_alert(move |alert| heard.lock().unwrap().push(alert.clone()))
        .build(source(&server))
        .unwrap();
    let interval = Duration::from_millis(50);
    let (handle, rx) = loader
        .watch::<App>(Watcher::builder("app").interval(interval).jitter(0.0))
        .await
        .unwrap();
    let seen = record(rx);
    assert!(handle.status().is_live());

    server.set_mode(Mode::Down);
    let down = Instant::now();
    until(Duration::from_secs(2), || handle.status().is_stale()).await;
    tokio::time::sleep(interval * 10).await;
    match handle.status() {
        WatchStatus::Stale {
            since,
            failed_polls,
            error,
            cause,
        } => {
            assert!(since >= down);
            assert!(failed_polls >= 5, "{failed_polls}");
            // 500s, then the open circuit refusing the polls.
            assert!(
                matches!(cause, StaleCause::SourceFailing | StaleCause::CircuitOpen),
                "{cause:?}: {error}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The fallback never reaches the watcher, which polls beneath it.
    assert_eq!(handle.current().version, 1);

    server.bump_version();
    server.set_mode(Mode::Healthy);
    // The circuit's open time (200 ms), then one interval.
    until(Duration::from_secs(2), || handle.status().is_live()).await;
    until(Duration::from_secs(1), || handle.current().version == 2).await;
    drop(handle);
    tokio::time::sleep(interval * 2).await;

    assert_eq!(*seen.lock().unwrap(), [1, 2]);
    assert_eq!(
        watch_alerts(&alerts),
        ["stale source failing", "recovered Live"],
        "one alert when the episode starts, one when it ends"
    );
}

#[tokio::test]
async fn a_watch_started_on_the_fallback_ends_it_when_the_source_answers() {
    let server = ConfigServer::start(Mode::Down, Duration::ZERO).await;
    let alerts = Arc::new(Mutex::new(Vec::new()));
    let heard = alerts.clone();
    let loader = StackBuilder::new()
        .retry(quick_retry())
        .decode_as::<App>()
        .fallback(json_fallback(r#"{"version":0}"#))
        .breaker(CircuitBreakerLayer::builder().consecutive_failures(100))
        .startup(StartupPolicy::UseFallback)
        .on_alert(move |alert| heard.lock().unwrap().push(alert.clone()))
        .build(source(&server))
        .unwrap();
    let interval = Duration::from_millis(50);
    let (handle, rx) = loader
        .watch::<App>(Watcher::builder("app").interval(interval).jitter(0.0))
        .await
        .unwrap();
    let seen = record(rx);
    assert!(handle.status().is_fallback());
    tokio::time::sleep(interval * 4).await;
    assert!(
        matches!(
            handle.status(),
            WatchStatus::Fallback { error: Some(_), .. }
        ),
        "{:?}",
        handle.status()
    );

    server.set_mode(Mode::Healthy);
    until(Duration::from_secs(2), || handle.status().is_live()).await;
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
    assert_eq!(loader.load::<App>("app").await.unwrap().version, 1);
    assert_eq!(
        watch_alerts(&alerts),
        ["on fallback", "fallback ended Live"]
    );

    // Failing fast: refused, with the source's error.
    let down = ConfigServer::start(Mode::Down, Duration::ZERO).await;
    let loader = StackBuilder::new()
        .retry(quick_retry())
        .fallback(json_fallback(r#"{"version":0}"#))
        .startup(StartupPolicy::FailFast)
        .build(source(&down))
        .unwrap();
    let refused = loader
        .watch::<App>(Watcher::builder("app").interval(interval))
        .await
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "first config load failed: config server answered 500 Internal Server Error"
    );
}

// --- One poller per fleet ---------------------------------------------

type Store = Tiered<MemoryStore<Key, ConfigResponse>, RedisStore<Key, ConfigResponse>>;

struct Instance {
    handle: WatchHandle<App>,
    rx: watch::Receiver<Arc<App>>,
    _loader: Box<dyn std::any::Any + Send>,
}

async fn instance(
    redis: &str,
    prefix: &str,
    server: &ConfigServer,
    interval: Duration,
) -> Instance {
    let l2 = RedisStore::<Key, ConfigResponse>::builder(redis)
        .prefix(prefix)
        .call_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(200))
        .reconnect_backoff(Duration::from_millis(50), Duration::from_millis(200))
        .build()
        .unwrap();
    let store: Store = Tiered::builder(MemoryStore::new(100).unwrap(), l2.clone())
        .invalidations(l2.invalidations())
        .build()
        .unwrap();
    let fleet = Arc::new(RedisFleet::new(&store).unwrap());
    let loader = StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_secs(300))
                .store(store),
        )
        .retry(quick_retry())
        .decode_as::<App>()
        .build(source(server))
        .unwrap();
    let (handle, rx) = loader
        .watch::<App>(
            Watcher::builder("app")
                .interval(interval)
                .jitter(0.0)
                .fleet(fleet),
        )
        .await
        .unwrap();
    Instance {
        handle,
        rx,
        _loader: Box::new(loader),
    }
}

fn roles(fleet: &[Instance]) -> (usize, usize, usize) {
    let count = |role| fleet.iter().filter(|i| i.handle.role() == role).count();
    (
        count(FleetRole::Poller),
        count(FleetRole::Follower),
        count(FleetRole::Alone),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_poller_per_fleet() {
    let Some(mut redis) = private_redis::PrivateRedis::start_or_skip("one_poller_per_fleet").await
    else {
        return;
    };
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let prefix = format!("steadfast-test:fleet:{:016x}", fastrand::u64(..));
    let interval = Duration::from_millis(250);
    let mut fleet = Vec::new();
    for _ in 0..20 {
        fleet.push(instance(&redis.url(), &prefix, &server, interval).await);
    }
    until(Duration::from_secs(5), || roles(&fleet) == (1, 19, 0)).await;

    // Over 10 intervals, the origin sees 10 polls (±1), not 200.
    tokio::time::sleep(interval / 2).await;
    let before = server.requests();
    tokio::time::sleep(interval * 10).await;
    let polls = server.requests() - before;
    eprintln!("fleet of 20: {polls} origin polls in 10 intervals");
    assert!((9..=11).contains(&polls), "{polls} polls");

    // A change reaches all 20 receivers within one interval plus 100 ms.
    let changed = Instant::now();
    server.set_version(2);
    let all = until(interval + Duration::from_millis(100), || {
        fleet.iter().all(|i| i.rx.borrow().version == 2)
    })
    .await;
    eprintln!("fleet of 20: change visible to all receivers after {all:?}");
    let _ = changed;

    // The holder's stack is dropped: another takes over within the lease
    // TTL (one poll cycle plus an interval: 3 intervals here).
    let holder = fleet
        .iter()
        .position(|i| i.handle.role() == FleetRole::Poller)
        .unwrap();
    drop(fleet.remove(holder));
    let takeover = until(interval * 3, || roles(&fleet).0 == 1).await;
    eprintln!("fleet: lease taken over after {takeover:?}");
    server.set_version(3);
    until(interval + Duration::from_millis(100), || {
        fleet.iter().all(|i| i.rx.borrow().version == 3)
    })
    .await;

    // Redis dies: every instance polls on its own, and none stops.
    redis.kill();
    until(Duration::from_secs(5), || roles(&fleet) == (0, 0, 19)).await;
    let before = server.requests();
    tokio::time::sleep(interval * 4).await;
    let alone = server.requests() - before;
    eprintln!("fleet without Redis: {alone} origin polls in 4 intervals");
    assert!(alone >= 19 * 3, "{alone}");
    server.set_version(4);
    until(interval * 2 + Duration::from_millis(100), || {
        fleet.iter().all(|i| i.rx.borrow().version == 4)
    })
    .await;
    assert!(fleet.iter().all(|i| i.handle.is_running()));

    // Redis is back: they elect a poller again.
    redis.restart().await;
    let elected = until(Duration::from_secs(10), || roles(&fleet) == (1, 18, 0)).await;
    eprintln!("fleet: poller elected again {elected:?} after Redis restarted");
    server.set_version(5);
    until(interval + Duration::from_millis(100), || {
        fleet.iter().all(|i| i.rx.borrow().version == 5)
    })
    .await;
    let _ = WatchEnded::Live;
}

#[tokio::test(start_paused = true)]
async fn while_a_watch_runs_loads_never_find_the_entry_stale() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use steadfast::config::{ConfigError, ConfigRequest, Format};
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let source = tower::service_fn(move |_: ConfigRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async {
            Ok::<_, ConfigError>(
                ConfigResponse::new(r#"{"version":1}"#, Format::Json).with_version("v1"),
            )
        }
    });
    let ttl = Duration::from_secs(10);
    let loader = StackBuilder::new()
        .cache(CacheLayerBuilder::new().ttl(ttl).ttl_jitter(0.0))
        .build(source)
        .unwrap();
    let interval = Duration::from_secs(1);
    let (handle, _rx) = loader
        .watch::<App>(Watcher::builder("app").interval(interval).jitter(0.0))
        .await
        .unwrap();
    tokio::time::sleep(interval / 2).await;
    for _ in 0..60 {
        tokio::time::sleep(interval).await;
        loader.load::<App>("app").await.unwrap();
    }
    let cache = loader.cache().unwrap().stats();
    // The first load was a miss; every load since, a fresh hit.
    assert_eq!(cache.misses, 1);
    assert_eq!(cache.stale_served, 0);
    assert_eq!(cache.l1_hits, 60);
    // The origin saw the first load and one poll per interval, nothing more.
    let polls = handle.stats().polls;
    assert_eq!(calls.load(Ordering::SeqCst), 1 + polls);
    assert_eq!(polls, 60);
}
