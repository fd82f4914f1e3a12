//! The buffer's configuration.

use tower_layer::Layer;

use crate::{Buffer, BuildError, StatusClassifier};

/// The default body size limit: 4 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 4 * 1024 * 1024;

/// Reads each response of a client to its end, into a cloneable
/// [`BufferedResponse`](crate::BufferedResponse), and turns a failing
/// status into [`HttpError::Status`](crate::HttpError::Status).
///
/// Put it innermost, just above the client (and below a timeout, which
/// then also bounds the body's reading). The client is any
/// `Service<http::Request<B>>` answering `http::Response<Body>`:
/// hyper-util's `Client`, a tower-http stack around one, or a
/// `reqwest::Client` in `ReqwestClient` (feature `reqwest`).
///
/// - The body is read up to [`max_body_size`](BufferLayerBuilder::max_body_size)
///   (default 4 MiB): a declared `Content-Length` above it fails before a
///   byte is read, and a body that grows past it fails at the limit, with
///   [`HttpError::BodyTooLarge`](crate::HttpError::BodyTooLarge).
/// - The [`StatusClassifier`] (default: 5xx, 429, 408) decides which
///   statuses become errors; [`StatusClassifier::none`] keeps every
///   response an answer.
/// - The response is [storable](crate::BufferedResponse::is_storable)
///   unless it or its request forbids it.
///
/// ```
/// use steadfast_http::{BufferLayer, StatusClassifier};
///
/// let layer = BufferLayer::builder()
///     .max_body_size(64 * 1024)
///     .statuses(StatusClassifier::new().without(http::StatusCode::REQUEST_TIMEOUT))
///     .build()
///     .unwrap();
/// assert_eq!(layer.max_body_size(), 64 * 1024);
/// assert!(BufferLayer::builder().max_body_size(0).build().is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BufferLayer {
    max_body_size: usize,
    statuses: StatusClassifier,
}

impl BufferLayer {
    /// A 4 MiB limit, and 5xx, 429 and 408 as errors.
    pub const fn new() -> Self {
        Self {
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            statuses: StatusClassifier::new(),
        }
    }

    /// Starts a layer with other settings.
    pub fn builder() -> BufferLayerBuilder {
        BufferLayerBuilder { layer: Self::new() }
    }

    /// The body size limit, in bytes.
    pub fn max_body_size(&self) -> usize {
        self.max_body_size
    }

    /// The statuses that become errors.
    pub fn statuses(&self) -> &StatusClassifier {
        &self.statuses
    }
}

impl Default for BufferLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> Layer<S> for BufferLayer {
    type Service = Buffer<S>;

    fn layer(&self, inner: S) -> Buffer<S> {
        Buffer::new(inner, *self)
    }
}

/// Configures a [`BufferLayer`]; made by [`BufferLayer::builder`].
#[derive(Debug, Clone, Copy)]
pub struct BufferLayerBuilder {
    layer: BufferLayer,
}

impl BufferLayerBuilder {
    /// The largest body accepted, in bytes (default 4 MiB); zero is refused
    /// by [`build`](Self::build).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.layer.max_body_size = bytes;
        self
    }

    /// The statuses that become [`HttpError::Status`](crate::HttpError::Status)
    /// (default [`StatusClassifier::new`]).
    pub fn statuses(mut self, statuses: StatusClassifier) -> Self {
        self.layer.statuses = statuses;
        self
    }

    /// The layer, or why it cannot be built.
    pub fn build(self) -> Result<BufferLayer, BuildError> {
        if self.layer.max_body_size == 0 {
            return Err(BuildError::InvalidSetting {
                setting: "max_body_size",
                reason: "must be at least 1 byte",
            });
        }
        Ok(self.layer)
    }
}
