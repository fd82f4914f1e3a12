//! Every `ConfigError` shows its cause chain in plain `Display`, each cause
//! once.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use steadfast_config::{ConfigError, ConfigRequest, HttpSource, SharedError};
use tower::ServiceExt;

/// An error that shows `message` and has `source` below it.
#[derive(Debug)]
struct Wrapper {
    message: String,
    source: Option<Box<dyn Error + Send + Sync>>,
}

impl Wrapper {
    fn new(message: impl Into<String>, source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Wrapper {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

fn refused() -> io::Error {
    io::Error::from_raw_os_error(111)
}

#[test]
fn a_transport_error_shows_its_cause() {
    let error = ConfigError::transport(refused());
    assert_eq!(
        error.to_string(),
        "transport error: Connection refused (os error 111)"
    );
    let text = ConfigError::transport("connection reset by peer");
    assert_eq!(
        text.to_string(),
        "transport error: connection reset by peer"
    );
}

#[test]
fn every_level_of_the_chain_is_shown() {
    let error = ConfigError::transport(Wrapper::new(
        "client error (Connect)",
        Wrapper::new("tcp connect error", refused()),
    ));
    assert_eq!(
        error.to_string(),
        "transport error: client error (Connect): tcp connect error: \
         Connection refused (os error 111)"
    );
}

#[test]
fn a_cause_already_shown_by_its_parent_is_not_repeated() {
    let error = ConfigError::transport(Wrapper::new(
        format!("error sending request: {}", refused()),
        refused(),
    ));
    assert_eq!(
        error.to_string(),
        "transport error: error sending request: Connection refused (os error 111)"
    );
    // An io::Error wrapping an error shows that error's message; it is
    // not shown again below it.
    let wrapped = ConfigError::transport(io::Error::other(Wrapper::new(
        "invalid peer certificate: UnknownIssuer",
        io::Error::other("invalid peer certificate: UnknownIssuer"),
    )));
    assert_eq!(
        wrapped.to_string(),
        "transport error: invalid peer certificate: UnknownIssuer"
    );
}

#[test]
fn io_and_other_errors_show_their_causes() {
    let io = ConfigError::from(io::Error::from_raw_os_error(13));
    assert_eq!(
        io.to_string(),
        "config file could not be read: Permission denied (os error 13)"
    );
    let other = ConfigError::from(SharedError::new(Wrapper::new(
        "store failed",
        Wrapper::new("redis connection lost", refused()),
    )));
    assert!(matches!(other, ConfigError::Other(_)));
    assert_eq!(
        other.to_string(),
        "store failed: redis connection lost: Connection refused (os error 111)"
    );
}

#[test]
fn a_shared_config_error_shows_its_chain_once() {
    let shared = SharedError::new(ConfigError::transport(refused()));
    assert_eq!(
        shared.to_string(),
        "transport error: Connection refused (os error 111)"
    );
    let back = ConfigError::from(shared);
    assert_eq!(
        back.to_string(),
        "transport error: Connection refused (os error 111)"
    );
}

#[tokio::test]
async fn a_refused_connection_names_the_refusal() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let source = HttpSource::builder(format!("http://127.0.0.1:{port}"))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let error = source.oneshot(ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::Transport(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        "transport error: client error (Connect): tcp connect error: \
         Connection refused (os error 111)"
    );
}

#[test]
fn a_watcher_that_could_not_start_names_why() {
    let error = steadfast_config::watch::StartError::Load(ConfigError::transport(refused()));
    assert_eq!(
        error.to_string(),
        "first config load failed: transport error: Connection refused (os error 111)"
    );
}
