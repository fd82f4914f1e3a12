//! The HTTP source against a real nginx (the private harness of
//! `support/nginx.rs`): its `ETag`s and `304`s, gzip, its redirects, and
//! credentials kept from another origin.

#[path = "support/nginx.rs"]
mod nginx;

use nginx::Nginx;
use steadfast::config::{ConfigError, ConfigRequest, HttpSource, RedirectRefused};
use tower::ServiceExt;

/// A config large enough that nginx's gzip shrinks it.
fn config(version: u32) -> String {
    let items: Vec<String> = (0..200).map(|i| format!("\"item-{i}\"")).collect();
    format!(r#"{{"version":{version},"items":[{}]}}"#, items.join(","))
}

/// The version nginx's `ETag` names: the tag without `W/` and quotes.
fn etag_version(nginx: &Nginx, file: &str) -> String {
    let modified = std::fs::metadata(nginx.config_dir().join(file)).unwrap();
    let secs = modified
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!("{secs:x}-{:x}", modified.len())
}

#[tokio::test]
async fn etags_304s_and_gzip() {
    let Some(nginx) = Nginx::start("source-etag") else {
        return;
    };
    nginx.put_config("app.json", &config(1));
    let gzipped = HttpSource::builder(nginx.base_url())
        .path("/config/{name}.json")
        .build()
        .unwrap();
    let plain = HttpSource::builder(nginx.base_url())
        .path("/config/{name}.json")
        .header("accept-encoding", "identity")
        .build()
        .unwrap();
    let version = etag_version(&nginx, "app.json");

    let load = |source: &HttpSource| source.clone().oneshot(ConfigRequest::new("app"));
    let first = load(&gzipped).await.unwrap();
    assert_eq!(first.body(), config(1).as_bytes());
    // nginx weakens the tag of what it compresses.
    assert_eq!(first.version(), Some(version.as_str()));
    assert!(first.is_weak_version());
    let again = load(&gzipped).await.unwrap();
    assert_eq!(again.body(), config(1).as_bytes());
    assert_eq!(
        (again.version(), again.is_weak_version()),
        (Some(version.as_str()), true)
    );
    assert_eq!(gzipped.stats().not_modified, 1);

    let strong = load(&plain).await.unwrap();
    assert_eq!(strong.body(), config(1).as_bytes());
    assert_eq!(
        (strong.version(), strong.is_weak_version()),
        (Some(version.as_str()), false)
    );
    load(&plain).await.unwrap();
    assert_eq!(plain.stats().not_modified, 1);

    let log = nginx.log_of(4);
    let seen: Vec<(u16, Option<&str>)> = log
        .iter()
        .map(|logged| (logged.status, logged.content_encoding.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [(200, Some("gzip")), (304, None), (200, None), (304, None)]
    );
    // Compressed, it crossed the wire in fewer bytes than it has; the tag
    // still names its size.
    assert!(log[0].bytes < config(1).len() as u64 / 2, "{:?}", log[0]);
    assert_eq!(log[0].file_len(), Some(config(1).len() as u64));
    assert_eq!(
        log[0].etag.as_deref(),
        Some(format!("W/\"{version}\"").as_str())
    );
    assert_eq!(log[2].bytes, config(1).len() as u64);

    // A new file is a new version, in full (its time set apart, as the
    // tag is of the time and the length, and the length is the same).
    nginx.put_config("app.json", &config(2));
    let file = std::fs::File::options()
        .write(true)
        .open(nginx.config_dir().join("app.json"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    let changed = load(&gzipped).await.unwrap();
    assert_eq!(changed.body(), config(2).as_bytes());
    assert_ne!(changed.version(), Some(version.as_str()));
    assert_eq!(nginx.log_of(5)[4].status, 200);
}

#[tokio::test]
async fn redirects_on_the_same_origin_are_followed_and_others_are_not() {
    let Some(nginx) = Nginx::start("source-redirects") else {
        return;
    };
    nginx.put_config("app.json", &config(1));
    let moved = HttpSource::builder(nginx.base_url())
        .path("/moved/{name}.json")
        .bearer_token("s3cr3t")
        .build()
        .unwrap();
    let response = moved.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(response.body(), config(1).as_bytes());

    // `/elsewhere/` points to `localhost`: another origin than 127.0.0.1.
    let elsewhere = || {
        HttpSource::builder(nginx.base_url())
            .path("/elsewhere/{name}.json")
            .bearer_token("s3cr3t")
    };
    let error = elsewhere()
        .build()
        .unwrap()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap_err();
    let expected = format!("http://localhost:{}/config/app.json", nginx.addr().port());
    assert!(
        matches!(
            &error,
            ConfigError::Redirect { reason: RedirectRefused::OtherOrigin, location: Some(l), .. }
                if **l == expected
        ),
        "{error:?}"
    );
    let followed = elsewhere()
        .allow_cross_origin_redirects(true)
        .build()
        .unwrap()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(followed.body(), config(1).as_bytes());

    let log = nginx.log_of(5);
    let seen: Vec<(&str, u16, &str, Option<&str>)> = log
        .iter()
        .map(|l| {
            (
                l.uri.as_str(),
                l.status,
                l.host.as_str(),
                l.authorization.as_deref(),
            )
        })
        .collect();
    let bearer = Some("Bearer s3cr3t");
    assert_eq!(
        seen,
        [
            ("/moved/app.json", 301, "127.0.0.1", bearer),
            ("/config/app.json", 200, "127.0.0.1", bearer),
            ("/elsewhere/app.json", 301, "127.0.0.1", bearer),
            ("/elsewhere/app.json", 301, "127.0.0.1", bearer),
            // The other origin never sees the credentials.
            ("/config/app.json", 200, "localhost", None),
        ]
    );
}
