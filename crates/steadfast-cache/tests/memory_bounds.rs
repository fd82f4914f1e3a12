//! A memory store keeps its bound exactly, on any number of shards: an
//! entry-count store never holds more entries than it was given, a weight
//! store admits any entry up to its whole bound, and an entry heavier than
//! the bound is refused with a counted store error instead of vanishing.

use std::time::Duration;

use steadfast_cache::{CacheLayer, Entry, MemoryStore, Peek, Store};
use steadfast_core::BoxError;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

fn entry<V>(value: V) -> Entry<V> {
    let now = Instant::now();
    let later = now + Duration::from_secs(3600);
    Entry {
        value,
        fresh_until: later,
        revalidate_until: later,
        expires_at: later,
    }
}

fn bytes(len: usize) -> Vec<u8> {
    vec![7u8; len]
}

// A weigher takes the value type as it is.
#[allow(clippy::ptr_arg)]
fn by_len(_: &u64, v: &Vec<u8>) -> u64 {
    v.len() as u64
}

/// Puts `keys` distinct keys and returns the most entries held at once.
async fn fill<S: Store<u64, u64>>(store: &S, keys: u64, len: impl Fn() -> usize) -> usize {
    let mut most = 0;
    for k in 0..keys {
        store.put(k, entry(k)).await.unwrap();
        most = most.max(len());
    }
    most
}

