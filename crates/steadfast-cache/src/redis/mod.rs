//! A shared L2 on Redis: [`RedisStore`], on a single node or (feature
//! `redis-cluster`) a Redis Cluster.
//!
//! # Keys
//!
//! With the prefix `p` (see [`RedisStoreBuilder::prefix`]), the entry of a
//! key `k` lives under `p:{k}` (the key's [`Display`](std::fmt::Display)
//! form in braces), its single-flight lease under `p:{k}:lease` and the
//! fence of its last removal under `p:{k}:fence`. The
//! braces end the namespace (a prefix may not contain any), so the keys of
//! `p` never look like those of `p:users`; on a cluster they are also the
//! hash tag, so an entry and its lease share a slot while different keys
//! spread over the primaries. Writes, removals, clears and given-back
//! leases are announced on the channel `p:invalidate` (see
//! [`RedisInvalidations`]).
//!
//! # Envelope
//!
//! Each entry is one Redis string that expires (`PX`) with the entry:
//!
//! | bytes  | content                                                       |
//! |--------|---------------------------------------------------------------|
//! | 0..3   | [`ENVELOPE_MAGIC`] (`SFC`)                                    |
//! | 3      | [`ENVELOPE_VERSION`]                                          |
//! | 4..12  | when it was written, the writer's unix milliseconds (for people; never read) |
//! | 12..20 | how long before the expiry the fresh window ends, ms, big-endian `u64` |
//! | 20..28 | how long before the expiry the revalidation window ends, same |
//! | 28..   | the value, as encoded by the [`Codec`]                        |
//!
//! A read takes the entry and its `PTTL` together, so every window is
//! placed by the time Redis says the key has left: freshness never depends
//! on the wall clocks of the writer or the reader. Bytes that are not such
//! an envelope, an envelope of another version, a key without an expiry or
//! a value the codec rejects are a [`Decode`](crate::StoreErrorKind::Decode)
//! error: a miss for the cache layer.
//!
//! # Fences
//!
//! An instance that misses a key loads it from the source and writes the
//! answer back. If another instance removes the key meanwhile, that write
//! would bring back the value read before the removal; the removal's
//! message cancels the load, but a source that answers within the
//! message's latency still wins. So a removal also leaves a fence,
//! `p:{k}:fence`: the Redis server's time (`TIME`, unix µs) of the
//! removal, kept for the [fence lifetime](RedisStoreBuilder::fence_lifetime).
//! Every read takes the server's time in the same script; a read that
//! misses, or finds an entry past its fresh window (which a revalidation
//! may follow), makes the store remember it as the start of this
//! instance's load of the key (at most 4096 keys at once; beyond that the
//! oldest is forgotten), and a fresh hit forgets it. The
//! following [`put`](Store::put) of that key checks, in the same script as
//! the write, that no fence is at least as new as that start (a load
//! that began in the very microsecond of a removal counts as begun before
//! it); if one is,
//! nothing is written or announced, the refusal is counted
//! ([`RedisStats::fenced_writes`]) and logged at debug level, and the put
//! still succeeds: the caller keeps the value its load returned, it just
//! does not reach peers. An [`insert`](Store::insert) (a value put from
//! outside, as [`CacheHandle::insert`](crate::CacheHandle::insert) does for
//! a watched value's write-through or a startup probe's answer) writes
//! unchecked, whatever loads of the key began before, and so does a put
//! without a recorded miss (a load older than the fence lifetime) or one
//! following a read that failed or found an undecodable entry. Both times are Redis's, so clock skew between
//! instances plays no part.
//!
//! [`clear`](Store::clear) leaves no fence: a load that began before a
//! clear may still write its value back (other instances' loads are
//! cancelled by the clear's message only). It keeps the fences of earlier
//! removals, which expire on their own.
//!
//! # Failures
//!
//! Every call has its own timeout ([`RedisStoreBuilder::call_timeout`]).
//! Redis down, slow or erroring is a [`StoreError`]; after a timeout or a
//! lost connection the store leaves Redis alone for a short, growing pause
//! ([`RedisStoreBuilder::reconnect_backoff`]) and answers at once, then
//! tries again. A connection that keeps timing out is replaced by a new
//! one ([`RedisStoreBuilder::dead_after`]): a network that drops packets
//! without closing the socket never breaks it otherwise. A Redis that is
//! down when the store is built is the same case: the store connects when
//! it comes up.

