//! The buffer's service.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use steadfast_core::BoxError;
use tower_service::Service;

use crate::future::BufferFuture;
use crate::{BufferLayer, HttpError, key};

/// Reads each response of the inner client into a
/// [`BufferedResponse`](crate::BufferedResponse); made by [`BufferLayer`].
#[derive(Debug, Clone)]
pub struct Buffer<S> {
    inner: S,
    settings: BufferLayer,
}

impl<S> Buffer<S> {
    /// Wraps `inner` with the settings of `layer`.
    pub fn new(inner: S, layer: BufferLayer) -> Self {
        Self {
            inner,
            settings: layer,
        }
    }

    /// The client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The client, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The client, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Buffer<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: Body,
    ResBody::Error: Into<BoxError>,
{
    type Response = crate::BufferedResponse;
    type Error = HttpError;
    type Future = BufferFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), HttpError>> {
        self.inner.poll_ready(cx).map_err(HttpError::transport)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let storable = !key::bypasses(&request);
        BufferFuture::new(self.inner.call(request), self.settings, storable)
    }
}
