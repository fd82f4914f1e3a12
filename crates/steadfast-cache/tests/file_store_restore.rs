//! A restart on the last good value: a layer with a disk tier loads a
//! value, everything is dropped, and a new layer on the same directory
//! answers with it while its source (and Redis) is down, marked stale.
//! Ages come from the wall clock at the write and at the read.

#[path = "support/dir.rs"]
mod dir;

use std::future::Pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use dir::Scratch;
use steadfast_cache::{
    CacheHandle, CacheLayer, Entry, FileStore, MemoryStore, Restore, Store, Tiered,
};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_core::{BoxError, Source};
use tokio::time::{Instant, advance};
use tower::{Layer, Service, ServiceExt, service_fn};

type Disk = FileStore<Arc<str>, ConfigResponse>;

/// A source that is down: it takes every call and never answers.
#[derive(Clone, Default)]
struct Down {
    calls: Arc<AtomicUsize>,
}

impl Service<ConfigRequest> for Down {
    type Response = ConfigResponse;
    type Error = ConfigError;
    type Future = Pending<Result<ConfigResponse, ConfigError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConfigError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: ConfigRequest) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending()
    }
}

fn up(
    body: &'static str,
) -> impl Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(move |_: ConfigRequest| async move {
        Ok::<_, ConfigError>(ConfigResponse::new(body, Format::Json))
    })
}

fn layer<S>(
    store: S,
) -> CacheLayer<Arc<str>, ConfigResponse, ConfigError, steadfast_cache::DefaultKey, S>
where
    S: Store<Arc<str>, ConfigResponse>,
{
    CacheLayer::builder()
        .ttl(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(3600))
        .provenance()
        .store(store)
        .build()
        .unwrap()
}

fn memory_and(disk: Disk) -> Tiered<MemoryStore<Arc<str>, ConfigResponse>, Disk> {
    Tiered::builder(MemoryStore::new(100).unwrap(), disk)
        .build()
        .unwrap()
}

/// Waits until the loads behind `handle` (and their writes) are over.
async fn settle<S>(handle: &CacheHandle<Arc<str>, ConfigResponse, S>, disk: &Disk)
where
    S: Store<Arc<str>, ConfigResponse>,
{
    while handle.loads_in_flight() > 0 {
        tokio::task::yield_now().await;
    }
    disk.flush().await;
}

/// The first answer of a restarted layer: marked stale, and given while
/// the source (which never answers) has only just been called for the
/// background refresh. Prints how long it took, measured on the real clock.
async fn first_answer<S>(svc: &mut S, down: &Down, what: &str) -> ConfigResponse
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    let started = std::time::Instant::now();
    let answer = call(svc).await;
    let elapsed = started.elapsed();
    eprintln!("restart with {what}: answered from the disk snapshot in {elapsed:?}");
    assert_eq!(answer.source(), Source::Stale);
    assert_eq!(down.calls.load(Ordering::SeqCst), 1);
    answer
}

/// Asks `svc` for `app`.
async fn call<S>(svc: &mut S) -> ConfigResponse
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    let ready = svc.ready().await.unwrap();
    ready.call(ConfigRequest::new("app")).await.unwrap()
}

fn text(res: &ConfigResponse) -> &str {
    std::str::from_utf8(res.body()).unwrap()
}

