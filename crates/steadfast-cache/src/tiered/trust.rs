//! How long L1 trusts a copy, apart from the copy's own windows.
//!
//! An L1 copy keeps the entry's own stale windows; only its fresh window
//! is cut at the L1 TTL cap. When the cap did cut it, the entry's own end
//! of freshness is kept here, so that a copy past the cap but still fresh
//! by its own windows is served as fresh while it is checked against L2.

use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use quick_cache::sync::Cache;
use tokio::time::Instant;

use crate::store::Entry;

/// The longest a failed check of a copy against L2 holds off the next one.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// A copy whose fresh window the cap cut.
pub(super) struct Trust {
    /// The entry's own end of freshness.
    pub(super) fresh_until: Instant,
    /// The copy's other deadlines, which tell this copy from a later one
    /// of the same key.
    revalidate_until: Instant,
    expires_at: Instant,
    /// Whether a check against L2 is running.
    busy: AtomicBool,
    /// No check before this instant (after a failed one).
    retry_at: Mutex<Option<Instant>>,
}

impl Trust {
    /// Claims the check of this copy against L2 at `now`: `false` while
    /// one runs, or shortly after one failed.
    pub(super) fn claim(&self, now: Instant) -> bool {
        let retry_at = *self.retry_at.lock().unwrap_or_else(PoisonError::into_inner);
        if retry_at.is_some_and(|at| now < at) {
            return false;
        }
        !self.busy.swap(true, Ordering::AcqRel)
    }

    /// Ends a check claimed with [`claim`](Self::claim); one that could not
    /// reach L2 holds off the next for a while (at most a second, at most
    /// `cap`).
    pub(super) fn done(&self, reached: bool, now: Instant, cap: Duration) {
        if !reached {
            let at = now.checked_add(cap.min(RETRY_AFTER_FAILURE));
            *self.retry_at.lock().unwrap_or_else(PoisonError::into_inner) = at;
        }
        self.busy.store(false, Ordering::Release);
    }
}

/// The copies whose fresh window the cap cut, by key hash.
pub(super) struct TrustMap {
    copies: Cache<u64, Arc<Trust>>,
    hasher: RandomState,
}

impl TrustMap {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            copies: Cache::new(capacity.max(1)),
            hasher: RandomState::new(),
        }
    }

    pub(super) fn hash<K: Hash>(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The L1 copy of `entry` written at `now` under a cap of `cap`: its
    /// fresh window ends at the cap at the latest, its other windows are
    /// its own.
    pub(super) fn cap<V>(
        &self,
        hash: u64,
        mut entry: Entry<V>,
        now: Instant,
        cap: Duration,
    ) -> Entry<V> {
        if let Some(limit) = now.checked_add(cap)
            && entry.fresh_until > limit
        {
            self.copies.insert(
                hash,
                Arc::new(Trust {
                    fresh_until: entry.fresh_until,
                    revalidate_until: entry.revalidate_until,
                    expires_at: entry.expires_at,
                    busy: AtomicBool::new(false),
                    retry_at: Mutex::new(None),
                }),
            );
            entry.fresh_until = limit;
        }
        entry
    }

    /// What is kept of the L1 copy `copy`, if its fresh window was cut.
    pub(super) fn of<V>(&self, hash: u64, copy: &Entry<V>) -> Option<Arc<Trust>> {
        self.copies.get(&hash).filter(|trust| {
            trust.revalidate_until == copy.revalidate_until
                && trust.expires_at == copy.expires_at
                && trust.fresh_until >= copy.fresh_until
        })
    }

    /// The L1 copy `copy` with its own fresh window.
    pub(super) fn own<V>(&self, hash: u64, mut copy: Entry<V>) -> Entry<V> {
        if let Some(trust) = self.of(hash, &copy) {
            copy.fresh_until = trust.fresh_until;
        }
        copy
    }

    pub(super) fn forget(&self, hash: u64) {
        self.copies.remove(&hash);
    }

    pub(super) fn clear(&self) {
        self.copies.clear();
    }
}
