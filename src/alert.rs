//! Alerts: what an operator wants to hear about, from every layer of the
//! stack, through one listener.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_breaker as breaker;
use steadfast_cache::{StaleReason, StoreErrorKind, StoreOp};
use steadfast_config::ConfigError;

/// Something worth an alert, reported by a [`Loader`](crate::Loader)'s
/// layers to the listener set with
/// [`StackBuilder::on_alert`](crate::StackBuilder::on_alert).
///
/// Without a listener no alert is built: the layers run without one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Alert {
    /// The circuit breaker opened (or re-opened after failed probes): the
    /// source is not called until the next probe.
    CircuitOpened {
        /// How long it stays open, when known.
        open_for: Option<Duration>,
    },
    /// The circuit breaker lets probes through to see whether the source
    /// recovered.
    CircuitHalfOpen,
    /// The circuit breaker closed: the source answers again.
    CircuitClosed,
    /// The fallback answered in place of the source.
    FallbackUsed {
        /// Why the stack could not answer on its own.
        error: ConfigError,
    },
    /// A cached value is being served stale. Reported once per key when it
    /// turns stale, and again only after the key was loaded fresh since.
    StaleServed {
        /// The cache key.
        key: Arc<str>,
        /// Why: the value is being refreshed, or the source failed.
        reason: StaleReason,
    },
    /// A cache store (the shared L2, Redis) failed; the request went on
    /// without it.
    StoreFailed {
        /// What was attempted.
        op: StoreOp,
        /// What went wrong.
        kind: StoreErrorKind,
    },
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Alert::CircuitOpened {
                open_for: Some(open_for),
            } => write!(f, "circuit opened for {open_for:?}"),
            Alert::CircuitOpened { open_for: None } => f.pad("circuit opened"),
            Alert::CircuitHalfOpen => f.pad("circuit half-open: probing the source"),
            Alert::CircuitClosed => f.pad("circuit closed: the source answers again"),
            Alert::FallbackUsed { error } => write!(f, "fallback in use: {error}"),
            Alert::StaleServed { key, reason } => match reason {
                StaleReason::Revalidating => write!(f, "stale {key} served while it refreshes"),
                StaleReason::SourceFailed => write!(f, "stale {key} served: the source failed"),
                _ => write!(f, "stale {key} served"),
            },
            Alert::StoreFailed { op, kind } => {
                write!(f, "cache store {} failed ({kind:?})", op.as_str())
            }
        }
    }
}

/// A listener for [`Alert`]s.
pub type AlertListener = Arc<dyn Fn(&Alert) + Send + Sync>;

pub(crate) fn breaker_alert(event: &breaker::Event) -> Option<Alert> {
    match event {
        breaker::Event::StateChanged { to, open_for, .. } => match to {
            breaker::State::Open | breaker::State::ForcedOpen => Some(Alert::CircuitOpened {
                open_for: *open_for,
            }),
            breaker::State::HalfOpen => Some(Alert::CircuitHalfOpen),
            breaker::State::Closed => Some(Alert::CircuitClosed),
            _ => None,
        },
        _ => None,
    }
}

/// Turns cache events into alerts. A key served stale is reported once,
/// when it turns stale, not on every stale load: it is reported again only
/// after a fresh load of it.
#[derive(Default)]
pub(crate) struct CacheAlerts {
    stale: Mutex<HashSet<Arc<str>>>,
}

impl CacheAlerts {
    pub(crate) fn alert(&self, event: &steadfast_cache::Event<'_>) -> Option<Alert> {
        match event {
            steadfast_cache::Event::StaleServed { key, reason } => {
                let key: Arc<str> = key.to_string().into();
                let first = lock(&self.stale).insert(key.clone());
                first.then_some(Alert::StaleServed {
                    key,
                    reason: *reason,
                })
            }
            steadfast_cache::Event::Loaded { key, .. } => {
                let mut stale = lock(&self.stale);
                if !stale.is_empty() {
                    stale.remove(key.to_string().as_str());
                }
                None
            }
            steadfast_cache::Event::StoreFailed { op, error, .. } => Some(Alert::StoreFailed {
                op: *op,
                kind: error.kind(),
            }),
            _ => None,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
