use std::fmt;
use std::sync::Arc;

use steadfast_core::{Provenance, Source};
use tower_layer::Layer;

use crate::answer::{CloneRequest, FromError, ServiceFallback, Value};
use crate::event::{Counters, Event, FallbackHandle, Listener, Shared};
use crate::predicate::AnyError;
use crate::service::FallbackService;

/// Answers failed calls of the inner service with a fallback: a value, a
/// function of the error or another service.
///
/// `K` is the kind of answer ([`Value`], [`FromError`], [`ServiceFallback`]),
/// `Res` and `E` the inner service's response and error types, `P` the
/// predicate choosing which errors get an answer ([`AnyError`] by default).
/// The error type is kept: an error the predicate does not answer, or the
/// fallback service's own error, is returned as it is.
///
/// Every service this layer makes, and every clone of them, shares one set
/// of counters, read through [`handle`](FallbackLayer::handle).
pub struct FallbackLayer<K, Res, E, P = AnyError> {
    kind: K,
    predicate: P,
    mark: fn(&mut Res, Source),
    listener: Option<Listener<E>>,
    counters: Arc<Counters>,
}

fn unmarked<Res>(_: &mut Res, _: Source) {}

impl<K, Res, E> FallbackLayer<K, Res, E> {
    /// A layer answering with `kind`, for every error.
    pub fn new(kind: K) -> Self {
        Self {
            kind,
            predicate: AnyError,
            mark: unmarked::<Res>,
            listener: None,
            counters: Arc::default(),
        }
    }
}

impl<Res, E> FallbackLayer<Value<Res>, Res, E> {
    /// Answers failed calls with a clone of `value`.
    pub fn value(value: Res) -> Self {
        Self::new(Value::new(value))
    }
}

impl<F, Res, E> FallbackLayer<FromError<F>, Res, E> {
    /// Answers failed calls with `f(&error)`.
    pub fn from_error(f: F) -> Self
    where
        F: Fn(&E) -> Res,
    {
        Self::new(FromError::new(f))
    }
}

impl<S, Res, E> FallbackLayer<ServiceFallback<S>, Res, E> {
    /// Answers failed calls by calling `service` with a clone of the request.
    ///
    /// `service` must have the inner service's response and error types. It
    /// is made ready only for a call whose inner service failed, inside that
    /// call's future (see [`ServiceFallback`]).
    pub fn service(service: S) -> Self {
        Self::new(ServiceFallback::new(service, CloneRequest))
    }
}

impl<S, M, Res, E> FallbackLayer<ServiceFallback<S, M>, Res, E> {
    /// Answers failed calls by calling `service` with
    /// `make_request(&request)`, for requests that are not `Clone`.
    pub fn service_with(service: S, make_request: M) -> Self {
        Self::new(ServiceFallback::new(service, make_request))
    }
}

impl<K, Res, E, P> FallbackLayer<K, Res, E, P> {
    /// Answers only the errors for which `predicate` returns `true`; the
    /// others are returned as they are.
    pub fn when<P2>(self, predicate: P2) -> FallbackLayer<K, Res, E, P2>
    where
        P2: Fn(&E) -> bool,
    {
        FallbackLayer {
            kind: self.kind,
            predicate,
            mark: self.mark,
            listener: self.listener,
            counters: self.counters,
        }
    }

    /// Marks fallback answers [`Source::Fallback`] through
    /// [`Provenance::set_source`].
    pub fn provenance(mut self) -> Self
    where
        Res: Provenance,
    {
        self.mark = <Res as Provenance>::set_source;
        self
    }

    /// Reports every [`Event`] to `listener`.
    ///
    /// Without a listener, events cost nothing.
    pub fn on_event<L>(mut self, listener: L) -> Self
    where
        L: Fn(&Event<'_, E>) + Send + Sync + 'static,
    {
        self.listener = Some(Arc::new(listener));
        self
    }

    /// Reads the counters of every service this layer makes.
    pub fn handle(&self) -> FallbackHandle {
        FallbackHandle::new(self.counters.clone())
    }

    /// The kind of answer.
    pub fn kind(&self) -> &K {
        &self.kind
    }
}

impl<K: Clone, Res, E, P: Clone> Clone for FallbackLayer<K, Res, E, P> {
    fn clone(&self) -> Self {
        Self {
            kind: self.kind.clone(),
            predicate: self.predicate.clone(),
            mark: self.mark,
            listener: self.listener.clone(),
            counters: self.counters.clone(),
        }
    }
}

impl<K: fmt::Debug, Res, E, P> fmt::Debug for FallbackLayer<K, Res, E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("kind", &self.kind)
            .field("listener", &self.listener.is_some())
            .finish_non_exhaustive()
    }
}

impl<S, K: Clone, Res, E, P: Clone> Layer<S> for FallbackLayer<K, Res, E, P> {
    type Service = FallbackService<S, K, Res, E, P>;

    fn layer(&self, inner: S) -> Self::Service {
        let shared = Shared {
            predicate: self.predicate.clone(),
            mark: self.mark,
            listener: self.listener.clone(),
            counters: self.counters.clone(),
        };
        FallbackService::new(inner, self.kind.clone(), Arc::new(shared))
    }
}
