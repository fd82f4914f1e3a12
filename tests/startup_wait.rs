//! `StartupPolicy::Wait` on a source that keeps failing fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast::{StackBuilder, StartupPolicy};
use tokio::time::Instant;
use tower::service_fn;

#[tokio::test(start_paused = true)]
async fn a_wait_that_runs_out_returns_the_sources_last_error() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = calls.clone();
    let source = service_fn(move |_: ConfigRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err::<ConfigResponse, _>(ConfigError::Timeout(Duration::from_millis(7)))
        }
    });
    let loader = StackBuilder::new()
        .without_retry()
        .without_breaker()
        .without_timeout()
        .startup(StartupPolicy::Wait(Duration::from_secs(1)))
        .build(source)
        .unwrap();

    let started = Instant::now();
    let error = loader.start::<serde_json::Value>("app").await.unwrap_err();

    assert_eq!(started.elapsed(), Duration::from_secs(1));
    // Attempts at 0, 150, 400 and 850 ms; none is started at the deadline,
    // where it could only be cut off.
    assert!(
        matches!(error, ConfigError::Timeout(d) if d == Duration::from_millis(7)),
        "{error}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(loader.metrics().primary_loads, 4);
}
