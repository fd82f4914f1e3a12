//! A message from another instance does what the same change made here
//! does: a removal cancels this instance's load of the key (which then
//! stores nothing) and drops its cached "not found"; a clear does so for
//! every key; both reach a disk snapshot behind the shared tier; a newer
//! write drops the "not found" and replaces the local copies.

#[path = "support/dir.rs"]
mod dir;
#[path = "support/stores.rs"]
mod stores;
#[path = "support/source.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use steadfast_cache::{
    Cache, CacheHandle, CacheLayer, DefaultKey, Entry, FileStore, Invalidation, InvalidationSink,
    Invalidations, MemoryStore, Peek, Store, Tiered,
};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_core::Source;
use stores::Remote;
use support::{TestSource, body, text};
use tokio::sync::mpsc;
use tokio::time::{Instant, advance};
use tower::{Layer, ServiceExt};

const SEC: Duration = Duration::from_secs(1);

type Key = Arc<str>;
type Mem = MemoryStore<Key, ConfigResponse>;
type Shared = Remote<Key, ConfigResponse>;

/// A feed whose messages the test sends: what the other instance's
/// writes would publish.
struct Feed {
    rx: mpsc::UnboundedReceiver<Invalidation>,
}

fn feed() -> (mpsc::UnboundedSender<Invalidation>, Feed) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Feed { rx })
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
    }
}

/// Lets spawned tasks run until nothing is left to do.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn not_found() -> ConfigError {
    ConfigError::NotFound { name: "app".into() }
}

fn app() -> Key {
    Arc::from("app")
}

type Instance<S> = Cache<TestSource, Key, ConfigResponse, ConfigError, DefaultKey, S>;

/// An instance on `store`, with a cached "not found" of 60 s.
fn instance<S: Store<Key, ConfigResponse>>(
    source: &TestSource,
    store: S,
) -> (Instance<S>, CacheHandle<Key, ConfigResponse, S>) {
    let layer = CacheLayer::builder()
        .ttl(300 * SEC)
        .negative_ttl(60 * SEC)
        .provenance()
        .store(store)
        .build()
        .unwrap();
    let handle = layer.handle();
    (layer.layer(source.clone()), handle)
}

/// A memory L1 in front of `shared`, listening to a feed the test drives.
fn tiered(shared: &Shared) -> (Tiered<Mem, Shared>, mpsc::UnboundedSender<Invalidation>) {
    let (tx, feed) = feed();
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), shared.clone())
        .invalidations(feed)
        .build()
        .unwrap();
    (store, tx)
}

async fn get<S: Store<Key, ConfigResponse>>(
    cache: &Instance<S>,
) -> Result<ConfigResponse, ConfigError> {
    cache.clone().oneshot(ConfigRequest::new("app")).await
}

#[tokio::test(start_paused = true)]
async fn another_instances_removal_cancels_the_load_in_flight_here() {
    let shared = Shared::new();
    let (store_a, _tx_a) = tiered(&shared);
    let (store_b, tx_b) = tiered(&shared);
    let (_a, handle_a) = instance(&TestSource::new(Duration::ZERO), store_a);
    let source_b = TestSource::new(10 * SEC);
    let (b, _handle_b) = instance(&source_b, store_b.clone());

    // B's load is under way, with what the source had before A's change.
    let loading = tokio::spawn({
        let b = b.clone();
        async move { get(&b).await }
    });
    advance(SEC).await;
    settle().await;
    handle_a.invalidate(&app()).await.unwrap();
    tx_b.send(Invalidation::Key("app".to_owned())).unwrap();
    settle().await;

    advance(9 * SEC).await;
    let res = loading.await.unwrap().unwrap();
    assert_eq!(
        (text(&res), res.source()),
        (body("app", 1).as_str(), Source::Origin),
        "B's callers still get what B loaded"
    );
    settle().await;
    assert_eq!(shared.entry(&app()), None, "nothing written back to L2");
    assert_eq!(store_b.l1().peek(&app()), Peek::Miss, "nor to B's L1");

    // B's next call loads again.
    let loading = tokio::spawn(async move { get(&b).await });
    advance(10 * SEC).await;
    let res = loading.await.unwrap().unwrap();
    assert_eq!(text(&res), body("app", 2));
    assert_eq!(source_b.calls(), 2);
    assert!(shared.entry(&app()).is_some(), "a load after it is stored");
}

