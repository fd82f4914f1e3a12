//! The cost of the Redis tier, next to the raw `redis` calls it is made of,
//! on the Redis at `STEADFAST_REDIS_URL` (default `redis://127.0.0.1:6379`)
//! and, with the `redis-cluster` feature, on a three-primary cluster the
//! bench starts from the machine's `redis-server`:
//!
//! - `l2_hit`, `l2_hit_cluster`: `RedisStore::get` of a 512-byte entry
//!   (one script reading the value and its `PTTL`, envelope and JSON decode
//!   included) against a raw `GET` of 512 bytes.
//! - `l2_miss`: `RedisStore::get` of an absent key (the read script also
//!   takes the server's `TIME`, and the store records when its load
//!   began), against the same read script without `TIME` and a raw `GET`.
//! - `invalidation_latency`: from a write to a peer hearing of it, for the
//!   two ways of keeping L1 copies coherent: a put that publishes on the
//!   namespace's channel (what `RedisStore` does) and a plain `SET` seen by
//!   a peer with RESP3 client tracking (`CLIENT TRACKING ON BCAST PREFIX`).
//!
//! Without a Redis (or a `redis-server`) a group is skipped with a notice.

#[path = "../crates/steadfast-cache/tests/support/redis.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, ProtocolVersion};
use steadfast_cache::redis::{ENVELOPE_HEADER_LEN, RedisStore};
use steadfast_cache::{Entry, Store};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::time::Instant;

const SIZE: usize = 512;
const HOUR: Duration = Duration::from_secs(3600);

fn redis_url() -> String {
    std::env::var("STEADFAST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn connect(url: &str) -> Option<MultiplexedConnection> {
    let attempt = async {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok::<_, redis::RedisError>(conn)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .and_then(Result::ok)
}

fn hour_entry(value: String) -> Entry<String> {
    let now = Instant::now();
    Entry {
        value,
        fresh_until: now + HOUR,
        revalidate_until: now + HOUR,
        expires_at: now + HOUR,
    }
}

/// Writes a 512-byte entry through `store` and 512 raw bytes under
/// `raw_key` (which shares the entry's hash tag, so on a cluster both live
/// on the same node), then benches reading each back, side by side.
fn bench_hit<C: ConnectionLike + Clone + Send + 'static>(
    c: &mut Criterion,
    rt: &Runtime,
    group: &str,
    store: &RedisStore<String, String>,
    raw: &C,
    raw_key: &str,
) {
    let key = "config".to_owned();
    // The envelope header, then a JSON string: 512 bytes in all.
    let value = "x".repeat(SIZE - ENVELOPE_HEADER_LEN - 2);
    rt.block_on(async {
        store.put(key.clone(), hour_entry(value)).await.unwrap();
        redis::cmd("SET")
            .arg(raw_key)
            .arg(vec![b'x'; SIZE])
            .arg("EX")
            .arg(3600)
            .query_async::<()>(&mut raw.clone())
            .await
            .unwrap();
        let stored: Vec<u8> = redis::cmd("GET")
            .arg(store.redis_key(&key))
            .query_async(&mut raw.clone())
            .await
            .unwrap();
        assert_eq!(stored.len(), SIZE);
    });

    let mut group = c.benchmark_group(group);
    group.bench_function("redis_store_get", |b| {
        b.to_async(rt).iter(|| async {
            let found = store.get(black_box(&key)).await.unwrap();
            black_box(found.unwrap());
        });
    });
    group.bench_function("raw_redis_get", |b| {
        b.to_async(rt).iter(|| {
            let mut conn = raw.clone();
            async move {
                let bytes: Vec<u8> = redis::cmd("GET")
                    .arg(black_box(raw_key))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                black_box(bytes);
            }
        });
    });
    group.finish();

    rt.block_on(async {
        redis::cmd("DEL")
            .arg(store.redis_key(&key))
            .query_async::<()>(&mut raw.clone())
            .await
            .unwrap();
        redis::cmd("DEL")
            .arg(raw_key)
            .query_async::<()>(&mut raw.clone())
            .await
            .unwrap();
    });
}

/// A store on the single-node Redis, under a prefix of its own.
struct Single {
    url: String,
    raw: MultiplexedConnection,
    prefix: String,
    store: RedisStore<String, String>,
}

/// The single-node Redis and a store on it, or `None` after a notice.
fn single(rt: &Runtime, group: &str) -> Option<Single> {
    let url = redis_url();
    let Some(raw) = rt.block_on(connect(&url)) else {
        eprintln!("\n!!! SKIPPED {group}: no Redis at {url} !!!\n");
        return None;
    };
    let prefix = format!("steadfast-bench:{:016x}", fastrand::u64(..));
    let store = rt
        .block_on(async {
            RedisStore::builder(url.as_str())
                .prefix(prefix.as_str())
                .call_timeout(Duration::from_secs(1))
                .build()
        })
        .unwrap();
    Some(Single {
        url,
        raw,
        prefix,
        store,
    })
}

/// The read script as it was before it took the server's time.
const GET_PTTL: &str = "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}";

/// The read script with the server's time, as `RedisStore::get` runs it.
const GET_PTTL_TIME: &str = "\
local t = redis.call('TIME') \
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) \
return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1]), now}";

fn l2_miss(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let Some(redis) = single(&rt, "l2_miss") else {
        return;
    };
    let (raw, store) = (redis.raw, redis.store);
    let key = "absent".to_owned();
    let redis_key = store.redis_key(&key);
    let mut group = c.benchmark_group("l2_miss");
    group.bench_function("redis_store_get", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(store.get(black_box(&key)).await.unwrap());
        });
    });
    for (name, text) in [
        ("script_get_pttl", GET_PTTL),
        ("script_get_pttl_time", GET_PTTL_TIME),
    ] {
        let script = redis::Script::new(text);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let mut conn = raw.clone();
                let script = &script;
                let redis_key = &redis_key;
                async move {
                    let reply: redis::Value = script
                        .key(black_box(redis_key))
                        .invoke_async(&mut conn)
                        .await
                        .unwrap();
                    black_box(reply);
                }
            });
        });
    }
    group.bench_function("raw_redis_get", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = raw.clone();
            let redis_key = &redis_key;
            async move {
                let bytes: Option<Vec<u8>> = redis::cmd("GET")
                    .arg(black_box(redis_key))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                black_box(bytes);
            }
        });
    });
    group.finish();
}

