//! The watcher polls through a scripted service on a paused clock.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use steadfast_config::watch::{InvalidWatch, StaleCause, StartError, WatchStatus, Watcher};
use steadfast_config::{
    ConfigError, ConfigRequest, ConfigResponse, Format, Source, Validate, WatchStats,
};
use tokio::time::Instant;
use tower::{Service, service_fn};

const INTERVAL: Duration = Duration::from_secs(30);

/// What the scripted source answers on its `n`th call (0-based).
type Script = fn(usize, Instant) -> Result<ConfigResponse, ConfigError>;

/// A source that answers from `script` and records when it was called.
#[derive(Clone, Default)]
struct Record {
    calls: Arc<Mutex<Vec<Instant>>>,
    /// Dropped with the service: its strong count tells whether the service
    /// is still alive.
    alive: Arc<AtomicUsize>,
}

impl Record {
    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    fn service_alive(&self) -> bool {
        Arc::strong_count(&self.alive) > 1
    }
}

fn scripted(
    script: Script,
    record: &Record,
) -> impl Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = ConfigError,
    Future = impl Future<Output = Result<ConfigResponse, ConfigError>> + Send,
> + Send
+ 'static {
    let calls = record.calls.clone();
    let alive = record.alive.clone();
    let start = Instant::now();
    service_fn(move |req: ConfigRequest| {
        assert_eq!(req.key(), "app@prod");
        alive.fetch_add(1, Ordering::Relaxed);
        let mut calls = calls.lock().unwrap();
        let n = calls.len();
        calls.push(Instant::now());
        let result = script(n, start);
        async move { result }
    })
}

/// `future`'s output, or a panic if it takes longer than `limit`: the watch
/// keeps polling, so a paused clock alone would never end the wait.
async fn within<F: Future>(limit: Duration, future: F) -> F::Output {
    tokio::time::timeout(limit, future)
        .await
        .expect("no change within the limit")
}

fn json(body: &str) -> ConfigResponse {
    ConfigResponse::new(body.to_owned(), Format::Json)
}

fn number(response: &ConfigResponse) -> Result<Arc<u32>, ConfigError> {
    std::str::from_utf8(response.body())
        .ok()
        .and_then(|text| text.parse().ok())
        .map(Arc::new)
        .ok_or_else(|| ConfigError::validation("not a number"))
}

/// Decodes a response into a number.
type Decode = fn(&ConfigResponse) -> Result<Arc<u32>, ConfigError>;

fn watcher() -> Watcher<Decode> {
    Watcher::builder(ConfigRequest::new("app").with_profile("prod"))
        .interval(INTERVAL)
        .jitter(0.0)
        .poll_timeout(Duration::from_secs(5))
        .build(number as Decode)
        .unwrap()
}

fn timeout() -> ConfigError {
    ConfigError::Timeout(Duration::from_secs(1))
}

