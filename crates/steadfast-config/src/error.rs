use std::error::Error;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use steadfast_core::{Causes, CircuitOpen, Failure, FailureKind, SharedError, TimedOut};

use crate::Format;

/// Why a configuration could not be loaded.
///
/// Cloning is cheap (sources are reference-counted), so one failure can be
/// handed to many waiters. [`is_transient`](ConfigError::is_transient) tells
/// the failures worth retrying (transport, timeout, 5xx, 429, an open
/// circuit) from those that will repeat (4xx, decode, validation), and
/// [`Failure::kind`] tells a permanent failure from invalid content.
///
/// `Display` shows the cause chain on one line, each cause once
/// ("transport error: client error (Connect): tcp connect error:
/// Connection refused (os error 111)"), so a log line or an alert names
/// the real failure; `source()` still gives the cause for code that looks
/// into it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConfigError {
    /// The request cannot be loaded as given (an empty name, a name that
    /// would leave the source's directory).
    InvalidRequest {
        /// What is wrong with it.
        reason: Arc<str>,
    },
    /// The connection failed (refused, reset, TLS, DNS).
    Transport(Arc<dyn Error + Send + Sync + 'static>),
    /// No complete response arrived within the timeout.
    Timeout(Duration),
    /// The server answered with an unexpected status.
    Status {
        /// The status code.
        code: StatusCode,
        /// The delay the server asked for (`Retry-After`), if any.
        retry_after: Option<Duration>,
    },
    /// The configuration does not exist (HTTP 404, a missing file).
    NotFound {
        /// The name that was asked for.
        name: Arc<str>,
    },
    /// The body's format is unknown or not a configuration format: the
    /// server answered with another content type (`text/html`), or neither
    /// the content type nor the URL's extension named a format.
    UnsupportedFormat {
        /// The content type the server gave, if any.
        content_type: Option<Arc<str>>,
    },
    /// The body was larger than the limit; reading stopped at the limit.
    /// A compressed body counts by its decoded size too, so a small body
    /// that inflates past the limit is this.
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body came in a `Content-Encoding` this build does not decode
    /// (one it did not ask for in `Accept-Encoding`, or several stacked).
    UnsupportedEncoding {
        /// The encoding, as the server named it.
        encoding: Arc<str>,
    },
    /// The body did not decode in its `Content-Encoding`: corrupt,
    /// truncated, or followed by other bytes.
    CorruptBody {
        /// The encoding (`gzip`, `br`, `zstd`).
        encoding: Arc<str>,
        /// What the decoder said.
        message: Arc<str>,
    },
    /// The server redirected, and the redirect was not followed.
    Redirect {
        /// The redirect's status.
        code: StatusCode,
        /// Where it pointed, without credentials, if it was a valid URL.
        location: Option<Arc<str>>,
        /// Why it was not followed.
        reason: RedirectRefused,
    },
    /// The body could not be decoded (malformed, not UTF-8, wrong type).
    Decode {
        /// The format it was decoded as.
        format: Format,
        /// The 1-based line of the error, where known.
        line: Option<usize>,
        /// The 1-based column of the error, where known.
        column: Option<usize>,
        /// What the decoder said.
        message: Arc<str>,
    },
    /// The body decoded but failed validation.
    Validation {
        /// What the validator said.
        message: Arc<str>,
    },
    /// Reading a file failed.
    Io(Arc<io::Error>),
    /// The circuit breaker rejected the call.
    CircuitOpen(CircuitOpen),
    /// Another failure, shared from a layer.
    Other(SharedError),
}

impl ConfigError {
    /// A validation failure with `message`.
    pub fn validation(message: impl Into<Arc<str>>) -> Self {
        ConfigError::Validation {
            message: message.into(),
        }
    }

    /// An invalid request, for `reason`.
    pub fn invalid_request(reason: impl Into<Arc<str>>) -> Self {
        ConfigError::InvalidRequest {
            reason: reason.into(),
        }
    }

