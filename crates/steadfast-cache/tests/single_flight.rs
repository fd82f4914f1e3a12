//! Single flight: one load per cold key, its value or error for every
//! waiter, and no caller going away strands the others.

#[path = "support/source.rs"]
mod support;

use std::time::Duration;

use http::StatusCode;
use steadfast_cache::CacheLayer;
use steadfast_config::{ConfigError, ConfigRequest};
use steadfast_core::BoxError;
use support::{TestSource, body, build, get, text};
use tokio::task::JoinSet;
use tokio::time::advance;
use tower::{Layer, Service, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn a_thousand_cold_callers_make_one_load_and_all_get_the_value() {
    let source = TestSource::new(Duration::from_secs(2));
    let cache = build(&source, CacheLayer::builder());
    let handle = cache.handle();

    let mut callers = JoinSet::new();
    for _ in 0..1000 {
        let cache = cache.clone();
        callers.spawn(async move { get(&cache, "app").await });
    }
    let mut answers = 0;
    while let Some(answer) = callers.join_next().await {
        assert_eq!(text(&answer.unwrap().unwrap()), body("app", 1));
        answers += 1;
    }
    assert_eq!(answers, 1000);
    assert_eq!(source.calls(), 1);
    let stats = handle.stats();
    assert_eq!(stats.loads, 1);
    assert_eq!(stats.misses, 1);
    assert_eq!(stats.coalesced, 999);
    assert_eq!(handle.loads_in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_error_reaches_every_waiter_as_itself() {
    let source = TestSource::new(Duration::from_secs(1));
    source.fail(ConfigError::Status {
        code: StatusCode::BAD_GATEWAY,
        retry_after: Some(Duration::from_secs(3)),
    });
    let cache = build(&source, CacheLayer::builder());

    let mut callers = JoinSet::new();
    for _ in 0..1000 {
        let cache = cache.clone();
        callers.spawn(async move { get(&cache, "app").await });
    }
    let mut failures = 0;
    while let Some(answer) = callers.join_next().await {
        match answer.unwrap() {
            Err(ConfigError::Status { code, retry_after }) => {
                assert_eq!(code, StatusCode::BAD_GATEWAY);
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
                failures += 1;
            }
            other => panic!("expected the source's error, got {other:?}"),
        }
    }
    assert_eq!(failures, 1000);
    assert_eq!(source.calls(), 1);

    // Nothing was cached: the next call loads again.
    source.succeed();
    let res = get(&cache, "app").await.unwrap();
    assert_eq!(text(&res), body("app", 2));
}

#[tokio::test(start_paused = true)]
async fn boxed_errors_are_shared_without_clone() {
    #[derive(Debug)]
    struct Broken;
    impl std::fmt::Display for Broken {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("broken")
        }
    }
    impl std::error::Error for Broken {}

    let layer = CacheLayer::builder().key_fn(|k: &u64| *k).build().unwrap();
    let cache = layer.layer(service_fn(|_: u64| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Err::<String, BoxError>(Box::new(Broken))
    }));
    let (a, b) = tokio::join!(cache.clone().oneshot(7), cache.clone().oneshot(7));
    for error in [a.unwrap_err(), b.unwrap_err()] {
        assert_eq!(error.to_string(), "broken");
    }
    assert_eq!(layer.handle().stats().loads, 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_first_caller_does_not_strand_the_others() {
    let source = TestSource::new(Duration::from_secs(2));
    let cache = build(&source, CacheLayer::builder());
    let handle = cache.handle();

    let leader = tokio::spawn(cache.clone().oneshot(ConfigRequest::new("app")));
    tokio::task::yield_now().await;
    let follower = tokio::spawn(cache.clone().oneshot(ConfigRequest::new("app")));
    tokio::task::yield_now().await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());

    let res = follower.await.unwrap().unwrap();
    assert_eq!(text(&res), body("app", 1));
    // Only the follower was answered: it joined the load the leader began.
    let stats = handle.stats();
    assert_eq!((stats.misses, stats.coalesced, stats.answered()), (0, 1, 1));
    assert_eq!(source.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_load_every_caller_left_still_fills_the_cache() {
    let source = TestSource::new(Duration::from_secs(2));
    let cache = build(&source, CacheLayer::builder());

    let gone = tokio::time::timeout(
        Duration::from_millis(500),
        cache.clone().oneshot(ConfigRequest::new("app")),
    )
    .await;
    assert!(gone.is_err());
    advance(Duration::from_secs(2)).await;
    tokio::task::yield_now().await;

    let res = get(&cache, "app").await.unwrap();
    assert_eq!(text(&res), body("app", 1));
    assert_eq!(source.calls(), 1);
    assert_eq!(cache.handle().stats().l1_hits, 1);
}

#[tokio::test(start_paused = true)]
async fn a_load_that_panics_fails_its_waiters_instead_of_hanging() {
    let layer = CacheLayer::builder().key_fn(|k: &u64| *k).build().unwrap();
    let handle = layer.handle();
    let cache = layer.layer(service_fn(|k: u64| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if k == 1 {
            panic!("source bug");
        }
        Ok::<_, BoxError>(k)
    }));
    let (a, b) = tokio::join!(cache.clone().oneshot(1), cache.clone().oneshot(1));
    for error in [a.unwrap_err(), b.unwrap_err()] {
        assert_eq!(error.to_string(), "cache load ended without an answer");
    }
    assert_eq!(handle.loads_in_flight(), 0);
    assert_eq!(cache.oneshot(2).await.unwrap(), 2);
}

#[test]
fn a_load_dropped_before_it_ran_does_not_strand_its_key() {
    let layer = CacheLayer::builder().key_fn(|k: &u64| *k).build().unwrap();
    let handle = layer.handle();
    let cache = layer.layer(service_fn(|k: u64| async move { Ok::<_, BoxError>(k) }));

    // The load is spawned, but its runtime goes away before it runs.
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pending = {
        let _entered = first.enter();
        cache.clone().call(1)
    };
    drop(first);
    drop(pending);

    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = second.block_on(cache.oneshot(1));
    assert_eq!(answer.unwrap(), 1);
    assert_eq!(handle.loads_in_flight(), 0);
}
