//! The whole stack reporting to Prometheus: `metrics-exporter-prometheus`
//! serves `/metrics` on loopback while a loader goes through a scripted
//! outage of its config server (healthy, down, back), then the example
//! prints the `steadfast_` series a scrape returns.
//!
//! ```text
//! cargo run --example prometheus            # serves on 127.0.0.1:9184
//! STEADFAST_METRICS_ADDR=127.0.0.1:9999 cargo run --example prometheus
//! ```
//!
//! The load latency histogram (`steadfast_loader_load_duration_seconds`,
//! by `outcome`) is on through `StackBuilder::load_latency`.

#[path = "support/config_server.rs"]
mod config_server;

use std::net::SocketAddr;
use std::time::Duration;

use config_server::{ConfigServer, Mode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigRequest, HttpSource};
use steadfast::core::BoxError;
use steadfast::latency::LOAD_DURATION;
use steadfast::retry::{Backoff, RetryLayer};
use steadfast::{Metrics, StackBuilder, json_fallback};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The histogram's buckets, in seconds.
const BUCKETS: [f64; 7] = [0.0001, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5];

/// Installs the Prometheus recorder (process-wide) with its `/metrics`
/// listener on `addr`.
pub fn install_exporter(addr: SocketAddr) -> Result<(), BoxError> {
    PrometheusBuilder::new()
        .with_http_listener(addr)
        .set_buckets_for_metric(Matcher::Full(LOAD_DURATION.to_owned()), &BUCKETS)?
        .install()?;
    Ok(())
}

/// The scripted outage through a loader: three loads of `app` while the
/// server is healthy, three more once it is down and the cached value has
/// expired, one of `flags` (never loaded) meanwhile, then one of `app` once
/// it is back and the circuit's open time has passed. Returns the loader's
/// own snapshot of its counters.
pub async fn scripted_outage() -> Result<Metrics, BoxError> {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let source = HttpSource::builder(server.base_url())
        .path("/config/{name}.json")
        .timeout(Duration::from_millis(500))
        .build()?;
    let loader = StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_millis(300))
                .stale_if_error(Duration::from_secs(60)),
        )
        .retry(
            RetryLayer::builder()
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(20))),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(4)
                .open_duration(Duration::from_millis(500)),
        )
        .fallback(json_fallback(r#"{"feature_x": false}"#))
        .load_latency(true)
        .build(source)?;
    let app = ConfigRequest::new("app");

    for _ in 0..3 {
        loader.load_response(app.clone()).await?;
    }
    server.set_mode(Mode::Down);
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..3 {
        loader.load_response(app.clone()).await?;
    }
    loader.load_response(ConfigRequest::new("flags")).await?;
    server.set_mode(Mode::Healthy);
    tokio::time::sleep(Duration::from_millis(600)).await;
    loader.load_response(app).await?;
    Ok(loader.metrics())
}

/// The body of `GET /metrics` on `addr`.
pub async fn scrape(addr: SocketAddr) -> Result<String, BoxError> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .ok_or("the scrape answered no body")?;
    Ok(body)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let addr: SocketAddr = std::env::var("STEADFAST_METRICS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:9184".to_owned())
        .parse()?;
    install_exporter(addr)?;
    let metrics = scripted_outage().await?;
    println!("loader: {metrics:?}\n");
    println!("GET http://{addr}/metrics (steadfast series):");
    for line in scrape(addr).await?.lines() {
        if line.starts_with("steadfast_") {
            println!("  {line}");
        }
    }
    Ok(())
}
