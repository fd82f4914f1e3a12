use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use steadfast_core::{Provenance, Source};
use tokio::time::Instant;

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

/// A loaded configuration: its bytes and what is known about them.
///
/// Cloning is cheap: the body is reference-counted [`Bytes`].
#[derive(Clone, PartialEq, Eq)]
pub struct ConfigResponse {
    body: Bytes,
    format: Format,
    version: Option<Arc<str>>,
    fetched_at: Instant,
    source: Source,
}

impl ConfigResponse {
    /// A response with `body` in `format`, fetched now from the origin.
    pub fn new(body: impl Into<Bytes>, format: Format) -> Self {
        Self {
            body: body.into(),
            format,
            version: None,
            fetched_at: Instant::now(),
            source: Source::Origin,
        }
    }

    /// Sets the version (an HTTP `ETag`, a file's modification stamp).
    pub fn with_version(mut self, version: impl Into<Arc<str>>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Sets when the body was fetched from its origin.
    pub fn with_fetched_at(mut self, fetched_at: Instant) -> Self {
        self.fetched_at = fetched_at;
        self
    }

    /// Sets where the response came from.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The version, if the origin gave one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// When the body was fetched from its origin.
    pub fn fetched_at(&self) -> Instant {
        self.fetched_at
    }

    /// How long ago the body was fetched from its origin.
    pub fn age(&self) -> Duration {
        Instant::now().saturating_duration_since(self.fetched_at)
    }

    /// Where this response came from.
    pub fn source(&self) -> Source {
        self.source
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

impl fmt::Debug for ConfigResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigResponse")
            .field("format", &self.format)
            .field("version", &self.version)
            .field("len", &self.body.len())
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
        assert_eq!(Format::from_content_type("application/json"), Some(Format::Json));
        assert_eq!(
            Format::from_content_type("application/vnd.api+json; charset=utf-8"),
            Some(Format::Json)
        );
        assert_eq!(Format::from_content_type("TEXT/YAML"), Some(Format::Yaml));
        assert_eq!(Format::from_content_type("application/toml"), Some(Format::Toml));
        assert_eq!(Format::from_content_type("text/html"), None);
        assert_eq!(Format::from_content_type("image/json"), None);
        assert_eq!(Format::from_content_type("garbage"), None);
        assert_eq!(Format::from_extension("YML"), Some(Format::Yaml));
        assert_eq!(Format::from_extension("ini"), None);
    }
}
