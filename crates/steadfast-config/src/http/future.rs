use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime};

use bytes::Buf;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, ETAG, RETRY_AFTER};
use http::{HeaderMap, StatusCode, Uri};
use http_body::Body;
use pin_project_lite::pin_project;
use steadfast_core::BoxError;
use tokio::time::{Instant, Sleep};
use tracing::Span;
use tracing::field::Empty;

use super::HttpShared;
use super::decompress::{Decoding, encoding_of};
use super::etag;
use super::long_poll::LongPolls;
use super::remembered::Entry;
use crate::response::MAX_PREALLOCATED_BODY;
use crate::{ConfigError, ConfigRequest, ConfigResponse, Event, Format};

/// How many body frames one poll reads before it yields, so a body whose
/// frames are always ready cannot hold the thread (or outrun the timeout).
const FRAMES_PER_POLL: u32 = 64;

pub(super) fn span(req: &ConfigRequest, uri: &Uri) -> Span {
    tracing::debug_span!(
        "config_http",
        name = req.name(),
        url = %uri,
        status = Empty,
        bytes = Empty,
        duration_ms = Empty,
    )
}

pin_project! {
    /// The response future of [`HttpSource`](crate::HttpSource).
    pub struct HttpFuture<F, B> {
        #[pin]
        state: State<F, B>,
        #[pin]
        deadline: Sleep,
        shared: Arc<HttpShared>,
        request: ConfigRequest,
        validated: Option<Entry>,
        started: Instant,
        status: Option<StatusCode>,
        span: Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, B> {
        Failed { error: Option<ConfigError> },
        Sending { #[pin] call: F },
        Reading {
            #[pin]
            body: B,
            decoding: Decoding,
            format: Format,
            etag: Option<http::HeaderValue>,
        },
        Done,
    }
}

impl<F, B> HttpFuture<F, B> {
    pub(super) fn sending(
        call: F,
        shared: Arc<HttpShared>,
        request: ConfigRequest,
        validated: Option<Entry>,
        span: Span,
    ) -> Self {
        let started = Instant::now();
        let timeout = LongPolls::timeout(shared.long_polls.as_ref(), &request, shared.timeout);
        Self {
            deadline: deadline(started, timeout),
            state: State::Sending { call },
            shared,
            request,
            validated,
            started,
            status: None,
            span,
        }
    }

    pub(super) fn failed(
        error: ConfigError,
        shared: Arc<HttpShared>,
        request: ConfigRequest,
    ) -> Self {
        let started = Instant::now();
        Self {
            deadline: deadline(started, shared.timeout),
            state: State::Failed { error: Some(error) },
            shared,
            request,
            validated: None,
            started,
            status: None,
            span: Span::none(),
        }
    }
}

/// A timer for `timeout` after `started`; a timeout too long to have an
/// end is a timer that never fires.
fn deadline(started: Instant, timeout: Duration) -> Sleep {
    match started.checked_add(timeout) {
        Some(at) => tokio::time::sleep_until(at),
        None => tokio::time::sleep(timeout),
    }
}

impl<F, B> fmt::Debug for HttpFuture<F, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFuture")
            .field("request", &self.request)
            .field("started", &self.started)
            .finish_non_exhaustive()
    }
}

/// What the status and headers of a response lead to.
enum Head<B> {
    Done(Result<ConfigResponse, ConfigError>),
    Read {
        body: B,
        format: Format,
        etag: Option<http::HeaderValue>,
        decoding: Decoding,
    },
}

