//! The L2 suite on a Redis Cluster of three primaries started by the test:
//! entries spread over the primaries with their envelope, leases, a clear
//! that scans every primary and stays in its namespace, invalidations
//! reaching another instance, removal fences on the entry's own slot, and a
//! node killed and restarted without a failed request.
#![cfg(feature = "redis-cluster")]

#[path = "support/source.rs"]
mod source;
#[path = "support/redis.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use source::{TestSource, text};
use steadfast_cache::redis::{ENVELOPE_MAGIC, RedisStore};
use steadfast_cache::{CacheLayer, Freshness, MemoryStore, Peek, Store, StoreErrorKind, Tiered};
use steadfast_config::{ConfigRequest, ConfigResponse};
use support::{Cluster, entry, eventually, prefix};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

const SEC: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(10);
/// The longest a peer may keep serving its L1 copy after a newer version
/// was written, on a loopback cluster (a message crosses the cluster bus).
const COHERENCE_BOUND: Duration = Duration::from_millis(250);

fn store_on<V>(cluster: &Cluster, prefix: &str) -> RedisStore<String, V>
where
    V: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    RedisStore::cluster_builder(cluster.urls())
        .prefix(prefix)
        .call_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(200))
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap()
}

type Instance = Tiered<MemoryStore<String, String>, RedisStore<String, String>>;

