//! How a request becomes a cache key.

use std::fmt;

use steadfast_core::CacheKey;

/// Computes the cache key of a request.
///
/// Equal keys name the same resource. The key is computed on every call, hits
/// included, so it should be cheap: a reference-count increment (an
/// `Arc<str>`), an integer. Implemented by [`DefaultKey`] for every request
/// that implements [`CacheKey`], by closures `Fn(&Req) -> K`, and (with the
/// `http` feature) by `MethodUri` for `http::Request<B>`.
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

    /// The key of `req` lent by the request itself, where it holds one: a
    /// hit then clones no key. [`KeyRef`] lends, and [`DefaultKey`] does for
    /// requests that lend theirs; closures do not.
    #[inline]
    fn borrow_key<'r>(&self, req: &'r Req) -> Option<&'r Self::Key> {
        let _ = req;
        None
    }
}

/// A key function that lends the key a request holds, so a hit clones no
/// key: for `ConfigRequest`, `KeyRef::new(ConfigRequest::shared_key)` saves
/// the reference-count traffic of [`DefaultKey`]'s clone.
///
/// ```
/// use std::sync::Arc;
/// use steadfast_cache::{KeyFn, KeyRef};
///
/// struct Req {
///     key: Arc<str>,
/// }
/// let by_ref = KeyRef::new(|req: &Req| &req.key);
/// let req = Req { key: "app".into() };
/// assert!(std::ptr::eq(by_ref.borrow_key(&req).unwrap(), &req.key));
/// assert_eq!(&*by_ref.key(&req), "app");
/// ```
#[derive(Clone, Copy)]
pub struct KeyRef<F> {
    lend: F,
}

impl<F> KeyRef<F> {
    /// Keys requests with the key `lend` borrows from them.
    pub fn new<Req, K>(lend: F) -> Self
    where
        F: Fn(&Req) -> &K,
    {
        Self { lend }
    }
}

impl<F> fmt::Debug for KeyRef<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRef").finish_non_exhaustive()
    }
}

impl<Req, K, F> KeyFn<Req> for KeyRef<F>
where
    F: Fn(&Req) -> &K,
    K: Clone,
{
    type Key = K;

    #[inline]
    fn key(&self, req: &Req) -> K {
        (self.lend)(req).clone()
    }

    #[inline]
    fn borrow_key<'r>(&self, req: &'r Req) -> Option<&'r K> {
        Some((self.lend)(req))
    }
}

/// The key a request gives itself through [`CacheKey`] (for
/// `steadfast_config::ConfigRequest`: its precomputed `Arc<str>` key, lent
/// to a hit through [`CacheKey::cache_key_ref`], so a hit clones no key).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultKey;

impl<Req: CacheKey> KeyFn<Req> for DefaultKey {
    type Key = Req::Key;

    #[inline]
    fn key(&self, req: &Req) -> Req::Key {
        req.cache_key()
    }

    #[inline]
    fn borrow_key<'r>(&self, req: &'r Req) -> Option<&'r Req::Key> {
        req.cache_key_ref()
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
