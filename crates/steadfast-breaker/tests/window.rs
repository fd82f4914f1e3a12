//! Failure rates over sliding count and time windows.

mod support;

use steadfast_breaker::{Cause, CircuitBreakerLayer, Event, State};
use support::*;
use tokio::time::advance;

#[tokio::test(start_paused = true)]
async fn a_count_window_opens_on_exactly_the_fiftieth_failure_after_ten_thousand_successes() {
    let events = Events::default();
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .count_window(100)
            .failure_rate(0.5)
            .on_event(events.listener()),
    );

    for _ in 0..10_000 {
        send(&mut svc, OK).await.unwrap();
    }
    for _ in 0..49 {
        send(&mut svc, FAIL).await.unwrap_err();
    }
    assert_eq!(handle.state(), State::Closed);
    let window = handle.window().unwrap();
    assert_eq!((window.calls, window.failures), (100, 49));

    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Open);
    assert!(matches!(
        events.take().as_slice(),
        [Event::StateChanged {
            to: State::Open,
            cause: Cause::FailureRate {
                failures: 50,
                calls: 100
            },
            ..
        }]
    ));
}

#[tokio::test(start_paused = true)]
async fn old_outcomes_leave_a_count_window() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .count_window(4)
            .failure_rate(0.75)
            .minimum_calls(4),
    );

    // F F S S: 2 of 4. Then F: the window is F S S F, still 2 of 4.
    for call in [FAIL, FAIL, OK, OK, FAIL] {
        send(&mut svc, call).await.ok();
    }
    assert_eq!(handle.state(), State::Closed);
    let window = handle.window().unwrap();
    assert_eq!((window.calls, window.failures), (4, 2));
    // S S F F → then F: S F F F, 3 of 4.
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn rates_wait_for_the_minimum_number_of_calls() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .count_window(10)
            .failure_rate(0.5)
            .minimum_calls(5),
    );

    for _ in 0..4 {
        send(&mut svc, FAIL).await.unwrap_err();
    }
    assert_eq!(handle.state(), State::Closed);
    // The success that completes the minimum finds 4 failures in 5.
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_time_window_forgets_old_calls() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .time_window(secs(10), 10)
            .failure_rate(0.5)
            .minimum_calls(4),
    );

    for _ in 0..3 {
        send(&mut svc, FAIL).await.unwrap_err();
    }
    assert_eq!(handle.window().unwrap().calls, 3);
    advance(secs(10)).await;
    assert_eq!(handle.window().unwrap().calls, 0);
    for _ in 0..3 {
        send(&mut svc, OK).await.unwrap();
    }
    // 1 failure in 4: the three old failures no longer count.
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
    let window = handle.window().unwrap();
    assert_eq!((window.calls, window.failures), (4, 1));
}

#[tokio::test(start_paused = true)]
async fn a_time_window_keeps_calls_within_its_span() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .time_window(secs(10), 10)
            .failure_rate(0.6)
            .minimum_calls(5),
    );

    for call in [FAIL, FAIL, OK, OK] {
        send(&mut svc, call).await.ok();
    }
    advance(millis(9_999)).await;
    assert_eq!(handle.state(), State::Closed);
    // 3 failures in 5: the calls of 9.999 s ago still count.
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_time_window_slides_bucket_by_bucket() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .time_window(secs(4), 4)
            .failure_rate(0.5)
            .minimum_calls(2),
    );

    // t=0: S S S ; t=2: F ; t=4: the bucket of t=0 leaves, the window holds
    // one failure, and the first call of the new bucket (a success) finds
    // 1 failure in 2 calls.
    for _ in 0..3 {
        send(&mut svc, OK).await.unwrap();
    }
    advance(secs(2)).await;
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
    advance(secs(2)).await;
    let window = handle.window().unwrap();
    assert_eq!((window.calls, window.failures), (1, 1));
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn consecutive_and_rate_policies_combine() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(3)
            .count_window(10)
            .failure_rate(0.5)
            .minimum_calls(10)
            .open_duration(secs(1)),
    );

    // Three in a row trip before the window holds ten calls.
    for _ in 0..3 {
        send(&mut svc, FAIL).await.unwrap_err();
    }
    assert_eq!(handle.state(), State::Open);
    handle.reset();

    // Alternating failures never make three in a row, but reach 50%.
    for _ in 0..4 {
        send(&mut svc, FAIL).await.unwrap_err();
        send(&mut svc, OK).await.unwrap();
    }
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Open);
}

#[tokio::test(start_paused = true)]
async fn a_small_count_window_lowers_the_default_minimum() {
    // With a window of 3, the default minimum of 10 calls could never be met.
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .count_window(3)
            .failure_rate(0.5),
    );
    send(&mut svc, FAIL).await.unwrap_err();
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Open);
}

