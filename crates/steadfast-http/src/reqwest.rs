//! A `reqwest::Client` as a `Service<http::Request<B>>`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use steadfast_core::BoxError;
use tower_service::Service;

/// A `reqwest::Client` as a `Service<http::Request<B>>` answering
/// `http::Response<reqwest::Body>` (feature `reqwest`), so the steadfast
/// layers and [`BufferLayer`](crate::BufferLayer) drop onto it as onto
/// hyper-util's client. reqwest keeps its connection pool, TLS, proxies
/// and redirects.
///
/// ```no_run
/// use bytes::Bytes;
/// use steadfast_http::{BufferLayer, ReqwestClient};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = ServiceBuilder::new()
///     .layer(BufferLayer::new())
///     .service(ReqwestClient::new(reqwest::Client::new()));
/// let request = http::Request::get("https://config.example.com/app.json").body(Bytes::new())?;
/// let response = client.oneshot(request).await?;
/// println!("{} {:?}", response.status(), response.text());
/// # Ok(())
/// # }
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

impl<B> Service<http::Request<B>> for ReqwestClient
where
    B: Into<reqwest::Body>,
{
    type Response = http::Response<reqwest::Body>;
    type Error = BoxError;
    type Future = ReqwestFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Service::<reqwest::Request>::poll_ready(&mut self.client, cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> ReqwestFuture {
        let state = match reqwest::Request::try_from(request) {
            Ok(request) => State::Pending {
                pending: self.client.call(request),
            },
            Err(error) => State::Failed {
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
        state: State,
    }
}

pin_project! {
    #[project = StateProj]
    enum State {
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
            StateProj::Pending { pending } => {
                let response = ready!(pending.poll(cx))?;
                Poll::Ready(Ok(http::Response::from(response)))
            }
            StateProj::Failed { error } => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| "polled after completion".into()))),
        }
    }
}
