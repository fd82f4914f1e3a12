//! The HTTP source against a real server: statuses, formats, URLs, headers.

mod support;

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;
use steadfast_config::{ConfigError, ConfigRequest, Failure, Format, HttpSource, Source};
use support::{Reply, Routes};
use tower::ServiceExt;

#[derive(Debug, Deserialize, PartialEq)]
struct App {
    api_url: String,
    max_retries: u32,
}

async fn load(
    source: &HttpSource,
    req: ConfigRequest,
) -> Result<steadfast_config::ConfigResponse, ConfigError> {
    source.clone().oneshot(req).await
}

#[tokio::test]
async fn ok_json_is_loaded_from_the_templated_url() {
    let server = Routes::new()
        .at(
            "/config/app/prod",
            Reply::json(r#"{"api_url": "https://api", "max_retries": 3}"#).header("etag", "\"v1\""),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .path("/config/{name}/{profile}")
        .header("x-tenant", "blue")
        .build()
        .unwrap();
    let req = ConfigRequest::new("app")
        .with_profile("prod")
        .with_label("region", "eu west");
    let response = load(&source, req).await.unwrap();
    assert_eq!(response.format(), Format::Json);
    assert_eq!(response.version(), Some("v1"));
    assert!(!response.is_weak_version());
    assert_eq!(response.source(), Source::Origin);
    assert_eq!(
        response.decode::<App>().unwrap(),
        App {
            api_url: "https://api".into(),
            max_retries: 3
        }
    );

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path_and_query, "/config/app/prod?region=eu%20west");
    assert_eq!(seen[0].headers["x-tenant"], "blue");
    assert!(
        seen[0].headers["accept"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(!seen[0].headers.contains_key("if-none-match"));
}

#[tokio::test]
async fn a_missing_config_is_not_found() {
    let server = Routes::new().start().await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let error = load(&source, ConfigRequest::new("nothing"))
        .await
        .unwrap_err();
    support::assert_not_found(&error, "nothing");
}

#[tokio::test]
async fn a_server_error_is_a_transient_status() {
    let server = Routes::new().at("/app", Reply::status(500)).start().await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let error = load(&source, ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Status {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: None
        }
    ));
    assert!(error.is_transient());
}

#[tokio::test]
async fn too_many_requests_carries_retry_after() {
    let server = Routes::new()
        .at("/seconds", Reply::status(429).header("retry-after", "7"))
        .at(
            "/date",
            Reply::status(503).header("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();

    let error = load(&source, ConfigRequest::new("seconds"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Status { code: StatusCode::TOO_MANY_REQUESTS, retry_after: Some(d) }
            if d == Duration::from_secs(7)
    ));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(error.is_transient());

    let error = load(&source, ConfigRequest::new("date")).await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(error.retry_after(), Some(Duration::ZERO));
}

#[tokio::test]
async fn other_statuses_are_permanent() {
    let server = Routes::new()
        .at("/forbidden", Reply::status(403).header("retry-after", "5"))
        .at(
            "/moved",
            Reply::status(301).header("location", "/elsewhere"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let error = load(&source, ConfigRequest::new("forbidden"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Status {
            code: StatusCode::FORBIDDEN,
            retry_after: None
        }
    ));
    assert!(!error.is_transient());
    // With redirects off, a redirect is a status like another.
    let source = HttpSource::builder(server.url())
        .max_redirects(0)
        .build()
        .unwrap();
    let error = load(&source, ConfigRequest::new("moved"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::MOVED_PERMANENTLY));
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_wrong_content_type_is_rejected() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::status(200)
                .header("content-type", "text/html; charset=utf-8")
                .body(b"<html>login</html>"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let error = load(&source, ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(
        &error,
        ConfigError::UnsupportedFormat { content_type: Some(ct) } if &**ct == "text/html; charset=utf-8"
    ));
    assert!(!error.is_transient());
}

#[tokio::test]
async fn the_format_falls_back_to_the_extension_then_the_default() {
    let server = Routes::new()
        .at("/app.toml", Reply::status(200).body(b"port = 1"))
        .at(
            "/app",
            Reply::status(200)
                .header("content-type", "application/octet-stream")
                .body(b"port: 1"),
        )
        .start()
        .await;

    let by_extension = HttpSource::builder(server.url())
        .path("/{name}.toml")
        .build()
        .unwrap();
    let response = load(&by_extension, ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(response.format(), Format::Toml);

    let unknown = HttpSource::builder(server.url()).build().unwrap();
    let error = load(&unknown, ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(
        &error,
        ConfigError::UnsupportedFormat { content_type: Some(ct) } if &**ct == "application/octet-stream"
    ));

    let by_default = HttpSource::builder(server.url())
        .default_format(Format::Yaml)
        .build()
        .unwrap();
    let response = load(&by_default, ConfigRequest::new("app")).await.unwrap();
    assert_eq!(response.format(), Format::Yaml);
    assert_eq!(&response.body()[..], b"port: 1");
}

#[tokio::test]
async fn names_are_encoded_and_checked() {
    let server = Routes::new()
        .at("/a%2Fb%20c", Reply::json("{}"))
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    assert!(load(&source, ConfigRequest::new("a/b c")).await.is_ok());
    for name in ["", "..", "."] {
        let error = load(&source, ConfigRequest::new(name)).await.unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidRequest { .. }),
            "{name:?}: {error:?}"
        );
    }
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let source = HttpSource::builder(url).build().unwrap();
    let error = load(&source, ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::Transport(_)), "{error:?}");
    assert!(error.is_transient());
}

#[tokio::test]
async fn a_retry_after_too_long_to_count_is_the_longest_delay() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::status(503).header("retry-after", "99999999999999999999999"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let error = load(&source, ConfigRequest::new("app")).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(u64::MAX)));
}
