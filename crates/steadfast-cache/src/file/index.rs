//! What a store knows of its directory: the entry files, their versions
//! and sizes, which of them it wrote; read afresh from the directory when
//! it matters, and the order files are evicted in.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::atomic::Stamp;
use super::name::{self, Kind};

/// How old a file left by an unfinished write must be before it is
/// removed: younger ones may belong to a write under way in another
/// process sharing the directory.
const TEMP_GRACE: Duration = Duration::from_secs(10 * 60);

/// An entry this store wrote, with its end exactly as it was given (the
/// file's windows are whole milliseconds of the wall clock).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Own {
    pub(crate) seq: u64,
    pub(crate) expires_at: Instant,
}

/// What is known of one entry file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileMeta {
    pub(crate) stamp: Stamp,
    pub(crate) own: Option<Own>,
}

/// The entry files of the directory, as last seen.
#[derive(Debug, Default)]
pub(crate) struct Index {
    pub(crate) files: HashMap<Box<str>, FileMeta>,
    pub(crate) bytes: u64,
}

impl Index {
    /// Records `meta` for `name`; whether the name is new.
    pub(crate) fn insert(&mut self, name: &str, meta: FileMeta) -> bool {
        let old = self.files.insert(Box::from(name), meta);
        self.bytes = self
            .bytes
            .saturating_sub(old.map_or(0, |m| m.stamp.len))
            .saturating_add(meta.stamp.len);
        old.is_none()
    }

    /// Forgets `name`.
    pub(crate) fn remove(&mut self, name: &str) {
        if let Some(old) = self.files.remove(name) {
            self.bytes = self.bytes.saturating_sub(old.stamp.len);
        }
    }

    /// Reads `dir` afresh (keeping what is known of this store's own files
    /// that did not change since), and removes files left by writes that
    /// never finished; how many of those it removed.
    pub(crate) fn rescan(&mut self, dir: &Path) -> io::Result<u64> {
        let listing = match fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                *self = Index::default();
                return Ok(0);
            }
            Err(error) => return Err(error),
        };
        let mut seen = Index::default();
        let mut abandoned = 0;
        let now = SystemTime::now();
        for item in listing {
            let item = item?;
            let Ok(file_name) = item.file_name().into_string() else {
                continue;
            };
            let kind = name::kind(&file_name);
            if kind == Kind::Other {
                continue;
            }
            let Ok(meta) = item.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let stamp = Stamp::of(&meta);
            if kind == Kind::Temp {
                let age = now.duration_since(stamp.modified).unwrap_or_default();
                if age >= TEMP_GRACE && fs::remove_file(item.path()).is_ok() {
                    abandoned += 1;
                    tracing::info!(
                        file = %item.path().display(),
                        "removed a snapshot file left by a write that never finished"
                    );
                }
                continue;
            }
            let own = self
                .files
                .get(file_name.as_str())
                .filter(|known| known.stamp == stamp)
                .and_then(|known| known.own);
            seen.insert(&file_name, FileMeta { stamp, own });
        }
        *self = seen;
        Ok(abandoned)
    }

    /// The least recently written files (never `keep`) to remove for the
    /// rest to fit `max_entries` and `max_bytes`, with their versions.
    pub(crate) fn victims(
        &self,
        keep: &str,
        max_entries: usize,
        max_bytes: u64,
    ) -> Vec<(Box<str>, Stamp)> {
        // File times are coarse (a clock tick): this store's own writes
        // within one tick go by their order.
        let mut by_age: Vec<(SystemTime, u64, &str, Stamp)> = self
            .files
            .iter()
            .filter(|(name, _)| &***name != keep)
            .map(|(name, meta)| {
                let seq = meta.own.map_or(0, |own| own.seq);
                (meta.stamp.modified, seq, &**name, meta.stamp)
            })
            .collect();
        by_age.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        let (mut count, mut bytes) = (self.files.len(), self.bytes);
        let mut victims = Vec::new();
        for (_, _, name, stamp) in by_age {
            if count <= max_entries && bytes <= max_bytes {
                break;
            }
            count -= 1;
            bytes = bytes.saturating_sub(stamp.len);
            victims.push((Box::<str>::from(name), stamp));
        }
        victims
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(len: u64, modified: u64, seq: Option<u64>) -> FileMeta {
        FileMeta {
            stamp: Stamp {
                len,
                modified: SystemTime::UNIX_EPOCH + Duration::from_secs(modified),
            },
            own: seq.map(|seq| Own {
                seq,
                expires_at: Instant::now(),
            }),
        }
    }

    #[test]
    fn the_least_recently_written_go_first_and_own_writes_of_one_tick_by_order() {
        let mut index = Index::default();
        index.insert("old", meta(10, 1, None));
        index.insert("tick-second", meta(10, 2, Some(8)));
        index.insert("tick-first", meta(10, 2, Some(7)));
        index.insert("new", meta(10, 3, Some(9)));
        assert_eq!(index.bytes, 40);
        let names = |victims: Vec<(Box<str>, Stamp)>| -> Vec<String> {
            victims.into_iter().map(|(name, _)| name.into()).collect()
        };
        assert_eq!(
            names(index.victims("new", 2, u64::MAX)),
            ["old", "tick-first"]
        );
        assert_eq!(
            names(index.victims("old", 2, u64::MAX)),
            ["tick-first", "tick-second"]
        );
        assert_eq!(names(index.victims("new", 10, 25)), ["old", "tick-first"]);
        assert!(index.victims("new", 4, 40).is_empty());
        index.remove("old");
        index.insert("new", meta(30, 4, Some(10)));
        assert_eq!((index.files.len(), index.bytes), (3, 50));
    }
}
