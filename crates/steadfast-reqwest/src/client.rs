//! The [`ReqwestClient`] service.

use std::task::{Context, Poll};

use steadfast_core::BoxError;
use tower_service::Service;

use crate::{IntoReqwestBody, ReqwestFuture};

/// A `reqwest::Client` as a `Service<http::Request<B>>` answering
/// `http::Response<reqwest::Body>`, errors boxed. See the
/// [crate documentation](crate).
///
/// The request's method, URI (which must be absolute), headers and HTTP
/// version are sent; its extensions are not. A URI reqwest cannot take is
/// the call's error.
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

impl<B: IntoReqwestBody> Service<http::Request<B>> for ReqwestClient {
    type Response = http::Response<reqwest::Body>;
    type Error = BoxError;
    type Future = ReqwestFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Service::<reqwest::Request>::poll_ready(&mut self.client, cx).map_err(Into::into)
    }

    fn call(&mut self, request: http::Request<B>) -> ReqwestFuture {
        let (parts, body) = request.into_parts();
        match reqwest::Url::parse(&parts.uri.to_string()) {
            Ok(url) => {
                let mut request = reqwest::Request::new(parts.method, url);
                *request.headers_mut() = parts.headers;
                *request.version_mut() = parts.version;
                *request.body_mut() = body.into_reqwest_body();
                ReqwestFuture::pending(self.client.call(request))
            }
            Err(error) => ReqwestFuture::failed(error.into()),
        }
    }
}
