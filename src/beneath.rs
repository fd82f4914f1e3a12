//! [`Beneath`]: a part of the stack below one of its layers, held for calls
//! that must not go through that layer: the startup wait's probes beneath
//! an open circuit, the watcher's polls beneath the cache.

use std::sync::{Mutex, PoisonError};

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use tower::util::BoxCloneService;
use tower_service::Service;

/// The stack below a layer, boxed, shared by every clone of a loader.
pub(crate) struct Beneath {
    service: Mutex<BoxCloneService<ConfigRequest, ConfigResponse, ConfigError>>,
}

impl Beneath {
    pub(crate) fn new<S>(service: S) -> Self
    where
        S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        Self {
            service: Mutex::new(BoxCloneService::new(service)),
        }
    }

    /// A service of its own, for one call.
    pub(crate) fn service(&self) -> BoxCloneService<ConfigRequest, ConfigResponse, ConfigError> {
        self.service
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
