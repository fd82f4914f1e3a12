//! [`WatchHandle`]: the running watch, seen from outside.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{oneshot, watch};

use super::stats::{Counters, WatchStats};
use super::status::{FleetRole, WatchStatus};
use crate::ConfigError;

/// What a watch's task and its handle share.
pub(crate) struct Shared<T> {
    pub(crate) sender: watch::Sender<Arc<T>>,
    pub(crate) counters: Counters,
    pub(crate) state: Mutex<State>,
}

/// The status, the last error and the fleet role, under one lock.
pub(crate) struct State {
    pub(crate) status: WatchStatus,
    pub(crate) last_error: Option<ConfigError>,
    pub(crate) role: FleetRole,
}

impl<T> Shared<T> {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps a watch running; dropping it stops the watch.
///
/// Reads the current value, the status, the counters and the last error,
/// and makes more receivers.
pub struct WatchHandle<T> {
    pub(crate) shared: Arc<Shared<T>>,
    pub(crate) _stop: oneshot::Sender<()>,
}

impl<T> WatchHandle<T> {
    /// The value published last.
    pub fn current(&self) -> Arc<T> {
        self.shared.sender.borrow().clone()
    }

    /// A new receiver of published versions.
    ///
    /// The watch stops once every receiver is dropped; a receiver made after
    /// that sees the last value and no further change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<T>> {
        self.shared.sender.subscribe()
    }

    /// What the watch is doing: live, stale since when and why, on the
    /// fallback, or stopped.
    pub fn status(&self) -> WatchStatus {
        if self.shared.sender.is_closed() {
            if let status @ WatchStatus::Stopped { .. } = &self.shared.state().status {
                return status.clone();
            }
            // Every receiver is gone: the task is stopping.
            return WatchStatus::Stopped {
                at: tokio::time::Instant::now(),
            };
        }
        self.shared.state().status.clone()
    }

    /// Whether this instance polls the source, follows the fleet's poller,
    /// or polls alone.
    pub fn role(&self) -> FleetRole {
        self.shared.state().role
    }

    /// The counters so far.
    pub fn stats(&self) -> WatchStats {
        self.shared.counters.snapshot()
    }

    /// The error of the latest failed poll, if any poll has failed since the
    /// watch started.
    pub fn last_error(&self) -> Option<ConfigError> {
        self.shared.state().last_error.clone()
    }

    /// Whether the polling task is still running (neither the handle nor
    /// every receiver was dropped).
    pub fn is_running(&self) -> bool {
        !self.shared.sender.is_closed() && !self.shared.state().status.is_stopped()
    }

    /// Stops the watch; the same as dropping the handle.
    pub fn stop(self) {}
}

impl<T> fmt::Debug for WatchHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchHandle")
            .field("status", &self.status())
            .field("role", &self.role())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
