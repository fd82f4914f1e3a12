//! A directory of its own for one test, removed when the test ends.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub(crate) struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// A new, empty directory named after `test`.
    pub(crate) fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "steadfast-{test}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the files in `dir`, sorted.
    pub(crate) fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// The names of the files in this directory, sorted.
    pub(crate) fn files(&self) -> Vec<String> {
        Self::files_in(&self.path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
