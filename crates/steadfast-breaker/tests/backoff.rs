//! Open durations that back off on repeated trips, with seeded jitter.

mod support;

use std::time::Duration;

use steadfast_breaker::{CircuitBreakerLayer, Event, State};
use support::*;
use tokio::time::advance;

/// The open duration of each trip, failing every probe `trips - 1` times.
async fn open_durations(
    layer: CircuitBreakerLayer,
    events: &Events,
    trips: usize,
) -> Vec<Duration> {
    let handle = layer.handle();
    let (mut svc, _) = service(&layer);
    send(&mut svc, FAIL).await.unwrap_err();
    for _ in 1..trips {
        advance(handle.retry_in().unwrap()).await;
        send(&mut svc, FAIL).await.unwrap_err();
    }
    assert_eq!(handle.state(), State::Open);
    events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Event::StateChanged { open_for, .. } => open_for,
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn repeated_trips_back_off_up_to_the_cap_and_closing_restarts() {
    let events = Events::default();
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .open_duration(secs(1))
        .open_backoff(2.0, secs(5))
        .on_event(events.listener())
        .build()
        .unwrap();
    let handle = layer.handle();
    assert_eq!(
        open_durations(layer.clone(), &events, 5).await,
        vec![secs(1), secs(2), secs(4), secs(5), secs(5)]
    );
    // A probe that succeeds closes; the next trip starts from the beginning.
    let (mut svc, _) = service(&layer);
    advance(secs(5)).await;
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.state(), State::Closed);
    send(&mut svc, FAIL).await.unwrap_err();
    assert_eq!(handle.retry_in(), Some(secs(1)));
}

fn jittered(seed: u64, events: &Events) -> CircuitBreakerLayer {
    CircuitBreakerLayer::builder()
        .consecutive_failures(1)
        .open_duration(secs(10))
        .jitter(0.5)
        .seed(seed)
        .on_event(events.listener())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn jitter_stays_in_bounds_and_follows_the_seed() {
    let events = Events::default();
    let first = open_durations(jittered(7, &events), &events, 20).await;
    let again = open_durations(jittered(7, &events), &events, 20).await;
    let other = open_durations(jittered(8, &events), &events, 20).await;
    assert_eq!(first.len(), 20);
    assert_eq!(first, again);
    assert_ne!(first, other);
    for open in first.iter().chain(&other) {
        assert!(
            (secs(5)..=secs(15)).contains(open),
            "{open:?} outside 10 s ± 50%"
        );
    }
    // The durations do spread: not all on one side of the base.
    assert!(first.iter().any(|d| *d < secs(10)));
    assert!(first.iter().any(|d| *d > secs(10)));
}

#[tokio::test(start_paused = true)]
async fn jitter_on_an_open_duration_at_the_largest_duration_does_not_overflow() {
    for seed in 0..8 {
        let events = Events::default();
        let layer = CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .open_duration(secs(1))
            .open_backoff(f64::MAX, Duration::MAX)
            .jitter(0.5)
            .seed(seed)
            .on_event(events.listener())
            .build()
            .unwrap();
        let durations = open_durations(layer, &events, 2).await;
        assert_eq!(durations.len(), 2, "seed {seed}");
        assert!(durations[1] >= Duration::MAX / 2, "seed {seed}");
    }
}
