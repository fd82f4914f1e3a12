//! Alerts: what an operator wants to hear about, from every layer of the
//! stack, through one listener. Each alert starts or ends an episode
//! (tracked in `episode.rs`); none is repeated per request.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use steadfast_breaker::Cause;
use steadfast_cache::{StoreErrorKind, StoreOp};
use steadfast_config::ConfigError;
use steadfast_config::watch::StaleCause;

/// An episode starting or ending, reported by a [`Loader`](crate::Loader)'s
/// layers to the listener set with
/// [`StackBuilder::on_alert`](crate::StackBuilder::on_alert).
///
/// Every episode is reported twice: once when it starts, once when it ends,
/// whatever the number of requests in between. Each alert carries the facts
/// of the moment it is made: the error that started the episode, and at
/// the end how long it lasted and how the requests it covered were
/// answered. The same alerts are logged: a start as a warning, an end at
/// info level (target `steadfast::episode`).
///
/// | episode | per | starts with | ends with |
/// |---|---|---|---|
/// | the source fails | key | [`SourceFailing`](Alert::SourceFailing): a load of the key failed | [`SourceRecovered`](Alert::SourceRecovered): it loaded again |
/// | the fallback answers | key | [`FallbackUsed`](Alert::FallbackUsed) | [`FallbackEnded`](Alert::FallbackEnded) |
/// | the source serves an invalid config | key | [`InvalidConfig`](Alert::InvalidConfig) | [`InvalidConfigEnded`](Alert::InvalidConfigEnded): a valid one loaded |
/// | the circuit is open | source | [`CircuitOpened`](Alert::CircuitOpened) | [`CircuitClosed`](Alert::CircuitClosed) |
/// | the cache store (L2) fails | store | [`StoreFailing`](Alert::StoreFailing) | [`StoreRecovered`](Alert::StoreRecovered) |
/// | too many keys to follow one by one | — | [`KeysUntracked`](Alert::KeysUntracked) | [`KeysUntrackedEnded`](Alert::KeysUntrackedEnded) |
/// | a watch's polls fail | watch | [`WatchStale`](Alert::WatchStale) | [`WatchRecovered`](Alert::WatchRecovered): a poll answered, or the watch stopped |
/// | a watch started on the fallback | watch | [`WatchOnFallback`](Alert::WatchOnFallback) | [`WatchFallbackEnded`](Alert::WatchFallbackEnded): the source answered, or the watch stopped |
///
/// A value served stale while it refreshes in the background is normal
/// operation and no episode; a stale value served because its load failed
/// is part of the key's [`SourceFailing`](Alert::SourceFailing) episode.
/// A circuit that re-opens after a failed probe, or lets probes through
/// (half-open), is still in its episode.
///
/// Up to 1,024 keys are followed one by one. Past that, keys that start an
/// episode are followed together: one [`KeysUntracked`](Alert::KeysUntracked)
/// when the first of them does, one
/// [`KeysUntrackedEnded`](Alert::KeysUntrackedEnded) when they all loaded
/// again. A key's episode ends without its key loading again when the key
/// is not asked for during 15 minutes ([`Ended::NotRequested`]).
///
/// Without a listener, no alert is built; the episodes are still followed
/// for the log.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Alert {
    /// A load of `key` failed: the source fails for it. Its callers are
    /// answered stale, by the fallback or with the error until it loads
    /// again.
    SourceFailing {
        /// The key.
        key: Arc<str>,
        /// The failure of the load, after its retries.
        error: ConfigError,
    },
    /// `key` is fresh again: the end of its [`SourceFailing`](Alert::SourceFailing).
    SourceRecovered {
        /// The key.
        key: Arc<str>,
        /// How the episode ended.
        ended: Ended,
        /// How long it lasted.
        lasted: Duration,
        /// Loads that failed during it, the first included.
        failed_loads: u64,
        /// How the requests for the key were answered meanwhile.
        answered: Answered,
    },
    /// The fallback answered a request for `key`: the application runs on
    /// its defaults for it.
    FallbackUsed {
        /// The key.
        key: Arc<str>,
        /// Why the stack could not answer on its own.
        error: ConfigError,
    },
    /// `key` is answered without the fallback again: the end of its
    /// [`FallbackUsed`](Alert::FallbackUsed).
    FallbackEnded {
        /// The key.
        key: Arc<str>,
        /// How the episode ended.
        ended: Ended,
        /// How long it lasted.
        lasted: Duration,
        /// Requests the fallback answered during it, the first included.
        answers: u64,
    },
    /// The source answered `key` with a config that does not decode or
    /// validate. It is not served; the last good value is, if any.
    InvalidConfig {
        /// The key.
        key: Arc<str>,
        /// The decode or validation error, with its line and column where
        /// the decoder gives them.
        error: ConfigError,
    },
    /// A valid config of `key` loaded again: the end of its
    /// [`InvalidConfig`](Alert::InvalidConfig).
    InvalidConfigEnded {
        /// The key.
        key: Arc<str>,
        /// How the episode ended.
        ended: Ended,
        /// How long it lasted.
        lasted: Duration,
        /// Invalid answers rejected during it, the first included.
        rejected: u64,
        /// How the requests for the key were answered meanwhile.
        answered: Answered,
    },
    /// The circuit breaker opened: the source is not called until a probe
    /// passes. Reported once per outage: re-opening after a failed probe is
    /// not a new episode.
    CircuitOpened {
        /// How long it stays open before the first probe, when known.
        open_for: Option<Duration>,
        /// Why it opened.
        cause: Cause,
    },
    /// The circuit closed: the source answers again. The end of
    /// [`CircuitOpened`](Alert::CircuitOpened).
    CircuitClosed {
        /// How long since it opened.
        lasted: Duration,
        /// Times it re-opened after a failed probe.
        reopened: u64,
        /// Calls it rejected meanwhile.
        rejected: u64,
    },
    /// The cache's store (the shared L2 above all) started failing; loads go
    /// on without it.
    StoreFailing {
        /// The operation that failed first.
        op: StoreOp,
        /// What went wrong.
        kind: StoreErrorKind,
        /// The error, with its cause.
        error: Arc<str>,
    },
    /// The cache's store answers again: the end of
    /// [`StoreFailing`](Alert::StoreFailing).
    StoreRecovered {
        /// How long it failed.
        lasted: Duration,
        /// Operations that failed meanwhile.
        failures: u64,
    },
    /// A watch of `key` ([`Loader::watch`](crate::Loader::watch)) went
    /// stale: its polls fail, and the last good value stays published.
    WatchStale {
        /// The watched key.
        key: Arc<str>,
        /// The error of the poll that failed first.
        error: ConfigError,
        /// What it means.
        cause: StaleCause,
    },
    /// The watch of `key` is no longer stale: the end of its
    /// [`WatchStale`](Alert::WatchStale).
    WatchRecovered {
        /// The watched key.
        key: Arc<str>,
        /// How it ended: a poll answered, or the watch stopped.
        ended: WatchEnded,
        /// How long it was stale.
        lasted: Duration,
        /// Polls that failed meanwhile, the first included.
        failed_polls: u64,
    },
    /// A watch of `key` started on a fallback answer: the source did not
    /// answer at startup.
    WatchOnFallback {
        /// The watched key.
        key: Arc<str>,
    },
    /// The watch of `key` publishes the source's value again: the end of
    /// its [`WatchOnFallback`](Alert::WatchOnFallback).
    WatchFallbackEnded {
        /// The watched key.
        key: Arc<str>,
        /// How it ended: the source answered, or the watch stopped.
        ended: WatchEnded,
        /// How long the fallback was published.
        lasted: Duration,
    },
    /// More keys are in an episode than are followed one by one: keys that
    /// start one from now on are followed together, with no alert of their
    /// own.
    KeysUntracked {
        /// How many keys are followed one by one.
        tracked: usize,
    },
    /// Every key followed together loaded again (or was not asked for
    /// during 15 minutes): the end of [`KeysUntracked`](Alert::KeysUntracked).
    KeysUntrackedEnded {
        /// How the episode ended.
        ended: Ended,
        /// How long it lasted.
        lasted: Duration,
        /// Keys that were in it: at most 4,096 are told apart, so past
        /// that this is a lower bound.
        keys: u64,
        /// How their requests were answered meanwhile.
        answered: Answered,
    },
}

