//! `BufferLayer` over real clients (hyper-util's and reqwest's) and a real
//! loopback server: whole bodies, the size limit, failing statuses.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::Full;
use steadfast_core::{Failure, FailureKind};
use steadfast_http::{BufferLayer, BufferedResponse, HttpError, ReqwestClient, StatusClassifier};
use support::{Reply, Server, hyper_client};
use tower::{Service, ServiceBuilder, ServiceExt};

/// Sends `GET url` through a buffer with `layer` over hyper-util's client
/// and over reqwest's: both must agree.
async fn get_both(layer: BufferLayer, url: &str) -> [Result<BufferedResponse, HttpError>; 2] {
    let hyper = ServiceBuilder::new()
        .layer(layer)
        .service(hyper_client::<Full<Bytes>>());
    let reqwest = ServiceBuilder::new()
        .layer(layer)
        .service(ReqwestClient::new(
            reqwest::Client::builder().no_proxy().build().unwrap(),
        ));
    let request = || {
        http::Request::get(url)
            .body(Full::<Bytes>::default())
            .unwrap()
    };
    let by_hyper = hyper.oneshot(request()).await;
    let by_reqwest = reqwest.oneshot(request().map(|_| Bytes::new())).await;
    [by_hyper, by_reqwest]
}

#[tokio::test]
async fn the_whole_body_in_a_cloneable_response() {
    let server = Server::always(
        Reply::ok(r#"{"port":8080}"#)
            .header("content-type", "application/json")
            .header("etag", "\"v1\""),
    )
    .await;
    for result in get_both(BufferLayer::new(), &server.url("/app.json")).await {
        let response = result.unwrap();
        let copy = response.clone();
        assert_eq!(copy.status(), StatusCode::OK);
        assert_eq!(copy.headers()["etag"], "\"v1\"");
        assert_eq!(copy.headers()["content-type"], "application/json");
        assert_eq!(copy.text().unwrap(), r#"{"port":8080}"#);
        assert!(copy.is_storable());
        let http = response.into_http();
        assert_eq!(http.body(), &Bytes::from_static(br#"{"port":8080}"#));
    }
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn a_declared_length_over_the_limit_fails_before_the_body() {
    let server = Server::always(Reply::ok(&"x".repeat(1000))).await;
    let layer = BufferLayer::builder().max_body_size(999).build().unwrap();
    for result in get_both(layer, &server.url("/big")).await {
        let error = result.unwrap_err();
        assert!(
            matches!(error, HttpError::BodyTooLarge { limit: 999 }),
            "{error:?}"
        );
        assert_eq!(error.kind(), FailureKind::InvalidContent);
        assert_eq!(error.to_string(), "body larger than the limit of 999 bytes");
    }
    // Exactly at the limit is fine.
    let layer = BufferLayer::builder().max_body_size(1000).build().unwrap();
    for result in get_both(layer, &server.url("/big")).await {
        assert_eq!(result.unwrap().body().len(), 1000);
    }
}

#[tokio::test]
async fn a_body_without_a_length_stops_at_the_limit() {
    let server = Server::always(Reply::ok(&"x".repeat(1000)).chunked(100)).await;
    let layer = BufferLayer::builder().max_body_size(512).build().unwrap();
    for result in get_both(layer, &server.url("/chunked")).await {
        let error = result.unwrap_err();
        assert!(
            matches!(error, HttpError::BodyTooLarge { limit: 512 }),
            "{error:?}"
        );
    }
    let layer = BufferLayer::builder().max_body_size(1000).build().unwrap();
    for result in get_both(layer, &server.url("/chunked")).await {
        assert_eq!(result.unwrap().body().len(), 1000);
    }
}

#[tokio::test]
async fn failing_statuses_are_errors_with_their_retry_after() {
    let server = Server::start(|seen, _| match seen.path_and_query.as_str() {
        "/busy" => Reply::status(503)
            .header("retry-after", "7")
            .body(b"maintenance"),
        "/limited" => Reply::status(429).header("retry-after", "3"),
        "/bad-gateway" => Reply::status(502).header("retry-after", "5"),
        "/slow" => Reply::status(408),
        "/unimplemented" => Reply::status(501),
        _ => Reply::status(404).body(b"no such thing"),
    })
    .await;
    let layer = BufferLayer::new();
    let secs = Duration::from_secs;
    for (path, status, retry_after, kind) in [
        ("/busy", 503, Some(secs(7)), FailureKind::Transient),
        ("/limited", 429, Some(secs(3)), FailureKind::Transient),
        // Retry-After is read on a 429 or a 503 only.
        ("/bad-gateway", 502, None, FailureKind::Transient),
        ("/slow", 408, None, FailureKind::Transient),
        ("/unimplemented", 501, None, FailureKind::Permanent),
    ] {
        for result in get_both(layer, &server.url(path)).await {
            let error = result.unwrap_err();
            assert_eq!(error.status(), StatusCode::from_u16(status).ok(), "{path}");
            assert_eq!(error.retry_after(), retry_after, "{path}");
            assert_eq!(error.kind(), kind, "{path}");
            assert_eq!(
                error.to_string(),
                format!("server answered {}", error.status().unwrap())
            );
        }
    }
    let [busy, _] = get_both(layer, &server.url("/busy")).await;
    assert_eq!(
        busy.unwrap_err().response().unwrap().text().unwrap(),
        "maintenance"
    );

    // A 404 is an answer.
    for result in get_both(layer, &server.url("/missing")).await {
        let response = result.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.text().unwrap(), "no such thing");
    }
    // With no failing status, a 503 is an answer too.
    let answers = BufferLayer::builder()
        .statuses(StatusClassifier::none())
        .build()
        .unwrap();
    for result in get_both(answers, &server.url("/busy")).await {
        let response = result.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.retry_after(), Some(secs(7)));
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_transient_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/app", listener.local_addr().unwrap());
    drop(listener);
    for result in get_both(BufferLayer::new(), &url).await {
        let error = result.unwrap_err();
        assert!(matches!(error, HttpError::Transport(_)), "{error:?}");
        assert!(error.is_transient());
        assert!(error.to_string().starts_with("request failed: "), "{error}");
    }
}

#[tokio::test]
async fn ready_and_clone_forward_to_the_client() {
    let server = Server::always(Reply::ok("a")).await;
    let mut service = ServiceBuilder::new()
        .layer(BufferLayer::new())
        .service(hyper_client::<Full<Bytes>>());
    let mut clone = service.clone();
    for svc in [&mut service, &mut clone] {
        let request = http::Request::get(server.url("/a"))
            .body(Full::default())
            .unwrap();
        let response = svc.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.text().unwrap(), "a");
    }
    assert_eq!(server.count(), 2);
}
