//! How a request becomes a cache key.

use steadfast_core::CacheKey;

/// Computes the cache key of a request.
///
/// Equal keys name the same resource. The key is computed on every call, hits
/// included, so it should be cheap: a reference-count increment (an
/// `Arc<str>`), an integer. Implemented by [`DefaultKey`] for every request
/// that implements [`CacheKey`], by closures `Fn(&Req) -> K`, and (with the
/// `http` feature) by [`MethodUri`] for `http::Request<B>`.
///
/// ```
/// use steadfast_cache::KeyFn;
///
/// let by_len = |req: &String| req.len() as u64;
/// assert_eq!(by_len.key(&"abc".to_string()), 3);
/// ```
pub trait KeyFn<Req> {
    /// The key type.
    type Key;

    /// The key of `req`.
    fn key(&self, req: &Req) -> Self::Key;
}

/// The key a request gives itself through [`CacheKey`] (for
/// `steadfast_config::ConfigRequest`: its precomputed `Arc<str>` key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultKey;

impl<Req: CacheKey> KeyFn<Req> for DefaultKey {
    type Key = Req::Key;

    #[inline]
    fn key(&self, req: &Req) -> Req::Key {
        req.cache_key()
    }
}

impl<Req, K, F> KeyFn<Req> for F
where
    F: Fn(&Req) -> K,
{
    type Key = K;

    #[inline]
    fn key(&self, req: &Req) -> K {
        self(req)
    }
}

#[cfg(feature = "http")]
pub use self::http_key::{HttpKey, MethodUri};

#[cfg(feature = "http")]
mod http_key {
    use std::fmt;

    use super::KeyFn;

    /// Keys an `http::Request<B>` by its method and URI.
    ///
    /// ```
    /// use steadfast_cache::{KeyFn, MethodUri};
    ///
    /// let req = http::Request::get("http://config.local/app.json").body(()).unwrap();
    /// assert_eq!(MethodUri.key(&req).to_string(), "GET http://config.local/app.json");
    /// ```
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct MethodUri;

    /// The key [`MethodUri`] makes: a request's method and URI.
    #[derive(Debug, Clone, PartialEq, Eq, Hash)]
    pub struct HttpKey {
        method: http::Method,
        uri: http::Uri,
    }

    impl HttpKey {
        /// The key of a request with `method` and `uri`.
        pub fn new(method: http::Method, uri: http::Uri) -> Self {
            Self { method, uri }
        }

        /// The request method.
        pub fn method(&self) -> &http::Method {
            &self.method
        }

        /// The request URI.
        pub fn uri(&self) -> &http::Uri {
            &self.uri
        }
    }

    impl fmt::Display for HttpKey {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} {}", self.method, self.uri)
        }
    }

    impl<B> KeyFn<http::Request<B>> for MethodUri {
        type Key = HttpKey;

        fn key(&self, req: &http::Request<B>) -> HttpKey {
            HttpKey::new(req.method().clone(), req.uri().clone())
        }
    }
}
