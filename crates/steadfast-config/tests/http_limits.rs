//! Timeouts and body size limits, against a real server in real time.

mod support;

use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, DEFAULT_MAX_BODY_SIZE, HttpSource};
use support::{Reply, Routes};
use tokio::time::Instant;
use tower::ServiceExt;

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = Routes::new()
        .at("/app", Reply::json("{}").delay(Duration::from_secs(5)))
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(error, ConfigError::Timeout(d) if d == Duration::from_millis(50)));
    assert!(error.is_transient());
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn a_body_that_stalls_times_out() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::status(200)
                .header("content-type", "application/json")
                .stall_after(b"{"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::Timeout(d) if d == Duration::from_millis(100)));
    assert_eq!(server.body_bytes_sent(), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_declared_oversized_body_is_rejected_before_reading() {
    let server = Routes::new()
        .at("/app", Reply::json(&" ".repeat(2048)))
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .max_body_size(1024)
        .build()
        .unwrap();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::BodyTooLarge { limit: 1024 }));
    assert!(!error.is_transient());
}

#[tokio::test]
async fn a_streamed_oversized_body_stops_at_the_limit() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::status(200)
                .header("content-type", "application/json")
                .chunks(1000, 5),
        )
        .start()
        .await;
    let small = HttpSource::builder(server.url())
        .max_body_size(4999)
        .build()
        .unwrap();
    let error = small.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::BodyTooLarge { limit: 4999 }));

    let exact = HttpSource::builder(server.url())
        .max_body_size(5000)
        .build()
        .unwrap();
    let response = exact.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(response.body().len(), 5000);
}

#[tokio::test]
async fn an_endless_body_stops_at_the_default_limit() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::status(200)
                .header("content-type", "application/json")
                .endless(),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::BodyTooLarge { limit } if limit == DEFAULT_MAX_BODY_SIZE));
    assert!(started.elapsed() < Duration::from_secs(20));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let sent = server.body_bytes_sent();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.body_bytes_sent(), sent, "the server still streams");
}

/// A body whose frames are always ready and always empty.
struct Spinning;

impl http_body::Body for Spinning {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::new()))))
    }
}

#[tokio::test]
async fn a_body_that_never_ends_without_growing_still_times_out() {
    let client = tower::service_fn(|_: http::Request<steadfast_config::RequestBody>| async {
        let mut response = http::Response::new(Spinning);
        response.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        Ok::<_, std::convert::Infallible>(response)
    });
    let source = HttpSource::builder("http://127.0.0.1:9")
        .timeout(Duration::from_millis(50))
        .build_with(client)
        .unwrap();
    let started = Instant::now();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::Timeout(d) if d == Duration::from_millis(50)));
    assert!(started.elapsed() < Duration::from_secs(2));
}
