//! Captures what `tracing` logs on the current thread, one line per event
//! (`LEVEL target: message fields`), for tests that count log lines.
//!
//! One global subscriber (at debug level) writes each event to a buffer of
//! the thread that logged it, so tests running side by side on their own
//! threads (a `#[tokio::test]` runs everything on its thread) each see
//! their own lines only. A global subscriber also keeps every callsite
//! enabled, whatever ran first.
#![allow(dead_code)]

use std::cell::RefCell;
use std::io::Write;
use std::sync::Once;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

struct ThreadBuffer;

impl Write for ThreadBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        BUFFER.with(|buffer| buffer.borrow_mut().extend_from_slice(bytes));
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What this thread logged since [`capture`].
pub(crate) struct Logs(());

/// Starts capturing this thread's log lines, dropping any captured before.
pub(crate) fn capture() -> Logs {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing_subscriber::fmt()
            .with_writer(|| ThreadBuffer)
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .init();
    });
    BUFFER.with(|buffer| buffer.borrow_mut().clear());
    Logs(())
}

impl Logs {
    /// Every line so far.
    pub(crate) fn all(&self) -> Vec<String> {
        BUFFER.with(|buffer| {
            String::from_utf8_lossy(&buffer.borrow())
                .lines()
                .map(|line| line.trim().to_owned())
                .collect()
        })
    }

    /// The lines at `level` (`"WARN"`, `"INFO"`, `"DEBUG"`).
    pub(crate) fn at(&self, level: &str) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|line| line.split_whitespace().next() == Some(level))
            .collect()
    }

    /// The warnings so far.
    pub(crate) fn warnings(&self) -> Vec<String> {
        self.at("WARN")
    }

    /// The info lines so far.
    pub(crate) fn infos(&self) -> Vec<String> {
        self.at("INFO")
    }

    /// The lines at `level` whose message contains `text`.
    pub(crate) fn count(&self, level: &str, text: &str) -> usize {
        self.at(level)
            .iter()
            .filter(|line| line.contains(text))
            .count()
    }
}