#[tokio::test]
async fn a_restart_with_the_source_down_starts_on_the_snapshot_marked_stale() {
    let dir = Scratch::new("restore-layer");
    {
        let disk = Disk::builder(dir.path()).build().unwrap();
        let layer = layer(memory_and(disk.clone()));
        let handle = layer.handle();
        let svc = layer.layer(up(r#"{"v":1}"#));
        let first = svc.oneshot(ConfigRequest::new("app")).await.unwrap();
        assert_eq!(first.source(), Source::Origin);
        settle(&handle, &disk).await;
        assert_eq!(disk.stats().writes, 1);
    }

    // A new process: new stores on the same directory, the source down.
    let disk = Disk::builder(dir.path()).build().unwrap();
    let layer = layer(memory_and(disk.clone()));
    let handle = layer.handle();
    let down = Down::default();
    let mut svc = layer.layer(down.clone());
    let answer = first_answer(&mut svc, &down, "the source down").await;
    assert_eq!(text(&answer), r#"{"v":1}"#);
    let stats = handle.stats();
    assert_eq!(
        (
            stats.misses,
            stats.stale_served,
            stats.refreshes,
            stats.loads
        ),
        // A stale answer is no miss: one stale answer, one refresh load.
        (0, 1, 1, 1)
    );
    assert_eq!((disk.stats().restored, disk.stats().reads), (1, 1));

    // Later callers get the copy in memory, still stale, with no new load
    // while the refresh is under way.
    let again = call(&mut svc).await;
    assert_eq!(
        (text(&again), again.source()),
        (r#"{"v":1}"#, Source::Stale)
    );
    assert_eq!(down.calls.load(Ordering::SeqCst), 1);
    assert_eq!(disk.stats().reads, 1);
}

#[cfg(feature = "redis")]
#[path = "support/redis.rs"]
mod redis_support;

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_restart_with_the_source_and_redis_down_starts_on_the_snapshot() {
    use steadfast_cache::redis::RedisStore;

    let redis = |port: std::net::SocketAddr| {
        RedisStore::<Arc<str>, ConfigResponse>::builder(format!("redis://{port}"))
            .prefix("restore")
            .call_timeout(Duration::from_millis(100))
            .build()
            .unwrap()
    };
    let stack = |port, disk: Disk| {
        let shared = Tiered::builder(redis(port), disk)
            .l1_ttl_cap(Duration::MAX)
            .build()
            .unwrap();
        Tiered::builder(MemoryStore::new(100).unwrap(), shared)
            .build()
            .unwrap()
    };
    let dir = Scratch::new("restore-redis");
    {
        let port = redis_support::closed_port().await;
        let disk = Disk::builder(dir.path()).build().unwrap();
        let layer = layer(stack(port, disk.clone()));
        let handle = layer.handle();
        let svc = layer.layer(up(r#"{"v":2}"#));
        let first = svc.oneshot(ConfigRequest::new("app")).await.unwrap();
        assert_eq!(first.source(), Source::Origin);
        settle(&handle, &disk).await;
        // Redis refused the read and the write; the disk took the write.
        assert_eq!(handle.stats().store_errors, 2);
        assert_eq!(disk.stats().writes, 1);
    }

    let port = redis_support::closed_port().await;
    let disk = Disk::builder(dir.path()).build().unwrap();
    let layer = layer(stack(port, disk.clone()));
    let handle = layer.handle();
    let down = Down::default();
    let mut svc = layer.layer(down.clone());
    let answer = first_answer(&mut svc, &down, "the source down, Redis unreachable").await;
    assert_eq!(text(&answer), r#"{"v":2}"#);
    let stats = handle.stats();
    assert_eq!(
        (stats.stale_served, stats.refreshes, stats.loads),
        (1, 1, 1)
    );
    assert_eq!(disk.stats().restored, 1);
}

/// A wall clock that moves with tokio's (paused) clock from `base`.
fn wall(base: SystemTime) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    let start = Instant::now();
    move || base + start.elapsed()
}

fn entry(value: &str, fresh: u64, swr: u64, sie: u64) -> Entry<String> {
    let now = Instant::now();
    let secs = Duration::from_secs;
    Entry {
        value: value.to_owned(),
        fresh_until: now + secs(fresh),
        revalidate_until: now + secs(fresh + swr),
        expires_at: now + secs(fresh + swr + sie),
    }
}

fn restarted(dir: &Scratch, base: SystemTime, restore: Restore) -> FileStore<String, String> {
    FileStore::builder(dir.path())
        .wall_clock(wall(base))
        .restore(restore)
        .build()
        .unwrap()
}

/// A store whose wall clock reads `base` now writes an entry fresh for
/// 10 s, revalidatable for 10 s more, usable on error for 60 s more.
async fn write_snapshot(dir: &Scratch, base: SystemTime) {
    let writer = restarted(dir, base, Restore::default());
    writer
        .put("k".to_owned(), entry("v", 10, 10, 60))
        .await
        .unwrap();
}

/// The entry a new store, whose wall clock reads `wall` now, finds: its
/// fresh, revalidate and last windows as seconds from now.
async fn read_back(dir: &Scratch, wall: SystemTime, restore: Restore) -> [u64; 3] {
    let now = Instant::now();
    let found = restarted(dir, wall, restore)
        .get(&"k".to_owned())
        .await
        .unwrap()
        .unwrap();
    [found.fresh_until, found.revalidate_until, found.expires_at].map(|at| (at - now).as_secs())
}

/// A wall-clock time for the writes (November 2023).
fn base() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_ages_by_the_wall_clock_between_its_write_and_its_read() {
    let dir = Scratch::new("restore-age");
    write_snapshot(&dir, base()).await;
    // 30 s later (tokio's clock and the wall clock alike): never fresh,
    // past its revalidation window, 50 s of its last window left.
    advance(Duration::from_secs(30)).await;
    let later = base() + Duration::from_secs(30);
    assert_eq!(
        read_back(&dir, later, Restore::KeepWindows).await,
        [0, 0, 50]
    );
    assert_eq!(
        read_back(&dir, later, Restore::Revalidate).await,
        [0, 50, 50]
    );
    // 5 s in: still inside what was its fresh window.
    let early = base() + Duration::from_secs(5);
    assert_eq!(
        read_back(&dir, early, Restore::KeepWindows).await,
        [0, 15, 75]
    );

    // Past its last window: a miss, and the file is gone.
    let dead = restarted(&dir, base() + Duration::from_secs(80), Restore::Revalidate);
    assert_eq!(dead.get(&"k".to_owned()).await.unwrap(), None);
    assert_eq!((dead.stats().expired, dead.stats().restored), (1, 0));
    assert!(dir.files().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_wall_clock_that_went_back_counts_as_no_time_passed() {
    let dir = Scratch::new("restore-clock-back");
    write_snapshot(&dir, base()).await;
    advance(Duration::from_secs(5)).await;
    let behind = base() - Duration::from_secs(3600);
    assert_eq!(
        read_back(&dir, behind, Restore::KeepWindows).await,
        [0, 20, 80]
    );
}

#[tokio::test(start_paused = true)]
async fn with_its_own_windows_a_snapshot_past_revalidation_waits_for_the_source_to_fail() {
    let dir = Scratch::new("restore-keep-windows");
    let base = base();
    let disk = |clock_at: SystemTime| {
        FileStore::<u64, String>::builder(dir.path())
            .wall_clock(wall(clock_at))
            .restore(Restore::KeepWindows)
            .build()
            .unwrap()
    };
    let layer = |disk: FileStore<u64, String>| {
        CacheLayer::builder()
            .key_fn(|k: &u64| *k)
            .ttl(Duration::from_secs(10))
            .stale_if_error(Duration::from_secs(3600))
            .store(
                Tiered::builder(MemoryStore::new(10).unwrap(), disk)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    {
        let store = disk(base);
        let cache = layer(store.clone()).layer(service_fn(|_: u64| async {
            Ok::<_, BoxError>("v1".to_owned())
        }));
        assert_eq!(cache.oneshot(1).await.unwrap(), "v1");
        store.flush().await;
    }
    advance(Duration::from_secs(60)).await;
    let later = base + Duration::from_secs(60);

    // The source fails: the snapshot, once the source has answered.
    let l = layer(disk(later));
    let handle = l.handle();
    let cache = l.layer(service_fn(|_: u64| async {
        Err::<String, BoxError>("source down".into())
    }));
    assert_eq!(cache.oneshot(1).await.unwrap(), "v1");
    let stats = handle.stats();
    assert_eq!(
        (stats.loads, stats.load_errors, stats.stale_served),
        (1, 1, 1)
    );

    // The source answers: its fresh value, not the snapshot.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let store = disk(later);
    let l = layer(store.clone());
    let handle = l.handle();
    let cache = l.layer(service_fn(move |_: u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, BoxError>("v2".to_owned()) }
    }));
    assert_eq!(cache.oneshot(1).await.unwrap(), "v2");
    assert_eq!(
        (calls.load(Ordering::SeqCst), handle.stats().stale_served),
        (1, 0)
    );
    while handle.loads_in_flight() > 0 {
        tokio::task::yield_now().await;
    }
    store.flush().await;
    assert_eq!(store.stats().writes, 1);
}

#[tokio::test(start_paused = true)]
async fn an_entry_this_process_lost_from_memory_is_served_from_disk_only_if_the_source_fails() {
    let dir = Scratch::new("restore-own");
    let disk = Disk::builder(dir.path()).build().unwrap();
    let store = memory_and(disk.clone());
    let layer = layer(store.clone());
    let handle = layer.handle();
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fails = failing.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let svc = layer.layer(service_fn(move |_: ConfigRequest| {
        let n = counted.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = fails.load(Ordering::SeqCst);
        async move {
            if fail {
                Err(ConfigError::Timeout(Duration::from_secs(1)))
            } else {
                Ok(ConfigResponse::new(format!("{{\"v\":{n}}}"), Format::Json))
            }
        }
    }));
    svc.clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    settle(&handle, &disk).await;

    // Dropped from memory (as another instance's invalidation would): the
    // disk copy does not stand in for a load.
    store.l1().clear().await.unwrap();
    let answer = svc
        .clone()
        .oneshot(ConfigRequest::new("app"))
        .await
        .unwrap();
    assert_eq!(
        (text(&answer), answer.source()),
        (r#"{"v":2}"#, Source::Origin)
    );
    settle(&handle, &disk).await;

    // With the source failing, it is the last resort.
    store.l1().clear().await.unwrap();
    failing.store(true, Ordering::SeqCst);
    let answer = svc.oneshot(ConfigRequest::new("app")).await.unwrap();
    assert_eq!(
        (text(&answer), answer.source()),
        (r#"{"v":2}"#, Source::Stale)
    );
    let stats = handle.stats();
    assert_eq!(
        (
            stats.loads,
            stats.load_errors,
            stats.l2_hits,
            stats.stale_served
        ),
        (3, 1, 0, 1)
    );
    assert_eq!(
        (
            disk.stats().hits,
            disk.stats().restored,
            disk.stats().writes
        ),
        (2, 0, 2)
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
