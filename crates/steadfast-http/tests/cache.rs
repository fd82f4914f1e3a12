//! `RequestKey` and `BufferedResponse::is_storable` with the cache layer,
//! over a real loopback server: varied headers, `no-store` and `no-cache`,
//! unsafe methods, and the whole stack with a fallback.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::Full;
use steadfast_cache::CacheLayer;
use steadfast_core::{BoxError, Provenance, Source};
use steadfast_fallback::FallbackLayer;
use steadfast_http::{BufferLayer, BufferedResponse, HttpCacheKey, HttpError, RequestKey};
use support::{Reply, Server, hyper_client};
use tower::{ServiceBuilder, ServiceExt};

fn cache() -> CacheLayer<HttpCacheKey, BufferedResponse, HttpError, RequestKey> {
    CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .key_fn(RequestKey::new().vary(ACCEPT))
        .store_if(BufferedResponse::is_storable)
        .provenance()
        .build()
        .unwrap()
}

/// Answers with the request's number and `Accept`, so each answer is told
/// apart; `/private` says `no-store`.
async fn server() -> Server {
    Server::start(|seen, n| {
        let accept = seen
            .headers
            .get(ACCEPT)
            .map_or("-", |v| v.to_str().unwrap())
            .to_owned();
        let reply = Reply::ok(&format!("{n} {accept}"));
        match seen.path_and_query.as_str() {
            "/private" => reply.header("cache-control", "private, no-store"),
            _ => reply.header("cache-control", "max-age=60"),
        }
    })
    .await
}

async fn send(
    svc: &(
         impl tower::Service<
        http::Request<Full<Bytes>>,
        Response = BufferedResponse,
        Error = HttpError,
        Future: Send,
    > + Clone
     ),
    request: http::request::Builder,
) -> BufferedResponse {
    let request = request.body(Full::default()).unwrap();
    svc.clone().oneshot(request).await.unwrap()
}

#[tokio::test]
async fn a_get_is_cached_per_varied_header() {
    let server = server().await;
    let svc = ServiceBuilder::new()
        .layer(cache())
        .layer(BufferLayer::new())
        .service(hyper_client::<Full<Bytes>>());
    let get = |accept: &str| http::Request::get(server.url("/app")).header(ACCEPT, accept);

    let json = send(&svc, get("application/json")).await;
    assert_eq!(
        (json.text().unwrap(), json.source()),
        ("0 application/json", Source::Origin)
    );
    let again = send(&svc, get("application/json")).await;
    assert_eq!(
        (again.text().unwrap(), again.source()),
        ("0 application/json", Source::Cache)
    );
    let yaml = send(&svc, get("application/yaml")).await;
    assert_eq!(
        (yaml.text().unwrap(), yaml.source()),
        ("1 application/yaml", Source::Origin)
    );
    let none = send(&svc, http::Request::get(server.url("/app"))).await;
    assert_eq!(none.text().unwrap(), "2 -");
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn no_store_and_no_cache_reach_the_server_every_time() {
    let server = server().await;
    let svc = ServiceBuilder::new()
        .layer(cache())
        .layer(BufferLayer::new())
        .service(hyper_client::<Full<Bytes>>());

    // The response says no-store: never stored.
    for n in 0..3 {
        let private = send(&svc, http::Request::get(server.url("/private"))).await;
        assert!(!private.is_storable());
        assert_eq!(private.text().unwrap(), format!("{n} -"));
        assert_eq!(private.source(), Source::Origin);
    }
    assert_eq!(server.count(), 3);

    // Stored once; a request saying no-cache or no-store passes the cache
    // by, and its answer does not replace the stored one.
    let stored = send(&svc, http::Request::get(server.url("/app"))).await;
    assert_eq!(stored.text().unwrap(), "3 -");
    for (n, directive) in [(4, "no-cache"), (5, "no-store"), (6, "max-age=0, No-Cache")] {
        let request = http::Request::get(server.url("/app")).header(CACHE_CONTROL, directive);
        let fresh = send(&svc, request).await;
        assert_eq!(fresh.text().unwrap(), format!("{n} -"), "{directive}");
        assert!(!fresh.is_storable());
    }
    let cached = send(&svc, http::Request::get(server.url("/app"))).await;
    assert_eq!(
        (cached.text().unwrap(), cached.source()),
        ("3 -", Source::Cache)
    );
    assert_eq!(server.count(), 7);
}

#[tokio::test]
async fn unsafe_methods_are_never_cached_nor_joined() {
    let server = server().await;
    let svc = ServiceBuilder::new()
        .layer(cache())
        .layer(BufferLayer::new())
        .service(hyper_client::<Full<Bytes>>());
    for n in 0..2 {
        let post = send(&svc, http::Request::post(server.url("/app"))).await;
        assert_eq!(post.text().unwrap(), format!("{n} -"));
        assert!(!post.is_storable());
    }
    // Two at once: two requests reach the server.
    let (a, b) = tokio::join!(
        send(&svc, http::Request::put(server.url("/app"))),
        send(&svc, http::Request::put(server.url("/app"))),
    );
    assert_ne!(a.text().unwrap(), b.text().unwrap());
    let seen = server.seen();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| s.method != Method::GET));
    // And HEAD is a key of its own.
    let head = send(&svc, http::Request::head(server.url("/app"))).await;
    let get = send(&svc, http::Request::get(server.url("/app"))).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(get.text().unwrap(), "5 -");
}

#[tokio::test(start_paused = true)]
async fn the_stack_serves_stale_and_then_the_fallback() -> Result<(), BoxError> {
    let server = Server::start(|seen, n| match (seen.path_and_query.as_str(), n) {
        ("/app", 0) => Reply::ok("real"),
        _ => Reply::status(503),
    })
    .await;
    let cache = CacheLayer::builder()
        .ttl(Duration::from_secs(1))
        .stale_if_error(Duration::from_secs(3600))
        .key_fn(RequestKey::new())
        .store_if(BufferedResponse::is_storable)
        .provenance()
        .build()?;
    let default = BufferedResponse::new(StatusCode::OK, HeaderMap::new(), "default")
        .with_source(Source::Fallback);
    let svc = ServiceBuilder::new()
        .layer(FallbackLayer::value(default).provenance())
        .layer(cache)
        .layer(BufferLayer::new())
        .service(hyper_client::<Full<Bytes>>());

    let first = send(&svc, http::Request::get(server.url("/app"))).await;
    assert_eq!(
        (first.text()?, Provenance::source(&first)),
        ("real", Source::Origin)
    );
    // Past the TTL the server answers 503: the last good answer, stale.
    tokio::time::advance(Duration::from_secs(2)).await;
    let stale = send(&svc, http::Request::get(server.url("/app"))).await;
    assert_eq!((stale.text()?, stale.source()), ("real", Source::Stale));
    // Nothing was ever good here: the fallback, never stored.
    for _ in 0..2 {
        let other = send(&svc, http::Request::get(server.url("/other"))).await;
        assert_eq!(
            (other.text()?, other.source()),
            ("default", Source::Fallback)
        );
    }
    assert_eq!(server.count(), 4);
    Ok(())
}
