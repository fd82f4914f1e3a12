use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use steadfast_core::{Provenance, Source};
use tokio::time::Instant;

use crate::ConfigError;
use crate::decode::{self, Validate};
use crate::shared::Slots;

/// The format of a configuration body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// JSON (`application/json`, `.json`).
    #[default]
    Json,
    /// TOML (`application/toml`, `.toml`); decoding needs the `toml` feature.
    Toml,
    /// YAML (`application/yaml`, `.yaml`, `.yml`); decoding needs the `yaml`
    /// feature.
    Yaml,
}

impl Format {
    /// A short lowercase name: `json`, `toml` or `yaml`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Toml => "toml",
            Format::Yaml => "yaml",
        }
    }

    /// The usual file extension.
    pub const fn extension(&self) -> &'static str {
        self.as_str()
    }

    /// The format named by a `Content-Type` value, ignoring parameters
    /// (`application/json; charset=utf-8`) and accepting `+json`-style
    /// suffixes.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let (kind, sub) = essence.split_once('/')?;
        if kind != "application" && kind != "text" {
            return None;
        }
        let sub = sub.rsplit('+').next().unwrap_or(sub);
        match sub {
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            "yaml" | "x-yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }

    /// The format of a file extension (without the dot).
    pub fn from_extension(extension: &str) -> Option<Format> {
        match extension.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The most memory reserved for a body before its bytes arrive, whatever
/// length it declares: a server's `Content-Length` (or a file's size) is
/// not trusted with an allocation; larger bodies grow as they are read.
pub(crate) const MAX_PREALLOCATED_BODY: usize = 64 * 1024;

/// A loaded configuration: its bytes and what is known about them.
///
/// Cloning is cheap: one reference count for the body, its facts and its
/// [decoded values](ConfigResponse::decode_shared), which every clone
/// shares.
#[derive(Clone)]
pub struct ConfigResponse {
    inner: Arc<Inner>,
    source: Source,
}

/// What every clone of a response shares.
#[derive(Clone)]
struct Inner {
    body: Bytes,
    format: Format,
    version: Option<Arc<str>>,
    weak_version: bool,
    fetched_at: Instant,
    /// The body's decoded values: shared by a copy that changes only the
    /// version or the fetch time, since the bytes are the same.
    slots: Arc<Slots>,
}

impl ConfigResponse {
    /// A response with `body` in `format`, fetched now from the origin.
    pub fn new(body: impl Into<Bytes>, format: Format) -> Self {
        Self {
            inner: Arc::new(Inner {
                body: body.into(),
                format,
                version: None,
                weak_version: false,
                fetched_at: Instant::now(),
                slots: Arc::default(),
            }),
            source: Source::Origin,
        }
    }

    /// The shared facts, for a change: this response's own copy.
    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// The decoded values of the body.
    pub(crate) fn slots(&self) -> &Slots {
        &self.inner.slots
    }

    /// Sets the version (an HTTP `ETag`'s tag without its quotes, a file's
    /// modification stamp).
    pub fn with_version(mut self, version: impl Into<Arc<str>>) -> Self {
        self.inner_mut().version = Some(version.into());
        self
    }

    /// Marks the version as weak (an `ETag` of `W/"…"`: the same meaning,
    /// perhaps not the same bytes, as a compressed and an uncompressed body
    /// of one file) or strong.
    pub fn with_weak_version(mut self, weak: bool) -> Self {
        self.inner_mut().weak_version = weak;
        self
    }

    /// Sets when the body was fetched from its origin.
    pub fn with_fetched_at(mut self, fetched_at: Instant) -> Self {
        self.inner_mut().fetched_at = fetched_at;
        self
    }

    /// Sets where the response came from.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.inner.body
    }

    /// The body's format.
    pub fn format(&self) -> Format {
        self.inner.format
    }

    /// The version, if the origin gave one: for an HTTP source the
    /// `ETag`'s tag without its quotes or weak prefix (`v1` for `"v1"`
    /// and for `W/"v1"`; see [`is_weak_version`](Self::is_weak_version)).
    pub fn version(&self) -> Option<&str> {
        self.inner.version.as_deref()
    }

    /// Whether the version came from a weak validator (`W/"…"`).
    pub fn is_weak_version(&self) -> bool {
        self.inner.weak_version
    }

    /// The version as the shared string it is stored in.
    pub(crate) fn shared_version(&self) -> Option<&Arc<str>> {
        self.inner.version.as_ref()
    }

    /// When the body was fetched from its origin.
    pub fn fetched_at(&self) -> Instant {
        self.inner.fetched_at
    }

    /// How long ago the body was fetched from its origin.
    pub fn age(&self) -> Duration {
        Instant::now().saturating_duration_since(self.inner.fetched_at)
    }

    /// Where this response came from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Decodes the body as its [`format`](ConfigResponse::format).
    ///
    /// JSON is always available; TOML needs the `toml` feature and YAML the
    /// `yaml` feature. A body that is not UTF-8, does not parse or does not
    /// fit `T` is a [`ConfigError::Decode`] with the line and column where
    /// the parser gives them.
    ///
    /// ```
    /// use steadfast_config::{ConfigError, ConfigResponse, Format};
    ///
    /// let ok = ConfigResponse::new(r#"{"port": 8080}"#, Format::Json);
    /// let value: serde_json::Value = ok.decode()?;
    /// assert_eq!(value["port"], 8080);
    ///
    /// let bad = ConfigResponse::new("{\n  \"port\": 80,\n}", Format::Json);
    /// match bad.decode::<serde_json::Value>() {
    ///     Err(ConfigError::Decode { line, column, .. }) => {
    ///         assert_eq!((line, column), (Some(3), Some(1)));
    ///     }
    ///     other => panic!("unexpected {other:?}"),
    /// }
    /// # Ok::<(), ConfigError>(())
    /// ```
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        decode::decode(self.inner.format, &self.inner.body)
    }

    /// Decodes the body, then runs `T`'s [`Validate`] check; a failed check
    /// is a [`ConfigError::Validation`].
    pub fn decode_validated<T: DeserializeOwned + Validate>(&self) -> Result<T, ConfigError> {
        let value: T = self.decode()?;
        decode::validate(&value)?;
        Ok(value)
    }
}