#[tokio::test(start_paused = true)]
async fn another_instances_clear_cancels_every_load_in_flight_here() {
    let shared = Shared::new();
    let (store_b, tx_b) = tiered(&shared);
    let source_b = TestSource::new(10 * SEC);
    let (b, _handle_b) = instance(&source_b, store_b.clone());

    let loading = tokio::spawn({
        let b = b.clone();
        async move { get(&b).await }
    });
    advance(SEC).await;
    settle().await;
    tx_b.send(Invalidation::All).unwrap();
    settle().await;
    advance(9 * SEC).await;
    loading.await.unwrap().unwrap();
    settle().await;
    assert_eq!(shared.len(), 0);
    assert_eq!(store_b.l1().len(), 0);
}

#[tokio::test(start_paused = true)]
async fn another_instances_removal_or_clear_drops_the_cached_not_found_here() {
    let shared = Shared::new();
    let (store_b, tx_b) = tiered(&shared);
    let source_b = TestSource::new(Duration::ZERO);
    source_b.fail(not_found());
    let (b, handle_b) = instance(&source_b, store_b);

    for message in [
        Invalidation::Key("app".to_owned()),
        Invalidation::All,
        Invalidation::Updated("app".to_owned()),
    ] {
        source_b.fail(not_found());
        assert!(get(&b).await.is_err());
        let calls = source_b.calls();
        assert!(get(&b).await.is_err());
        assert_eq!(source_b.calls(), calls, "a cached not found");

        // The config now exists, and another instance says so.
        source_b.succeed();
        tx_b.send(message.clone()).unwrap();
        settle().await;
        let res = get(&b).await;
        assert!(res.is_ok(), "{message:?}: {res:?}");
        assert_eq!(source_b.calls(), calls + 1, "{message:?}");
        handle_b.invalidate(&app()).await.unwrap();
    }
    assert_eq!(handle_b.stats().negative_hits, 3);
}

/// A memory L1 in front of the shared tier with a disk snapshot behind
/// it, listening to a feed the test drives.
type WithDisk = Tiered<Mem, Tiered<Shared, FileStore<Key, ConfigResponse>>>;

fn with_disk(
    shared: &Shared,
    disk: &FileStore<Key, ConfigResponse>,
) -> (WithDisk, mpsc::UnboundedSender<Invalidation>) {
    let (tx, feed) = feed();
    let behind = Tiered::builder(shared.clone(), disk.clone())
        .l1_ttl_cap(Duration::MAX)
        .build()
        .unwrap();
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), behind)
        .invalidations(feed)
        .build()
        .unwrap();
    (store, tx)
}

/// Waits (on the real clock) until `check` holds, for up to a second.
async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never came true");
}