/// How a key's episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Ended {
    /// A value was loaded from the source.
    Loaded,
    /// A fresh value written by another instance was found in the shared
    /// cache tier.
    SharedTier,
    /// The key was not asked for during 15 minutes: the episode is
    /// forgotten, and a later failure starts a new one.
    NotRequested,
}

/// How a watch's episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WatchEnded {
    /// A poll answered: the watch is live.
    Live,
    /// The watch stopped during the episode.
    Stopped,
}

/// How the requests an episode covered were answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Answered {
    /// With a stale value.
    pub stale: u64,
    /// By the fallback.
    pub fallback: u64,
    /// With an error.
    pub errors: u64,
}

impl Answered {
    /// Every request counted.
    pub fn total(&self) -> u64 {
        self.stale + self.fallback + self.errors
    }
}

impl Alert {
    /// Whether this alert starts an episode (the others end one).
    pub fn is_start(&self) -> bool {
        matches!(
            self,
            Alert::SourceFailing { .. }
                | Alert::FallbackUsed { .. }
                | Alert::InvalidConfig { .. }
                | Alert::CircuitOpened { .. }
                | Alert::StoreFailing { .. }
                | Alert::KeysUntracked { .. }
                | Alert::WatchStale { .. }
                | Alert::WatchOnFallback { .. }
        )
    }

