//! Watching one configuration: poll it beneath the cache at a jittered
//! interval (or hold a long poll), write each new version through, publish
//! it, and never go back.
//!
//! A [`Watcher`] loads one [`ConfigRequest`](crate::ConfigRequest) through
//! any `Service<ConfigRequest, Response = ConfigResponse, Error =
//! ConfigError>` (the source beneath the cache: through retries and a
//! circuit breaker, not through the cache, so a TTL never delays a
//! change), decodes it to `T` and publishes it on a
//! [`tokio::sync::watch::Receiver<Arc<T>>`](tokio::sync::watch::Receiver).
//! It then polls again and again:
//!
//! - a new version is decoded, written through into the cache
//!   ([`WriteThrough`]: every tier, so a load sees it too), then published;
//! - an unchanged answer (the same version, or the same bytes when there is
//!   no version) is not decoded or published again; an HTTP source makes
//!   each poll a conditional GET (`If-None-Match`);
//! - it never goes back: a version already superseded (a stale replica
//!   answering an old one) is refused. It remembers the last versions it
//!   saw ([`remember_versions`](WatchBuilder::remember_versions)), or
//!   ranks them with an ordering hook ([`order_by`](WatchBuilder::order_by),
//!   [`numeric_versions`](WatchBuilder::numeric_versions)). A fallback
//!   answer is replaced by the first real value;
//! - each poll has a timeout ([`poll_timeout`](WatchBuilder::poll_timeout),
//!   by default the interval): a poll that hangs is dropped and counted as
//!   a failure, and the next goes out an interval later;
//! - a failed poll keeps the last good value; the handle's
//!   [`status`](WatchHandle::status) says [`WatchStatus::Stale`] since
//!   when, with the last error and its [`StaleCause`], until a poll
//!   answers. A start on a fallback answer is [`WatchStatus::Fallback`].
//!   Each such episode is logged once when it starts (WARN) and once when
//!   it ends (INFO), and told to the [listeners](WatchBuilder::on_event);
//! - with [`long_poll`](WatchBuilder::long_poll), the source holds each
//!   poll until the configuration changes, and a change arrives within a
//!   round trip;
//! - with a [`Fleet`], one instance of many polls, elected by a lease;
//!   the others read what it writes when they hear of it;
//! - it stops when the [`WatchHandle`] is dropped, or when every receiver is.
//!
//! Every poll is counted on the handle ([`WatchStats`]) and through the
//! `metrics` facade as `steadfast_config_watch_polls_total`, labelled
//! `outcome` = `published`, `unchanged`, `ignored` or `error`.
//!
//! ```
//! use std::time::Duration;
//!
//! use steadfast_config::watch::{Watcher, WatchStatus};
//! use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
//! use tower::service_fn;
//!
//! #[derive(serde::Deserialize)]
//! struct App {
//!     port: u16,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let source = service_fn(|_: ConfigRequest| async {
//!     let body = r#"{"port": 8080}"#;
//!     Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json).with_version("v1"))
//! });
//!
//! let (handle, app) = Watcher::builder("app")
//!     .interval(Duration::from_secs(30))
//!     .jitter(0.1)
//!     .seed(7)
//!     .build_decoded::<App>()?
//!     .start(source)
//!     .await?;
//!
//! assert_eq!(app.borrow().port, 8080);
//! assert_eq!(handle.stats().published, 1);
//! assert!(matches!(handle.status(), WatchStatus::Live { .. }));
//! # Ok(())
//! # }
//! ```

mod builder;
mod error;
mod event;
mod fleet;
mod handle;
mod order;
mod settings;
mod stats;
mod status;
mod task;

pub use builder::{DEFAULT_INTERVAL, DecodeFn, WatchBuilder, Watcher};
pub use error::{InvalidWatch, StartError};
pub use event::{WatchEvent, WatchListener};
pub use fleet::{BoxFuture, Fleet, FleetError, Notices, WriteThrough};
pub use handle::WatchHandle;
pub use order::{DEFAULT_REMEMBERED_VERSIONS, Rank};
pub use stats::WatchStats;
pub use status::{FleetRole, StaleCause, WatchStatus};
