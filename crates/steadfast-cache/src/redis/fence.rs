//! When this instance's loads began, as Redis's clock tells it: the start of
//! each load that follows a miss, kept until its write, so that the write
//! can be refused when the key was removed after the load began (see the
//! [module docs](super#fences)).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How many loads in flight one store remembers at most; a miss beyond that
/// forgets the oldest record, whose write then goes through unchecked.
pub(super) const MAX_STARTS: usize = 4096;

/// Misses that may be followed by a write: Redis key -> the server time (µs)
/// of the read that missed, and when (locally) it was recorded.
#[derive(Debug)]
pub(super) struct Starts {
    map: Mutex<HashMap<String, (u64, Instant)>>,
    /// Past this age a record is dropped: its key's fence may have expired,
    /// so it could no longer tell anything.
    lifetime: Duration,
    cap: usize,
}

impl Starts {
    pub(super) fn new(lifetime: Duration, cap: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            lifetime,
            cap: cap.max(1),
        }
    }

    /// Records that a read of `key` missed at the server time `server_us`.
    pub(super) fn missed(&self, key: &str, server_us: u64) {
        let now = Instant::now();
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if !map.contains_key(key) && map.len() >= self.cap {
            let lifetime = self.lifetime;
            map.retain(|_, (_, at)| now.saturating_duration_since(*at) < lifetime);
            if map.len() >= self.cap {
                let oldest = map
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(key.to_owned(), (server_us, now));
    }

    /// Forgets `key`'s record (a hit: no load follows).
    pub(super) fn forget(&self, key: &str) {
        if let Ok(mut map) = self.map.lock() {
            map.remove(key);
        }
    }

    /// Takes `key`'s record for its write: the server time its load began,
    /// unless it is older than the fence lifetime.
    pub(super) fn take(&self, key: &str) -> Option<u64> {
        let (us, at) = self.map.lock().ok()?.remove(key)?;
        (Instant::now().saturating_duration_since(at) < self.lifetime).then_some(us)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn a_record_is_taken_once() {
        let starts = Starts::new(60 * SEC, 8);
        starts.missed("a", 10);
        assert_eq!(starts.take("a"), Some(10));
        assert_eq!(starts.take("a"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_later_miss_replaces_the_start_and_a_hit_forgets_it() {
        let starts = Starts::new(60 * SEC, 8);
        starts.missed("a", 10);
        starts.missed("a", 20);
        assert_eq!(starts.take("a"), Some(20));
        starts.missed("b", 30);
        starts.forget("b");
        assert_eq!(starts.take("b"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_older_than_the_lifetime_tells_nothing() {
        let starts = Starts::new(60 * SEC, 8);
        starts.missed("a", 10);
        tokio::time::advance(60 * SEC).await;
        assert_eq!(starts.take("a"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_map_stays_bounded_and_drops_the_oldest() {
        let starts = Starts::new(60 * SEC, 3);
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            starts.missed(key, i as u64);
            tokio::time::advance(SEC).await;
        }
        assert_eq!(starts.len(), 3);
        assert_eq!(starts.take("a"), None);
        assert_eq!(starts.take("b"), Some(1));
        assert_eq!(starts.take("d"), Some(3));
    }

    #[tokio::test(start_paused = true)]
    async fn expired_records_go_first_when_full() {
        let starts = Starts::new(10 * SEC, 2);
        starts.missed("a", 1);
        tokio::time::advance(5 * SEC).await;
        starts.missed("b", 2);
        tokio::time::advance(6 * SEC).await;
        starts.missed("c", 3);
        assert_eq!(starts.len(), 2);
        assert_eq!(starts.take("b"), Some(2));
        assert_eq!(starts.take("c"), Some(3));
    }
}