#[tokio::test]
async fn messages_reach_the_disk_snapshot_behind_the_shared_tier() {
    let scratch = dir::Scratch::new("remote-disk");
    let disk = FileStore::builder(scratch.path()).build().unwrap();
    let shared = Shared::new();
    let (store, tx) = with_disk(&shared, &disk);
    let source = TestSource::new(Duration::ZERO);
    let (cache, handle) = instance(&source, store.clone());

    get(&cache).await.unwrap();
    // The load has stored its value everywhere and is over.
    eventually(|| handle.loads_in_flight() == 0).await;
    disk.flush().await;
    assert_eq!(disk.len(), 1);

    // Another instance removed the key.
    shared.remove(&app()).await.unwrap();
    tx.send(Invalidation::Key("app".to_owned())).unwrap();
    eventually(|| matches!(store.l1().peek(&app()), Peek::Miss)).await;
    disk.flush().await;
    assert_eq!(disk.len(), 0, "the snapshot of a removed key is gone");
    assert_eq!(shared.len(), 0);

    get(&cache).await.unwrap();
    eventually(|| handle.loads_in_flight() == 0).await;
    disk.flush().await;
    assert_eq!(disk.len(), 1);
    // Another instance cleared the namespace.
    shared.clear().await.unwrap();
    tx.send(Invalidation::All).unwrap();
    eventually(|| store.l1().is_empty()).await;
    disk.flush().await;
    assert_eq!(disk.len(), 0, "the snapshot is cleared too");

    // Another instance wrote a newer entry of a key held here.
    get(&cache).await.unwrap();
    eventually(|| handle.loads_in_flight() == 0).await;
    let now = Instant::now();
    let newer = Entry {
        value: ConfigResponse::new("{\"newer\":true}", Format::Json),
        fresh_until: now + 300 * SEC,
        revalidate_until: now + 300 * SEC,
        expires_at: now + 600 * SEC,
    };
    shared.put(app(), newer).await.unwrap();
    tx.send(Invalidation::Updated("app".to_owned())).unwrap();
    eventually(|| {
        matches!(store.l1().peek(&app()), Peek::Hit(e) if e.value.body().as_ref() == b"{\"newer\":true}")
    })
    .await;
    disk.flush().await;
    let snapshot = disk.get(&app()).await.unwrap().unwrap();
    assert_eq!(snapshot.value.body().as_ref(), b"{\"newer\":true}");
    assert_eq!(
        get(&cache).await.unwrap().body().as_ref(),
        b"{\"newer\":true}"
    );
    assert_eq!(source.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_load_cancelled_by_another_instance_leaves_the_shared_tier_alone() {
    // A load cancelled by another instance's removal forgets only its own
    // copies: it never removes the key from the shared tier, where the
    // other instance may already have written a newer entry.
    let shared = Shared::new();
    let (store_b, tx_b) = tiered(&shared);
    let source_b = TestSource::new(10 * SEC);
    let (b, _handle_b) = instance(&source_b, store_b);

    let loading = tokio::spawn({
        let b = b.clone();
        async move { get(&b).await }
    });
    advance(SEC).await;
    settle().await;
    tx_b.send(Invalidation::Key("app".to_owned())).unwrap();
    settle().await;
    // The other instance loads the newer value and stores it.
    let now = Instant::now();
    let newer = Entry {
        value: ConfigResponse::new("{\"newer\":true}", Format::Json),
        fresh_until: now + 300 * SEC,
        revalidate_until: now + 300 * SEC,
        expires_at: now + 300 * SEC,
    };
    shared.put(app(), newer.clone()).await.unwrap();
    advance(9 * SEC).await;
    loading.await.unwrap().unwrap();
    settle().await;
    assert_eq!(shared.entry(&app()), Some(newer));
}

#[tokio::test]
async fn messages_reach_a_snapshot_put_behind_the_cache_s_tiers() {
    // The layout of `CacheLayerBuilder::snapshot` over a memory L1 and a
    // shared tier: the feed is the front tiers', the disk is behind them.
    let scratch = dir::Scratch::new("remote-behind");
    let disk = FileStore::builder(scratch.path()).build().unwrap();
    let shared = Shared::new();
    let (front, tx) = tiered(&shared);
    let layer = CacheLayer::builder()
        .ttl(300 * SEC)
        .provenance()
        .store(front)
        .snapshot(disk.clone())
        .build()
        .unwrap();
    let handle = layer.handle();
    let cache = layer.layer(TestSource::new(Duration::ZERO));

    get(&cache).await.unwrap();
    eventually(|| handle.loads_in_flight() == 0).await;
    disk.flush().await;
    assert_eq!(disk.len(), 1);
    shared.remove(&app()).await.unwrap();
    tx.send(Invalidation::Key("app".to_owned())).unwrap();
    eventually(|| disk.stats().removals == 1).await;
    disk.flush().await;
    assert_eq!(disk.len(), 0, "the snapshot of a removed key is gone");

    get(&cache).await.unwrap();
    eventually(|| handle.loads_in_flight() == 0).await;
    disk.flush().await;
    assert_eq!(disk.len(), 1);
    tx.send(Invalidation::All).unwrap();
    eventually(|| disk.is_empty()).await;
}
