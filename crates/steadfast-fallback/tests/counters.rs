//! Counters and events are shared by every clone and every service of one
//! layer.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_config::{ConfigError, ConfigResponse, Format};
use steadfast_fallback::{Event, FallbackLayer, FallbackStats};
use support::{answering, call, failing_with};
use tower::Layer;

#[tokio::test(start_paused = true)]
async fn clones_and_sibling_services_share_counters() {
    let layer = FallbackLayer::value(ConfigResponse::new("{}", Format::Json))
        .when(|error: &ConfigError| error.is_transient());
    let mut first = layer.layer(failing_with(|| ConfigError::Timeout(Duration::ZERO)));
    let mut clone = first.clone();
    let mut sibling = layer.layer(failing_with(|| ConfigError::validation("bad")));
    let mut healthy = layer.layer(answering("{}"));

    call(&mut first, "app").await.unwrap();
    call(&mut clone, "app").await.unwrap();
    call(&mut clone, "app").await.unwrap();
    call(&mut sibling, "app").await.unwrap_err();
    call(&mut healthy, "app").await.unwrap();

    let expected = FallbackStats {
        used: 3,
        passed: 1,
        failed: 0,
    };
    assert_eq!(layer.handle().stats(), expected);
    assert_eq!(first.handle().stats(), expected);
    assert_eq!(sibling.handle().stats(), expected);
}

#[tokio::test(start_paused = true)]
async fn the_listener_hears_each_decision_with_the_error() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    let layer = FallbackLayer::service(failing_with(|| ConfigError::NotFound {
        name: "backup".into(),
    }))
    .when(|error: &ConfigError| error.is_transient())
    .on_event(move |event: &Event<'_, ConfigError>| {
        let line = match event {
            Event::Used { error } => format!("used: {error}"),
            Event::Passed { error } => format!("passed: {error}"),
            Event::Failed { error } => format!("failed: {error}"),
            _ => unreachable!("no other events"),
        };
        log.lock().unwrap().push(line);
    });
    let mut timeout = layer.layer(failing_with(|| {
        ConfigError::Timeout(Duration::from_secs(2))
    }));
    let mut invalid = layer.layer(failing_with(|| ConfigError::validation("bad")));

    call(&mut timeout, "app").await.unwrap_err();
    call(&mut invalid, "app").await.unwrap_err();

    assert_eq!(
        *heard.lock().unwrap(),
        [
            "used: config request timed out after 2s",
            "failed: config \"backup\" not found",
            "passed: config failed validation: bad",
        ]
    );
    assert_eq!(
        layer.handle().stats(),
        FallbackStats {
            used: 1,
            passed: 1,
            failed: 1
        }
    );
}
