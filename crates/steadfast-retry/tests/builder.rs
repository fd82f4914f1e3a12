//! The builder refuses nonsense with a typed error.

use std::time::Duration;

use steadfast_retry::{Backoff, BuildError, RetryBudget, RetryLayer};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn zero_attempts_are_refused() {
    let error = RetryLayer::builder().max_attempts(0).build().unwrap_err();
    assert_eq!(error, BuildError::ZeroAttempts);
    assert_eq!(error.to_string(), "max attempts must be at least 1");
}

#[test]
fn a_multiplier_below_one_or_not_finite_is_refused() {
    for multiplier in [0.5, -1.0, f64::INFINITY] {
        let error = RetryLayer::builder()
            .backoff(Backoff::exponential(secs(1), multiplier))
            .build()
            .unwrap_err();
        assert_eq!(error, BuildError::Multiplier { multiplier });
    }
    let nan = RetryLayer::builder()
        .backoff(Backoff::exponential(secs(1), f64::NAN))
        .build()
        .unwrap_err();
    assert!(matches!(nan, BuildError::Multiplier { multiplier } if multiplier.is_nan()));
    assert_eq!(
        BuildError::Multiplier { multiplier: 0.5 }.to_string(),
        "backoff multiplier must be finite and at least 1, got 0.5"
    );
}

#[test]
fn a_max_below_the_initial_delay_is_refused() {
    let error = RetryLayer::builder()
        .backoff(Backoff::linear(secs(5), secs(1)).with_max(secs(2)))
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        BuildError::MaxBelowInitial {
            initial: secs(5),
            max: secs(2)
        }
    );
    assert_eq!(
        error.to_string(),
        "maximum delay 2s is shorter than the initial delay 5s"
    );
}

#[test]
fn a_zero_deadline_is_refused() {
    let error = RetryLayer::builder()
        .deadline(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(error, BuildError::ZeroDeadline);
}

#[test]
fn a_budget_out_of_range_is_refused() {
    for percent in [-1.0, 1000.5, f64::INFINITY] {
        let error = RetryLayer::builder()
            .budget(RetryBudget::new(secs(10), 10, percent))
            .build()
            .unwrap_err();
        assert_eq!(error, BuildError::BudgetPercent { percent });
    }
    for ttl in [Duration::from_millis(999), secs(61)] {
        let error = RetryLayer::builder()
            .budget(RetryBudget::new(ttl, 10, 20.0))
            .build()
            .unwrap_err();
        assert_eq!(error, BuildError::BudgetTtl { ttl });
    }
}

#[test]
fn sensible_values_build() {
    let layer = RetryLayer::builder()
        .max_attempts(1)
        .backoff(Backoff::constant(Duration::ZERO))
        .budget(RetryBudget::new(secs(1), 0, 0.0))
        .deadline(Duration::from_millis(1))
        .seed(3)
        .build();
    assert!(layer.is_ok());
    assert_eq!(
        RetryLayer::builder()
            .budget(RetryBudget::new(secs(60), 0, 1000.0))
            .build()
            .map(|_| ()),
        Ok(())
    );
    assert_eq!(Backoff::exponential(secs(60), 2.0).max(), secs(60));
    assert_eq!(Backoff::default().max(), secs(30));
}
