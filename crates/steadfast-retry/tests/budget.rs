//! The retry budget: refuses when drained, refills over time, is shared by
//! every clone, and allows exactly its share of requests.

mod support;

use std::time::Duration;

use steadfast_retry::{Backoff, Jitter, RetryBudget, RetryLayer};
use support::{Recorder, Script, TestError, secs};
use tower::{Layer, ServiceExt};

fn builder(budget: RetryBudget) -> steadfast_retry::RetryLayerBuilder {
    RetryLayer::builder()
        .max_attempts(2)
        .backoff(Backoff::constant(Duration::ZERO).with_jitter(Jitter::None))
        .budget(budget)
}

/// A floor of one retry per second over 2 s, nothing from requests.
fn floor_only() -> RetryBudget {
    RetryBudget::new(secs(2), 1, 0.0)
}

#[tokio::test(start_paused = true)]
async fn a_drained_budget_refuses_retries() {
    let recorder = Recorder::default();
    let layer = builder(floor_only())
        .on_event(recorder.listener())
        .build()
        .unwrap();
    let script = Script::failing(100);
    let service = layer.layer(script.clone());
    assert_eq!(layer.handle().budget_balance(), Some(2.0));

    for _ in 0..2 {
        let result = service.clone().oneshot("config").await;
        assert!(matches!(result, Err(TestError::Transient(_))));
    }
    assert_eq!(script.count(), 4);
    assert_eq!(layer.handle().budget_balance(), Some(0.0));

    let result = service.clone().oneshot("config").await;
    assert_eq!(result, Err(TestError::Transient(5)));
    assert_eq!(script.count(), 5);
    assert_eq!(recorder.lines().last().unwrap(), "budget refused 1");
    let stats = layer.handle().stats();
    assert_eq!((stats.retries, stats.budget_refusals), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn the_budget_refills_as_retries_leave_the_window() {
    let layer = builder(floor_only()).build().unwrap();
    let script = Script::failing(100);
    let service = layer.layer(script.clone());
    for _ in 0..3 {
        let _ = service.clone().oneshot("config").await;
    }
    assert_eq!(layer.handle().stats().budget_refusals, 1);

    tokio::time::advance(secs(1)).await;
    assert_eq!(layer.handle().budget_balance(), Some(0.0));
    tokio::time::advance(secs(1)).await;
    assert_eq!(layer.handle().budget_balance(), Some(2.0));

    let _ = service.clone().oneshot("config").await;
    let stats = layer.handle().stats();
    assert_eq!((stats.retries, stats.budget_refusals), (3, 1));
}

#[tokio::test(start_paused = true)]
async fn the_budget_is_shared_by_clones_and_services_of_one_layer() {
    let layer = builder(RetryBudget::new(secs(1), 1, 0.0)).build().unwrap();
    let first = Script::failing(100);
    let second = Script::failing(100);
    let service = layer.layer(first.clone());

    let _ = service.clone().oneshot("a").await;
    assert_eq!(first.count(), 2);

    let _ = service.clone().oneshot("b").await;
    assert_eq!(first.count(), 3);
    let _ = layer.layer(second.clone()).oneshot("c").await;
    assert_eq!(second.count(), 1);
    assert_eq!(layer.handle().stats().budget_refusals, 2);
}

#[tokio::test(start_paused = true)]
async fn a_fractional_share_allows_no_more_retries_than_it_says() {
    // 60 % of ten requests is six retries, not ten (tower#857).
    let layer = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::ZERO).with_jitter(Jitter::None))
        .budget(RetryBudget::new(secs(1), 0, 60.0))
        .build()
        .unwrap();
    let ok = layer.layer(Script::new([]));
    for _ in 0..9 {
        ok.clone().oneshot("warm").await.unwrap();
    }
    assert_eq!(layer.handle().budget_balance(), Some(5.4));

    // The tenth request brings the balance to 6.0: six retries, then a
    // refusal.
    let script = Script::failing(100);
    let result = layer.layer(script.clone()).oneshot("config").await;
    assert_eq!(result, Err(TestError::Transient(7)));
    let stats = layer.handle().stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.budget_refusals),
        (10, 6, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn credit_from_requests_expires_after_the_ttl() {
    let layer = builder(RetryBudget::new(secs(1), 0, 50.0)).build().unwrap();
    let ok = layer.layer(Script::new([]));
    for _ in 0..4 {
        ok.clone().oneshot("warm").await.unwrap();
    }
    assert_eq!(layer.handle().budget_balance(), Some(2.0));

    tokio::time::advance(Duration::from_millis(900)).await;
    assert_eq!(layer.handle().budget_balance(), Some(2.0));
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(layer.handle().budget_balance(), Some(0.0));

    let script = Script::failing(100);
    let result = layer.layer(script.clone()).oneshot("config").await;
    assert_eq!(result, Err(TestError::Transient(1)));
    assert_eq!(layer.handle().stats().budget_refusals, 1);
}

#[tokio::test(start_paused = true)]
async fn requests_older_than_the_window_are_not_credited() {
    // Forty requests over 4 s, never looked at until then: only those still
    // in the window count. The window is ten slots of 100 ms and the current
    // one has just begun, so it holds the last 0.9 s: nine requests.
    let layer = builder(RetryBudget::new(secs(1), 0, 100.0))
        .build()
        .unwrap();
    let ok = layer.layer(Script::new([]));
    for _ in 0..40 {
        ok.clone().oneshot("warm").await.unwrap();
        tokio::time::advance(Duration::from_millis(100)).await;
    }
    assert_eq!(layer.handle().budget_balance(), Some(9.0));
}

#[tokio::test(start_paused = true)]
async fn without_a_budget_only_attempts_limit_retries() {
    let layer = RetryLayer::builder()
        .max_attempts(3)
        .backoff(Backoff::constant(Duration::ZERO).with_jitter(Jitter::None))
        .without_budget()
        .build()
        .unwrap();
    let script = Script::failing(100);
    for _ in 0..20 {
        let _ = layer.layer(script.clone()).oneshot("config").await;
    }
    assert_eq!(script.count(), 60);
    assert_eq!(layer.handle().budget_balance(), None);
}

#[tokio::test(start_paused = true)]
async fn requests_spread_over_several_slots_are_credited_in_full() {
    // The first look at the requests comes 1.7 s after the layer was built,
    // so their credit is spread over two slots of 1 s; none of it may be
    // lost to rounding.
    let layer = RetryLayer::builder()
        .max_attempts(10)
        .backoff(Backoff::constant(Duration::ZERO).with_jitter(Jitter::None))
        .budget(RetryBudget::new(secs(10), 0, 60.0))
        .build()
        .unwrap();
    tokio::time::advance(Duration::from_millis(1700)).await;
    let ok = layer.layer(Script::new([]));
    for _ in 0..9 {
        ok.clone().oneshot("warm").await.unwrap();
    }
    assert_eq!(layer.handle().budget_balance(), Some(5.4));

    let script = Script::failing(100);
    let result = layer.layer(script.clone()).oneshot("config").await;
    assert_eq!(result, Err(TestError::Transient(7)));
    let stats = layer.handle().stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.budget_refusals),
        (10, 6, 1)
    );
}

