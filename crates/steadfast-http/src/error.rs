//! The error of the kit's services, and of a builder given nonsense.

use std::error::Error;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use steadfast_core::{Causes, CircuitOpen, Failure, FailureKind, SharedError, TimedOut};

use crate::BufferedResponse;

/// Why a request through the kit failed.
///
/// Every steadfast layer accepts it as its error type: it converts from
/// [`TimedOut`] (the timeout layer), [`CircuitOpen`] (the breaker) and
/// [`SharedError`] (the cache, which hands one failure to many callers and
/// gives an `HttpError` back as itself), and it classifies itself
/// ([`Failure`]) for the retry policy and the breaker.
///
/// Cloning is cheap. `Display` shows the cause chain on one line.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum HttpError {
    /// The client failed before a response arrived (connect, TLS, DNS,
    /// a request it could not send).
    Transport(Arc<dyn Error + Send + Sync + 'static>),
    /// Reading the body failed.
    Body(Arc<dyn Error + Send + Sync + 'static>),
    /// The body was larger than the limit; reading stopped at the limit.
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The server answered with a status the
    /// [`StatusClassifier`](crate::StatusClassifier) calls a failure.
    Status {
        /// The status.
        status: StatusCode,
        /// The delay the server asked for (`Retry-After` on a 429 or 503).
        retry_after: Option<Duration>,
        /// The whole response.
        response: Box<BufferedResponse>,
    },
    /// No response within the time limit.
    TimedOut(TimedOut),
    /// The circuit breaker rejected the call.
    CircuitOpen(CircuitOpen),
    /// Another failure, shared from a layer.
    Other(SharedError),
}

impl HttpError {
    /// A transport failure caused by `error`.
    pub fn transport(error: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        HttpError::Transport(Arc::from(error.into()))
    }

    /// A failure to read the body, caused by `error`.
    pub fn body(error: impl Into<Box<dyn Error + Send + Sync + 'static>>) -> Self {
        HttpError::Body(Arc::from(error.into()))
    }

    /// The status of a [`HttpError::Status`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The response of a [`HttpError::Status`].
    pub fn response(&self) -> Option<&BufferedResponse> {
        match self {
            HttpError::Status { response, .. } => Some(response),
            _ => None,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Transport(error) => {
                let head = "request failed";
                write!(f, "{head}{}", Causes::new(head, Some(&**error)))
            }
            HttpError::Body(error) => {
                let head = "reading the body failed";
                write!(f, "{head}{}", Causes::new(head, Some(&**error)))
            }
            HttpError::BodyTooLarge { limit } => {
                write!(f, "body larger than the limit of {limit} bytes")
            }
            HttpError::Status { status, .. } => write!(f, "server answered {status}"),
            HttpError::TimedOut(timed_out) => fmt::Display::fmt(timed_out, f),
            HttpError::CircuitOpen(open) => fmt::Display::fmt(open, f),
            HttpError::Other(shared) => {
                let head = shared.to_string();
                write!(f, "{head}{}", Causes::new(&head, shared.source()))
            }
        }
    }
}

impl Error for HttpError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            HttpError::Transport(error) | HttpError::Body(error) => Some(&**error),
            HttpError::TimedOut(timed_out) => Some(timed_out),
            HttpError::CircuitOpen(open) => Some(open),
            HttpError::Other(shared) => shared.source(),
            HttpError::BodyTooLarge { .. } | HttpError::Status { .. } => None,
        }
    }
}

/// Whether a failing status may pass if the request is sent again: all but
/// 501 (not implemented) and 505 (version not supported).
pub(crate) fn status_may_pass(status: StatusCode) -> bool {
    !matches!(status.as_u16(), 501 | 505)
}

impl Failure for HttpError {
    fn is_transient(&self) -> bool {
        self.kind() == FailureKind::Transient
    }

    /// Transient: a transport or body failure, a timeout, an open circuit,
    /// a failing status but 501 and 505; permanent: 501 and 505; invalid
    /// content: a body over the limit.
    fn kind(&self) -> FailureKind {
        match self {
            HttpError::Transport(_)
            | HttpError::Body(_)
            | HttpError::TimedOut(_)
            | HttpError::CircuitOpen(_) => FailureKind::Transient,
            HttpError::BodyTooLarge { .. } => FailureKind::InvalidContent,
            HttpError::Status { status, .. } => {
                if status_may_pass(*status) {
                    FailureKind::Transient
                } else {
                    FailureKind::Permanent
                }
            }
            HttpError::Other(shared) => shared.kind(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Status { retry_after, .. } => *retry_after,
            HttpError::CircuitOpen(open) => Some(open.remaining()),
            HttpError::Other(shared) => shared.retry_after(),
            _ => None,
        }
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        match self {
            HttpError::CircuitOpen(open) => Some(open),
            HttpError::Other(shared) => shared.circuit_open(),
            _ => None,
        }
    }

    fn is_not_found(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status == StatusCode::NOT_FOUND,
            HttpError::Other(shared) => shared.is_not_found(),
            _ => false,
        }
    }
}

impl From<TimedOut> for HttpError {
    fn from(timed_out: TimedOut) -> Self {
        HttpError::TimedOut(timed_out)
    }
}

impl From<CircuitOpen> for HttpError {
    fn from(open: CircuitOpen) -> Self {
        HttpError::CircuitOpen(open)
    }
}

/// A shared `HttpError` becomes itself again (an open circuit and a
/// timeout too); anything else is kept as [`HttpError::Other`].
impl From<SharedError> for HttpError {
    fn from(shared: SharedError) -> Self {
        if let Some(error) = shared.downcast_ref::<HttpError>() {
            return error.clone();
        }
        if let Some(open) = shared.downcast_ref::<CircuitOpen>() {
            return HttpError::CircuitOpen(*open);
        }
        if let Some(timed_out) = shared.downcast_ref::<TimedOut>() {
            return HttpError::TimedOut(*timed_out);
        }
        HttpError::Other(shared)
    }
}

/// A kit setting that cannot be used (a zero size limit).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A limit is zero or otherwise out of range.
    InvalidSetting {
        /// The setting (`max_body_size`).
        setting: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidSetting { setting, reason } => {
                write!(f, "invalid {setting}: {reason}")
            }
        }
    }
}

impl Error for BuildError {}