    /// The key of a per-key episode.
    pub fn key(&self) -> Option<&str> {
        match self {
            Alert::SourceFailing { key, .. }
            | Alert::SourceRecovered { key, .. }
            | Alert::FallbackUsed { key, .. }
            | Alert::FallbackEnded { key, .. }
            | Alert::InvalidConfig { key, .. }
            | Alert::InvalidConfigEnded { key, .. }
            | Alert::WatchStale { key, .. }
            | Alert::WatchRecovered { key, .. }
            | Alert::WatchOnFallback { key }
            | Alert::WatchFallbackEnded { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A duration as an operator reads it: `250ms`, `1.5s`, `2m 5s`, `1h 3m`.
pub(crate) struct Human(pub(crate) Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let secs = d.as_secs();
        if secs == 0 {
            return write!(f, "{}ms", d.as_millis());
        }
        if secs < 60 {
            let millis = d.subsec_millis();
            return match millis {
                0 => write!(f, "{secs}s"),
                _ => write!(
                    f,
                    "{}s",
                    format!("{secs}.{millis:03}").trim_end_matches('0')
                ),
            };
        }
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        match (h, m, s) {
            (0, m, 0) => write!(f, "{m}m"),
            (0, m, s) => write!(f, "{m}m {s}s"),
            (h, 0, _) => write!(f, "{h}h"),
            (h, m, _) => write!(f, "{h}h {m}m"),
        }
    }
}

/// `count` things, in the singular for one: `1 request`, `2 requests`.
struct Count(u64, &'static str);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Count(count, things) = *self;
        match count {
            1 => write!(f, "1 {}", things.strip_suffix('s').unwrap_or(things)),
            _ => write!(f, "{count} {things}"),
        }
    }
}

impl fmt::Display for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} answered meanwhile: {} stale, {} by the fallback, {} with an error",
            Count(self.total(), "requests"),
            self.stale,
            self.fallback,
            self.errors
        )
    }
}

