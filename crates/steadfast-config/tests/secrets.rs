//! Credentials reach the server and nowhere else: not `Debug`, not tracing.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use steadfast_config::{ConfigRequest, HttpSource};
use support::{Reply, Routes};
use tower::ServiceExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

const TOKEN: &str = "tok-3f9a1c";

/// Held by the tests that send a request: tracing caches whether a
/// callsite is wanted when a thread first reaches it, so a request made on
/// another thread while the capturing subscriber is being set could leave
/// the `config_http` span unrecorded.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_auth_header_is_sent_but_never_shown() {
    let _serial = SERIAL.lock().await;
    let server = Routes::new()
        .at("/app", Reply::json("{}").header("etag", "\"1\""))
        .start()
        .await;
    let builder = HttpSource::builder(server.url())
        .bearer_token(TOKEN)
        .sensitive_header("x-api-key", "key-77e2")
        .header("x-team", "platform");
    let builder_debug = format!("{builder:?}");
    let source = builder.build().unwrap();
    let source_debug = format!("{source:?}");
    for shown in [&builder_debug, &source_debug] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("key-77e2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("platform"), "{shown}");
    }

    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    drop(_guard);

    let seen = server.seen();
    assert_eq!(
        seen[0].headers["authorization"],
        format!("Bearer {TOKEN}").as_str()
    );
    assert_eq!(seen[0].headers["x-api-key"], "key-77e2");
    let logs = captured.text();
    assert!(!logs.contains(TOKEN), "{logs}");
    assert!(!logs.contains("key-77e2"), "{logs}");
    assert!(logs.contains("config_http"), "{logs}");
    assert!(logs.contains("name=\"app\""), "{logs}");
    assert!(
        logs.contains(&format!("url={}/app", server.url())),
        "{logs}"
    );
    assert!(logs.contains("status=200"), "{logs}");
    assert!(logs.contains("bytes=2"), "{logs}");
    assert!(logs.contains("duration_ms="), "{logs}");
}

#[tokio::test]
async fn user_info_in_the_url_becomes_basic_auth() {
    let _serial = SERIAL.lock().await;
    let server = Routes::new().at("/app", Reply::json("{}")).start().await;
    let with_user = server.url().replacen("http://", "http://ops:pa%3Ass@", 1);
    let builder = HttpSource::builder(&with_user);
    assert!(!format!("{builder:?}").contains("pa%3Ass"));
    let source = builder.build().unwrap();
    assert!(!format!("{source:?}").contains("ops"));
    source.oneshot(ConfigRequest::new("app")).await.unwrap();
    // base64("ops:pa:ss")
    assert_eq!(
        server.seen()[0].headers["authorization"],
        "Basic b3BzOnBhOnNz"
    );
}

#[test]
fn credential_headers_given_as_plain_headers_are_never_shown() {
    let builder = HttpSource::builder("http://127.0.0.1:1")
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Proxy-Authorization", "Basic cHJveHk6cHc=")
        .header("Cookie", "session=c00k1e")
        .header("x-team", "platform");
    let builder_debug = format!("{builder:?}");
    let source = builder.build().unwrap();
    let source_debug = format!("{source:?}");
    for shown in [&builder_debug, &source_debug] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("cHJveHk6cHc="), "{shown}");
        assert!(!shown.contains("c00k1e"), "{shown}");
        assert!(shown.contains("platform"), "{shown}");
    }
}

#[test]
fn a_password_holding_url_delimiters_is_never_shown() {
    for url in [
        "http://user:s3cr3t/pw@host/base",
        "http://user:s3cr3t?pw@host/base",
        "http://user:s3cr3t#pw@host/base",
        "http://user:s3cr3t/pw@host/base/x@y",
        "https://user:s3://cr3t@host",
        "user:s3cr3t/pw@host/base",
    ] {
        let builder = HttpSource::builder(url);
        let shown = format!("{builder:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!shown.contains("cr3t"), "{shown}");
        assert!(!shown.contains("user"), "{shown}");
        assert!(shown.contains("***@"), "{shown}");
        if let Err(error) = builder.build() {
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("cr3t"), "{shown}");
        }
    }
    let shown = format!("{:?}", HttpSource::builder("http://host/base"));
    assert!(shown.contains("\"http://host/base\""), "{shown}");
}
