//! The config domain of steadfast: what to load, where from, and how to turn
//! it into a typed, validated value.
//!
//! - [`ConfigRequest`] names what to load; [`ConfigResponse`] carries the
//!   bytes, their [`Format`], version and provenance; [`ConfigError`] says
//!   why loading failed, in variants a caller can match.
//! - Sources are `tower::Service<ConfigRequest>`s: [`HttpSource`] (any
//!   hyper-style client, HTTPS by default, size limit, timeout, conditional
//!   GETs) and [`FileSource`] (`<dir>/<name>.<ext>`).
//! - [`ConfigResponse::decode`] reads JSON (always), TOML (feature `toml`) and
//!   YAML (feature `yaml`); [`DecodeLayer`] turns a source into one of
//!   [`Typed<T>`] values, checked by a [`Validate`] impl or a closure, so an
//!   invalid configuration fails before any cache above it can store it.
//! - [`ConfigResponse::decode_shared`] decodes a version once and shares the
//!   `Arc<T>` with every clone of the response, however many callers race:
//!   a cache that keeps the bytes keeps the typed value beside them.
//! - `ConfigResponse` (and `Typed<T>` for a serde `T`) implements serde's
//!   `Serialize` and `Deserialize`, for stores outside the process.
//! - Both the HTTP source and the decode layer keep counters
//!   ([`HttpStats`], [`DecodeStats`]), emit them through the `metrics`
//!   facade, and report an [`Event`] to a listener when one is set.
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use steadfast_config::{ConfigError, ConfigRequest, DecodeLayer, HttpSource};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! #[derive(Debug, serde::Deserialize)]
//! struct App {
//!     api_url: String,
//!     max_retries: u32,
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = HttpSource::builder("https://config.example.com")
//!     .path("/config/{name}/{profile}.json")
//!     .bearer_token("s3cr3t")
//!     .timeout(Duration::from_secs(2))
//!     .build()?;
//! let service = ServiceBuilder::new()
//!     .layer(DecodeLayer::<App>::new().validate_with(|app: &App| {
//!         if app.max_retries > 10 { Err("too many retries".into()) } else { Ok(()) }
//!     }))
//!     .service(source);
//!
//! let app = service
//!     .oneshot(ConfigRequest::new("app").with_profile("prod"))
//!     .await?;
//! assert!(app.max_retries <= 10);
//! println!("{} (version {:?})", app.api_url, app.version());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }
//! ```
//!
//! Decoding alone needs no I/O:
//!
//! ```
//! use steadfast_config::{ConfigError, ConfigResponse, Format};
//!
//! let response = ConfigResponse::new("{\"port\": 8080,}", Format::Json);
//! let error = response.decode::<serde_json::Value>().unwrap_err();
//! assert!(matches!(error, ConfigError::Decode { line: Some(1), column: Some(15), .. }));
//! ```
//!
//! # Features
//!
//! | feature | what |
//! |---|---|
//! | `rustls-ring` (default) | HTTPS in the default client: rustls on ring, webpki roots |
//! | `rustls-aws-lc` | the same on aws-lc-rs |
//! | `native-tls` | the platform's TLS (OpenSSL, Secure Transport, SChannel) through hyper-tls |
//! | `gzip`, `brotli`, `zstd` (default) | `Content-Encoding` decoded under the size limit, and asked for in `Accept-Encoding` |
//! | `toml`, `yaml` | decoding of those formats |
//! | `reqwest` | `ReqwestClient`: the source over a `reqwest::Client` |
//!
//! With no TLS feature the default client speaks plain HTTP, and HTTPS
//! needs a client of your own ([`HttpSourceBuilder::build_with`]). With
//! several, the first in the table is the default client's.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod decode;
mod error;
mod event;
mod file;
mod http;
mod request;
mod response;
mod shared;
mod typed;
pub mod watch;
mod wire;

pub mod future {
    //! The response futures of the services in this crate.

    pub use crate::decode::DecodeTask;
    pub use crate::file::FileFuture;
    #[cfg(feature = "reqwest")]
    pub use crate::http::ReqwestFuture;
    pub use crate::http::{Following, HttpFuture};
    pub use crate::typed::DecodeFuture;
}

pub use decode::{BLOCKING_DECODE_SIZE, Validate, decode_blocking};
pub use error::{BuildError, ConfigError, RedirectRefused};
pub use event::{DecodeStats, Event, HttpStats};
pub use file::{DEFAULT_MAX_FILE_SIZE, FileSource, FileSourceBuilder};
#[cfg(feature = "reqwest")]
pub use http::ReqwestClient;
pub use http::{
    DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_REDIRECTS, DEFAULT_REMEMBERED, DEFAULT_REMEMBERED_BYTES,
    DEFAULT_TIMEOUT, DefaultClient, HttpSource, HttpSourceBuilder, LongPoll, RequestBody,
};
pub use request::ConfigRequest;
pub use response::{ConfigResponse, Format};
pub use steadfast_core::{
    CacheKey, CircuitOpen, Failure, FailureKind, Provenance, SharedError, Source,
};
pub use typed::{Decode, DecodeLayer, Typed};
pub use watch::{WatchHandle, WatchStats, WatchStatus, Watcher};