fn l2_hit(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let Some(redis) = single(&rt, "l2_hit") else {
        return;
    };
    let (raw, prefix, store) = (redis.raw, redis.prefix, redis.store);
    bench_hit(
        c,
        &rt,
        "l2_hit",
        &store,
        &raw,
        &format!("{prefix}:{{config}}:raw"),
    );
}

#[cfg(feature = "redis-cluster")]
fn l2_hit_cluster(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let Some(cluster) = rt.block_on(support::Cluster::start_or_skip("l2_hit_cluster")) else {
        return;
    };
    let prefix = format!("steadfast-bench:{:016x}", fastrand::u64(..));
    let (store, raw) = rt.block_on(async {
        let store: RedisStore<String, String> = RedisStore::cluster_builder(cluster.urls())
            .prefix(prefix.as_str())
            .call_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let raw = redis::cluster::ClusterClient::new(cluster.urls())
            .unwrap()
            .get_async_connection()
            .await
            .unwrap();
        (store, raw)
    });
    bench_hit(
        c,
        &rt,
        "l2_hit_cluster",
        &store,
        &raw,
        &format!("{prefix}:{{config}}:raw"),
    );
    drop(cluster);
}

#[cfg(not(feature = "redis-cluster"))]
fn l2_hit_cluster(_: &mut Criterion) {
    eprintln!("\n!!! SKIPPED l2_hit_cluster: built without the redis-cluster feature !!!\n");
}

/// A RESP3 connection whose pushes arrive on the returned receiver.
async fn listener(
    url: &str,
) -> (
    MultiplexedConnection,
    mpsc::UnboundedReceiver<redis::PushInfo>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let info = redis::IntoConnectionInfo::into_connection_info(url).unwrap();
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    let client = redis::Client::open(info.set_redis_settings(settings)).unwrap();
    let conn = client
        .get_multiplexed_async_connection_with_config(
            &AsyncConnectionConfig::new().set_push_sender(tx),
        )
        .await
        .unwrap();
    (conn, rx)
}

/// Waits for the next push of `kind`.
async fn next_push(rx: &mut mpsc::UnboundedReceiver<redis::PushInfo>, kind: redis::PushKind) {
    while let Some(push) = rx.recv().await {
        if push.kind == kind {
            return;
        }
    }
    panic!("the push channel closed");
}

fn invalidation_latency(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let Some(Single {
        url,
        raw,
        prefix,
        store,
    }) = single(&rt, "invalidation_latency")
    else {
        return;
    };
    let key = "config".to_owned();
    let value = "x".repeat(SIZE - ENVELOPE_HEADER_LEN - 2);
    let (mut subscriber, mut messages) = rt.block_on(listener(&url));
    let (mut tracker, invalidations) = rt.block_on(listener(&url));
    rt.block_on(async {
        subscriber.subscribe(store.channel()).await.unwrap();
        next_push(&mut messages, redis::PushKind::Subscribe).await;
        redis::cmd("CLIENT")
            .arg("TRACKING")
            .arg("ON")
            .arg("BCAST")
            .arg("PREFIX")
            .arg(format!("{prefix}:"))
            .query_async::<()>(&mut tracker)
            .await
            .unwrap();
    });
    let messages = tokio::sync::Mutex::new(messages);
    let invalidations = tokio::sync::Mutex::new(invalidations);

    let mut group = c.benchmark_group("invalidation_latency");
    group.bench_function("publish_on_put", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (store, key, value) = (store.clone(), key.clone(), value.clone());
            let messages = &messages;
            async move {
                let mut rx = messages.lock().await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    store
                        .put(key.clone(), hour_entry(value.clone()))
                        .await
                        .unwrap();
                    next_push(&mut rx, redis::PushKind::Message).await;
                    total += started.elapsed();
                }
                total
            }
        });
    });
    group.bench_function("client_tracking_bcast", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let mut conn = raw.clone();
            let redis_key = store.redis_key(&key);
            let bytes = vec![b'x'; SIZE];
            let invalidations = &invalidations;
            async move {
                let mut rx = invalidations.lock().await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    redis::cmd("SET")
                        .arg(&redis_key)
                        .arg(&bytes)
                        .arg("PX")
                        .arg(3_600_000)
                        .query_async::<()>(&mut conn)
                        .await
                        .unwrap();
                    next_push(&mut rx, redis::PushKind::Invalidate).await;
                    total += started.elapsed();
                }
                total
            }
        });
    });
    group.finish();
    rt.block_on(async {
        let _ = store.remove(&key).await;
    });
}

criterion_group!(
    benches,
    l2_hit,
    l2_miss,
    l2_hit_cluster,
    invalidation_latency
);
criterion_main!(benches);
