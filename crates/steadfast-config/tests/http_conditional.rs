//! Conditional GETs: the source remembers the last ETag and body per key.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use steadfast_config::{
    BuildError, ConfigError, ConfigRequest, DEFAULT_REMEMBERED_BYTES, HttpSource,
};
use support::{Reply, Routes};
use tower::ServiceExt;

const BODY: &str = r#"{"max_retries": 3}"#;

/// Answers 200 with an ETag, then 304 to a matching If-None-Match.
fn revalidating() -> Routes {
    Routes::new().with("/app", |seen| match seen.headers.get("if-none-match") {
        Some(tag) if tag == "\"v1\"" => Reply::status(304).header("etag", "\"v1\""),
        _ => Reply::json(BODY).header("etag", "\"v1\""),
    })
}

#[tokio::test]
async fn not_modified_answers_with_the_remembered_body() {
    let server = revalidating().start().await;
    let source = HttpSource::builder(server.url()).build().unwrap();

    let first = source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(source.remembered(), 1);

    let second = source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(&second.body()[..], BODY.as_bytes());
    assert_eq!(second.version(), Some("v1"));
    assert_eq!(second.format(), first.format());
    assert!(second.fetched_at() > first.fetched_at());

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(!seen[0].headers.contains_key("if-none-match"));
    assert_eq!(seen[1].headers["if-none-match"], "\"v1\"");
}

#[tokio::test]
async fn clones_share_what_they_remember() {
    let server = revalidating().start().await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let other = source.clone();
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    let again = other.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(&again.body()[..], BODY.as_bytes());
    assert_eq!(server.seen()[1].headers["if-none-match"], "\"v1\"");
}

#[tokio::test]
async fn keys_are_remembered_apart() {
    let server = revalidating().start().await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    let labelled = ConfigRequest::new("app").with_label("zone", "a");
    source.clone().oneshot(labelled.clone()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[1].path_and_query, "/app?zone=a");
    assert!(!seen[1].headers.contains_key("if-none-match"));
    assert_eq!(source.remembered(), 2);
    source.forget(&labelled);
    assert_eq!(source.remembered(), 1);
}

