//! The cached loader: a configuration source that takes two seconds, behind
//! a `CacheLayer`. Five loads: the first waits for the source, the other
//! four are answered from memory at once.
//!
//! ```text
//! cargo run --example cached
//! ```

use std::time::{Duration, Instant};

use steadfast::cache::CacheLayer;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let slow_source = service_fn(|req: ConfigRequest| async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let body = format!(r#"{{"name":"{}","feature_x":true}}"#, req.name());
        Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json).with_version("v1"))
    });

    let cache = CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .stale_while_revalidate(Duration::from_secs(30))
        .stale_if_error(Duration::from_secs(600))
        .provenance()
        .build()?;
    let handle = cache.handle();
    let loader = ServiceBuilder::new().layer(cache).service(slow_source);

    for n in 1..=5 {
        let started = Instant::now();
        let config = loader
            .clone()
            .oneshot(ConfigRequest::new("app").with_profile("prod"))
            .await?;
        println!(
            "load {n}: {:>10.3?}  source={:<6}  version={}  {} bytes",
            started.elapsed(),
            config.source(),
            config.version().unwrap_or("-"),
            config.body().len(),
        );
    }

    let stats = handle.stats();
    println!(
        "source calls: {}, memory hits: {}, misses: {}",
        stats.loads, stats.l1_hits, stats.misses
    );
    Ok(())
}
