//! The predicate chooses which errors the fallback answers.

mod support;

use std::time::Duration;

use http::StatusCode;
use steadfast_config::{ConfigError, ConfigResponse, Format};
use steadfast_fallback::{FallbackLayer, FallbackStats};
use support::{body, call, failing_with};
use tower::Layer;

fn layer() -> FallbackLayer<
    steadfast_fallback::Value<ConfigResponse>,
    ConfigResponse,
    ConfigError,
    impl Fn(&ConfigError) -> bool + Clone,
> {
    FallbackLayer::value(ConfigResponse::new("{\"default\":true}", Format::Json))
        .when(|error: &ConfigError| error.is_transient())
}

#[tokio::test(start_paused = true)]
async fn errors_the_predicate_accepts_are_answered() {
    let layer = layer();
    let mut svc = layer.layer(failing_with(|| ConfigError::Status {
        code: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: None,
    }));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(body(&response), "{\"default\":true}");
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 1,
            passed: 0,
            failed: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn errors_the_predicate_refuses_are_returned_as_they_are() {
    let layer = layer();
    let mut svc = layer.layer(failing_with(|| ConfigError::validation("port must be > 0")));

    let error = call(&mut svc, "app").await.unwrap_err();

    assert_eq!(
        error.to_string(),
        "config failed validation: port must be > 0"
    );
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 0,
            passed: 1,
            failed: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn every_error_is_answered_by_default() {
    let layer = FallbackLayer::value(ConfigResponse::new("{}", Format::Json));
    let mut timeout = layer.layer(failing_with(|| ConfigError::Timeout(Duration::ZERO)));
    let mut invalid = layer.layer(failing_with(|| ConfigError::validation("bad")));

    assert!(call(&mut timeout, "app").await.is_ok());
    assert!(call(&mut invalid, "app").await.is_ok());
    assert_eq!(layer.handle().used(), 2);
}
