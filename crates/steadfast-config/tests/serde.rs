//! The serde form of a response: what a store outside the process keeps.

use std::time::Duration;

use steadfast_config::{ConfigResponse, Format, Source, Typed};

#[tokio::test(start_paused = true)]
async fn a_text_body_round_trips_with_its_age() {
    let original = ConfigResponse::new(r#"{"port": 1}"#, Format::Toml)
        .with_version("\"abc\"")
        .with_source(Source::Cache);
    tokio::time::advance(Duration::from_secs(90)).await;
    let json = serde_json::to_value(&original).unwrap();
    assert_eq!(json["body"], r#"{"port": 1}"#);
    assert_eq!(json["encoding"], "utf8");
    assert_eq!(json["format"], "toml");
    assert_eq!(json["version"], "\"abc\"");
    assert_eq!(json["source"], "cache");
    assert!(json["fetched_at_ms"].is_u64());

    let back: ConfigResponse = serde_json::from_value(json).unwrap();
    assert_eq!(back.body(), original.body());
    assert_eq!(back.format(), Format::Toml);
    assert_eq!(back.version(), Some("\"abc\""));
    assert_eq!(back.source(), Source::Cache);
    // The wall clock moves on while the test runs; milliseconds are kept.
    let age = back.age();
    assert!(age >= Duration::from_millis(89_999), "{age:?}");
    assert!(age < Duration::from_secs(92), "{age:?}");
}

#[test]
fn a_weak_version_round_trips_and_an_old_envelope_reads_as_strong() {
    let weak = ConfigResponse::new("{}", Format::Json)
        .with_version("abc")
        .with_weak_version(true);
    let json = serde_json::to_value(&weak).unwrap();
    assert_eq!(json["weak_version"], true);
    let back: ConfigResponse = serde_json::from_value(json).unwrap();
    assert_eq!(
        (back.version(), back.is_weak_version()),
        (Some("abc"), true)
    );

    let old = r#"{"body":"{}","encoding":"utf8","format":"json","version":"abc","fetched_at_ms":0,"source":"origin"}"#;
    let back: ConfigResponse = serde_json::from_str(old).unwrap();
    assert_eq!(
        (back.version(), back.is_weak_version()),
        (Some("abc"), false)
    );
}

#[test]
fn a_binary_body_is_base64() {
    let original = ConfigResponse::new(vec![0xff, 0x00, b'a'], Format::Json);
    let json = serde_json::to_string(&original).unwrap();
    assert!(json.contains(r#""body":"/wBh""#), "{json}");
    assert!(json.contains(r#""encoding":"base64""#), "{json}");
    assert!(json.contains(r#""version":null"#), "{json}");
    let back: ConfigResponse = serde_json::from_str(&json).unwrap();
    assert_eq!(&back.body()[..], &[0xff, 0x00, b'a']);
    assert_eq!(back.version(), None);
    assert_eq!(back.source(), Source::Origin);
}

#[test]
fn garbage_is_refused() {
    let base = r#"{"body":"x","encoding":"utf8","format":"json","version":null,"fetched_at_ms":0,"source":"origin"}"#;
    assert!(serde_json::from_str::<ConfigResponse>(base).is_ok());
    for (from, to) in [
        (r#""encoding":"utf8""#, r#""encoding":"rot13""#),
        (r#""format":"json""#, r#""format":"ini""#),
        (r#""source":"origin""#, r#""source":"moon""#),
        (
            r#""body":"x","encoding":"utf8""#,
            r#""body":"!!","encoding":"base64""#,
        ),
    ] {
        let bad = base.replace(from, to);
        assert!(
            serde_json::from_str::<ConfigResponse>(&bad).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn formats_serialize_as_their_names() {
    assert_eq!(serde_json::to_string(&Format::Yaml).unwrap(), r#""yaml""#);
    assert_eq!(
        serde_json::from_str::<Format>(r#""yml""#).unwrap(),
        Format::Yaml
    );
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Limits {
    max_retries: u32,
}

#[tokio::test(start_paused = true)]
async fn a_typed_value_round_trips_with_its_age() {
    let response = ConfigResponse::new(r#"{"max_retries": 4}"#, Format::Json)
        .with_version("v9")
        .with_source(Source::Stale);
    let typed = Typed::new(response.decode::<Limits>().unwrap(), &response);
    tokio::time::advance(Duration::from_secs(10)).await;
    let json = serde_json::to_value(&typed).unwrap();
    assert_eq!(json["value"], serde_json::json!({"max_retries": 4}));
    assert_eq!(json["version"], "v9");
    assert_eq!(json["source"], "stale");
    let back: Typed<Limits> = serde_json::from_value(json).unwrap();
    assert_eq!(*back, Limits { max_retries: 4 });
    assert_eq!(back.version(), Some("v9"));
    assert_eq!(back.format(), Format::Json);
    assert_eq!(back.source(), Source::Stale);
    let age = back.age();
    assert!(age >= Duration::from_millis(9_999), "{age:?}");
    assert!(age < Duration::from_secs(12), "{age:?}");
}
