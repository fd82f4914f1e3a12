//! The HTTP source.

mod builder;
mod decompress;
mod etag;
mod future;
mod long_poll;
mod redirect;
mod remembered;
mod target;
mod tls;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::IF_NONE_MATCH;
use http::{HeaderMap, Method, Uri};
use http_body::Body;
use http_body_util::Empty;
use steadfast_core::BoxError;
use tower_service::Service;

pub use self::builder::{
    DEFAULT_MAX_BODY_SIZE, DEFAULT_REMEMBERED, DEFAULT_REMEMBERED_BYTES, DEFAULT_TIMEOUT,
    HttpSourceBuilder,
};
pub use self::future::HttpFuture;
pub use self::long_poll::LongPoll;
pub use self::redirect::{DEFAULT_MAX_REDIRECTS, Following};
#[cfg(feature = "reqwest")]
pub use steadfast_reqwest::{ReqwestClient, ReqwestFuture};

use self::long_poll::LongPolls;
use self::redirect::Redirects;
use self::remembered::{Entry, Remembered};
use self::target::Target;
pub(crate) use self::tls::is_certificate_error;
use crate::event::{HttpCounters, HttpStats, Listener};
use crate::{BuildError, ConfigError, ConfigRequest, ConfigResponse, Format};

/// The body of the requests an [`HttpSource`] sends: GETs, so empty.
pub type RequestBody = Empty<Bytes>;

/// The client [`HttpSourceBuilder::build`] makes: hyper-util's pooling
/// client over rustls (HTTPS and HTTP, HTTP/1.1 and HTTP/2), with the
/// webpki roots, on ring (feature `rustls-ring`, the default) or aws-lc-rs
/// (feature `rustls-aws-lc`).
#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
pub type DefaultClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    RequestBody,
>;

/// The client [`HttpSourceBuilder::build`] makes: hyper-util's pooling
/// client over the platform's TLS through hyper-tls (feature
/// `native-tls`; HTTPS and HTTP, HTTP/1.1).
#[cfg(all(
    feature = "native-tls",
    not(any(feature = "rustls-ring", feature = "rustls-aws-lc"))
))]
pub type DefaultClient = hyper_util::client::legacy::Client<
    hyper_tls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    RequestBody,
>;

/// The client [`HttpSourceBuilder::build`] makes without a TLS feature:
/// hyper-util's pooling client over plain HTTP. An `https` base URL then
/// needs a client of your own ([`HttpSourceBuilder::build_with`]).
#[cfg(not(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc",
    feature = "native-tls"
)))]
pub type DefaultClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    RequestBody,
>;

/// Whether the default client speaks TLS.
pub(crate) const DEFAULT_CLIENT_HAS_TLS: bool = cfg!(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc",
    feature = "native-tls"
));

#[cfg(any(feature = "rustls-ring", feature = "rustls-aws-lc"))]
fn default_client() -> Result<DefaultClient, BuildError> {
    #[cfg(feature = "rustls-ring")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(not(feature = "rustls-ring"))]
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(provider)
        .map_err(|e| BuildError::Tls {
            message: e.to_string().into(),
        })?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

#[cfg(all(
    feature = "native-tls",
    not(any(feature = "rustls-ring", feature = "rustls-aws-lc"))
))]
fn default_client() -> Result<DefaultClient, BuildError> {
    let tls = native_tls::TlsConnector::new().map_err(|e| BuildError::Tls {
        message: e.to_string().into(),
    })?;
    let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
    http.enforce_http(false);
    let connector = hyper_tls::HttpsConnector::from((http, tls.into()));
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(connector),
    )
}

#[cfg(not(any(
    feature = "rustls-ring",
    feature = "rustls-aws-lc",
    feature = "native-tls"
)))]
fn default_client() -> Result<DefaultClient, BuildError> {
    Ok(
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http(),
    )
}

/// Loads configurations over HTTP: a `Service<ConfigRequest>` over any
/// `Service<http::Request<RequestBody>>` client.
///
/// Each request is a GET of the base URL plus the
/// [path template](HttpSourceBuilder::path), filled in from the request:
///
/// - `200` is the body, read up to the [size
///   limit](HttpSourceBuilder::max_body_size) while it streams; its format
///   comes from `Content-Type`, else from the URL's extension, else from the
///   [default format](HttpSourceBuilder::default_format). Another content
///   type (`text/html`) is [`ConfigError::UnsupportedFormat`].
/// - With an `ETag`, the body is remembered (a map shared by all clones,
///   bounded in [keys](HttpSourceBuilder::remember) and
///   [bytes](HttpSourceBuilder::remember_bytes)) and the next request for the same key sends `If-None-Match`;
///   `304 Not Modified` then answers with the remembered body, same version,
///   fresh `fetched_at`.
/// - A compressed body (`Content-Encoding: gzip`, `br` or `zstd`, as
///   the features allow, all asked for in `Accept-Encoding`) is decoded as
///   it streams, held to the size limit both compressed and decoded;
///   another encoding is [`ConfigError::UnsupportedEncoding`], a stream
///   that does not decode [`ConfigError::CorruptBody`].
/// - The version is the `ETag`'s tag without quotes (`v1` for `"v1"`),
///   weak validators (`W/"v1"`) told by
///   [`ConfigResponse::is_weak_version`]; `If-None-Match` sends the tag
///   back as it came.
/// - Redirects (301, 302, 303, 307, 308) are followed, up to
///   [`max_redirects`](HttpSourceBuilder::max_redirects) (default 5), on
///   the base URL's origin unless
///   [`allow_cross_origin_redirects`](HttpSourceBuilder::allow_cross_origin_redirects),
///   and then without credentials; never from HTTPS to HTTP. Any other is
///   [`ConfigError::Redirect`].
/// - `404` is [`ConfigError::NotFound`]; `429` and `5xx` are
///   [`ConfigError::Status`] with the `Retry-After` delay (seconds or an HTTP
///   date); any other status is [`ConfigError::Status`].
/// - Past the [timeout](HttpSourceBuilder::timeout) the call fails with
///   [`ConfigError::Timeout`]; a client error is [`ConfigError::Transport`].
///
/// Every request runs in a `config_http` tracing span with the name, the URL
/// (never credentials), the status, the body size and the duration. The
/// auth header is marked sensitive and never shown by `Debug` or tracing.
///
/// Clones share everything but the client, which is cloned (and cloned
/// again for each load that may follow a redirect, which the clone sends).
///
/// # Clients
///
/// [`HttpSourceBuilder::build`] uses [`DefaultClient`].
/// [`HttpSourceBuilder::build_with`] takes any client: a hyper-util client
/// built with [`RequestBody`], a tower stack around one, or a `reqwest`
/// client wrapped in `ReqwestClient` (feature
/// `reqwest`).
pub struct HttpSource<C = DefaultClient> {
    inner: C,
    shared: Arc<HttpShared>,
}

