//! A shared L2 on Redis: [`RedisStore`].
//!
//! # Keys
//!
//! With the prefix `p` (see [`RedisStoreBuilder::prefix`]), the entry of a
//! key `k` lives under `p:k` (the key's [`Display`](std::fmt::Display)
//! form), its single-flight lease under `p:lease:k`, and removals are
//! published on the channel `p:invalidate` as `del:k` (a clear as `clear`).
//! Keep user keys from starting with `lease:`.
//!
//! # Envelope
//!
//! Each entry is one Redis string, expiring (`PX`) at the entry's
//! `expires_at`:
//!
//! | bytes  | content                                              |
//! |--------|------------------------------------------------------|
//! | 0..3   | [`ENVELOPE_MAGIC`] (`SFC`)                           |
//! | 3      | [`ENVELOPE_VERSION`]                                 |
//! | 4..12  | `fresh_until`, unix milliseconds, big-endian `u64`   |
//! | 12..20 | `revalidate_until`, same                             |
//! | 20..28 | `expires_at`, same                                   |
//! | 28..   | the value, as encoded by the [`Codec`]               |
//!
//! Deadlines travel as wall-clock time so that every instance reads them
//! alike; each side converts from and to its `tokio::time::Instant`s at the
//! moment of the call, so instances sharing a Redis need clocks kept in step
//! (NTP): a skew of `d` moves every deadline by `d` on the instance that
//! reads. Bytes that are not such an envelope, an envelope of
//! another version, or a value the codec rejects are a
//! [`Decode`](crate::StoreErrorKind::Decode) error: a miss for the cache
//! layer.
//!
//! # Failures
//!
//! Every call has its own timeout ([`RedisStoreBuilder::call_timeout`]).
//! Redis down, slow or erroring is a [`StoreError`]; after a timeout or a
//! lost connection the store leaves Redis alone for a short, growing pause
//! ([`RedisStoreBuilder::reconnect_backoff`]) and answers at once, then
//! tries again. A Redis that is down when the store is built is the same
//! case: the store connects when it comes up.

mod builder;
mod codec;
mod feed;
mod stats;

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::RedisError;
use ::redis::aio::ConnectionManager;
use tokio::time::Instant;

pub use builder::{RedisBuildError, RedisBuildErrorKind, RedisStoreBuilder};
pub use codec::{
    Codec, CodecError, ENVELOPE_HEADER_LEN, ENVELOPE_MAGIC, ENVELOPE_VERSION, JsonCodec,
};
pub use feed::RedisInvalidations;
pub use stats::RedisStats;

use crate::store::{Entry, LeaseToken, Peek, Store, StoreError, StoreErrorKind};
use codec::{Clocks, ceil_ms, encode_envelope, open_envelope};
use stats::{Counters, Event};

/// Deletes a lease only while it still holds the caller's token.
const RELEASE_LEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// Keys deleted per round trip by [`Store::clear`].
const CLEAR_BATCH: usize = 500;

/// A [`Store`] on Redis, shared by every instance that uses the same Redis
/// and prefix: the L2 of a [`Tiered`](crate::Tiered) store.
///
/// It holds no entries in memory ([`peek`](Store::peek) is always
/// [`Peek::Unknown`]). Every clone shares one multiplexed connection
/// (the `redis` crate's `ConnectionManager`), one set of counters and one
/// reconnect schedule. Values are encoded by a [`Codec`] (JSON by default)
/// inside a versioned envelope; see the [module docs](self).
///
/// ```no_run
/// # #[tokio::main]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use steadfast_cache::{Entry, Store};
/// use steadfast_cache::redis::RedisStore;
/// use tokio::time::Instant;
///
/// let store = RedisStore::<String, String>::builder("redis://127.0.0.1:6379")
///     .prefix("myapp:config")
///     .call_timeout(Duration::from_millis(50))
///     .build()?;
/// let now = Instant::now();
/// let entry = Entry {
///     value: "v1".to_owned(),
///     fresh_until: now + Duration::from_secs(60),
///     revalidate_until: now + Duration::from_secs(120),
///     expires_at: now + Duration::from_secs(600),
/// };
/// store.put("app".to_owned(), entry).await?;
/// let found = store.get(&"app".to_owned()).await?;
/// assert_eq!(found.map(|e| e.value), Some("v1".to_owned()));
/// # Ok(())
/// # }
/// ```
pub struct RedisStore<K, V, C = JsonCodec> {
    shared: Arc<Shared<C>>,
    _types: PhantomData<fn(K) -> V>,
}

