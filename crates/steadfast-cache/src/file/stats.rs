//! The counters of a [`FileStore`](super::FileStore), and the episodes its
//! warnings describe.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use metrics::Counter;

/// A snapshot of a [`FileStore`](super::FileStore)'s counters, from
/// [`FileStore::stats`](super::FileStore::stats).
///
/// Every clone of a store shares them. The same counts go to the `metrics`
/// facade as `steadfast_cache_file_<field>_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileStats {
    /// Look-ups ([`Store::get`](crate::Store::get)).
    pub reads: u64,
    /// Look-ups answered with an entry this store wrote: usable only if
    /// the source fails.
    pub hits: u64,
    /// Look-ups answered with an entry found on disk from an earlier run or
    /// another store: served as stale, never fresh.
    pub restored: u64,
    /// Look-ups that found no file.
    pub misses: u64,
    /// Files found past their entry's end, and removed.
    pub expired: u64,
    /// Files that were not readable snapshots (garbage, truncated, another
    /// format version, a checksum or codec failure, another key), and
    /// were removed.
    pub corrupt: u64,
    /// Look-ups that failed on the file system.
    pub read_errors: u64,
    /// Entries written to disk.
    pub writes: u64,
    /// Writes, removals and clears that failed on the file system.
    pub write_errors: u64,
    /// Writes and removals skipped because a newer change of the same key
    /// (or, for a write, a later clear) made them moot.
    pub superseded: u64,
    /// Entries refused because their file would be larger than the
    /// directory's byte bound.
    pub refused: u64,
    /// Files removed by [`Store::remove`](crate::Store::remove) and
    /// [`Store::clear`](crate::Store::clear).
    pub removals: u64,
    /// Files removed to keep the directory within its bounds.
    pub evictions: u64,
    /// Files left by a write that never finished, removed.
    pub abandoned_temp_files: u64,
}

macro_rules! counters {
    ($($field:ident => $metric:literal,)*) => {
        /// The atomic counters behind [`FileStats`], with their `metrics`
        /// handles.
        pub(crate) struct Counters {
            $($field: (AtomicU64, Counter),)*
            /// Whether the directory is failing: its warnings describe
            /// episodes, not single operations.
            failing: AtomicBool,
        }

        impl Counters {
            pub(crate) fn new() -> Self {
                Self {
                    $($field: (AtomicU64::new(0), metrics::counter!($metric)),)*
                    failing: AtomicBool::new(false),
                }
            }

            $(
                pub(crate) fn $field(&self) {
                    self.$field.0.fetch_add(1, Relaxed);
                    self.$field.1.increment(1);
                }
            )*

            pub(crate) fn snapshot(&self) -> FileStats {
                FileStats {
                    $($field: self.$field.0.load(Relaxed),)*
                }
            }
        }
    };
}

counters! {
    reads => "steadfast_cache_file_reads_total",
    hits => "steadfast_cache_file_hits_total",
    restored => "steadfast_cache_file_restored_total",
    misses => "steadfast_cache_file_misses_total",
    expired => "steadfast_cache_file_expired_total",
    corrupt => "steadfast_cache_file_corrupt_total",
    read_errors => "steadfast_cache_file_read_errors_total",
    writes => "steadfast_cache_file_writes_total",
    write_errors => "steadfast_cache_file_write_errors_total",
    superseded => "steadfast_cache_file_superseded_total",
    refused => "steadfast_cache_file_refused_total",
    removals => "steadfast_cache_file_removals_total",
    evictions => "steadfast_cache_file_evictions_total",
    abandoned_temp_files => "steadfast_cache_file_abandoned_temp_files_total",
}

impl Counters {
    /// Records a file-system failure: one warning when the directory starts
    /// failing, debug lines while it goes on.
    pub(crate) fn trouble(&self, dir: &std::path::Path, op: &'static str, error: &std::io::Error) {
        if self.failing.swap(true, Relaxed) {
            tracing::debug!(dir = %dir.display(), op, %error, "snapshot directory still failing");
        } else {
            tracing::warn!(
                dir = %dir.display(),
                op,
                %error,
                "snapshot directory failing; going on without it"
            );
        }
    }

    /// Records a write that worked: ends a failing episode, if one is on.
    pub(crate) fn healthy(&self, dir: &std::path::Path) {
        if self.failing.swap(false, Relaxed) {
            tracing::warn!(dir = %dir.display(), "snapshot directory works again");
        }
    }
}