pub(crate) struct HttpShared {
    target: Target,
    headers: HeaderMap,
    timeout: Duration,
    max_body_size: usize,
    redirects: Redirects,
    default_format: Option<Format>,
    default_profile: Option<Arc<str>>,
    remembered: Remembered,
    long_polls: Option<LongPolls>,
    listener: Option<Listener>,
    counters: HttpCounters,
}

impl HttpSource {
    /// Starts a source for the server at `base_url` (`https://host/api`).
    pub fn builder(base_url: impl Into<String>) -> HttpSourceBuilder {
        HttpSourceBuilder::new(base_url)
    }
}

impl<C> HttpSource<C> {
    /// The URL a request goes to.
    pub fn url(&self, req: &ConfigRequest) -> Result<Uri, ConfigError> {
        self.shared
            .target
            .uri(req, self.shared.default_profile.as_deref())
    }

    /// The counters of this source, shared by all its clones.
    pub fn stats(&self) -> HttpStats {
        self.shared.counters.snapshot()
    }

    /// How many keys' `ETag` and body are remembered now.
    pub fn remembered(&self) -> usize {
        self.shared.remembered.len()
    }

    /// How many bytes the remembered bodies, keys and tags hold now.
    pub fn remembered_bytes(&self) -> usize {
        self.shared.remembered.bytes()
    }

    /// Forgets the `ETag` and body of `req`, so its next load is a plain GET.
    pub fn forget(&self, req: &ConfigRequest) {
        self.shared.remembered.remove(req.key());
    }

    /// The client.
    pub fn get_ref(&self) -> &C {
        &self.inner
    }

    /// The client, mutably.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    /// The client, unwrapped.
    pub fn into_inner(self) -> C {
        self.inner
    }

    /// The request for `req`, and the remembered body its `If-None-Match`
    /// names, which a `304` answers with.
    fn request(
        &self,
        req: &ConfigRequest,
    ) -> Result<(http::Request<RequestBody>, Option<Entry>), ConfigError> {
        let mut uri = self.url(req)?;
        if let Some(polls) = &self.shared.long_polls {
            polls.hold(req, &mut uri);
        }
        let mut request = http::Request::new(Empty::new());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = uri;
        *request.headers_mut() = self.shared.headers.clone();
        let validated = self.shared.remembered.get(req.key());
        if let Some(entry) = &validated {
            request
                .headers_mut()
                .insert(IF_NONE_MATCH, entry.etag.clone());
        }
        Ok((request, validated))
    }
}

impl<C: Clone> Clone for HttpSource<C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<C> fmt::Debug for HttpSource<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.shared, f)
    }
}

impl fmt::Debug for HttpShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &dyn fmt::Debug)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown: &dyn fmt::Debug = if value.is_sensitive() {
                    &"<redacted>"
                } else {
                    value
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpSource")
            .field("base", &self.target.base())
            .field("headers", &headers)
            .field("timeout", &self.timeout)
            .field("max_body_size", &self.max_body_size)
            .field("max_redirects", &self.redirects.max)
            .field("cross_origin_redirects", &self.redirects.cross_origin)
            .field("default_format", &self.default_format)
            .field("default_profile", &self.default_profile)
            .field("remembered", &self.remembered.len())
            .field("remembered_bytes", &self.remembered.bytes())
            .field("listener", &self.listener.is_some())
            .field("stats", &self.counters.snapshot())
            .finish()
    }
}

impl<C, B> Service<ConfigRequest> for HttpSource<C>
where
    C: Service<http::Request<RequestBody>, Response = http::Response<B>> + Clone,
    C::Error: Into<BoxError>,
    B: Body,
    B::Error: Into<BoxError>,
{
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = HttpFuture<Following<C, C::Future>, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        self.inner.poll_ready(cx).map_err(ConfigError::transport)
    }

    fn call(&mut self, req: ConfigRequest) -> Self::Future {
        match self.request(&req) {
            Ok((request, validated)) => {
                let span = future::span(&req, request.uri());
                let redirects = self.shared.redirects;
                let (uri, headers) = (request.uri().clone(), request.headers().clone());
                let call = {
                    let _entered = span.enter();
                    self.inner.call(request)
                };
                // The clone that sends the redirects' requests, when they
                // are followed.
                let client = (redirects.max > 0).then(|| self.inner.clone());
                let call = Following::new(call, client, uri, headers, redirects);
                HttpFuture::sending(call, self.shared.clone(), req, validated, span)
            }
            Err(error) => HttpFuture::failed(error, self.shared.clone(), req),
        }
    }
}
