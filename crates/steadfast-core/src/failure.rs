use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

use crate::{CircuitOpen, SharedError, TimedOut};

/// A boxed error, as tower uses it.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// The three kinds of failure, which each layer treats differently.
///
/// | kind | examples | retry | circuit breaker | cache |
/// | --- | --- | --- | --- | --- |
/// | [`Transient`](FailureKind::Transient) | connection refused, timeout, 5xx, 429, an open circuit | retried with backoff | a failure | stale served meanwhile |
/// | [`Permanent`](FailureKind::Permanent) | 4xx, not found, a rejected certificate, a request that cannot be sent | not retried | not a failure | stale served meanwhile |
/// | [`InvalidContent`](FailureKind::InvalidContent) | a body that does not decode or validate, an unknown format, a body over the size limit | not retried | not a failure: the source answered | never cached; the last good value is kept |
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use steadfast_core::{CircuitOpen, Failure, FailureKind};
///
/// assert_eq!(CircuitOpen::new(Duration::from_secs(1)).kind(), FailureKind::Transient);
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// assert_eq!(Failure::kind(&refused), FailureKind::Transient);
/// let denied = io::Error::from(io::ErrorKind::PermissionDenied);
/// assert_eq!(Failure::kind(&denied), FailureKind::Permanent);
/// assert!(!FailureKind::InvalidContent.is_transient());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The same request may succeed if tried again: the source could not be
    /// reached or did not answer in time, or answered that it is
    /// overloaded or broken for now.
    Transient,
    /// The same request will fail the same way until something is changed
    /// (the request, the server's configuration, a certificate): the
    /// answer says nothing about the source's health.
    Permanent,
    /// The source answered, and what it answered is not a usable
    /// configuration: the source works and its content is wrong.
    InvalidContent,
}

impl FailureKind {
    /// Whether this is [`FailureKind::Transient`].
    pub const fn is_transient(self) -> bool {
        matches!(self, FailureKind::Transient)
    }

    /// The kind's name: `transient`, `permanent` or `invalid_content`, as
    /// used in logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::Transient => "transient",
            FailureKind::Permanent => "permanent",
            FailureKind::InvalidContent => "invalid_content",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How an error classifies itself for the default policies of the layers.
///
/// The retry layer's default classifier retries errors that are
/// [transient](Failure::is_transient), waits at least
/// [`retry_after`](Failure::retry_after) when the server asked for it, and
/// retries a [`CircuitOpen`] only when the circuit half-opens before the next
/// attempt. The circuit breaker's kind-aware classifier counts only
/// transient failures ([`kind`](Failure::kind)). The cache layer's negative
/// caching keys off [`is_not_found`](Failure::is_not_found).
///
/// An implementation gives [`is_transient`](Failure::is_transient) and,
/// where it can tell a permanent failure from invalid content,
/// [`kind`](Failure::kind); the two must agree:
/// `is_transient() == kind().is_transient()`.
pub trait Failure {
    /// Whether the same request may succeed if tried again (a transport
    /// error, a timeout, a 5xx or 429), as opposed to a failure that will
    /// repeat (a 4xx, a body that does not decode or validate).
    fn is_transient(&self) -> bool;

    /// What kind of failure this is. By default
    /// [`Transient`](FailureKind::Transient) when
    /// [`is_transient`](Failure::is_transient), else
    /// [`Permanent`](FailureKind::Permanent); an error that knows a body
    /// was invalid says [`InvalidContent`](FailureKind::InvalidContent).
    fn kind(&self) -> FailureKind {
        if self.is_transient() {
            FailureKind::Transient
        } else {
            FailureKind::Permanent
        }
    }

    /// A delay the server asked for before the next attempt (`Retry-After`).
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The rejection of an open circuit, if that is what this error is.
    fn circuit_open(&self) -> Option<&CircuitOpen> {
        None
    }

    /// Whether the thing asked for does not exist (an HTTP 404, a missing
    /// file): a result that may be cached for a short while.
    fn is_not_found(&self) -> bool {
        false
    }
}

impl Failure for CircuitOpen {
    fn is_transient(&self) -> bool {
        true
    }