    /// A transport failure caused by `error`.
    pub fn transport<E>(error: E) -> Self
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        ConfigError::Transport(Arc::from(error.into()))
    }

    /// Whether the same request may succeed if tried again: transport
    /// errors, timeouts, 408, 429, 5xx, transient I/O errors and an open
    /// circuit. 4xx, not found, a rejected TLS certificate, too large,
    /// decode and validation failures are not. The same as
    /// `self.kind().is_transient()`.
    pub fn is_transient(&self) -> bool {
        self.kind().is_transient()
    }

    /// What kind of failure this is:
    ///
    /// - [transient](FailureKind::Transient): a transport failure (refused,
    ///   reset, DNS), a timeout, 408, 429, 5xx, an I/O error that may pass
    ///   (interrupted, reset), an open circuit;
    /// - [permanent](FailureKind::Permanent): an invalid request, not
    ///   found, another 4xx (or any other unexpected status), a redirect
    ///   not followed, a TLS
    ///   failure no retry can fix (the server's certificate rejected, the
    ///   peer rejecting this client's, no common protocol), an I/O error
    ///   that will repeat (permission denied);
    /// - [invalid content](FailureKind::InvalidContent): the source
    ///   answered with something that is not a usable configuration (an
    ///   unsupported format or content encoding, a body over the size
    ///   limit, a compressed body that does not inflate, a body that does
    ///   not decode or validate).
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::StatusCode;
    /// use steadfast_config::{ConfigError, FailureKind};
    ///
    /// let busy = ConfigError::Status { code: StatusCode::SERVICE_UNAVAILABLE, retry_after: None };
    /// assert_eq!(busy.kind(), FailureKind::Transient);
    /// let denied = ConfigError::Status { code: StatusCode::FORBIDDEN, retry_after: None };
    /// assert_eq!(denied.kind(), FailureKind::Permanent);
    /// assert_eq!(ConfigError::validation("port is 0").kind(), FailureKind::InvalidContent);
    /// assert_eq!(ConfigError::Timeout(Duration::from_secs(2)).kind(), FailureKind::Transient);
    /// ```
    pub fn kind(&self) -> FailureKind {
        match self {
            ConfigError::Transport(error) => {
                if crate::http::is_certificate_error(&**error) {
                    FailureKind::Permanent
                } else {
                    FailureKind::Transient
                }
            }
            ConfigError::Timeout(_) | ConfigError::CircuitOpen(_) => FailureKind::Transient,
            ConfigError::Status { code, .. } => {
                if code.is_server_error()
                    || *code == StatusCode::TOO_MANY_REQUESTS
                    || *code == StatusCode::REQUEST_TIMEOUT
                {
                    FailureKind::Transient
                } else {
                    FailureKind::Permanent
                }
            }
            ConfigError::Io(error) => Failure::kind(&**error),
            ConfigError::Other(shared) => shared.kind(),
            ConfigError::InvalidRequest { .. } | ConfigError::NotFound { .. } => {
                FailureKind::Permanent
            }
            ConfigError::Redirect { .. } => FailureKind::Permanent,
            ConfigError::UnsupportedFormat { .. }
            | ConfigError::UnsupportedEncoding { .. }
            | ConfigError::CorruptBody { .. }
            | ConfigError::BodyTooLarge { .. }
            | ConfigError::Decode { .. }
            | ConfigError::Validation { .. } => FailureKind::InvalidContent,
        }
    }

    /// The HTTP status, for [`ConfigError::Status`] and
    /// [`ConfigError::NotFound`] from an HTTP source.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ConfigError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::InvalidRequest { reason } => write!(f, "invalid config request: {reason}"),
            ConfigError::Transport(error) => {
                let head = "transport error";
                write!(f, "{head}{}", Causes::new(head, Some(&**error)))
            }
            ConfigError::Timeout(after) => write!(f, "config request timed out after {after:?}"),
            ConfigError::Status { code, .. } => write!(f, "config server answered {code}"),
            ConfigError::NotFound { name } => write!(f, "config {name:?} not found"),
            ConfigError::UnsupportedFormat {
                content_type: Some(content_type),
            } => write!(f, "unsupported config content type {content_type:?}"),
            ConfigError::UnsupportedFormat { content_type: None } => {
                f.pad("config format unknown: no content type and no known extension")
            }
            ConfigError::BodyTooLarge { limit } => {
                write!(f, "config body larger than the limit of {limit} bytes")
            }
            ConfigError::UnsupportedEncoding { encoding } => {
                write!(f, "unsupported config content encoding {encoding:?}")
            }
            ConfigError::CorruptBody { encoding, message } => {
                write!(f, "config body does not decode as {encoding}: {message}")
            }
            ConfigError::Redirect {
                code,
                location: Some(location),
                reason,
            } => write!(
                f,
                "config server redirected ({code}) to {location:?}, not followed: {reason}"
            ),
            ConfigError::Redirect {
                code,
                location: None,
                reason,
            } => write!(
                f,
                "config server redirected ({code}), not followed: {reason}"
            ),
            ConfigError::Decode {
                format,
                line,
                column,
                message,
            } => match (line, column) {
                (Some(line), Some(column)) => write!(
                    f,
                    "invalid {format} config at line {line}, column {column}: {message}"
                ),
                (Some(line), None) => {
                    write!(f, "invalid {format} config at line {line}: {message}")
                }
                _ => write!(f, "invalid {format} config: {message}"),
            },
            ConfigError::Validation { message } => write!(f, "config failed validation: {message}"),
            ConfigError::Io(error) => {
                let head = "config file could not be read";
                write!(f, "{head}{}", Causes::new(head, Some(&**error)))
            }
            ConfigError::CircuitOpen(open) => fmt::Display::fmt(open, f),
            ConfigError::Other(shared) => {
                let head = shared.to_string();
                write!(f, "{head}{}", Causes::new(&head, shared.source()))
            }
        }
    }
}

