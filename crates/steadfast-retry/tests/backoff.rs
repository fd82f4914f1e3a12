//! Delays: each curve exactly, each jitter within its bounds, and the
//! delays a seeded layer waits.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use steadfast_retry::{Backoff, Jitter, RetryLayer};
use support::{Script, millis, secs};
use tower::{Layer, ServiceExt};

/// The first delays of `backoff` without jitter, in milliseconds.
fn unjittered_ms(backoff: Backoff, n: usize) -> Vec<u128> {
    backoff
        .with_jitter(Jitter::None)
        .delays(1)
        .take(n)
        .map(|d| d.as_millis())
        .collect()
}

#[test]
fn constant_delays() {
    assert_eq!(unjittered_ms(Backoff::constant(millis(250)), 4), [250; 4]);
}

#[test]
fn linear_delays_grow_by_the_step_up_to_the_max() {
    let backoff = Backoff::linear(secs(1), millis(500)).with_max(secs(2));
    assert_eq!(unjittered_ms(backoff, 5), [1000, 1500, 2000, 2000, 2000]);
}

#[test]
fn exponential_delays_multiply_up_to_the_max() {
    let backoff = Backoff::exponential(millis(100), 3.0).with_max(secs(2));
    assert_eq!(unjittered_ms(backoff, 5), [100, 300, 900, 2000, 2000]);
}

#[test]
fn a_huge_exponent_saturates_at_the_max() {
    let backoff = Backoff::exponential(secs(1), 10.0)
        .with_max(secs(60))
        .with_jitter(Jitter::None);
    assert_eq!(backoff.delays(0).nth(400), Some(secs(60)));
}

#[test]
fn the_same_seed_gives_the_same_delays_and_another_seed_others() {
    let backoff = Backoff::exponential(secs(1), 2.0);
    let first: Vec<_> = backoff.delays(42).take(8).collect();
    let again: Vec<_> = backoff.delays(42).take(8).collect();
    let other: Vec<_> = backoff.delays(43).take(8).collect();
    assert_eq!(first, again);
    assert_ne!(first, other);
}

/// A layer waits, before each retry of its first request, exactly the
/// delays `Backoff::delays` gives for its seed.
async fn waits(backoff: Backoff, seed: u64) {
    let layer = RetryLayer::builder()
        .max_attempts(5)
        .backoff(backoff)
        .seed(seed)
        .without_budget()
        .build()
        .unwrap();
    let script = Script::failing(4);
    layer.layer(script.clone()).oneshot("config").await.unwrap();

    let expected: Vec<_> = backoff.delays(seed).take(4).collect();
    assert_eq!(script.gaps(), expected);
    assert_eq!(script.count(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_seeded_layer_waits_the_seeded_full_jitter_delays() {
    waits(Backoff::exponential(secs(1), 2.0), 7).await;
}

#[tokio::test(start_paused = true)]
async fn a_seeded_layer_waits_the_seeded_equal_jitter_delays() {
    waits(
        Backoff::linear(secs(1), secs(1)).with_jitter(Jitter::Equal),
        8,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_seeded_layer_waits_the_seeded_decorrelated_delays() {
    waits(
        Backoff::exponential(millis(200), 2.0)
            .with_max(secs(5))
            .with_jitter(Jitter::Decorrelated),
        9,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_seeded_layer_waits_exact_unjittered_delays() {
    let layer = RetryLayer::builder()
        .max_attempts(4)
        .backoff(Backoff::exponential(secs(1), 2.0).with_jitter(Jitter::None))
        .build()
        .unwrap();
    let script = Script::failing(3);
    layer.layer(script.clone()).oneshot("config").await.unwrap();
    assert_eq!(script.times(), [secs(0), secs(1), secs(3), secs(7)]);
}

/// `min(max, initial * 2^(retry - 1))`.
fn capped(initial: Duration, max: Duration, retry: u32) -> Duration {
    initial.saturating_mul(1 << (retry - 1)).min(max)
}

/// An initial delay from 1 ns to 5 s, a maximum up to 120 s above it, and
/// an exponential backoff over them with `jitter`.
fn backoffs(jitter: Jitter) -> impl Strategy<Value = (Backoff, u64)> {
    (1u64..5_000_000_000, 0u64..120_000_000_000, any::<u64>()).prop_map(
        move |(initial, extra, seed)| {
            let backoff = Backoff::exponential(Duration::from_nanos(initial), 2.0)
                .with_max(Duration::from_nanos(initial + extra))
                .with_jitter(jitter);
            (backoff, seed)
        },
    )
}

proptest! {
    #[test]
    fn full_jitter_stays_within_zero_and_the_capped_curve(
        (backoff, seed) in backoffs(Jitter::Full),
    ) {
        for (n, delay) in backoff.delays(seed).take(12).enumerate() {
            let cap = capped(backoff.initial(), backoff.max(), n as u32 + 1);
            prop_assert!(delay <= cap, "retry {}: {:?} > {:?}", n + 1, delay, cap);
        }
    }

    #[test]
    fn equal_jitter_stays_within_the_upper_half_of_the_capped_curve(
        (backoff, seed) in backoffs(Jitter::Equal),
    ) {
        for (n, delay) in backoff.delays(seed).take(12).enumerate() {
            let cap = capped(backoff.initial(), backoff.max(), n as u32 + 1);
            prop_assert!(delay <= cap, "retry {}: {:?} > {:?}", n + 1, delay, cap);
            prop_assert!(delay >= cap - cap / 2, "retry {}: {:?} < half of {:?}", n + 1, delay, cap);
        }
    }

    #[test]
    fn decorrelated_jitter_stays_between_the_initial_delay_and_three_times_the_last(
        (backoff, seed) in backoffs(Jitter::Decorrelated),
    ) {
        let mut previous = backoff.initial();
        for delay in backoff.delays(seed).take(12) {
            prop_assert!(delay >= backoff.initial());
            prop_assert!(delay <= backoff.max().min(previous * 3));
            previous = delay;
        }
    }
}
