//! How a result counts for the breaker.

use std::fmt;

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
