//! The steadfast cache layer.
//!
//! # Example
//!
//! ```
//! assert_eq!(1 + 1, 2);
//! ```

#![forbid(unsafe_code)]

pub mod store;
#[cfg(feature = "redis")]
pub mod redis;
mod tiered;

pub use store::{Entry, Freshness, LeaseToken, Peek, Store, StoreError, StoreErrorKind};
pub use tiered::{
    Invalidation, InvalidationSink, Invalidations, RemoteKey, Tiered, TieredBuilder, TieredError,
    TieredStats,
};