mod builder;
mod clear;
#[cfg(feature = "redis-cluster")]
mod cluster;
mod codec;
mod connection;
mod feed;
mod fence;
mod gate;
mod message;
mod poller;
mod scripts;
mod stats;

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ::redis::{ConnectionInfo, RedisError};
use tokio::time::Instant;

pub use builder::{RedisBuildError, RedisBuildErrorKind, RedisStoreBuilder};
pub use codec::{
    Codec, CodecError, ENVELOPE_HEADER_LEN, ENVELOPE_MAGIC, ENVELOPE_VERSION, JsonCodec,
};
pub use feed::RedisInvalidations;
pub use poller::PollerLease;
pub use stats::RedisStats;

use crate::store::{Entry, Freshness, LeaseToken, Peek, Store, StoreError, StoreErrorKind};
use codec::{ceil_ms, encode_envelope, open_envelope, unix_ms};
use connection::{Connection, Link};
use fence::Starts;
use gate::{Backoff, Gate};
use scripts::Scripts;
use stats::{Counters, Event};

/// A [`Store`] on Redis, shared by every instance that uses the same Redis
/// and prefix: the L2 of a [`Tiered`](crate::Tiered) store.
///
/// It holds no entries in memory ([`peek`](Store::peek) is always
/// [`Peek::Unknown`]). Every clone shares one multiplexed connection
/// (the `redis` crate's `ConnectionManager`, or its cluster connection),
/// one set of counters and one reconnect schedule. Values are encoded by a
/// [`Codec`] (JSON by default) inside a versioned envelope; see the
/// [module docs](self).
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
    conn: Connection,
    /// Where the invalidation feed subscribes (RESP3), in the order it
    /// tries them.
    feed_nodes: Vec<ConnectionInfo>,
    /// This store's id in the messages it publishes.
    id: u64,
    prefix: Box<str>,
    channel: Arc<str>,
    call_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Backoff,
    codec: C,
    scripts: Scripts,
    /// When this instance's loads began, by Redis's clock.
    starts: Starts,
    /// How long a removal's fence lives, ms.
    fence_ms: u64,
    counters: Counters,
    gate: Gate,
    rng: Mutex<fastrand::Rng>,
    wall_clock: fn() -> SystemTime,
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
            .field("cluster", &self.is_cluster())
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

    /// Whether the store is on a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        #[cfg(feature = "redis-cluster")]
        if let Link::Cluster(_) = self.shared.conn.link().1 {
            return true;
        }
        false
    }

    /// The Redis key that holds the entry of `key`: `<prefix>:{<key>}`.
    pub fn redis_key(&self, key: &K) -> String
    where
        K: fmt::Display,
    {
        format!("{}:{{{key}}}", self.shared.prefix)
    }

    /// The Redis key that holds the lease of `key`: `<prefix>:{<key>}:lease`.
    pub fn lease_key(&self, key: &K) -> String
    where
        K: fmt::Display,
    {
        format!("{}:{{{key}}}:lease", self.shared.prefix)
    }

    /// The Redis key that holds the fence of the last removal of `key`:
    /// `<prefix>:{<key>}:fence` (see [fences](self#fences)).
    pub fn fence_key(&self, key: &K) -> String
    where
        K: fmt::Display,
    {
        format!("{}:{{{key}}}:fence", self.shared.prefix)
    }

    /// The pub/sub channel of this namespace's invalidations:
    /// `<prefix>:invalidate`.
    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// A feed of this namespace's invalidations for
    /// [`TieredBuilder::invalidations`](crate::TieredBuilder::invalidations).
    /// It listens on its own connection, started when the
    /// [`Tiered`](crate::Tiered) store is built, and skips the messages of
    /// this store's own writes (of any of its clones): give each instance
    /// its own store, and build its feed from that store.
    pub fn invalidations(&self) -> RedisInvalidations {
        let seed = self.shared.rng.lock().map_or(0, |mut rng| rng.u64(..));
        RedisInvalidations::new(
            self.shared.feed_nodes.clone(),
            self.shared.channel.clone(),
            self.shared.id,
            self.shared.connect_timeout,
            self.shared.reconnect,
            seed,
        )
    }
}

