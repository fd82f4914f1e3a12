//! The file source: `<dir>/<name>.<ext>`, checked names, limits.

mod support;

use std::path::PathBuf;

use steadfast_config::{BuildError, ConfigError, ConfigRequest, Failure, FileSource, Format};
use tower::ServiceExt;

/// A fresh directory under the target's temp dir, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "steadfast-config-{test}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    fn write(&self, file: &str, contents: &[u8]) -> &Self {
        std::fs::write(self.0.join(file), contents).unwrap();
        self
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn load(
    source: &FileSource,
    req: ConfigRequest,
) -> Result<steadfast_config::ConfigResponse, ConfigError> {
    source.clone().oneshot(req).await
}

#[tokio::test]
async fn reads_name_dot_extension() {
    let dir = Dir::new("ok");
    dir.write("app.json", br#"{"port": 8080}"#);
    let source = FileSource::builder(&dir.0).build().unwrap();
    let response = load(&source, ConfigRequest::new("app")).await.unwrap();
    assert_eq!(response.format(), Format::Json);
    assert_eq!(&response.body()[..], br#"{"port": 8080}"#);
    let value: serde_json::Value = response.decode().unwrap();
    assert_eq!(value["port"], 8080);
    let version = response.version().unwrap().to_owned();
    assert!(version.starts_with("e-"), "{version}");

    dir.write("app.json", br#"{"port": 8081, "x": 1}"#);
    let changed = load(&source, ConfigRequest::new("app")).await.unwrap();
    assert_ne!(changed.version().unwrap(), version);
}

#[tokio::test]
async fn a_profile_picks_name_dash_profile() {
    let dir = Dir::new("profile");
    dir.write("app.json", b"{\"p\": \"none\"}")
        .write("app-prod.json", b"{\"p\": \"prod\"}");
    let source = FileSource::builder(&dir.0).build().unwrap();
    let prod = load(&source, ConfigRequest::new("app").with_profile("prod"))
        .await
        .unwrap();
    assert_eq!(&prod.body()[..], b"{\"p\": \"prod\"}");
    let error = load(&source, ConfigRequest::new("app").with_profile("dev"))
        .await
        .unwrap_err();
    assert!(matches!(&error, ConfigError::NotFound { name } if &**name == "app"));
}

#[tokio::test]
async fn a_missing_file_is_not_found() {
    let dir = Dir::new("missing");
    let source = FileSource::builder(&dir.0).build().unwrap();
    let error = load(&source, ConfigRequest::new("nothing"))
        .await
        .unwrap_err();
    support::assert_not_found(&error, "nothing");
}

#[tokio::test]
async fn bad_contents_fail_to_decode() {
    let dir = Dir::new("bad");
    dir.write("app.json", b"{\"port\": }");
    let source = FileSource::builder(&dir.0).build().unwrap();
    let response = load(&source, ConfigRequest::new("app")).await.unwrap();
    let error = response.decode::<serde_json::Value>().unwrap_err();
    assert!(matches!(
        error,
        ConfigError::Decode {
            format: Format::Json,
            line: Some(1),
            column: Some(10),
            ..
        }
    ));
}

#[tokio::test]
async fn names_cannot_leave_the_directory() {
    let dir = Dir::new("traversal");
    let inner = dir.0.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    dir.write("secret.json", b"{}");
    let source = FileSource::builder(&inner).build().unwrap();
    for name in ["../secret", "..", "a/b", "a\\b", "", "c:secret"] {
        let error = load(&source, ConfigRequest::new(name)).await.unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidRequest { .. }),
            "{name:?}: {error:?}"
        );
    }
    let error = load(&source, ConfigRequest::new("secret").with_profile("../x"))
        .await
        .unwrap_err();
    assert!(matches!(error, ConfigError::InvalidRequest { .. }));
}

#[tokio::test]
async fn a_file_over_the_limit_is_too_large() {
    let dir = Dir::new("large");
    dir.write("app.json", &[b' '; 101]);
    let source = FileSource::builder(&dir.0).max_size(100).build().unwrap();
    let error = load(&source, ConfigRequest::new("app")).await.unwrap_err();
    assert!(matches!(error, ConfigError::BodyTooLarge { limit: 100 }));
    dir.write("app.json", &[b' '; 100]);
    assert_eq!(
        load(&source, ConfigRequest::new("app"))
            .await
            .unwrap()
            .body()
            .len(),
        100
    );
}

#[tokio::test]
async fn a_configured_format_reads_only_its_extensions() {
    let dir = Dir::new("format");
    dir.write("app.json", b"{}").write("app.yml", b"a: 1");
    let yaml = FileSource::builder(&dir.0)
        .format(Format::Yaml)
        .build()
        .unwrap();
    let response = load(&yaml, ConfigRequest::new("app")).await.unwrap();
    assert_eq!(response.format(), Format::Yaml);
    assert_eq!(&response.body()[..], b"a: 1");
    let toml = FileSource::builder(&dir.0)
        .format(Format::Toml)
        .build()
        .unwrap();
    assert!(
        load(&toml, ConfigRequest::new("app"))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[cfg(feature = "toml")]
#[tokio::test]
async fn without_a_format_json_comes_before_toml() {
    let dir = Dir::new("order");
    dir.write("app.toml", b"a = 1");
    let source = FileSource::builder(&dir.0).build().unwrap();
    assert_eq!(
        load(&source, ConfigRequest::new("app"))
            .await
            .unwrap()
            .format(),
        Format::Toml
    );
    dir.write("app.json", b"{}");
    assert_eq!(
        load(&source, ConfigRequest::new("app"))
            .await
            .unwrap()
            .format(),
        Format::Json
    );
}

#[test]
fn the_builder_rejects_nonsense() {
    assert_eq!(
        FileSource::builder("").build().unwrap_err(),
        BuildError::InvalidSetting {
            setting: "dir",
            reason: "the directory path is empty"
        }
    );
    assert!(matches!(
        FileSource::builder("/tmp").max_size(0).build().unwrap_err(),
        BuildError::InvalidSetting {
            setting: "max_size",
            ..
        }
    ));
}

#[tokio::test]
async fn a_rewrite_with_the_same_length_and_time_gets_a_new_version() {
    let dir = Dir::new("same-stamp");
    let path = dir.0.join("app.json");
    dir.write("app.json", br#"{"port": 8080}"#);
    let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
    let source = FileSource::builder(&dir.0).build().unwrap();
    let first = load(&source, ConfigRequest::new("app")).await.unwrap();

    dir.write("app.json", br#"{"port": 9090}"#);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(stamp)
        .unwrap();
    let second = load(&source, ConfigRequest::new("app")).await.unwrap();
    assert_eq!(&second.body()[..], br#"{"port": 9090}"#);
    assert_ne!(second.version(), first.version());
}

#[cfg(unix)]
#[tokio::test]
async fn a_named_pipe_is_not_read_and_does_not_hang() {
    let dir = Dir::new("fifo");
    let status = std::process::Command::new("mkfifo")
        .arg(dir.0.join("app.json"))
        .status()
        .unwrap();
    assert!(status.success());
    let source = FileSource::builder(&dir.0).build().unwrap();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        load(&source, ConfigRequest::new("app")),
    )
    .await;
    let Ok(result) = result else {
        // Opening the writing end frees the reader stuck in `open`.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.0.join("app.json"));
        panic!("reading a named pipe hung");
    };
    assert!(
        matches!(result, Err(ConfigError::NotFound { .. })),
        "{result:?}"
    );
}