#[tokio::test]
async fn a_new_version_replaces_the_remembered_one() {
    let calls = Arc::new(AtomicUsize::new(0));
    let server = {
        let calls = calls.clone();
        Routes::new()
            .with("/app", move |_| {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0 => Reply::json(r#"{"v": 1}"#).header("etag", "\"v1\""),
                    1 => Reply::json(r#"{"v": 2}"#).header("etag", "\"v2\""),
                    2 => Reply::status(304),
                    _ => Reply::json(r#"{"v": 3}"#),
                }
            })
            .start()
            .await
    };
    let source = HttpSource::builder(server.url()).build().unwrap();
    let load = || source.clone().oneshot(ConfigRequest::new("app"));
    assert_eq!(load().await.unwrap().version(), Some("v1"));
    assert_eq!(load().await.unwrap().version(), Some("v2"));
    let not_modified = load().await.unwrap();
    assert_eq!(&not_modified.body()[..], br#"{"v": 2}"#);
    assert_eq!(not_modified.version(), Some("v2"));
    let untagged = load().await.unwrap();
    assert_eq!(untagged.version(), None);
    assert_eq!(source.remembered(), 0);
    let seen = server.seen();
    assert_eq!(seen[1].headers["if-none-match"], "\"v1\"");
    assert_eq!(seen[2].headers["if-none-match"], "\"v2\"");
    assert_eq!(seen[3].headers["if-none-match"], "\"v2\"");
}

#[tokio::test]
async fn without_memory_there_are_no_conditional_gets() {
    let server = revalidating().start().await;
    let source = HttpSource::builder(server.url())
        .remember(0)
        .build()
        .unwrap();
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert!(
        server
            .seen()
            .iter()
            .all(|s| !s.headers.contains_key("if-none-match"))
    );
    assert_eq!(source.remembered(), 0);
}

#[tokio::test]
async fn an_unexpected_not_modified_is_a_status_error() {
    let server = Routes::new().at("/app", Reply::status(304)).start().await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Status {
            code: StatusCode::NOT_MODIFIED,
            retry_after: None
        }
    ));
}

#[tokio::test]
async fn not_modified_answers_with_the_body_it_validated_even_if_evicted_meanwhile() {
    let server = Routes::new()
        .with("/app", |seen| match seen.headers.get("if-none-match") {
            Some(tag) if tag == "\"v1\"" => Reply::status(304)
                .header("etag", "\"v1\"")
                .delay(std::time::Duration::from_millis(300)),
            _ => Reply::json(BODY).header("etag", "\"v1\""),
        })
        .at("/other", Reply::json("{}").header("etag", "\"o1\""))
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .remember(1)
        .build()
        .unwrap();
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();

    let revalidating = tokio::spawn(source.clone().oneshot(ConfigRequest::new("app")));
    while server.seen().len() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    source
        .clone()
        .oneshot(ConfigRequest::new("other"))
        .await
        .unwrap();
    assert_eq!(source.remembered(), 1);

    let second = revalidating.await.unwrap().unwrap();
    assert_eq!(&second.body()[..], BODY.as_bytes());
    assert_eq!(second.version(), Some("v1"));
}

#[tokio::test]
async fn requests_that_differ_never_share_a_key_or_a_remembered_body() {
    let pairs = [
        (
            ConfigRequest::new("app").with_label("a", "1,b=2"),
            ConfigRequest::new("app")
                .with_label("a", "1")
                .with_label("b", "2"),
        ),
        (
            ConfigRequest::new("app@prod"),
            ConfigRequest::new("app").with_profile("prod"),
        ),
        (
            ConfigRequest::new("app").with_profile("p[x=1]"),
            ConfigRequest::new("app")
                .with_profile("p")
                .with_label("x", "1"),
        ),
    ];
    for (one, other) in &pairs {
        assert_ne!(one.key(), other.key());
    }

    let server = Routes::new()
        .at("/app", Reply::json(BODY).header("etag", "\"1\""))
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let (one, other) = &pairs[0];
    source.clone().oneshot(other.clone()).await.unwrap();
    source.clone().oneshot(one.clone()).await.unwrap();
    let seen = server.seen();
    assert_eq!(seen[1].path_and_query, "/app?a=1%2Cb%3D2");
    assert!(!seen[1].headers.contains_key("if-none-match"));
}

/// `n` bytes of JSON: a string of `x`.
fn json_of(n: usize) -> String {
    format!("\"{}\"", "x".repeat(n - 2))
}

#[tokio::test]
async fn remembered_bodies_are_bounded_in_bytes_by_default() {
    const MIB: usize = 1024 * 1024;
    let body = json_of(5 * MIB);
    let mut routes = Routes::new();
    for name in ["a", "b", "c", "d"] {
        routes = routes.at(
            &format!("/{name}"),
            Reply::json(&body).header("etag", "\"1\""),
        );
    }
    let server = routes.start().await;
    let source = HttpSource::builder(server.url())
        .max_body_size(6 * MIB)
        .build()
        .unwrap();
    for name in ["a", "b", "c", "d"] {
        source
            .clone()
            .oneshot(ConfigRequest::new(name))
            .await
            .unwrap();
    }
    // 16 MiB hold three bodies of 5 MiB; the least recently used went.
    assert_eq!(source.remembered(), 3);
    source
        .clone()
        .oneshot(ConfigRequest::new("a"))
        .await
        .unwrap();
    source
        .clone()
        .oneshot(ConfigRequest::new("d"))
        .await
        .unwrap();
    let seen = server.seen();
    assert!(!seen[4].headers.contains_key("if-none-match"));
    assert_eq!(seen[5].headers["if-none-match"], "\"1\"");
}

#[tokio::test]
async fn the_byte_bound_is_set_on_the_builder() {
    let server = Routes::new()
        .at("/a", Reply::json(&json_of(100)).header("etag", "\"1\""))
        .at("/b", Reply::json(&json_of(100)).header("etag", "\"1\""))
        .at("/big", Reply::json(&json_of(300)).header("etag", "\"1\""))
        .start()
        .await;
    // Each small entry holds 1 (key) + 3 (tag) + 1 (version) + 100 bytes.
    let source = HttpSource::builder(server.url())
        .remember_bytes(250)
        .build()
        .unwrap();
    for name in ["a", "b"] {
        source
            .clone()
            .oneshot(ConfigRequest::new(name))
            .await
            .unwrap();
    }
    assert_eq!((source.remembered(), source.remembered_bytes()), (2, 210));

    // A body larger than the whole bound is served but not remembered.
    let big = source
        .clone()
        .oneshot(ConfigRequest::new("big"))
        .await
        .unwrap();
    assert_eq!(big.body().len(), 300);
    assert_eq!((source.remembered(), source.remembered_bytes()), (2, 210));
    assert!(format!("{source:?}").contains("remembered_bytes: 210"));
}

#[test]
fn a_byte_bound_of_zero_is_refused() {
    let error = HttpSource::builder("http://127.0.0.1:1")
        .remember_bytes(0)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            BuildError::InvalidSetting {
                setting: "remember_bytes",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "invalid remember_bytes: must be at least 1 byte; remember(0) turns conditional GETs off"
    );
    assert_eq!(DEFAULT_REMEMBERED_BYTES, 16 * 1024 * 1024);
}