fn instance(cluster: &Cluster, prefix: &str) -> Instance {
    let l2 = store_on(cluster, prefix);
    Tiered::builder(MemoryStore::new(100).unwrap(), l2.clone())
        .invalidations(l2.invalidations().keepalive(Duration::from_millis(200)))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_leases_and_clear_on_a_cluster() {
    let Some(cluster) = Cluster::start_or_skip("entries_leases_and_clear_on_a_cluster").await
    else {
        return;
    };
    let prefix = prefix("cluster");
    let store = store_on::<String>(&cluster, &prefix);
    let nested = store_on::<String>(&cluster, &format!("{prefix}:users"));
    assert!(store.is_cluster());

    let keys: Vec<String> = (0..30).map(|i| format!("k{i}")).collect();
    let written = Instant::now();
    for key in &keys {
        store
            .put(
                key.clone(),
                entry(format!("v-{key}"), MINUTE, MINUTE, MINUTE),
            )
            .await
            .unwrap();
    }
    let mut owners = BTreeSet::new();
    for key in &keys {
        owners.insert(cluster.owner(&store.redis_key(key)).await);
        let got = store.get(key).await.unwrap().expect("a hit");
        assert_eq!(got.value, format!("v-{key}"));
        assert_eq!(got.freshness(Instant::now()), Freshness::Fresh);
        let off = got.fresh_until.max(written + MINUTE) - got.fresh_until.min(written + MINUTE);
        assert!(
            off < Duration::from_millis(500),
            "{key}: fresh_until off by {off:?}"
        );
    }
    assert_eq!(owners.len(), 3, "the keys spread over every primary");
    let owner = cluster.owner(&store.redis_key(&keys[0])).await;
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(store.redis_key(&keys[0]))
        .query_async(&mut cluster.node(owner).await)
        .await
        .unwrap();
    assert_eq!(&bytes[..3], &ENVELOPE_MAGIC);
    assert_eq!(&bytes[28..], br#""v-k0""#);

    // Leases: exclusive, released only by their holder.
    let other = store_on::<String>(&cluster, &prefix);
    let token = store
        .acquire_lease(&keys[1], 5 * SEC)
        .await
        .unwrap()
        .expect("free");
    assert_eq!(other.acquire_lease(&keys[1], 5 * SEC).await.unwrap(), None);
    store.release_lease(&keys[1], token).await.unwrap();
    let held = other
        .acquire_lease(&keys[1], 5 * SEC)
        .await
        .unwrap()
        .expect("released");
    let nested_lease = nested
        .acquire_lease(&keys[2], MINUTE)
        .await
        .unwrap()
        .expect("free");
    nested
        .put(
            keys[2].clone(),
            entry("nested".to_owned(), MINUTE, SEC, SEC),
        )
        .await
        .unwrap();

    // Clear: every primary, this namespace only, announced.
    let client = redis::Client::open(cluster.urls()[1].as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(store.channel()).await.unwrap();
    store.clear().await.unwrap();
    let left = cluster.keys(&format!("{prefix}*")).await;
    assert_eq!(
        left,
        vec![nested.redis_key(&keys[2]), nested.lease_key(&keys[2]),]
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
    let message = tokio::time::timeout(WAIT, pubsub.on_message().next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.get_payload_bytes(), b"clear");
    for key in &keys {
        assert_eq!(store.get(key).await.unwrap(), None);
    }
    assert!(
        other
            .acquire_lease(&keys[1], 5 * SEC)
            .await
            .unwrap()
            .is_some(),
        "the cleared lease ({held:?}) is free again"
    );
    nested.release_lease(&keys[2], nested_lease).await.unwrap();
    let stats = store.stats();
    assert_eq!((stats.writes, stats.hits, stats.errors()), (30, 30, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_fences_off_an_older_load_on_a_cluster() {
    let Some(cluster) =
        Cluster::start_or_skip("a_removal_fences_off_an_older_load_on_a_cluster").await
    else {
        return;
    };
    let prefix = prefix("cluster_fence");
    let a = store_on::<String>(&cluster, &prefix);
    let b = store_on::<String>(&cluster, &prefix);
    let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();

    let mut owners = BTreeSet::new();
    for key in &keys {
        assert_eq!(b.get(key).await.unwrap(), None);
        a.remove(key).await.unwrap();
        b.put(key.clone(), entry("old".to_owned(), MINUTE, SEC, SEC))
            .await
            .unwrap();
        let owner = cluster.owner(&a.redis_key(key)).await;
        assert_eq!(cluster.owner(&a.fence_key(key)).await, owner);
        owners.insert(owner);
    }
    assert_eq!(owners.len(), 3, "the keys spread over every primary");
    let fences: BTreeSet<String> = keys.iter().map(|key| a.fence_key(key)).collect();
    assert_eq!(
        cluster.keys(&format!("{prefix}*")).await,
        fences.into_iter().collect::<Vec<_>>()
    );
    let stats = b.stats();
    assert_eq!(
        (stats.misses, stats.writes, stats.fenced_writes),
        (12, 0, 12)
    );

    // Without a load under way the write lands.
    for key in &keys {
        b.put(key.clone(), entry("new".to_owned(), MINUTE, SEC, SEC))
            .await
            .unwrap();
        assert_eq!(
            a.get(key).await.unwrap().map(|e| e.value),
            Some("new".to_owned())
        );
    }
    assert_eq!(b.stats().writes, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidations_reach_another_instance_on_a_cluster() {
    let Some(cluster) =
        Cluster::start_or_skip("invalidations_reach_another_instance_on_a_cluster").await
    else {
        return;
    };
    let prefix = prefix("cluster_invalidate");
    let (a, b) = (instance(&cluster, &prefix), instance(&cluster, &prefix));
    assert!(eventually(WAIT, || a.is_subscribed() && b.is_subscribed()).await);

    let key = "cfg".to_owned();
    let mut worst = Duration::ZERO;
    for round in 0..20 {
        let (old, new) = (format!("v{round}"), format!("v{}", round + 1));
        if round == 0 {
            a.put(key.clone(), entry(old.clone(), MINUTE, MINUTE, MINUTE))
                .await
                .unwrap();
        }
        assert!(
            eventually(
                WAIT,
                || !matches!(b.peek(&key), Peek::Hit(e) if e.value != old)
            )
            .await
        );
        assert_eq!(
            b.get(&key).await.unwrap().map(|e| e.value),
            Some(old.clone())
        );
        let written = Instant::now();
        a.put(key.clone(), entry(new.clone(), MINUTE, MINUTE, MINUTE))
            .await
            .unwrap();
        let lag = loop {
            let lag = written.elapsed();
            if !matches!(b.peek(&key), Peek::Hit(e) if e.value == old) {
                break lag;
            }
            assert!(lag < WAIT, "round {round}: B kept {old}");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        worst = worst.max(lag);
        assert!(matches!(a.peek(&key), Peek::Hit(e) if e.value == new));
    }
    eprintln!("cluster: newer write to the peer's L1 within {worst:?} over 20 writes");
    assert!(
        worst <= COHERENCE_BOUND,
        "worst {worst:?} over the bound {COHERENCE_BOUND:?}"
    );

    a.remove(&key).await.unwrap();
    assert!(eventually(WAIT, || b.peek(&key) == Peek::Unknown).await);
    b.put(
        "x".to_owned(),
        entry("x".to_owned(), MINUTE, MINUTE, MINUTE),
    )
    .await
    .unwrap();
    a.clear().await.unwrap();
    assert!(
        eventually(WAIT, || b.l1().is_empty()).await,
        "a clear reaches B"
    );
}

type Key = Arc<str>;
type Layered = Tiered<MemoryStore<Key, ConfigResponse>, RedisStore<Key, ConfigResponse>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_and_restarted_fails_no_request() {
    let Some(mut cluster) =
        Cluster::start_or_skip("a_node_killed_and_restarted_fails_no_request").await
    else {
        return;
    };
    let prefix = prefix("cluster_kill");
    let l2: RedisStore<Key, ConfigResponse> = RedisStore::cluster_builder(cluster.urls())
        .prefix(&prefix)
        .call_timeout(Duration::from_millis(200))
        .connect_timeout(Duration::from_millis(200))
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    let store: Layered = Tiered::builder(MemoryStore::new(100).unwrap(), l2.clone())
        .l1_ttl_cap(Duration::from_millis(50))
        .invalidations(l2.invalidations().keepalive(Duration::from_millis(200)))
        .build()
        .unwrap();
    assert!(eventually(WAIT, || store.is_subscribed()).await);
    let source = TestSource::new(Duration::ZERO);
    let layer = CacheLayer::builder()
        .ttl(MINUTE)
        .provenance()
        .store(store.clone())
        .build()
        .unwrap();
    let cache = layer.layer(source.clone());
    let names: Vec<String> = (0..12).map(|i| format!("app{i}")).collect();
    for name in &names {
        cache
            .clone()
            .oneshot(ConfigRequest::new(name.as_str()))
            .await
            .unwrap();
    }
    // The node the feed listens on, and which serves some of the keys.
    let victim = 0;
    let mut on_victim = Vec::new();
    for name in &names {
        let key: Key = Arc::from(name.as_str());
        if cluster.owner(&l2.redis_key(&key)).await == victim {
            on_victim.push(key);
        }
    }
    assert!(!on_victim.is_empty(), "some keys live on the node to kill");
    let elsewhere = names
        .iter()
        .find(|name| !on_victim.iter().any(|k| &**k == name.as_str()))
        .expect("some keys live on other nodes")
        .clone();

    let mut served = 0;
    let mut request_all = async |cache: &_| {
        for name in &names {
            let response: ConfigResponse =
                tower::ServiceExt::oneshot(Clone::clone(cache), ConfigRequest::new(name.as_str()))
                    .await
                    .expect("no request fails");
            assert!(text(&response).contains(&format!("\"name\":\"{name}\"")));
            served += 1;
        }
    };
    cluster.kill(victim);
    let down = Instant::now();
    while down.elapsed() < 2 * SEC {
        request_all(&cache).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        l2.clear().await.is_err(),
        "a clear that cannot reach every primary does not claim success"
    );
    let errors_while_down = l2.stats().errors();
    assert!(errors_while_down > 0, "the dead node was asked and failed");
    // The feed listened on the dead node: it moved to a live one and
    // subscribed again, dropping L1 once more.
    assert!(
        eventually(WAIT, || store.is_subscribed()
            && store.stats().remote_clears == 2)
        .await,
        "the feed moved to a live node: {:?}",
        store.stats()
    );
    let peer = store_on::<String>(&cluster, &prefix);
    let removals = store.stats().remote_removals;
    peer.remove(&elsewhere).await.unwrap();
    assert!(
        eventually(WAIT, || store.stats().remote_removals == removals + 1).await,
        "messages reach the feed on its new node"
    );

    cluster.restart(victim).await;
    let back = tokio::time::timeout(WAIT, async {
        loop {
            if l2.get(&on_victim[0]).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(back.is_ok(), "the restarted node is used again");
    for _ in 0..5 {
        request_all(&cache).await;
    }
    let error = l2.get(&on_victim[0]).await;
    assert!(
        !matches!(&error, Err(e) if e.kind() == StoreErrorKind::Unavailable),
        "{error:?}"
    );
    eprintln!(
        "{served} requests served, none failed; {errors_while_down} L2 errors while the node was down"
    );
    let _ = layer.handle().clear().await;
}
