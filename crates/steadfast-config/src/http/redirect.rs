//! Following redirects: a bounded number, the same origin unless told
//! otherwise, never HTTPS to HTTP, and credentials never sent to another
//! origin.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::header::LOCATION;
use http::uri::{Authority, Scheme};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::Empty;
use pin_project_lite::pin_project;
use steadfast_core::BoxError;
use tower_service::Service;

use super::RequestBody;
use super::target::redact;
use crate::{ConfigError, RedirectRefused};

/// The default limit of redirects followed for one load.
pub const DEFAULT_MAX_REDIRECTS: u32 = 5;

/// Which redirects a source follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Redirects {
    /// How many one load follows; zero follows none.
    pub(crate) max: u32,
    /// Whether one to another origin is followed.
    pub(crate) cross_origin: bool,
}

/// A client error, or a [`ConfigError`] the redirect follower gave as its
/// own, as the `ConfigError` it is.
pub(super) fn into_error<E: Into<BoxError>>(error: E) -> ConfigError {
    let boxed: BoxError = error.into();
    match boxed.downcast::<ConfigError>() {
        Ok(error) => *error,
        Err(other) => ConfigError::Transport(Arc::from(other)),
    }
}

pin_project! {
    /// A request sent, and the redirects it leads to followed: the future
    /// an [`HttpSource`](crate::HttpSource) waits on beneath its timeout.
    pub struct Following<C, F> {
        #[pin]
        state: State<F>,
        // A clone of the client for the next hop; `None` when redirects
        // are not followed.
        client: Option<C>,
        uri: Uri,
        headers: HeaderMap,
        origin: (Scheme, Authority),
        hops: u32,
        redirects: Redirects,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Calling { #[pin] call: F },
        Readying,
        Done,
    }
}

impl<C, F> Following<C, F> {
    /// `call` is sending the first request, to `uri` with `headers`;
    /// `client`, a clone of the client, sends the next ones.
    pub(super) fn new(
        call: F,
        client: Option<C>,
        uri: Uri,
        headers: HeaderMap,
        redirects: Redirects,
    ) -> Self {
        let origin = origin_of(&uri);
        Self {
            state: State::Calling { call },
            client: client.filter(|_| redirects.max > 0),
            uri,
            headers,
            origin,
            hops: 0,
            redirects,
        }
    }
}

impl<C, F> fmt::Debug for Following<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Following")
            .field("uri", &redact(&self.uri.to_string()))
            .field("hops", &self.hops)
            .finish_non_exhaustive()
    }
}

impl<C, B> Future for Following<C, C::Future>
where
    C: Service<http::Request<RequestBody>, Response = http::Response<B>>,
    C::Error: Into<BoxError>,
{
    type Output = Result<http::Response<B>, ConfigError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { call } => {
                    let response = match ready!(call.poll(cx)) {
                        Ok(response) => response,
                        Err(error) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(into_error(error)));
                        }
                    };
                    let status = response.status();
                    if this.client.is_none() || !is_followed(status) {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    }
                    let next = match next_hop(this.uri, response.headers()) {
                        Some(next) => next,
                        None => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(refused(
                                status,
                                None,
                                RedirectRefused::InvalidLocation,
                            )));
                        }
                    };
                    let refusal = if *this.hops >= this.redirects.max {
                        Some(RedirectRefused::TooMany {
                            limit: this.redirects.max,
                        })
                    } else if this.uri.scheme() == Some(&Scheme::HTTPS)
                        && next.scheme() != Some(&Scheme::HTTPS)
                    {
                        Some(RedirectRefused::Downgrade)
                    } else if origin_of(&next) != *this.origin && !this.redirects.cross_origin {
                        Some(RedirectRefused::OtherOrigin)
                    } else {
                        None
                    };
                    if let Some(reason) = refusal {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(refused(status, Some(&next), reason)));
                    }
                    if origin_of(&next) != *this.origin {
                        strip_credentials(this.headers);
                    }
                    tracing::debug!(
                        status = status.as_u16(),
                        to = %redact(&next.to_string()),
                        "config request redirected"
                    );
                    *this.hops += 1;
                    *this.uri = next;
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let Some(client) = this.client.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(ConfigError::invalid_request("polled again")));
                    };
                    if let Err(error) = ready!(client.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(into_error(error)));
                    }
                    let mut request = http::Request::new(Empty::new());
                    *request.method_mut() = Method::GET;
                    *request.uri_mut() = this.uri.clone();
                    *request.headers_mut() = this.headers.clone();
                    let call = client.call(request);
                    this.state.set(State::Calling { call });
                }
                StateProj::Done => {
                    return Poll::Ready(Err(ConfigError::invalid_request("polled again")));
                }
            }
        }
    }
}

