//! The cost of an L2 hit: `RedisStore::get` of a 512-byte entry (envelope
//! and JSON decode included) next to a raw `redis` GET of 512 bytes, on the
//! Redis at `STEADFAST_REDIS_URL` (default `redis://127.0.0.1:6379`).
//! Without a Redis the group is skipped with a notice.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use steadfast_cache::redis::{ENVELOPE_HEADER_LEN, RedisStore};
use steadfast_cache::{Entry, Store};
use tokio::runtime::Runtime;
use tokio::time::Instant;

const SIZE: usize = 512;

fn redis_url() -> String {
    std::env::var("STEADFAST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

async fn connect(url: &str) -> Option<redis::aio::MultiplexedConnection> {
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

fn l2_hit(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let url = redis_url();
    let Some(mut raw) = rt.block_on(connect(&url)) else {
        eprintln!("\n!!! SKIPPED cache_redis: no Redis at {url} !!!\n");
        return;
    };
    let prefix = format!("steadfast-bench:{:016x}", fastrand::u64(..));
    let raw_key = format!("{prefix}:raw");
    let store: RedisStore<String, String> = rt
        .block_on(async {
            RedisStore::builder(url.as_str())
                .prefix(prefix.as_str())
                .call_timeout(Duration::from_secs(1))
                .build()
        })
        .unwrap();
    let key = "config".to_owned();
    // The envelope header, then a JSON string: 512 bytes in all.
    let value = "x".repeat(SIZE - ENVELOPE_HEADER_LEN - 2);
    rt.block_on(async {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        let entry = Entry {
            value,
            fresh_until: now + hour,
            revalidate_until: now + hour,
            expires_at: now + hour,
        };
        store.put(key.clone(), entry).await.unwrap();
        redis::cmd("SET")
            .arg(&raw_key)
            .arg(vec![b'x'; SIZE])
            .arg("EX")
            .arg(3600)
            .query_async::<()>(&mut raw)
            .await
            .unwrap();
        let stored: Vec<u8> = redis::cmd("GET")
            .arg(store.redis_key(&key))
            .query_async(&mut raw)
            .await
            .unwrap();
        assert_eq!(stored.len(), SIZE);
    });

    let mut group = c.benchmark_group("l2_hit");
    group.bench_function("redis_store_get", |b| {
        b.to_async(&rt).iter(|| async {
            let found = store.get(black_box(&key)).await.unwrap();
            black_box(found.unwrap());
        });
    });
    group.bench_function("raw_redis_get", |b| {
        b.to_async(&rt).iter(|| {
            let mut conn = raw.clone();
            let key = raw_key.as_str();
            async move {
                let bytes: Vec<u8> = redis::cmd("GET")
                    .arg(black_box(key))
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
            .arg(&raw_key)
            .query_async::<()>(&mut raw)
            .await
            .unwrap();
    });
}

criterion_group!(benches, l2_hit);
criterion_main!(benches);
