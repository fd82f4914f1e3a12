//! [`WatchEvent`]: what a watch tells its listener.

use std::sync::Arc;

use crate::{ConfigRequest, ConfigResponse};

use super::status::{FleetRole, WatchStatus};

/// What a watch tells the listener set with
/// [`WatchBuilder::on_event`](super::WatchBuilder::on_event).
///
/// Status changes are episodes: [`Stale`](WatchStatus::Stale) and
/// [`Fallback`](WatchStatus::Fallback) start one, the next
/// [`Live`](WatchStatus::Live) or [`Stopped`](WatchStatus::Stopped) ends
/// it; a failed poll while already stale changes nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum WatchEvent<'a> {
    /// The status changed.
    StatusChanged {
        /// The watched request.
        request: &'a ConfigRequest,
        /// The status before.
        from: &'a WatchStatus,
        /// The status now.
        to: &'a WatchStatus,
    },
    /// A new version was published (after it was written through).
    Published {
        /// The watched request.
        request: &'a ConfigRequest,
        /// The version.
        response: &'a ConfigResponse,
        /// Whether it was read from the fleet's shared copy rather than
        /// polled.
        followed: bool,
    },
    /// The watch's part in its fleet changed.
    RoleChanged {
        /// The watched request.
        request: &'a ConfigRequest,
        /// Its part before.
        from: FleetRole,
        /// Its part now.
        to: FleetRole,
    },
}

/// A listener for [`WatchEvent`]s.
pub type WatchListener = Arc<dyn Fn(&WatchEvent<'_>) + Send + Sync>;