/// The redirects a GET follows: 301, 302, 303, 307 and 308 (all of them
/// lead to another GET).
fn is_followed(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

fn refused(code: StatusCode, location: Option<&Uri>, reason: RedirectRefused) -> ConfigError {
    ConfigError::Redirect {
        code,
        location: location.map(|uri| Arc::from(redact(&uri.to_string()))),
        reason,
    }
}

/// Where `Location` points from `current`: an absolute URL, one without a
/// scheme (`//host/path`), an absolute path or a relative one; the
/// fragment dropped. `None` when it is missing, not valid, or not HTTP(S).
fn next_hop(current: &Uri, headers: &HeaderMap) -> Option<Uri> {
    let location = headers.get(LOCATION)?.to_str().ok()?.trim();
    let location = location.split('#').next().unwrap_or_default();
    if location.is_empty() {
        return None;
    }
    let scheme = current.scheme_str()?;
    let authority = current.authority()?.as_str();
    let absolute = if location.contains("://") {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = current.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        let dir = if dir.is_empty() { "/" } else { dir };
        format!("{scheme}://{authority}{dir}{location}")
    };
    let uri: Uri = absolute.parse().ok()?;
    let scheme = uri.scheme_str()?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let host = uri.authority()?.host();
    if host.is_empty() {
        return None;
    }
    Some(uri)
}

/// The origin of `uri`: its scheme and authority, the host lowercased and
/// the scheme's default port written out, user-info dropped.
fn origin_of(uri: &Uri) -> (Scheme, Authority) {
    let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
    let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
    let port = uri.port_u16().unwrap_or(default_port);
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    let authority = format!("{host}:{port}")
        .parse()
        .unwrap_or_else(|_| Authority::from_static("invalid:0"));
    (scheme, authority)
}

/// Drops every credential: `Authorization`, `Proxy-Authorization`,
/// `Cookie`, and any header marked sensitive.
fn strip_credentials(headers: &mut HeaderMap) {
    for name in [
        http::header::AUTHORIZATION,
        http::header::PROXY_AUTHORIZATION,
        http::header::COOKIE,
    ] {
        headers.remove(name);
    }
    let sensitive: Vec<_> = headers
        .iter()
        .filter(|(_, value)| value.is_sensitive())
        .map(|(name, _)| name.clone())
        .collect();
    for name in sensitive {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(current: &str, location: &'static str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(LOCATION, http::HeaderValue::from_static(location));
        next_hop(&current.parse().unwrap(), &headers).map(|uri| uri.to_string())
    }

    #[test]
    fn locations_resolve_against_the_current_url() {
        let from = "http://h:8080/config/app.json?x=1";
        assert_eq!(
            hop(from, "http://other/a").as_deref(),
            Some("http://other/a")
        );
        assert_eq!(
            hop(from, "//other:1/a").as_deref(),
            Some("http://other:1/a")
        );
        assert_eq!(
            hop(from, "/b/c?y=2").as_deref(),
            Some("http://h:8080/b/c?y=2")
        );
        assert_eq!(
            hop(from, "v2.json").as_deref(),
            Some("http://h:8080/config/v2.json")
        );
        assert_eq!(hop(from, "/b#frag").as_deref(), Some("http://h:8080/b"));
        assert_eq!(hop(from, "ftp://h/x"), None);
        assert_eq!(hop(from, ""), None);
        assert_eq!(hop(from, "http://"), None);
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let origin = |uri: &str| origin_of(&uri.parse().unwrap());
        assert_eq!(origin("http://H/x"), origin("http://h:80/y"));
        assert_eq!(origin("https://h/x"), origin("https://h:443/"));
        assert_ne!(origin("http://h/x"), origin("https://h/x"));
        assert_ne!(origin("http://h:1/x"), origin("http://h:2/x"));
        assert_ne!(origin("http://h/x"), origin("http://localhost/x"));
    }

    #[test]
    fn credentials_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer s".parse().unwrap());
        headers.insert("cookie", "a=b".parse().unwrap());
        let mut key: http::HeaderValue = "k".parse().unwrap();
        key.set_sensitive(true);
        headers.insert("x-api-key", key);
        headers.insert("accept", "application/json".parse().unwrap());
        strip_credentials(&mut headers);
        assert_eq!(headers.len(), 1);
        assert_eq!(headers["accept"], "application/json");
    }
}