fn after(f: &mut fmt::Formatter<'_>, ended: Ended, lasted: Duration) -> fmt::Result {
    match ended {
        Ended::Loaded => write!(f, "loaded again after {}", Human(lasted)),
        Ended::SharedTier => write!(
            f,
            "fresh again from the shared cache after {}",
            Human(lasted)
        ),
        Ended::NotRequested => write!(
            f,
            "not asked for in 15m; episode closed after {}",
            Human(lasted)
        ),
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Alert::SourceFailing { key, error } => {
                write!(f, "{key}: the source fails: {error}")
            }
            Alert::SourceRecovered {
                key,
                ended,
                lasted,
                failed_loads,
                answered,
            } => {
                write!(f, "{key}: ")?;
                after(f, *ended, *lasted)?;
                write!(f, " ({}; {answered})", Count(*failed_loads, "failed loads"))
            }
            Alert::FallbackUsed { key, error } => {
                write!(f, "{key}: the fallback answers: {error}")
            }
            Alert::FallbackEnded {
                key,
                ended,
                lasted,
                answers,
            } => {
                write!(f, "{key}: ")?;
                after(f, *ended, *lasted)?;
                write!(f, "; the fallback answered {}", Count(*answers, "requests"))
            }
            Alert::InvalidConfig { key, error } => {
                write!(f, "{key}: the source serves an invalid config: {error}")
            }
            Alert::InvalidConfigEnded {
                key,
                ended,
                lasted,
                rejected,
                answered,
            } => {
                write!(f, "{key}: ")?;
                match ended {
                    Ended::Loaded => write!(f, "a valid config loaded after {}", Human(*lasted))?,
                    _ => after(f, *ended, *lasted)?,
                }
                write!(
                    f,
                    " ({} rejected; {answered})",
                    Count(*rejected, "invalid answers")
                )
            }
            Alert::CircuitOpened { open_for, cause } => {
                f.write_str("circuit opened")?;
                if let Some(open_for) = open_for {
                    write!(f, " for {}", Human(*open_for))?;
                }
                write!(f, ": {}", Why(*cause))
            }
            Alert::CircuitClosed {
                lasted,
                reopened,
                rejected,
            } => write!(
                f,
                "circuit closed after {}: the source answers again ({}, {} rejected)",
                Human(*lasted),
                Count(*reopened, "failed probes"),
                Count(*rejected, "calls"),
            ),
            Alert::StoreFailing { op, kind, error } => write!(
                f,
                "cache store failing ({} {kind:?}): {error}; loads go on without it",
                op.as_str()
            ),
            Alert::StoreRecovered { lasted, failures } => write!(
                f,
                "cache store answers again after {} ({} failed)",
                Human(*lasted),
                Count(*failures, "operations"),
            ),
            Alert::WatchStale { key, error, cause } => {
                write!(f, "{key}: the watch is stale ({cause}): {error}")
            }
            Alert::WatchRecovered {
                key,
                ended,
                lasted,
                failed_polls,
            } => {
                match ended {
                    WatchEnded::Live => {
                        write!(f, "{key}: the watch is live again after {}", Human(*lasted))?
                    }
                    _ => write!(f, "{key}: the watch stopped, stale for {}", Human(*lasted))?,
                }
                write!(f, " ({})", Count(*failed_polls, "failed polls"))
            }
            Alert::WatchOnFallback { key } => {
                write!(f, "{key}: the watch started on the fallback")
            }
            Alert::WatchFallbackEnded { key, ended, lasted } => match ended {
                WatchEnded::Live => write!(
                    f,
                    "{key}: the watch publishes the source's value after {} on the fallback",
                    Human(*lasted)
                ),
                _ => write!(
                    f,
                    "{key}: the watch stopped after {} on the fallback",
                    Human(*lasted)
                ),
            },
            Alert::KeysUntracked { tracked } => write!(
                f,
                "more than {tracked} keys in episodes: further keys are reported together"
            ),
            Alert::KeysUntrackedEnded {
                ended,
                lasted,
                keys,
                answered,
            } => {
                match keys {
                    1 => f.write_str("and 1 more key: ")?,
                    _ => write!(f, "and {keys} more keys: ")?,
                }
                match ended {
                    Ended::NotRequested => after(f, *ended, *lasted)?,
                    _ => write!(f, "all loaded again after {}", Human(*lasted))?,
                }
                write!(f, " ({answered})")
            }
        }
    }
}

/// Why a circuit opened, in words.
struct Why(Cause);

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Cause::ConsecutiveFailures { failures } => {
                write!(f, "{failures} consecutive failures")
            }
            Cause::FailureRate { failures, calls } => {
                write!(f, "{failures} of the last {calls} calls failed")
            }
            Cause::SlowCallRate { slow, calls } => {
                write!(f, "{slow} of the last {calls} calls were slow")
            }
            Cause::Forced => f.write_str("forced open"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// A listener for [`Alert`]s.
pub type AlertListener = Arc<dyn Fn(&Alert) + Send + Sync>;
