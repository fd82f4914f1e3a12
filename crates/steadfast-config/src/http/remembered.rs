//! The last `ETag` and body per key, for conditional GETs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::HeaderValue;

use crate::Format;

/// A bounded map from request key to the last body the server tagged; the
/// least recently used entry goes first when it is full.
#[derive(Debug)]
pub(crate) struct Remembered {
    capacity: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<Arc<str>, Entry>,
    tick: u64,
}

/// One remembered body.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) etag: HeaderValue,
    pub(crate) version: Arc<str>,
    pub(crate) body: Bytes,
    pub(crate) format: Format,
    used: u64,
}

impl Entry {
    pub(crate) fn new(etag: HeaderValue, version: Arc<str>, body: Bytes, format: Format) -> Self {
        Self {
            etag,
            version,
            body,
            format,
            used: 0,
        }
    }
}

impl Remembered {
    /// A map of at most `capacity` entries; zero remembers nothing.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The remembered `ETag` of `key`.
    #[cfg(test)]
    pub(crate) fn etag(&self, key: &str) -> Option<HeaderValue> {
        if self.capacity == 0 {
            return None;
        }
        self.lock().map.get(key).map(|entry| entry.etag.clone())
    }

    /// The remembered body of `key`, marked as used.
    pub(crate) fn get(&self, key: &str) -> Option<Entry> {
        let mut entries = self.lock();
        entries.tick += 1;
        let tick = entries.tick;
        let entry = entries.map.get_mut(key)?;
        entry.used = tick;
        Some(entry.clone())
    }

    /// Remembers `entry` for `key`.
    pub(crate) fn put(&self, key: Arc<str>, mut entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        entries.tick += 1;
        entry.used = entries.tick;
        if !entries.map.contains_key(&key) && entries.map.len() >= self.capacity {
            let oldest = entries
                .map
                .iter()
                .min_by_key(|(_, entry)| entry.used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                entries.map.remove(&oldest);
            }
        }
        entries.map.insert(key, entry);
    }

    /// Forgets `key`.
    pub(crate) fn remove(&self, key: &str) {
        if self.capacity > 0 {
            self.lock().map.remove(key);
        }
    }

    /// How many keys are remembered.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(tag: &'static str) -> Entry {
        Entry::new(
            HeaderValue::from_static(tag),
            Arc::from(tag),
            Bytes::from_static(b"{}"),
            Format::Json,
        )
    }

    #[test]
    fn evicts_the_least_recently_used() {
        let map = Remembered::new(2);
        map.put("a".into(), entry("\"1\""));
        map.put("b".into(), entry("\"2\""));
        assert!(map.get("a").is_some());
        map.put("c".into(), entry("\"3\""));
        assert_eq!(map.len(), 2);
        assert!(map.get("b").is_none());
        assert_eq!(map.etag("a"), Some(HeaderValue::from_static("\"1\"")));
        assert_eq!(map.etag("c"), Some(HeaderValue::from_static("\"3\"")));
        map.remove("a");
        assert_eq!(map.etag("a"), None);
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let map = Remembered::new(0);
        map.put("a".into(), entry("\"1\""));
        assert_eq!(map.len(), 0);
        assert_eq!(map.etag("a"), None);
    }
}
