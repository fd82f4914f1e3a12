//! What the cache reports to a listener.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use steadfast_core::SharedError;

use crate::store::StoreError;

/// A listener for cache [`Event`]s, set with
/// [`CacheLayerBuilder::on_event`](crate::CacheLayerBuilder::on_event).
pub type Listener = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// Something that happened in the cache. Keys are lent for the duration of
/// the call: a listener that keeps one formats it.
///
/// Some events are per caller ([`Hit`](Event::Hit),
/// [`StaleServed`](Event::StaleServed), [`ErrorServed`](Event::ErrorServed),
/// [`NegativeHit`](Event::NegativeHit)), others per load, however many
/// callers wait for it ([`RemoteHit`](Event::RemoteHit),
/// [`Loaded`](Event::Loaded), [`LoadFailed`](Event::LoadFailed)).
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A caller was answered with a fresh value from memory.
    Hit {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// A load found a fresh value in a shared tier (L2): the key is fresh
    /// again without a call of the inner service. Its callers are answered
    /// with it.
    RemoteHit {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// No servable value: the caller starts a load and waits for it.
    Miss {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// The caller joined a load already running for its key.
    Coalesced {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// A caller was answered with the failure of the load it waited for.
    ErrorServed {
        /// The key.
        key: &'a dyn fmt::Display,
        /// The failure.
        error: &'a SharedError,
    },
    /// A caller was answered with a stale value.
    StaleServed {
        /// The key.
        key: &'a dyn fmt::Display,
        /// Why it was served.
        reason: StaleReason,
    },
    /// A cached "not found" was served.
    NegativeHit {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// A background refresh of a stale value started.
    RefreshStarted {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// The inner service answered with a value.
    Loaded {
        /// The key.
        key: &'a dyn fmt::Display,
        /// How long the inner service took.
        elapsed: Duration,
    },
    /// The inner service failed.
    LoadFailed {
        /// The key.
        key: &'a dyn fmt::Display,
        /// The failure.
        error: &'a SharedError,
    },
    /// Another instance holds the distributed lease on the key; this one
    /// waits for the shared tier to fill.
    LeaseBusy {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// The store started failing: the first failed operation since it last
    /// answered. It is reported as [`StoreFailed`](Event::StoreFailed) too;
    /// the failures after it only as that, until
    /// [`StoreRecovered`](Event::StoreRecovered).
    StoreFailing {
        /// The key, where the operation had one.
        key: Option<&'a dyn fmt::Display>,
        /// What was attempted.
        op: StoreOp,
        /// The failure.
        error: &'a StoreError,
    },
    /// The store answered again after failing.
    StoreRecovered {
        /// The operations that failed since [`StoreFailing`](Event::StoreFailing).
        failures: u64,
        /// How long since it started failing.
        lasted: Duration,
    },
    /// A store operation failed; the request went on without it.
    StoreFailed {
        /// The key, where the operation had one.
        key: Option<&'a dyn fmt::Display>,
        /// What was attempted.
        op: StoreOp,
        /// The failure.
        error: &'a StoreError,
    },
    /// A key was invalidated through the handle.
    Invalidated {
        /// The key.
        key: &'a dyn fmt::Display,
    },
    /// The cache was cleared through the handle.
    Cleared,
    /// A value was stored through the handle
    /// ([`CacheHandle::insert`](crate::CacheHandle::insert)).
    Inserted {
        /// The key.
        key: &'a dyn fmt::Display,
    },
}

/// Why a stale value was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StaleReason {
    /// Within the stale-while-revalidate window; a refresh runs.
    Revalidating,
    /// The source failed within the stale-if-error window.
    SourceFailed,
}

/// A store operation, as reported in [`Event::StoreFailed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreOp {
    /// [`Store::get`](crate::Store::get).
    Get,
    /// [`Store::put`](crate::Store::put).
    Put,
    /// [`Store::remove`](crate::Store::remove).
    Remove,
    /// [`Store::clear`](crate::Store::clear).
    Clear,
    /// [`Store::acquire_lease`](crate::Store::acquire_lease) or
    /// [`Store::release_lease`](crate::Store::release_lease).
    Lease,
}

impl StoreOp {
    /// A short lowercase name: `get`, `put`, `remove`, `clear` or `lease`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            StoreOp::Get => "get",
            StoreOp::Put => "put",
            StoreOp::Remove => "remove",
            StoreOp::Clear => "clear",
            StoreOp::Lease => "lease",
        }
    }
}

struct Shown<'a>(&'a dyn fmt::Display);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0.to_string())
    }
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keyed = |name: &str, key: &dyn fmt::Display, f: &mut fmt::Formatter<'_>| {
            f.debug_struct(name).field("key", &Shown(key)).finish()
        };
        match *self {
            Event::Hit { key } => keyed("Hit", key, f),
            Event::RemoteHit { key } => keyed("RemoteHit", key, f),
            Event::Miss { key } => keyed("Miss", key, f),
            Event::Coalesced { key } => keyed("Coalesced", key, f),
            Event::NegativeHit { key } => keyed("NegativeHit", key, f),
            Event::RefreshStarted { key } => keyed("RefreshStarted", key, f),
            Event::LeaseBusy { key } => keyed("LeaseBusy", key, f),
            Event::Invalidated { key } => keyed("Invalidated", key, f),
            Event::StaleServed { key, reason } => f
                .debug_struct("StaleServed")
                .field("key", &Shown(key))
                .field("reason", &reason)
                .finish(),
            Event::Loaded { key, elapsed } => f
                .debug_struct("Loaded")
                .field("key", &Shown(key))
                .field("elapsed", &elapsed)
                .finish(),
            Event::LoadFailed { key, error } => f
                .debug_struct("LoadFailed")
                .field("key", &Shown(key))
                .field("error", error)
                .finish(),
            Event::ErrorServed { key, error } => f
                .debug_struct("ErrorServed")
                .field("key", &Shown(key))
                .field("error", error)
                .finish(),
            Event::StoreFailing { key, op, error } => f
                .debug_struct("StoreFailing")
                .field("key", &key.map(Shown))
                .field("op", &op)
                .field("error", error)
                .finish(),
            Event::StoreRecovered { failures, lasted } => f
                .debug_struct("StoreRecovered")
                .field("failures", &failures)
                .field("lasted", &lasted)
                .finish(),
            Event::StoreFailed { key, op, error } => f
                .debug_struct("StoreFailed")
                .field("key", &key.map(Shown))
                .field("op", &op)
                .field("error", error)
                .finish(),
            Event::Cleared => f.write_str("Cleared"),
            Event::Inserted { key } => keyed("Inserted", key, f),
        }
    }
}