impl Error for ConfigError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigError::Transport(error) => Some(&**error),
            ConfigError::Io(error) => Some(&**error),
            ConfigError::CircuitOpen(open) => Some(open),
            ConfigError::Other(shared) => shared.source(),
            _ => None,
        }
    }
}

impl Failure for ConfigError {
    fn is_transient(&self) -> bool {
        ConfigError::is_transient(self)
    }

    fn kind(&self) -> FailureKind {
        ConfigError::kind(self)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ConfigError::Status { retry_after, .. } => *retry_after,
            ConfigError::CircuitOpen(open) => Some(open.remaining()),
            ConfigError::Other(shared) => shared.retry_after(),
            _ => None,
        }
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        match self {
            ConfigError::CircuitOpen(open) => Some(open),
            ConfigError::Other(shared) => shared.circuit_open(),
            _ => None,
        }
    }

    fn is_not_found(&self) -> bool {
        match self {
            ConfigError::NotFound { .. } => true,
            ConfigError::Io(error) => error.kind() == io::ErrorKind::NotFound,
            ConfigError::Other(shared) => shared.is_not_found(),
            _ => false,
        }
    }
}

/// Why a redirect was not followed ([`ConfigError::Redirect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RedirectRefused {
    /// The limit of redirects for one load was reached.
    TooMany {
        /// The limit.
        limit: u32,
    },
    /// It pointed to another origin (scheme, host or port), which the
    /// source does not follow unless told to.
    OtherOrigin,
    /// It pointed from HTTPS to plain HTTP.
    Downgrade,
    /// Its `Location` was missing or not a valid URL.
    InvalidLocation,
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedirectRefused::TooMany { limit } => write!(f, "more than {limit} redirects"),
            RedirectRefused::OtherOrigin => {
                f.pad("another origin (HttpSourceBuilder::allow_cross_origin_redirects follows it)")
            }
            RedirectRefused::Downgrade => f.pad("from HTTPS to plain HTTP"),
            RedirectRefused::InvalidLocation => f.pad("no valid Location"),
        }
    }
}

/// A source or layer was configured with something it cannot use.
///
/// Builders return it instead of panicking. It never holds a header value,
/// so credentials do not end up in logs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The base URL does not parse or cannot be used (no `http`/`https`
    /// scheme, no host, a query or fragment).
    InvalidUrl {
        /// What is wrong with it.
        reason: Arc<str>,
    },
    /// The path template does not parse.
    InvalidTemplate {
        /// The template.
        template: Arc<str>,
        /// What is wrong with it.
        reason: Arc<str>,
    },
    /// A header name or value is not valid HTTP.
    InvalidHeader {
        /// The header's name, as given.
        name: Arc<str>,
    },
    /// A limit or duration is zero or otherwise out of range.
    InvalidSetting {
        /// The setting (`timeout`, `max_body_size`, ...).
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The TLS configuration could not be built.
    Tls {
        /// What the TLS library said.
        message: Arc<str>,
    },
}

