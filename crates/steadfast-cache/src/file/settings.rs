//! What a [`FileStore`](super::FileStore) was configured with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// How an entry found on disk, written by an earlier run or another store,
/// is served. Either way it is never fresh: the cache layer serves it as
/// stale (`Source::Stale` with provenance on) and counts it in
/// `stale_served`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Restore {
    /// Serve it at once while one background refresh runs, until the end
    /// of the entry's last window (its stale-if-error end). A restart
    /// during an outage starts on the last good value without waiting for
    /// the source to fail first; a restart with the source up serves the
    /// snapshot to the first callers while the refresh loads.
    #[default]
    Revalidate,
    /// Keep the entry's own windows: served at once (as stale, while one
    /// refresh runs) only while it would have been fresh or revalidatable,
    /// then only after the source has failed (stale-if-error).
    KeepWindows,
}

/// A wall clock: the time snapshots are written and read at.
pub(crate) type WallClock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// What a store was configured with.
pub(crate) struct Settings {
    pub(crate) dir: PathBuf,
    pub(crate) max_entries: usize,
    pub(crate) max_bytes: u64,
    pub(crate) restore: Restore,
    pub(crate) clock: WallClock,
}
