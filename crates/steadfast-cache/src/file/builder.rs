//! [`FileStoreBuilder`]: the settings of a [`FileStore`].

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::FileStore;
use super::disk::Disk;
use super::format::HEADER_LEN;
use super::settings::{Restore, Settings, WallClock};
use crate::codec::{Codec, JsonCodec};

/// A bad [`FileStore`] configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileBuildError {
    /// The directory path is empty.
    EmptyPath,
    /// The directory would hold no entry.
    ZeroEntries,
    /// The byte bound is smaller than one file's header.
    TooFewBytes,
}

impl fmt::Display for FileBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            FileBuildError::EmptyPath => "snapshot directory path is empty",
            FileBuildError::ZeroEntries => "snapshot directory must hold at least one entry",
            FileBuildError::TooFewBytes => {
                "snapshot directory byte bound is smaller than one file's header"
            }
        })
    }
}

impl Error for FileBuildError {}

/// Builds a [`FileStore`]; see [`FileStore::builder`].
pub struct FileStoreBuilder<K, V, C = JsonCodec> {
    dir: PathBuf,
    max_entries: usize,
    max_bytes: u64,
    restore: Restore,
    clock: WallClock,
    codec: C,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V, C: fmt::Debug> fmt::Debug for FileStoreBuilder<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileStoreBuilder")
            .field("dir", &self.dir)
            .field("max_entries", &self.max_entries)
            .field("max_bytes", &self.max_bytes)
            .field("restore", &self.restore)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl<K, V> FileStore<K, V, JsonCodec> {
    /// Starts building a store keeping its files in `dir` (created on the
    /// first write, with its missing parents), values encoded as JSON.
    pub fn builder(dir: impl Into<PathBuf>) -> FileStoreBuilder<K, V, JsonCodec> {
        FileStoreBuilder {
            dir: dir.into(),
            max_entries: 1_024,
            max_bytes: 64 << 20,
            restore: Restore::default(),
            clock: Arc::new(SystemTime::now),
            codec: JsonCodec,
            _types: PhantomData,
        }
    }
}

impl<K, V, C> FileStoreBuilder<K, V, C> {
    /// The most entries the directory holds (default 1,024); past it, the
    /// least recently written are removed.
    pub fn max_entries(mut self, max_entries: usize) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// The most bytes the entries' files take together (default 64 MiB);
    /// past it, the least recently written are removed. An entry whose
    /// file alone is larger is refused.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// How entries found on disk from an earlier run are served (default
    /// [`Restore::Revalidate`]).
    pub fn restore(mut self, restore: Restore) -> Self {
        self.restore = restore;
        self
    }

    /// Reads the wall clock with `clock` instead of
    /// [`SystemTime::now`]: the time recorded at a write, and the time an
    /// entry's age is computed at when a later run reads it back.
    pub fn wall_clock<F>(mut self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        self.clock = Arc::new(clock);
        self
    }

    /// Encodes values with `codec` instead of JSON.
    pub fn codec<C2>(self, codec: C2) -> FileStoreBuilder<K, V, C2> {
        FileStoreBuilder {
            dir: self.dir,
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            restore: self.restore,
            clock: self.clock,
            codec,
            _types: PhantomData,
        }
    }

    /// The store. It touches no file yet: a directory that cannot be
    /// written shows as counted errors when the store is used, never as a
    /// failed build.
    pub fn build(self) -> Result<FileStore<K, V, C>, FileBuildError>
    where
        C: Codec<V>,
    {
        if self.dir.as_os_str().is_empty() {
            return Err(FileBuildError::EmptyPath);
        }
        if self.max_entries == 0 {
            return Err(FileBuildError::ZeroEntries);
        }
        if self.max_bytes <= HEADER_LEN as u64 {
            return Err(FileBuildError::TooFewBytes);
        }
        let settings = Settings {
            dir: self.dir,
            max_entries: self.max_entries,
            max_bytes: self.max_bytes,
            restore: self.restore,
            clock: self.clock,
        };
        Ok(FileStore {
            disk: Arc::new(Disk::new(settings, self.codec)),
            _types: PhantomData,
        })
    }
}
