//! Invalidation through Redis pub/sub: removing or clearing on one instance
//! drops the L1 copies of the others, a lost subscription comes back, and
//! the listener ends with the store.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::redis::RedisStore;
use steadfast_cache::{MemoryStore, Peek, Store, Tiered};
use support::{Proxy, entry, eventually, prefix, redis_or_skip, redis_url};

type Mem = MemoryStore<String, String>;
type Instance = Tiered<Mem, RedisStore<String, String>>;

const WAIT: Duration = Duration::from_secs(5);
const MINUTE: Duration = Duration::from_secs(60);

fn instance(url: &str, prefix: &str) -> Instance {
    instance_with_keepalive(url, prefix, Duration::from_secs(5))
}

fn instance_with_keepalive(url: &str, prefix: &str, keepalive: Duration) -> Instance {
    let l2 = RedisStore::builder(url)
        .prefix(prefix)
        .call_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(200))
        .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
        .build()
        .unwrap();
    Tiered::builder(Mem::new(100).unwrap(), l2.clone())
        .invalidations(l2.invalidations().keepalive(keepalive))
        .build()
        .unwrap()
}

async fn subscribed(instances: &[&Instance]) {
    assert!(
        eventually(WAIT, || instances.iter().all(|i| i.is_subscribed())).await,
        "not subscribed within {WAIT:?}"
    );
}

fn k(key: &str) -> String {
    key.to_owned()
}

#[tokio::test]
async fn removing_a_key_drops_it_from_every_instances_l1() {
    let Some(_raw) = redis_or_skip("removing_a_key_drops_it_from_every_instances_l1").await else {
        return;
    };
    let prefix = prefix("invalidate");
    let (a, b) = (
        instance(&redis_url(), &prefix),
        instance(&redis_url(), &prefix),
    );
    subscribed(&[&a, &b]).await;

    a.put(k("x"), entry(k("v"), MINUTE, MINUTE, MINUTE))
        .await
        .unwrap();
    a.put(k("y"), entry(k("w"), MINUTE, MINUTE, MINUTE))
        .await
        .unwrap();
    // Both writes are announced to B; A skips its own.
    assert!(eventually(WAIT, || b.stats().remote_removals == 2).await);
    assert_eq!(b.get(&k("x")).await.unwrap().map(|e| e.value), Some(k("v")));
    assert_eq!(b.get(&k("y")).await.unwrap().map(|e| e.value), Some(k("w")));
    assert!(matches!(b.peek(&k("x")), Peek::Hit(_)));

    a.remove(&k("x")).await.unwrap();
    assert!(
        eventually(WAIT, || b.peek(&k("x")) == Peek::Unknown).await,
        "B still holds its copy"
    );
    assert!(matches!(b.peek(&k("y")), Peek::Hit(_)), "other keys stay");
    assert_eq!(b.stats().remote_removals, 3);
    assert!(eventually(WAIT, || a.stats().remote_removals == 1).await);
    assert_eq!(b.get(&k("x")).await.unwrap(), None);
    b.clear().await.unwrap();
}

#[tokio::test]
async fn clearing_drops_every_copy_everywhere() {
    let Some(_raw) = redis_or_skip("clearing_drops_every_copy_everywhere").await else {
        return;
    };
    let prefix = prefix("clear_all");
    let (a, b) = (
        instance(&redis_url(), &prefix),
        instance(&redis_url(), &prefix),
    );
    subscribed(&[&a, &b]).await;
    for key in ["p", "q", "r"] {
        b.put(k(key), entry(k(key), MINUTE, MINUTE, MINUTE))
            .await
            .unwrap();
    }
    assert_eq!(b.l1().len(), 3);
    let clears_before = b.stats().remote_clears;

    a.clear().await.unwrap();
    assert!(
        eventually(WAIT, || b.l1().is_empty()).await,
        "B's L1 not cleared"
    );
    assert_eq!(b.stats().remote_clears, clears_before + 1);
    assert_eq!(b.get(&k("p")).await.unwrap(), None, "and L2 is empty");
}

#[tokio::test]
async fn a_lost_subscription_comes_back_and_drops_what_it_may_have_missed() {
    let Some(_raw) =
        redis_or_skip("a_lost_subscription_comes_back_and_drops_what_it_may_have_missed").await
    else {
        return;
    };
    let prefix = prefix("resubscribe");
    let proxy = Proxy::start().await;
    let b = instance(&proxy.url(), &prefix);
    subscribed(&[&b]).await;
    assert_eq!(b.stats().remote_clears, 1);

    proxy.cut();
    assert!(
        eventually(WAIT, || !b.is_subscribed()).await,
        "the lost subscription went unnoticed"
    );
    b.l1()
        .put(k("local"), entry(k("v"), MINUTE, MINUTE, MINUTE))
        .await
        .unwrap();

    proxy.restore().await;
    subscribed(&[&b]).await;
    assert_eq!(b.stats().remote_clears, 2);
    assert!(b.l1().is_empty());

    let a = instance(&redis_url(), &prefix);
    subscribed(&[&a]).await;
    b.put(k("z"), entry(k("v"), MINUTE, MINUTE, MINUTE))
        .await
        .unwrap();
    a.remove(&k("z")).await.unwrap();
    assert!(
        eventually(WAIT, || b.l1().is_empty()).await,
        "invalidations flow again"
    );
}