struct Shared<C> {
    conn: ConnectionManager,
    client: ::redis::Client,
    prefix: Box<str>,
    channel: Arc<str>,
    call_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Backoff,
    codec: C,
    counters: Counters,
    gate: Gate,
    rng: Mutex<fastrand::Rng>,
}

impl<K, V, C> Clone for RedisStore<K, V, C> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, V, C> fmt::Debug for RedisStore<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.shared.prefix)
            .field("call_timeout", &self.shared.call_timeout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<K, V, C> RedisStore<K, V, C> {
    /// The store's counters, shared by every clone.
    pub fn stats(&self) -> RedisStats {
        self.shared.counters.snapshot()
    }

    /// The key namespace.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The Redis key that holds the entry of `key`: `<prefix>:<key>`.
    pub fn redis_key(&self, key: &K) -> String
    where
        K: fmt::Display,
    {
        format!("{}:{key}", self.shared.prefix)
    }

    /// The Redis key that holds the lease of `key`: `<prefix>:lease:<key>`.
    pub fn lease_key(&self, key: &K) -> String
    where
        K: fmt::Display,
    {
        format!("{}:lease:{key}", self.shared.prefix)
    }

    /// The pub/sub channel of this namespace's invalidations:
    /// `<prefix>:invalidate`.
    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// A feed of this namespace's invalidations for
    /// [`TieredBuilder::invalidations`](crate::TieredBuilder::invalidations).
    /// It listens on its own connection, started when the
    /// [`Tiered`](crate::Tiered) store is built.
    pub fn invalidations(&self) -> RedisInvalidations {
        let seed = self.shared.rng.lock().map_or(0, |mut rng| rng.u64(..));
        RedisInvalidations::new(
            self.shared.client.clone(),
            self.shared.channel.clone(),
            self.shared.connect_timeout,
            self.shared.reconnect,
            seed,
        )
    }
}

impl<C> Shared<C> {
    /// Runs one Redis call under the call timeout and the reconnect pause.
    async fn call<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, StoreError> {
        let now = Instant::now();
        if !self.gate.is_open(now) {
            self.counters
                .record(Event::Error(StoreErrorKind::Unavailable));
            return Err(StoreError::from_kind(StoreErrorKind::Unavailable));
        }
        let error = match tokio::time::timeout(self.call_timeout, fut).await {
            Ok(Ok(value)) => {
                self.gate.succeeded();
                return Ok(value);
            }
            Ok(Err(error)) => {
                let kind = classify(&error);
                tracing::debug!(op, prefix = %self.prefix, ?kind, %error, "redis call failed");
                StoreError::new(kind, error)
            }
            Err(_) => {
                tracing::debug!(op, prefix = %self.prefix, timeout = ?self.call_timeout, "redis call timed out");
                StoreError::from_kind(StoreErrorKind::Timeout)
            }
        };
        if matches!(
            error.kind(),
            StoreErrorKind::Timeout | StoreErrorKind::Unavailable
        ) {
            let pause = self.gate.failed(Instant::now(), self.reconnect, &self.rng);
            tracing::debug!(prefix = %self.prefix, ?pause, "leaving redis alone for a while");
        }
        self.counters.record(Event::Error(error.kind()));
        Err(error)
    }

    fn decode<V>(&self, bytes: &[u8]) -> Result<Option<Entry<V>>, StoreError>
    where
        C: Codec<V>,
    {
        let raw = open_envelope(bytes).map_err(|e| StoreError::new(StoreErrorKind::Decode, e))?;
        let clocks = Clocks::now();
        if raw.expires_at <= clocks.unix_ms {
            return Ok(None);
        }
        let instant = |ms| {
            clocks
                .to_instant(ms)
                .ok_or_else(|| StoreError::new(StoreErrorKind::Decode, "deadline out of range"))
        };
        let fresh_until = instant(raw.fresh_until)?;
        let revalidate_until = instant(raw.revalidate_until)?;
        let expires_at = instant(raw.expires_at)?;
        let value = self
            .codec
            .decode(raw.value)
            .map_err(|e| StoreError::new(StoreErrorKind::Decode, e))?;
        Ok(Some(Entry {
            value,
            fresh_until,
            revalidate_until,
            expires_at,
        }))
    }

    async fn publish(&self, message: String) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut cmd = ::redis::cmd("PUBLISH");
        cmd.arg(&*self.channel).arg(message);
        self.call(
            "publish",
            async move { cmd.query_async::<()>(&mut conn).await },
        )
        .await
    }
}

