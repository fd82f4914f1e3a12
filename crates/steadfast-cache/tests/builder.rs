//! The builders refuse nonsense with a typed error.

use std::sync::Arc;
use std::time::Duration;

use steadfast_cache::{BuildError, CacheLayer, MAX_WINDOW, MemoryStore};
use steadfast_config::{ConfigError, ConfigResponse};

type Built = Result<CacheLayer<Arc<str>, ConfigResponse, ConfigError>, BuildError>;

fn layer() -> steadfast_cache::CacheLayerBuilder<ConfigResponse, ConfigError> {
    CacheLayer::builder()
}

#[test]
fn every_setting_is_checked() {
    let secs = Duration::from_secs;
    let cases: Vec<(Built, BuildError)> = vec![
        (layer().ttl(Duration::ZERO).build(), BuildError::ZeroTtl),
        (layer().ttl_jitter(1.0).build(), BuildError::InvalidJitter),
        (layer().ttl_jitter(-0.1).build(), BuildError::InvalidJitter),
        (
            layer().ttl_jitter(f64::NAN).build(),
            BuildError::InvalidJitter,
        ),
        (
            layer().ttl(Duration::MAX).build(),
            BuildError::WindowTooLong,
        ),
        (
            layer().stale_if_error(MAX_WINDOW + secs(1)).build(),
            BuildError::WindowTooLong,
        ),
        (
            layer().negative_ttl(Duration::ZERO).build(),
            BuildError::ZeroNegativeTtl,
        ),
        (
            layer().negative_ttl(secs(1)).negative_capacity(0).build(),
            BuildError::ZeroNegativeCapacity,
        ),
        (layer().max_entries(0).build(), BuildError::ZeroCapacity),
        (
            layer()
                .distributed_single_flight(Duration::ZERO, secs(1), secs(1))
                .build(),
            BuildError::ZeroLeaseSetting,
        ),
        (
            layer()
                .distributed_single_flight(secs(1), secs(1), Duration::ZERO)
                .build(),
            BuildError::ZeroLeaseSetting,
        ),
        (
            layer()
                .distributed_single_flight(secs(5), secs(1), secs(2))
                .build(),
            BuildError::PollLongerThanWait,
        ),
    ];
    for (built, expected) in cases {
        assert_eq!(built.unwrap_err(), expected);
    }
}

#[test]
fn sensible_settings_build() {
    let built: Built = layer()
        .ttl(Duration::from_secs(30))
        .ttl_jitter(0.25)
        .stale_while_revalidate(Duration::from_secs(30))
        .stale_if_error(MAX_WINDOW)
        .negative_ttl(Duration::from_secs(5))
        .distributed_single_flight(
            Duration::from_secs(10),
            Duration::from_secs(5),
            Duration::from_millis(50),
        )
        .provenance()
        .build();
    assert!(built.is_ok());
}

#[test]
fn memory_stores_refuse_zero_bounds_and_errors_say_why() {
    assert_eq!(
        MemoryStore::<u64, u64>::new(0).unwrap_err(),
        BuildError::ZeroCapacity
    );
    let weigh = |_: &u64, _: &u64| 1;
    assert_eq!(
        MemoryStore::<u64, u64, _>::with_weigher(0, 10, weigh).unwrap_err(),
        BuildError::ZeroCapacity
    );
    assert_eq!(
        BuildError::InvalidJitter.to_string(),
        "cache TTL jitter must be a fraction in [0, 1)"
    );
    assert_eq!(
        format!("{:>40}", BuildError::ZeroTtl),
        "     cache TTL must be greater than zero"
    );
}
