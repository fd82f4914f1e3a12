//! A load the fallback has nothing for is not a fallback use.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast::{Alert, StackBuilder, json_fallback};
use tower::service_fn;

const FALLBACK: &str = r#"{"version":0}"#;

fn down() -> impl tower::Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = ConfigError,
    Future = impl Future<Output = Result<ConfigResponse, ConfigError>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(|_: ConfigRequest| async {
        Err::<ConfigResponse, _>(ConfigError::Timeout(Duration::from_secs(1)))
    })
}

fn heard() -> (
    Arc<Mutex<Vec<String>>>,
    impl Fn(&Alert) + Send + Sync + 'static,
) {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let log = heard.clone();
    (heard, move |alert: &Alert| {
        log.lock().unwrap().push(alert.to_string())
    })
}

#[tokio::test(start_paused = true)]
async fn a_name_without_a_fallback_is_not_counted_or_alerted_as_a_fallback_use() {
    let (heard, listener) = heard();
    let loader = StackBuilder::new()
        .without_retry()
        .without_breaker()
        .fallback_for("app", json_fallback(FALLBACK))
        .on_alert(listener)
        .build(down())
        .unwrap();

    loader.load_response("other").await.unwrap_err();
    assert_eq!(loader.metrics().fallback_uses, 0);
    assert_eq!(loader.metrics().errors, 1);
    // The source fails for it; the fallback has nothing to say.
    assert_eq!(
        *heard.lock().unwrap(),
        ["other: the source fails: config request timed out after 1s"]
    );

    loader.load_response("app").await.unwrap();
    assert_eq!(loader.metrics().fallback_uses, 1);
    assert_eq!(
        heard.lock().unwrap()[1..],
        [
            "app: the source fails: config request timed out after 1s",
            "app: the fallback answers: config request timed out after 1s"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_fallback_function_answering_none_is_not_a_fallback_use() {
    let (heard, listener) = heard();
    let loader = StackBuilder::new()
        .without_retry()
        .without_breaker()
        .without_cache()
        .fallback_fn(|_, _| None)
        .on_alert(listener)
        .build(down())
        .unwrap();

    loader.load_response("app").await.unwrap_err();
    assert_eq!(loader.metrics().fallback_uses, 0);
    assert!(
        heard.lock().unwrap().is_empty(),
        "{:?}",
        heard.lock().unwrap()
    );
}
