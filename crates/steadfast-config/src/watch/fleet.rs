//! The hooks a watch uses beside its source: where it writes each new
//! version ([`WriteThrough`]), and the fleet it polls for ([`Fleet`]).

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::{ConfigRequest, ConfigResponse};

/// A boxed future, as the hooks return them (once per poll, not per load).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a watch writes each new version before it publishes it: the
/// cache in front of the source, every tier of it, so that a load sees
/// the version as soon as a receiver does.
///
/// A write that fails is the store's to report; the version is published
/// all the same.
pub trait WriteThrough: Send + Sync + 'static {
    /// Stores `response`, the new version of `request`.
    fn write<'a>(
        &'a self,
        request: &'a ConfigRequest,
        response: &'a ConfigResponse,
    ) -> BoxFuture<'a, ()>;

    /// How long a written version stays fresh in the store unless written
    /// again: a poll that finds the version unchanged writes it again once
    /// this long has passed since the last write, so that a load never
    /// finds it stale while the watch runs. `None` (the default): only new
    /// versions are written.
    fn refresh_every(&self) -> Option<Duration> {
        None
    }
}

/// The instances that watch the same configuration through one shared
/// store, of which one polls the source for all.
///
/// Each watch asks for the poller lease of its key at every tick
/// ([`hold`](Fleet::hold)): the instance that holds it polls and writes
/// each new version through into the shared store; the others hear of it
/// ([`follow`](Fleet::follow)) and read it from there
/// ([`adopt`](Fleet::adopt)). A watch that cannot ask (the shared store
/// is down) polls on its own until it can again.
pub trait Fleet: Send + Sync + 'static {
    /// Takes the poller lease of `key` for `ttl` when nobody holds it, or
    /// renews it when this instance does. `Ok(true)`: this instance holds
    /// it and polls.
    fn hold<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, FleetError>>;

    /// Gives the lease of `key` up, if this instance holds it, so another
    /// takes it at its next tick rather than after the lease's TTL.
    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()>;

    /// The notices of new versions of `key` written by other instances.
    fn follow(&self, key: &str) -> watch::Receiver<Notices>;

    /// Reads the shared copy of `key` that another instance wrote, and
    /// makes it this instance's (a local copy of the key is dropped, so a
    /// load reads the shared one).
    fn adopt<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<ConfigResponse>, FleetError>>;
}

/// What a [`Fleet`] heard about one key, for the followers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notices {
    /// Whether notices are being received: while not, a follower reads
    /// the shared copy at each tick instead.
    pub listening: bool,
    /// Notices of a new version received so far; a follower reads the
    /// shared copy when it grows.
    pub updates: u64,
}

/// A [`Fleet`] that could not answer: its shared store is down.
#[derive(Debug, Clone)]
pub struct FleetError {
    error: Arc<dyn Error + Send + Sync + 'static>,
}

impl FleetError {
    /// A failure caused by `error`.
    pub fn new<E>(error: E) -> Self
    where
        E: Into<Box<dyn Error + Send + Sync + 'static>>,
    {
        Self {
            error: Arc::from(error.into()),
        }
    }
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fleet store failed: {}", self.error)
    }
}

impl Error for FleetError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.error)
    }
}
