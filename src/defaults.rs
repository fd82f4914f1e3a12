//! The fallback answers of a stack: per configuration name, for every name,
//! or from a function.

use std::collections::HashMap;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;

use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_core::Source;
use steadfast_fallback::Answer;

use crate::episode::Episodes;

/// A fallback function: a response for a request whose load failed, or
/// `None` to let the error through.
pub type FallbackFn =
    Arc<dyn Fn(&ConfigRequest, &ConfigError) -> Option<ConfigResponse> + Send + Sync>;

/// The fallback answers of a stack: per configuration name, for every
/// name, or from a function.
#[derive(Clone, Default)]
pub struct Defaults {
    pub(crate) inner: Arc<DefaultsInner>,
}

#[derive(Default)]
pub(crate) struct DefaultsInner {
    pub(crate) by_name: HashMap<Arc<str>, ConfigResponse>,
    pub(crate) any: Option<ConfigResponse>,
    pub(crate) function: Option<FallbackFn>,
    /// Where each answer (or the lack of one) is counted and followed.
    pub(crate) episodes: Option<Arc<Episodes>>,
}

impl Defaults {
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &ConfigResponse> {
        self.inner.by_name.values().chain(self.inner.any.as_ref())
    }
}

impl DefaultsInner {
    /// Whether there is no answer at all: no fallback layer is built.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_name.is_empty() && self.any.is_none() && self.function.is_none()
    }

    pub(crate) fn find(&self, req: &ConfigRequest, error: &ConfigError) -> Option<ConfigResponse> {
        if let Some(value) = self.by_name.get(req.name()) {
            return Some(value.clone());
        }
        self.function
            .as_ref()
            .and_then(|function| function(req, error))
            .or_else(|| self.any.clone())
    }
}

impl fmt::Debug for Defaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Defaults")
            .field("names", &self.inner.by_name.keys().collect::<Vec<_>>())
            .field("any", &self.inner.any.is_some())
            .field("function", &self.inner.function.is_some())
            .finish()
    }
}

impl Answer<ConfigRequest, ConfigError> for Defaults {
    type Response = ConfigResponse;
    type Pending = (Defaults, ConfigRequest);
    type Future = Ready<Result<ConfigResponse, ConfigError>>;

    fn prepare(&mut self, request: &ConfigRequest) -> Self::Pending {
        (self.clone(), request.clone())
    }

    fn answer((defaults, request): Self::Pending, error: &ConfigError) -> Self::Future {
        let found = defaults.inner.find(&request, error);
        if let Some(episodes) = &defaults.inner.episodes {
            episodes.fallback(request.shared_key(), found.is_some().then_some(error));
        }
        ready(found.ok_or_else(|| error.clone()))
    }
}

/// A JSON fallback body, for [`StackBuilder::fallback`](crate::StackBuilder::fallback).
pub fn json_fallback(body: impl Into<bytes::Bytes>) -> ConfigResponse {
    ConfigResponse::new(body, Format::Json).with_source(Source::Fallback)
}
