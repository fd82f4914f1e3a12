//! Redirects against real servers: followed within the limit and the
//! origin, another origin only when allowed and then without credentials,
//! never from HTTPS to HTTP, typed errors for the rest.

mod support;

use std::convert::Infallible;

use http::StatusCode;
use http_body_util::Full;
use steadfast_config::{
    ConfigError, ConfigRequest, DEFAULT_MAX_REDIRECTS, FailureKind, HttpSource, RedirectRefused,
    RequestBody,
};
use support::{Reply, Routes};
use tower::ServiceExt;

const BODY: &str = r#"{"port": 8080}"#;

#[tokio::test]
async fn same_origin_redirects_are_followed_with_credentials() {
    let server = Routes::new()
        .at("/a", Reply::status(301).header("location", "/b"))
        .at("/b", Reply::status(302).header("location", "c"))
        .at("/c", Reply::status(303).header("location", "/d?x=1"))
        .at("/d", Reply::status(307).header("location", "/e"))
        .at("/e", Reply::status(308).header("location", "/final"))
        .at("/final", Reply::json(BODY).header("etag", "\"f\""))
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .bearer_token("s3cr3t")
        .sensitive_header("x-api-key", "k3y")
        .build()
        .unwrap();
    let response = source
        .clone()
        .oneshot(ConfigRequest::new("a"))
        .await
        .unwrap();
    assert_eq!(response.body(), BODY.as_bytes());
    assert_eq!(response.version(), Some("f"));
    let seen = server.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path_and_query.as_str()).collect();
    assert_eq!(paths, ["/a", "/b", "/c", "/d?x=1", "/e", "/final"]);
    for request in &seen {
        assert_eq!(request.headers["authorization"], "Bearer s3cr3t");
        assert_eq!(request.headers["x-api-key"], "k3y");
    }
    assert_eq!(DEFAULT_MAX_REDIRECTS, 5);
}

#[tokio::test]
async fn past_the_limit_is_a_typed_error() {
    let server = Routes::new()
        .with("/loop", |_| Reply::status(302).header("location", "/loop"))
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .max_redirects(3)
        .build()
        .unwrap();
    let error = source
        .oneshot(ConfigRequest::new("loop"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            ConfigError::Redirect {
                code: StatusCode::FOUND,
                location: Some(location),
                reason: RedirectRefused::TooMany { limit: 3 },
            } if location.ends_with("/loop")
        ),
        "{error:?}"
    );
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert!(
        error
            .to_string()
            .ends_with("not followed: more than 3 redirects"),
        "{error}"
    );
    // The first request and three redirects.
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn another_origin_is_refused_by_default_and_never_sees_credentials() {
    let other = Routes::new().at("/app", Reply::json(BODY)).start().await;
    let target = format!("{}/app", other.url());
    let origin = Routes::new()
        .at("/app", Reply::status(301).header("location", &target))
        .start()
        .await;

    let refusing = HttpSource::builder(origin.url())
        .bearer_token("s3cr3t")
        .build()
        .unwrap();
    let error = refusing
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            ConfigError::Redirect {
                code: StatusCode::MOVED_PERMANENTLY,
                location: Some(location),
                reason: RedirectRefused::OtherOrigin,
            } if **location == target
        ),
        "{error:?}"
    );
    assert!(other.seen().is_empty());

    let following = HttpSource::builder(origin.url())
        .bearer_token("s3cr3t")
        .sensitive_header("x-api-key", "k3y")
        .header("cookie", "session=1")
        .header("x-trace", "t1")
        .allow_cross_origin_redirects(true)
        .build()
        .unwrap();
    let response = following.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(response.body(), BODY.as_bytes());
    let at_origin = &origin.seen()[1];
    assert_eq!(at_origin.headers["authorization"], "Bearer s3cr3t");
    assert_eq!(at_origin.headers["x-api-key"], "k3y");
    let elsewhere = other.seen();
    assert_eq!(elsewhere.len(), 1);
    let headers = &elsewhere[0].headers;
    for credential in [
        "authorization",
        "x-api-key",
        "cookie",
        "proxy-authorization",
    ] {
        assert!(
            !headers.contains_key(credential),
            "{credential} reached the other origin"
        );
    }
    assert_eq!(headers["x-trace"], "t1");
    assert!(headers.contains_key("accept"));
}

#[tokio::test]
async fn a_redirect_without_a_location_or_to_another_status_is_not_followed() {
    let server = Routes::new()
        .at("/none", Reply::status(301))
        .at(
            "/bad",
            Reply::status(302).header("location", "ftp://files/app"),
        )
        .at("/choices", Reply::status(300).header("location", "/app"))
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    for name in ["none", "bad"] {
        let error = source
            .clone()
            .oneshot(ConfigRequest::new(name))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Redirect {
                    reason: RedirectRefused::InvalidLocation,
                    location: None,
                    ..
                }
            ),
            "{name}: {error:?}"
        );
    }
    let error = source
        .oneshot(ConfigRequest::new("choices"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::MULTIPLE_CHOICES));
    assert_eq!(server.seen().len(), 3);
}

/// A client that answers every request for `https://config.test/app`
/// with a redirect to `location`, and records the URLs it was asked for.
fn redirecting(
    location: &'static str,
    asked: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> impl tower::Service<
    http::Request<RequestBody>,
    Response = http::Response<Full<bytes::Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone {
    tower::service_fn(move |request: http::Request<RequestBody>| {
        asked.lock().unwrap().push(request.uri().to_string());
        let redirect = request.uri().path() == "/app";
        async move {
            let mut response =
                http::Response::new(Full::new(bytes::Bytes::from_static(BODY.as_bytes())));
            if redirect {
                *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
                response
                    .headers_mut()
                    .insert("location", http::HeaderValue::from_static(location));
            } else {
                response.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/json"),
                );
            }
            Ok::<_, Infallible>(response)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn https_never_goes_down_to_http() {
    for allow in [false, true] {
        let asked = std::sync::Arc::default();
        let source = HttpSource::builder("https://config.test")
            .allow_cross_origin_redirects(allow)
            .build_with(redirecting(
                "http://config.test/plain",
                std::sync::Arc::clone(&asked),
            ))
            .unwrap();
        let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::Redirect {
                    reason: RedirectRefused::Downgrade,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(*asked.lock().unwrap(), ["https://config.test/app"]);
    }
    // HTTPS to HTTPS on the same origin is followed.
    let asked = std::sync::Arc::default();
    let source = HttpSource::builder("https://config.test")
        .build_with(redirecting(
            "https://CONFIG.test:443/v2",
            std::sync::Arc::clone(&asked),
        ))
        .unwrap();
    let response = source.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(response.body(), BODY.as_bytes());
    assert_eq!(
        *asked.lock().unwrap(),
        ["https://config.test/app", "https://CONFIG.test:443/v2"]
    );
}
