use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};

use super::decompress;
use super::long_poll::{LongPoll, LongPolls};
use super::redirect::{DEFAULT_MAX_REDIRECTS, Redirects};
use super::remembered::Remembered;
use super::target::{Target, redact};
use super::{HttpShared, HttpSource};
use crate::event::{Event, HttpCounters, Listener};
use crate::wire::base64;
use crate::{BuildError, Format};

/// The default body size limit: 4 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 4 * 1024 * 1024;
/// The default per-request timeout: 10 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How many keys' `ETag`s and bodies are remembered by default.
pub const DEFAULT_REMEMBERED: usize = 256;
/// How many bytes the remembered bodies (with their keys and tags) may hold
/// by default: 16 MiB.
pub const DEFAULT_REMEMBERED_BYTES: usize = 16 * 1024 * 1024;

const ACCEPTED: &str = concat!(
    "application/json",
    ", application/toml;q=0.9",
    ", application/yaml;q=0.9",
    ", */*;q=0.1"
);

/// Configures an [`HttpSource`]; made by [`HttpSource::builder`].
///
/// Nothing is checked until [`build`](HttpSourceBuilder::build) or
/// [`build_with`](HttpSourceBuilder::build_with), which return a
/// [`BuildError`] for a bad URL, template, header or limit.
///
/// Credentials (the auth header, a sensitive header, user-info in the base
/// URL) are never shown by `Debug`.
#[derive(Clone)]
pub struct HttpSourceBuilder {
    base_url: String,
    template: String,
    headers: Vec<(String, String, bool)>,
    auth: Option<String>,
    timeout: Duration,
    max_body_size: usize,
    redirects: Redirects,
    default_format: Option<Format>,
    default_profile: Option<String>,
    remembered: usize,
    remembered_bytes: usize,
    long_poll: Option<LongPoll>,
    listener: Option<Listener>,
}

