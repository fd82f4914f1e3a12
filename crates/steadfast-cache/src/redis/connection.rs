//! The store's connection to Redis, and the replacement of one that has
//! gone silent.
//!
//! The `redis` crate reconnects when a socket breaks, but a network that
//! drops packets without closing anything (a blackhole, a lost NAT
//! mapping, a failover to a new address) breaks no socket: every call just
//! times out, and a timeout never makes the crate reconnect. So the store
//! counts consecutive timeouts on the connection in use and, at
//! [`RedisStoreBuilder::dead_after`](super::RedisStoreBuilder::dead_after),
//! drops it for a new one.

use std::sync::RwLock;
use std::sync::atomic::{AtomicU32, Ordering};

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

/// One connection of either kind, cheap to clone (every clone multiplexes
/// onto the same sockets).
#[derive(Clone)]
pub(super) enum Link {
    /// A single Redis node.
    Single(ConnectionManager),
    /// A Redis Cluster.
    #[cfg(feature = "redis-cluster")]
    Cluster(::redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(conn) => conn.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Link::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(conn) => conn.req_packed_commands(cmd, offset, count),
            #[cfg(feature = "redis-cluster")]
            Link::Cluster(conn) => conn.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(conn) => conn.get_db(),
            #[cfg(feature = "redis-cluster")]
            Link::Cluster(conn) => conn.get_db(),
        }
    }
}

/// How to open a new [`Link`] (lazily: nothing connects until it is used).
#[derive(Clone)]
pub(super) enum Opener {
    Single {
        client: ::redis::Client,
        config: ConnectionManagerConfig,
    },
    #[cfg(feature = "redis-cluster")]
    Cluster(::redis::cluster::ClusterClient),
}

impl Opener {
    pub(super) fn open(&self) -> Result<Link, RedisError> {
        match self {
            Opener::Single { client, config } => Ok(Link::Single(
                ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?,
            )),
            #[cfg(feature = "redis-cluster")]
            Opener::Cluster(client) => Ok(Link::Cluster(super::cluster::open(client))),
        }
    }
}

/// The link in use, numbered so that a timeout seen on an old link never
/// counts against its replacement.
struct Current {
    generation: u64,
    link: Link,
}

/// The store's connection: the link in use and its health.
pub(super) struct Connection {
    opener: Opener,
    current: RwLock<Current>,
    /// Consecutive timeouts on the current link.
    timeouts: AtomicU32,
    dead_after: u32,
}

impl Connection {
    pub(super) fn new(opener: Opener, dead_after: u32) -> Result<Self, RedisError> {
        let link = opener.open()?;
        Ok(Self {
            opener,
            current: RwLock::new(Current {
                generation: 0,
                link,
            }),
            timeouts: AtomicU32::new(0),
            dead_after: dead_after.max(1),
        })
    }

    /// The link in use, and its number for [`timed_out`](Self::timed_out).
    pub(super) fn link(&self) -> (u64, Link) {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        (current.generation, current.link.clone())
    }

    /// A call was answered: the link is alive.
    pub(super) fn answered(&self) {
        if self.timeouts.load(Ordering::Relaxed) != 0 {
            self.timeouts.store(0, Ordering::Relaxed);
        }
    }

    /// A call on the link numbered `generation` timed out. Returns `true`
    /// when this timeout made the link count as dead and it was replaced by
    /// a new one.
    pub(super) fn timed_out(&self, generation: u64) -> bool {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if current.generation != generation {
            return false;
        }
        let timeouts = self.timeouts.load(Ordering::Relaxed).saturating_add(1);
        if timeouts < self.dead_after {
            self.timeouts.store(timeouts, Ordering::Relaxed);
            return false;
        }
        match self.opener.open() {
            Ok(link) => {
                current.link = link;
                current.generation = current.generation.wrapping_add(1);
                self.timeouts.store(0, Ordering::Relaxed);
                true
            }
            Err(error) => {
                tracing::debug!(%error, "could not open a new redis connection");
                self.timeouts.store(timeouts, Ordering::Relaxed);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(dead_after: u32) -> Connection {
        let opener = Opener::Single {
            client: ::redis::Client::open("redis://127.0.0.1:1").unwrap(),
            config: ConnectionManagerConfig::new(),
        };
        Connection::new(opener, dead_after).unwrap()
    }

    #[tokio::test]
    async fn a_link_is_replaced_after_consecutive_timeouts_only() {
        let conn = connection(3);
        let (first, _) = conn.link();
        assert!(!conn.timed_out(first));
        assert!(!conn.timed_out(first));
        conn.answered();
        assert!(!conn.timed_out(first));
        assert!(!conn.timed_out(first));
        assert!(conn.timed_out(first), "the third in a row");
        let (second, _) = conn.link();
        assert_ne!(second, first);
        for _ in 0..5 {
            assert!(
                !conn.timed_out(first),
                "late timeouts of the old link do not count"
            );
        }
        assert!(!conn.timed_out(second));
        assert!(!conn.timed_out(second));
        assert!(conn.timed_out(second));
    }

    #[tokio::test]
    async fn dead_after_zero_is_taken_as_one() {
        let conn = connection(0);
        let (first, _) = conn.link();
        assert!(conn.timed_out(first));
    }
}
