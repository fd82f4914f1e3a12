//! `Retry-After` and a policy for `http::Response`.

use std::time::{Duration, SystemTime};

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use steadfast_core::Failure;

use crate::policy::{Action, Attempt, Policy, classify_failure};

/// The delay a `Retry-After` value asks for, read at `now`: a number of
/// seconds (one too large to count asks for `u64::MAX` seconds), or an HTTP
/// date (a date in the past asks for no delay). `None` if the value is
/// neither.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderValue;
/// use steadfast_retry::http::parse_retry_after;
///
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("120"), now), Some(Duration::from_secs(120)));
/// let date = HeaderValue::from_static("Sun, 06 Nov 1994 08:49:47 GMT");
/// assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(10)));
/// assert_eq!(parse_retry_after(&HeaderValue::from_static("soon"), now), None);
/// ```
pub fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // All digits: only an overflow can fail, and a delay too long to
        // count is the longest there is.
        return Some(Duration::from_secs(text.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(text).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The delay the `Retry-After` header of `headers` asks for, read against
/// the system clock. `None` without a valid header.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| parse_retry_after(value, SystemTime::now()))
}

/// Whether a response with this status may succeed if sent again: 408, 429
/// and 5xx except 501 (not implemented) and 505 (version not supported).
pub fn is_retryable_status(status: StatusCode) -> bool {
    match status.as_u16() {
        408 | 429 => true,
        501 | 505 => false,
        code => (500..600).contains(&code),
    }
}

/// A policy for services answering `http::Response`: a response with a
/// [retryable status](is_retryable_status) is retried after its
/// `Retry-After` (capped at the backoff's maximum) or else the backoff
/// delay; other responses are returned; errors are classified as the
/// [`DefaultPolicy`](crate::DefaultPolicy) does.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpPolicy;

impl<B, E: Failure> Policy<Response<B>, E> for HttpPolicy {
    fn classify(&self, result: Result<&Response<B>, &E>, _: &Attempt) -> Action {
        match result {
            Ok(response) if is_retryable_status(response.status()) => {
                match retry_after(response.headers()) {
                    Some(delay) => Action::RetryAfter(delay),
                    None => Action::Retry,
                }
            }
            Ok(_) => Action::Stop,
            Err(error) => classify_failure(error),
        }
    }
}
