use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use steadfast_core::{Provenance, Source};
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use crate::decode::{DecodeTask, Validate, decode_blocking};
use crate::event::{DecodeCounters, DecodeStats, Event, Listener};
use crate::{ConfigError, ConfigResponse, Format};

type Validator<T> = Arc<dyn Fn(&T) -> Result<(), String> + Send + Sync>;

/// A decoded configuration: the value, shared, and what is known about it.
///
/// Cloning is cheap and does not need `T: Clone`: the value is an
/// [`Arc<T>`]. It dereferences to `T`. With a serde `T` it serializes (value,
/// format, version, age, source) for stores outside the process.
pub struct Typed<T> {
    value: Arc<T>,
    version: Option<Arc<str>>,
    format: Format,
    fetched_at: Instant,
    source: Source,
}

impl<T> Typed<T> {
    /// Wraps `value`, with the facts of the `response` it was decoded from.
    pub fn new(value: T, response: &ConfigResponse) -> Self {
        Self {
            value: Arc::new(value),
            version: response.shared_version().cloned(),
            format: response.format(),
            fetched_at: response.fetched_at(),
            source: response.source(),
        }
    }

    pub(crate) fn from_parts(
        value: T,
        version: Option<Arc<str>>,
        format: Format,
        fetched_at: Instant,
        source: Source,
    ) -> Self {
        Self {
            value: Arc::new(value),
            version,
            format,
            fetched_at,
            source,
        }
    }

    /// The value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The shared value.
    pub fn shared(&self) -> &Arc<T> {
        &self.value
    }

    /// The shared value, without the facts about it.
    pub fn into_shared(self) -> Arc<T> {
        self.value
    }

    /// The version of the body it was decoded from, if the origin gave one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The format it was decoded from.
    pub fn format(&self) -> Format {
        self.format
    }

    /// When its body was fetched from the origin.
    pub fn fetched_at(&self) -> Instant {
        self.fetched_at
    }

    /// How long ago its body was fetched from the origin.
    pub fn age(&self) -> Duration {
        Instant::now().saturating_duration_since(self.fetched_at)
    }

    /// Where it came from.
    pub fn source(&self) -> Source {
        self.source
    }
}

impl<T> Clone for Typed<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            version: self.version.clone(),
            format: self.format,
            fetched_at: self.fetched_at,
            source: self.source,
        }
    }
}

impl<T> Deref for Typed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Provenance for Typed<T> {
    fn source(&self) -> Source {
        self.source
    }

    fn set_source(&mut self, source: Source) {
        self.source = source;
    }
}

impl<T: fmt::Debug> fmt::Debug for Typed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Typed")
            .field("value", &self.value)
            .field("version", &self.version)
            .field("format", &self.format)
            .field("age", &self.age())
            .field("source", &self.source)
            .finish()
    }
}

/// Turns the [`ConfigResponse`]s of a source into [`Typed<T>`] values.
///
/// A body that does not decode is a [`ConfigError::Decode`], a value that
/// fails its check a [`ConfigError::Validation`], both returned through the
/// inner error type (`E: From<ConfigError>`). Placed under a cache, it makes an
/// invalid configuration a failure of the source, which the cache never
/// stores.
///
/// ```
/// use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, DecodeLayer, Format};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
///
/// #[derive(Debug, serde::Deserialize)]
/// struct App {
///     port: u16,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), ConfigError> {
/// let source = service_fn(|_: ConfigRequest| async {
///     Ok::<_, ConfigError>(ConfigResponse::new(r#"{"port": 0}"#, Format::Json))
/// });
/// let service = ServiceBuilder::new()
///     .layer(DecodeLayer::<App>::new().validate_with(|app: &App| {
///         if app.port == 0 { Err("port must not be 0".into()) } else { Ok(()) }
///     }))
///     .service(source);
/// let error = service.oneshot(ConfigRequest::new("app")).await.unwrap_err();
/// assert!(matches!(error, ConfigError::Validation { .. }));
/// # Ok(())
/// # }
/// ```
pub struct DecodeLayer<T> {
    shared: Arc<DecodeShared<T>>,
}

/// What every service made by one layer value shares.
struct DecodeShared<T> {
    validator: Option<Validator<T>>,
    listener: Option<Listener>,
    counters: Arc<DecodeCounters>,
    _marker: PhantomData<fn() -> T>,
}

impl<T> DecodeShared<T> {
    fn decode(&self, response: &ConfigResponse) -> Result<T, ConfigError>
    where
        T: DeserializeOwned,
    {
        let decoded = response.decode::<T>().and_then(|value| {
            if let Some(check) = &self.validator {
                check(&value).map_err(ConfigError::validation)?;
            }
            Ok(value)
        });
        match &decoded {
            Ok(_) => {
                self.counters.decoded.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                let reason = match error {
                    ConfigError::Validation { .. } => "validation",
                    _ => "decode",
                };
                metrics::counter!("steadfast_config_rejected_total", "reason" => reason)
                    .increment(1);
                tracing::warn!(
                    version = response.version(),
                    format = %response.format(),
                    source = %response.source(),
                    error = %error,
                    "config rejected"
                );
                if let Some(listener) = &self.listener {
                    listener(&Event::Rejected { response, error });
                }
            }
        }
        decoded
    }
}

