//! The watcher polling through the whole stack: it publishes new versions,
//! keeps the last good one when the source fails, and never goes back to an
//! older one (a fallback answer after a real value is ignored).
//!
//! A real HTTP server on loopback: real clock, short intervals, generous
//! margins.

#[path = "../examples/support/config_server.rs"]
mod config_server;

use std::time::Duration;

use config_server::{ConfigServer, Mode};
use serde::Deserialize;
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::watch::Watcher;
use steadfast::config::{ConfigResponse, HttpSource};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{StackBuilder, json_fallback};

#[derive(Debug, Deserialize, PartialEq)]
struct App {
    version: u64,
}

#[tokio::test]
async fn the_watcher_sees_new_versions_and_never_an_older_one() {
    let server = ConfigServer::start(Mode::Healthy, Duration::ZERO).await;
    let source = HttpSource::builder(server.base_url())
        .path("/config/{name}.json")
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let loader = StackBuilder::new()
        .cache(CacheLayerBuilder::new().ttl(Duration::from_millis(20)))
        .retry(
            RetryLayer::builder()
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_millis(1)).with_jitter(Jitter::None)),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(5)
                .open_duration(Duration::from_millis(100)),
        )
        .without_timeout()
        .decode_as::<App>()
        .fallback(json_fallback(r#"{"version":0}"#))
        .build(source)
        .unwrap();

    let (handle, mut versions) = Watcher::builder("app")
        .interval(Duration::from_millis(30))
        .jitter(0.2)
        .seed(3)
        .build(|response: &ConfigResponse| response.decode::<App>())
        .unwrap()
        .start(loader.clone())
        .await
        .unwrap();
    assert_eq!(versions.borrow().version, 1);

    server.bump_version();
    tokio::time::timeout(Duration::from_secs(5), versions.changed())
        .await
        .expect("the new version is published")
        .unwrap();
    assert_eq!(versions.borrow_and_update().version, 2);

    // The source goes down: the stack answers with its fallback (version
    // 0), which the watcher must not publish over version 2.
    server.set_mode(Mode::Down);
    let errors_before = handle.stats();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!versions.has_changed().unwrap());
    assert_eq!(handle.current().version, 2);
    let stats = handle.stats();
    assert!(stats.ignored > errors_before.ignored, "{stats:?}");
    assert!(loader.metrics().fallback_uses > 0);

    // Back up with a newer version: published.
    server.bump_version();
    server.set_mode(Mode::Healthy);
    tokio::time::timeout(Duration::from_secs(5), versions.changed())
        .await
        .expect("the newer version is published")
        .unwrap();
    assert_eq!(versions.borrow().version, 3);
    assert_eq!(handle.stats().published, 3);
}
