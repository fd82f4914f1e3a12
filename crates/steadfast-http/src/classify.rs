//! Which statuses are failures, for the buffer, the retry policy and the
//! breaker.

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, Response, StatusCode};
use steadfast_breaker::{Classifier, Outcome};
use steadfast_core::{Failure, FailureKind};
use steadfast_retry::http::parse_retry_after;
use steadfast_retry::policy::classify_failure;
use steadfast_retry::{Action, Attempt, Policy};

use crate::error::status_may_pass;
use crate::{BufferedResponse, HttpError};

/// Tells the statuses that are failures of the server from the answers.
///
/// By default every 5xx, `429 Too Many Requests` and `408 Request Timeout`
/// is a failure; [`with`](Self::with) and [`without`](Self::without) change
/// the set. A `Retry-After` on a `429` or a `503` is the delay before the
/// next attempt (seconds or an HTTP date).
///
/// One value serves three places:
///
/// - [`BufferLayer`](crate::BufferLayer) turns a failing status into
///   [`HttpError::Status`] (the default), so the cache never stores it,
///   the fallback answers it, and the retry and breaker defaults see an
///   error that classifies itself;
/// - as a `steadfast_retry::Policy` over [`BufferedResponse`] or
///   `http::Response<B>` answers that stayed responses, it retries a
///   failing status (after its `Retry-After`) except 501 and 505, which
///   would only repeat;
/// - as a `steadfast_breaker::Classifier`, a failing status is a failure,
///   but 501 and 505, which say nothing of the server's health and are
///   ignored.
///
/// Errors are classified by their [`Failure`] kind in both: a transient
/// error is retried and counts against the circuit, a permanent one is
/// neither, invalid content is returned and counts as an answer.
///
/// ```
/// use http::{HeaderMap, HeaderValue, StatusCode};
/// use std::time::Duration;
/// use steadfast_http::StatusClassifier;
///
/// let classifier = StatusClassifier::new();
/// assert!(classifier.is_failure(StatusCode::BAD_GATEWAY));
/// assert!(classifier.is_failure(StatusCode::TOO_MANY_REQUESTS));
/// assert!(!classifier.is_failure(StatusCode::NOT_FOUND));
/// assert!(classifier.without(StatusCode::BAD_GATEWAY).is_failure(StatusCode::GATEWAY_TIMEOUT));
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("7"));
/// assert_eq!(
///     classifier.retry_after(StatusCode::SERVICE_UNAVAILABLE, &headers),
///     Some(Duration::from_secs(7))
/// );
/// assert_eq!(classifier.retry_after(StatusCode::BAD_GATEWAY, &headers), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StatusClassifier {
    /// One bit a status, 0 to 1023.
    failures: [u64; 16],
}

impl StatusClassifier {
    /// 5xx, 429 and 408 are failures.
    pub const fn new() -> Self {
        let mut failures = [0u64; 16];
        // 500..=599: bits 500 to 599.
        let mut code = 500;
        while code < 600 {
            failures[code / 64] |= 1 << (code % 64);
            code += 1;
        }
        failures[408 / 64] |= 1 << (408 % 64);
        failures[429 / 64] |= 1 << (429 % 64);
        Self { failures }
    }

    /// No status is a failure: every response is an answer.
    pub const fn none() -> Self {
        Self { failures: [0; 16] }
    }

    /// The same set, with `status` a failure too.
    pub const fn with(mut self, status: StatusCode) -> Self {
        let code = status.as_u16() as usize;
        self.failures[code / 64] |= 1 << (code % 64);
        self
    }

    /// The same set, with `status` an answer.
    pub const fn without(mut self, status: StatusCode) -> Self {
        let code = status.as_u16() as usize;
        self.failures[code / 64] &= !(1 << (code % 64));
        self
    }

    /// Whether `status` is a failure.
    #[inline]
    pub const fn is_failure(&self, status: StatusCode) -> bool {
        let code = status.as_u16() as usize;
        self.failures[code / 64] & (1 << (code % 64)) != 0
    }

    /// The delay a `429` or `503` asks for in its `Retry-After`, read
    /// against the system clock; `None` for another status or without a
    /// valid header.
    pub fn retry_after(&self, status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
        self.retry_after_at(status, headers, SystemTime::now())
    }

    /// [`retry_after`](Self::retry_after), an HTTP date read against `now`.
    pub fn retry_after_at(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Option<Duration> {
        if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
            return None;
        }
        parse_retry_after(headers.get(RETRY_AFTER)?, now)
    }

    /// `response`, or [`HttpError::Status`] when its status is a failure.
    pub fn check(&self, response: BufferedResponse) -> Result<BufferedResponse, HttpError> {
        let status = response.status();
        if !self.is_failure(status) {
            return Ok(response);
        }
        Err(HttpError::Status {
            status,
            retry_after: self.retry_after(status, response.headers()),
            response: Box::new(response),
        })
    }

    fn action(&self, status: StatusCode, headers: &HeaderMap) -> Action {
        if !self.is_failure(status) || !status_may_pass(status) {
            return Action::Stop;
        }
        match self.retry_after(status, headers) {
            Some(delay) => Action::RetryAfter(delay),
            None => Action::Retry,
        }
    }

    fn outcome(&self, status: StatusCode) -> Outcome {
        match (self.is_failure(status), status_may_pass(status)) {
            (true, true) => Outcome::Failure,
            (true, false) => Outcome::Ignored,
            (false, _) => Outcome::Success,
        }
    }
}

impl Default for StatusClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for StatusClassifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let failures: Vec<u16> = (100..1000u16)
            .filter(|&code| StatusCode::from_u16(code).is_ok_and(|s| self.is_failure(s)))
            .collect();
        f.debug_struct("StatusClassifier")
            .field("failures", &failures)
            .finish()
    }
}

fn error_outcome<E: Failure>(error: &E) -> Outcome {
    match error.kind() {
        FailureKind::InvalidContent => Outcome::Success,
        FailureKind::Permanent => Outcome::Ignored,
        _ => Outcome::Failure,
    }
}

impl<E: Failure> Policy<BufferedResponse, E> for StatusClassifier {
    fn classify(&self, result: Result<&BufferedResponse, &E>, _: &Attempt) -> Action {
        match result {
            Ok(response) => self.action(response.status(), response.headers()),
            Err(error) => classify_failure(error),
        }
    }
}

impl<B, E: Failure> Policy<Response<B>, E> for StatusClassifier {
    fn classify(&self, result: Result<&Response<B>, &E>, _: &Attempt) -> Action {
        match result {
            Ok(response) => self.action(response.status(), response.headers()),
            Err(error) => classify_failure(error),
        }
    }
}

impl<E: Failure> Classifier<BufferedResponse, E> for StatusClassifier {
    fn classify(&self, result: Result<&BufferedResponse, &E>) -> Outcome {
        match result {
            Ok(response) => self.outcome(response.status()),
            Err(error) => error_outcome(error),
        }
    }
}

impl<B, E: Failure> Classifier<Response<B>, E> for StatusClassifier {
    fn classify(&self, result: Result<&Response<B>, &E>) -> Outcome {
        match result {
            Ok(response) => self.outcome(response.status()),
            Err(error) => error_outcome(error),
        }
    }
}