impl BuildError {
    pub(crate) fn url(reason: impl Into<Arc<str>>) -> Self {
        BuildError::InvalidUrl {
            reason: reason.into(),
        }
    }

    pub(crate) fn setting(setting: &'static str, reason: &'static str) -> Self {
        BuildError::InvalidSetting { setting, reason }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidUrl { reason } => write!(f, "invalid base URL: {reason}"),
            BuildError::InvalidTemplate { template, reason } => {
                write!(f, "invalid path template {template:?}: {reason}")
            }
            BuildError::InvalidHeader { name } => write!(f, "invalid header {name:?}"),
            BuildError::InvalidSetting { setting, reason } => {
                write!(f, "invalid {setting}: {reason}")
            }
            BuildError::Tls { message } => write!(f, "TLS setup failed: {message}"),
        }
    }
}

impl Error for BuildError {}

impl From<CircuitOpen> for ConfigError {
    fn from(open: CircuitOpen) -> Self {
        ConfigError::CircuitOpen(open)
    }
}

/// A shared `ConfigError` becomes the same variant again; anything else is
/// kept as [`ConfigError::Other`].
impl From<SharedError> for ConfigError {
    fn from(shared: SharedError) -> Self {
        if let Some(error) = shared.downcast_ref::<ConfigError>() {
            return error.clone();
        }
        if let Some(open) = shared.downcast_ref::<CircuitOpen>() {
            return ConfigError::CircuitOpen(*open);
        }
        ConfigError::Other(shared)
    }
}

impl From<io::Error> for ConfigError {
    fn from(error: io::Error) -> Self {
        ConfigError::Io(Arc::new(error))
    }
}

impl From<TimedOut> for ConfigError {
    fn from(timed_out: TimedOut) -> Self {
        ConfigError::Timeout(timed_out.after())
    }
}

impl From<tokio::time::error::Elapsed> for ConfigError {
    fn from(_: tokio::time::error::Elapsed) -> Self {
        ConfigError::Timeout(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_classification() {
        let status = |code: u16| ConfigError::Status {
            code: StatusCode::from_u16(code).unwrap(),
            retry_after: None,
        };
        assert!(status(500).is_transient());
        assert!(status(503).is_transient());
        assert!(status(429).is_transient());
        assert!(status(408).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(403).is_transient());
        assert!(ConfigError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(ConfigError::transport("refused").is_transient());
        assert!(!ConfigError::validation("bad").is_transient());
        assert!(!ConfigError::NotFound { name: "x".into() }.is_transient());
        assert!(ConfigError::NotFound { name: "x".into() }.is_not_found());
        assert!(ConfigError::from(CircuitOpen::new(Duration::from_secs(1))).is_transient());
    }

    #[test]
    fn shared_errors_come_back_as_themselves() {
        let original = ConfigError::Status {
            code: StatusCode::SERVICE_UNAVAILABLE,
            retry_after: Some(Duration::from_secs(7)),
        };
        let back = ConfigError::from(SharedError::new(original));
        assert!(matches!(
            back,
            ConfigError::Status { code, retry_after: Some(d) }
                if code == StatusCode::SERVICE_UNAVAILABLE && d == Duration::from_secs(7)
        ));
        let open = ConfigError::from(SharedError::new(CircuitOpen::new(Duration::from_secs(2))));
        assert_eq!(
            open.circuit_open(),
            Some(&CircuitOpen::new(Duration::from_secs(2)))
        );
    }

    #[test]
    fn decode_error_names_line_and_column() {
        let e = ConfigError::Decode {
            format: Format::Json,
            line: Some(3),
            column: Some(14),
            message: "expected `,`".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid json config at line 3, column 14: expected `,`"
        );
    }
}