impl<T> DecodeLayer<T> {
    /// A layer that decodes without a check.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(DecodeShared {
                validator: None,
                listener: None,
                counters: Arc::default(),
                _marker: PhantomData,
            }),
        }
    }

    fn rebuild(self, validator: Option<Validator<T>>, listener: Option<Listener>) -> Self {
        Self {
            shared: Arc::new(DecodeShared {
                validator,
                listener,
                counters: self.shared.counters.clone(),
                _marker: PhantomData,
            }),
        }
    }

    /// Checks every decoded value with `check`; an `Err(message)` is a
    /// [`ConfigError::Validation`]. Replaces an earlier check.
    pub fn validate_with<F>(self, check: F) -> Self
    where
        F: Fn(&T) -> Result<(), String> + Send + Sync + 'static,
    {
        let listener = self.shared.listener.clone();
        self.rebuild(Some(Arc::new(check)), listener)
    }

    /// Reports every rejected response ([`Event::Rejected`]) to `listener`.
    /// Without a listener, events cost nothing.
    pub fn on_event<L>(self, listener: L) -> Self
    where
        L: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        let validator = self.shared.validator.clone();
        self.rebuild(validator, Some(Arc::new(listener)))
    }

    /// The counters of every service this layer made, and their clones.
    pub fn stats(&self) -> DecodeStats {
        self.shared.counters.snapshot()
    }

    /// Checks every decoded value with its own [`Validate`] impl.
    pub fn validated(self) -> Self
    where
        T: Validate + 'static,
    {
        self.validate_with(T::validate)
    }
}

impl<T> Default for DecodeLayer<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for DecodeLayer<T> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> fmt::Debug for DecodeShared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeLayer")
            .field("target", &std::any::type_name::<T>())
            .field("validated", &self.validator.is_some())
            .field("listener", &self.listener.is_some())
            .field("stats", &self.counters.snapshot())
            .finish()
    }
}

impl<T> fmt::Debug for DecodeLayer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.shared, f)
    }
}

impl<S, T> Layer<S> for DecodeLayer<T> {
    type Service = Decode<S, T>;

    fn layer(&self, inner: S) -> Decode<S, T> {
        Decode {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service of a [`DecodeLayer`]: decodes and checks what `S` returns.
pub struct Decode<S, T> {
    inner: S,
    shared: Arc<DecodeShared<T>>,
}

impl<S, T> Decode<S, T> {
    /// Decodes the responses of `inner`, without a check.
    pub fn new(inner: S) -> Self {
        DecodeLayer::new().layer(inner)
    }

    /// The counters shared with the layer and every service it made.
    pub fn stats(&self) -> DecodeStats {
        self.shared.counters.snapshot()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, T> Clone for Decode<S, T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, T> fmt::Debug for Decode<S, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decode")
            .field("inner", &self.inner)
            .field("layer", &self.shared)
            .finish()
    }
}

impl<S, T, Req> Service<Req> for Decode<S, T>
where
    S: Service<Req, Response = ConfigResponse>,
    S::Error: From<ConfigError>,
    T: DeserializeOwned + Send + 'static,
{
    type Response = Typed<T>;
    type Error = S::Error;
    type Future = DecodeFuture<S::Future, T>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        DecodeFuture {
            state: DecodeState::Calling {
                inner: self.inner.call(req),
            },
            shared: Some(self.shared.clone()),
        }
    }
}

pin_project! {
    /// The response future of [`Decode`]. A body of at least
    /// [`BLOCKING_DECODE_SIZE`](crate::BLOCKING_DECODE_SIZE) bytes is
    /// decoded on tokio's blocking pool.
    pub struct DecodeFuture<F, T> {
        #[pin]
        state: DecodeState<F, T>,
        shared: Option<Arc<DecodeShared<T>>>,
    }
}

pin_project! {
    #[project = DecodeStateProj]
    enum DecodeState<F, T> {
        Calling { #[pin] inner: F },
        Decoding { #[pin] task: DecodeTask<Result<T, ConfigError>> },
    }
}

impl<F, T> fmt::Debug for DecodeFuture<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeFuture")
            .field("target", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl<F, T, E> Future for DecodeFuture<F, T>
where
    F: Future<Output = Result<ConfigResponse, E>>,
    E: From<ConfigError>,
    T: DeserializeOwned + Send + 'static,
{
    type Output = Result<Typed<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                DecodeStateProj::Calling { inner } => {
                    let response = ready!(inner.poll(cx))?;
                    let Some(shared) = this.shared.take() else {
                        return Poll::Ready(Err(E::from(ConfigError::invalid_request(
                            "polled again",
                        ))));
                    };
                    let task = decode_blocking(response, move |response| shared.decode(response));
                    this.state.set(DecodeState::Decoding { task });
                }
                DecodeStateProj::Decoding { task } => {
                    let (response, decoded) = ready!(task.poll(cx))?;
                    return Poll::Ready(
                        decoded
                            .map(|value| Typed::new(value, &response))
                            .map_err(E::from),
                    );
                }
            }
        }
    }
}
