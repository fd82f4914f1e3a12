//! A last-known-good snapshot on disk: [`FileStore`].
//!
//! # Files
//!
//! One file per key in the store's directory, named from the key (see
//! below), holding a header, the key and the value as the [`Codec`]
//! encodes it:
//!
//! | bytes  | content                                                      |
//! |--------|--------------------------------------------------------------|
//! | 0..4   | [`MAGIC`] (`SFSN`)                                           |
//! | 4..6   | [`VERSION`], big-endian `u16`                                |
//! | 6..8   | zero                                                         |
//! | 8..16  | wall-clock time of the write, unix milliseconds, `u64`       |
//! | 16..24 | end of the fresh window, milliseconds after the write        |
//! | 24..32 | end of the stale-while-revalidate window, likewise           |
//! | 32..40 | end of the stale-if-error window (the entry's end), likewise |
//! | 40..48 | the writing store's id                                       |
//! | 48..56 | the writing store's sequence number for this write           |
//! | 56..60 | key length, `u32`                                            |
//! | 60..68 | value length, `u64`                                          |
//! | 68..72 | CRC-32 (IEEE) of bytes 0..68, the key and the value          |
//! | 72..   | the key's displayed form (UTF-8), then the encoded value     |
//!
//! The windows are durations from the write, so a later run computes the
//! entry's age from two readings of the wall clock, one at the write and
//! one at the read; a clock that went back counts as no time passed. A
//! file that is not such a snapshot (garbage, truncated, another version,
//! a checksum or codec failure, another key, larger than the directory's
//! byte bound) is a [`Decode`](StoreErrorKind::Decode) error, counted in
//! [`FileStats::corrupt`], logged and removed: a miss for the cache layer,
//! never a crash.
//!
//! A key's file is `<hash>-<escaped>.sfs`: sixteen hex digits of the FNV-1a
//! hash of its displayed form, then that form with every byte but ASCII
//! letters, digits, `_` and `-` written `%XX`, cut to 96 bytes. No key
//! names a path outside the directory or a hidden file. Files the store
//! does not name this way are never read or removed.
//!
//! # Writes
//!
//! Every new version of a key is written on tokio's blocking pool: to a
//! temporary file (`.<store>-<seq>.sfs-tmp`, mode `0600` on Unix), synced,
//! renamed over the key's file, and the directory synced. A reader (in
//! this process or another) sees the old version or the new one, whole; a
//! crash leaves one of them and perhaps a temporary file, removed once it
//! is ten minutes old. An older write of a key never lands after a newer
//! change of it, or after a later [`clear`](Store::clear).
//!
//! The directory is bounded by entry count and by bytes; past either, the
//! least recently written files are removed (also those of other stores
//! sharing the directory). An entry whose file alone is larger than the
//! byte bound is refused with an [`EntryTooLarge`](crate::EntryTooLarge)
//! store error, and its older version removed.
//!
//! # What a look-up answers
//!
//! Nothing fresh: the files are the last good values, for when nothing
//! better is at hand.
//!
//! - An entry this store wrote (this process had it in memory and lost it:
//!   evicted, past a tier's cap, or dropped on another instance's word)
//!   comes back usable only if the source fails (stale-if-error), until
//!   its own end. It never stands in for a fresh load.
//! - An entry found on disk from an earlier run, or written by another
//!   store on the same directory, is a snapshot, served as [`Restore`]
//!   says: by default at once, as stale, while one background refresh
//!   runs, until its last window ends.
//!
//! With provenance on, the cache layer marks either answer
//! [`Source::Stale`](steadfast_core::Source::Stale) and counts it in
//! `stale_served`; the store counts them in [`FileStats::hits`] and
//! [`FileStats::restored`].

mod age;
mod atomic;
mod builder;
mod disk;
mod format;
mod index;
mod name;
mod order;
mod settings;
mod stats;

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use tokio::task::JoinHandle;

pub use builder::{FileBuildError, FileStoreBuilder};
pub use format::{HEADER_LEN, MAGIC, VERSION};
pub use settings::Restore;
pub use stats::FileStats;

use crate::codec::{Codec, JsonCodec};
use crate::store::{Entry, Peek, Store, StoreError, StoreErrorKind};
use disk::Disk;

