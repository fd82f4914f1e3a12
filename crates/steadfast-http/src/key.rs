//! Cache keys for `http::Request`s.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderName, HeaderValue, Method, Request, Uri};
use steadfast_cache::KeyFn;

use crate::cache_control;

/// Keys an `http::Request` by its method, its URI and the headers it
/// [varies](Self::vary) on (`Accept`, `Accept-Language`), as a shared HTTP
/// cache would: two requests for the same URI asking for different
/// representations are two keys.
///
/// A request a cache must not answer from memory gets a key of its own,
/// never equal to another: one whose method is not `GET` or `HEAD`, or that
/// says `Cache-Control: no-store` or `no-cache`. So it is neither answered
/// from the cache nor joined to another caller's load; and
/// [`BufferLayer`](crate::BufferLayer) marks its response
/// [not storable](crate::BufferedResponse::is_storable), so with
/// `store_if(BufferedResponse::is_storable)` it is not stored either. A
/// response that says `no-store` is not stored the same way.
///
/// ```
/// use http::header::ACCEPT;
/// use steadfast_cache::KeyFn;
/// use steadfast_http::RequestKey;
///
/// let keys = RequestKey::new().vary(ACCEPT);
/// let json = http::Request::get("http://config.local/app").header(ACCEPT, "application/json").body(()).unwrap();
/// let yaml = http::Request::get("http://config.local/app").header(ACCEPT, "application/yaml").body(()).unwrap();
/// assert_ne!(keys.key(&json), keys.key(&yaml));
/// assert_eq!(keys.key(&json), keys.key(&json));
/// assert_eq!(keys.key(&json).to_string(), "GET http://config.local/app accept: application/json");
///
/// let fresh = http::Request::get("http://config.local/app").header("cache-control", "no-cache").body(()).unwrap();
/// assert_ne!(keys.key(&fresh), keys.key(&fresh));
/// ```
#[derive(Debug, Clone, Default)]
pub struct RequestKey {
    vary: Arc<[HeaderName]>,
}

impl RequestKey {
    /// Keys by method and URI.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also keys by the values of header `name` (all of them, in order; a
    /// request without it differs from one with it).
    pub fn vary(self, name: HeaderName) -> Self {
        let mut vary = self.vary.to_vec();
        if !vary.contains(&name) {
            vary.push(name);
        }
        Self { vary: vary.into() }
    }

    /// The headers keys vary on.
    pub fn varies_on(&self) -> &[HeaderName] {
        &self.vary
    }
}

/// Whether a cache must not answer `request` from memory, nor store its
/// answer: a method other than `GET` or `HEAD`, or `Cache-Control:
/// no-store` or `no-cache`.
pub(crate) fn bypasses<B>(request: &Request<B>) -> bool {
    (request.method() != Method::GET && request.method() != Method::HEAD)
        || cache_control::has(request.headers(), "no-store")
        || cache_control::has(request.headers(), "no-cache")
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

impl<B> KeyFn<Request<B>> for RequestKey {
    type Key = HttpCacheKey;

    fn key(&self, request: &Request<B>) -> HttpCacheKey {
        let varied = self
            .vary
            .iter()
            .map(|name| {
                let values: Box<[HeaderValue]> =
                    request.headers().get_all(name).iter().cloned().collect();
                (name.clone(), values)
            })
            .collect();
        let unique = bypasses(request).then(|| UNIQUE.fetch_add(1, Ordering::Relaxed));
        HttpCacheKey {
            method: request.method().clone(),
            uri: request.uri().clone(),
            varied,
            unique,
        }
    }
}

/// The key [`RequestKey`] makes: method, URI and the varied headers'
/// values; or a key of its own for a request the cache must pass through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpCacheKey {
    method: Method,
    uri: Uri,
    varied: Box<[(HeaderName, Box<[HeaderValue]>)]>,
    unique: Option<u64>,
}

impl HttpCacheKey {
    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Whether this key is of a request the cache passes through, equal to
    /// no other key.
    pub fn is_pass_through(&self) -> bool {
        self.unique.is_some()
    }
}

impl fmt::Display for HttpCacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.uri)?;
        for (name, values) in &self.varied {
            write!(f, " {name}:")?;
            for (i, value) in values.iter().enumerate() {
                let separator = if i == 0 { " " } else { ", " };
                match value.to_str() {
                    Ok(text) => write!(f, "{separator}{text}")?,
                    Err(_) => write!(f, "{separator}{:?}", value.as_bytes())?,
                }
            }
        }
        if let Some(unique) = self.unique {
            write!(f, " (pass-through #{unique})")?;
        }
        Ok(())
    }
}
