//! Counters and event listeners of the HTTP source and the decode layer.

mod support;

use std::sync::{Arc, Mutex};

use serde::Deserialize;
use steadfast_config::{
    ConfigError, ConfigRequest, ConfigResponse, DecodeLayer, DecodeStats, Event, Format,
    HttpSource, HttpStats,
};
use support::{Reply, Routes};
use tower::{Layer, ServiceExt, service_fn};

#[tokio::test]
async fn the_http_source_counts_and_reports_loads() {
    let server = Routes::new()
        .with("/app", |seen| match seen.headers.get("if-none-match") {
            Some(_) => Reply::status(304),
            None => Reply::json("{\"a\": 1}").header("etag", "\"1\""),
        })
        .start()
        .await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let source = {
        let seen = seen.clone();
        HttpSource::builder(server.url())
            .on_event(move |event| {
                let line = match event {
                    Event::Loaded {
                        request,
                        response,
                        not_modified,
                        ..
                    } => format!(
                        "loaded {} {} bytes, not modified: {not_modified}",
                        request.key(),
                        response.body().len()
                    ),
                    Event::Failed { request, error, .. } => {
                        format!("failed {}: {error}", request.key())
                    }
                    other => format!("{other:?}"),
                };
                seen.lock().unwrap().push(line);
            })
            .build()
            .unwrap()
    };
    assert_eq!(source.stats(), HttpStats::default());
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    source
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    source
        .clone()
        .oneshot(ConfigRequest::new("gone"))
        .await
        .unwrap_err();
    let invalid = source.clone().oneshot(ConfigRequest::new("")).await;
    assert!(matches!(invalid, Err(ConfigError::InvalidRequest { .. })));

    assert_eq!(
        source.stats(),
        HttpStats {
            loaded: 1,
            not_modified: 1,
            failed: 2,
            bytes: 8,
        }
    );
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "loaded app 8 bytes, not modified: false",
            "loaded app 8 bytes, not modified: true",
            "failed gone: config \"gone\" not found",
            "failed : invalid config request: empty name",
        ]
    );
}

#[derive(Debug, Deserialize)]
struct Port {
    #[allow(dead_code)]
    port: u16,
}

#[tokio::test]
async fn the_decode_layer_counts_and_reports_rejections() {
    let rejected = Arc::new(Mutex::new(Vec::new()));
    let layer = {
        let rejected = rejected.clone();
        DecodeLayer::<Port>::new()
            .on_event(move |event| {
                if let Event::Rejected { response, error } = event {
                    rejected
                        .lock()
                        .unwrap()
                        .push(format!("{:?}: {error}", response.version()));
                }
            })
            .validate_with(|port: &Port| match port.port {
                0 => Err("port 0".into()),
                _ => Ok(()),
            })
    };
    let source = service_fn(|req: ConfigRequest| async move {
        let body = match req.name() {
            "zero" => r#"{"port": 0}"#,
            "broken" => "{",
            _ => r#"{"port": 80}"#,
        };
        Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json).with_version(req.name()))
    });
    let one = layer.layer(source);
    let two = layer.layer(source);
    one.clone().oneshot(ConfigRequest::new("ok")).await.unwrap();
    two.clone()
        .oneshot(ConfigRequest::new("zero"))
        .await
        .unwrap_err();
    one.oneshot(ConfigRequest::new("broken")).await.unwrap_err();

    let expected = DecodeStats {
        decoded: 1,
        rejected: 2,
    };
    assert_eq!(layer.stats(), expected);
    assert_eq!(two.stats(), expected);
    assert_eq!(
        *rejected.lock().unwrap(),
        [
            "Some(\"zero\"): config failed validation: port 0",
            "Some(\"broken\"): invalid json config at line 1, column 1: EOF while parsing an object",
        ]
    );
}