fn classify(error: &RedisError) -> StoreErrorKind {
    if error.is_timeout() {
        StoreErrorKind::Timeout
    } else if error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
    {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Backend
    }
}

/// Escapes the glob characters of `text` for `SCAN MATCH`.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl<K, V, C> Store<K, V> for RedisStore<K, V, C>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Codec<V>,
{
    fn peek(&self, _key: &K) -> Peek<V> {
        Peek::Unknown
    }

    async fn get(&self, key: &K) -> Result<Option<Entry<V>>, StoreError> {
        let shared = &*self.shared;
        let mut conn = shared.conn.clone();
        let mut cmd = ::redis::cmd("GET");
        cmd.arg(self.redis_key(key));
        let bytes: Option<Vec<u8>> = shared
            .call("get", async move { cmd.query_async(&mut conn).await })
            .await?;
        let Some(bytes) = bytes else {
            shared.counters.record(Event::Miss);
            return Ok(None);
        };
        match shared.decode(&bytes) {
            Ok(Some(entry)) => {
                shared.counters.record(Event::Hit);
                Ok(Some(entry))
            }
            Ok(None) => {
                shared.counters.record(Event::Miss);
                Ok(None)
            }
            Err(error) => {
                shared.counters.record(Event::Error(error.kind()));
                tracing::debug!(key = %key, prefix = %shared.prefix, %error, len = bytes.len(), "undecodable entry in redis");
                Err(error)
            }
        }
    }

    async fn put(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        let shared = &*self.shared;
        let clocks = Clocks::now();
        let ttl = entry.time_to_live(clocks.now);
        if ttl.is_zero() {
            let mut conn = shared.conn.clone();
            let mut cmd = ::redis::cmd("DEL");
            cmd.arg(self.redis_key(&key));
            return shared
                .call("put", async move { cmd.query_async::<()>(&mut conn).await })
                .await;
        }
        let mut bytes = Vec::with_capacity(ENVELOPE_HEADER_LEN + 256);
        if let Err(error) = encode_envelope(&shared.codec, &entry, clocks, &mut bytes) {
            shared.counters.record(Event::Error(StoreErrorKind::Encode));
            tracing::debug!(key = %key, prefix = %shared.prefix, %error, "could not encode a cache value");
            return Err(StoreError::new(StoreErrorKind::Encode, error));
        }
        let mut conn = shared.conn.clone();
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.redis_key(&key))
            .arg(bytes)
            .arg("PX")
            .arg(ceil_ms(ttl));
        shared
            .call("put", async move { cmd.query_async::<()>(&mut conn).await })
            .await?;
        shared.counters.record(Event::Write);
        Ok(())
    }

    async fn remove(&self, key: &K) -> Result<(), StoreError> {
        let shared = &*self.shared;
        let mut conn = shared.conn.clone();
        let mut pipe = ::redis::pipe();
        pipe.cmd("DEL")
            .arg(self.redis_key(key))
            .ignore()
            .cmd("PUBLISH")
            .arg(&*shared.channel)
            .arg(format!("del:{key}"))
            .ignore();
        shared
            .call(
                "remove",
                async move { pipe.query_async::<()>(&mut conn).await },
            )
            .await?;
        shared.counters.record(Event::Remove);
        Ok(())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        let shared = &*self.shared;
        let pattern = format!("{}:*", glob_escape(&shared.prefix));
        let mut cursor: u64 = 0;
        loop {
            let mut conn = shared.conn.clone();
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(CLEAR_BATCH);
            let (next, keys): (u64, Vec<Vec<u8>>) = shared
                .call("clear", async move { scan.query_async(&mut conn).await })
                .await?;
            if !keys.is_empty() {
                let mut conn = shared.conn.clone();
                let mut unlink = ::redis::cmd("UNLINK");
                unlink.arg(keys);
                shared
                    .call(
                        "clear",
                        async move { unlink.query_async::<()>(&mut conn).await },
                    )
                    .await?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        shared.publish("clear".to_owned()).await
    }

    async fn acquire_lease(
        &self,
        key: &K,
        ttl: Duration,
    ) -> Result<Option<LeaseToken>, StoreError> {
        let shared = &*self.shared;
        let token = shared.rng.lock().map_or(1, |mut rng| rng.u64(1..));
        let mut conn = shared.conn.clone();
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.lease_key(key))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ceil_ms(ttl).max(1));
        let reply: Option<String> = shared
            .call(
                "acquire_lease",
                async move { cmd.query_async(&mut conn).await },
            )
            .await?;
        if reply.is_some() {
            shared.counters.record(Event::LeaseAcquired);
            Ok(Some(LeaseToken(token)))
        } else {
            shared.counters.record(Event::LeaseDenied);
            Ok(None)
        }
    }

    async fn release_lease(&self, key: &K, token: LeaseToken) -> Result<(), StoreError> {
        let shared = &*self.shared;
        let mut conn = shared.conn.clone();
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(RELEASE_LEASE)
            .arg(1)
            .arg(self.lease_key(key))
            .arg(token.0);
        shared
            .call("release_lease", async move {
                cmd.query_async::<()>(&mut conn).await
            })
            .await
    }
}

