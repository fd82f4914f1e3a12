//! Slow-call rate.

mod support;

use steadfast_breaker::{Cause, CircuitBreakerLayer, Event, State};
use support::*;
use tokio::time::advance;

#[tokio::test(start_paused = true)]
async fn a_slow_call_rate_trips() {
    let events = Events::default();
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .slow_calls(secs(2), 0.5)
            .count_window(4)
            .minimum_calls(4)
            .on_event(events.listener()),
    );

    // Exactly at the threshold is not slow.
    send(&mut svc, ok_after(secs(2))).await.unwrap();
    send(&mut svc, ok_after(secs(1))).await.unwrap();
    send(&mut svc, ok_after(millis(2_001))).await.unwrap();
    assert_eq!(handle.counters().slow, 1);
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, ok_after(secs(3))).await.unwrap();
    assert_eq!(handle.state(), State::Open);
    assert!(matches!(
        events.take().as_slice(),
        [Event::StateChanged {
            cause: Cause::SlowCallRate { slow: 2, calls: 4 },
            ..
        }]
    ));
    let counters = handle.counters();
    assert_eq!(
        (counters.successes, counters.failures, counters.slow),
        (4, 0, 2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_failure_counts_as_both() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .slow_calls(secs(1), 1.0)
            .failure_rate(1.0)
            .count_window(2),
    );

    send(&mut svc, fail_after(secs(5))).await.unwrap_err();
    let window = handle.window().unwrap();
    assert_eq!((window.calls, window.failures, window.slow), (1, 1, 1));
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_slow_probe_counts_as_a_failed_one() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .slow_calls(secs(1), 1.0)
            .open_duration(secs(10)),
    );

    send(&mut svc, FAIL).await.unwrap_err();
    advance(secs(10)).await;
    send(&mut svc, ok_after(secs(2))).await.unwrap();
    assert_eq!(handle.state(), State::Open);
    advance(secs(10)).await;
    send(&mut svc, ok_after(secs(1))).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
}