/// 100 %, no floor, a 10 s window.
fn everyone_retries_once() -> RetryBudget {
    RetryBudget::new(secs(10), 0, 100.0)
}

#[tokio::test(start_paused = true)]
async fn requests_arriving_together_after_a_quiet_spell_are_credited_in_full() {
    let layer = builder(everyone_retries_once()).build().unwrap();
    tokio::time::advance(secs(100)).await;

    // Ten requests are in flight at once, then all fail once.
    let script = Script::failing(10).with_latency(Duration::from_millis(1));
    let service = layer.layer(script.clone());
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        calls.spawn(service.clone().oneshot("config"));
    }
    let results = calls.join_all().await;
    assert_eq!(results, vec![Ok("ok"); 10]);
    assert_eq!(script.count(), 20);
    let stats = layer.handle().stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.budget_refusals),
        (10, 10, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn requests_older_than_the_window_fund_no_retry() {
    let layer = RetryLayer::builder()
        .max_attempts(100)
        .backoff(Backoff::constant(Duration::ZERO).with_jitter(Jitter::None))
        .budget(everyone_retries_once())
        .build()
        .unwrap();
    let ok = layer.layer(Script::new([]));
    for _ in 0..100 {
        ok.clone().oneshot("warm").await.unwrap();
    }
    tokio::time::advance(secs(100)).await;
    assert_eq!(layer.handle().budget_balance(), Some(0.0));

    // The new request funds its own retry, and nothing else does.
    let script = Script::failing(100);
    let result = layer.layer(script.clone()).oneshot("config").await;
    assert_eq!(result, Err(TestError::Transient(2)));
    let stats = layer.handle().stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.budget_refusals),
        (101, 1, 1)
    );
}
