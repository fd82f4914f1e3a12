//! A tower cache layer for values that are slow or unreliable to load:
//! remote configuration above all.
//!
//! [`CacheLayer`] answers from a [`Store`] while an entry is fresh, then
//! serves it stale while one background refresh runs
//! (stale-while-revalidate), then serves it stale only when the source fails
//! (stale-if-error), on the model of RFC 5861. Concurrent misses for one key
//! make one load (single flight); its value or its error reaches every
//! caller, and no caller going away strands the others. A "not found" may be
//! cached for a short while.
//!
//! A hit reads the store synchronously ([`Store::peek`]): no allocation, no
//! async lock, no boxed future. [`MemoryStore`] is the in-process store,
//! bounded by entry count or weight; [`FileStore`] keeps the last good
//! value of every key on disk, as the last tier of a [`Tiered`] store, for
//! a restart while the source is down. [`CacheHandle`] invalidates keys,
//! clears everything and reads the counters; the counters are also reported
//! through the `metrics` facade (`steadfast_cache_*_total`, registered when
//! the layer is built: install a recorder first), and [`Event`]s go to an
//! optional listener.
//!
//! In a resilience stack the cache goes outside retry and the circuit
//! breaker (`Fallback -> Cache -> Retry -> CircuitBreaker -> Timeout ->
//! source`): a hit costs nothing downstream, and a miss is retried and
//! guarded once for all its waiters. Keys come from the request's
//! [`CacheKey`](steadfast_core::CacheKey) by default, from a closure, from
//! [`KeyRef`] (which lends the key a request holds, so a hit clones none),
//! or from `MethodUri` (feature `http`) for `http::Request`s. A shared tier is given with
//! [`CacheLayerBuilder::store`]; with one, distributed single flight
//! ([`CacheLayerBuilder::distributed_single_flight`]) lets one instance
//! load a cold key while the others wait for it to appear.
//!
//! Counters reported through `metrics`: `steadfast_cache_l1_hits_total`,
//! `_l2_hits_total`, `_misses_total`, `_coalesced_total`,
//! `_stale_served_total`, `_negative_hits_total`, `_errors_total` (each
//! answered call is counted in exactly one of these, by how it was
//! answered: see [`CacheStats`]), and `_refreshes_total`, `_loads_total`,
//! `_load_errors_total`, `_store_errors_total` for the work behind them.
//!
//! A failing store is logged once as a warning when it starts failing and
//! once at info level when it answers again (with the number of failed
//! operations); each failed operation in between is logged at debug level,
//! as is each failed load.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use steadfast_cache::CacheLayer;
//! use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
//! use steadfast_core::Source;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cache = CacheLayer::builder()
//!     .ttl(Duration::from_secs(30))
//!     .stale_while_revalidate(Duration::from_secs(30))
//!     .stale_if_error(Duration::from_secs(600))
//!     .provenance()
//!     .build()?;
//! let handle = cache.handle();
//! let source = service_fn(|req: ConfigRequest| async move {
//!     Ok::<_, ConfigError>(ConfigResponse::new(format!("{{\"name\":\"{}\"}}", req.name()), Format::Json))
//! });
//! let loader = ServiceBuilder::new().layer(cache).service(source);
//!
//! let first = loader.clone().oneshot(ConfigRequest::new("app")).await?;
//! let second = loader.clone().oneshot(ConfigRequest::new("app")).await?;
//! assert_eq!(first.source(), Source::Origin);
//! assert_eq!(second.source(), Source::Cache);
//! assert_eq!(second.body(), first.body());
//! assert_eq!((handle.stats().loads, handle.stats().l1_hits), (1, 1));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub
)]

mod codec;
mod error;
mod event;
pub mod file;
mod flight;
pub mod future;
mod handle;
mod key;
mod layer;
mod load;
mod memo;
mod memory;
#[cfg(feature = "redis")]
pub mod redis;
mod refresh;
mod service;
mod state;
mod stats;
pub mod store;
mod tiered;
mod too_large;
mod wake;

pub use store::{
    Entry, Freshness, LeaseToken, Lookup, Peek, RemoteChange, RemoteObserver, Store, StoreError,
    StoreErrorKind,
};
pub use tiered::{
    Invalidation, InvalidationSink, Invalidations, RemoteKey, Tiered, TieredBuilder, TieredError,
    TieredStats,
};

pub use codec::{Codec, CodecError, JsonCodec};
pub use error::MAX_WINDOW;
pub use error::{BuildError, LoadAbandoned};
pub use event::{Event, Listener, StaleReason, StoreOp};
pub use file::{FileBuildError, FileStats, FileStore, FileStoreBuilder, Restore};
pub use handle::CacheHandle;
pub use key::{DefaultKey, KeyFn, KeyRef};
#[cfg(feature = "http")]
pub use key::{HttpKey, MethodUri};
pub use layer::{
    CacheLayer, CacheLayerBuilder, DEFAULT_TTL, DefaultStore, IntoStore, Snapshot, WithStore,
};
pub use memory::{MemoryStore, MemoryStoreBuilder, Unit, Weigh};
pub use service::Cache;
pub use stats::CacheStats;
pub use too_large::EntryTooLarge;