/// A time window of ten 1 µs buckets.
fn microsecond_buckets() -> steadfast_breaker::Builder {
    CircuitBreakerLayer::builder()
        .time_window(std::time::Duration::from_micros(10), 10)
        .failure_rate(0.5)
        .open_duration(secs(1))
}

#[tokio::test(start_paused = true)]
async fn outcomes_from_before_a_long_idle_gap_stay_out_of_a_time_window() {
    let (handle, mut svc, _) = breaker(microsecond_buckets().minimum_calls(4));
    for call in [FAIL, FAIL, OK] {
        send(&mut svc, call).await.ok();
    }
    assert_eq!(handle.window().unwrap().calls, 3);

    // Exactly 2^32 buckets later, the old bucket comes round again.
    advance(std::time::Duration::from_micros(1 << 32)).await;
    let window = handle.window().unwrap();
    assert_eq!((window.calls, window.failures), (0, 0));
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
    let window = handle.window().unwrap();
    assert_eq!((window.calls, window.failures), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_time_window_keeps_counting_after_two_to_the_31_buckets() {
    let (handle, mut svc, _) = breaker(microsecond_buckets().minimum_calls(2));
    advance(std::time::Duration::from_micros(3 << 30)).await;
    for _ in 0..2 {
        send(&mut svc, FAIL).await.unwrap_err();
    }
    assert_eq!(handle.state(), State::Open);

    // A probe closes the circuit and clears the window, which must count
    // again afterwards.
    advance(secs(1)).await;
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
    for _ in 0..2 {
        send(&mut svc, FAIL).await.unwrap_err();
    }
    assert_eq!(handle.state(), State::Open);
}

/// Sends `calls` through `builder`'s breaker: the circuit stays closed
/// until the last one, which opens it for `cause`.
async fn opens_on_the_last_of(builder: steadfast_breaker::Builder, calls: &[Call], cause: Cause) {
    let events = Events::default();
    let (handle, mut svc, _) = breaker(builder.on_event(events.listener()));
    let (last, before) = calls.split_last().unwrap();
    for call in before {
        send(&mut svc, *call).await.ok();
        assert_eq!(handle.state(), State::Closed);
    }
    send(&mut svc, *last).await.ok();
    assert_eq!(handle.state(), State::Open);
    assert!(matches!(
        events.take().as_slice(),
        [Event::StateChanged { from: State::Closed, to: State::Open, cause: c, .. }] if *c == cause
    ));
}

/// F F F S S at one instant: 3 failures in 5.
const THREE_FAILURES_THEN_TWO_SUCCESSES: [Call; 5] = [FAIL, FAIL, FAIL, OK, OK];

const THREE_OF_FIVE: Cause = Cause::FailureRate {
    failures: 3,
    calls: 5,
};

#[tokio::test(start_paused = true)]
async fn a_success_that_completes_the_minimum_of_a_time_window_opens_it() {
    let builder = CircuitBreakerLayer::builder()
        .time_window(secs(1), 10)
        .failure_rate(0.5)
        .minimum_calls(5);
    opens_on_the_last_of(builder, &THREE_FAILURES_THEN_TWO_SUCCESSES, THREE_OF_FIVE).await;
}

#[tokio::test(start_paused = true)]
async fn a_count_window_opens_on_the_same_calls() {
    let builder = CircuitBreakerLayer::builder()
        .count_window(10)
        .failure_rate(0.5)
        .minimum_calls(5);
    opens_on_the_last_of(builder, &THREE_FAILURES_THEN_TWO_SUCCESSES, THREE_OF_FIVE).await;
}

#[tokio::test(start_paused = true)]
async fn a_fast_call_that_completes_the_minimum_of_a_time_window_opens_it_on_slow_calls() {
    let builder = CircuitBreakerLayer::builder()
        .time_window(secs(10), 10)
        .slow_calls(millis(100), 0.5)
        .minimum_calls(5);
    let slow = ok_after(millis(150));
    let calls = [slow, slow, slow, OK, OK];
    opens_on_the_last_of(builder, &calls, Cause::SlowCallRate { slow: 3, calls: 5 }).await;
}

#[tokio::test(start_paused = true)]
async fn a_time_window_that_fell_below_the_minimum_opens_when_a_success_reaches_it_again() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .time_window(secs(4), 4)
            .failure_rate(0.5)
            .minimum_calls(4),
    );

    // t=0: S; t=1: F F, 2 failures in 3 calls, under the minimum.
    send(&mut svc, OK).await.unwrap();
    advance(secs(1)).await;
    send(&mut svc, FAIL).await.unwrap_err();
    send(&mut svc, FAIL).await.unwrap_err();
    // t=4: the success of t=0 has left; S makes 3 calls, S makes 4 with
    // 2 failures: 50 %.
    advance(secs(3)).await;
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Open);
}
