//! Distributed single flight over a shared store: instances with caches of
//! their own make one load between them; a lease holder that never fills
//! the store delays the others only up to the maximum wait.

#[path = "support/stores.rs"]
mod stores;
#[path = "support/source.rs"]
mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use steadfast_cache::{Cache, CacheLayer, DefaultKey, Store};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast_core::Source;
use stores::Remote;
use support::{TestSource, body, text};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

type Instance = Cache<
    TestSource,
    Arc<str>,
    ConfigResponse,
    ConfigError,
    DefaultKey,
    Remote<Arc<str>, ConfigResponse>,
>;

fn instance(
    source: &TestSource,
    shared: &Remote<Arc<str>, ConfigResponse>,
    lease: bool,
) -> Instance {
    let mut builder = CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .provenance()
        .store(shared.clone());
    if lease {
        builder = builder.distributed_single_flight(
            Duration::from_secs(10),
            Duration::from_secs(5),
            Duration::from_millis(50),
        );
    }
    builder.build().unwrap().layer(source.clone())
}

async fn stampede(instances: &[Instance], callers: usize) -> Vec<ConfigResponse> {
    let mut set = JoinSet::new();
    for i in 0..callers {
        let cache = instances[i % instances.len()].clone();
        set.spawn(async move { cache.oneshot(ConfigRequest::new("app")).await.unwrap() });
    }
    set.join_all().await
}

#[tokio::test(start_paused = true)]
async fn four_instances_make_one_load_with_leases() {
    let source = TestSource::new(Duration::from_secs(1));
    let shared = Remote::new();
    let instances: Vec<_> = (0..4).map(|_| instance(&source, &shared, true)).collect();

    let answers = stampede(&instances, 200).await;
    assert_eq!(answers.len(), 200);
    assert!(answers.iter().all(|res| text(res) == body("app", 1)));
    assert_eq!(source.calls(), 1);
    let from_shared = answers
        .iter()
        .filter(|r| r.source() == Source::Cache)
        .count();
    assert_eq!(from_shared, 150);
    // Each caller answered from the shared tier is an L2 hit; the 50 of the
    // instance that loaded are its miss and 49 coalesced callers.
    let sum = |f: fn(&steadfast_cache::CacheStats) -> u64| -> u64 {
        instances.iter().map(|i| f(&i.handle().stats())).sum()
    };
    assert_eq!(sum(|s| s.l2_hits), 150);
    assert_eq!((sum(|s| s.misses), sum(|s| s.coalesced)), (1, 49));
}

#[tokio::test(start_paused = true)]
async fn without_leases_each_instance_loads_once() {
    let source = TestSource::new(Duration::from_secs(1));
    let shared = Remote::new();
    let instances: Vec<_> = (0..4).map(|_| instance(&source, &shared, false)).collect();
    stampede(&instances, 200).await;
    assert_eq!(source.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_lease_held_elsewhere_delays_a_load_at_most_the_maximum_wait() {
    let source = TestSource::new(Duration::from_secs(1));
    let shared: Remote<Arc<str>, ConfigResponse> = Remote::new();
    let held = shared
        .acquire_lease(&"app".into(), Duration::from_secs(30))
        .await
        .unwrap();
    assert!(held.is_some());
    let cache = instance(&source, &shared, true);

    let asked = Instant::now();
    let res = cache.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(asked.elapsed(), Duration::from_secs(6));
    assert_eq!(text(&res), body("app", 1));
    assert_eq!(source.calls(), 1);
    // One look before the lease, then one every 50 ms for 5 s.
    assert_eq!(
        shared.gets.load(std::sync::atomic::Ordering::SeqCst),
        1 + 100
    );
}

#[tokio::test(start_paused = true)]
async fn a_load_that_panics_gives_its_lease_back() {
    let shared: Remote<u64, u64> = Remote::new();
    let layer = CacheLayer::builder()
        .key_fn(|k: &u64| *k)
        .store(shared.clone())
        .distributed_single_flight(
            Duration::from_secs(10),
            Duration::from_secs(5),
            Duration::from_millis(50),
        )
        .build()
        .unwrap();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cache = layer.layer(tower::service_fn(move |k: u64| {
        let n = calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if n == 0 {
                panic!("source bug");
            }
            Ok::<_, steadfast_core::BoxError>(k)
        }
    }));

    assert!(cache.clone().oneshot(1).await.is_err());
    tokio::task::yield_now().await;

    // Nobody else holds the lease: the next load starts at once.
    let asked = Instant::now();
    assert_eq!(cache.oneshot(1).await.unwrap(), 1);
    assert_eq!(asked.elapsed(), Duration::from_secs(1));
    let lease = shared
        .acquire_lease(&1, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(lease.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_value_stored_just_before_the_lease_is_taken_is_not_loaded_again() {
    let source = TestSource::new(Duration::from_secs(1));
    let shared: Remote<Arc<str>, ConfigResponse> = Remote::new();
    let cache = instance(&source, &shared, true);
    // Between this instance's look-up and its lease, another instance
    // stores the value and gives the lease back.
    let other = shared.clone();
    shared.before_next_lease(move || {
        let now = Instant::now();
        let entry = steadfast_cache::Entry {
            value: ConfigResponse::new(body("app", 7), steadfast_config::Format::Json),
            fresh_until: now + Duration::from_secs(60),
            revalidate_until: now + Duration::from_secs(60),
            expires_at: now + Duration::from_secs(60),
        };
        futures_executor_put(&other, entry);
    });

    let asked = Instant::now();
    let res = cache
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(asked.elapsed(), Duration::ZERO);
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 7).as_str(), Source::Cache)
    );
    assert_eq!(source.calls(), 0, "looked again after taking the lease");
    let stats = cache.handle().stats();
    assert_eq!((stats.l2_hits, stats.loads), (1, 0));
    // The lease was given back.
    assert!(
        shared
            .acquire_lease(&"app".into(), Duration::from_secs(1))
            .await
            .unwrap()
            .is_some()
    );
}

/// Stores `entry` under "app" in `store`, whose `put` completes at once.
fn futures_executor_put(
    store: &Remote<Arc<str>, ConfigResponse>,
    entry: steadfast_cache::Entry<ConfigResponse>,
) {
    let put = store.put("app".into(), entry);
    let mut put = std::pin::pin!(put);
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(put.as_mut().poll(&mut cx).is_ready());
}
