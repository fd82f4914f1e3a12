//! Watching through the stack: [`Loader::watch`].
//!
//! The watcher starts under the stack's [`StartupPolicy`](crate::StartupPolicy)
//! (its first value is what [`Loader::start`] would answer, a fallback
//! answer included), then polls the source beneath the cache: through the
//! retries, the circuit breaker, the time limit and the response check,
//! never through the cache, so a change shows within one interval (or one
//! round trip, long polling) whatever the TTL. Each new version is written
//! into the cache (every tier: L1 and a shared L2) before it is published,
//! so [`Loader::load`] sees it as soon as a receiver does. The watch's
//! episodes (stale, on the fallback) go to the stack's alert listener.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use steadfast_cache::{CacheHandle, Store};
use steadfast_config::watch::{
    BoxFuture, StartError, WatchBuilder, WatchEvent, WatchHandle, WatchStatus, WriteThrough,
};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::CacheKey;
use tokio::sync::watch;
use tower_service::Service;

use crate::alert::{Alert, WatchEnded};
use crate::episode::Episodes;
use crate::layers::{Cached, Full, Key};
use crate::loader::Loader;

/// Decodes one version of a watched configuration as `T`. The one place
/// the watcher turns bytes into a value.
fn decode_version<T>(response: &ConfigResponse) -> Result<Arc<T>, ConfigError>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    response.decode_shared_sync::<T>()
}

/// Writes each new version into the stack's cache, every tier of it.
struct CacheWrite<St> {
    cache: CacheHandle<Key, ConfigResponse, St>,
}

impl<St> WriteThrough for CacheWrite<St>
where
    St: Store<Key, ConfigResponse>,
{
    fn write<'a>(
        &'a self,
        request: &'a ConfigRequest,
        response: &'a ConfigResponse,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            // A store failure is counted, logged and alerted by the cache;
            // the version is published all the same.
            let _ = self
                .cache
                .insert(request.cache_key(), response.clone())
                .await;
        })
    }

    fn refresh_every(&self) -> Option<Duration> {
        // Written again at half its time to live, it is never found stale.
        Some(self.cache.ttl() / 2)
    }
}

impl<S, St> Loader<S, St>
where
    Full<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    Cached<S, St>: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError> + Clone,
    St: Store<Key, ConfigResponse>,
{
    /// Starts the watch `builder` describes on this stack, decoding each
    /// version as `T`.
    ///
    /// The first value comes under the stack's
    /// [`StartupPolicy`](crate::StartupPolicy), as [`Loader::start`]'s does
    /// (with [`UseFallback`](crate::StartupPolicy::UseFallback) it may be a
    /// fallback answer: the watch is then
    /// [on the fallback](WatchStatus::Fallback) until the source answers).
    /// The polls then go beneath the cache, and each new version is
    /// written into the cache before it is published. The watch's stale
    /// and fallback periods are reported to the stack's alert listener
    /// ([`Alert::WatchStale`], [`Alert::WatchOnFallback`] and their ends).
    ///
    /// ```
    /// use std::time::Duration;
    /// use steadfast::StackBuilder;
    /// use steadfast::config::watch::Watcher;
    /// use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format};
    /// use tower::service_fn;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct App {
    ///     port: u16,
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let source = service_fn(|_: ConfigRequest| async {
    ///     Ok::<_, ConfigError>(ConfigResponse::new(r#"{"port": 8080}"#, Format::Json))
    /// });
    /// let loader = StackBuilder::new().build(source)?;
    /// let (handle, app) = loader
    ///     .watch::<App>(Watcher::builder("app").interval(Duration::from_secs(5)))
    ///     .await?;
    /// assert_eq!(app.borrow().port, 8080);
    /// assert!(handle.status().is_live());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn watch<T>(
        &self,
        builder: WatchBuilder,
    ) -> Result<(WatchHandle<T>, watch::Receiver<Arc<T>>), StartError>
    where
        T: DeserializeOwned + Send + Sync + 'static,
    {
        let request = builder.request().clone();
        let parts = &self.parts;
        let episodes = parts.episodes.clone();
        let mut builder = builder.on_event(move |event| watch_alert(&episodes, event));
        if let Some(cache) = &parts.cache {
            builder = builder.write_through(Arc::new(CacheWrite {
                cache: cache.clone(),
            }));
        }
        let watcher = builder.build(decode_version::<T>).map_err(|invalid| {
            StartError::Load(ConfigError::invalid_request(invalid.to_string()))
        })?;
        let first = self
            .start_response(request)
            .await
            .map_err(StartError::Load)?;
        watcher.start_with(first, parts.beneath.service(), false)
    }
}

/// Reports a watch's episodes to the stack's alert listener.
fn watch_alert(episodes: &Episodes, event: &WatchEvent<'_>) {
    let WatchEvent::StatusChanged { request, from, to } = event else {
        return;
    };
    let key = request.shared_key();
    let ended = match to {
        WatchStatus::Stopped { .. } => WatchEnded::Stopped,
        _ => WatchEnded::Live,
    };
    let ending = match from {
        WatchStatus::Stale {
            since,
            failed_polls,
            ..
        } => Some(Alert::WatchRecovered {
            key: key.clone(),
            ended,
            lasted: since.elapsed(),
            failed_polls: *failed_polls,
        }),
        WatchStatus::Fallback { since, .. } => Some(Alert::WatchFallbackEnded {
            key: key.clone(),
            ended,
            lasted: since.elapsed(),
        }),
        _ => None,
    };
    if let Some(alert) = ending {
        episodes.report_watch(&alert);
    }
    let starting = match to {
        WatchStatus::Stale { error, cause, .. } => Some(Alert::WatchStale {
            key: key.clone(),
            error: error.clone(),
            cause: *cause,
        }),
        WatchStatus::Fallback { .. } => Some(Alert::WatchOnFallback { key: key.clone() }),
        _ => None,
    };
    if let Some(alert) = starting {
        episodes.report_watch(&alert);
    }
}
