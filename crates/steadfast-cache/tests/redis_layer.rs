//! CacheLayers on Tiered stores sharing one Redis: distributed single
//! flight across instances, and L2 hits served through the layer.

#[path = "support/source.rs"]
mod source;
#[path = "support/redis.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use source::{TestSource, body, text};
use steadfast_cache::redis::RedisStore;
use steadfast_cache::{Cache, CacheHandle, CacheLayer, DefaultKey, MemoryStore, Tiered};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::Source;
use support::{prefix, redis_or_skip, redis_url};
use tower::{Layer, ServiceExt};

type Key = Arc<str>;
type Store = Tiered<MemoryStore<Key, ConfigResponse>, RedisStore<Key, ConfigResponse>>;
type Instance = Cache<TestSource, Key, ConfigResponse, ConfigError, DefaultKey, Store>;

fn instance(
    prefix: &str,
    source: &TestSource,
    single_flight: bool,
) -> (Instance, CacheHandle<Key, ConfigResponse, Store>) {
    let l2 = RedisStore::builder(redis_url())
        .prefix(prefix)
        .call_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let store = Tiered::builder(MemoryStore::new(1_000).unwrap(), l2.clone())
        .invalidations(l2.invalidations())
        .build()
        .unwrap();
    let mut builder = CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .provenance()
        .store(store);
    if single_flight {
        builder = builder.distributed_single_flight(
            Duration::from_secs(5),
            Duration::from_secs(5),
            Duration::from_millis(10),
        );
    }
    let layer = builder.build().unwrap();
    let handle = layer.handle();
    (layer.layer(source.clone()), handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_make_one_inner_call_for_200_cold_callers() {
    let Some(_raw) = redis_or_skip("four_instances_make_one_inner_call_for_200_cold_callers").await
    else {
        return;
    };
    let prefix = prefix("dsf");
    let source = TestSource::new(Duration::from_millis(200));
    let instances: Vec<_> = (0..4).map(|_| instance(&prefix, &source, true)).collect();

    let mut callers = Vec::new();
    for i in 0..200 {
        let cache = instances[i % 4].0.clone();
        callers.push(tokio::spawn(async move {
            cache.oneshot(ConfigRequest::new("shared")).await
        }));
    }
    for caller in callers {
        let response = caller.await.unwrap().unwrap();
        assert_eq!(text(&response), body("shared", 1));
    }
    assert_eq!(source.calls(), 1);
    let loads: u64 = instances.iter().map(|(_, h)| h.stats().loads).sum();
    assert_eq!(loads, 1);
    instances[0].1.clear().await.unwrap();
}

#[tokio::test]
async fn without_distributed_single_flight_each_instance_loads() {
    let Some(_raw) = redis_or_skip("without_distributed_single_flight_each_instance_loads").await
    else {
        return;
    };
    let prefix = prefix("no_dsf");
    let source = TestSource::new(Duration::from_millis(200));
    let instances: Vec<_> = (0..4).map(|_| instance(&prefix, &source, false)).collect();
    let callers: Vec<_> = instances
        .iter()
        .map(|(cache, _)| tokio::spawn(cache.clone().oneshot(ConfigRequest::new("shared"))))
        .collect();
    for caller in callers {
        caller.await.unwrap().unwrap();
    }
    assert_eq!(source.calls(), 4);
    instances[0].1.clear().await.unwrap();
}

#[tokio::test]
async fn an_l2_hit_is_served_through_the_layer_and_back_filled() {
    let Some(_raw) = redis_or_skip("an_l2_hit_is_served_through_the_layer_and_back_filled").await
    else {
        return;
    };
    let prefix = prefix("l2_hit");
    let source = TestSource::new(Duration::ZERO);
    let (a, _) = instance(&prefix, &source, false);
    let (b, b_handle) = instance(&prefix, &source, false);

    let loaded = a.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(loaded.source(), Source::Origin);

    let from_l2 = b.clone().oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(text(&from_l2), body("app", 1));
    assert_eq!(from_l2.source(), Source::Cache);
    assert_eq!(from_l2.format(), loaded.format());

    let from_l1 = b.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(text(&from_l1), body("app", 1));
    assert_eq!(source.calls(), 1);
    let stats = b_handle.stats();
    assert_eq!((stats.l2_hits, stats.l1_hits, stats.loads), (1, 1, 0));
    assert_eq!(b_handle.store().l2().stats().hits, 1);
    assert_eq!(b_handle.store().stats().backfills, 1);
    b_handle.clear().await.unwrap();
}
