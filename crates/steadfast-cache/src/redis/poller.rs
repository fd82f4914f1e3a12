//! [`PollerLease`]: the lease that elects one poller among the instances
//! that watch a key through one Redis.

use std::fmt;

use ::redis::Script;

use super::RedisStore;
use super::codec::ceil_ms;
use crate::store::StoreError;

/// Takes the lease `KEYS[1]` for the token `ARGV[1]` for `ARGV[2]` ms when
/// nobody holds it, renews it when the token holds it: 1 when the token
/// holds it afterwards, else 0.
const HOLD: &str = "\
local holder = redis.call('GET', KEYS[1]) \
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end \
if holder then return 0 end \
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
return 1";

/// Deletes the lease only while the token `ARGV[1]` holds it.
const RELEASE: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) \
else return 0 end";

/// One instance's claim on the poller leases of a [`RedisStore`]'s
/// namespace: of the instances watching a key, the one whose lease holds
/// it polls the source; made by [`RedisStore::poller_lease`].
///
/// The lease of `k` is the Redis key `<prefix>:{k}:poller`, holding this
/// instance's random token and expiring (`PX`) unless renewed. Taking it
/// is `SET NX PX`, renewing it a `PEXPIRE` while it still holds the
/// token, both in one atomic script; so is giving it up. When its holder
/// dies, the lease expires and the next instance to ask takes it. Every
/// call goes through the store's timeout and reconnect pause: Redis down
/// is a [`StoreError`], and each instance then polls on its own.
pub struct PollerLease<K, V, C> {
    store: RedisStore<K, V, C>,
    token: u64,
    hold: Script,
    release: Script,
}

impl<K, V, C> RedisStore<K, V, C> {
    /// A claim of this instance on the poller leases of this namespace,
    /// with a token of its own: make one per watching instance.
    pub fn poller_lease(&self) -> PollerLease<K, V, C> {
        let token = self.shared.rng.lock().map_or(1, |mut rng| rng.u64(1..));
        PollerLease {
            store: self.clone(),
            token,
            hold: Script::new(HOLD),
            release: Script::new(RELEASE),
        }
    }
}

impl<K, V, C> PollerLease<K, V, C> {
    /// The Redis key of the lease of `key`: `<prefix>:{<key>}:poller`.
    pub fn lease_key(&self, key: &str) -> String {
        format!("{}:{{{key}}}:poller", self.store.shared.prefix)
    }

    /// This instance's token, the value of every lease it holds.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Takes the lease of `key` for `ttl` when nobody holds it, or renews
    /// it when this instance does: whether this instance holds it now.
    pub async fn hold(&self, key: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        let shared = &*self.store.shared;
        let lease = self.lease_key(key);
        let held: i64 = shared
            .call("hold_poller_lease", |mut link| async move {
                self.hold
                    .key(lease)
                    .arg(self.token)
                    .arg(ceil_ms(ttl).max(1))
                    .invoke_async(&mut link)
                    .await
            })
            .await?;
        Ok(held == 1)
    }

    /// Gives the lease of `key` up, if this instance holds it.
    pub async fn release(&self, key: &str) -> Result<(), StoreError> {
        let shared = &*self.store.shared;
        let lease = self.lease_key(key);
        shared
            .call("release_poller_lease", |mut link| async move {
                self.release
                    .key(lease)
                    .arg(self.token)
                    .invoke_async::<()>(&mut link)
                    .await
            })
            .await
    }
}

impl<K, V, C> Clone for PollerLease<K, V, C> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            token: self.token,
            hold: Script::new(HOLD),
            release: Script::new(RELEASE),
        }
    }
}

impl<K, V, C> fmt::Debug for PollerLease<K, V, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PollerLease")
            .field("prefix", &self.store.shared.prefix)
            .finish_non_exhaustive()
    }
}