#[tokio::test]
async fn a_silent_subscription_is_caught_by_its_keepalive() {
    let Some(_raw) = redis_or_skip("a_silent_subscription_is_caught_by_its_keepalive").await else {
        return;
    };
    let proxy = Proxy::start().await;
    let b = instance_with_keepalive(
        &proxy.url(),
        &prefix("keepalive"),
        Duration::from_millis(100),
    );
    subscribed(&[&b]).await;

    proxy.freeze();
    assert!(
        eventually(WAIT, || !b.is_subscribed()).await,
        "a silent network went unnoticed"
    );
    proxy.thaw();
    subscribed(&[&b]).await;
    assert_eq!(b.stats().remote_clears, 2);
}

#[tokio::test]
async fn without_keepalive_a_silent_subscription_goes_unnoticed() {
    let Some(_raw) = redis_or_skip("without_keepalive_a_silent_subscription_goes_unnoticed").await
    else {
        return;
    };
    let proxy = Proxy::start().await;
    let b = instance_with_keepalive(&proxy.url(), &prefix("no_keepalive"), Duration::ZERO);
    subscribed(&[&b]).await;
    proxy.freeze();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(b.is_subscribed());
}

async fn subscribers(conn: &mut redis::aio::MultiplexedConnection, channel: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query_async(conn)
        .await
        .unwrap();
    count
}

#[tokio::test]
async fn the_listener_ends_with_the_last_clone() {
    let Some(mut raw) = redis_or_skip("the_listener_ends_with_the_last_clone").await else {
        return;
    };
    let prefix = prefix("listener_ends");
    let channel = format!("{prefix}:invalidate");
    let a = instance(&redis_url(), &prefix);
    subscribed(&[&a]).await;
    assert_eq!(subscribers(&mut raw, &channel).await, 1);

    let copy = a.clone();
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(subscribers(&mut raw, &channel).await, 1);
    assert!(copy.is_subscribed());

    drop(copy);
    let mut left = 1;
    for _ in 0..100 {
        left = subscribers(&mut raw, &channel).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0);
}

/// The longest a peer may keep serving its L1 copy after a newer version
/// was written to L2, on loopback.
const COHERENCE_BOUND: Duration = Duration::from_millis(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_write_reaches_every_peers_l1_within_the_bound() {
    let Some(_raw) = redis_or_skip("a_newer_write_reaches_every_peers_l1_within_the_bound").await
    else {
        return;
    };
    let prefix = prefix("coherence");
    let (a, b, c) = (
        instance(&redis_url(), &prefix),
        instance(&redis_url(), &prefix),
        instance(&redis_url(), &prefix),
    );
    subscribed(&[&a, &b, &c]).await;
    let key = k("cfg");
    let rounds = 50;
    let mut lags = Vec::with_capacity(rounds);
    let mut replaced = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let old = format!("v{round}");
        let new = format!("v{}", round + 1);
        if round == 0 {
            a.put(key.clone(), entry(old.clone(), MINUTE, MINUTE, MINUTE))
                .await
                .unwrap();
        }
        for peer in [&b, &c] {
            assert_eq!(
                peer.get(&key).await.unwrap().map(|e| e.value),
                Some(old.clone())
            );
            assert!(matches!(peer.peek(&key), Peek::Hit(e) if e.value == old));
        }
        let written = tokio::time::Instant::now();
        a.put(key.clone(), entry(new.clone(), MINUTE, MINUTE, MINUTE))
            .await
            .unwrap();
        let lag = loop {
            let lag = written.elapsed();
            if [&b, &c]
                .iter()
                .all(|peer| !matches!(peer.peek(&key), Peek::Hit(e) if e.value == old))
            {
                break lag;
            }
            assert!(
                lag < WAIT,
                "round {round}: a peer kept {old} after {new} was written"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        lags.push(lag);
        // Each peer held a copy, so it takes the newer entry in its place.
        let taken = loop {
            let taken = written.elapsed();
            if [&b, &c]
                .iter()
                .all(|peer| matches!(peer.peek(&key), Peek::Hit(e) if e.value == new))
            {
                break taken;
            }
            assert!(
                taken < WAIT,
                "round {round}: a peer never took {new} into its L1"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        replaced.push(taken);
        // A's own message came back to A before B's removal of another
        // key does (one channel, in order); A kept its fresh copy all along.
        let removals = a.stats().remote_removals;
        b.remove(&k("other")).await.unwrap();
        assert!(eventually(WAIT, || a.stats().remote_removals == removals + 1).await);
        assert!(
            matches!(a.peek(&key), Peek::Hit(e) if e.value == new),
            "round {round}: the writer dropped its own fresh copy"
        );
        assert!(matches!(a.l2().get(&key).await.unwrap(), Some(e) if e.value == new));
    }
    lags.sort();
    replaced.sort();
    let (median, worst) = (lags[rounds / 2], lags[rounds - 1]);
    eprintln!(
        "newer write to every peer's L1: median {median:?}, worst {worst:?} over {rounds} writes"
    );
    eprintln!(
        "newer entry held in every peer's L1: median {:?}, worst {:?}",
        replaced[rounds / 2],
        replaced[rounds - 1]
    );
    assert!(
        replaced[rounds - 1] <= COHERENCE_BOUND,
        "worst {:?} over the bound {COHERENCE_BOUND:?}",
        replaced[rounds - 1]
    );
    assert!(
        worst <= COHERENCE_BOUND,
        "worst {worst:?} over the bound {COHERENCE_BOUND:?}"
    );
    a.clear().await.unwrap();
}
