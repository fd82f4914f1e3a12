use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tower_service::Service;

use steadfast_core::BoxError;

use super::RequestBody;

/// A `reqwest::Client` as the client of an [`HttpSource`](crate::HttpSource)
/// (feature `reqwest`).
///
/// `reqwest::Client` is a `Service<reqwest::Request>`; this adapter makes it
/// a `Service<http::Request<RequestBody>>` answering with
/// `http::Response<reqwest::Body>` (errors boxed), so the source keeps its own timeout,
/// size limit and conditional GETs on top of reqwest's connection pool, TLS
/// and proxies.
///
/// ```no_run
/// use steadfast_config::{HttpSource, ReqwestClient};
///
/// let source = HttpSource::builder("https://config.example.com")
///     .build_with(ReqwestClient::new(reqwest::Client::new()))
///     .unwrap();
/// # drop(source);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ReqwestClient {
    client: reqwest::Client,
}

impl ReqwestClient {
    /// Wraps `client`.
    pub fn new(client: reqwest::Client) -> Self {
        Self { client }
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &reqwest::Client {
        &self.client
    }

    /// The wrapped client, unwrapped.
    pub fn into_inner(self) -> reqwest::Client {
        self.client
    }
}

impl From<reqwest::Client> for ReqwestClient {
    fn from(client: reqwest::Client) -> Self {
        Self::new(client)
    }
}

impl Service<http::Request<RequestBody>> for ReqwestClient {
    type Response = http::Response<reqwest::Body>;
    type Error = BoxError;
    type Future = ReqwestFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Service::<reqwest::Request>::poll_ready(&mut self.client, cx).map_err(Into::into)
    }

    fn call(&mut self, req: http::Request<RequestBody>) -> ReqwestFuture {
        let (parts, _) = req.into_parts();
        let state = match reqwest::Url::parse(&parts.uri.to_string()) {
            Ok(url) => {
                let mut request = reqwest::Request::new(parts.method, url);
                *request.headers_mut() = parts.headers;
                *request.version_mut() = parts.version;
                ReqwestState::Pending {
                    pending: self.client.call(request),
                }
            }
            Err(error) => ReqwestState::Failed {
                error: Some(error.into()),
            },
        };
        ReqwestFuture { state }
    }
}

pin_project! {
    /// The response future of [`ReqwestClient`].
    pub struct ReqwestFuture {
        #[pin]
        state: ReqwestState,
    }
}

pin_project! {
    #[project = ReqwestStateProj]
    enum ReqwestState {
        Pending { #[pin] pending: <reqwest::Client as Service<reqwest::Request>>::Future },
        Failed { error: Option<BoxError> },
    }
}

impl fmt::Debug for ReqwestFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestFuture").finish_non_exhaustive()
    }
}

impl Future for ReqwestFuture {
    type Output = Result<http::Response<reqwest::Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            ReqwestStateProj::Pending { pending } => {
                let response = ready!(pending.poll(cx))?;
                Poll::Ready(Ok(http::Response::from(response)))
            }
            ReqwestStateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "polled after completion".into()))),
        }
    }
}
