//! steadfast: tower layers that keep remote configuration loading alive when
//! the config server is slow, flaky or gone.
//!
//! # Example
//!
//! ```
//! use steadfast::config::ConfigRequest;
//!
//! let req = ConfigRequest::new("app");
//! assert_eq!(req.key(), "app");
//! ```

#![forbid(unsafe_code)]

pub mod timeout;

pub use steadfast_breaker as breaker;
pub use steadfast_cache as cache;
pub use steadfast_config as config;
pub use steadfast_core as core;
pub use steadfast_fallback as fallback;
pub use steadfast_retry as retry;