impl HttpSourceBuilder {
    pub(super) fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            template: "/{name}".to_owned(),
            headers: Vec::new(),
            auth: None,
            timeout: DEFAULT_TIMEOUT,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            redirects: Redirects {
                max: DEFAULT_MAX_REDIRECTS,
                cross_origin: false,
            },
            default_format: None,
            default_profile: None,
            remembered: DEFAULT_REMEMBERED,
            remembered_bytes: DEFAULT_REMEMBERED_BYTES,
            long_poll: None,
            listener: None,
        }
    }

    /// The path under the base URL, with `{name}` (required) and
    /// `{profile}` placeholders, e.g. `/config/{name}/{profile}.json`.
    /// Default `/{name}`.
    ///
    /// Values are percent-encoded. Labels, and a profile the template does
    /// not place, are sent as the query; with such a template a label named
    /// `profile` would read as the profile, so a request carrying one is
    /// [`ConfigError::InvalidRequest`](crate::ConfigError::InvalidRequest).
    /// An extension at the end names the format when the server sends no
    /// content type.
    pub fn path(mut self, template: impl Into<String>) -> Self {
        self.template = template.into();
        self
    }

    /// Sends the `Authorization` header with `value` (`Bearer …`,
    /// `Basic …`), marked sensitive.
    pub fn auth_header(mut self, value: impl Into<String>) -> Self {
        self.auth = Some(value.into());
        self
    }

    /// Sends `Authorization: Bearer <token>`, marked sensitive.
    pub fn bearer_token(self, token: impl AsRef<str>) -> Self {
        self.auth_header(format!("Bearer {}", token.as_ref()))
    }

    /// Sends `Authorization: Basic …` for `user` and `password`, marked
    /// sensitive. User-info in the base URL (`https://user:pass@host`) does
    /// the same.
    pub fn basic_auth(self, user: impl AsRef<str>, password: impl AsRef<str>) -> Self {
        let pair = format!("{}:{}", user.as_ref(), password.as_ref());
        self.auth_header(format!("Basic {}", base64::encode(pair.as_bytes())))
    }

    /// Sends a header with every request; `Authorization`,
    /// `Proxy-Authorization` and `Cookie` are marked sensitive.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into(), false));
        self
    }

    /// Sends a header with every request, marked sensitive (an API key).
    pub fn sensitive_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into(), true));
        self
    }

    /// The time a request may take, from sending to the last body byte
    /// (default 10 s); past it the call fails with
    /// [`ConfigError::Timeout`](crate::ConfigError::Timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The largest body accepted, in bytes (default 4 MiB). A larger body
    /// is [`ConfigError::BodyTooLarge`](crate::ConfigError::BodyTooLarge),
    /// and reading stops at the limit. A compressed body (`Content-Encoding:
    /// gzip`, `br`, `zstd`) is held to it both as it arrives and as it
    /// inflates: one that decodes to more stops at the limit.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// How many redirects (301, 302, 303, 307, 308) one load follows
    /// (default 5); zero follows none, and a redirect is then
    /// [`ConfigError::Status`](crate::ConfigError::Status). One past the
    /// limit is [`ConfigError::Redirect`](crate::ConfigError::Redirect).
    /// Every hop is within the one [timeout](Self::timeout).
    pub fn max_redirects(mut self, redirects: u32) -> Self {
        self.redirects.max = redirects;
        self
    }

    /// Whether a redirect to another origin (scheme, host or port) is
    /// followed (default `false`: it is
    /// [`ConfigError::Redirect`](crate::ConfigError::Redirect)). Once a
    /// load leaves the base URL's origin, its requests carry no
    /// credentials: no `Authorization`, `Proxy-Authorization`, `Cookie`,
    /// nor any [sensitive header](Self::sensitive_header). A redirect from
    /// HTTPS to plain HTTP is never followed.
    pub fn allow_cross_origin_redirects(mut self, allow: bool) -> Self {
        self.redirects.cross_origin = allow;
        self
    }

    /// The format of a body whose content type is missing or generic
    /// (`text/plain`, `application/octet-stream`) and whose URL has no known
    /// extension. Without it such a body is
    /// [`ConfigError::UnsupportedFormat`](crate::ConfigError::UnsupportedFormat).
    pub fn default_format(mut self, format: Format) -> Self {
        self.default_format = Some(format);
        self
    }

    /// The profile for requests without one.
    pub fn default_profile(mut self, profile: impl Into<String>) -> Self {
        self.default_profile = Some(profile.into());
        self
    }

    /// How many keys' last `ETag` and body are remembered for conditional
    /// GETs (default 256, shared by all clones); zero turns conditional
    /// GETs off. The least recently used go first, when this many are
    /// remembered or when their bytes reach
    /// [`remember_bytes`](Self::remember_bytes).
    pub fn remember(mut self, keys: usize) -> Self {
        self.remembered = keys;
        self
    }

    /// How many bytes the remembered bodies may hold, counting each body
    /// with its key and tag (default 16 MiB, shared by all clones). A body
    /// larger than this alone is not remembered. Zero is refused by the
    /// builder: turn conditional GETs off with [`remember(0)`](Self::remember).
    pub fn remember_bytes(mut self, bytes: usize) -> Self {
        self.remembered_bytes = bytes;
        self
    }

    /// Holds the requests that ask to wait for a change
    /// ([`ConfigRequest::with_wait`](crate::ConfigRequest::with_wait)) the
    /// way `long_poll` says (a blocking query); see [`LongPoll`].
    pub fn long_poll(mut self, long_poll: LongPoll) -> Self {
        self.long_poll = Some(long_poll);
        self
    }

    /// Reports every load ([`Event::Loaded`]) and failure
    /// ([`Event::Failed`]) to `listener`. Without a listener, events cost
    /// nothing.
    pub fn on_event<L>(mut self, listener: L) -> Self
    where
        L: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Builds the source on the default client ([`DefaultClient`](crate::DefaultClient)):
    /// hyper-util's pooling client, with the TLS the features choose:
    /// rustls on ring (`rustls-ring`, the default), rustls on aws-lc-rs
    /// (`rustls-aws-lc`), or the platform's (`native-tls`); with several,
    /// the first of these. With none, it speaks plain HTTP only, and an
    /// `https` base URL is [`BuildError::Tls`]: give a client of your own
    /// to [`build_with`](Self::build_with).
    pub fn build(self) -> Result<HttpSource, BuildError> {
        if !super::DEFAULT_CLIENT_HAS_TLS
            && self
                .base_url
                .trim_start()
                .get(..6)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https:"))
        {
            return Err(BuildError::Tls {
                message: "an https URL, and no TLS feature (rustls-ring, rustls-aws-lc, \
                          native-tls) for the default client; use build_with"
                    .into(),
            });
        }
        let client = super::default_client()?;
        self.build_with(client)
    }

    /// Builds the source on `client`, any `Service<http::Request<Empty<Bytes>>>`
    /// answering with an `http::Response` whose body is an `http_body::Body`:
    /// a hyper-util client, a tower stack around one, or
    /// `ReqwestClient` (feature `reqwest`).
    pub fn build_with<C>(self, client: C) -> Result<HttpSource<C>, BuildError> {
        if self.timeout.is_zero() {
            return Err(BuildError::setting("timeout", "must be above zero"));
        }
        if self.max_body_size == 0 {
            return Err(BuildError::setting(
                "max_body_size",
                "must be at least 1 byte",
            ));
        }
        if self.remembered_bytes == 0 {
            return Err(BuildError::setting(
                "remember_bytes",
                "must be at least 1 byte; remember(0) turns conditional GETs off",
            ));
        }
        let (target, user_info) = Target::parse(&self.base_url, &self.template)?;
        let mut headers = HeaderMap::new();
        for (name, value, sensitive) in &self.headers {
            let invalid = || BuildError::InvalidHeader {
                name: Arc::from(name.as_str()),
            };
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let mut value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            value.set_sensitive(*sensitive || is_credential(name.as_str()));
            headers.append(name, value);
        }
        let auth = match (self.auth, user_info) {
            (Some(auth), _) => Some(auth),
            (None, Some(info)) => {
                let pair = format!("{}:{}", info.user, info.password.unwrap_or_default());
                Some(format!("Basic {}", base64::encode(pair.as_bytes())))
            }
            (None, None) => None,
        };
        if let Some(auth) = auth {
            let mut value =
                HeaderValue::from_str(&auth).map_err(|_| BuildError::InvalidHeader {
                    name: Arc::from(AUTHORIZATION.as_str()),
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static(ACCEPTED));
        }
        if let Some(encodings) = decompress::ACCEPT_ENCODING
            && !headers.contains_key(ACCEPT_ENCODING)
        {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(encodings));
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("steadfast-config/", env!("CARGO_PKG_VERSION"))),
            );
        }
        if self.default_profile.as_deref() == Some("") {
            return Err(BuildError::setting("default_profile", "must not be empty"));
        }
        Ok(HttpSource {
            inner: client,
            shared: Arc::new(HttpShared {
                target,
                headers,
                timeout: self.timeout,
                max_body_size: self.max_body_size,
                redirects: self.redirects,
                default_format: self.default_format,
                default_profile: self.default_profile.map(Arc::from),
                remembered: Remembered::new(self.remembered, self.remembered_bytes),
                long_polls: self.long_poll.map(LongPolls::new),
                listener: self.listener,
                counters: HttpCounters::default(),
            }),
        })
    }
}

/// Whether a header of this name carries credentials whatever way it was
/// given, so its value is marked sensitive.
fn is_credential(name: &str) -> bool {
    ["authorization", "proxy-authorization", "cookie"]
        .iter()
        .any(|credential| name.eq_ignore_ascii_case(credential))
}

impl fmt::Debug for HttpSourceBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &dyn fmt::Debug)> = self
            .headers
            .iter()
            .map(|(name, value, sensitive)| {
                let shown: &dyn fmt::Debug = if *sensitive || is_credential(name) {
                    &"<redacted>"
                } else {
                    value
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("HttpSourceBuilder")
            .field("base_url", &redact(&self.base_url))
            .field("path", &self.template)
            .field("headers", &headers)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("max_body_size", &self.max_body_size)
            .field("max_redirects", &self.redirects.max)
            .field("cross_origin_redirects", &self.redirects.cross_origin)
            .field("default_format", &self.default_format)
            .field("default_profile", &self.default_profile)
            .field("remember", &self.remembered)
            .field("remember_bytes", &self.remembered_bytes)
            .field("long_poll", &self.long_poll)
            .field("listener", &self.listener.is_some())
            .finish()
    }
}
