//! [`RedisStoreBuilder`] and its error.

use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::codec::{Codec, JsonCodec};
use super::{Backoff, Gate, RedisStore, Shared};

/// Builds a [`RedisStore`]; see [`RedisStore::builder`].
pub struct RedisStoreBuilder<K, V, C = JsonCodec> {
    url: String,
    prefix: String,
    call_timeout: Duration,
    connect_timeout: Duration,
    reconnect: Backoff,
    codec: C,
    seed: Option<u64>,
    _types: PhantomData<fn(K) -> V>,
}

impl<K, V, C: fmt::Debug> fmt::Debug for RedisStoreBuilder<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStoreBuilder")
            .field("prefix", &self.prefix)
            .field("call_timeout", &self.call_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect", &self.reconnect)
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
        RedisStoreBuilder {
            url: url.into(),
            prefix: "steadfast".to_owned(),
            call_timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(500),
            reconnect: Backoff {
                min: Duration::from_millis(50),
                max: Duration::from_secs(2),
            },
            codec: JsonCodec,
            seed: None,
            _types: PhantomData,
        }
    }
}

impl<K, V, C> RedisStoreBuilder<K, V, C> {
    /// The key namespace (default `steadfast`): entries live under
    /// `<prefix>:<key>`, leases under `<prefix>:lease:<key>`, and
    /// invalidations go out on the channel `<prefix>:invalidate`.
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

    /// Encodes values with `codec` instead of JSON.
    pub fn codec<C2>(self, codec: C2) -> RedisStoreBuilder<K, V, C2> {
        RedisStoreBuilder {
            url: self.url,
            prefix: self.prefix,
            call_timeout: self.call_timeout,
            connect_timeout: self.connect_timeout,
            reconnect: self.reconnect,
            codec,
            seed: self.seed,
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

    /// The store. It connects lazily: a Redis that is down now makes the
    /// store a miss until it comes up. Fails on a bad URL, an empty prefix,
    /// a zero timeout, a backoff whose minimum is zero or above its maximum,
    /// or outside a tokio runtime.
    pub fn build(self) -> Result<RedisStore<K, V, C>, RedisBuildError>
    where
        V: 'static,
        C: Codec<V>,
    {
        let fail = |kind| Err(RedisBuildError { kind, source: None });
        if self.prefix.is_empty() {
            return fail(RedisBuildErrorKind::EmptyPrefix);
        }
        if self.call_timeout.is_zero() || self.connect_timeout.is_zero() {
            return fail(RedisBuildErrorKind::ZeroTimeout);
        }
        if self.reconnect.min.is_zero() || self.reconnect.min > self.reconnect.max {
            return fail(RedisBuildErrorKind::InvalidBackoff);
        }
        let client = ::redis::Client::open(self.url.as_str()).map_err(|e| RedisBuildError {
            kind: RedisBuildErrorKind::InvalidUrl,
            source: Some(Box::new(e)),
        })?;
        if tokio::runtime::Handle::try_current().is_err() {
            return fail(RedisBuildErrorKind::NoRuntime);
        }
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.call_timeout.max(self.connect_timeout)));
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(|e| {
                RedisBuildError {
                    kind: RedisBuildErrorKind::InvalidUrl,
                    source: Some(Box::new(e)),
                }
            })?;
        let rng = self
            .seed
            .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
        let channel = format!("{}:invalidate", self.prefix).into();
        Ok(RedisStore {
            shared: Arc::new(Shared {
                conn,
                client,
                prefix: self.prefix.into(),
                channel,
                call_timeout: self.call_timeout,
                connect_timeout: self.connect_timeout,
                reconnect: self.reconnect,
                codec: self.codec,
                counters: Default::default(),
                gate: Gate::new(),
                rng: Mutex::new(rng),
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
    /// A timeout is zero.
    ZeroTimeout,
    /// The reconnect backoff's minimum is zero or above its maximum.
    InvalidBackoff,
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
            RedisBuildErrorKind::ZeroTimeout => "a Redis timeout is zero",
            RedisBuildErrorKind::InvalidBackoff => {
                "the Redis reconnect backoff minimum is zero or above its maximum"
            }
            RedisBuildErrorKind::NoRuntime => "a Redis store must be built inside a tokio runtime",
        })
    }
}

impl Error for RedisBuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}
