use std::time::Duration;
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigRequest, HttpSource};
use steadfast::core::BoxError;
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, StackBuilder, StartupPolicy, json_fallback};

const FALLBACK: &str = r#"{"api_url":"http://localhost","timeout_seconds":5}"#;

#[derive(serde::Deserialize, Debug)]
struct AppConfig {
    api_url: String,
    timeout_seconds: u64,
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let token = std::env::var("CONFIG_TOKEN")?;
    let source = HttpSource::builder("https://config.example.com")
        .path("/config/{name}/{profile}.json")
        .bearer_token(token) // sensitive: never logged
        .timeout(Duration::from_secs(2)) // per attempt
        .build()?;

    let backoff = Backoff::exponential(Duration::from_secs(1), 2.0).with_jitter(Jitter::Full);

    // Fallback -> Cache -> Retry -> CircuitBreaker -> (check) -> source
    let loader = StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_secs(300))
                .stale_while_revalidate(Duration::from_secs(60))
                .stale_if_error(Duration::from_secs(3600)),
        )
        .retry(RetryLayer::builder().max_attempts(3).backoff(backoff))
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_secs(60)),
        )
        // Invalid bodies: never cached, the last good value kept.
        .decode_as::<AppConfig>()
        .fallback(json_fallback(FALLBACK))
        // Probes the source for up to 10 s, even past an open circuit.
        .startup(StartupPolicy::Wait(Duration::from_secs(10)))
        .on_alert(|alert: &Alert| tracing::warn!(%alert))
        .build(source)?;

    let app = ConfigRequest::new("app").with_profile("prod");
    let config = loader.start::<AppConfig>(app.clone()).await?; // startup policy applies
    println!("started on {}", config.api_url);
    let config = loader.load::<AppConfig>(app).await?; // Arc<AppConfig>, on every request
    let metrics = loader.metrics(); // hits, misses, retries, opens, ...
    println!("timeout {} s; {metrics:?}", config.timeout_seconds);
    Ok(())
}
