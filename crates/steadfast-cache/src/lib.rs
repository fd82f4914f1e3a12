//! The steadfast cache layer.
//!
//! # Example
//!
//! ```
//! assert_eq!(1 + 1, 2);
//! ```

#![forbid(unsafe_code)]

pub mod store;

pub use store::{Entry, Freshness, LeaseToken, Peek, Store, StoreError, StoreErrorKind};
