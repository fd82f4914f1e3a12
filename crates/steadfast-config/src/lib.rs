//! The config domain of steadfast.
//!
//! - [`ConfigRequest`] names what to load; [`ConfigResponse`] carries the
//!   bytes, their [`Format`], version and provenance; [`ConfigError`] says
//!   why loading failed, in variants a caller can match.
//!
//! # Example
//!
//! ```
//! use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
//!
//! let req = ConfigRequest::new("app").with_profile("prod");
//! assert_eq!(req.key(), "app@prod");
//! # let _ = (ConfigResponse::new("{}", Format::Json), ConfigError::validation("x"));
//! ```

#![forbid(unsafe_code)]

mod error;
mod request;
mod response;

pub use error::ConfigError;
pub use request::ConfigRequest;
pub use response::{ConfigResponse, Format};
pub use steadfast_core::{CacheKey, CircuitOpen, Failure, Provenance, SharedError, Source};