impl<F, B, E> Future for HttpFuture<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Output = Result<ConfigResponse, ConfigError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let result = loop {
            match this.state.as_mut().project() {
                StateProj::Failed { error } => {
                    break Err(error
                        .take()
                        .unwrap_or_else(|| ConfigError::invalid_request("polled again")));
                }
                StateProj::Sending { call } => {
                    let response = match call.poll(cx) {
                        Poll::Ready(Ok(response)) => response,
                        Poll::Ready(Err(error)) => break Err(super::redirect::into_error(error)),
                        Poll::Pending => {
                            ready!(this.deadline.as_mut().poll(cx));
                            break Err(ConfigError::Timeout(this.shared.timeout));
                        }
                    };
                    this.span.record("status", response.status().as_u16());
                    *this.status = Some(response.status());
                    match head(this.shared, this.request, this.validated.take(), response) {
                        Head::Done(result) => break result,
                        Head::Read {
                            body,
                            format,
                            etag,
                            decoding,
                        } => this.state.set(State::Reading {
                            body,
                            decoding,
                            format,
                            etag,
                        }),
                    }
                }
                StateProj::Reading {
                    mut body,
                    decoding,
                    format,
                    etag,
                } => {
                    let mut frames = 0u32;
                    let read = loop {
                        frames += 1;
                        if frames > FRAMES_PER_POLL {
                            if this.deadline.as_mut().poll(cx).is_ready() {
                                break Err(ConfigError::Timeout(this.shared.timeout));
                            }
                            cx.waker().wake_by_ref();
                            return Poll::Pending;
                        }
                        match body.as_mut().poll_frame(cx) {
                            Poll::Ready(Some(Ok(frame))) => {
                                if let Ok(mut data) = frame.into_data() {
                                    let mut pushed = Ok(());
                                    while pushed.is_ok() && data.has_remaining() {
                                        let chunk = data.chunk();
                                        let len = chunk.len();
                                        pushed = decoding.push(chunk);
                                        data.advance(len);
                                    }
                                    if let Err(error) = pushed {
                                        break Err(error);
                                    }
                                }
                            }
                            Poll::Ready(Some(Err(error))) => {
                                break Err(ConfigError::transport(error));
                            }
                            Poll::Ready(None) => break decoding.finish(),
                            Poll::Pending => {
                                ready!(this.deadline.as_mut().poll(cx));
                                break Err(ConfigError::Timeout(this.shared.timeout));
                            }
                        }
                    };
                    break read.map(|body| {
                        let mut response = ConfigResponse::new(body.clone(), *format);
                        let key = this.request.shared_key();
                        match etag.take() {
                            Some(etag) => {
                                let (version, weak) = etag::version(&etag);
                                response = response
                                    .with_version(version.clone())
                                    .with_weak_version(weak);
                                this.shared
                                    .remembered
                                    .put(key.clone(), Entry::new(etag, version, body, *format));
                            }
                            None => this.shared.remembered.remove(key),
                        }
                        response
                    });
                }
                StateProj::Done => break Err(ConfigError::invalid_request("polled again")),
            }
        };
        this.state.set(State::Done);
        let elapsed = this.started.elapsed();
        this.span.record(
            "duration_ms",
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        );
        let shared = &**this.shared;
        match &result {
            Ok(response) => {
                let not_modified = *this.status == Some(StatusCode::NOT_MODIFIED);
                let bytes = if not_modified {
                    0
                } else {
                    response.body().len()
                };
                this.span.record("bytes", bytes);
                let counters = &shared.counters;
                if not_modified {
                    counters.not_modified.fetch_add(1, Ordering::Relaxed);
                } else {
                    counters.loaded.fetch_add(1, Ordering::Relaxed);
                }
                counters.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                let outcome = if not_modified {
                    "not_modified"
                } else {
                    "loaded"
                };
                metrics::counter!("steadfast_config_http_requests_total", "outcome" => outcome)
                    .increment(1);
                metrics::counter!("steadfast_config_http_bytes_total").increment(bytes as u64);
                tracing::debug!(
                    bytes,
                    not_modified,
                    version = response.version(),
                    format = %response.format(),
                    "config loaded"
                );
                if let Some(listener) = &shared.listener {
                    listener(&Event::Loaded {
                        request: this.request,
                        response,
                        not_modified,
                        elapsed,
                    });
                }
            }
            Err(error) => {
                shared.counters.failed.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("steadfast_config_http_requests_total", "outcome" => "failed")
                    .increment(1);
                tracing::debug!(%error, "config load failed");
                if let Some(listener) = &shared.listener {
                    listener(&Event::Failed {
                        request: this.request,
                        error,
                        elapsed,
                    });
                }
            }
        }
        Poll::Ready(result)
    }
}

