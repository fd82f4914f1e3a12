//! A config loader that fails twice and answers on the third attempt, behind
//! a retry layer: 5 attempts at most, 1 s initial delay, multiplier 2, full
//! jitter.
//!
//! The clock is tokio's paused clock, which jumps over each wait, so the
//! seconds of backoff pass at once; the times printed are the virtual ones.
//!
//! ```text
//! cargo run --example retry
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_retry::{Backoff, Event, Jitter, RetryLayer};
use tokio::time::Instant;
use tower::{Service, ServiceBuilder, ServiceExt};

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let retry = RetryLayer::builder()
        .max_attempts(5)
        .backoff(
            Backoff::exponential(Duration::from_secs(1), 2.0)
                .with_max(Duration::from_secs(30))
                .with_jitter(Jitter::Full),
        )
        .seed(2024)
        .on_event(move |event: &Event<'_>| {
            if let Event::Retrying {
                attempt,
                delay,
                error,
            } = event
            {
                let error = error.map(ToString::to_string).unwrap_or_default();
                println!(
                    "[{:>6.3}s] attempt {attempt} failed ({error}); retrying in {delay:?}",
                    start.elapsed().as_secs_f64()
                );
            }
        })
        .build()?;
    let handle = retry.handle();

    // The loader: the config server is down for the first two calls.
    let calls = Arc::new(AtomicU32::new(0));
    let loader = tower::service_fn(move |request: ConfigRequest| {
        let attempt = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            println!(
                "[{:>6.3}s] attempt {attempt}: loading {:?}",
                start.elapsed().as_secs_f64(),
                request.key()
            );
            if attempt <= 2 {
                Err(ConfigError::transport("connection refused"))
            } else {
                Ok(ConfigResponse::new(r#"{"feature": true}"#, Format::Json))
            }
        }
    });

    let mut service = ServiceBuilder::new().layer(retry).service(loader);
    let response = service
        .ready()
        .await?
        .call(ConfigRequest::new("app").with_profile("prod"))
        .await?;

    println!(
        "[{:>6.3}s] loaded {} bytes of {}",
        start.elapsed().as_secs_f64(),
        response.body().len(),
        response.format()
    );
    let stats = handle.stats();
    println!(
        "attempts {}, retries {}, exhausted {}",
        stats.attempts, stats.retries, stats.exhausted
    );
    Ok(())
}
