//! Input that must neither panic nor hold a runtime thread, through the
//! preset stack: large bodies are checked off the runtime's threads, a
//! server's `Retry-After` too large to add to a clock is harmless.

#[path = "../crates/steadfast-config/tests/support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use steadfast::config::{
    BLOCKING_DECODE_SIZE, ConfigError, ConfigRequest, ConfigResponse, Format, HttpSource, Source,
};
use steadfast::{StackBuilder, StartupPolicy, json_fallback};
use support::{Reply, Routes};
use tokio::time::Instant;
use tower::service_fn;

fn body_of(len: usize) -> String {
    let pad = len - r#"{"pad": ""}"#.len();
    format!(r#"{{"pad": "{}"}}"#, "x".repeat(pad))
}

/// Loads a body of `len` bytes through a stack whose check records the
/// thread it ran on.
async fn checked_on(len: usize) -> ThreadId {
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let body = body_of(len);
    let source = service_fn(move |_: ConfigRequest| {
        let body = body.clone();
        async move { Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json)) }
    });
    let loader = StackBuilder::new()
        .without_cache()
        .check(move |response| {
            *record.lock().unwrap() = Some(thread::current().id());
            response.decode::<serde_json::Value>().map(drop)
        })
        .build(source)
        .unwrap();
    let response = loader.load_response("app").await.unwrap();
    assert_eq!(response.body().len(), len);
    seen.lock().unwrap().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_body_is_checked_off_the_runtime_thread() {
    let runtime = thread::current().id();
    assert_eq!(checked_on(BLOCKING_DECODE_SIZE - 1).await, runtime);
    assert_ne!(checked_on(BLOCKING_DECODE_SIZE).await, runtime);
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalid_large_body_is_refused_off_the_runtime_thread() {
    let body = format!("{}x", body_of(BLOCKING_DECODE_SIZE));
    let source = service_fn(move |_: ConfigRequest| {
        let body = body.clone();
        async move { Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json)) }
    });
    let loader = StackBuilder::new().without_retry().build(source).unwrap();
    let error = loader.load_response("app").await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid json config at line 1, column 65537: trailing characters"
    );
    assert_eq!(loader.metrics().invalid_responses, 1);
}

#[tokio::test]
async fn a_retry_after_of_a_hundred_sextillion_seconds_does_not_panic_the_startup_wait() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::status(503).header("retry-after", "99999999999999999999999"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let loader = StackBuilder::new()
        .without_retry()
        .fallback(json_fallback(r#"{"fallback": true}"#))
        .startup(StartupPolicy::Wait(Duration::from_millis(200)))
        .build(source)
        .unwrap();

    let started = Instant::now();
    let value = loader.start::<serde_json::Value>("app").await.unwrap();

    assert_eq!(value["fallback"], true);
    assert!(started.elapsed() >= Duration::from_millis(200));
    // The server asked for more than the wait: it was asked once.
    assert_eq!(server.seen().len(), 1);
    let response = loader.load_response("app").await.unwrap();
    assert_eq!(response.source(), Source::Fallback);
}