    fn retry_after(&self) -> Option<Duration> {
        Some(self.remaining())
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        Some(self)
    }
}

impl Failure for TimedOut {
    fn is_transient(&self) -> bool {
        true
    }
}

impl Failure for io::Error {
    fn is_transient(&self) -> bool {
        use io::ErrorKind::*;
        matches!(
            self.kind(),
            ConnectionRefused
                | ConnectionReset
                | ConnectionAborted
                | NotConnected
                | BrokenPipe
                | TimedOut
                | Interrupted
                | WouldBlock
                | UnexpectedEof
        )
    }

    fn is_not_found(&self) -> bool {
        self.kind() == io::ErrorKind::NotFound
    }
}

/// A boxed error is looked into: a [`CircuitOpen`], a [`SharedError`] or an
/// [`io::Error`] inside classify as themselves; anything else is treated as
/// transient, as tower's own retry treats an unknown error.
impl Failure for BoxError {
    fn is_transient(&self) -> bool {
        classify(&**self).is_none_or(|known| known.is_transient())
    }

    fn kind(&self) -> FailureKind {
        classify(&**self).map_or(FailureKind::Transient, |known| known.kind())
    }

    fn retry_after(&self) -> Option<Duration> {
        classify(&**self).and_then(|known| known.retry_after())
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        find::<CircuitOpen>(&**self)
    }

    fn is_not_found(&self) -> bool {
        classify(&**self).is_some_and(|known| known.is_not_found())
    }
}

/// A shared error classifies as the error it shares, where that is known.
impl Failure for SharedError {
    fn is_transient(&self) -> bool {
        classify(self.get_ref()).is_none_or(|known| known.is_transient())
    }

    fn kind(&self) -> FailureKind {
        classify(self.get_ref()).map_or(FailureKind::Transient, |known| known.kind())
    }

    fn retry_after(&self) -> Option<Duration> {
        classify(self.get_ref()).and_then(|known| known.retry_after())
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        find::<CircuitOpen>(self.get_ref())
    }

    fn is_not_found(&self) -> bool {
        classify(self.get_ref()).is_some_and(|known| known.is_not_found())
    }
}

fn find<'a, E: Error + 'static>(error: &'a (dyn Error + 'static)) -> Option<&'a E> {
    if let Some(found) = error.downcast_ref::<E>() {
        return Some(found);
    }
    if let Some(shared) = error.downcast_ref::<SharedError>() {
        return find::<E>(shared.get_ref());
    }
    None
}

fn classify<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a dyn Failure> {
    if let Some(open) = error.downcast_ref::<CircuitOpen>() {
        return Some(open);
    }
    if let Some(io) = error.downcast_ref::<io::Error>() {
        return Some(io);
    }
    if let Some(timed_out) = error.downcast_ref::<TimedOut>() {
        return Some(timed_out);
    }
    if let Some(shared) = error.downcast_ref::<SharedError>() {
        return classify(shared.get_ref());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_errors_classify_what_they_hold() {
        let open: BoxError = Box::new(CircuitOpen::new(Duration::from_secs(1)));
        assert!(open.circuit_open().is_some());
        assert_eq!(open.retry_after(), Some(Duration::from_secs(1)));

        let refused: BoxError = Box::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(refused.is_transient());
        let missing: BoxError = Box::new(io::Error::from(io::ErrorKind::NotFound));
        assert!(!missing.is_transient());
        assert!(missing.is_not_found());

        assert_eq!(missing.kind(), FailureKind::Permanent);
        assert_eq!(refused.kind(), FailureKind::Transient);

        let other: BoxError = "something odd".into();
        assert!(other.is_transient());
        assert_eq!(other.kind(), FailureKind::Transient);
        assert!(other.circuit_open().is_none());
        assert!(!other.is_not_found());
    }

    #[test]
    fn shared_errors_classify_what_they_share() {
        let shared = SharedError::new(io::Error::from(io::ErrorKind::PermissionDenied));
        assert!(!shared.is_transient());
        assert_eq!(shared.kind(), FailureKind::Permanent);
        let boxed: BoxError = Box::new(SharedError::new(CircuitOpen::new(Duration::ZERO)));
        assert!(boxed.circuit_open().is_some());
    }
}