#[tokio::test(start_paused = true)]
async fn an_entry_count_store_never_holds_more_than_its_bound() {
    for max in [1usize, 2, 31, 33, 100, 1_000, 10_000, 10_001, 12_345] {
        let store = MemoryStore::<u64, u64>::new(max).unwrap();
        assert!(
            store.capacity() <= max as u64,
            "capacity {} for {max}",
            store.capacity()
        );
        let most = fill(&store, 4 * max as u64 + 64, || store.len()).await;
        assert!(most <= max, "a {max}-entry store held {most} entries");
        // A sharded store may fill one shard before the others, never more.
        assert!(most * 10 >= max * 9, "a {max}-entry store held only {most}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_weight_store_admits_an_entry_as_heavy_as_its_whole_bound() {
    // The documented settings: 1 MiB, about 4,096 entries.
    let store = MemoryStore::<u64, Vec<u8>, _>::with_weigher(1 << 20, 4_096, by_len).unwrap();
    for (key, len) in [(1u64, 256 << 10), (2, 512 << 10), (3, 1 << 20)] {
        store.put(key, entry(bytes(len))).await.unwrap();
        match store.peek(&key) {
            Peek::Hit(found) => assert_eq!(found.value.len(), len),
            other => panic!("an entry of {len} bytes was dropped: {other:?}"),
        }
        assert!(store.weight() <= 1 << 20, "weight {}", store.weight());
    }
}

#[tokio::test(start_paused = true)]
async fn a_large_value_under_the_weight_bound_is_loaded_once() {
    let store = MemoryStore::<u64, Vec<u8>, _>::with_weigher(1 << 20, 4_096, by_len).unwrap();
    let layer = CacheLayer::builder()
        .key_fn(|k: &u64| *k)
        .ttl(Duration::from_secs(60))
        .store(store.clone())
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut cache = layer.layer(service_fn(|_: u64| async {
        Ok::<_, BoxError>(bytes(256 << 10))
    }));
    for _ in 0..5 {
        let got = cache.ready().await.unwrap().call(1).await.unwrap();
        assert_eq!(got.len(), 256 << 10);
    }
    let stats = handle.stats();
    assert_eq!((stats.loads, stats.l1_hits, stats.store_errors), (1, 4, 0));
}

/// The shard counts quick_cache would pick by default on 1, 2, 16, 64 and
/// 256 cores (4 × cores), and a few more.
const SHARDS: [usize; 7] = [1, 4, 8, 64, 256, 1_024, 3];

#[tokio::test(start_paused = true)]
async fn an_entry_count_bound_holds_on_any_shard_count() {
    for shards in SHARDS {
        for max in [1usize, 33, 1_000, 10_001] {
            let store = MemoryStore::<u64, u64>::builder(max)
                .shards(shards)
                .build()
                .unwrap();
            let capacity = store.capacity();
            assert!(
                capacity <= max as u64,
                "{shards} shards, {max}: capacity {capacity}"
            );
            assert_eq!(capacity % store.shards() as u64, 0);
            // Less than one entry per shard is lost to rounding.
            assert!(capacity + store.shards() as u64 > max as u64);
            assert!(store.shards() <= shards.max(1));
            let most = fill(&store, 3 * max as u64 + 64, || store.len()).await;
            assert!(
                most <= max,
                "{shards} shards: a {max}-entry store held {most}"
            );
            assert_eq!(most as u64, capacity, "{shards} shards, {max}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_weight_bound_holds_on_any_shard_count_and_names_its_heaviest_entry() {
    const MAX: u64 = 1 << 20;
    for shards in SHARDS {
        let store = MemoryStore::<u64, Vec<u8>, _>::builder_with_weigher(MAX, 4_096, by_len)
            .shards(shards)
            .build()
            .unwrap();
        let share = store.capacity() / store.shards() as u64;
        assert_eq!(store.max_entry_weight(), share, "{shards} shards");
        assert!(store.capacity() <= MAX);

        // The heaviest admitted entry is kept; one byte more is refused.
        let heaviest = store.max_entry_weight() as usize;
        store.put(1, entry(bytes(heaviest))).await.unwrap();
        assert!(matches!(store.peek(&1), Peek::Hit(_)), "{shards} shards");
        let error = store.put(1, entry(bytes(heaviest + 1))).await.unwrap_err();
        let cause = std::error::Error::source(&error)
            .and_then(|e| e.downcast_ref::<steadfast_cache::EntryTooLarge>())
            .copied()
            .unwrap();
        assert_eq!((cause.size(), cause.limit()), (heaviest as u64 + 1, share));
        assert_eq!(error.kind(), steadfast_cache::StoreErrorKind::Backend);
        // The refused version takes the older one with it.
        assert_eq!(store.peek(&1), Peek::Miss, "{shards} shards");

        // Random weights up to the limit: the bound always holds and a put
        // is always readable right after.
        let mut rng = fastrand::Rng::with_seed(shards as u64);
        for round in 0..1_000u64 {
            let key = rng.u64(0..200);
            let len = rng.usize(1..=heaviest.min(32 << 10));
            store.put(key, entry(bytes(len))).await.unwrap();
            assert!(
                store.weight() <= store.capacity(),
                "{shards} shards, round {round}"
            );
            match store.peek(&key) {
                Peek::Hit(found) => assert_eq!(found.value.len(), len),
                other => panic!("{shards} shards, round {round}: {other:?}"),
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_entry_heavier_than_the_bound_is_a_counted_store_error_not_a_silent_miss() {
    use std::sync::{Arc, Mutex};
    use steadfast_cache::{Event, StoreOp};

    let store = MemoryStore::<u64, Vec<u8>, _>::with_weigher(1 << 10, 16, by_len).unwrap();
    let failed: Arc<Mutex<Vec<(StoreOp, String)>>> = Arc::default();
    let seen = failed.clone();
    let layer = CacheLayer::builder()
        .key_fn(|k: &u64| *k)
        .ttl(Duration::from_secs(60))
        .store(store.clone())
        .on_event(move |event| {
            if let Event::StoreFailed { op, error, .. } = event {
                let cause = std::error::Error::source(*error).map(ToString::to_string);
                seen.lock().unwrap().push((*op, cause.unwrap_or_default()));
            }
        })
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut cache = layer.layer(service_fn(|k: u64| async move {
        Ok::<_, BoxError>(bytes(if k == 1 { 2 << 10 } else { 1 << 10 }))
    }));
    for _ in 0..3 {
        let got = cache.ready().await.unwrap().call(1).await.unwrap();
        assert_eq!(got.len(), 2 << 10);
    }
    // A value exactly as heavy as the bound is kept.
    for _ in 0..3 {
        let got = cache.ready().await.unwrap().call(2).await.unwrap();
        assert_eq!(got.len(), 1 << 10);
    }
    let stats = handle.stats();
    assert_eq!(
        (stats.loads, stats.store_errors, stats.l1_hits, stats.misses),
        (4, 3, 2, 4)
    );
    let expected = (
        StoreOp::Put,
        "entry of size 2048 is larger than the store's limit of 1024".to_owned(),
    );
    assert_eq!(*failed.lock().unwrap(), vec![expected; 3]);
    assert_eq!(store.len(), 1);
}
