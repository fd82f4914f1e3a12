use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::{ConfigError, ConfigRequest, ConfigResponse};

/// Something an [`HttpSource`](crate::HttpSource) or a
/// [`DecodeLayer`](crate::DecodeLayer) reports to its listener.
///
/// Listeners are set with `on_event` on the builder or layer; without one,
/// events cost nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The HTTP source loaded a configuration: a `200` body, or the
    /// remembered body on a `304 Not Modified`.
    Loaded {
        /// What was asked for.
        request: &'a ConfigRequest,
        /// What it answers with.
        response: &'a ConfigResponse,
        /// Whether the server answered `304 Not Modified`.
        not_modified: bool,
        /// How long the request took.
        elapsed: Duration,
    },
    /// The HTTP source failed.
    Failed {
        /// What was asked for.
        request: &'a ConfigRequest,
        /// Why.
        error: &'a ConfigError,
        /// How long it took to fail.
        elapsed: Duration,
    },
    /// The decode layer rejected a response: it did not decode or did not
    /// pass its check.
    Rejected {
        /// The response that was rejected.
        response: &'a ConfigResponse,
        /// A [`ConfigError::Decode`] or [`ConfigError::Validation`].
        error: &'a ConfigError,
    },
}

/// A listener for [`Event`]s.
pub(crate) type Listener = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// The counters of an [`HttpSource`](crate::HttpSource), shared by all its
/// clones.
#[derive(Debug, Default)]
pub(crate) struct HttpCounters {
    pub(crate) loaded: AtomicU64,
    pub(crate) not_modified: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

impl HttpCounters {
    pub(crate) fn snapshot(&self) -> HttpStats {
        HttpStats {
            loaded: self.loaded.load(Ordering::Relaxed),
            not_modified: self.not_modified.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of an [`HttpSource`](crate::HttpSource)'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HttpStats {
    /// Configurations loaded with a `200`.
    pub loaded: u64,
    /// Configurations answered `304 Not Modified` from the remembered body.
    pub not_modified: u64,
    /// Requests that failed (any [`ConfigError`]).
    pub failed: u64,
    /// Body bytes read from the network.
    pub bytes: u64,
}

/// The counters of a [`DecodeLayer`](crate::DecodeLayer), shared by every
/// service it made and their clones.
#[derive(Debug, Default)]
pub(crate) struct DecodeCounters {
    pub(crate) decoded: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

impl DecodeCounters {
    pub(crate) fn snapshot(&self) -> DecodeStats {
        DecodeStats {
            decoded: self.decoded.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a [`DecodeLayer`](crate::DecodeLayer)'s counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeStats {
    /// Responses decoded (and checked) into values.
    pub decoded: u64,
    /// Responses rejected: they did not decode or did not pass the check.
    pub rejected: u64,
}
