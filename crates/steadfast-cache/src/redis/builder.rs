//! [`RedisStoreBuilder`] and its error.

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ::redis::aio::ConnectionManagerConfig;
use ::redis::{ConnectionInfo, IntoConnectionInfo, ProtocolVersion, RedisError};

use super::codec::ceil_ms;
use super::codec::{Codec, JsonCodec};
use super::connection::{Connection, Opener};
use super::fence::{MAX_STARTS, Starts};
use super::scripts::Scripts;
use super::{Backoff, Gate, RedisStore, Shared};

/// Where a store connects.
#[derive(Debug, Clone)]
enum Target {
    Single(String),
    #[cfg(feature = "redis-cluster")]
    Cluster(Vec<String>),
}

/// Builds a [`RedisStore`]; see [`RedisStore::builder`] and
/// [`RedisStore::cluster_builder`].
pub struct RedisStoreBuilder<K, V, C = JsonCodec> {
    target: Target,
    prefix: String,
    call_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Backoff,
    dead_after: u32,
    fence_lifetime: Duration,
    codec: C,
    seed: Option<u64>,
    wall_clock: fn() -> SystemTime,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V, C: fmt::Debug> fmt::Debug for RedisStoreBuilder<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("target", &self.target)
            .field("prefix", &self.prefix)
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect", &self.reconnect)
            .field("dead_after", &self.dead_after)
            .field("fence_lifetime", &self.fence_lifetime)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl<K, V> RedisStore<K, V, JsonCodec> {
    /// Starts building a store on the Redis at `url`
    /// (`redis://[user:password@]host[:port][/db]`, or `rediss://` with
    /// TLS support compiled into `redis`).
    ///
    /// Nothing is checked or connected until
    /// [`build`](RedisStoreBuilder::build).
    pub fn builder(url: impl Into<String>) -> RedisStoreBuilder<K, V, JsonCodec> {
        Self::builder_for(Target::Single(url.into()))
    }

    /// Starts building a store on the Redis Cluster that `nodes` (URLs of
    /// some of its nodes, as for [`builder`](Self::builder)) belong to.
    /// The store finds the others, follows slot moves, and on
    /// [`clear`](crate::Store::clear) scans every primary.
    ///
    /// ```no_run
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use steadfast_cache::redis::RedisStore;
    ///
    /// let store = RedisStore::<String, String>::cluster_builder([
    ///     "redis://10.0.0.1:7000",
    ///     "redis://10.0.0.2:7000",
    /// ])
    /// .prefix("myapp:config")
    /// .build()?;
    /// assert!(store.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "redis-cluster")]
    pub fn cluster_builder<I>(nodes: I) -> RedisStoreBuilder<K, V, JsonCodec>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Self::builder_for(Target::Cluster(nodes.into_iter().map(Into::into).collect()))
    }

    fn builder_for(target: Target) -> RedisStoreBuilder<K, V, JsonCodec> {
        RedisStoreBuilder {
            target,
            prefix: "steadfast".to_owned(),
            call_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(500),
            reconnect: Backoff {
                min: Duration::from_millis(50),
                max: Duration::from_secs(2),
            },
            dead_after: 2,
            fence_lifetime: Duration::from_secs(300),
            codec: JsonCodec,
            seed: None,
            wall_clock: SystemTime::now,
            _types: PhantomData,
        }
    }
}

