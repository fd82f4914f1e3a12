//! [`Settings`]: a watch's checked settings, shared by its builder and its
//! polling task.

use std::sync::Arc;
use std::time::Duration;

use super::event::{WatchEvent, WatchListener};
use super::fleet::{Fleet, WriteThrough};
use super::order::Rank;
use crate::ConfigRequest;

/// The checked settings of a watch.
pub(crate) struct Settings {
    pub(crate) request: ConfigRequest,
    pub(crate) interval: Duration,
    pub(crate) jitter: f64,
    pub(crate) poll_timeout: Duration,
    pub(crate) long_poll: Option<Duration>,
    pub(crate) lease_ttl: Duration,
    pub(crate) remembered: usize,
    pub(crate) rank: Option<Rank>,
    pub(crate) write_through: Option<Arc<dyn WriteThrough>>,
    pub(crate) fleet: Option<Arc<dyn Fleet>>,
    pub(crate) listeners: Arc<[WatchListener]>,
}

impl Settings {
    pub(crate) fn tell(&self, event: &WatchEvent<'_>) {
        for listener in self.listeners.iter() {
            listener(event);
        }
    }
}
