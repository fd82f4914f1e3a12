//! Input that must neither panic nor hold a thread: durations without an
//! end, a declared length no memory could hold, nesting that would make a
//! parser quadratic.

mod support;

use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format, HttpSource};
use support::{Reply, Routes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::ServiceExt;

#[tokio::test]
async fn a_timeout_without_end_builds_and_loads() {
    let server = Routes::new()
        .at("/app", Reply::json(r#"{"port": 8080}"#))
        .start()
        .await;
    let source = HttpSource::builder(server.url())
        .timeout(Duration::MAX)
        .build()
        .unwrap();
    let response = source.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(&response.body()[..], br#"{"port": 8080}"#);
}

/// A server that declares `length` bytes of body, sends `body`, and closes.
async fn declaring(length: &str, body: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {length}\r\n\r\n"
    );
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            let read = stream.read(&mut buf).await.unwrap();
            if read == 0 {
                return;
            }
            request.extend_from_slice(&buf[..read]);
        }
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        stream.shutdown().await.unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_declared_length_of_an_exabyte_reserves_no_exabyte() {
    let url = declaring("1152921504606846976", br#"{"port": 8080}"#).await;
    let source = HttpSource::builder(url)
        .max_body_size(usize::MAX)
        .build()
        .unwrap();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    // The body ended long before its declared length.
    assert!(matches!(error, ConfigError::Transport(_)), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(
        error.to_string(),
        "transport error: error reading a body from connection: \
         end of file before message length reached"
    );
}

/// `{a: ` nested `depth` times, then closed.
fn nested_yaml(depth: usize) -> String {
    format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
}

#[test]
fn deep_yaml_is_refused_before_it_is_parsed() {
    // 160 KB of flow mappings: quadratic in the YAML parser.
    let body = nested_yaml(40_000);
    assert!(body.len() > 160_000);
    let error = ConfigResponse::new(body, Format::Yaml)
        .decode::<serde_json::Value>()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid yaml config at line 1, column 513: nested deeper than 128 levels"
    );
    assert!(matches!(
        error,
        ConfigError::Decode {
            format: Format::Yaml,
            line: Some(1),
            column: Some(513),
            ..
        }
    ));
}

#[test]
fn yaml_at_the_depth_limit_decodes() {
    let value = ConfigResponse::new(nested_yaml(127), Format::Yaml)
        .decode::<serde_json::Value>()
        .unwrap();
    let mut inner = &value;
    for _ in 0..127 {
        inner = &inner["a"];
    }
    assert_eq!(inner, 1);
}

#[test]
fn brackets_in_strings_comments_and_block_scalars_are_not_nesting() {
    let deep = "[".repeat(200);
    let body = format!(
        "pattern: \"{deep}\\\"{deep}\"\n\
         quoted: '{deep}''{deep}'\n\
         # {deep}\n\
         text: |\n  {deep}\n  {deep}\n\
         folded: >-\n    {deep}\n\
         plain: a{deep}\n\
         list: [1, 'x]', \"y]\", [2, {{b: 3}}]] # {deep}\n\
         after: 4\n"
    );
    let value = ConfigResponse::new(body, Format::Yaml)
        .decode::<serde_json::Value>()
        .unwrap();
    assert_eq!(value["pattern"].as_str().unwrap().len(), 401);
    assert_eq!(value["text"].as_str().unwrap(), format!("{deep}\n{deep}\n"));
    assert_eq!(
        value["list"],
        serde_json::json!([1, "x]", "y]", [2, {"b": 3}]])
    );
    assert_eq!(value["after"], 4);
}

#[test]
fn an_apostrophe_inside_a_plain_scalar_hides_no_nesting() {
    let body = format!("name: it's\nnested: {}", nested_yaml(1_000));
    let error = ConfigResponse::new(body, Format::Yaml)
        .decode::<serde_json::Value>()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid yaml config at line 2, column 521: nested deeper than 128 levels"
    );
}

#[test]
fn deep_json_and_toml_stop_at_their_parsers_limits() {
    let json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let error = ConfigResponse::new(json, Format::Json)
        .decode::<serde_json::Value>()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid json config at line 1, column 128: recursion limit exceeded"
    );
    let toml = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let error = ConfigResponse::new(toml, Format::Toml)
        .decode::<serde_json::Value>()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid toml config at line 1, column 85: cannot recurse further; max recursion depth met"
    );
}

/// Decodes a body of `len` bytes through a `DecodeLayer` whose check
/// records the thread it ran on.
async fn decoded_on(len: usize) -> std::thread::ThreadId {
    use std::sync::{Arc, Mutex};
    use steadfast_config::DecodeLayer;
    use tower::{ServiceBuilder, service_fn};

    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let body = format!(r#"{{"pad": "{}"}}"#, "x".repeat(len - 11));
    let source = service_fn(move |_: ConfigRequest| {
        let body = body.clone();
        async move { Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json)) }
    });
    let service = ServiceBuilder::new()
        .layer(
            DecodeLayer::<serde_json::Value>::new().validate_with(move |_| {
                *record.lock().unwrap() = Some(std::thread::current().id());
                Ok(())
            }),
        )
        .service(source);
    let value = service.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(value["pad"].as_str().map(str::len), Some(len - 11));
    seen.lock().unwrap().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_body_is_decoded_off_the_runtime_thread() {
    use steadfast_config::BLOCKING_DECODE_SIZE;
    let runtime = std::thread::current().id();
    assert_eq!(decoded_on(BLOCKING_DECODE_SIZE - 1).await, runtime);
    assert_ne!(decoded_on(BLOCKING_DECODE_SIZE).await, runtime);
}