/// A growing pause: `min`, doubling per consecutive failure, up to `max`,
/// with equal jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Backoff {
    min: Duration,
    max: Duration,
}

impl Backoff {
    fn delay(self, failures: u32, rng: &Mutex<fastrand::Rng>) -> Duration {
        let doubled = self
            .min
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let full = doubled.min(self.max);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = rng.lock().map_or(0, |mut rng| rng.u64(0..=nanos));
        half + Duration::from_nanos(jitter)
    }
}

/// Whether Redis may be called now, after recent failures.
#[derive(Debug)]
struct Gate {
    epoch: Instant,
    /// Nanoseconds after `epoch` when calls may go through again; 0 = open.
    reopen_at: AtomicU64,
    failures: AtomicU32,
}

impl Gate {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            reopen_at: AtomicU64::new(0),
            failures: AtomicU32::new(0),
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    fn is_open(&self, now: Instant) -> bool {
        let at = self.reopen_at.load(Ordering::Relaxed);
        at == 0 || self.nanos(now) >= at
    }

    /// Closes the gate for a pause that grows with consecutive failures.
    /// Failures of calls that were already under way when another one
    /// closed the gate do not lengthen it.
    fn failed(&self, now: Instant, backoff: Backoff, rng: &Mutex<fastrand::Rng>) -> Duration {
        let reopen_at = self.reopen_at.load(Ordering::Relaxed);
        let now_nanos = self.nanos(now);
        if reopen_at > now_nanos {
            return Duration::from_nanos(reopen_at - now_nanos);
        }
        let failures = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let pause = backoff.delay(failures, rng);
        let reopen_at = now.checked_add(pause).map_or(u64::MAX, |at| self.nanos(at));
        self.reopen_at.store(reopen_at.max(1), Ordering::Relaxed);
        pause
    }

    fn succeeded(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
            self.reopen_at.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_equal_jitter() {
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let rng = Mutex::new(fastrand::Rng::with_seed(7));
        for (failures, full) in [(1, 100), (2, 200), (3, 400), (4, 500), (40, 500)] {
            let d = backoff.delay(failures, &rng);
            let full = Duration::from_millis(full);
            assert!(
                d >= full / 2 && d <= full,
                "{failures}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn gate_closes_after_a_failure_and_reopens_after_the_pause() {
        let gate = Gate::new();
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let rng = Mutex::new(fastrand::Rng::with_seed(1));
        let now = Instant::now();
        assert!(gate.is_open(now));
        let pause = gate.failed(now, backoff, &rng);
        assert!(!gate.is_open(now));
        assert!(!gate.is_open(now + pause - Duration::from_nanos(1)));
        assert!(gate.is_open(now + pause));
        gate.succeeded();
        assert!(gate.is_open(now));
    }

    #[tokio::test(start_paused = true)]
    async fn failures_while_closed_do_not_lengthen_the_pause() {
        let gate = Gate::new();
        let backoff = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        let rng = Mutex::new(fastrand::Rng::with_seed(3));
        let now = Instant::now();
        let pause = gate.failed(now, backoff, &rng);
        for _ in 0..50 {
            assert_eq!(gate.failed(now, backoff, &rng), pause);
        }
        assert!(gate.is_open(now + pause));
        let second = gate.failed(now + pause, backoff, &rng);
        assert!(
            second >= Duration::from_millis(100) && second <= Duration::from_millis(200),
            "the second consecutive failure doubles the first: {second:?}"
        );
    }

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(glob_escape("plain:prefix"), "plain:prefix");
    }
}
