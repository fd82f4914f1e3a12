//! [`WatchStatus`]: what a watch is doing, as an operator wants to know it.

use std::fmt;

use steadfast_core::{Failure, FailureKind};
use tokio::time::Instant;

use crate::ConfigError;

/// What a watch is doing, from [`WatchHandle::status`](super::WatchHandle::status).
///
/// A watch is [live](WatchStatus::Live) while its polls answer, becomes
/// [stale](WatchStatus::Stale) at the first poll that fails (it keeps
/// publishing nothing and serving the last good value), and is live again
/// at the next poll that answers. A watch that started on a fallback
/// answer is [on the fallback](WatchStatus::Fallback) until the source
/// answers. Each of these periods is an episode: the watch logs one
/// warning when it starts and one info line when it ends, and tells its
/// [listener](super::WatchBuilder::on_event) once each.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WatchStatus {
    /// The last poll answered (or, following another instance's poller,
    /// the last version it wrote was read); what is published is the
    /// source's.
    Live {
        /// When the watch became live.
        since: Instant,
    },
    /// Polls fail; the last good value stays published.
    Stale {
        /// When the first failed poll of this period ended.
        since: Instant,
        /// The error of the latest failed poll.
        error: ConfigError,
        /// What that error means for the watch.
        cause: StaleCause,
        /// Polls that failed since, the first included.
        failed_polls: u64,
    },
    /// What is published is a fallback answer: the source has not answered
    /// since the watch started.
    Fallback {
        /// When the watch started on it.
        since: Instant,
        /// The error of the latest failed poll, if a poll failed since.
        error: Option<ConfigError>,
    },
    /// The watch stopped: its handle, or every receiver, was dropped.
    Stopped {
        /// When it stopped.
        at: Instant,
    },
}

impl WatchStatus {
    /// Whether the status is [`Live`](WatchStatus::Live).
    pub fn is_live(&self) -> bool {
        matches!(self, WatchStatus::Live { .. })
    }

    /// Whether the status is [`Stale`](WatchStatus::Stale).
    pub fn is_stale(&self) -> bool {
        matches!(self, WatchStatus::Stale { .. })
    }

    /// Whether the status is [`Fallback`](WatchStatus::Fallback).
    pub fn is_fallback(&self) -> bool {
        matches!(self, WatchStatus::Fallback { .. })
    }

    /// Whether the status is [`Stopped`](WatchStatus::Stopped).
    pub fn is_stopped(&self) -> bool {
        matches!(self, WatchStatus::Stopped { .. })
    }

    /// The error of the latest failed poll, while stale or on the fallback.
    pub fn error(&self) -> Option<&ConfigError> {
        match self {
            WatchStatus::Stale { error, .. } => Some(error),
            WatchStatus::Fallback { error, .. } => error.as_ref(),
            _ => None,
        }
    }
}

impl fmt::Display for WatchStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchStatus::Live { .. } => f.pad("live"),
            WatchStatus::Stale {
                error,
                cause,
                failed_polls,
                ..
            } => {
                let polls = if *failed_polls == 1 { "poll" } else { "polls" };
                write!(f, "stale ({cause}, {failed_polls} failed {polls}): {error}")
            }
            WatchStatus::Fallback { error: None, .. } => f.pad("on the fallback"),
            WatchStatus::Fallback {
                error: Some(error), ..
            } => write!(f, "on the fallback: {error}"),
            WatchStatus::Stopped { .. } => f.pad("stopped"),
        }
    }
}

/// Why a watch is stale: what its latest failed poll means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StaleCause {
    /// The poll did not end within the watch's poll timeout: the source
    /// hangs.
    PollTimedOut,
    /// The circuit breaker refused the poll: the source failed too often.
    CircuitOpen,
    /// The source failed in a way that may pass (refused, reset, timed out,
    /// 5xx, 429).
    SourceFailing,
    /// The source refused the request in a way that will repeat (4xx, not
    /// found, a rejected certificate).
    Refused,
    /// The source answered with a config that does not decode or validate,
    /// or whose version cannot be ordered.
    InvalidConfig,
}

impl StaleCause {
    /// The cause of a failed poll's `error` (not the watch's own poll
    /// timeout, which is [`PollTimedOut`](StaleCause::PollTimedOut)).
    pub fn of(error: &ConfigError) -> Self {
        if error.circuit_open().is_some() {
            return StaleCause::CircuitOpen;
        }
        match error.kind() {
            FailureKind::Transient => StaleCause::SourceFailing,
            FailureKind::InvalidContent => StaleCause::InvalidConfig,
            _ => StaleCause::Refused,
        }
    }
}

impl fmt::Display for StaleCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            StaleCause::PollTimedOut => "poll timed out",
            StaleCause::CircuitOpen => "circuit open",
            StaleCause::SourceFailing => "source failing",
            StaleCause::Refused => "request refused",
            StaleCause::InvalidConfig => "invalid config",
        })
    }
}

/// How a watch takes part in a fleet ([`WatchBuilder::fleet`](super::WatchBuilder::fleet)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FleetRole {
    /// It polls the source on its own: it has no fleet, or the fleet's
    /// lease could not be asked for (the shared store is down).
    #[default]
    Alone,
    /// It holds the fleet's lease and polls the source for every instance.
    Poller,
    /// Another instance holds the lease; this one reads what it writes.
    Follower,
}

impl fmt::Display for FleetRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            FleetRole::Alone => "alone",
            FleetRole::Poller => "poller",
            FleetRole::Follower => "follower",
        })
    }
}
