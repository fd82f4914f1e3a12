//! The builder rejects nonsense with a typed error.

use std::time::Duration;

use steadfast_breaker::{BuildError, CircuitBreakerLayer};

fn err(builder: steadfast_breaker::Builder) -> BuildError {
    builder.build().unwrap_err()
}

fn builder() -> steadfast_breaker::Builder {
    CircuitBreakerLayer::builder()
}

#[test]
fn rates_must_be_in_zero_one() {
    for bad in [0.0, -0.5, 1.01, f64::NAN] {
        assert!(matches!(
            err(builder().failure_rate(bad)),
            BuildError::InvalidRate {
                name: "failure rate",
                ..
            }
        ));
        assert!(matches!(
            err(builder().slow_calls(Duration::from_secs(1), bad)),
            BuildError::InvalidRate {
                name: "slow-call rate",
                ..
            }
        ));
        assert!(matches!(
            err(builder().half_open_success_ratio(bad)),
            BuildError::InvalidRate {
                name: "half-open success ratio",
                ..
            }
        ));
    }
    assert!(builder().failure_rate(1.0).build().is_ok());
}

#[test]
fn zero_counts_are_rejected() {
    assert_eq!(
        err(builder().consecutive_failures(0)),
        BuildError::Zero {
            name: "consecutive failures"
        }
    );
    assert_eq!(
        err(builder().failure_rate(0.5).count_window(0)),
        BuildError::Zero {
            name: "count window"
        }
    );
    assert_eq!(
        err(builder()
            .failure_rate(0.5)
            .time_window(Duration::from_secs(10), 0)),
        BuildError::Zero { name: "buckets" }
    );
    assert_eq!(
        err(builder().failure_rate(0.5).minimum_calls(0)),
        BuildError::Zero {
            name: "minimum calls"
        }
    );
    assert_eq!(
        err(builder().half_open_probes(0)),
        BuildError::Zero {
            name: "half-open probes"
        }
    );
}

#[test]
fn zero_durations_are_rejected() {
    assert_eq!(
        err(builder().open_duration(Duration::ZERO)),
        BuildError::ZeroDuration {
            name: "open duration"
        }
    );
    assert_eq!(
        err(builder().failure_rate(0.5).time_window(Duration::ZERO, 10)),
        BuildError::ZeroDuration {
            name: "time window"
        }
    );
    assert_eq!(
        err(builder().slow_calls(Duration::ZERO, 0.5)),
        BuildError::ZeroDuration {
            name: "slow-call threshold"
        }
    );
    assert_eq!(
        err(builder().half_open_max_wait(Duration::ZERO)),
        BuildError::ZeroDuration {
            name: "half-open wait"
        }
    );
}

#[test]
fn windows_and_backoff_must_be_coherent() {
    assert_eq!(
        err(builder().failure_rate(0.5).count_window(5).minimum_calls(6)),
        BuildError::MinimumCallsExceedWindow {
            minimum_calls: 6,
            window: 5
        }
    );
    assert_eq!(
        err(builder()
            .failure_rate(0.5)
            .time_window(Duration::from_nanos(5), 10)),
        BuildError::WindowTooShort { buckets: 10 }
    );
    assert!(matches!(
        err(builder().open_backoff(0.5, Duration::from_secs(600))),
        BuildError::InvalidMultiplier { .. }
    ));
    assert_eq!(
        err(builder().open_backoff(2.0, Duration::from_secs(1))),
        BuildError::MaxOpenBelowOpen
    );
    for bad in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(
            err(builder().jitter(bad)),
            BuildError::InvalidJitter { .. }
        ));
    }
}

#[test]
fn errors_explain_themselves() {
    assert_eq!(
        err(builder().failure_rate(2.0)).to_string(),
        "circuit breaker: failure rate must be in (0, 1], got 2"
    );
    assert_eq!(
        err(builder().half_open_probes(0)).to_string(),
        "circuit breaker: half-open probes must be at least 1"
    );
}

#[test]
fn windows_too_large_to_allocate_are_refused() {
    use steadfast_breaker::{MAX_BUCKETS, MAX_COUNT_WINDOW};
    assert_eq!(
        err(builder().failure_rate(0.5).count_window(u32::MAX)),
        BuildError::TooLarge {
            name: "count window",
            value: u32::MAX,
            max: MAX_COUNT_WINDOW
        }
    );
    assert_eq!(
        err(builder()
            .failure_rate(0.5)
            .time_window(Duration::from_secs(3600), u32::MAX)),
        BuildError::TooLarge {
            name: "buckets",
            value: u32::MAX,
            max: MAX_BUCKETS
        }
    );
    assert_eq!(
        err(builder().failure_rate(0.5).count_window(u32::MAX)).to_string(),
        "circuit breaker: count window must be at most 1048576, got 4294967295"
    );
    // The largest accepted sizes build.
    builder()
        .failure_rate(0.5)
        .count_window(MAX_COUNT_WINDOW)
        .build()
        .unwrap();
    builder()
        .failure_rate(0.5)
        .time_window(Duration::from_secs(3600), MAX_BUCKETS)
        .build()
        .unwrap();
}
