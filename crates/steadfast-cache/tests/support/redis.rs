//! Shared by the Redis tests: finding Redis (or skipping loudly), random key
//! prefixes, raw access, a closed port and a TCP proxy that can be cut.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use steadfast_cache::Entry;
use steadfast_cache::redis::{RedisStats, RedisStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The Redis the tests use: `STEADFAST_REDIS_URL`, or the local default.
pub fn redis_url() -> String {
    std::env::var("STEADFAST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A raw connection to the test Redis, or `None` after a loud skip notice.
/// With `STEADFAST_REQUIRE_REDIS=1`, a missing Redis fails the test instead.
pub async fn redis_or_skip(test: &str) -> Option<MultiplexedConnection> {
    let url = redis_url();
    let attempt = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok::<_, redis::RedisError>(conn)
    };
    let failure = match tokio::time::timeout(Duration::from_secs(2), attempt).await {
        Ok(Ok(conn)) => return Some(conn),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "no answer within 2 s".to_owned(),
    };
    if std::env::var("STEADFAST_REQUIRE_REDIS").as_deref() == Ok("1") {
        panic!("{test}: no Redis at {url} ({failure}) and STEADFAST_REQUIRE_REDIS=1");
    }
    eprintln!("\n!!! SKIPPED {test}: no Redis at {url} ({failure}) !!!\n");
    None
}

/// A key prefix of its own for one test.
pub fn prefix(test: &str) -> String {
    format!("steadfast-test:{test}:{:016x}", fastrand::u64(..))
}

/// A store on the test Redis under `prefix`.
pub fn store<V>(prefix: &str) -> RedisStore<String, V>
where
    V: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    RedisStore::builder(redis_url())
        .prefix(prefix)
        .call_timeout(Duration::from_millis(500))
        .build()
        .unwrap()
}

/// Deletes every key under `prefix`.
pub async fn cleanup(conn: &mut MultiplexedConnection, prefix: &str) {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(conn)
            .await
            .unwrap();
    }
}

/// An entry fresh for `fresh`, revalidatable for `swr` more, usable on error
/// for `sie` more.
pub fn entry<V>(value: V, fresh: Duration, swr: Duration, sie: Duration) -> Entry<V> {
    let now = Instant::now();
    Entry {
        value,
        fresh_until: now + fresh,
        revalidate_until: now + fresh + swr,
        expires_at: now + fresh + swr + sie,
    }
}

/// Zero counters but for what `set` sets.
pub fn stats(set: impl FnOnce(&mut RedisStats)) -> RedisStats {
    let mut stats = RedisStats::default();
    set(&mut stats);
    stats
}

/// `a` and `b` are within `margin` of each other.
pub fn close(a: Instant, b: Instant, margin: Duration) -> bool {
    let d = if a > b { a - b } else { b - a };
    d <= margin
}

/// A loopback address where nothing listens.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A TCP proxy on loopback in front of Redis, which can be cut (every
/// connection dropped, new ones refused) and restored on the same port.
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    frozen: Arc<AtomicBool>,
}

/// Copies bytes one way until either side closes; once frozen, holds them.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    /// A proxy to the test Redis.
    pub async fn start() -> Proxy {
        let url = redis_url();
        let info = redis::IntoConnectionInfo::into_connection_info(url.as_str()).unwrap();
        let upstream = match info.addr() {
            redis::ConnectionAddr::Tcp(host, port) => {
                tokio::net::lookup_host((host.as_str(), *port))
                    .await
                    .unwrap()
                    .next()
                    .unwrap()
            }
            other => panic!("the proxy needs a TCP Redis, not {other:?}"),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let proxy = Proxy {
            addr,
            upstream,
            tasks: Arc::default(),
            frozen: Arc::default(),
        };
        proxy.serve(listener);
        proxy
    }

    /// The test Redis URL, pointed at the proxy (credentials and database
    /// kept).
    pub fn url(&self) -> String {
        let base = redis_url();
        let (scheme, rest) = base.split_once("://").unwrap();
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((auth, rest)) => (format!("{auth}@"), rest),
            None => (String::new(), rest),
        };
        let tail = rest.find('/').map_or("", |at| &rest[at..]);
        format!("{scheme}://{auth}{}{tail}", self.addr)
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let tasks = self.tasks.clone();
        let frozen = self.frozen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let frozen = frozen.clone();
                let pipe = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, frozen.clone()),
                        pump(server_read, client_write, frozen),
                    );
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Stops forwarding without closing anything: a network that silently
    /// drops traffic.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// Forwards again on new connections (frozen ones stay stuck).
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// Drops every connection and stops accepting.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Accepts again, on the same port.
    pub async fn restore(&self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(error) if tries < 50 => {
                    tries += 1;
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("could not rebind the proxy on {}: {error}", self.addr),
            }
        };
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Polls `condition` every 10 ms until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
