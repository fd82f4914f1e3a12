//! The whole stack against a flaky config server.
//!
//! A config server on loopback follows a fixed fault schedule: every 10th
//! request hangs (the attempt times out), every 7th answers 500, every 15th
//! is slow. Twenty loads go through Fallback -> Cache -> Retry ->
//! CircuitBreaker -> Timeout -> HttpSource; each line shows how long the
//! load took and where its answer came from. Halfway through the server
//! publishes a new version. Near the end the server goes
//! down: the cached config is served stale, and a config that was never
//! loaded is answered by the fallback.
//!
//! ```text
//! cargo run --example comprehensive
//! ```

#[path = "support/config_server.rs"]
mod config_server;

use std::time::Duration;

use config_server::{ConfigServer, Mode, RemoteAppConfig};
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigRequest, HttpSource};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{StackBuilder, json_fallback};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = ConfigServer::start(Mode::Flaky, Duration::from_millis(150)).await;
    println!("config server on {} (fault schedule on)", server.base_url());

    let source = HttpSource::builder(server.base_url())
        .path("/config/{name}.json")
        .timeout(Duration::from_millis(250))
        .build()?;

    let loader = StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_millis(40))
                .stale_if_error(Duration::from_secs(60)),
        )
        .retry(
            RetryLayer::builder()
                .max_attempts(3)
                .backoff(
                    Backoff::exponential(Duration::from_millis(20), 2.0)
                        .with_max(Duration::from_millis(200))
                        .with_jitter(Jitter::Equal),
                )
                .seed(7),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_secs(1)),
        )
        .without_timeout()
        .validate_as::<RemoteAppConfig>()
        .fallback(json_fallback(
            r#"{"api_url":"https://fallback.example.com","timeout_seconds":10,"max_retries":1,"enable_caching":false,"debug_mode":false}"#,
        ))
        .build(source)?;

    let started = Instant::now();
    for n in 1..=20 {
        if n == 8 {
            let version = server.bump_version();
            println!("-- the config server publishes version {version} --");
        }
        if n == 16 {
            server.set_mode(Mode::Down);
            println!("-- the config server goes down --");
        }
        let name = if n >= 19 { "feature-flags" } else { "app" };
        let at = Instant::now();
        match loader.load_response(ConfigRequest::new(name)).await {
            Ok(response) => {
                let config = response.decode::<RemoteAppConfig>()?;
                println!(
                    "load {n:>2} {name:<13} {:>6.1} ms  {:<8} version {:<6} api_url {}",
                    at.elapsed().as_secs_f64() * 1000.0,
                    response.source().as_str(),
                    response.version().unwrap_or("-"),
                    config.api_url,
                );
            }
            Err(error) => println!(
                "load {n:>2} {name:<13} {:>6.1} ms  error: {error}",
                at.elapsed().as_secs_f64() * 1000.0
            ),
        }
        // Every third load comes right after the one before (a cache hit);
        // the others come after the cached copy expired.
        let pause = if n % 3 == 2 { 5 } else { 60 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }

    let m = loader.metrics();
    println!();
    println!("20 loads in {:.2} s", started.elapsed().as_secs_f64());
    println!("requests that reached the server: {}", server.requests());
    println!("cache_l1_hits         {}", m.cache_l1_hits);
    println!("cache_l2_hits         {}", m.cache_l2_hits);
    println!("cache_misses          {}", m.cache_misses);
    println!("cache_coalesced       {}", m.cache_coalesced);
    println!("primary_loads         {}", m.primary_loads);
    println!("retries               {}", m.retries);
    println!("stale_served          {}", m.stale_served);
    println!("fallback_uses         {}", m.fallback_uses);
    println!("errors                {}", m.errors);
    println!("circuit_breaker_opens {}", m.circuit_breaker_opens);
    println!("invalid_responses     {}", m.invalid_responses);
    println!("l2_errors             {}", m.l2_errors);
    Ok(())
}
