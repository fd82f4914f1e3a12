//! How a result counts for the breaker.

use std::fmt;

use steadfast_core::{Failure, FailureKind};

/// What one call's result means for the circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The call worked: it resets the consecutive-failure count and counts as
    /// a success in the failure rate.
    Success,
    /// The call failed: it counts toward every failure policy.
    Failure,
    /// The call says nothing about the health of the service (a 404, a
    /// request the caller got wrong): it counts in no policy. An ignored
    /// probe gives its permit back.
    Ignored,
}

/// Decides what a result means for the circuit.
///
/// Any `Fn(Result<&T, &E>) -> Outcome` is a classifier, so an `Ok` response
/// can count as a failure (an HTTP 503, say) and an `Err` can be ignored:
///
/// ```
/// use steadfast_breaker::{Classifier, Outcome};
///
/// let by_status = |result: Result<&u16, &std::io::Error>| match result {
///     Ok(status) if *status >= 500 => Outcome::Failure,
///     Ok(_) => Outcome::Success,
///     Err(e) if e.kind() == std::io::ErrorKind::NotFound => Outcome::Ignored,
///     Err(_) => Outcome::Failure,
/// };
/// assert_eq!(by_status.classify(Ok(&503)), Outcome::Failure);
/// assert_eq!(by_status.classify(Ok(&200)), Outcome::Success);
/// let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
/// assert_eq!(by_status.classify(Err(&missing)), Outcome::Ignored);
/// ```
pub trait Classifier<T, E> {
    /// The outcome of one result.
    fn classify(&self, result: Result<&T, &E>) -> Outcome;
}

impl<F, T, E> Classifier<T, E> for F
where
    F: Fn(Result<&T, &E>) -> Outcome,
{
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        self(result)
    }
}

/// The default classifier: every `Ok` is a success, every `Err` a failure.
///
/// ```
/// use steadfast_breaker::{Classifier, DefaultClassifier, Outcome};
///
/// let ok: Result<&u8, &()> = Ok(&1);
/// assert_eq!(DefaultClassifier.classify(ok), Outcome::Success);
/// assert_eq!(DefaultClassifier.classify(Err::<&u8, _>(&())), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultClassifier;

impl<T, E> Classifier<T, E> for DefaultClassifier {
    #[inline]
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

impl fmt::Debug for DefaultClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("DefaultClassifier")
    }
}

/// A classifier for errors that know their [`FailureKind`]: only a
/// transient failure counts against the circuit.
///
/// | result | outcome |
/// | --- | --- |
/// | `Ok` | [`Success`](Outcome::Success) |
/// | [transient](FailureKind::Transient) error (refused, timeout, 5xx, 429) | [`Failure`](Outcome::Failure) |
/// | [invalid content](FailureKind::InvalidContent) (a body that does not decode or validate) | [`Success`](Outcome::Success) |
/// | [permanent](FailureKind::Permanent) error (4xx, not found, a rejected certificate) | [`Ignored`](Outcome::Ignored) |
///
/// Invalid content is a success because the source answered: it is up, and
/// only what it serves is wrong. Counting it as a success ends a failure
/// streak and lets a half-open probe that reaches the source close the
/// circuit, so the next loads reach the source as soon as a fixed
/// configuration is pushed; an ignored probe would hand its permit back and
/// leave the circuit half-open while the source answers every call.
///
/// A permanent failure is ignored because it says nothing about whether the
/// source is healthy: a 404 for one missing name must not hide an outage
/// of every other one (as a success would, by ending the failure streak),
/// and a certificate rejected by this client, perhaps presented by
/// something in front of the source, proves neither that the source is up
/// nor that it is down. Ignored, it neither opens nor closes the circuit.
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use steadfast_breaker::{Classifier, FailureKindClassifier, Outcome};
/// use steadfast_core::CircuitOpen;
///
/// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
/// let denied = io::Error::from(io::ErrorKind::PermissionDenied);
/// let classify = |result: Result<&(), &io::Error>| FailureKindClassifier.classify(result);
/// assert_eq!(classify(Ok(&())), Outcome::Success);
/// assert_eq!(classify(Err(&refused)), Outcome::Failure);
/// assert_eq!(classify(Err(&denied)), Outcome::Ignored);
/// let open = CircuitOpen::new(Duration::from_secs(1));
/// assert_eq!(FailureKindClassifier.classify(Err::<&(), _>(&open)), Outcome::Failure);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureKindClassifier;

impl<T, E: Failure> Classifier<T, E> for FailureKindClassifier {
    #[inline]
    fn classify(&self, result: Result<&T, &E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(error) => match error.kind() {
                FailureKind::InvalidContent => Outcome::Success,
                FailureKind::Permanent => Outcome::Ignored,
                _ => Outcome::Failure,
            },
        }
    }
}

impl fmt::Debug for FailureKindClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("FailureKindClassifier")
    }
}
