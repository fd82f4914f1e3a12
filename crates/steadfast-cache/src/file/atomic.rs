//! Replacing a file atomically and durably: a reader sees the old version
//! or the new one, whole, and a crash at any point leaves one of them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which version of a file this is: another process may replace a file
/// between two looks at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) len: u64,
    pub(crate) modified: SystemTime,
}

impl Stamp {
    pub(crate) fn of(meta: &fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            modified: meta.modified().unwrap_or(UNIX_EPOCH),
        }
    }
}

/// Why a write failed: before the new version was in place, or after
/// (the directory could not be made durable).
pub(crate) enum Failed {
    /// The new version is not in place; the old one is untouched.
    Before(io::Error),
    /// The new version is in place, but the directory could not be made
    /// durable: a crash may still bring the old one back.
    Sync(io::Error, Stamp),
}

/// A file being written, with the mode a snapshot of configuration should
/// have: readable by its owner only.
fn create_new(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// The directory with its missing parents, open to its owner only.
fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Writes `bytes` to the new file `temp` in `dir` (making `dir` if it is
/// missing), syncs it and renames it over `target`, then syncs `dir`. The
/// version written.
pub(crate) fn replace(
    dir: &Path,
    temp: &Path,
    target: &Path,
    bytes: &[u8],
) -> Result<Stamp, Failed> {
    let staged = (|| {
        let mut file = match create_new(temp) {
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                create_dir(dir)?;
                create_new(temp)?
            }
            other => other?,
        };
        file.write_all(bytes)?;
        file.sync_all()?;
        let meta = file.metadata()?;
        drop(file);
        fs::rename(temp, target)?;
        Ok(Stamp::of(&meta))
    })();
    let written = staged.map_err(|error: io::Error| {
        let _ = fs::remove_file(temp);
        Failed::Before(error)
    })?;
    sync_dir(dir).map_err(|error| Failed::Sync(error, written))?;
    Ok(written)
}
