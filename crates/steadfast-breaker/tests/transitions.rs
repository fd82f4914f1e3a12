//! Every transition of the circuit, with its events and counters.

mod support;

use steadfast_breaker::{Cause, CircuitBreakerLayer, Counters, Event, State};
use support::*;
use tokio::time::advance;
use tower::ServiceExt;

#[tokio::test(start_paused = true)]
async fn closed_opens_half_opens_and_closes() {
    let events = Events::default();
    let (handle, mut svc, reached) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(3)
            .open_duration(secs(10))
            .on_event(events.listener()),
    );

    assert_eq!(send(&mut svc, OK).await, Ok("done"));
    assert_eq!(send(&mut svc, FAIL).await, Err(TestError::Inner));
    assert_eq!(send(&mut svc, FAIL).await, Err(TestError::Inner));
    assert_eq!(handle.consecutive_failures(), 2);
    assert_eq!(send(&mut svc, OK).await, Ok("done"));
    assert_eq!(handle.consecutive_failures(), 0);
    for _ in 0..3 {
        assert_eq!(send(&mut svc, FAIL).await, Err(TestError::Inner));
    }
    assert_eq!(handle.state(), State::Open);
    assert_eq!(handle.retry_in(), Some(secs(10)));
    assert_eq!(reached.get(), 7);

    // Open: rejected without reaching the inner service.
    assert_eq!(send(&mut svc, OK).await, open(secs(10)));
    advance(secs(4)).await;
    assert_eq!(send(&mut svc, OK).await, open(secs(6)));
    assert_eq!(reached.get(), 7);

    advance(secs(6)).await;
    assert_eq!(handle.state(), State::HalfOpen);
    assert_eq!(send(&mut svc, OK).await, Ok("done"));
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(reached.get(), 8);

    assert_eq!(
        events.take(),
        vec![
            changed(
                State::Closed,
                State::Open,
                Cause::ConsecutiveFailures { failures: 3 },
                Some(secs(10))
            ),
            Event::Rejected {
                state: State::Open,
                retry_in: secs(10)
            },
            Event::Rejected {
                state: State::Open,
                retry_in: secs(6)
            },
            changed(State::Open, State::HalfOpen, Cause::OpenElapsed, None),
            changed(
                State::HalfOpen,
                State::Closed,
                Cause::ProbesSucceeded { successes: 1 },
                None
            ),
        ]
    );
    let mut expected = Counters::default();
    expected.calls = 8;
    expected.successes = 3;
    expected.failures = 5;
    expected.rejected = 2;
    expected.opened = 1;
    expected.half_opened = 1;
    expected.closed = 1;
    assert_eq!(handle.counters(), expected);
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens() {
    let events = Events::default();
    let (handle, mut svc, reached) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .open_duration(secs(5))
            .on_event(events.listener()),
    );

    assert_eq!(send(&mut svc, FAIL).await, Err(TestError::Inner));
    advance(secs(5)).await;
    assert_eq!(send(&mut svc, FAIL).await, Err(TestError::Inner));
    assert_eq!(handle.state(), State::Open);
    assert_eq!(send(&mut svc, OK).await, open(secs(5)));
    assert_eq!(reached.get(), 2);
    assert_eq!(
        events.take(),
        vec![
            changed(
                State::Closed,
                State::Open,
                Cause::ConsecutiveFailures { failures: 1 },
                Some(secs(5))
            ),
            changed(State::Open, State::HalfOpen, Cause::OpenElapsed, None),
            changed(
                State::HalfOpen,
                State::Open,
                Cause::ProbesFailed {
                    successes: 0,
                    failures: 1
                },
                Some(secs(5))
            ),
            Event::Rejected {
                state: State::Open,
                retry_in: secs(5)
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn closing_starts_a_fresh_streak() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(2)
            .open_duration(secs(1)),
    );

    send(&mut svc, FAIL).await.unwrap_err();
    send(&mut svc, FAIL).await.unwrap_err();
    advance(secs(1)).await;
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(handle.consecutive_failures(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_call_admitted_before_a_trip_does_not_move_the_new_state() {
    let (handle, svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .open_duration(secs(10)),
    );

    // A slow call is admitted while closed, then the circuit opens, half-opens
    // and closes before it finishes: its failure belongs to the old period.
    let slow = tokio::spawn(svc.clone().oneshot(fail_after(secs(20))));
    tokio::task::yield_now().await;
    let mut other = svc.clone();
    send(&mut other, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Open);
    advance(secs(10)).await;
    send(&mut other, OK).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(slow.await.unwrap(), Err(TestError::Inner));
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(handle.counters().failures, 2);
}
