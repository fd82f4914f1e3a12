//! The blocking work of a [`FileStore`](super::FileStore) on its
//! directory: atomic writes, reads, removals, the bounds. Everything here
//! runs on tokio's blocking pool, never on a runtime thread.

use std::fs::{self, File};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

use super::age::{restored, unix_ms};
use super::atomic::{self, Failed, Stamp};
use super::format::{self, FormatError, Header};
use super::index::{FileMeta, Index, Own};
use super::name;
use super::order::{Order, Turn};
use super::settings::Settings;
use super::stats::Counters;
use crate::codec::Codec;
use crate::store::{Entry, StoreError, StoreErrorKind};
use crate::too_large::EntryTooLarge;

/// Locks spreading the keys' files: changes and reads of one key's file
/// take its lock, so they never interleave.
const STRIPES: usize = 64;

/// Everything every clone of a store shares.
pub(crate) struct Disk<C> {
    settings: Settings,
    codec: C,
    /// This store's id, written into its files: an entry written by any
    /// other id comes from an earlier run or another store.
    writer: u64,
    pub(crate) order: Order,
    stripes: Box<[Mutex<()>]>,
    index: Mutex<Index>,
    /// The number of entry files in the index, readable without its lock.
    files: AtomicU64,
    restoring: AtomicBool,
    pub(crate) counters: Counters,
}

/// Finishes a change in [`Order`] however its work ends.
struct Change<'a> {
    order: &'a Order,
    name: &'a str,
    seq: u64,
    applied: bool,
}

impl Drop for Change<'_> {
    fn drop(&mut self) {
        self.order.finish(self.name, self.seq, self.applied);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn unavailable(error: io::Error) -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, error)
}

fn decode_error(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
    StoreError::new(StoreErrorKind::Decode, error)
}

impl<C> Disk<C> {
    pub(crate) fn new(settings: Settings, codec: C) -> Self {
        Self {
            settings,
            codec,
            writer: fastrand::u64(..),
            order: Order::new(),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            index: Mutex::new(Index::default()),
            files: AtomicU64::new(0),
            restoring: AtomicBool::new(false),
            counters: Counters::new(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.settings.dir
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The number of entry files, as last seen.
    pub(crate) fn files(&self) -> u64 {
        self.files.load(Ordering::Relaxed)
    }

    fn stripe(&self, name: &str) -> MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        name.hash(&mut hasher);
        lock(&self.stripes[hasher.finish() as usize % STRIPES])
    }

    fn path(&self, name: &str) -> PathBuf {
        self.settings.dir.join(name)
    }

    fn with_index<T>(&self, f: impl FnOnce(&mut Index) -> T) -> T {
        let mut index = lock(&self.index);
        let out = f(&mut index);
        self.files
            .store(index.files.len() as u64, Ordering::Relaxed);
        out
    }

    /// Looks the entry of `key` up.
    pub(crate) fn get<V>(&self, key: &str, name: &str) -> Result<Option<Entry<V>>, StoreError>
    where
        C: Codec<V>,
    {
        let _key = self.stripe(name);
        self.counters.reads();
        let path = self.path(name);
        let (bytes, stamp) = match self.read(&path) {
            Ok(Some(read)) => read,
            Ok(None) => {
                self.counters.misses();
                return Ok(None);
            }
            Err(Unreadable::Io(error)) => {
                self.counters.read_errors();
                self.counters.trouble(self.dir(), "read", &error);
                return Err(unavailable(error));
            }
            Err(Unreadable::Corrupt(why, stamp)) => return Err(self.corrupt(name, stamp, why)),
        };
        let now = Instant::now();
        let wall = (self.settings.clock)();
        let parsed = match format::parse(&bytes) {
            Ok(parsed) if parsed.key == key => parsed,
            Ok(_) => return Err(self.corrupt(name, Some(stamp), FormatError::Key.into())),
            Err(why) => return Err(self.corrupt(name, Some(stamp), why.into())),
        };
        let value = match self.codec.decode(parsed.value) {
            Ok(value) => value,
            Err(why) => return Err(self.corrupt(name, Some(stamp), why)),
        };
        let header = parsed.header;
        let own = self
            .with_index(|index| index.files.get(name).and_then(|m| m.own))
            .filter(|own| header.writer == self.writer && own.seq == header.seq);
        let entry = match own {
            // This process had it in memory and lost it (evicted, or
            // dropped on another instance's word): only a last resort.
            Some(own) => Entry {
                value,
                fresh_until: now.min(own.expires_at),
                revalidate_until: now.min(own.expires_at),
                expires_at: own.expires_at,
            },
            None => match restored(&header, unix_ms(wall), now, self.settings.restore) {
                Some((fresh_until, revalidate_until, expires_at)) => Entry {
                    value,
                    fresh_until,
                    revalidate_until,
                    expires_at,
                },
                None => {
                    self.counters.expired();
                    self.remove_if_unchanged(name, stamp);
                    tracing::debug!(key, "snapshot past its last window; removed");
                    return Ok(None);
                }
            },
        };
        if entry.expires_at <= now {
            self.counters.expired();
            self.remove_if_unchanged(name, stamp);
            return Ok(None);
        }
        if own.is_some() {
            self.counters.hits();
        } else {
            self.counters.restored();
            let age_ms = unix_ms(wall).saturating_sub(header.written_ms);
            if !self.restoring.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    dir = %self.dir().display(),
                    key,
                    age_ms,
                    "serving a snapshot restored from disk, as stale"
                );
            } else {
                tracing::debug!(
                    key,
                    age_ms,
                    "serving a snapshot restored from disk, as stale"
                );
            }
        }
        Ok(Some(entry))
    }

