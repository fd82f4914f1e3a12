//! Each kind of fallback answer: a value, a function of the error, a service.

mod support;

use std::future::{Ready, ready};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_fallback::{Answer, FallbackLayer, FallbackStats};
use support::{answering, body, call, failing, failing_with};
use tower::Layer;

#[tokio::test(start_paused = true)]
async fn value_answers_a_failed_call_with_a_clone() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = FallbackLayer::value(ConfigResponse::new("{\"a\":1}", Format::Json));
    let mut svc = layer.layer(failing(calls.clone()));

    let first = call(&mut svc, "app").await.unwrap();
    let second = call(&mut svc, "app").await.unwrap();

    assert_eq!(body(&first), "{\"a\":1}");
    assert_eq!(first, second);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 2,
            passed: 0,
            failed: 0
        }
    );
}

#[tokio::test(start_paused = true)]
async fn value_leaves_a_successful_call_alone() {
    let layer = FallbackLayer::value(ConfigResponse::new("{}", Format::Json));
    let mut svc = layer.layer(answering("{\"real\":true}"));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(body(&response), "{\"real\":true}");
    assert_eq!(response.version(), Some("app"));
    assert_eq!(layer.handle().stats(), FallbackStats::default());
}

#[tokio::test(start_paused = true)]
async fn function_answers_with_what_it_makes_of_the_error() {
    let layer = FallbackLayer::from_error(|error: &ConfigError| {
        ConfigResponse::new(format!("{{\"reason\":\"{error}\"}}"), Format::Json)
    });
    let mut svc = layer.layer(failing_with(|| {
        ConfigError::Timeout(Duration::from_secs(3))
    }));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(
        body(&response),
        "{\"reason\":\"config request timed out after 3s\"}"
    );
    assert_eq!(layer.handle().used(), 1);
}

#[tokio::test(start_paused = true)]
async fn service_is_called_with_the_same_request() {
    let calls = Arc::new(AtomicUsize::new(0));
    let layer = FallbackLayer::service(answering("{\"from\":\"backup\"}"));
    let mut svc = layer.layer(failing(calls.clone()));

    let response = call(&mut svc, "billing").await.unwrap();

    assert_eq!(body(&response), "{\"from\":\"backup\"}");
    assert_eq!(response.version(), Some("billing"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(layer.handle().used(), 1);
}

#[tokio::test(start_paused = true)]
async fn service_with_makes_its_own_request() {
    let layer =
        FallbackLayer::service_with(answering("{}"), |req: &steadfast_config::ConfigRequest| {
            steadfast_config::ConfigRequest::new(format!("{}-defaults", req.name()))
        });
    let mut svc = layer.layer(failing(Arc::default()));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(response.version(), Some("app-defaults"));
}

#[tokio::test(start_paused = true)]
async fn service_is_not_called_when_the_inner_call_succeeds() {
    let backup_calls = Arc::new(AtomicUsize::new(0));
    let layer = FallbackLayer::service(failing(backup_calls.clone()));
    let mut svc = layer.layer(answering("{}"));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(response.version(), Some("app"));
    assert_eq!(backup_calls.load(Ordering::SeqCst), 0);
    assert_eq!(layer.handle().stats(), FallbackStats::default());
}

#[tokio::test(start_paused = true)]
async fn a_failing_service_returns_its_own_error() {
    let layer = FallbackLayer::service(failing_with(|| ConfigError::NotFound {
        name: "backup".into(),
    }));
    let mut svc = layer.layer(failing_with(|| {
        ConfigError::Timeout(Duration::from_secs(1))
    }));

    let error = call(&mut svc, "app").await.unwrap_err();

    assert!(matches!(error, ConfigError::NotFound { ref name } if &**name == "backup"));
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 1,
            passed: 0,
            failed: 1
        }
    );
}

/// A default for the configuration named `app` only.
#[derive(Clone)]
struct AppOnly;

impl Answer<ConfigRequest, ConfigError> for AppOnly {
    type Response = ConfigResponse;
    type Pending = ConfigRequest;
    type Future = Ready<Result<ConfigResponse, ConfigError>>;

    fn prepare(&mut self, request: &ConfigRequest) -> ConfigRequest {
        request.clone()
    }

    fn answer(request: ConfigRequest, error: &ConfigError) -> Self::Future {
        ready(match request.name() {
            "app" => Ok(ConfigResponse::new("{\"app\":true}", Format::Json)),
            _ => Err(error.clone()),
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_custom_answer_sees_the_request_and_may_decline() {
    let layer = FallbackLayer::new(AppOnly);
    let mut svc = layer.layer(failing_with(|| {
        ConfigError::Timeout(Duration::from_secs(1))
    }));

    let answered = call(&mut svc, "app").await.unwrap();
    let declined = call(&mut svc, "billing").await.unwrap_err();

    assert_eq!(body(&answered), "{\"app\":true}");
    assert!(matches!(declined, ConfigError::Timeout(d) if d == Duration::from_secs(1)));
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 2,
            passed: 0,
            failed: 1
        }
    );
}