impl Provenance for ConfigResponse {
    fn source(&self) -> Source {
        self.source
    }

    fn set_source(&mut self, source: Source) {
        self.source = source;
    }
}

impl PartialEq for ConfigResponse {
    /// Equal bytes, format, version, fetch time and source; the decoded
    /// values are not compared.
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
            && (Arc::ptr_eq(&self.inner, &other.inner)
                || (self.inner.body == other.inner.body
                    && self.inner.format == other.inner.format
                    && self.inner.version == other.inner.version
                    && self.inner.weak_version == other.inner.weak_version
                    && self.inner.fetched_at == other.inner.fetched_at))
    }
}

impl Eq for ConfigResponse {}

impl fmt::Debug for ConfigResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigResponse")
            .field("format", &self.inner.format)
            .field("version", &self.inner.version)
            .field("weak_version", &self.inner.weak_version)
            .field("len", &self.inner.body.len())
            .field("age", &self.age())
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_from_content_type_and_extension() {
        assert_eq!(
            Format::from_content_type("application/json"),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_content_type("application/vnd.api+json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type("TEXT/YAML"), Some(Format::Yaml));
        assert_eq!(
            Format::from_content_type("application/toml"),
            Some(Format::Toml)
        );
        assert_eq!(Format::from_content_type("text/html"), None);
        assert_eq!(Format::from_content_type("image/json"), None);
        assert_eq!(Format::from_content_type("garbage"), None);
        assert_eq!(Format::from_extension("YML"), Some(Format::Yaml));
        assert_eq!(Format::from_extension("ini"), None);
    }
}
