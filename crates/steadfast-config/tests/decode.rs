//! Decoding bodies: JSON always, TOML and YAML behind features, with the
//! position of what is wrong.

mod support;

use serde::Deserialize;
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format, HttpSource, Validate};
use support::{Reply, Routes};
use tower::ServiceExt;

#[derive(Debug, Deserialize, PartialEq)]
struct Settings {
    port: u16,
    name: String,
}

fn decode_error(error: ConfigError) -> (Format, Option<usize>, Option<usize>, String) {
    match error {
        ConfigError::Decode {
            format,
            line,
            column,
            message,
        } => (format, line, column, message.to_string()),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_json_from_the_server_names_line_and_column() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::json("{\n  \"port\": 80\n  \"name\": \"x\"\n}"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let response = source.oneshot(ConfigRequest::new("app")).await.unwrap();
    let error = response.decode::<Settings>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid json config at line 3, column 3: expected `,` or `}`"
    );
    assert_eq!(
        decode_error(error),
        (
            Format::Json,
            Some(3),
            Some(3),
            "expected `,` or `}`".to_owned()
        )
    );
}

#[tokio::test]
async fn a_body_that_is_not_utf8_names_where_it_breaks() {
    let server = Routes::new()
        .at(
            "/app",
            Reply::status(200)
                .header("content-type", "application/json")
                .body(b"{\n  \"name\": \"caf\xe9\"\n}"),
        )
        .start()
        .await;
    let source = HttpSource::builder(server.url()).build().unwrap();
    let response = source.oneshot(ConfigRequest::new("app")).await.unwrap();
    let error = response.decode::<Settings>().unwrap_err();
    assert!(!error.is_transient());
    assert_eq!(
        decode_error(error),
        (
            Format::Json,
            Some(2),
            Some(15),
            "body is not valid UTF-8".to_owned()
        )
    );
}

#[test]
fn json_of_the_wrong_shape_is_a_decode_error() {
    let response = ConfigResponse::new(r#"{"port": "eighty", "name": "x"}"#, Format::Json);
    let (format, line, column, message) = decode_error(response.decode::<Settings>().unwrap_err());
    assert_eq!((format, line, column), (Format::Json, Some(1), Some(17)));
    assert_eq!(message, "invalid type: string \"eighty\", expected u16");
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let response = ConfigResponse::new("\u{feff}{\"port\": 1, \"name\": \"x\"}", Format::Json);
    assert_eq!(response.decode::<Settings>().unwrap().port, 1);
}

#[cfg(feature = "toml")]
#[test]
fn toml_decodes_and_names_positions() {
    let ok = ConfigResponse::new("port = 8080\nname = \"x\"\n", Format::Toml);
    assert_eq!(
        ok.decode::<Settings>().unwrap(),
        Settings {
            port: 8080,
            name: "x".into()
        }
    );
    let bad = ConfigResponse::new("port = 8080\nname = \n", Format::Toml);
    let (format, line, column, _) = decode_error(bad.decode::<Settings>().unwrap_err());
    assert_eq!((format, line, column), (Format::Toml, Some(2), Some(8)));
}

#[cfg(feature = "yaml")]
#[test]
fn yaml_decodes_and_names_positions() {
    let ok = ConfigResponse::new("port: 8080\nname: x\n", Format::Yaml);
    assert_eq!(ok.decode::<Settings>().unwrap().port, 8080);
    let bad = ConfigResponse::new("port: 8080\nname: [x\n", Format::Yaml);
    assert_eq!(
        decode_error(bad.decode::<Settings>().unwrap_err()),
        (
            Format::Yaml,
            Some(2),
            Some(7),
            "name: invalid type: sequence, expected a string".to_owned()
        )
    );
}

#[cfg(not(feature = "toml"))]
#[test]
fn toml_without_the_feature_says_so() {
    let response = ConfigResponse::new("port = 1", Format::Toml);
    let (_, _, _, message) = decode_error(response.decode::<Settings>().unwrap_err());
    assert_eq!(message, "toml support is not enabled (feature `toml`)");
}

impl Validate for Settings {
    fn validate(&self) -> Result<(), String> {
        if self.port < 1024 {
            return Err(format!("port {} is privileged", self.port));
        }
        Ok(())
    }
}

#[test]
fn validation_runs_after_decoding() {
    let ok = ConfigResponse::new(r#"{"port": 8080, "name": "x"}"#, Format::Json);
    assert_eq!(ok.decode_validated::<Settings>().unwrap().port, 8080);
    let low = ConfigResponse::new(r#"{"port": 80, "name": "x"}"#, Format::Json);
    let error = low.decode_validated::<Settings>().unwrap_err();
    assert!(
        matches!(&error, ConfigError::Validation { message } if &**message == "port 80 is privileged")
    );
    assert!(!error.is_transient());
}

#[test]
fn json_columns_count_characters_and_start_at_one() {
    let wide = ConfigResponse::new("{\"é\": 1,}", Format::Json);
    let (_, line, column, _) = decode_error(wide.decode::<serde_json::Value>().unwrap_err());
    assert_eq!((line, column), (Some(1), Some(9)));

    let cut = ConfigResponse::new("{\n", Format::Json);
    let (_, line, column, _) = decode_error(cut.decode::<serde_json::Value>().unwrap_err());
    assert_eq!((line, column), (Some(2), Some(1)));
}
