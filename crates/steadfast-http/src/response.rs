//! The buffered, cloneable response.

use std::str::Utf8Error;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode, Version};
use steadfast_core::{Provenance, Source};

use crate::cache_control;

/// A response read to its end: status, version, headers and the whole body
/// as [`Bytes`], so cloning it is a few reference-count increments.
///
/// `http::Response` is not `Clone`, and its body streams; the cache, which
/// hands one value to many callers, and the fallback, which answers with a
/// value it keeps, need both. [`BufferLayer`](crate::BufferLayer) makes
/// these from any client's `http::Response<B>`, reading the body up to a
/// size limit.
///
/// It remembers whether it may be cached ([`is_storable`](Self::is_storable):
/// no `Cache-Control: no-store` on the response, and a request that neither
/// forbade storing nor was unsafe), and where it came from
/// ([`Provenance`]), for a cache and fallback built with `provenance()`.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use steadfast_http::BufferedResponse;
///
/// let response = BufferedResponse::new(StatusCode::OK, HeaderMap::new(), "{\"port\": 8080}");
/// let copy = response.clone();
/// assert_eq!(copy.status(), StatusCode::OK);
/// assert_eq!(copy.text().unwrap(), "{\"port\": 8080}");
/// assert!(copy.is_storable());
/// ```
#[derive(Debug, Clone)]
pub struct BufferedResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
    source: Source,
    storable: bool,
}

impl BufferedResponse {
    /// A response with `status`, `headers` and `body`, as HTTP/1.1 from the
    /// origin; storable unless its headers say `Cache-Control: no-store`.
    pub fn new(status: StatusCode, headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        let storable = !cache_control::has(&headers, "no-store");
        Self {
            status,
            version: Version::HTTP_11,
            headers,
            body: body.into(),
            source: Source::Origin,
            storable,
        }
    }

    /// The same response as sent over `version`.
    pub fn with_version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// The same response, marked as coming from `source` (a fallback
    /// value is [`Source::Fallback`]).
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, mutably.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The body, as UTF-8 text.
    pub fn text(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(&self.body)
    }

    /// The body, unwrapped.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// Where this response came from: the origin, the cache (fresh or
    /// stale), or the fallback.
    pub fn source(&self) -> Source {
        self.source
    }

    /// Whether a cache may store this response: `false` when the response
    /// says `Cache-Control: no-store`, or when the request it answers said
    /// `no-store` or `no-cache` or used a method other than `GET` or `HEAD`.
    ///
    /// A function for `CacheLayerBuilder::store_if`.
    pub fn is_storable(&self) -> bool {
        self.storable
    }

    /// Marks this response storable or not, whatever its headers say.
    pub fn set_storable(&mut self, storable: bool) {
        self.storable = storable;
    }

    /// The delay its `Retry-After` header asks for (seconds or an HTTP
    /// date, read against the system clock).
    pub fn retry_after(&self) -> Option<Duration> {
        steadfast_retry::http::retry_after(&self.headers)
    }

    /// An `http::Response` with the same status, version, headers and body.
    pub fn into_http(self) -> http::Response<Bytes> {
        let mut response = http::Response::new(self.body);
        *response.status_mut() = self.status;
        *response.version_mut() = self.version;
        *response.headers_mut() = self.headers;
        response
    }
}

impl From<http::Response<Bytes>> for BufferedResponse {
    fn from(response: http::Response<Bytes>) -> Self {
        let (parts, body) = response.into_parts();
        Self::new(parts.status, parts.headers, body).with_version(parts.version)
    }
}

impl Provenance for BufferedResponse {
    fn source(&self) -> Source {
        self.source
    }

    fn set_source(&mut self, source: Source) {
        self.source = source;
    }
}
