//! The event listener hears what happens, in order.

#[path = "support/source.rs"]
mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_cache::{CacheLayer, Event};
use steadfast_config::ConfigRequest;
use support::TestSource;
use tokio::time::advance;
use tower::{Layer, ServiceExt};

#[tokio::test(start_paused = true)]
async fn the_listener_hears_each_step() {
    let heard = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&heard);
    let source = TestSource::new(Duration::from_secs(1));
    let cache = CacheLayer::builder()
        .ttl(Duration::from_secs(5))
        .stale_while_revalidate(Duration::from_secs(5))
        .on_event(move |event: &Event<'_>| {
            let line = match event {
                Event::Loaded { key, elapsed } => format!("loaded {key} in {elapsed:?}"),
                other => format!("{other:?}"),
            };
            log.lock().unwrap().push(line);
        })
        .build()
        .unwrap()
        .layer(source.clone());

    let (a, b) = tokio::join!(
        cache.clone().oneshot(ConfigRequest::new("app")),
        cache.clone().oneshot(ConfigRequest::new("app")),
    );
    a.unwrap();
    b.unwrap();
    cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    advance(Duration::from_secs(6)).await;
    cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    cache.handle().invalidate(&"app".into()).await.unwrap();

    assert_eq!(
        *heard.lock().unwrap(),
        [
            r#"Miss { key: "app" }"#,
            r#"Coalesced { key: "app" }"#,
            "loaded app in 1s",
            r#"Hit { key: "app" }"#,
            r#"StaleServed { key: "app", reason: Revalidating }"#,
            r#"RefreshStarted { key: "app" }"#,
            r#"Invalidated { key: "app" }"#,
        ]
    );
}
