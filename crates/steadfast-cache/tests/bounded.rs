//! The memory store stays within its bound, however many keys pass.

use std::time::Duration;

use steadfast_cache::{CacheLayer, MemoryStore, Store};
use steadfast_core::BoxError;
use tower::{Layer, Service, ServiceExt, service_fn};

#[tokio::test(start_paused = true)]
async fn a_million_distinct_keys_through_a_ten_thousand_entry_cache() {
    let layer = CacheLayer::builder()
        .key_fn(|k: &u64| *k)
        .max_entries(10_000)
        .ttl(Duration::from_secs(3600))
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut cache = layer.layer(service_fn(|k: u64| async move { Ok::<_, BoxError>(k * 2) }));
    let mut most = 0;
    for k in 0..1_000_000u64 {
        let got = cache.ready().await.unwrap().call(k).await.unwrap();
        assert_eq!(got, k * 2);
        if k % 10_000 == 0 {
            most = most.max(handle.stats().entries);
        }
    }
    let stats = handle.stats();
    most = most.max(stats.entries);
    assert!(most <= 10_000, "held {most} entries");
    assert!(most >= 5_000, "held only {most} entries");
    assert_eq!(stats.loads, 1_000_000);
    assert_eq!(handle.loads_in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_weight_bound_counts_weight_not_entries() {
    let store = MemoryStore::<u64, String, _>::with_weigher(1_000, 100, |_: &u64, v: &String| {
        v.len() as u64
    })
    .unwrap();
    let layer = CacheLayer::builder()
        .key_fn(|k: &u64| *k)
        .store(store.clone())
        .build()
        .unwrap();
    let mut cache = layer.layer(service_fn(|_: u64| async {
        Ok::<_, BoxError>("x".repeat(100))
    }));
    for k in 0..1_000u64 {
        cache.ready().await.unwrap().call(k).await.unwrap();
    }
    assert!(store.weight() <= 1_000, "weight {}", store.weight());
    assert!(store.len() <= 10, "{} entries", store.len());
    assert_eq!(store.len_hint(), store.len() as u64);
}
