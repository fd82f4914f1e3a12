//! The typed layer: a source of responses becomes a source of checked
//! values, and a bad configuration is a failure.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Deserialize;
use steadfast_config::{
    ConfigError, ConfigRequest, ConfigResponse, Decode, DecodeLayer, Format, HttpSource,
    Provenance, Source, Validate,
};
use support::{Reply, Routes};
use tower::{ServiceBuilder, ServiceExt, service_fn};

#[derive(Debug, Deserialize, PartialEq)]
struct Remote {
    api_url: String,
    max_retries: u32,
}

impl Validate for Remote {
    fn validate(&self) -> Result<(), String> {
        if self.max_retries > 10 {
            return Err(format!("max_retries {} is above 10", self.max_retries));
        }
        Ok(())
    }
}

fn fixed(
    body: &'static str,
) -> impl tower::Service<
    ConfigRequest,
    Response = ConfigResponse,
    Error = ConfigError,
    Future = impl Send,
> + Clone {
    service_fn(move |_: ConfigRequest| async move {
        Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json).with_version("\"7\""))
    })
}

#[tokio::test]
async fn loads_a_typed_value_over_http() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::json(r#"{"api_url": "https://api", "max_retries": 2}"#).header("etag", "\"e1\""),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let service = ServiceBuilder::new()
        .layer(DecodeLayer::<Remote>::new().validated())
        .service(source);
    let typed = service.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(typed.api_url, "https://api");
    assert_eq!(typed.max_retries, 2);
    assert_eq!(typed.version(), Some("e1"));
    assert_eq!(typed.format(), Format::Json);
    assert_eq!(typed.source(), Source::Origin);
    let copy = typed.clone();
    assert!(Arc::ptr_eq(copy.shared(), typed.shared()));
}

#[tokio::test]
async fn an_invalid_value_is_a_validation_failure() {
    let service = Decode::<_, Remote>::new(fixed(r#"{"api_url": "x", "max_retries": 99}"#));
    assert!(
        service
            .clone()
            .oneshot(ConfigRequest::new("app"))
            .await
            .is_ok()
    );

    let checked = DecodeLayer::<Remote>::new().validated();
    let error = tower::Layer::layer(&checked, fixed(r#"{"api_url": "x", "max_retries": 99}"#))
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ConfigError::Validation { message } if &**message == "max_retries 99 is above 10")
    );
}

#[tokio::test]
async fn a_closure_check_replaces_the_type_check() {
    let layer = DecodeLayer::<Remote>::new()
        .validated()
        .validate_with(|remote: &Remote| {
            if remote.api_url.starts_with("https://") {
                Ok(())
            } else {
                Err("api_url must be https".into())
            }
        });
    let error = tower::Layer::layer(
        &layer,
        fixed(r#"{"api_url": "http://a", "max_retries": 1}"#),
    )
    .oneshot(ConfigRequest::new("app"))
    .await
    .unwrap_err();
    assert!(
        matches!(&error, ConfigError::Validation { message } if &**message == "api_url must be https")
    );
    let ok = tower::Layer::layer(
        &layer,
        fixed(r#"{"api_url": "https://a", "max_retries": 99}"#),
    )
    .oneshot(ConfigRequest::new("app"))
    .await
    .unwrap();
    assert_eq!(ok.max_retries, 99);
}

#[tokio::test]
async fn a_body_that_does_not_decode_is_a_decode_failure() {
    let service = Decode::<_, Remote>::new(fixed(r#"{"api_url": 1}"#));
    let error = service
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Decode {
            format: Format::Json,
            line: Some(1),
            column: Some(13),
            ..
        }
    ));
}

#[tokio::test]
async fn inner_errors_pass_through_into_the_callers_error_type() {
    #[derive(Debug)]
    enum AppError {
        Config(ConfigError),
    }
    impl From<ConfigError> for AppError {
        fn from(error: ConfigError) -> Self {
            AppError::Config(error)
        }
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let source = service_fn(move |req: ConfigRequest| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            match req.name() {
                "bad" => Ok(ConfigResponse::new("[", Format::Json)),
                _ => Err(AppError::Config(ConfigError::NotFound {
                    name: "gone".into(),
                })),
            }
        }
    });
    let mut service = Decode::<_, Remote>::new(source);
    let error = (&mut service)
        .oneshot(ConfigRequest::new("gone"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        AppError::Config(ConfigError::NotFound { .. })
    ));
    let error = (&mut service)
        .oneshot(ConfigRequest::new("bad"))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        AppError::Config(ConfigError::Decode { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn typed_values_record_their_provenance() {
    let service = Decode::<_, Remote>::new(fixed(r#"{"api_url": "x", "max_retries": 1}"#));
    let mut typed = service.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(Provenance::source(&typed), Source::Origin);
    typed.set_source(Source::Stale);
    assert_eq!(typed.source(), Source::Stale);
    assert_eq!(typed.version(), Some("\"7\""));
    assert_eq!(
        format!("{typed:?}").split(", age").next().unwrap(),
        r#"Typed { value: Remote { api_url: "x", max_retries: 1 }, version: Some("\"7\""), format: Json"#
    );
}
