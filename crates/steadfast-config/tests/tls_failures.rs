//! A server whose certificate the client rejects: a permanent failure,
//! shown with its cause.

mod support;

use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, Failure, FailureKind, HttpSource};
use support::tls::TlsServer;
use tower::ServiceExt;

#[tokio::test]
async fn a_self_signed_certificate_is_a_permanent_failure() {
    let server = TlsServer::start(r#"{"port": 8080}"#).await;
    let source = HttpSource::builder(server.url())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();

    assert!(matches!(error, ConfigError::Transport(_)), "{error:?}");
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert!(!error.is_transient());
    assert!(!Failure::is_transient(&error));
    // The cause as the TLS library words it.
    #[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
    assert_eq!(
        error.to_string(),
        "transport error: client error (Connect): invalid peer certificate: UnknownIssuer"
    );
    #[cfg(not(any(feature = "rustls-ring", feature = "rustls-aws-lc")))]
    assert!(
        error.to_string().contains("certificate verify failed"),
        "{error}"
    );
    assert_eq!(server.connections(), 1);
    assert_eq!(server.handshakes(), 0);
}

#[tokio::test]
async fn a_refused_connection_stays_transient() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let source = HttpSource::builder(format!("https://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::Transient);
    assert!(error.is_transient());
}
