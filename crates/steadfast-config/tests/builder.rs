//! The HTTP source's builder: bad input is a typed error, never a panic.

use std::time::Duration;

use steadfast_config::{BuildError, ConfigError, ConfigRequest, HttpSource};

fn url_error(base: &str) -> String {
    match HttpSource::builder(base).build().unwrap_err() {
        BuildError::InvalidUrl { reason } => reason.to_string(),
        other => panic!("expected InvalidUrl for {base:?}, got {other:?}"),
    }
}

fn template_error(template: &str) -> String {
    match HttpSource::builder("http://h")
        .path(template)
        .build()
        .unwrap_err()
    {
        BuildError::InvalidTemplate {
            template: t,
            reason,
        } => {
            assert_eq!(&*t, template);
            reason.to_string()
        }
        other => panic!("expected InvalidTemplate for {template:?}, got {other:?}"),
    }
}

#[test]
fn bad_base_urls_are_rejected() {
    assert_eq!(url_error("ftp://h/"), "the scheme must be http or https");
    assert_eq!(url_error("/config"), "no scheme (http:// or https://)");
    assert_eq!(
        url_error("http://h/?a=1"),
        "a base URL cannot hold a query; labels are sent as the query"
    );
    assert_eq!(
        url_error("http://h/#x"),
        "a base URL cannot hold a fragment"
    );
    assert_eq!(url_error("http://h:99999999/"), "invalid port");
    assert_eq!(url_error("not a url"), "invalid uri character");
    assert_eq!(url_error(""), "empty string");
}

#[test]
fn bad_templates_are_rejected() {
    assert_eq!(template_error("config/{name}"), "must start with '/'");
    assert_eq!(
        template_error("/{app}"),
        "unknown placeholder {app}; use {name} or {profile}"
    );
    assert_eq!(template_error("/{name"), "'{' without '}'");
    assert_eq!(template_error("/name}"), "'}' without '{'");
    assert_eq!(template_error("/static.json"), "no {name} placeholder");
    assert_eq!(template_error("/{name}/{name}"), "{name} appears twice");
    assert_eq!(
        template_error("/{name}?x=1"),
        "a template is a path; labels are sent as the query"
    );
    assert_eq!(
        template_error("/{name} x"),
        "' ' is not allowed in a URL path; percent-encode it"
    );
    assert_eq!(
        template_error("/%zz/{name}"),
        "'%' not followed by two hex digits"
    );
    assert!(
        HttpSource::builder("http://h")
            .path("/a%20b/{name}")
            .build()
            .is_ok()
    );
}

#[test]
fn bad_settings_and_headers_are_rejected() {
    assert_eq!(
        HttpSource::builder("http://h")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err(),
        BuildError::InvalidSetting {
            setting: "timeout",
            reason: "must be above zero"
        }
    );
    assert_eq!(
        HttpSource::builder("http://h")
            .max_body_size(0)
            .build()
            .unwrap_err(),
        BuildError::InvalidSetting {
            setting: "max_body_size",
            reason: "must be at least 1 byte"
        }
    );
    assert_eq!(
        HttpSource::builder("http://h")
            .default_profile("")
            .build()
            .unwrap_err(),
        BuildError::InvalidSetting {
            setting: "default_profile",
            reason: "must not be empty"
        }
    );
    assert_eq!(
        HttpSource::builder("http://h")
            .header("bad name", "v")
            .build()
            .unwrap_err(),
        BuildError::InvalidHeader {
            name: "bad name".into()
        }
    );
    assert_eq!(
        HttpSource::builder("http://h")
            .bearer_token("line\nbreak")
            .build()
            .unwrap_err(),
        BuildError::InvalidHeader {
            name: "authorization".into()
        }
    );
    let error = HttpSource::builder("http://h")
        .header("x-key", "a\rb")
        .build()
        .unwrap_err();
    assert_eq!(error.to_string(), "invalid header \"x-key\"");
}

#[test]
fn urls_follow_the_template() {
    let source = HttpSource::builder("https://config.example.com/api/")
        .path("/v1/{profile}/{name}.yaml")
        .default_profile("default")
        .build()
        .unwrap();
    assert_eq!(
        source.url(&ConfigRequest::new("app")).unwrap().to_string(),
        "https://config.example.com/api/v1/default/app.yaml"
    );
    assert_eq!(
        source
            .url(
                &ConfigRequest::new("app")
                    .with_profile("p 1")
                    .with_label("k", "v/w")
            )
            .unwrap()
            .to_string(),
        "https://config.example.com/api/v1/p%201/app.yaml?k=v%2Fw"
    );
    assert!(matches!(
        source.url(&ConfigRequest::new("")),
        Err(ConfigError::InvalidRequest { .. })
    ));
}

#[test]
fn errors_display_plainly() {
    let error = HttpSource::builder("http://h")
        .path("/x")
        .build()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid path template \"/x\": no {name} placeholder"
    );
}
