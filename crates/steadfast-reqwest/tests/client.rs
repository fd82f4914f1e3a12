//! What a `ReqwestClient` sends and answers, against a local hyper server
//! that echoes what it received.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use steadfast_reqwest::ReqwestClient;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Answers each request with `method`, `content-length` (or `-`),
/// `transfer-encoding` (or `-`), the `x-probe` header and the body, one
/// per line; returns the server's base URL.
async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = service_fn(|req: http::Request<Incoming>| async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned())
                    };
                    let head = format!(
                        "{}\n{}\n{}\n{}\n",
                        req.method(),
                        header("content-length"),
                        header("transfer-encoding"),
                        header("x-probe"),
                    );
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    let text = head + std::str::from_utf8(&body).unwrap();
                    Ok::<_, Infallible>(
                        http::Response::builder()
                            .header("x-answer", "yes")
                            .body(Full::new(Bytes::from(text)))
                            .unwrap(),
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

async fn send<B>(request: http::Request<B>) -> (http::response::Parts, String)
where
    B: steadfast_reqwest::IntoReqwestBody,
{
    let response = ReqwestClient::new(reqwest::Client::new())
        .oneshot(request)
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (parts, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn an_empty_body_sends_none_and_headers_go_through() {
    let url = echo_server().await;
    let request = http::Request::get(format!("{url}/app"))
        .header("x-probe", "one")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let (parts, text) = send(request).await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.headers["x-answer"], "yes");
    assert_eq!(text, "GET\n-\n-\none\n");

    let request = http::Request::get(format!("{url}/app")).body(()).unwrap();
    assert_eq!(send(request).await.1, "GET\n-\n-\n-\n");
}

#[tokio::test]
async fn bodies_are_sent_whole() {
    let url = echo_server().await;
    let post = || http::Request::post(format!("{url}/app"));
    let (_, text) = send(post().body(Bytes::from_static(b"abc")).unwrap()).await;
    assert_eq!(text, "POST\n3\n-\n-\nabc");
    let (_, text) = send(post().body(String::from("hello")).unwrap()).await;
    assert_eq!(text, "POST\n5\n-\n-\nhello");
    let (_, text) = send(post().body(Full::new(Bytes::from_static(b"full"))).unwrap()).await;
    // Its exact size hint becomes the length.
    assert_eq!(text, "POST\n4\n-\n-\nfull");
    let (_, text) = send(post().body(reqwest::Body::from("raw")).unwrap()).await;
    assert_eq!(text, "POST\n3\n-\n-\nraw");
}

#[tokio::test]
async fn a_uri_reqwest_cannot_take_is_the_calls_error() {
    let request = http::Request::get("/relative").body(()).unwrap();
    let error = ReqwestClient::default().oneshot(request).await.unwrap_err();
    assert!(error.to_string().contains("relative URL"), "{error}");
}

#[tokio::test]
async fn a_refused_connection_is_the_calls_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/app", listener.local_addr().unwrap());
    drop(listener);
    let request = http::Request::get(url).body(()).unwrap();
    let client = ReqwestClient::from(reqwest::Client::new());
    assert!(client.get_ref().get("http://x").build().is_ok());
    let error = client.oneshot(request).await.unwrap_err();
    assert!(error.downcast_ref::<reqwest::Error>().unwrap().is_connect());
}
