//! Tiered semantics with in-memory tiers and a paused clock: look-up order,
//! back-fill with the L1 TTL cap, writes to both tiers, leases from L2,
//! L2 failures, and how invalidation messages reach L1.

#[path = "support/stores.rs"]
mod stores;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use steadfast_cache::{
    Entry, Invalidation, InvalidationSink, Invalidations, LeaseToken, MemoryStore, Peek, Store,
    StoreError, StoreErrorKind, Tiered, TieredError,
};
use stores::Remote;
use tokio::sync::mpsc;
use tokio::time::{Instant, advance};

const SEC: Duration = Duration::from_secs(1);

type Mem = MemoryStore<String, String>;

fn mem() -> Mem {
    MemoryStore::new(100).unwrap()
}

fn entry(value: &str, fresh: u64, swr: u64, sie: u64) -> Entry<String> {
    let now = Instant::now();
    Entry {
        value: value.to_owned(),
        fresh_until: now + SEC * fresh as u32,
        revalidate_until: now + SEC * (fresh + swr) as u32,
        expires_at: now + SEC * (fresh + swr + sie) as u32,
    }
}

fn key(k: &str) -> String {
    k.to_owned()
}

fn tiered(cap: u64) -> (Tiered<Mem, Mem>, Mem, Mem) {
    let (l1, l2) = (mem(), mem());
    let store = Tiered::builder(l1.clone(), l2.clone())
        .l1_ttl_cap(SEC * cap as u32)
        .build()
        .unwrap();
    (store, l1, l2)
}

#[tokio::test(start_paused = true)]
async fn peek_sees_only_l1() {
    let (store, l1, l2) = tiered(30);
    l2.put(key("remote"), entry("r", 10, 0, 0)).await.unwrap();
    l1.put(key("local"), entry("l", 10, 0, 0)).await.unwrap();
    assert_eq!(store.peek(&key("remote")), Peek::Unknown);
    assert_eq!(store.peek(&key("nowhere")), Peek::Unknown);
    assert_eq!(store.peek(&key("local")), Peek::Hit(entry("l", 10, 0, 0)));
}

#[tokio::test(start_paused = true)]
async fn an_l2_hit_is_back_filled_into_l1_with_a_capped_fresh_window() {
    let (store, l1, l2) = tiered(5);
    let remote = entry("r", 60, 60, 60);
    l2.put(key("k"), remote.clone()).await.unwrap();

    assert_eq!(store.get(&key("k")).await.unwrap(), Some(remote.clone()));
    let limit = Instant::now() + 5 * SEC;
    let Peek::Hit(copy) = l1.peek(&key("k")) else {
        panic!("no L1 copy")
    };
    assert_eq!(
        copy,
        Entry {
            value: "r".to_owned(),
            fresh_until: limit,
            revalidate_until: remote.revalidate_until,
            expires_at: remote.expires_at,
        },
        "the cap cuts only the fresh window"
    );
    assert_eq!(store.stats().backfills, 1);
}

#[tokio::test(start_paused = true)]
async fn the_cap_keeps_shorter_deadlines_and_their_order() {
    let (store, l1, l2) = tiered(5);
    let remote = entry("r", 2, 10, 10);
    l2.put(key("k"), remote.clone()).await.unwrap();
    store.get(&key("k")).await.unwrap();
    let Peek::Hit(copy) = l1.peek(&key("k")) else {
        panic!("no L1 copy")
    };
    assert_eq!(copy, remote, "a fresh window shorter than the cap is kept");
}

#[tokio::test(start_paused = true)]
async fn a_fresh_l1_entry_is_answered_without_l2() {
    let (store, l1, l2) = tiered(30);
    l1.put(key("k"), entry("local", 10, 0, 0)).await.unwrap();
    l2.put(key("k"), entry("remote", 20, 0, 0)).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap().map(|e| e.value),
        Some("local".to_owned())
    );
    assert_eq!(store.stats().backfills, 0);
}

