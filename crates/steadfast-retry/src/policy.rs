//! What to do after an attempt, and how to copy a request for the next one.
//!
//! A [`Policy`] looks at each result and answers with an [`Action`]: stop,
//! retry after the backoff delay, or retry after a delay of its own (a
//! server's `Retry-After`, an open circuit's time to half-open). The layer
//! then applies its limits (attempts, deadline, budget), which a policy
//! cannot overrule.
//!
//! ```
//! use std::time::Duration;
//! use steadfast_retry::{Action, Attempt, Policy};
//!
//! /// Retries "busy" replies after a second, and nothing else.
//! #[derive(Clone)]
//! struct RetryBusy;
//!
//! impl Policy<&'static str, std::io::Error> for RetryBusy {
//!     fn classify(&self, result: Result<&&'static str, &std::io::Error>, _: &Attempt) -> Action {
//!         match result {
//!             Ok(&"busy") => Action::RetryAfter(Duration::from_secs(1)),
//!             _ => Action::Stop,
//!         }
//!     }
//! }
//!
//! let attempt = Attempt::first();
//! assert_eq!(RetryBusy.classify(Ok(&"busy"), &attempt), Action::RetryAfter(Duration::from_secs(1)));
//! assert_eq!(RetryBusy.classify(Ok(&"done"), &attempt), Action::Stop);
//! ```

use std::time::Duration;

use steadfast_core::Failure;

/// The decision of a [`Policy`] about one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Return this result.
    Stop,
    /// Try again after the backoff delay.
    Retry,
    /// Try again after this delay (a server's `Retry-After`), capped at the
    /// backoff's maximum.
    RetryAfter(Duration),
    /// Try again after this delay if it is no longer than the backoff delay,
    /// and stop otherwise: an open circuit that half-opens in time for the
    /// next attempt is waited for, one that stays open longer is not.
    RetryWithin(Duration),
}

/// The attempt that just finished, as a [`Policy`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
}

impl Attempt {
    /// Attempt `number`, counted from 1.
    pub fn new(number: u32) -> Self {
        Self { number }
    }

    /// The first attempt of a request.
    pub fn first() -> Self {
        Self::new(1)
    }

    /// Which attempt this was, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }
}

/// Decides, result by result, whether a request is tried again.
///
/// The layer calls it after every attempt, successful or not, so a policy may
/// also retry a response (an HTTP 503 that arrived as `Ok`). It must be cheap
/// on the common path: returning [`Action::Stop`] for `Ok` should cost
/// nothing. The delay itself is the layer's business: a policy says whether
/// to wait the backoff delay or a delay of its own.
///
/// Closures `Fn(Result<&Res, &E>, &Attempt) -> Action` are policies.
pub trait Policy<Res, E> {
    /// What to do after `attempt` ended with `result`.
    fn classify(&self, result: Result<&Res, &E>, attempt: &Attempt) -> Action;
}

impl<F, Res, E> Policy<Res, E> for F
where
    F: Fn(Result<&Res, &E>, &Attempt) -> Action,
{
    fn classify(&self, result: Result<&Res, &E>, attempt: &Attempt) -> Action {
        self(result, attempt)
    }
}

/// The default policy, for errors that classify themselves ([`Failure`]).
///
/// - A response is never retried.
/// - An open circuit ([`Failure::circuit_open`]) is retried only if it
///   half-opens no later than the next backoff delay, and then the retry
///   waits exactly until it does ([`Action::RetryWithin`]).
/// - A transient error ([`Failure::is_transient`]) is retried after the
///   delay the server asked for ([`Failure::retry_after`], capped at the
///   backoff's maximum), or else after the backoff delay.
/// - Anything else (a 4xx, a body that does not decode or validate) stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPolicy;

impl<Res, E: Failure> Policy<Res, E> for DefaultPolicy {
    #[inline]
    fn classify(&self, result: Result<&Res, &E>, _: &Attempt) -> Action {
        match result {
            Ok(_) => Action::Stop,
            Err(error) => classify_failure(error),
        }
    }
}

/// The [`DefaultPolicy`] decision for one error.
pub fn classify_failure<E: Failure + ?Sized>(error: &E) -> Action {
    if let Some(open) = error.circuit_open() {
        let remaining = open.remaining();
        return if remaining.is_zero() {
            Action::Retry
        } else {
            Action::RetryWithin(remaining)
        };
    }
    if !error.is_transient() {
        return Action::Stop;
    }
    match error.retry_after() {
        Some(delay) => Action::RetryAfter(delay),
        None => Action::Retry,
    }
}

/// Copies a request so it can be sent again.
///
/// The layer copies the request before each attempt; `None` means this
/// request cannot be copied, and it is sent once. [`CloneRequest`] does this
/// for `Req: Clone`; [`CloneFn`] wraps a function for requests that are not.
pub trait RequestCopier<Req> {
    /// A copy of `request` for the next attempt, if there can be one.
    fn copy(&self, request: &Req) -> Option<Req>;
}

/// Copies requests with `Clone`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneRequest;

impl<Req: Clone> RequestCopier<Req> for CloneRequest {
    #[inline]
    fn copy(&self, request: &Req) -> Option<Req> {
        Some(request.clone())
    }
}

/// Copies requests with a function that may decline (a streaming body).
#[derive(Debug, Clone, Copy)]
pub struct CloneFn<F>(pub F);

impl<F, Req> RequestCopier<Req> for CloneFn<F>
where
    F: Fn(&Req) -> Option<Req>,
{
    #[inline]
    fn copy(&self, request: &Req) -> Option<Req> {
        (self.0)(request)
    }
}