#[tokio::test(start_paused = true)]
async fn a_new_version_is_published_after_one_interval() {
    let record = Record::default();
    let script: Script = |n, _| Ok(json(["1", "2"][n.min(1)]).with_version(["v1", "v2"][n.min(1)]));
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    assert_eq!(**rx.borrow_and_update(), 1);

    let started = Instant::now();
    within(INTERVAL + Duration::from_secs(1), rx.changed())
        .await
        .unwrap();

    assert_eq!(started.elapsed(), INTERVAL);
    assert_eq!(**rx.borrow_and_update(), 2);
    assert_eq!(*handle.current(), 2);
    assert_eq!(
        handle.stats(),
        WatchStats {
            polls: 2,
            published: 2,
            ..WatchStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn the_same_version_is_not_published_again() {
    let record = Record::default();
    // Same version, different bytes: the version decides.
    let script: Script = |n, _| Ok(json(&n.to_string()).with_version("v1"));
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    rx.borrow_and_update();

    tokio::time::sleep(INTERVAL * 3 + Duration::from_secs(1)).await;

    assert_eq!(record.calls(), 4);
    assert!(!rx.has_changed().unwrap());
    assert_eq!(**rx.borrow(), 0);
    assert_eq!(
        handle.stats(),
        WatchStats {
            polls: 4,
            published: 1,
            unchanged: 3,
            ..WatchStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn without_a_version_the_bytes_decide() {
    let record = Record::default();
    let script: Script = |n, _| Ok(json(["7", "7", "8"][n.min(2)]));
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    rx.borrow_and_update();

    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    assert!(!rx.has_changed().unwrap());

    tokio::time::sleep(INTERVAL).await;
    assert!(rx.has_changed().unwrap());
    assert_eq!(**rx.borrow(), 8);
    assert_eq!(
        handle.stats(),
        WatchStats {
            polls: 3,
            published: 2,
            unchanged: 1,
            ..WatchStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn errors_keep_the_last_good_value() {
    let record = Record::default();
    let script: Script = |n, _| match n {
        0 => Ok(json("1").with_version("v1")),
        1 => Err(timeout()),
        2 => Ok(json("not a number").with_version("v-bad")),
        _ => Ok(json("2").with_version("v2")),
    };
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    rx.borrow_and_update();
    assert!(handle.last_error().is_none());

    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    assert_eq!(**rx.borrow(), 1);
    assert!(
        matches!(handle.last_error(), Some(ConfigError::Timeout(d)) if d == Duration::from_secs(1))
    );

    tokio::time::sleep(INTERVAL).await;
    assert!(!rx.has_changed().unwrap());
    assert!(matches!(
        handle.last_error(),
        Some(ConfigError::Validation { .. })
    ));
    assert_eq!(handle.stats().errors, 2);

    tokio::time::sleep(INTERVAL).await;
    assert_eq!(**rx.borrow_and_update(), 2);
    assert_eq!(
        handle.stats(),
        WatchStats {
            polls: 4,
            published: 2,
            errors: 2,
            ..WatchStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_superseded_version_is_never_published_again() {
    let record = Record::default();
    // A stale replica answers version 1 after version 2.
    let script: Script = |n, _| {
        let v = [1, 2, 1, 3][n.min(3)];
        Ok(json(&v.to_string()).with_version(format!("\"{v}\"")))
    };
    let published = Arc::new(Mutex::new(Vec::new()));
    let seen = published.clone();
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    seen.lock().unwrap().push(**rx.borrow_and_update());
    let follow = tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let v = **rx.borrow_and_update();
            seen.lock().unwrap().push(v);
        }
    });

    tokio::time::sleep(INTERVAL * 4 + Duration::from_secs(1)).await;

    assert_eq!(*published.lock().unwrap(), [1, 2, 3]);
    assert_eq!(
        handle.stats(),
        WatchStats {
            polls: 5,
            published: 3,
            unchanged: 1,
            ignored: 1,
            ..WatchStats::default()
        }
    );
    drop(handle);
    follow.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_ordering_hook_decides_older_and_newer_exactly() {
    let record = Record::default();
    // Ranked by the body: 5, then 3 (older), 5 again with another tag
    // (the same rank: unchanged), 7.
    let script: Script = |n, _| {
        let (v, tag) = [(5, "a"), (3, "b"), (5, "c"), (7, "d")][n.min(3)];
        Ok(json(&v.to_string()).with_version(tag))
    };
    let (handle, mut rx) = Watcher::builder(ConfigRequest::new("app").with_profile("prod"))
        .interval(INTERVAL)
        .jitter(0.0)
        .remember_versions(1)
        .order_by(|response| std::str::from_utf8(response.body()).ok()?.parse().ok())
        .build(number as Decode)
        .unwrap()
        .start(scripted(script, &record))
        .await
        .unwrap();
    assert_eq!(**rx.borrow_and_update(), 5);

    tokio::time::sleep(INTERVAL * 2 + Duration::from_secs(1)).await;
    assert!(!rx.has_changed().unwrap());
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(**rx.borrow_and_update(), 7);
    assert_eq!(
        handle.stats(),
        WatchStats {
            polls: 4,
            published: 2,
            unchanged: 1,
            ignored: 1,
            ..WatchStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_version_the_hook_cannot_rank_is_an_invalid_config() {
    let record = Record::default();
    let script: Script = |n, _| Ok(json("1").with_version(["\"1\"", "abc", "\"2\""][n.min(2)]));
    let (handle, _rx) = Watcher::builder(ConfigRequest::new("app").with_profile("prod"))
        .interval(INTERVAL)
        .jitter(0.0)
        .numeric_versions()
        .build(number as Decode)
        .unwrap()
        .start(scripted(script, &record))
        .await
        .unwrap();
    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    match handle.status() {
        WatchStatus::Stale {
            cause,
            error,
            failed_polls,
            ..
        } => {
            assert_eq!(cause, StaleCause::InvalidConfig);
            assert_eq!(failed_polls, 1);
            assert!(matches!(error, ConfigError::Validation { .. }), "{error}");
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(INTERVAL).await;
    assert!(handle.status().is_live());
    assert_eq!(handle.stats().published, 2);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_answer_does_not_replace_a_real_value() {
    let record = Record::default();
    let script: Script = |n, _| match n {
        0 => Ok(json("5").with_version("v5")),
        _ => Ok(json("0")
            .with_version("defaults")
            .with_source(Source::Fallback)),
    };
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    rx.borrow_and_update();

    tokio::time::sleep(INTERVAL * 2 + Duration::from_secs(1)).await;

    assert!(!rx.has_changed().unwrap());
    assert_eq!(**rx.borrow(), 5);
    assert_eq!(handle.stats().ignored, 2);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_start_is_replaced_by_the_first_real_value() {
    let record = Record::default();
    let script: Script = |n, start| match n {
        0 => Ok(json("0")
            .with_version("defaults")
            .with_source(Source::Fallback)),
        // Fetched before the fallback answer was made (by another process
        // sharing the cache), yet real.
        _ => Ok(json("5")
            .with_version("v5")
            .with_fetched_at(start - Duration::from_secs(60))
            .with_source(Source::Stale)),
    };
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    assert_eq!(**rx.borrow_and_update(), 0);

    within(INTERVAL + Duration::from_secs(1), rx.changed())
        .await
        .unwrap();

    assert_eq!(**rx.borrow(), 5);
    assert_eq!(handle.stats().ignored, 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_stops_the_watch() {
    let record = Record::default();
    let script: Script = |n, _| Ok(json(&n.to_string()));
    let (handle, mut rx) = watcher().start(scripted(script, &record)).await.unwrap();
    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    assert_eq!(record.calls(), 2);
    assert!(record.service_alive());
    assert!(handle.is_running());

    drop(handle);
    tokio::time::sleep(INTERVAL * 3).await;

    assert_eq!(record.calls(), 2);
    assert!(!record.service_alive());
    assert_eq!(**rx.borrow_and_update(), 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_receiver_stops_the_watch() {
    let record = Record::default();
    let script: Script = |n, _| Ok(json(&n.to_string()));
    let (handle, rx) = watcher().start(scripted(script, &record)).await.unwrap();
    let second = handle.subscribe();
    drop(rx);
    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    assert_eq!(record.calls(), 2);
    assert!(handle.is_running());

    drop(second);
    tokio::time::sleep(INTERVAL * 3).await;

    assert_eq!(record.calls(), 2);
    assert!(!record.service_alive());
    assert!(!handle.is_running());
    assert_eq!(*handle.current(), 1);
}

#[tokio::test(start_paused = true)]
async fn waits_stay_within_the_jitter_bounds() {
    let record = Record::default();
    let script: Script = |n, _| Ok(json(&n.to_string()));
    let start = |seed| {
        Watcher::builder(ConfigRequest::new("app").with_profile("prod"))
            .interval(Duration::from_secs(10))
            .jitter(0.5)
            .seed(seed)
            .build(number)
            .unwrap()
    };
    let (_handle, _rx) = start(7).start(scripted(script, &record)).await.unwrap();

    tokio::time::sleep(Duration::from_secs(1000)).await;

    let calls = record.calls.lock().unwrap().clone();
    let waits: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(waits.len() >= 66, "{} polls in 1000 s", waits.len());
    for wait in &waits {
        assert!(
            (Duration::from_secs(5)..=Duration::from_secs(15)).contains(wait),
            "{wait:?} out of bounds"
        );
    }
    assert!(waits.iter().any(|w| *w < Duration::from_secs(7)));
    assert!(waits.iter().any(|w| *w > Duration::from_secs(13)));

    // The same seed gives the same waits.
    let again = Record::default();
    let (_handle, _rx) = start(7).start(scripted(script, &again)).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1000)).await;
    let calls = again.calls.lock().unwrap().clone();
    let same: Vec<Duration> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(same[..waits.len()], waits[..]);
}

#[tokio::test(start_paused = true)]
async fn a_first_load_that_hangs_times_out() {
    let never = service_fn(|_: ConfigRequest| {
        std::future::pending::<Result<ConfigResponse, ConfigError>>()
    });
    let started = Instant::now();

    let error = watcher().start(never).await.unwrap_err();

    assert!(matches!(error, StartError::TimedOut(d) if d == Duration::from_secs(5)));
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(
        error.to_string(),
        "first config load did not finish within 5s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_first_load_that_fails_returns_its_error() {
    let record = Record::default();
    let script: Script = |_, _| {
        Err(ConfigError::Status {
            code: StatusCode::BAD_GATEWAY,
            retry_after: None,
        })
    };
    let error = watcher()
        .start(scripted(script, &record))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StartError::Load(ConfigError::Status { code, .. }) if code == StatusCode::BAD_GATEWAY)
    );
    assert!(!record.service_alive());

    let script: Script = |_, _| Ok(json("not a number"));
    let error = watcher()
        .start(scripted(script, &record))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        StartError::Load(ConfigError::Validation { .. })
    ));
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Limits {
    max_retries: u32,
}

impl Validate for Limits {
    fn validate(&self) -> Result<(), String> {
        match self.max_retries {
            0..=10 => Ok(()),
            n => Err(format!("max_retries {n} is above 10")),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn serde_decoding_keeps_the_last_valid_value() {
    let record = Record::default();
    let script: Script = |n, _| {
        let (body, version) = [
            (r#"{"max_retries": 3}"#, "v1"),
            (r#"{"max_retries": 99}"#, "v2"),
            (r#"{"max_retries": "many"}"#, "v3"),
            (r#"{"max_retries": 5}"#, "v4"),
        ][n.min(3)];
        Ok(json(body).with_version(version))
    };
    let (handle, mut rx) = Watcher::builder(ConfigRequest::new("app").with_profile("prod"))
        .interval(INTERVAL)
        .jitter(0.0)
        .build_validated::<Limits>()
        .unwrap()
        .start(scripted(script, &record))
        .await
        .unwrap();
    assert_eq!(**rx.borrow_and_update(), Limits { max_retries: 3 });

    tokio::time::sleep(INTERVAL + Duration::from_secs(1)).await;
    assert!(!rx.has_changed().unwrap());
    assert_eq!(
        handle.last_error().unwrap().to_string(),
        "config failed validation: max_retries 99 is above 10"
    );

    tokio::time::sleep(INTERVAL).await;
    assert!(!rx.has_changed().unwrap());
    assert!(matches!(
        handle.last_error(),
        Some(ConfigError::Decode { .. })
    ));

    tokio::time::sleep(INTERVAL).await;
    assert_eq!(**rx.borrow_and_update(), Limits { max_retries: 5 });
    assert_eq!(handle.stats().errors, 2);
}

#[test]
fn nonsense_settings_are_refused() {
    let builder = || Watcher::builder("app");
    assert_eq!(
        builder()
            .interval(Duration::ZERO)
            .build(number)
            .unwrap_err(),
        InvalidWatch::ZeroInterval
    );
    assert_eq!(
        builder().jitter(1.0).build(number).unwrap_err(),
        InvalidWatch::Jitter(1.0)
    );
    assert!(matches!(
        builder().jitter(f64::NAN).build(number).unwrap_err(),
        InvalidWatch::Jitter(j) if j.is_nan()
    ));
    assert_eq!(
        builder().jitter(-0.1).build(number).unwrap_err(),
        InvalidWatch::Jitter(-0.1)
    );
    assert_eq!(
        builder()
            .poll_timeout(Duration::ZERO)
            .build(number)
            .unwrap_err(),
        InvalidWatch::ZeroPollTimeout
    );
    assert_eq!(
        builder().remember_versions(0).build(number).unwrap_err(),
        InvalidWatch::ZeroRememberedVersions
    );
    // 30 s interval with 10 % jitter, 30 s poll timeout: a cycle is 63 s.
    assert_eq!(
        builder()
            .lease_ttl(Duration::from_secs(60))
            .build(number)
            .unwrap_err(),
        InvalidWatch::LeaseTooShort {
            ttl: Duration::from_secs(60),
            min: Duration::from_secs(63),
        }
    );
    assert!(
        builder()
            .lease_ttl(Duration::from_secs(64))
            .build(number)
            .is_ok()
    );
    assert_eq!(
        InvalidWatch::Jitter(1.5).to_string(),
        "watch jitter must be in 0.0..1.0, got 1.5"
    );
    assert!(builder().jitter(0.99).build(number).is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_watch_can_start_on_another_task() {
    let record = Record::default();
    let script: Script = |_, _| Ok(json("4"));
    let source = scripted(script, &record);

    let started = tokio::spawn(async move { watcher().start(source).await });
    let (handle, rx) = started.await.unwrap().unwrap();

    assert_eq!(**rx.borrow(), 4);
    assert_eq!(handle.stats().published, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_poll_is_an_error_after_the_poll_timeout_and_the_next_poll_goes_out() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let record = calls.clone();
    // The second call hangs forever; the others answer.
    let source = service_fn(move |_: ConfigRequest| {
        let n = {
            let mut calls = record.lock().unwrap();
            calls.push(Instant::now());
            calls.len() - 1
        };
        async move {
            if n == 1 {
                std::future::pending::<()>().await;
            }
            Ok::<_, ConfigError>(json(&n.to_string()).with_version(n.to_string()))
        }
    });
    let started = Instant::now();
    let (handle, mut rx) = Watcher::builder(ConfigRequest::new("app").with_profile("prod"))
        .interval(INTERVAL)
        .jitter(0.0)
        .build(number as Decode)
        .unwrap()
        .start(source)
        .await
        .unwrap();
    rx.borrow_and_update();

    // The hung poll goes out after one interval and is cut off after the
    // poll timeout (by default the interval).
    tokio::time::sleep(INTERVAL * 2 - Duration::from_millis(1)).await;
    assert_eq!(handle.stats().errors, 0);
    assert!(handle.status().is_live());
    tokio::time::sleep(Duration::from_millis(2)).await;
    assert_eq!(handle.stats().errors, 1);
    match handle.status() {
        WatchStatus::Stale {
            since,
            cause,
            error,
            failed_polls,
        } => {
            assert_eq!(since - started, INTERVAL * 2);
            assert_eq!(cause, StaleCause::PollTimedOut);
            assert!(matches!(error, ConfigError::Timeout(d) if d == INTERVAL));
            assert_eq!(failed_polls, 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(handle.is_running());

    // The next poll goes out one interval after the timeout.
    within(INTERVAL + Duration::from_secs(1), rx.changed())
        .await
        .unwrap();
    assert_eq!(**rx.borrow(), 2);
    let calls: Vec<Duration> = calls.lock().unwrap().iter().map(|t| *t - started).collect();
    assert_eq!(calls, [Duration::ZERO, INTERVAL, INTERVAL * 3]);
    assert!(handle.status().is_live());
    assert_eq!(
        handle.stats(),
        WatchStats {
            polls: 3,
            published: 2,
            errors: 1,
            ..WatchStats::default()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn the_status_through_an_outage_and_a_recovery() {
    let record = Record::default();
    let script: Script = |n, _| match n {
        0 => Ok(json("1").with_version("v1")),
        1 | 2 => Err(timeout()),
        3 => Err(ConfigError::CircuitOpen(
            steadfast_config::CircuitOpen::new(Duration::from_secs(9)),
        )),
        4 => Ok(json("1").with_version("v1")),
        5 => Err(timeout()),
        _ => Ok(json("2").with_version("v2")),
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let heard = events.clone();
    let started = Instant::now();
    let (handle, _rx) = Watcher::builder(ConfigRequest::new("app").with_profile("prod"))
        .interval(INTERVAL)
        .jitter(0.0)
        .on_event(move |event| {
            if let steadfast_config::watch::WatchEvent::StatusChanged { from, to, .. } = event {
                heard.lock().unwrap().push(format!("{from} -> {to}"));
            }
        })
        .build(number as Decode)
        .unwrap()
        .start(scripted(script, &record))
        .await
        .unwrap();
    assert!(matches!(handle.status(), WatchStatus::Live { since } if since == started));

    tokio::time::sleep(INTERVAL * 3 + Duration::from_secs(1)).await;
    match handle.status() {
        WatchStatus::Stale {
            since,
            cause,
            failed_polls,
            error,
        } => {
            assert_eq!(since - started, INTERVAL, "stale since the first failure");
            assert_eq!(cause, StaleCause::CircuitOpen, "the latest failure's cause");
            assert_eq!(failed_polls, 3);
            assert!(error.to_string().contains("circuit"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        handle.last_error(),
        Some(ConfigError::CircuitOpen(_))
    ));

    // The source answers again (the same version): live since then.
    tokio::time::sleep(INTERVAL).await;
    assert!(
        matches!(handle.status(), WatchStatus::Live { since } if since - started == INTERVAL * 4)
    );
    tokio::time::sleep(INTERVAL * 2).await;
    assert!(handle.status().is_live());
    assert_eq!(handle.stats().errors, 4);

    drop(_rx);
    tokio::time::sleep(INTERVAL).await;
    assert!(handle.status().is_stopped());
    assert_eq!(
        *events.lock().unwrap(),
        [
            "live -> stale (source failing, 1 failed poll): config request timed out after 1s",
            "stale (circuit open, 3 failed polls): circuit open; next probe in 9s -> live",
            "live -> stale (source failing, 1 failed poll): config request timed out after 1s",
            "stale (source failing, 1 failed poll): config request timed out after 1s -> live",
            "live -> stopped",
        ]
    );
}