    /// The bytes of the file at `path` and what they were read from;
    /// `None` when there is none.
    fn read(&self, path: &Path) -> Result<Option<(Vec<u8>, Stamp)>, Unreadable> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Unreadable::Io(error)),
        };
        let meta = file.metadata().map_err(Unreadable::Io)?;
        if !meta.is_file() {
            return Err(Unreadable::Corrupt("not a regular file".into(), None));
        }
        if meta.len() > self.settings.max_bytes {
            let why = format!(
                "file of {} bytes is larger than the directory's bound of {}",
                meta.len(),
                self.settings.max_bytes
            );
            return Err(Unreadable::Corrupt(why.into(), Some(Stamp::of(&meta))));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        (&mut file)
            .take(self.settings.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(Unreadable::Io)?;
        Ok(Some((bytes, Stamp::of(&meta))))
    }

    /// Counts, logs and removes the unreadable file `name` (if it is a
    /// file, of version `stamp`); the error to answer with.
    fn corrupt(
        &self,
        name: &str,
        stamp: Option<Stamp>,
        why: Box<dyn std::error::Error + Send + Sync>,
    ) -> StoreError {
        self.counters.corrupt();
        tracing::warn!(
            file = %self.path(name).display(),
            error = %why,
            "unreadable snapshot file; removed, read as a miss"
        );
        if let Some(stamp) = stamp {
            self.remove_if_unchanged(name, stamp);
        }
        decode_error(why)
    }

    /// Removes the file `name` if it is still the version `stamp` (another
    /// process may have replaced it since); whether it did. Hold its lock.
    fn remove_if_unchanged(&self, name: &str, stamp: Stamp) -> bool {
        let path = self.path(name);
        let same = fs::symlink_metadata(&path).is_ok_and(|now| Stamp::of(&now) == stamp);
        let removed = same && fs::remove_file(&path).is_ok();
        if removed {
            self.with_index(|index| index.remove(name));
        }
        removed
    }

    /// Writes `entry` as the newest version of `key`, unless a newer change
    /// was called meanwhile.
    pub(crate) fn put<V>(
        &self,
        key: &str,
        name: &str,
        seq: u64,
        entry: Entry<V>,
    ) -> Result<(), StoreError>
    where
        C: Codec<V>,
    {
        let now = Instant::now();
        let wall = unix_ms((self.settings.clock)());
        if entry.expires_at <= now {
            return self.remove(name, seq);
        }
        let header = Header {
            written_ms: wall,
            fresh_ms: format::window_ms(entry.fresh_until.saturating_duration_since(now)),
            revalidate_ms: format::window_ms(entry.revalidate_until.saturating_duration_since(now)),
            expires_ms: format::window_ms(entry.expires_at.saturating_duration_since(now)),
            writer: self.writer,
            seq,
        };
        let mut bytes = Vec::new();
        format::start(&header, key, &mut bytes);
        let encoded = self
            .codec
            .encode(&entry.value, &mut bytes)
            .map_err(|e| StoreError::new(StoreErrorKind::Encode, e))
            .and_then(|()| {
                format::finish(&mut bytes, key.len()).ok_or_else(|| {
                    StoreError::new(StoreErrorKind::Encode, "key too long for a snapshot file")
                })
            });
        if let Err(error) = encoded {
            drop(Change {
                order: &self.order,
                name,
                seq,
                applied: false,
            });
            return Err(error);
        }
        let size = bytes.len() as u64;
        if size > self.settings.max_bytes {
            self.counters.refused();
            // No older version may outlive the refused one.
            let _ = self.remove(name, seq);
            let cause = EntryTooLarge::new(size, self.settings.max_bytes);
            return Err(StoreError::new(StoreErrorKind::Backend, cause));
        }

        let key_lock = self.stripe(name);
        let mut change = Change {
            order: &self.order,
            name,
            seq,
            applied: false,
        };
        if self.order.write_turn(name, seq) == Turn::Superseded {
            self.counters.superseded();
            return Ok(());
        }
        let temp = self.path(&name::temp_name(self.writer, seq));
        let written = match atomic::replace(self.dir(), &temp, &self.path(name), &bytes) {
            Ok(written) => written,
            Err(Failed::Before(error)) => {
                self.counters.write_errors();
                self.counters.trouble(self.dir(), "write", &error);
                return Err(unavailable(error));
            }
            Err(Failed::Sync(error, written)) => {
                change.applied = true;
                self.record(name, written, seq, &entry);
                self.counters.write_errors();
                self.counters.trouble(self.dir(), "sync", &error);
                return Err(unavailable(error));
            }
        };
        change.applied = true;
        self.counters.writes();
        self.counters.healthy(self.dir());
        let check = self.record(name, written, seq, &entry);
        drop(change);
        drop(key_lock);
        if check {
            self.keep_bounds(name);
        }
        Ok(())
    }

    /// Records the file just written; whether the bounds must be checked
    /// (a new file, or more than the bounds).
    fn record<V>(&self, name: &str, written: Stamp, seq: u64, entry: &Entry<V>) -> bool {
        let own = Own {
            seq,
            expires_at: entry.expires_at,
        };
        let meta = FileMeta {
            stamp: written,
            own: Some(own),
        };
        self.with_index(|index| {
            let new = index.insert(name, meta);
            new || index.files.len() > self.settings.max_entries
                || index.bytes > self.settings.max_bytes
        })
    }

    /// Removes the file of `name`, unless a newer change already landed.
    pub(crate) fn remove(&self, name: &str, seq: u64) -> Result<(), StoreError> {
        let _key = self.stripe(name);
        let mut change = Change {
            order: &self.order,
            name,
            seq,
            applied: false,
        };
        if self.order.remove_turn(name, seq) == Turn::Superseded {
            self.counters.superseded();
            return Ok(());
        }
        change.applied = true;
        match fs::remove_file(self.path(name)) {
            Ok(()) => {
                self.counters.removals();
                self.with_index(|index| index.remove(name));
                Ok(())
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                self.with_index(|index| index.remove(name));
                Ok(())
            }
            Err(error) => {
                self.counters.write_errors();
                self.counters.trouble(self.dir(), "remove", &error);
                Err(unavailable(error))
            }
        }
    }

    /// Removes every entry file but those this store wrote after clear
    /// `seq` was called.
    pub(crate) fn clear(&self, seq: u64) -> Result<(), StoreError> {
        let _keys: Vec<_> = self.stripes.iter().map(lock).collect();
        let result = self.with_index(|index| {
            self.rescan(index)?;
            let doomed: Vec<Box<str>> = index
                .files
                .iter()
                .filter(|(_, meta)| meta.own.is_none_or(|own| own.seq < seq))
                .map(|(name, _)| name.clone())
                .collect();
            for name in doomed {
                match fs::remove_file(self.path(&name)) {
                    Ok(()) => self.counters.removals(),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                    Err(error) => return Err(error),
                }
                index.remove(&name);
            }
            Ok(())
        });
        self.order.finish_clear(seq);
        result.map_err(|error| {
            self.counters.write_errors();
            self.counters.trouble(self.dir(), "clear", &error);
            unavailable(error)
        })
    }

    /// Reads the directory into `index`, counting what it cleaned up.
    fn rescan(&self, index: &mut Index) -> io::Result<()> {
        for _ in 0..index.rescan(self.dir())? {
            self.counters.abandoned_temp_files();
        }
        Ok(())
    }

    /// Removes the least recently written files (never `keep`, just
    /// written) until the directory is within its bounds.
    fn keep_bounds(&self, keep: &str) {
        let victims = self.with_index(|index| match self.rescan(index) {
            Ok(()) => index.victims(keep, self.settings.max_entries, self.settings.max_bytes),
            Err(error) => {
                self.counters.trouble(self.dir(), "scan", &error);
                Vec::new()
            }
        });
        for (name, stamp) in victims {
            let _key = self.stripe(&name);
            if self.remove_if_unchanged(&name, stamp) {
                self.counters.evictions();
                tracing::debug!(
                    file = %self.path(&name).display(),
                    "evicted to keep the snapshot directory within its bounds"
                );
            }
        }
    }
}

/// Why a file could not be read.
enum Unreadable {
    Io(io::Error),
    /// With the version read, when it is a regular file.
    Corrupt(Box<dyn std::error::Error + Send + Sync>, Option<Stamp>),
}
