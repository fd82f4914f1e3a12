use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::UNIX_EPOCH;

use pin_project_lite::pin_project;
use tokio::task::JoinHandle;
use tower_service::Service;

use crate::response::MAX_PREALLOCATED_BODY;
use crate::{BuildError, ConfigError, ConfigRequest, ConfigResponse, Format};

/// The default size limit of a configuration file: 4 MiB.
pub const DEFAULT_MAX_FILE_SIZE: u64 = 4 * 1024 * 1024;

/// A source that reads `<dir>/<name>.<ext>` (or `<dir>/<name>-<profile>.<ext>`
/// for a request with a profile).
///
/// Without a configured format it tries `json`, then `toml` and `yaml`/`yml`
/// when those features are on; the first file that exists wins. Labels are
/// ignored. The version is the file's length, modification time and a hash
/// of its contents, so a rewritten file gets a new one.
///
/// A name (or profile) that is empty or holds a path separator, `..` or a
/// drive colon is a [`ConfigError::InvalidRequest`]; a missing file is
/// [`ConfigError::NotFound`]; a file over the size limit is
/// [`ConfigError::BodyTooLarge`] and is not read past the limit.
///
/// Files are read on tokio's blocking pool, so calls need a tokio runtime.
#[derive(Clone)]
pub struct FileSource {
    shared: Arc<FileShared>,
}

struct FileShared {
    dir: PathBuf,
    format: Option<Format>,
    max_size: u64,
}

impl FileSource {
    /// Starts a source reading from `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileSourceBuilder {
        FileSourceBuilder {
            dir: dir.into(),
            format: None,
            max_size: DEFAULT_MAX_FILE_SIZE,
        }
    }

    /// The directory it reads from.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl fmt::Debug for FileSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileSource")
            .field("dir", &self.shared.dir)
            .field("format", &self.shared.format)
            .field("max_size", &self.shared.max_size)
            .finish()
    }
}

/// Configures a [`FileSource`].
#[derive(Debug, Clone)]
pub struct FileSourceBuilder {
    dir: PathBuf,
    format: Option<Format>,
    max_size: u64,
}

impl FileSourceBuilder {
    /// Reads only files of `format` (`.json`, `.toml`, or `.yaml`/`.yml`).
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// The largest file it reads, in bytes (default 4 MiB).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Builds the source. An empty directory path or a zero size limit is a
    /// [`BuildError`]; the directory itself need not exist yet.
    pub fn build(self) -> Result<FileSource, BuildError> {
        if self.dir.as_os_str().is_empty() {
            return Err(BuildError::setting("dir", "the directory path is empty"));
        }
        if self.max_size == 0 {
            return Err(BuildError::setting("max_size", "must be at least 1 byte"));
        }
        Ok(FileSource {
            shared: Arc::new(FileShared {
                dir: self.dir,
                format: self.format,
                max_size: self.max_size,
            }),
        })
    }
}

impl Service<ConfigRequest> for FileSource {
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = FileFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ConfigRequest) -> FileFuture {
        let stem = match file_stem(&req) {
            Ok(stem) => stem,
            Err(error) => {
                return FileFuture {
                    state: FileState::Failed { error: Some(error) },
                };
            }
        };
        let shared = self.shared.clone();
        let handle = tokio::task::spawn_blocking(move || read(&shared, &stem, &req));
        FileFuture {
            state: FileState::Reading { handle },
        }
    }
}

struct Loaded {
    body: Vec<u8>,
    format: Format,
    version: String,
}

fn file_stem(req: &ConfigRequest) -> Result<String, ConfigError> {
    check_segment("name", req.name())?;
    Ok(match req.profile() {
        Some(profile) => {
            check_segment("profile", profile)?;
            format!("{}-{profile}", req.name())
        }
        None => req.name().to_owned(),
    })
}

fn check_segment(what: &str, value: &str) -> Result<(), ConfigError> {
    if value.is_empty() {
        return Err(ConfigError::invalid_request(format!("empty {what}")));
    }
    if value.contains(['/', '\\', ':', '\0']) || value.contains("..") {
        return Err(ConfigError::invalid_request(format!(
            "{what} {value:?} holds a path separator or `..`"
        )));
    }
    Ok(())
}

fn candidates(format: Option<Format>) -> &'static [(Format, &'static str)] {
    match format {
        Some(Format::Json) => &[(Format::Json, "json")],
        Some(Format::Toml) => &[(Format::Toml, "toml")],
        Some(Format::Yaml) => &[(Format::Yaml, "yaml"), (Format::Yaml, "yml")],
        None => &[
            (Format::Json, "json"),
            #[cfg(feature = "toml")]
            (Format::Toml, "toml"),
            #[cfg(feature = "yaml")]
            (Format::Yaml, "yaml"),
            #[cfg(feature = "yaml")]
            (Format::Yaml, "yml"),
        ],
    }
}

fn read(shared: &FileShared, stem: &str, req: &ConfigRequest) -> Result<Loaded, ConfigError> {
    for &(format, extension) in candidates(shared.format) {
        let path = shared.dir.join(format!("{stem}.{extension}"));
        // Only regular files are opened: opening a named pipe would block
        // until something writes to it.
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => continue,
            Ok(_) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error.into()),
        }
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error.into()),
        };
        let meta = file.metadata()?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > shared.max_size {
            return Err(too_large(shared.max_size));
        }
        let mut body = Vec::with_capacity(
            usize::try_from(meta.len())
                .unwrap_or(usize::MAX)
                .min(MAX_PREALLOCATED_BODY),
        );
        file.take(shared.max_size.saturating_add(1))
            .read_to_end(&mut body)?;
        if body.len() as u64 > shared.max_size {
            return Err(too_large(shared.max_size));
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let version = format!("{:x}-{modified:x}-{:x}", body.len(), fnv1a(&body));
        tracing::debug!(path = %path.display(), bytes = body.len(), %version, "config file read");
        return Ok(Loaded {
            body,
            format,
            version,
        });
    }
    Err(ConfigError::NotFound {
        name: Arc::from(req.name()),
    })
}

/// The 64-bit FNV-1a hash of `bytes`, so that a rewrite keeping the length
/// and the modification time still gets a new version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn too_large(limit: u64) -> ConfigError {
    ConfigError::BodyTooLarge {
        limit: usize::try_from(limit).unwrap_or(usize::MAX),
    }
}

pin_project! {
    /// The response future of [`FileSource`].
    pub struct FileFuture {
        #[pin]
        state: FileState,
    }
}

pin_project! {
    #[project = FileStateProj]
    enum FileState {
        Failed { error: Option<ConfigError> },
        Reading { handle: JoinHandle<Result<Loaded, ConfigError>> },
    }
}

impl fmt::Debug for FileFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileFuture").finish_non_exhaustive()
    }
}

impl Future for FileFuture {
    type Output = Result<ConfigResponse, ConfigError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            FileStateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| ConfigError::invalid_request("polled after completion")))),
            FileStateProj::Reading { handle } => {
                let loaded = match ready!(Pin::new(handle).poll(cx)) {
                    Ok(loaded) => loaded?,
                    Err(join) => return Poll::Ready(Err(io::Error::other(join).into())),
                };
                Poll::Ready(Ok(
                    ConfigResponse::new(loaded.body, loaded.format).with_version(loaded.version)
                ))
            }
        }
    }
}
