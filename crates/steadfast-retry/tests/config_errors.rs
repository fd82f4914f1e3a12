//! The default policy on `ConfigError`: transient failures are retried,
//! failures that would repeat are not.

use std::time::Duration;

use http::StatusCode;
use steadfast_config::ConfigError;
use steadfast_core::CircuitOpen;
use steadfast_retry::{Action, Attempt, DefaultPolicy, Policy};

fn classify(error: ConfigError) -> Action {
    Policy::<(), ConfigError>::classify(&DefaultPolicy, Err(&error), &Attempt::first())
}

fn status(code: u16, retry_after: Option<Duration>) -> ConfigError {
    ConfigError::Status {
        code: StatusCode::from_u16(code).unwrap(),
        retry_after,
    }
}

#[test]
fn transient_failures_are_retried() {
    assert_eq!(classify(ConfigError::transport("refused")), Action::Retry);
    assert_eq!(
        classify(ConfigError::Timeout(Duration::from_secs(2))),
        Action::Retry
    );
    assert_eq!(classify(status(503, None)), Action::Retry);
    assert_eq!(classify(status(500, None)), Action::Retry);
    assert_eq!(
        classify(status(429, Some(Duration::from_secs(9)))),
        Action::RetryAfter(Duration::from_secs(9))
    );
}

#[test]
fn failures_that_would_repeat_stop() {
    assert_eq!(classify(status(400, None)), Action::Stop);
    assert_eq!(classify(status(403, None)), Action::Stop);
    assert_eq!(
        classify(ConfigError::NotFound { name: "app".into() }),
        Action::Stop
    );
    assert_eq!(
        classify(ConfigError::validation("port out of range")),
        Action::Stop
    );
    assert_eq!(
        classify(ConfigError::BodyTooLarge { limit: 1024 }),
        Action::Stop
    );
}

#[test]
fn an_open_circuit_is_retried_only_within_the_next_delay() {
    let open = ConfigError::from(CircuitOpen::new(Duration::from_millis(700)));
    assert_eq!(
        classify(open),
        Action::RetryWithin(Duration::from_millis(700))
    );
    let busy = ConfigError::from(CircuitOpen::new(Duration::ZERO));
    assert_eq!(classify(busy), Action::Retry);
}

#[test]
fn a_response_is_never_retried() {
    assert_eq!(
        Policy::<&str, ConfigError>::classify(&DefaultPolicy, Ok(&"loaded"), &Attempt::first()),
        Action::Stop
    );
}
