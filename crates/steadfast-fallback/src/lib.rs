//! A tower layer that answers failed calls with a fallback: a value, a
//! function of the error, or another service.
//!
//! [`FallbackLayer`] is the outermost layer of a steadfast stack: it answers
//! only when neither a fresh nor a stale value was available. It keeps the
//! inner error type; a [predicate](FallbackLayer::when) chooses which errors
//! get an answer (all by default), and the others are returned as they are.
//!
//! - [`FallbackLayer::value`] answers with a clone of one value.
//! - [`FallbackLayer::from_error`] answers with `f(&error)`.
//! - [`FallbackLayer::service`] calls another service (a local file, a
//!   secondary server) with a clone of the request. It never gates the
//!   inner service: only a call whose inner service failed drives its copy
//!   of the fallback ready, inside its own future, then calls that copy.
//! - [`FallbackLayer::new`] takes any other [`Answer`], for answers that
//!   depend on the request as well as the error.
//!
//! Responses implementing [`Provenance`](steadfast_core::Provenance) are
//! marked [`Source::Fallback`](steadfast_core::Source::Fallback) with
//! [`provenance`](FallbackLayer::provenance). Every answer is counted (read
//! through a [`FallbackHandle`] and the `metrics` facade as
//! `steadfast_fallback_used_total`), logged at `warn` and reported to an
//! optional [`Event`] listener. A call that succeeds allocates nothing.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format, Source};
//! use steadfast_fallback::FallbackLayer;
//! use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let defaults = ConfigResponse::new(r#"{"level":"info"}"#, Format::Json);
//! let fallback = FallbackLayer::value(defaults).provenance();
//! let handle = fallback.handle();
//!
//! let mut config = ServiceBuilder::new()
//!     .layer(fallback)
//!     .service(service_fn(|_: ConfigRequest| async {
//!         Err::<ConfigResponse, _>(ConfigError::Timeout(Duration::from_secs(2)))
//!     }));
//!
//! let response = config.ready().await.unwrap().call(ConfigRequest::new("app")).await.unwrap();
//! assert_eq!(response.source(), Source::Fallback);
//! assert_eq!(&response.body()[..], br#"{"level":"info"}"#);
//! assert_eq!(handle.used(), 1);
//! # }
//! ```

#![forbid(unsafe_code)]

mod answer;
mod event;
pub mod future;
mod layer;
mod predicate;
mod service;

pub use answer::{Answer, CloneRequest, FromError, MakeRequest, ServiceFallback, Value};
pub use event::{Event, FallbackHandle, FallbackStats};
pub use layer::FallbackLayer;
pub use predicate::{AnyError, Predicate};
pub use service::FallbackService;
