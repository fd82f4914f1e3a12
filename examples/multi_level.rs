//! Two cache levels under one CacheLayer: a memory L1 per instance and a
//! shared Redis L2, kept coherent by pub/sub invalidation.
//!
//! Two "instances" (two layers with their own L1) share the Redis at
//! `STEADFAST_REDIS_URL` (default `redis://127.0.0.1:6379`). The first load
//! takes the slow source's full second; the other instance then answers
//! from Redis, and an invalidation on one drops the other's L1 copy. When no
//! Redis answers, the example says so and runs with the memory L1 alone.
//!
//! Last, the disk snapshot at startup: a stack with a `FileStore` behind
//! its tiers (`StackBuilder::snapshot`) loads once, is dropped, and starts
//! again with the source and Redis down. Its first answer is the last good
//! value from disk, at once, marked stale.
//!
//! ```text
//! cargo run --example multi_level
//! ```

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use steadfast::StackBuilder;
use steadfast_cache::redis::RedisStore;
use steadfast_cache::{
    CacheHandle, CacheLayer, CacheLayerBuilder, FileStore, MemoryStore, Store, Tiered,
};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use tokio::time::Instant;
use tower::util::BoxCloneService;
use tower::{Layer, ServiceExt, service_fn};

type Key = Arc<str>;
/// An instance's cached loader.
type Loader = BoxCloneService<ConfigRequest, ConfigResponse, ConfigError>;
/// A memory L1 in front of the shared Redis L2.
type TwoLevel = Tiered<MemoryStore<Key, ConfigResponse>, RedisStore<Key, ConfigResponse>>;
type Outcome<T> = Result<T, Box<dyn Error>>;

/// One instance: a cache layer on `store` in front of a config source that
/// takes a second per load.
fn instance<S>(store: S) -> Outcome<(Loader, CacheHandle<Key, ConfigResponse, S>)>
where
    S: Store<Key, ConfigResponse>,
{
    let layer = CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(600))
        .provenance()
        .store(store)
        .build()?;
    let handle = layer.handle();
    let source = service_fn(|req: ConfigRequest| async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let body = format!("{{\"name\":\"{}\",\"pool\":16}}", req.name());
        Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json))
    });
    Ok((BoxCloneService::new(layer.layer(source)), handle))
}

async fn load(name: &str, cache: &Loader) -> Outcome<()> {
    let started = Instant::now();
    let response = cache.clone().oneshot(ConfigRequest::new("app")).await?;
    println!(
        "  {name}: {:<6} in {:>8.1?}  {}",
        response.source().to_string(),
        started.elapsed(),
        std::str::from_utf8(response.body())?
    );
    Ok(())
}

async fn redis_answers(url: &str) -> bool {
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

fn tiered(url: &str, prefix: &str) -> Outcome<TwoLevel> {
    let l2 = RedisStore::builder(url)
        .prefix(prefix)
        .call_timeout(Duration::from_millis(100))
        .build()?;
    Ok(Tiered::builder(MemoryStore::new(10_000)?, l2.clone())
        .l1_ttl_cap(Duration::from_secs(10))
        .invalidations(l2.invalidations())
        .build()?)
}

/// A source that answers at once while `up`, and is down otherwise.
fn source(up: bool) -> Loader {
    BoxCloneService::new(service_fn(move |req: ConfigRequest| async move {
        if up {
            let body = format!("{{\"name\":\"{}\",\"pool\":16}}", req.name());
            Ok(ConfigResponse::new(body, Format::Json))
        } else {
            Err(ConfigError::Status {
                code: http::StatusCode::SERVICE_UNAVAILABLE,
                retry_after: None,
            })
        }
    }))
}

/// Loads "app" through a stack with a disk snapshot in `dir` behind
/// memory (and Redis at `url`, if given), drops it, and starts a new one
/// with the source down and Redis unreachable.
async fn snapshot_at_startup(url: Option<&str>, prefix: &str) -> Outcome<()> {
    let dir = std::env::temp_dir().join(format!("steadfast-example-{}", std::process::id()));
    let stack = |url: Option<&str>, up: bool| -> Outcome<_> {
        let disk = FileStore::<Key, ConfigResponse>::builder(&dir)
            .max_entries(256)
            .build()?;
        let cache = CacheLayerBuilder::new()
            .ttl(Duration::from_secs(60))
            .stale_if_error(Duration::from_secs(24 * 3600));
        let loader = match url {
            Some(url) => StackBuilder::new()
                .cache(cache.store(tiered(url, prefix)?))
                .snapshot(disk.clone())
                .build(source(up))
                .map(BoxCloneService::new)?,
            None => StackBuilder::new()
                .cache(cache)
                .snapshot(disk.clone())
                .build(source(up))
                .map(BoxCloneService::new)?,
        };
        Ok((loader, disk))
    };

    let (first_run, disk) = stack(url, true)?;
    load("first run", &first_run).await?;
    // The write reaches the disk after the answer: wait for it.
    for _ in 0..100 {
        disk.flush().await;
        if disk.stats().writes > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop((first_run, disk));

    println!(
        "restart with the source down{}:",
        if url.is_some() {
            " and Redis unreachable"
        } else {
            ""
        }
    );
    let unreachable = url.map(|_| "redis://127.0.0.1:1".to_owned());
    let (restarted, _disk) = stack(unreachable.as_deref(), false)?;
    load("restarted", &restarted).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::main]
async fn main() -> Outcome<()> {
    let url = std::env::var("STEADFAST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());

    if !redis_answers(&url).await {
        println!("No Redis answers at {url}: running with the memory L1 only.");
        let (cache, _) = instance(MemoryStore::<Key, ConfigResponse>::new(10_000)?)?;
        for _ in 0..3 {
            load("L1 only", &cache).await?;
        }
        println!("The disk snapshot at startup, behind memory:");
        return snapshot_at_startup(None, "").await;
    }

    let prefix = format!("steadfast-example:{:08x}", fastrand::u32(..));
    println!("Redis at {url}, keys under {prefix}:");
    let (a, a_handle) = instance(tiered(&url, &prefix)?)?;
    let (b, b_handle) = instance(tiered(&url, &prefix)?)?;
    let waited = Instant::now();
    while !(a_handle.store().is_subscribed() && b_handle.store().is_subscribed()) {
        if waited.elapsed() > Duration::from_secs(2) {
            println!("  (invalidation feed not up yet; continuing)");
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    println!("instance A loads from the source, then from its L1:");
    load("A", &a).await?;
    load("A", &a).await?;
    println!("instance B has an empty L1 and finds the entry in Redis:");
    load("B", &b).await?;
    load("B", &b).await?;

    println!("A invalidates \"app\"; B's L1 copy goes with it:");
    println!("  entries in B's L1: {}", b_handle.store().l1().len());
    a_handle.invalidate(&Key::from("app")).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    println!("  entries in B's L1: {}", b_handle.store().l1().len());
    load("B", &b).await?;

    let redis = a_handle.store().l2().stats();
    println!(
        "Redis counters of A: {} hits, {} misses, {} writes, {} errors",
        redis.hits,
        redis.misses,
        redis.writes,
        redis.errors()
    );
    a_handle.clear().await?;

    println!("The disk snapshot at startup, behind memory and Redis:");
    let snapshot_prefix = format!("{prefix}:snapshot");
    snapshot_at_startup(Some(&url), &snapshot_prefix).await?;
    let (_, cleanup) = instance(tiered(&url, &snapshot_prefix)?)?;
    cleanup.clear().await?;
    Ok(())
}