impl<K, V, C> RedisStoreBuilder<K, V, C> {
    /// The key namespace (default `steadfast`): entries live under
    /// `<prefix>:{<key>}`, leases under `<prefix>:{<key>}:lease`, and
    /// invalidations go out on the channel `<prefix>:invalidate`. It may not
    /// contain `{` or `}`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The longest any one call may take (default 100 ms), connecting
    /// included. A call that takes longer is a
    /// [`Timeout`](crate::StoreErrorKind::Timeout): a miss or a lost write,
    /// never a slow request.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// The longest one connection attempt may take (default 500 ms). It
    /// runs in the background; callers still wait at most the call timeout.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to leave Redis alone after it failed to answer (default
    /// 50 ms, doubling per consecutive failure up to 2 s, with jitter).
    /// Meanwhile every call is answered at once as
    /// [`Unavailable`](crate::StoreErrorKind::Unavailable); the first call
    /// after the pause tries again. The invalidation listener reconnects on
    /// the same schedule.
    pub fn reconnect_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect = Backoff { min, max };
        self
    }

    /// After how many consecutive timeouts the connection counts as dead
    /// and is replaced by a new one (default 2; 0 is taken as 1). A network
    /// that silently drops packets never closes the socket, so without
    /// this the store would keep waiting on it. Between those timeouts the
    /// [reconnect backoff](Self::reconnect_backoff) applies as usual.
    pub fn dead_after(mut self, timeouts: u32) -> Self {
        self.dead_after = timeouts.max(1);
        self
    }

    /// How long a removal's fence stays in Redis (default 5 min): a load
    /// that began before the removal and writes back within that time is
    /// refused (see [fences](super#fences)); one that takes longer writes
    /// unchecked. Set it above the longest load you expect. Zero is
    /// refused by [`build`](Self::build).
    pub fn fence_lifetime(mut self, lifetime: Duration) -> Self {
        self.fence_lifetime = lifetime;
        self
    }

    /// Encodes values with `codec` instead of JSON.
    pub fn codec<C2>(self, codec: C2) -> RedisStoreBuilder<K, V, C2> {
        RedisStoreBuilder {
            target: self.target,
            prefix: self.prefix,
            call_timeout: self.call_timeout,
            connect_timeout: self.connect_timeout,
            reconnect: self.reconnect,
            dead_after: self.dead_after,
            fence_lifetime: self.fence_lifetime,
            codec,
            seed: self.seed,
            wall_clock: self.wall_clock,
            _types: PhantomData,
        }
    }

    /// Seeds the random numbers (lease tokens, backoff jitter); by default
    /// they are seeded at random. Instances sharing a Redis must not share a
    /// seed: their lease tokens would be equal.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The wall clock stamped into each entry for people inspecting Redis
    /// (default [`SystemTime::now`]). Freshness never depends on it; tests
    /// set a skewed clock to show that.
    #[doc(hidden)]
    pub fn wall_clock(mut self, now: fn() -> SystemTime) -> Self {
        self.wall_clock = now;
        self
    }

    /// The store. It connects lazily: a Redis that is down now makes the
    /// store a miss until it comes up. Fails on a bad URL (or, for a
    /// cluster, no node at all), an empty prefix or one with a brace, a
    /// zero timeout, a backoff whose minimum is zero or above its maximum,
    /// a zero fence lifetime, or outside a tokio runtime.
    pub fn build(self) -> Result<RedisStore<K, V, C>, RedisBuildError>
    where
        V: 'static,
        C: Codec<V>,
    {
        let fail = |kind| Err(RedisBuildError { kind, source: None });
        if self.prefix.is_empty() {
            return fail(RedisBuildErrorKind::EmptyPrefix);
        }
        if self.prefix.contains(['{', '}']) {
            return fail(RedisBuildErrorKind::InvalidPrefix);
        }
        if self.call_timeout.is_zero() || self.connect_timeout.is_zero() {
            return fail(RedisBuildErrorKind::ZeroTimeout);
        }
        if self.reconnect.min.is_zero() || self.reconnect.min > self.reconnect.max {
            return fail(RedisBuildErrorKind::InvalidBackoff);
        }
        if self.fence_lifetime.is_zero() {
            return fail(RedisBuildErrorKind::ZeroFenceLifetime);
        }
        let invalid_url = |e: RedisError| RedisBuildError {
            kind: RedisBuildErrorKind::InvalidUrl,
            source: Some(Box::new(e)),
        };
        let urls: Vec<String> = match &self.target {
            Target::Single(url) => vec![url.clone()],
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => nodes.clone(),
        };
        if urls.is_empty() {
            return fail(RedisBuildErrorKind::InvalidUrl);
        }
        let infos = urls
            .iter()
            .map(|url| url.as_str().into_connection_info())
            .collect::<Result<Vec<ConnectionInfo>, _>>()
            .map_err(invalid_url)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return fail(RedisBuildErrorKind::NoRuntime);
        }
        let response_timeout = self.call_timeout.max(self.connect_timeout);
        let opener = match &self.target {
            Target::Single(_) => Opener::Single {
                client: ::redis::Client::open(infos[0].clone()).map_err(invalid_url)?,
                config: ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(Some(self.connect_timeout))
                    .set_response_timeout(Some(response_timeout)),
            },
            #[cfg(feature = "redis-cluster")]
            Target::Cluster(nodes) => Opener::Cluster(
                super::cluster::client(nodes, self.connect_timeout, response_timeout)
                    .map_err(invalid_url)?,
            ),
        };
        let conn = Connection::new(opener, self.dead_after).map_err(invalid_url)?;
        let feed_nodes = infos
            .into_iter()
            .map(|info| {
                let settings = info
                    .redis_settings()
                    .clone()
                    .set_protocol(ProtocolVersion::RESP3);
                info.set_redis_settings(settings)
            })
            .collect();
        let mut rng = self
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let id = rng.u64(..);
        let channel = format!("{}:invalidate", self.prefix).into();
        Ok(RedisStore {
            shared: Arc::new(Shared {
                conn,
                feed_nodes,
                id,
                prefix: self.prefix.into(),
                channel,
                call_timeout: self.call_timeout,
                connect_timeout: self.connect_timeout,
                reconnect: self.reconnect,
                codec: self.codec,
                scripts: Scripts::new(),
                starts: Starts::new(self.fence_lifetime, MAX_STARTS),
                fence_ms: ceil_ms(self.fence_lifetime),
                counters: Default::default(),
                gate: Gate::new(),
                rng: Mutex::new(rng),
                wall_clock: self.wall_clock,
            }),
            _types: PhantomData,
        })
    }
}

