//! The stack's disk snapshot: a process that loaded a configuration, then
//! restarts while the source (and Redis) are down, starts on the last good
//! value at once, marked stale.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use steadfast::StackBuilder;
use steadfast::cache::FileStore;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_core::Source;
use tokio::time::Instant;
use tower::service_fn;
use tower::util::BoxCloneService;

const BODY: &str = r#"{"pool":16}"#;

type Source_ = BoxCloneService<ConfigRequest, ConfigResponse, ConfigError>;

/// A source that answers [`BODY`] while `up`, and fails otherwise.
fn source(up: bool, calls: Arc<AtomicU64>) -> Source_ {
    let up = Arc::new(AtomicBool::new(up));
    BoxCloneService::new(service_fn(move |_req: ConfigRequest| {
        let (up, calls) = (up.clone(), calls.clone());
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            if up.load(Ordering::SeqCst) {
                Ok(ConfigResponse::new(BODY, Format::Json))
            } else {
                Err(ConfigError::Status {
                    code: http::StatusCode::SERVICE_UNAVAILABLE,
                    retry_after: None,
                })
            }
        }
    }))
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "steadfast-{test}-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn disk(dir: &Scratch) -> FileStore<Arc<str>, ConfigResponse> {
    FileStore::builder(&dir.0).max_entries(64).build().unwrap()
}

#[tokio::test]
async fn a_restart_with_the_source_down_starts_on_the_snapshot() {
    let dir = Scratch::new("snapshot-restart");
    {
        let disk = disk(&dir);
        let loader = StackBuilder::new()
            .snapshot(disk.clone())
            .build(source(true, Arc::default()))
            .unwrap();
        let first = loader.load_response("app").await.unwrap();
        assert_eq!(first.source(), Source::Origin);
        disk.flush().await;
        assert_eq!(disk.len(), 1);
    }

    // Everything is gone; the process starts again, the source is down.
    let calls = Arc::new(AtomicU64::new(0));
    let loader = StackBuilder::new()
        .snapshot(disk(&dir))
        .build(source(false, calls.clone()))
        .unwrap();
    let started = Instant::now();
    let res = loader.load_response("app").await.unwrap();
    let took = started.elapsed();
    assert_eq!(
        (res.body().as_ref(), res.source()),
        (BODY.as_bytes(), Source::Stale)
    );
    assert!(took < Duration::from_millis(10), "answered in {took:?}");
    println!("restarted on the snapshot in {took:?}");
    let stats = loader.cache().unwrap().stats();
    assert_eq!((stats.stale_served, stats.misses, stats.errors), (1, 0, 0));
}

#[cfg(feature = "redis")]
mod with_redis {
    use std::net::TcpListener;

    use steadfast::cache::redis::RedisStore;
    use steadfast::cache::{CacheLayerBuilder, MemoryStore, Tiered};

    use super::*;

    /// A loopback port nothing listens on: a Redis that is down.
    fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    async fn redis_up(url: &str) -> bool {
        let ping = async {
            let client = redis::Client::open(url)?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(1), ping).await,
            Ok(Ok(_))
        )
    }

    /// The stack over a memory L1 and a Redis L2 at `url`, with `dir` behind.
    fn with_redis(
        url: &str,
        prefix: &str,
        disk: FileStore<Arc<str>, ConfigResponse>,
        source: Source_,
    ) -> steadfast::Loader<Source_, impl steadfast::cache::Store<Arc<str>, ConfigResponse>> {
        let redis = RedisStore::builder(url)
            .prefix(prefix)
            .call_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let tiers = Tiered::builder(MemoryStore::new(100).unwrap(), redis.clone())
            .invalidations(redis.invalidations())
            .build()
            .unwrap();
        StackBuilder::new()
            .cache(
                CacheLayerBuilder::new()
                    .ttl(Duration::from_secs(300))
                    .store(tiers),
            )
            .snapshot(disk)
            .build(source)
            .unwrap()
    }

    #[tokio::test]
    async fn a_restart_with_the_source_and_redis_down_starts_on_the_snapshot() {
        let url = std::env::var("STEADFAST_REDIS_URL")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
        if !redis_up(&url).await {
            assert!(
                std::env::var("STEADFAST_REQUIRE_REDIS").as_deref() != Ok("1"),
                "no Redis at {url}"
            );
            eprintln!(
                "SKIPPED a_restart_with_the_source_and_redis_down_starts_on_the_snapshot: no Redis at {url}"
            );
            return;
        }
        let prefix = format!("steadfast-test:snapshot:{:016x}", fastrand::u64(..));
        let dir = Scratch::new("snapshot-redis");
        {
            let disk = disk(&dir);
            let loader = with_redis(&url, &prefix, disk.clone(), source(true, Arc::default()));
            let first = loader.load_response("app").await.unwrap();
            assert_eq!(first.source(), Source::Origin);
            let again = loader.load_response("app").await.unwrap();
            assert_eq!(again.source(), Source::Cache);
            // The load writes Redis, then the disk, after its callers have
            // their answer.
            for _ in 0..200 {
                disk.flush().await;
                if disk.stats().writes == 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(disk.len(), 1);
        }

        let down = format!("redis://127.0.0.1:{}", closed_port());
        let calls = Arc::new(AtomicU64::new(0));
        let loader = with_redis(&down, &prefix, disk(&dir), source(false, calls));
        let started = Instant::now();
        let res = loader.load_response("app").await.unwrap();
        let took = started.elapsed();
        assert_eq!(
            (res.body().as_ref(), res.source()),
            (BODY.as_bytes(), Source::Stale)
        );
        assert!(took < Duration::from_millis(10), "answered in {took:?}");
        println!("restarted on the snapshot with Redis down in {took:?}");
        let stats = loader.cache().unwrap().stats();
        assert_eq!(stats.stale_served, 1);
        assert!(stats.store_errors >= 1, "Redis being down is counted");

        // Leave the shared Redis as it was.
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        for key in keys {
            let _: () = redis::cmd("DEL")
                .arg(key)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
}
