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

/// A private Redis Cluster of three primaries, started from the machine's
/// `redis-server` on free loopback ports, each node in a temporary
/// directory of its own. Dropping it stops exactly the processes it
/// started, by pid, and removes the directories.
pub struct Cluster {
    nodes: Vec<ClusterNode>,
}

struct ClusterNode {
    port: u16,
    dir: std::path::PathBuf,
    process: Option<std::process::Child>,
}

/// A loopback port that is free, and whose cluster bus port (`+ 10000`)
/// is free too.
fn free_cluster_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        if port > 55_000 {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

impl ClusterNode {
    fn start(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", "1000"])
            .args(["--cluster-require-full-coverage", "no"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.process = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

/// `redis-cli` run to completion with `args`; its stdout.
fn redis_cli(args: &[&str]) -> std::io::Result<String> {
    let out = std::process::Command::new("redis-cli")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Cluster {
    /// A running cluster, or `None` after a loud skip notice when the
    /// machine has no `redis-server`. With `STEADFAST_REQUIRE_REDIS=1` a
    /// missing `redis-server` fails the test instead.
    pub async fn start_or_skip(test: &str) -> Option<Cluster> {
        let found = std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if !found {
            if std::env::var("STEADFAST_REQUIRE_REDIS").as_deref() == Ok("1") {
                panic!("{test}: no redis-server on this machine and STEADFAST_REQUIRE_REDIS=1");
            }
            eprintln!("\n!!! SKIPPED {test}: no redis-server to start a cluster with !!!\n");
            return None;
        }
        let mut nodes: Vec<ClusterNode> = (0..3)
            .map(|i| {
                let dir = std::env::temp_dir().join(format!(
                    "steadfast-cluster-{}-{:016x}-{i}",
                    std::process::id(),
                    fastrand::u64(..)
                ));
                std::fs::create_dir_all(&dir).unwrap();
                ClusterNode {
                    port: free_cluster_port(),
                    dir,
                    process: None,
                }
            })
            .collect();
        for node in &mut nodes {
            node.start();
        }
        let cluster = Cluster { nodes };
        for node in &cluster.nodes {
            cluster.wait_until_answering(node.port).await;
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = tokio::task::spawn_blocking({
            let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
            move || redis_cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap()
        .expect("redis-cli runs");
        assert!(
            created.contains("All 16384 slots covered"),
            "redis-cli --cluster create failed:\n{created}"
        );
        cluster.wait_until_ok().await;
        Some(cluster)
    }

    async fn wait_until_answering(&self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let port = port.to_string();
        while !redis_cli(&["-p", &port, "ping"]).is_ok_and(|out| out.contains("PONG")) {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} never answered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running node says the cluster is ok.
    pub async fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self.nodes.iter().filter(|n| n.process.is_some()).all(|n| {
                redis_cli(&["-p", &n.port.to_string(), "cluster", "info"])
                    .is_ok_and(|out| out.contains("cluster_state:ok"))
            });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster never became ok");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The URLs of the nodes, in order.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(ClusterNode::url).collect()
    }

    /// The port of node `i`.
    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    /// A raw connection to node `i`.
    pub async fn node(&self, i: usize) -> MultiplexedConnection {
        redis::Client::open(self.nodes[i].url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// The index of the node that serves `key` (the others answer
    /// `MOVED`).
    pub async fn owner(&self, key: &str) -> usize {
        for i in 0..self.nodes.len() {
            let mut conn = self.node(i).await;
            let answer: redis::RedisResult<i64> =
                redis::cmd("EXISTS").arg(key).query_async(&mut conn).await;
            if answer.is_ok() {
                return i;
            }
        }
        panic!("no node serves {key}");
    }

    /// Every key on every node that matches `pattern`, sorted.
    pub async fn keys(&self, pattern: &str) -> Vec<String> {
        let mut all = Vec::new();
        for i in 0..self.nodes.len() {
            let mut conn = self.node(i).await;
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(pattern)
                .query_async(&mut conn)
                .await
                .unwrap();
            all.extend(keys);
        }
        all.sort();
        all
    }

    /// Kills node `i` (SIGKILL, by pid).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Starts node `i` again on its port and directory: it rejoins with
    /// its slots (its data is gone).
    pub async fn restart(&mut self, i: usize) {
        self.nodes[i].start();
        self.wait_until_answering(self.nodes[i].port).await;
        self.wait_until_ok().await;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
            let _ = std::fs::remove_dir_all(&node.dir);
        }
    }
}
