//! Manual control through the handle.

mod support;

use std::time::Duration;

use steadfast_breaker::{Cause, CircuitBreakerLayer, Event, State};
use support::*;
use tokio::time::advance;

#[tokio::test(start_paused = true)]
async fn force_open_rejects_until_reset() {
    let events = Events::default();
    let (handle, mut svc, reached) = breaker(
        CircuitBreakerLayer::builder()
            .open_duration(secs(1))
            .on_event(events.listener()),
    );

    handle.force_open();
    assert_eq!(handle.state(), State::ForcedOpen);
    assert_eq!(handle.retry_in(), Some(Duration::MAX));
    advance(secs(3600)).await;
    assert_eq!(send(&mut svc, OK).await, open(Duration::MAX));
    assert_eq!(handle.state(), State::ForcedOpen);
    handle.reset();
    assert_eq!(send(&mut svc, OK).await, Ok("done"));
    assert_eq!(reached.get(), 1);
    assert_eq!(
        events.take(),
        vec![
            Event::StateChanged {
                from: State::Closed,
                to: State::ForcedOpen,
                cause: Cause::Forced,
                open_for: None
            },
            Event::Rejected {
                state: State::ForcedOpen,
                retry_in: Duration::MAX
            },
            Event::StateChanged {
                from: State::ForcedOpen,
                to: State::Closed,
                cause: Cause::Reset,
                open_for: None
            },
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn force_closed_disables_the_breaker_but_keeps_counting() {
    let (handle, mut svc, reached) =
        breaker(CircuitBreakerLayer::builder().consecutive_failures(2));

    send(&mut svc, FAIL).await.unwrap_err();
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Open);
    handle.force_closed();
    assert_eq!(handle.state(), State::Disabled);
    for _ in 0..10 {
        assert_eq!(send(&mut svc, FAIL).await, Err(TestError::Inner));
    }
    assert_eq!(handle.state(), State::Disabled);
    assert_eq!(reached.get(), 12);
    assert_eq!(handle.counters().failures, 12);
    handle.force_open();
    assert_eq!(handle.state(), State::ForcedOpen);
}

#[tokio::test(start_paused = true)]
async fn reset_clears_the_streak_and_the_window_but_not_the_counters() {
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(3)
            .count_window(10)
            .failure_rate(0.5),
    );

    send(&mut svc, OK).await.unwrap();
    send(&mut svc, FAIL).await.unwrap_err();
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.consecutive_failures(), 2);
    assert_eq!(handle.window().unwrap().calls, 3);
    handle.reset();
    assert_eq!(handle.state(), State::Closed);
    assert_eq!(handle.consecutive_failures(), 0);
    assert_eq!(handle.window().unwrap().calls, 0);
    assert_eq!(handle.counters().calls, 3);
    send(&mut svc, FAIL).await.unwrap_err();
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_service_hands_out_the_same_circuit() {
    let layer = CircuitBreakerLayer::builder()
        .name("config")
        .build()
        .unwrap();
    let breaker = tower::Layer::layer(
        &layer,
        tower::service_fn(|()| async { Ok::<_, TestError>(()) }),
    );
    breaker.handle().force_open();
    assert_eq!(layer.handle().state(), State::ForcedOpen);
    assert_eq!(breaker.handle().name(), "config");
}

#[tokio::test(start_paused = true)]
async fn forcing_the_state_the_circuit_is_in_changes_nothing() {
    let events = Events::default();
    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .consecutive_failures(3)
            .on_event(events.listener()),
    );

    handle.force_open();
    handle.force_open();
    assert_eq!(handle.state(), State::ForcedOpen);
    handle.force_closed();
    handle.force_closed();
    assert_eq!(handle.state(), State::Disabled);
    handle.reset();
    // Resetting a closed circuit clears its streak but is no transition.
    send(&mut svc, FAIL).await.unwrap_err();
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.consecutive_failures(), 2);
    handle.reset();
    assert_eq!(handle.consecutive_failures(), 0);
    assert_eq!(handle.state(), State::Closed);

    assert_eq!(
        events.take(),
        vec![
            changed(State::Closed, State::ForcedOpen, Cause::Forced, None),
            changed(State::ForcedOpen, State::Disabled, Cause::Forced, None),
            changed(State::Disabled, State::Closed, Cause::Reset, None),
        ]
    );
    let counters = handle.counters();
    assert_eq!(
        (counters.opened, counters.half_opened, counters.closed),
        (1, 0, 2)
    );
}
