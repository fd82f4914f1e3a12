//! Half-open probes: how many pass, dropped probes, the maximum wait and the
//! success ratio.

mod support;

use std::time::Duration;

use steadfast_breaker::{Cause, CircuitBreakerLayer, Event, State};
use support::*;
use tokio::time::advance;
use tower::{Service, ServiceExt};

fn tripped_layer(probes: u32) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .open_duration(secs(1))
        .half_open_probes(probes)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_hundred_concurrent_callers_let_exactly_the_probes_through() {
    let layer = tripped_layer(3);
    let handle = layer.handle();
    let (svc, reached) = service(&layer);
    send(&mut svc.clone(), FAIL).await.unwrap_err();
    advance(secs(1)).await;

    let mut calls = Vec::new();
    for _ in 0..100 {
        let mut caller = svc.clone();
        caller.ready().await.unwrap();
        calls.push(caller.call(ok_after(secs(5))));
    }
    assert_eq!(reached.get(), 1 + 3);
    let mut passed = 0;
    let mut rejected = 0;
    for call in calls {
        match call.await {
            Ok(_) => passed += 1,
            Err(e) => {
                assert_eq!(
                    e,
                    TestError::Open(steadfast_core::CircuitOpen::new(Duration::ZERO))
                );
                rejected += 1;
            }
        }
    }
    assert_eq!((passed, rejected), (3, 97));
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(handle.counters().rejected, 97);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_gives_its_permit_back() {
    let layer = tripped_layer(1);
    let handle = layer.handle();
    let (svc, reached) = service(&layer);
    send(&mut svc.clone(), FAIL).await.unwrap_err();
    advance(secs(1)).await;

    let mut first = svc.clone();
    first.ready().await.unwrap();
    let probe = first.call(ok_after(secs(5)));
    // While the probe runs, everyone else is rejected.
    let mut second = svc.clone();
    assert_eq!(send(&mut second, OK).await, open(Duration::ZERO));
    drop(probe);
    assert_eq!(send(&mut second, OK).await, Ok("done"));
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(reached.get(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_ready_service_dropped_before_its_call_gives_its_permit_back() {
    let layer = tripped_layer(1);
    let (svc, _) = service(&layer);
    send(&mut svc.clone(), FAIL).await.unwrap_err();
    advance(secs(1)).await;

    let mut holder = svc.clone();
    holder.ready().await.unwrap();
    let mut other = svc.clone();
    assert_eq!(send(&mut other, OK).await, open(Duration::ZERO));
    // A clone of the holder does not inherit its permit.
    let mut copy = holder.clone();
    assert_eq!(send(&mut copy, OK).await, open(Duration::ZERO));
    drop(holder);
    assert_eq!(send(&mut other, OK).await, Ok("done"));
}

#[tokio::test(start_paused = true)]
async fn probes_that_never_finish_reopen_after_the_maximum_wait() {
    let events = Events::default();
    let (handle, svc, reached) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .open_duration(secs(2))
            .half_open_max_wait(secs(5))
            .on_event(events.listener()),
    );
    send(&mut svc.clone(), FAIL).await.unwrap_err();
    advance(secs(2)).await;

    let mut prober = svc.clone();
    prober.ready().await.unwrap();
    let stuck = prober.call(ok_after(secs(3600)));
    let mut other = svc.clone();
    advance(millis(4_999)).await;
    assert_eq!(send(&mut other, OK).await, open(Duration::ZERO));
    assert_eq!(handle.state(), State::HalfOpen);
    advance(millis(1)).await;
    assert_eq!(send(&mut other, OK).await, open(secs(2)));
    assert_eq!(handle.state(), State::Open);
    // The stuck probe, finishing later, belongs to the old half-open period.
    drop(stuck);
    assert_eq!(reached.get(), 2);
    let changes: Vec<_> = events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Event::StateChanged { to, cause, .. } => Some((to, cause)),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        vec![
            (State::Open, Cause::ConsecutiveFailures { failures: 1 }),
            (State::HalfOpen, Cause::OpenElapsed),
            (State::Open, Cause::HalfOpenTimeout),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn reading_the_state_applies_the_maximum_wait() {
    let (handle, svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .open_duration(secs(2))
            .half_open_max_wait(secs(5)),
    );
    send(&mut svc.clone(), FAIL).await.unwrap_err();
    advance(secs(2)).await;
    assert_eq!(handle.state(), State::HalfOpen);
    advance(secs(5)).await;
    assert_eq!(handle.state(), State::Open);
    assert_eq!(handle.retry_in(), Some(secs(2)));
}

/// Four probes, finishing one second apart in the given order.
async fn probe_round(ratio: f64, script: [bool; 4]) -> Vec<State> {
    let (handle, svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .open_duration(secs(10))
            .half_open_probes(4)
            .half_open_success_ratio(ratio),
    );
    send(&mut svc.clone(), FAIL).await.unwrap_err();
    advance(secs(10)).await;

    let mut probes = Vec::new();
    for (i, fail) in script.into_iter().enumerate() {
        let mut prober = svc.clone();
        prober.ready().await.unwrap();
        let call = Call {
            fail,
            delay: secs(i as u64 + 1),
        };
        probes.push(tokio::spawn(prober.call(call)));
    }
    let mut states = Vec::new();
    for probe in probes {
        probe.await.unwrap().ok();
        states.push(handle.state());
    }
    states
}

#[tokio::test(start_paused = true)]
async fn a_success_ratio_closes_once_reached() {
    use State::*;
    // Half must succeed: F S F S closes on the fourth.
    assert_eq!(
        probe_round(0.5, [true, false, true, false]).await,
        vec![HalfOpen, HalfOpen, HalfOpen, Closed]
    );
    // S S closes on the second.
    assert_eq!(
        probe_round(0.5, [false, false, true, true]).await,
        vec![HalfOpen, Closed, Closed, Closed]
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_ratio_reopens_once_out_of_reach() {
    use State::*;
    // Half must succeed: a third failure makes two successes out of reach.
    assert_eq!(
        probe_round(0.5, [true, true, true, false]).await,
        vec![HalfOpen, HalfOpen, Open, Open]
    );
    // Every probe must succeed (the default): the first failure reopens.
    assert_eq!(
        probe_round(1.0, [false, true, false, false]).await,
        vec![HalfOpen, Open, Open, Open]
    );
}
