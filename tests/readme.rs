//! The README's two code samples, run: the preset stack over an HTTP
//! source, and the layers around a plain `http::Request` service.

#[path = "../examples/support/config_server.rs"]
mod config_server;

use std::time::Duration;

use config_server::{ConfigServer, Mode};
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::{CacheLayer, CacheLayerBuilder, MethodUri};
use steadfast::config::{ConfigRequest, HttpSource, Source};
use steadfast::core::BoxError;
use steadfast::fallback::FallbackLayer;
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::timeout::TimeoutLayer;
use steadfast::{Alert, StackBuilder, StartupPolicy, json_fallback};
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)]
struct AppConfig {
    api_url: String,
    timeout_seconds: u64,
}

#[tokio::test]
async fn the_preset_stack() -> Result<(), BoxError> {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let token = "s3cr3t";

    let source = HttpSource::builder(server.base_url())
        .path("/config/{name}/{profile}.json")
        .bearer_token(token)
        .timeout(Duration::from_secs(2))
        .build()?;

    let loader =
        StackBuilder::new()
            .cache(
                CacheLayerBuilder::new()
                    .ttl(Duration::from_secs(300))
                    .stale_while_revalidate(Duration::from_secs(60))
                    .stale_if_error(Duration::from_secs(3600)),
            )
            .retry(RetryLayer::builder().max_attempts(3).backoff(
                Backoff::exponential(Duration::from_secs(1), 2.0).with_jitter(Jitter::Full),
            ))
            .breaker(
                CircuitBreakerLayer::builder()
                    .consecutive_failures(5)
                    .open_duration(Duration::from_secs(60)),
            )
            .decode_as::<AppConfig>()
            .fallback(json_fallback(
                r#"{"api_url":"http://localhost","timeout_seconds":5}"#,
            ))
            .startup(StartupPolicy::Wait(Duration::from_secs(10)))
            .on_alert(|alert: &Alert| tracing::warn!(%alert))
            .build(source)?;

    let app = ConfigRequest::new("app").with_profile("prod");
    let config = loader.start::<AppConfig>(app.clone()).await?;
    assert_eq!(config.api_url, "https://api.example.com/v1");
    let again = loader.load_response(app).await?;
    assert_eq!(again.source(), Source::Cache);
    let metrics = loader.metrics();
    assert_eq!((metrics.primary_loads, metrics.cache_l1_hits), (1, 1));
    Ok(())
}

#[tokio::test]
async fn the_layers_around_any_service() -> Result<(), BoxError> {
    let client = service_fn(|req: http::Request<()>| async move {
        Ok::<_, BoxError>(format!("{} {}", req.method(), req.uri()))
    });
    let ttl = Duration::from_secs(30);
    let default = String::from("default");

    let svc = ServiceBuilder::new()
        .layer(FallbackLayer::value(default))
        .layer(CacheLayer::builder().ttl(ttl).key_fn(MethodUri).build()?)
        .layer(RetryLayer::builder().build()?)
        .layer(
            CircuitBreakerLayer::builder()
                .failure_rate(0.5)
                .count_window(100)
                .build()?,
        )
        .layer(TimeoutLayer::new(Duration::from_secs(2)))
        .service(client);

    let req = http::Request::get("http://config.local/app.json").body(())?;
    assert_eq!(svc.oneshot(req).await?, "GET http://config.local/app.json");
    Ok(())
}

/// The README's code blocks of `lang`, in order.
fn readme_blocks(lang: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        if info.split(',').next() == Some(lang) {
            blocks.push(block.iter().map(|l| format!("{l}\n")).collect());
        }
    }
    blocks
}

#[test]
fn the_fresh_crate_is_the_readme_word_for_word() {
    let manifest = include_str!("fresh-crate/Cargo.toml");
    let main = include_str!("fresh-crate/src/main.rs");
    let toml = &readme_blocks("toml")[0];
    let as_built = toml.replace(
        "steadfast = \"0.1\"",
        "steadfast = { version = \"0.1\", path = \"../..\" }",
    );
    assert!(
        manifest.ends_with(&as_built),
        "tests/fresh-crate/Cargo.toml must end with the README's [dependencies]:\n{as_built}"
    );
    assert_eq!(
        main,
        readme_blocks("rust")[0],
        "tests/fresh-crate/src/main.rs must be the README's first program"
    );
}
