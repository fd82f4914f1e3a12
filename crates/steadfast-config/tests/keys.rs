//! Request keys name URLs: two requests share a key exactly when the HTTP
//! source sends them to the same URL, so they never share a cache entry or
//! a remembered body they should not.

use http::Uri;
use proptest::prelude::*;
use steadfast_config::{ConfigError, ConfigRequest, HttpSource};

fn source(template: &str, default_profile: Option<&str>) -> HttpSource<()> {
    let mut builder = HttpSource::builder("http://config.test/api").path(template);
    if let Some(profile) = default_profile {
        builder = builder.default_profile(profile);
    }
    builder.build_with(()).unwrap()
}

fn url(source: &HttpSource<()>, req: &ConfigRequest) -> Result<String, ConfigError> {
    source.url(req).map(|uri: Uri| uri.to_string())
}

#[test]
fn an_empty_profile_is_no_profile() {
    let empty = ConfigRequest::new("app")
        .with_profile("")
        .with_label("a", "1");
    let none = ConfigRequest::new("app").with_label("a", "1");
    assert_eq!(empty.profile(), None);
    assert_eq!(empty, none);
    assert_eq!(empty.key(), "app@[a=1]");
    let queried = source("/{name}", None);
    assert_eq!(
        url(&queried, &empty).unwrap(),
        "http://config.test/api/app?a=1"
    );
    assert_eq!(
        url(&queried, &none).unwrap(),
        "http://config.test/api/app?a=1"
    );

    // The default profile applies to both alike.
    let defaulted = source("/{name}/{profile}", Some("prod"));
    assert_eq!(
        url(&defaulted, &empty).unwrap(),
        "http://config.test/api/app/prod?a=1"
    );
    assert_eq!(ConfigRequest::new("app").with_profile("").key(), "app");
}

#[test]
fn a_label_named_profile_is_refused_where_the_profile_is_a_query_parameter() {
    let labelled = ConfigRequest::new("app").with_label("profile", "dev");
    let queried = source("/{name}", None);
    let error = url(&queried, &labelled).unwrap_err();
    assert!(
        matches!(error, ConfigError::InvalidRequest { .. }),
        "{error}"
    );
    assert_eq!(
        url(&queried, &ConfigRequest::new("app").with_profile("dev")).unwrap(),
        "http://config.test/api/app?profile=dev"
    );

    // Where the template places the profile, the label is a plain label.
    let placed = source("/{name}/{profile}", None);
    assert_eq!(
        url(&placed, &labelled.with_profile("prod")).unwrap(),
        "http://config.test/api/app/prod?profile=dev"
    );
}

/// Pieces that mean something in a key or a URL, so random requests often
/// collide and every separator gets a turn.
const PIECES: &[&str] = &[
    "", "a", "b", "profile", "@", "[", "]", ",", "=", "\\", "&", "?", "%", "%2F", "/", " ", "é",
    ".", "..", "a=1", "+",
];

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..3).prop_map(|pieces| pieces.concat())
}

/// Mostly a few short values, so that requests often share parts.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&["", "a", "dev"][..]).prop_map(str::to_owned),
        2 => text(),
    ]
}

/// Label names; `profile` often, which is also the profile's parameter.
fn label_name() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("profile".to_owned()),
        3 => value(),
    ]
}

fn request() -> impl Strategy<Value = ConfigRequest> {
    (
        prop_oneof![3 => Just("app".to_owned()), 1 => text()],
        prop::option::of(value()),
        prop::collection::vec((label_name(), value()), 0..3),
    )
        .prop_map(|(name, profile, labels)| {
            let mut req = ConfigRequest::new(name);
            if let Some(profile) = profile {
                req = req.with_profile(profile);
            }
            for (name, value) in labels {
                req = req.with_label(name, value);
            }
            req
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn keys_are_equal_exactly_when_urls_are(requests in prop::collection::vec(request(), 2..6)) {
        let sources = [
            source("/{name}", None),
            source("/config/{name}/{profile}.json", None),
        ];
        for source in &sources {
            let urls: Vec<_> = requests.iter().map(|req| url(source, req)).collect();
            for (i, one) in requests.iter().enumerate() {
                for (j, other) in requests.iter().enumerate().skip(i + 1) {
                    match (&urls[i], &urls[j]) {
                        (Ok(a), Ok(b)) => prop_assert_eq!(
                            one.key() == other.key(),
                            a == b,
                            "{:?} at {} and {:?} at {}", one, a, other, b
                        ),
                        // A request that cannot be sent shares its key only
                        // with requests that cannot be sent either.
                        _ if one.key() == other.key() => {
                            prop_assert!(urls[i].is_err() && urls[j].is_err(), "{:?} {:?}", one, other);
                        }
                        _ => {}
                    }
                    if one.key() == other.key() {
                        prop_assert_eq!(one, other);
                    }
                }
            }
        }

        // A default profile may send different keys to one URL (the request
        // does not know the source's default), never one key to two URLs.
        let defaulted = source("/{name}", Some("dev"));
        for one in &requests {
            for other in &requests {
                if one.key() == other.key() {
                    prop_assert_eq!(
                        url(&defaulted, one).ok(),
                        url(&defaulted, other).ok()
                    );
                }
            }
        }
    }
}