/// A [`Store`] in a directory: the last known good value of every key, for
/// a process that restarts while its source (and any shared tier) is down.
///
/// It holds no entries in memory ([`peek`](Store::peek) is always
/// [`Peek::Unknown`]) and answers nothing fresh, so it goes behind a
/// [`MemoryStore`](crate::MemoryStore) in a [`Tiered`](crate::Tiered)
/// store, as its last tier. Every clone shares one directory, one set of
/// counters and one order of writes. See the [module docs](self) for the
/// files, their writes and what a look-up answers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast_cache::{CacheLayer, FileStore, MemoryStore, Tiered};
/// use steadfast_config::{ConfigError, ConfigResponse};
///
/// # let dir = std::env::temp_dir().join(format!("steadfast-doc-{}", std::process::id()));
/// let disk = FileStore::<Arc<str>, ConfigResponse>::builder(&dir)
///     .max_entries(256)
///     .max_bytes(16 << 20)
///     .build()?;
/// // The disk holds only what this process wrote: no other writer to
/// // keep memory coherent with, so memory keeps each entry's own windows.
/// let store = Tiered::builder(MemoryStore::new(10_000)?, disk)
///     .l1_ttl_cap(Duration::MAX)
///     .build()?;
/// let cache = CacheLayer::builder::<ConfigResponse, ConfigError>()
///     .ttl(Duration::from_secs(60))
///     .stale_if_error(Duration::from_secs(24 * 3600))
///     .provenance()
///     .store(store)
///     .build()?;
/// # let _ = cache;
/// # let _ = std::fs::remove_dir_all(&dir);
/// # Ok(())
/// # }
/// ```
///
/// With a shared Redis tier in between (feature `redis`), the disk is the
/// last tier of the shared one. The inner [`Tiered`](crate::Tiered) treats
/// Redis as its first tier: give it no L1 cap, so Redis keeps each entry's
/// own windows.
///
/// ```no_run
/// # #[cfg(feature = "redis")]
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use steadfast_cache::redis::RedisStore;
/// use steadfast_cache::{CacheLayer, FileStore, MemoryStore, Tiered};
/// use steadfast_config::{ConfigError, ConfigResponse};
///
/// let redis = RedisStore::<Arc<str>, ConfigResponse>::builder("redis://127.0.0.1:6379")
///     .prefix("myapp:config")
///     .build()?;
/// let disk = FileStore::builder("/var/lib/myapp/config-snapshot").build()?;
/// let shared = Tiered::builder(redis.clone(), disk)
///     .l1_ttl_cap(Duration::MAX)
///     .build()?;
/// let store = Tiered::builder(MemoryStore::new(10_000)?, shared)
///     .l1_ttl_cap(Duration::from_secs(10))
///     .invalidations(redis.invalidations())
///     .build()?;
/// let cache = CacheLayer::builder::<ConfigResponse, ConfigError>()
///     .ttl(Duration::from_secs(60))
///     .stale_if_error(Duration::from_secs(24 * 3600))
///     .provenance()
///     .store(store)
///     .build()?;
/// # let _ = cache;
/// # Ok(())
/// # }
/// # #[cfg(not(feature = "redis"))]
/// # fn main() {}
/// ```
pub struct FileStore<K, V, C = JsonCodec> {
    disk: Arc<Disk<C>>,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V, C> Clone for FileStore<K, V, C> {
    fn clone(&self) -> Self {
        Self {
            disk: Arc::clone(&self.disk),
            _types: PhantomData,
        }
    }
}

impl<K, V, C: fmt::Debug> fmt::Debug for FileStore<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = self.disk.settings();
        f.debug_struct("FileStore")
            .field("dir", &settings.dir)
            .field("max_entries", &settings.max_entries)
            .field("max_bytes", &settings.max_bytes)
            .field("restore", &settings.restore)
            .field("files", &self.disk.files())
            .finish_non_exhaustive()
    }
}

impl<K, V, C> FileStore<K, V, C> {
    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        self.disk.dir()
    }

    /// The store's counters.
    pub fn stats(&self) -> FileStats {
        self.disk.counters.snapshot()
    }

    /// The number of entry files in the directory, as last seen (the
    /// directory is read when a write adds a file or passes a bound).
    pub fn len(&self) -> u64 {
        self.disk.files()
    }

    /// Whether the directory held no entry file when last seen.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Completes when every write, removal and clear called before it is
    /// over: on disk, or failed and counted. For a clean shutdown, or a
    /// test.
    pub async fn flush(&self) {
        self.disk.order.flush().await;
    }
}

/// The runtime to run file I/O on.
fn runtime() -> Result<tokio::runtime::Handle, StoreError> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        StoreError::new(
            StoreErrorKind::Unavailable,
            "a file store needs a tokio runtime to run its file I/O on",
        )
    })
}

/// The outcome of file I/O spawned on the blocking pool. Changes are
/// spawned when they are called, so they run in the order they were
/// given even if the future waiting for them is dropped.
async fn joined<T>(
    task: Result<JoinHandle<Result<T, StoreError>>, StoreError>,
) -> Result<T, StoreError> {
    match task?.await {
        Ok(result) => result,
        Err(error) => Err(StoreError::new(StoreErrorKind::Backend, error)),
    }
}

impl<K, V, C> Store<K, V> for FileStore<K, V, C>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Codec<V>,
{
    fn peek(&self, _key: &K) -> Peek<V> {
        Peek::Unknown
    }

    fn get(&self, key: &K) -> impl Future<Output = Result<Option<Entry<V>>, StoreError>> + Send {
        let disk = Arc::clone(&self.disk);
        let key = key.to_string();
        async move {
            let task = runtime().map(|runtime| {
                runtime.spawn_blocking(move || {
                    let name = name::entry_name(&key);
                    disk.get(&key, &name)
                })
            });
            joined(task).await
        }
    }

    fn put(&self, key: K, entry: Entry<V>) -> impl Future<Output = Result<(), StoreError>> + Send {
        let disk = Arc::clone(&self.disk);
        let key = key.to_string();
        let name = name::entry_name(&key);
        let task = runtime().map(|runtime| {
            let seq = disk.order.call(&name);
            runtime.spawn_blocking(move || disk.put(&key, &name, seq, entry))
        });
        joined(task)
    }

    fn remove(&self, key: &K) -> impl Future<Output = Result<(), StoreError>> + Send {
        let disk = Arc::clone(&self.disk);
        let name = name::entry_name(&key.to_string());
        let task = runtime().map(|runtime| {
            let seq = disk.order.call(&name);
            runtime.spawn_blocking(move || disk.remove(&name, seq))
        });
        joined(task)
    }

    fn clear(&self) -> impl Future<Output = Result<(), StoreError>> + Send {
        let disk = Arc::clone(&self.disk);
        let task = runtime().map(|runtime| {
            let seq = disk.order.call_clear();
            runtime.spawn_blocking(move || disk.clear(seq))
        });
        joined(task)
    }

    fn len_hint(&self) -> u64 {
        self.disk.files()
    }
}