impl<C> Shared<C> {
    /// Runs one Redis call under the call timeout and the reconnect pause,
    /// and keeps the connection's health.
    async fn call<T, F, Fut>(&self, op: &'static str, run: F) -> Result<T, StoreError>
    where
        F: FnOnce(Link) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let now = Instant::now();
        if !self.gate.is_open(now) {
            self.counters
                .record(Event::Error(StoreErrorKind::Unavailable));
            return Err(StoreError::from_kind(StoreErrorKind::Unavailable));
        }
        let (generation, link) = self.conn.link();
        let error = match tokio::time::timeout(self.call_timeout, run(link)).await {
            Ok(Ok(value)) => {
                self.gate.succeeded();
                self.conn.answered();
                return Ok(value);
            }
            Ok(Err(error)) => {
                let kind = classify(&error);
                if kind == StoreErrorKind::Backend {
                    // An error reply is an answer: the connection is alive.
                    self.conn.answered();
                }
                tracing::debug!(op, prefix = %self.prefix, ?kind, %error, "redis call failed");
                StoreError::new(kind, error)
            }
            Err(_) => {
                tracing::debug!(op, prefix = %self.prefix, timeout = ?self.call_timeout, "redis call timed out");
                StoreError::from_kind(StoreErrorKind::Timeout)
            }
        };
        if error.kind() == StoreErrorKind::Timeout && self.conn.timed_out(generation) {
            self.counters.record(Event::Reconnect);
            tracing::debug!(prefix = %self.prefix, "redis connection went silent; replaced it");
        }
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

    /// The entry in `bytes`, whose key had `pttl` ms left when Redis
    /// answered a read sent at `sent`; `None` once it has expired.
    fn decode<V>(
        &self,
        bytes: &[u8],
        pttl: i64,
        sent: Instant,
    ) -> Result<Option<Entry<V>>, StoreError>
    where
        C: Codec<V>,
    {
        let decode = |e| StoreError::new(StoreErrorKind::Decode, e);
        let raw = open_envelope(bytes).map_err(decode)?;
        // -1: a key without an expiry was not written by a store.
        let pttl = u64::try_from(pttl).map_err(|_| decode(codec::EnvelopeError::Deadlines))?;
        let deadlines = raw.deadlines(pttl, sent).map_err(decode)?;
        if deadlines.expires_at <= Instant::now() {
            return Ok(None);
        }
        let value = self
            .codec
            .decode(raw.value)
            .map_err(|e| StoreError::new(StoreErrorKind::Decode, e))?;
        Ok(Some(Entry {
            value,
            fresh_until: deadlines.fresh_until,
            revalidate_until: deadlines.revalidate_until,
            expires_at: deadlines.expires_at,
        }))
    }
}

fn classify(error: &RedisError) -> StoreErrorKind {
    if error.is_timeout() {
        StoreErrorKind::Timeout
    } else if error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
        || error.is_cluster_error()
    {
        StoreErrorKind::Unavailable
    } else {
        StoreErrorKind::Backend
    }
}

impl<K, V, C> RedisStore<K, V, C>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Codec<V>,
{
    /// Writes `entry` under `key`, unless `start` (the server time its load
    /// began, µs) is given and a removal's fence is at least as new.
    async fn write(&self, key: K, entry: Entry<V>, start: Option<u64>) -> Result<(), StoreError> {
        let shared = &*self.shared;
        let now = Instant::now();
        let mut bytes = Vec::new();
        let ttl = if entry.time_to_live(now).is_zero() {
            0
        } else {
            bytes.reserve(ENVELOPE_HEADER_LEN + 256);
            let written_at = unix_ms(shared.wall_clock);
            match encode_envelope(&shared.codec, &entry, now, written_at, &mut bytes) {
                Ok(ttl) => ttl,
                Err(error) => {
                    shared.counters.record(Event::Error(StoreErrorKind::Encode));
                    tracing::debug!(key = %key, prefix = %shared.prefix, %error, "could not encode a cache value");
                    return Err(StoreError::new(StoreErrorKind::Encode, error));
                }
            }
        };
        let redis_key = self.redis_key(&key);
        let fence_key = self.fence_key(&key);
        let announce = message::set(shared.id, &key);
        let written: i64 = shared
            .call("put", |mut link| async move {
                shared
                    .scripts
                    .put
                    .key(redis_key)
                    .key(fence_key)
                    .arg(bytes)
                    .arg(ttl)
                    .arg(&*shared.channel)
                    .arg(announce)
                    .arg(start.map_or_else(String::new, |ms| ms.to_string()))
                    .invoke_async(&mut link)
                    .await
            })
            .await?;
        if written == 0 {
            shared.counters.record(Event::Fenced);
            tracing::debug!(key = %key, prefix = %shared.prefix, load_began_us = start, "the key was removed after its load began; not written");
        } else if ttl > 0 {
            shared.counters.record(Event::Write);
        }
        Ok(())
    }
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
        let redis_key = self.redis_key(key);
        let sent = Instant::now();
        let read_key = &redis_key;
        let reply: (Option<Vec<u8>>, i64, u64) = shared
            .call("get", |mut link| async move {
                shared
                    .scripts
                    .get
                    .key(read_key)
                    .invoke_async(&mut link)
                    .await
            })
            .await?;
        let (bytes, pttl, server_us) = reply;
        let Some(bytes) = bytes else {
            shared.starts.missed(&redis_key, server_us);
            shared.counters.record(Event::Miss);
            return Ok(None);
        };
        match shared.decode(&bytes, pttl, sent) {
            Ok(Some(entry)) => {
                if entry.freshness(Instant::now()) == Freshness::Fresh {
                    shared.starts.forget(&redis_key);
                } else {
                    // A revalidation may follow: a load as well.
                    shared.starts.missed(&redis_key, server_us);
                }
                shared.counters.record(Event::Hit);
                Ok(Some(entry))
            }
            Ok(None) => {
                shared.starts.missed(&redis_key, server_us);
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
        let start = self.shared.starts.take(&self.redis_key(&key));
        self.write(key, entry, start).await
    }

    async fn insert(&self, key: K, entry: Entry<V>) -> Result<(), StoreError> {
        self.write(key, entry, None).await
    }

    async fn remove(&self, key: &K) -> Result<(), StoreError> {
        let shared = &*self.shared;
        let redis_key = self.redis_key(key);
        let fence_key = self.fence_key(key);
        let announce = message::del(key);
        shared
            .call("remove", |mut link| async move {
                shared
                    .scripts
                    .remove
                    .key(redis_key)
                    .key(fence_key)
                    .arg(&*shared.channel)
                    .arg(announce)
                    .arg(shared.fence_ms)
                    .invoke_async::<()>(&mut link)
                    .await
            })
            .await?;
        shared.counters.record(Event::Remove);
        Ok(())
    }

    async fn clear(&self) -> Result<(), StoreError> {
        self.shared.clear().await
    }

    /// Nothing: Redis is shared, and the instance that removed the key
    /// removed it here.
    async fn forget_local(&self, _key: &K) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing: Redis is shared, and the instance that cleared it cleared
    /// it here.
    async fn forget_all_local(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Nothing: the entry came from here.
    async fn put_local(&self, _key: K, _entry: Entry<V>) -> Result<(), StoreError> {
        Ok(())
    }

    async fn acquire_lease(
        &self,
        key: &K,
        ttl: Duration,
    ) -> Result<Option<LeaseToken>, StoreError> {
        let shared = &*self.shared;
        let token = shared.rng.lock().map_or(1, |mut rng| rng.u64(1..));
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.lease_key(key))
            .arg(token)
            .arg("NX")
            .arg("PX")
            .arg(ceil_ms(ttl).max(1));
        let reply: Option<String> = shared
            .call("acquire_lease", |mut link| async move {
                cmd.query_async(&mut link).await
            })
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
        let lease_key = self.lease_key(key);
        let announce = message::released(shared.id, key);
        shared
            .call("release_lease", |mut link| async move {
                shared
                    .scripts
                    .release_lease
                    .key(lease_key)
                    .arg(token.0)
                    .arg(&*shared.channel)
                    .arg(announce)
                    .invoke_async::<()>(&mut link)
                    .await
            })
            .await
    }
}
