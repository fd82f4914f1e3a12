//! A monitored loader: the whole stack over an HTTP config server, with an
//! alert listener that prints what an operator would want to hear about as
//! it happens. Each alert starts or ends an episode: a key whose source
//! fails (served stale or by the fallback meanwhile), a key on its
//! fallback, the circuit open. An episode's end tells how long it lasted
//! and how the requests it covered were answered; nothing is repeated per
//! request.
//!
//! The server is flaky first (every 10th request hangs, every 7th answers
//! 500, every 15th is slow), then down for 1.6 s, then healthy again
//! with a new version. Loads of `app` and `db` alternate every 100 ms (each
//! is cached for 300 ms); while the server is down `flags`, never loaded
//! before, is asked for too.
//!
//! ```text
//! cargo run --example monitored
//! ```

#[path = "support/config_server.rs"]
mod config_server;

use std::time::{Duration, Instant};

use config_server::{ConfigServer, Mode};
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigRequest, HttpSource};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, StackBuilder, json_fallback};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = ConfigServer::start(Mode::Flaky, Duration::from_millis(150)).await;
    let source = HttpSource::builder(server.base_url())
        .path("/config/{name}.json")
        .timeout(Duration::from_millis(250))
        .build()?;

    let started = Instant::now();
    let loader = StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_millis(300))
                .stale_if_error(Duration::from_secs(60)),
        )
        .retry(
            RetryLayer::builder().max_attempts(3).backoff(
                Backoff::exponential(Duration::from_millis(20), 2.0)
                    .with_max(Duration::from_millis(200))
                    .with_jitter(Jitter::Equal),
            ),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_secs(1)),
        )
        .timeout(Duration::from_millis(300))
        .fallback(json_fallback(r#"{"defaults":true}"#))
        .on_alert(move |alert: &Alert| {
            let at = started.elapsed().as_secs_f64();
            let what = if alert.is_start() { "ALERT" } else { "ENDED" };
            println!("{at:5.2} s  {what}  {alert}");
        })
        .build(source)?;

    let phases = [
        (Mode::Flaky, Duration::from_millis(2000)),
        (Mode::Down, Duration::from_millis(1600)),
        (Mode::Healthy, Duration::from_millis(1300)),
    ];
    let mut n = 0;
    for (mode, length) in phases {
        server.set_mode(mode);
        if mode == Mode::Healthy {
            server.bump_version();
        }
        let at = started.elapsed().as_secs_f64();
        println!("{at:5.2} s  -- server {mode:?} --");
        let until = Instant::now() + length;
        while Instant::now() < until {
            n += 1;
            let name = match n % 4 {
                0 if mode == Mode::Down => "flags",
                0 | 2 => "db",
                _ => "app",
            };
            let load_started = Instant::now();
            let result = loader.load_response(ConfigRequest::new(name)).await;
            let at = started.elapsed().as_secs_f64();
            let took = load_started.elapsed().as_secs_f64() * 1000.0;
            match result {
                Ok(response) => println!(
                    "{at:5.2} s  load {name:<5} {took:6.1} ms  {:<8} version {}",
                    response.source().as_str(),
                    response.version().unwrap_or("-").trim_matches('"'),
                ),
                Err(error) => println!("{at:5.2} s  load {name:<5} {took:6.1} ms  error: {error}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let m = loader.metrics();
    println!();
    println!("requests that reached the server: {}", server.requests());
    for (name, value) in [
        ("cache_l1_hits", m.cache_l1_hits),
        ("cache_l2_hits", m.cache_l2_hits),
        ("cache_misses", m.cache_misses),
        ("cache_coalesced", m.cache_coalesced),
        ("stale_served", m.stale_served),
        ("fallback_uses", m.fallback_uses),
        ("errors", m.errors),
        ("  answered (the sum above)", m.answered()),
        ("primary_loads", m.primary_loads),
        ("retries", m.retries),
        ("circuit_breaker_opens", m.circuit_breaker_opens),
        ("circuit_breaker_rejections", m.circuit_breaker_rejections),
        ("invalid_responses", m.invalid_responses),
        ("l2_errors", m.l2_errors),
    ] {
        println!("{name:<27} {value}");
    }
    Ok(())
}
