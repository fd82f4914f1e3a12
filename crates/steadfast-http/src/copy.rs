//! Copying a request for another attempt.

use bytes::Bytes;
use http::Request;
use http_body_util::{Empty, Full};

/// A request body that can be copied for another attempt, or says it
/// cannot (a stream, which is sent once).
///
/// Implemented for the bodies held in memory: `()`, [`Bytes`], `String`,
/// `Vec<u8>`, `&'static str`, `&'static [u8]`, http-body-util's `Empty`
/// and `Full`, and (feature `reqwest`) `reqwest::Body`, whose streams
/// decline.
pub trait CopyBody: Sized {
    /// A copy of this body, if there can be one.
    fn copy_body(&self) -> Option<Self>;
}

macro_rules! clone_bodies {
    ($($body:ty),* $(,)?) => {
        $(
            impl CopyBody for $body {
                #[inline]
                fn copy_body(&self) -> Option<Self> {
                    Some(self.clone())
                }
            }
        )*
    };
}

clone_bodies!(
    (),
    Bytes,
    String,
    Vec<u8>,
    &'static str,
    &'static [u8],
    Empty<Bytes>,
    Full<Bytes>
);

#[cfg(feature = "reqwest")]
impl CopyBody for reqwest::Body {
    fn copy_body(&self) -> Option<Self> {
        self.as_bytes()
            .map(|bytes| reqwest::Body::from(bytes.to_vec()))
    }
}

/// A copy of `request` for another attempt: method, URI, version, headers,
/// extensions and body; `None` when the body cannot be copied (then the
/// request is sent once).
///
/// `http::Request` is not `Clone`; this is the function retry's
/// `clone_request_with` takes:
///
/// ```
/// use bytes::Bytes;
/// use steadfast_http::copy_request;
///
/// let request = http::Request::post("http://config.local/app")
///     .header("content-type", "application/json")
///     .body(Bytes::from_static(b"{}"))
///     .unwrap();
/// let copy = copy_request(&request).unwrap();
/// assert_eq!(copy.uri(), request.uri());
/// assert_eq!(copy.headers(), request.headers());
/// assert_eq!(copy.body(), request.body());
///
/// let retry = steadfast_retry::RetryLayer::builder()
///     .clone_request_with(copy_request::<Bytes>)
///     .build()
///     .unwrap();
/// # drop(retry);
/// ```
pub fn copy_request<B: CopyBody>(request: &Request<B>) -> Option<Request<B>> {
    let mut copy = Request::new(request.body().copy_body()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    *copy.extensions_mut() = request.extensions().clone();
    Some(copy)
}
