//! The HTTP source on a reqwest client (feature `reqwest`).
#![cfg(feature = "reqwest")]

mod support;

use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, HttpSource, ReqwestClient};
use support::{Reply, Routes};
use tower::ServiceExt;

#[tokio::test]
async fn loads_through_reqwest_with_the_same_rules() {
    let server = Routes::new()
        .at("/app", Reply::json(r#"{"a": 1}"#).header("etag", "\"r1\""))
        .with("/again", |seen| match seen.headers.get("if-none-match") {
            Some(_) => Reply::status(304),
            None => Reply::json("{}").header("etag", "\"r2\""),
        })
        .at("/big", Reply::json(&" ".repeat(300)))
        .at("/slow", Reply::json("{}").delay(Duration::from_secs(5)))
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .bearer_token("t")
        .max_body_size(200)
        .timeout(Duration::from_millis(100))
        .build_with(ReqwestClient::new(reqwest::Client::new()))
        .unwrap();
    let load = |name: &str| source.clone().oneshot(ConfigRequest::new(name));

    let response = load("app").await.unwrap();
    assert_eq!(&response.body()[..], br#"{"a": 1}"#);
    assert_eq!(response.version(), Some("r1"));
    load("again").await.unwrap();
    let not_modified = load("again").await.unwrap();
    assert_eq!(not_modified.version(), Some("r2"));
    assert!(matches!(
        load("big").await.unwrap_err(),
        ConfigError::BodyTooLarge { limit: 200 }
    ));
    assert!(matches!(
        load("slow").await.unwrap_err(),
        ConfigError::Timeout(_)
    ));
    assert!(matches!(
        load("none").await.unwrap_err(),
        ConfigError::NotFound { .. }
    ));
    let seen = server.seen();
    assert_eq!(seen[0].headers["authorization"], "Bearer t");
    assert_eq!(seen[2].headers["if-none-match"], "\"r2\"");
}