fn head<B: Body>(
    shared: &HttpShared,
    request: &ConfigRequest,
    validated: Option<Entry>,
    response: http::Response<B>,
) -> Head<B> {
    let status = response.status();
    if let Some(polls) = &shared.long_polls {
        polls.observe(request, response.headers());
    }
    let failed = |error| Head::Done(Err(error));
    match status {
        StatusCode::OK | StatusCode::NON_AUTHORITATIVE_INFORMATION => {}
        StatusCode::NOT_MODIFIED => {
            return match validated {
                Some(entry) => Head::Done(Ok(ConfigResponse::new(entry.body, entry.format)
                    .with_version(entry.version)
                    .with_weak_version(entry.weak))),
                None => failed(ConfigError::Status {
                    code: status,
                    retry_after: None,
                }),
            };
        }
        StatusCode::NOT_FOUND => {
            return failed(ConfigError::NotFound {
                name: Arc::from(request.name()),
            });
        }
        _ => {
            let retry_after = if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
            {
                retry_after(response.headers(), SystemTime::now())
            } else {
                None
            };
            return failed(ConfigError::Status {
                code: status,
                retry_after,
            });
        }
    }
    let (parts, body) = response.into_parts();
    let format = match format_of(shared, &parts.headers) {
        Ok(format) => format,
        Err(error) => return failed(error),
    };
    let limit = shared.max_body_size;
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        .max(body.size_hint().lower());
    if declared > limit as u64 {
        return failed(ConfigError::BodyTooLarge { limit });
    }
    let etag = parts
        .headers
        .get(ETAG)
        .filter(|etag| etag.to_str().is_ok())
        .cloned();
    // The declared length is the server's word: memory is reserved for
    // at most `MAX_PREALLOCATED_BODY` of it, the rest as the bytes arrive.
    let capacity = usize::try_from(declared)
        .unwrap_or(usize::MAX)
        .min(MAX_PREALLOCATED_BODY);
    let encoding = match encoding_of(&parts.headers) {
        Ok(encoding) => encoding,
        Err(error) => return failed(error),
    };
    Head::Read {
        body,
        format,
        etag,
        decoding: Decoding::new(encoding, limit, capacity),
    }
}

/// The format of a `200` body: its content type, else the URL's extension,
/// else the default format.
fn format_of(shared: &HttpShared, headers: &HeaderMap) -> Result<Format, ConfigError> {
    let content_type = headers.get(CONTENT_TYPE).map(|v| {
        v.to_str().map_or_else(
            |_| String::from_utf8_lossy(v.as_bytes()).into_owned(),
            str::to_owned,
        )
    });
    if let Some(content_type) = &content_type {
        if let Some(format) = Format::from_content_type(content_type) {
            return Ok(format);
        }
        if !is_generic(content_type) {
            return Err(ConfigError::UnsupportedFormat {
                content_type: Some(content_type.as_str().into()),
            });
        }
    }
    shared
        .target
        .extension_format()
        .or(shared.default_format)
        .ok_or_else(|| ConfigError::UnsupportedFormat {
            content_type: content_type.map(Into::into),
        })
}

fn is_generic(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("text/plain")
        || essence.eq_ignore_ascii_case("application/octet-stream")
}

/// The delay of a `Retry-After` header: whole seconds (a number too large to
/// count is `u64::MAX` seconds), or an HTTP date (measured against the wall
/// clock `now`; a date in the past is zero).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(120)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:30 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:27:00 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }
}