#[tokio::test(start_paused = true)]
async fn a_stale_l1_entry_gives_way_to_a_fresher_l2_entry() {
    let (store, l1, l2) = tiered(30);
    l1.put(key("k"), entry("old", 1, 60, 0)).await.unwrap();
    advance(2 * SEC).await;
    l2.put(key("k"), entry("new", 10, 0, 0)).await.unwrap();
    assert_eq!(
        store.get(&key("k")).await.unwrap().map(|e| e.value),
        Some("new".to_owned())
    );
    assert_eq!(
        l1.peek(&key("k")),
        Peek::Hit(entry("new", 10, 0, 0)),
        "L1 back-filled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stale_l1_entry_stays_when_l2_has_nothing_newer() {
    let (store, l1, l2) = tiered(30);
    l1.put(key("k"), entry("l1", 1, 60, 0)).await.unwrap();
    l2.put(key("k"), entry("l2", 1, 60, 0)).await.unwrap();
    advance(2 * SEC).await;
    assert_eq!(
        store.get(&key("k")).await.unwrap().map(|e| e.value),
        Some("l1".to_owned())
    );
    assert_eq!(store.stats().backfills, 0);
}

#[tokio::test(start_paused = true)]
async fn an_expired_l1_entry_is_not_returned() {
    let (store, l1, _l2) = tiered(30);
    l1.put(key("k"), entry("l1", 1, 0, 0)).await.unwrap();
    advance(2 * SEC).await;
    assert_eq!(store.get(&key("k")).await.unwrap(), None);
}

#[tokio::test(start_paused = true)]
async fn put_writes_both_tiers_and_caps_only_l1() {
    let (store, l1, l2) = tiered(5);
    let written = entry("v", 60, 0, 0);
    store.put(key("k"), written.clone()).await.unwrap();
    assert_eq!(l2.peek(&key("k")), Peek::Hit(written.clone()));
    let limit = Instant::now() + 5 * SEC;
    assert_eq!(
        l1.peek(&key("k")),
        Peek::Hit(Entry {
            value: "v".to_owned(),
            fresh_until: limit,
            revalidate_until: written.revalidate_until,
            expires_at: written.expires_at,
        })
    );
    assert_eq!(store.len_hint(), 1);
}

#[tokio::test(start_paused = true)]
async fn remove_and_clear_act_on_both_tiers() {
    let (store, l1, l2) = tiered(30);
    for k in ["a", "b", "c"] {
        store.put(key(k), entry(k, 10, 0, 0)).await.unwrap();
    }
    store.remove(&key("a")).await.unwrap();
    assert_eq!(
        (l1.peek(&key("a")), l2.peek(&key("a"))),
        (Peek::Miss, Peek::Miss)
    );
    assert_eq!((l1.len(), l2.len()), (2, 2));
    store.clear().await.unwrap();
    assert_eq!((l1.len(), l2.len()), (0, 0));
}

/// An L2 that always fails and hands out leases only to the first asker.
#[derive(Clone, Debug, Default)]
struct Broken {
    leased: Arc<AtomicBool>,
}

impl Store<String, String> for Broken {
    fn peek(&self, _: &String) -> Peek<String> {
        Peek::Unknown
    }

    async fn get(&self, _: &String) -> Result<Option<Entry<String>>, StoreError> {
        Err(StoreError::from_kind(StoreErrorKind::Unavailable))
    }

    async fn put(&self, _: String, _: Entry<String>) -> Result<(), StoreError> {
        Err(StoreError::from_kind(StoreErrorKind::Timeout))
    }

    async fn remove(&self, _: &String) -> Result<(), StoreError> {
        Err(StoreError::from_kind(StoreErrorKind::Unavailable))
    }

    async fn clear(&self) -> Result<(), StoreError> {
        Err(StoreError::from_kind(StoreErrorKind::Unavailable))
    }

    async fn acquire_lease(
        &self,
        _: &String,
        _: Duration,
    ) -> Result<Option<LeaseToken>, StoreError> {
        if self.leased.swap(true, Ordering::SeqCst) {
            Ok(None)
        } else {
            Ok(Some(LeaseToken(42)))
        }
    }

    async fn release_lease(&self, _: &String, token: LeaseToken) -> Result<(), StoreError> {
        assert_eq!(token, LeaseToken(42));
        self.leased.store(false, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_l2_falls_back_to_l1_or_reports_its_error() {
    let l1 = mem();
    let store = Tiered::builder(l1.clone(), Broken::default())
        .build()
        .unwrap();

    let error = store.get(&key("k")).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);

    let error = store.put(key("k"), entry("v", 1, 60, 0)).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Timeout);
    assert_eq!(l1.len(), 1, "L1 written even though L2 failed");

    advance(2 * SEC).await;
    assert_eq!(
        store.get(&key("k")).await.unwrap().map(|e| e.value),
        Some("v".to_owned()),
        "a stale L1 entry is served when L2 fails"
    );

    assert_eq!(
        store.remove(&key("k")).await.unwrap_err().kind(),
        StoreErrorKind::Unavailable
    );
    assert_eq!(l1.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn leases_are_l2_leases() {
    let store = Tiered::builder(mem(), Broken::default()).build().unwrap();
    let token = store.acquire_lease(&key("k"), SEC).await.unwrap();
    assert_eq!(token, Some(LeaseToken(42)));
    assert_eq!(store.acquire_lease(&key("k"), SEC).await.unwrap(), None);
    store
        .release_lease(&key("k"), LeaseToken(42))
        .await
        .unwrap();
    assert_eq!(
        store.acquire_lease(&key("k"), SEC).await.unwrap(),
        Some(LeaseToken(42))
    );
}

#[test]
fn bad_settings_are_refused() {
    assert_eq!(
        Tiered::builder(mem(), mem())
            .l1_ttl_cap(Duration::ZERO)
            .build()
            .unwrap_err(),
        TieredError::ZeroL1TtlCap
    );
    let (_tx, feed) = Feed::new();
    assert_eq!(
        Tiered::builder(mem(), mem())
            .invalidations(feed)
            .build()
            .unwrap_err(),
        TieredError::NoRuntime
    );
    assert_eq!(
        TieredError::ZeroL1TtlCap.to_string(),
        "the L1 TTL cap must be greater than zero"
    );
}

/// A feed driven by the test; it records when its sink closes.
struct Feed {
    rx: mpsc::UnboundedReceiver<Invalidation>,
    closed: Arc<AtomicBool>,
}

impl Feed {
    fn new() -> (mpsc::UnboundedSender<Invalidation>, Feed) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            tx,
            Feed {
                rx,
                closed: Arc::default(),
            },
        )
    }
}

impl Invalidations for Feed {
    async fn run(mut self, sink: InvalidationSink) {
        loop {
            tokio::select! {
                () = sink.closed() => break,
                message = self.rx.recv() => match message {
                    Some(message) => {
                        if !sink.send(message).await {
                            break;
                        }
                    }
                    None => sink.closed().await,
                },
            }
        }
        self.closed.store(true, Ordering::SeqCst);
    }
}

/// Lets spawned tasks run until nothing is left to do.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn invalidation_messages_reach_l1_only() {
    let (tx, feed) = Feed::new();
    let closed = feed.closed.clone();
    let (l1, l2) = (MemoryStore::<u64, String>::new(100).unwrap(), Remote::new());
    let store = Tiered::builder(l1.clone(), l2.clone())
        .invalidations(feed)
        .build()
        .unwrap();
    assert!(!store.is_subscribed());
    tx.send(Invalidation::Subscribed).unwrap();
    settle().await;
    assert!(store.is_subscribed());

    let e = entry("v", 10, 0, 0);
    for k in [1u64, 2, 3] {
        store.put(k, e.clone()).await.unwrap();
    }
    tx.send(Invalidation::Key("2".to_owned())).unwrap();
    tx.send(Invalidation::Key("not a number".to_owned()))
        .unwrap();
    settle().await;
    assert_eq!(l1.peek(&2), Peek::Miss);
    assert_eq!(l1.len(), 2);
    assert_eq!(l2.len(), 3, "L2 untouched");

    tx.send(Invalidation::Unsubscribed).unwrap();
    settle().await;
    assert!(!store.is_subscribed());

    tx.send(Invalidation::All).unwrap();
    settle().await;
    assert_eq!(l1.len(), 0);
    assert_eq!(l2.len(), 3);

    let stats = store.stats();
    assert_eq!((stats.remote_removals, stats.remote_clears), (1, 2));

    let copy = store.clone();
    drop(store);
    settle().await;
    assert!(!closed.load(Ordering::SeqCst), "a clone still listens");
    drop(copy);
    settle().await;
    assert!(
        closed.load(Ordering::SeqCst),
        "the feed ends with the last clone"
    );
}

#[tokio::test(start_paused = true)]
async fn resubscribing_drops_every_l1_copy() {
    let (tx, feed) = Feed::new();
    let l1 = mem();
    let store = Tiered::builder(l1.clone(), mem())
        .invalidations(feed)
        .build()
        .unwrap();
    store.put(key("k"), entry("v", 10, 0, 0)).await.unwrap();
    tx.send(Invalidation::Subscribed).unwrap();
    settle().await;
    assert_eq!(l1.len(), 0);
    assert_eq!(store.stats().remote_clears, 1);
}

#[tokio::test(start_paused = true)]
async fn an_update_message_replaces_a_held_l1_copy_with_the_newer_entry() {
    let (tx, feed) = Feed::new();
    let (l1, l2) = (mem(), Remote::new());
    let store = Tiered::builder(l1.clone(), l2.clone())
        .invalidations(feed)
        .build()
        .unwrap();
    store.put(key("k"), entry("old", 10, 0, 0)).await.unwrap();
    store.put(key("other"), entry("o", 10, 0, 0)).await.unwrap();
    // Another instance wrote a newer entry to L2 and announced it, and one
    // of a key this instance holds no copy of.
    l2.put(key("k"), entry("new", 10, 0, 0)).await.unwrap();
    l2.put(key("unheld"), entry("u", 10, 0, 0)).await.unwrap();
    tx.send(Invalidation::Updated("k".to_owned())).unwrap();
    tx.send(Invalidation::Updated("unheld".to_owned())).unwrap();
    settle().await;
    assert_eq!(l1.peek(&key("k")), Peek::Hit(entry("new", 10, 0, 0)));
    assert_eq!(l1.peek(&key("unheld")), Peek::Miss, "not fetched");
    assert!(matches!(l1.peek(&key("other")), Peek::Hit(_)));
    assert_eq!(
        store.get(&key("k")).await.unwrap().map(|e| e.value),
        Some("new".to_owned())
    );
    let stats = store.stats();
    assert_eq!((stats.remote_removals, stats.backfills), (2, 1));
}
