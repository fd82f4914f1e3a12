//! [`WatchStats`]: a watch's counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a watch's counters.
///
/// Each poll of the source is counted once in `polls` and once in one of
/// `published`, `unchanged`, `ignored` or `errors`; a version read from
/// the fleet's shared copy is counted in `followed` (and, when new, in
/// `published`). Through the `metrics` facade they are
/// `steadfast_config_watch_polls_total`, labelled `outcome` = `published`,
/// `unchanged`, `ignored` or `error`, and
/// `steadfast_config_watch_followed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchStats {
    /// Loads of the source, the first included.
    pub polls: u64,
    /// Versions published, the first included.
    pub published: u64,
    /// Answers equal to the published version, not published again.
    pub unchanged: u64,
    /// Answers refused as going back: a version superseded by the
    /// published one.
    pub ignored: u64,
    /// Polls that failed or timed out, and versions that failed to
    /// decode; the last good value was kept.
    pub errors: u64,
    /// Shared copies read after the fleet's poller wrote a version.
    pub followed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    polls: AtomicU64,
    published: AtomicU64,
    unchanged: AtomicU64,
    ignored: AtomicU64,
    errors: AtomicU64,
    followed: AtomicU64,
}

/// What became of one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Published,
    Unchanged,
    Ignored,
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Published => "published",
            Outcome::Unchanged => "unchanged",
            Outcome::Ignored => "ignored",
            Outcome::Error => "error",
        }
    }
}

impl Counters {
    /// Counts what became of a poll of the source, here and through the
    /// `metrics` facade.
    pub(crate) fn poll(&self, outcome: Outcome) {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.outcome(outcome);
        metrics::counter!("steadfast_config_watch_polls_total", "outcome" => outcome.label())
            .increment(1);
    }

    /// Counts a read of the fleet's shared copy, and a version it
    /// published.
    pub(crate) fn followed(&self, published: bool) {
        self.followed.fetch_add(1, Ordering::Relaxed);
        if published {
            self.published.fetch_add(1, Ordering::Relaxed);
        }
        metrics::counter!("steadfast_config_watch_followed_total").increment(1);
    }

    fn outcome(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Published => &self.published,
            Outcome::Unchanged => &self.unchanged,
            Outcome::Ignored => &self.ignored,
            Outcome::Error => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> WatchStats {
        WatchStats {
            polls: self.polls.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            unchanged: self.unchanged.load(Ordering::Relaxed),
            ignored: self.ignored.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            followed: self.followed.load(Ordering::Relaxed),
        }
    }
}
