//! Compressed bodies against a real server: `Accept-Encoding` sent, gzip,
//! br and zstd decoded, the size limit held on the decoded body (a small
//! bomb stops at the limit), unknown and corrupt encodings typed errors.

mod support;

use async_compression::tokio::bufread::{BrotliEncoder, GzipEncoder, ZstdEncoder};
use steadfast_config::{ConfigError, ConfigRequest, FailureKind, Format, HttpSource};
use support::{Reply, Routes};
use tokio::io::AsyncReadExt;
use tower::ServiceExt;

const BODY: &str = r#"{"api_url": "https://api", "max_retries": 3}"#;

async fn compress(encoding: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => GzipEncoder::new(data).read_to_end(&mut out).await,
        "br" => BrotliEncoder::new(data).read_to_end(&mut out).await,
        "zstd" => ZstdEncoder::new(data).read_to_end(&mut out).await,
        other => panic!("no encoder for {other}"),
    }
    .unwrap();
    out
}

fn encoded(encoding: &str, body: &[u8]) -> Reply {
    Reply::status(200)
        .header("content-type", "application/json")
        .header("content-encoding", encoding)
        .header("etag", "W/\"z1\"")
        .body(body)
}

#[tokio::test]
async fn gzip_br_and_zstd_are_asked_for_and_decoded() {
    let mut routes = Routes::new();
    for encoding in ["gzip", "br", "zstd"] {
        let body = compress(encoding, BODY.as_bytes()).await;
        assert_ne!(body, BODY.as_bytes());
        routes = routes.at(&format!("/{encoding}"), encoded(encoding, &body));
    }
    let upper = compress("gzip", BODY.as_bytes()).await;
    let server = routes
        .at("/x-gzip", encoded("X-GZIP", &upper))
        .at("/identity", encoded("identity", BODY.as_bytes()))
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    for name in ["gzip", "br", "zstd", "x-gzip", "identity"] {
        let response = source
            .clone()
            .oneshot(ConfigRequest::new(name))
            .await
            .unwrap();
        assert_eq!(response.body(), BODY.as_bytes(), "{name}");
        assert_eq!(response.format(), Format::Json);
        assert_eq!(response.version(), Some("z1"));
        assert!(response.is_weak_version());
        let value: serde_json::Value = response.decode().unwrap();
        assert_eq!(value["max_retries"], 3);
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    for request in &seen {
        assert_eq!(request.headers["accept-encoding"], "zstd, br, gzip");
    }
}

#[tokio::test]
async fn a_304_answers_with_the_decoded_body() {
    let body = compress("gzip", BODY.as_bytes()).await;
    let server = Routes::new()
        .with("/app", move |seen| {
            match seen.headers.get("if-none-match") {
                Some(tag) if tag == "W/\"z1\"" => Reply::status(304).header("etag", "W/\"z1\""),
                _ => encoded("gzip", &body),
            }
        })
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let first = source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    let second = source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(first.body(), BODY.as_bytes());
    assert_eq!(second.body(), BODY.as_bytes());
    assert_eq!(
        (second.version(), second.is_weak_version()),
        (Some("z1"), true)
    );
    assert_eq!(source.stats().not_modified, 1);
    // The validator goes back as the server sent it, prefix and quotes.
    assert_eq!(server.seen()[1].headers["if-none-match"], "W/\"z1\"");
}

#[tokio::test]
async fn a_compressed_bomb_stops_at_the_limit() {
    const LIMIT: usize = 64 * 1024;
    let bomb = vec![b' '; 8 * 1024 * 1024];
    let mut routes = Routes::new();
    for encoding in ["gzip", "br", "zstd"] {
        let small = compress(encoding, &bomb).await;
        // 8 MiB in well under the limit.
        assert!(small.len() < LIMIT, "{encoding}: {}", small.len());
        let at_limit = compress(encoding, &bomb[..LIMIT]).await;
        let past_limit = compress(encoding, &bomb[..LIMIT + 1]).await;
        routes = routes
            .at(&format!("/{encoding}-bomb"), encoded(encoding, &small))
            .at(&format!("/{encoding}-at"), encoded(encoding, &at_limit))
            .at(&format!("/{encoding}-past"), encoded(encoding, &past_limit));
    }
    let server = routes.start().await;
    let source = HttpSource::builder(server.url())
        .max_body_size(LIMIT)
        .build()
        .unwrap();
    for encoding in ["gzip", "br", "zstd"] {
        let load = |name: String| source.clone().oneshot(ConfigRequest::new(name));
        for name in [format!("{encoding}-bomb"), format!("{encoding}-past")] {
            let error = load(name.clone()).await.unwrap_err();
            assert!(
                matches!(error, ConfigError::BodyTooLarge { limit: LIMIT }),
                "{name}: {error:?}"
            );
            assert_eq!(error.kind(), FailureKind::InvalidContent);
        }
        let exact = load(format!("{encoding}-at")).await.unwrap();
        assert_eq!(exact.body().len(), LIMIT);
    }
    // Nothing too large was remembered.
    assert_eq!(source.remembered(), 3);
}

#[tokio::test]
async fn unknown_stacked_and_corrupt_encodings_are_typed_errors() {
    let gzip = compress("gzip", BODY.as_bytes()).await;
    let truncated = gzip[..gzip.len() / 2].to_vec();
    let mut trailing = gzip.clone();
    trailing.extend_from_slice(b"garbage after the stream");
    let server = Routes::new()
        .at("/compress", encoded("compress", b"\x1f\x9d..."))
        .at("/stacked", encoded("gzip, br", &gzip))
        .at("/corrupt-gzip", encoded("gzip", b"this is not gzip at all"))
        .at("/corrupt-br", encoded("br", b"\xff\xff\xff\xff not brotli"))
        .at("/corrupt-zstd", encoded("zstd", b"not zstd either"))
        .at("/truncated", encoded("gzip", &truncated))
        .at("/trailing", encoded("gzip", &trailing))
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let load = |name: &'static str| source.clone().oneshot(ConfigRequest::new(name));

    for (name, named) in [("compress", "compress"), ("stacked", "gzip, br")] {
        let error = load(name).await.unwrap_err();
        assert!(
            matches!(&error, ConfigError::UnsupportedEncoding { encoding } if &**encoding == named),
            "{name}: {error:?}"
        );
        assert_eq!(error.kind(), FailureKind::InvalidContent);
        assert_eq!(
            error.to_string(),
            format!("unsupported config content encoding {named:?}")
        );
    }
    for (name, encoding) in [
        ("corrupt-gzip", "gzip"),
        ("corrupt-br", "br"),
        ("corrupt-zstd", "zstd"),
        ("truncated", "gzip"),
        ("trailing", "gzip"),
    ] {
        let error = load(name).await.unwrap_err();
        assert!(
            matches!(&error, ConfigError::CorruptBody { encoding: e, .. } if &**e == encoding),
            "{name}: {error:?}"
        );
        assert_eq!(error.kind(), FailureKind::InvalidContent);
        assert!(
            error
                .to_string()
                .starts_with(&format!("config body does not decode as {encoding}: ")),
            "{error}"
        );
    }
    assert_eq!(source.remembered(), 0);
}

#[tokio::test]
async fn an_accept_encoding_of_the_users_own_is_sent_as_given() {
    let server = Routes::new().at("/app", Reply::json(BODY)).start().await;
    let source = HttpSource::builder(server.url())
        .header("accept-encoding", "identity")
        .build()
        .unwrap();
    source.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(server.seen()[0].headers["accept-encoding"], "identity");
}