/// A [`RedisStoreBuilder`] given a bad setting.
#[derive(Debug)]
pub struct RedisBuildError {
    kind: RedisBuildErrorKind,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

/// What was wrong with a [`RedisStoreBuilder`]'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RedisBuildErrorKind {
    /// The URL is not a Redis URL.
    InvalidUrl,
    /// The key prefix is empty.
    EmptyPrefix,
    /// The key prefix holds a `{` or a `}`, which end the namespace in the
    /// store's keys.
    InvalidPrefix,
    /// A timeout is zero.
    ZeroTimeout,
    /// The reconnect backoff's minimum is zero or above its maximum.
    InvalidBackoff,
    /// The fence lifetime is zero.
    ZeroFenceLifetime,
    /// The store was built outside a tokio runtime.
    NoRuntime,
}

impl RedisBuildError {
    /// What was wrong.
    pub fn kind(&self) -> RedisBuildErrorKind {
        self.kind
    }
}

impl fmt::Display for RedisBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self.kind {
            RedisBuildErrorKind::InvalidUrl => "invalid Redis URL",
            RedisBuildErrorKind::EmptyPrefix => "the Redis key prefix is empty",
            RedisBuildErrorKind::InvalidPrefix => "the Redis key prefix may not contain '{' or '}'",
            RedisBuildErrorKind::ZeroTimeout => "a Redis timeout is zero",
            RedisBuildErrorKind::InvalidBackoff => {
                "the Redis reconnect backoff minimum is zero or above its maximum"
            }
            RedisBuildErrorKind::ZeroFenceLifetime => "the Redis fence lifetime is zero",
            RedisBuildErrorKind::NoRuntime => "a Redis store must be built inside a tokio runtime",
        })
    }
}

impl Error for RedisBuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
