//! The disk misbehaving: damaged or foreign files, a write killed midway,
//! two stores on one directory, a directory that cannot be written. Each
//! is a counted miss or error, never a crash and never a failed request.

#[path = "support/dir.rs"]
mod dir;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use dir::Scratch;
use steadfast_cache::file::{HEADER_LEN, VERSION};
use steadfast_cache::{
    CacheLayer, Entry, FileStats, FileStore, Freshness, MemoryStore, Store, StoreErrorKind, Tiered,
};
use steadfast_core::BoxError;
use tokio::time::Instant;
use tower::{Layer, Service, ServiceExt, service_fn};

fn long(value: &str) -> Entry<String> {
    let now = Instant::now();
    Entry {
        value: value.to_owned(),
        fresh_until: now + Duration::from_secs(60),
        revalidate_until: now + Duration::from_secs(120),
        expires_at: now + Duration::from_secs(600),
    }
}

fn store(dir: &Path) -> FileStore<String, String> {
    FileStore::builder(dir).build().unwrap()
}

fn k(key: &str) -> String {
    key.to_owned()
}

/// The one entry file in `dir`.
fn only_file(dir: &Scratch) -> PathBuf {
    let files: Vec<String> = dir
        .files()
        .into_iter()
        .filter(|f| f.ends_with(".sfs"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    dir.path().join(&files[0])
}

fn stats(set: impl FnOnce(&mut FileStats)) -> FileStats {
    let mut stats = FileStats::default();
    set(&mut stats);
    stats
}

#[tokio::test(start_paused = true)]
async fn damaged_and_foreign_files_are_counted_misses_and_removed() {
    type Damage = fn(Vec<u8>) -> Vec<u8>;
    let damages: [(&str, Damage, &str); 8] = [
        ("empty", |_| Vec::new(), "not a steadfast snapshot file"),
        (
            "garbage",
            |_| b"{\"hello\": \"world\"}".to_vec(),
            "not a steadfast snapshot file",
        ),
        (
            "another version",
            |mut b| {
                b[4..6].copy_from_slice(&(VERSION + 1).to_be_bytes());
                b
            },
            "snapshot format version 2, expected 1",
        ),
        (
            "cut in the header",
            |b| b[..HEADER_LEN - 10].to_vec(),
            "snapshot file is 62 bytes long, its header says 72",
        ),
        (
            "cut in the value",
            |mut b| {
                b.truncate(b.len() - 3);
                b
            },
            "snapshot file is 74 bytes long, its header says 77",
        ),
        (
            "flipped bit",
            |mut b| {
                let last = b.len() - 2;
                b[last] ^= 0x01;
                b
            },
            "snapshot file checksum mismatch",
        ),
        (
            "trailing bytes",
            |mut b| {
                b.extend_from_slice(b"xx");
                b
            },
            "snapshot file is 79 bytes long, its header says 77",
        ),
        (
            "a damaged key",
            |mut b| {
                b[HEADER_LEN] ^= 0x20;
                b
            },
            "snapshot file checksum mismatch",
        ),
    ];
    for (what, damage, message) in damages {
        let dir = Scratch::new("faults-damage");
        let store = store(dir.path());
        store.put(k("k"), long("v1")).await.unwrap();
        let file = only_file(&dir);
        let bytes = std::fs::read(&file).unwrap();
        assert_eq!(bytes.len(), 77, "{what}");
        std::fs::write(&file, damage(bytes)).unwrap();

        let fresh = FileStore::<String, String>::builder(dir.path())
            .build()
            .unwrap();
        let error = fresh.get(&k("k")).await.unwrap_err();
        assert_eq!(error.kind(), StoreErrorKind::Decode, "{what}");
        assert_eq!(
            std::error::Error::source(&error).unwrap().to_string(),
            message,
            "{what}"
        );
        assert_eq!(
            fresh.stats(),
            stats(|s| {
                s.reads = 1;
                s.corrupt = 1;
            }),
            "{what}"
        );
        assert!(dir.files().is_empty(), "{what}: {:?}", dir.files());
        // Gone: the next look-up is a plain miss.
        assert_eq!(fresh.get(&k("k")).await.unwrap(), None, "{what}");
    }

    // A whole file of another key, where this key's file should be.
    let dir = Scratch::new("faults-other-key");
    let store = store(dir.path());
    store.put(k("j"), long("j's value")).await.unwrap();
    let theirs = only_file(&dir);
    store.put(k("k"), long("k's value")).await.unwrap();
    let ours = dir
        .files()
        .into_iter()
        .map(|f| dir.path().join(f))
        .find(|f| *f != theirs)
        .unwrap();
    std::fs::copy(&theirs, &ours).unwrap();
    let fresh = FileStore::<String, String>::builder(dir.path())
        .build()
        .unwrap();
    let error = fresh.get(&k("k")).await.unwrap_err();
    assert_eq!(
        std::error::Error::source(&error).unwrap().to_string(),
        "snapshot file holds another key"
    );
    assert_eq!(
        fresh.get(&k("j")).await.unwrap().unwrap().value,
        "j's value"
    );
    assert_eq!((fresh.stats().corrupt, fresh.stats().restored), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_value_the_codec_rejects_is_a_counted_miss() {
    let dir = Scratch::new("faults-codec");
    let strings = store(dir.path());
    strings.put(k("k"), long("not a number")).await.unwrap();
    let numbers = FileStore::<String, u64>::builder(dir.path())
        .build()
        .unwrap();
    let error = numbers.get(&k("k")).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Decode);
    assert_eq!(numbers.stats().corrupt, 1);
    assert!(dir.files().is_empty());
}

#[tokio::test(start_paused = true)]
async fn through_the_layer_a_garbage_file_costs_one_store_error_and_one_load() {
    let dir = Scratch::new("faults-layer");
    let first = store(dir.path());
    first.put(k("app"), long("old")).await.unwrap();
    std::fs::write(only_file(&dir), b"\x00garbage\xff").unwrap();

    let disk = store(dir.path());
    let tiers = Tiered::builder(MemoryStore::new(10).unwrap(), disk.clone())
        .build()
        .unwrap();
    let layer = CacheLayer::builder()
        .key_fn(|key: &String| key.clone())
        .ttl(Duration::from_secs(60))
        .store(tiers)
        .build()
        .unwrap();
    let handle = layer.handle();
    let mut cache = layer.layer(service_fn(|_: String| async {
        Ok::<_, BoxError>("new".to_owned())
    }));
    for _ in 0..3 {
        let got = cache.ready().await.unwrap().call(k("app")).await.unwrap();
        assert_eq!(got, "new");
    }
    disk.flush().await;
    let s = handle.stats();
    assert_eq!((s.loads, s.store_errors, s.l1_hits), (1, 1, 2));
    let d = disk.stats();
    assert_eq!((d.reads, d.corrupt, d.writes), (1, 1, 1));
    // The new value replaced it on disk.
    assert_eq!(
        store(dir.path())
            .get(&k("app"))
            .await
            .unwrap()
            .unwrap()
            .value,
        "new"
    );
}

fn age(path: &Path, by: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - by).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_write_killed_midway_leaves_the_old_version_readable() {
    let dir = Scratch::new("faults-killed");
    let before = store(dir.path());
    before.put(k("k"), long("v1")).await.unwrap();
    let file = only_file(&dir);
    // A process killed while writing v2 leaves its temporary file behind,
    // half written; another one is still writing right now.
    let bytes = std::fs::read(&file).unwrap();
    let killed = dir
        .path()
        .join(".00000000000000aa-0000000000000001.sfs-tmp");
    std::fs::write(&killed, &bytes[..40]).unwrap();
    age(&killed, Duration::from_secs(3600));
    let live = dir
        .path()
        .join(".00000000000000bb-0000000000000001.sfs-tmp");
    std::fs::write(&live, &bytes[..40]).unwrap();
    drop(before);

    let after = store(dir.path());
    assert_eq!(after.get(&k("k")).await.unwrap().unwrap().value, "v1");
    assert_eq!(after.stats().restored, 1);
    // The next write reads the directory: the old leftover goes, the one
    // another writer may still be working on stays.
    after.put(k("other"), long("v")).await.unwrap();
    assert!(!killed.exists());
    assert!(live.exists());
    assert_eq!(after.stats().abandoned_temp_files, 1);
    assert_eq!(after.len(), 2);
    assert_eq!(after.stats().corrupt, 0);
}

#[tokio::test(start_paused = true)]
async fn two_stores_on_one_directory_read_each_other_as_snapshots() {
    let dir = Scratch::new("faults-two");
    let a = store(dir.path());
    let b = store(dir.path());
    a.put(k("k"), long("from a")).await.unwrap();
    let seen = b.get(&k("k")).await.unwrap().unwrap();
    assert_eq!(seen.value, "from a");
    // Not B's own write: never fresh for B.
    assert!(seen.fresh_until <= Instant::now());
    b.put(k("k"), long("from b")).await.unwrap();
    let seen = a.get(&k("k")).await.unwrap().unwrap();
    assert_eq!(seen.value, "from b");
    assert!(seen.fresh_until <= Instant::now());
    assert_eq!((a.stats().restored, b.stats().restored), (1, 1));
    // B's own entry: usable only if the source fails.
    let own = b.get(&k("k")).await.unwrap().unwrap();
    assert_eq!(own.value, "from b");
    assert_eq!(own.freshness(Instant::now()), Freshness::StaleIfError);
    assert_eq!(b.stats().hits, 1);
}

#[tokio::test(start_paused = true)]
async fn two_stores_keep_one_directory_within_its_bound() {
    let dir = Scratch::new("faults-two-bound");
    let bounded = || {
        FileStore::<String, String>::builder(dir.path())
            .max_entries(4)
            .build()
            .unwrap()
    };
    let (a, b) = (bounded(), bounded());
    for i in 0..3 {
        a.put(format!("a{i}"), long("a")).await.unwrap();
    }
    for i in 0..3 {
        b.put(format!("b{i}"), long("b")).await.unwrap();
    }
    assert_eq!(dir.files().len(), 4);
    assert_eq!(a.stats().evictions + b.stats().evictions, 2);
    for (key, kept) in [("a0", false), ("a1", false), ("a2", true), ("b2", true)] {
        assert_eq!(b.get(&k(key)).await.unwrap().is_some(), kept, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_writing_the_same_keys_at_once_leave_only_whole_files() {
    let dir = Scratch::new("faults-concurrent");
    let (a, b) = (store(dir.path()), store(dir.path()));
    let mut tasks = Vec::new();
    for (name, store) in [("a", a.clone()), ("b", b.clone())] {
        let reader = store.clone();
        tasks.push(tokio::spawn(async move {
            for round in 0..40 {
                let key = format!("k{}", round % 4);
                store
                    .put(
                        key,
                        long(&format!("{name}{round}{}", "x".repeat(round * 50))),
                    )
                    .await
                    .unwrap();
            }
        }));
        tasks.push(tokio::spawn(async move {
            for round in 0..40 {
                // A read between writes finds a whole version or none.
                match reader.get(&format!("k{}", round % 4)).await {
                    Ok(_) => {}
                    Err(error) => panic!(
                        "read failed: {error} ({:?})",
                        std::error::Error::source(&error)
                    ),
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    a.flush().await;
    b.flush().await;
    let files = dir.files();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(files.iter().all(|f| !f.ends_with(".sfs-tmp")), "{files:?}");
    let third = store(dir.path());
    for i in 0..4 {
        let found = third.get(&format!("k{i}")).await.unwrap().unwrap();
        assert!(found.value.starts_with('a') || found.value.starts_with('b'));
    }
    let corrupt = a.stats().corrupt + b.stats().corrupt + third.stats().corrupt;
    assert_eq!(corrupt, 0);
}

/// Replaces the directory at `path` with a regular file, so nothing can be
/// written in it (whoever runs the test, root included); puts it back on
/// drop.
struct Unwritable {
    path: PathBuf,
    aside: PathBuf,
}

impl Unwritable {
    fn new(path: &Path) -> Self {
        let aside = path.with_extension("aside");
        std::fs::rename(path, &aside).unwrap();
        std::fs::write(path, b"not a directory").unwrap();
        Self {
            path: path.to_owned(),
            aside,
        }
    }
}

impl Drop for Unwritable {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::rename(&self.aside, &self.path);
    }
}

#[tokio::test(start_paused = true)]
async fn a_directory_that_cannot_be_written_costs_counted_errors_not_requests() {
    let scratch = Scratch::new("faults-unwritable");
    let path = scratch.path().join("snapshots");
    let disk = FileStore::<u64, String>::builder(&path).build().unwrap();
    let tiers = Tiered::builder(MemoryStore::new(10).unwrap(), disk.clone())
        .build()
        .unwrap();
    let layer = CacheLayer::builder()
        .key_fn(|key: &u64| *key)
        .ttl(Duration::from_secs(60))
        .store(tiers)
        .build()
        .unwrap();
    let handle = layer.handle();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut cache = layer.layer(service_fn(move |key: u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, BoxError>(format!("v{key}")) }
    }));

    let blocked = Unwritable::new(&{
        std::fs::create_dir_all(&path).unwrap();
        path.clone()
    });
    for key in 0..3u64 {
        for _ in 0..2 {
            let got = cache.ready().await.unwrap().call(key).await.unwrap();
            assert_eq!(got, format!("v{key}"));
        }
    }
    disk.flush().await;
    while handle.loads_in_flight() > 0 {
        tokio::task::yield_now().await;
    }
    // Each load read the disk (failed) and wrote it (failed).
    let s = handle.stats();
    assert_eq!((s.loads, s.l1_hits, s.store_errors), (3, 3, 6));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let d = disk.stats();
    assert_eq!(
        (d.reads, d.read_errors, d.writes, d.write_errors),
        (3, 3, 0, 3)
    );

    // Writable again: the next write lands.
    drop(blocked);
    let got = cache.ready().await.unwrap().call(7).await.unwrap();
    assert_eq!(got, "v7");
    while handle.loads_in_flight() > 0 {
        tokio::task::yield_now().await;
    }
    disk.flush().await;
    assert_eq!(disk.stats().writes, 1);
    assert_eq!(Scratch::files_in(&path).len(), 1);
}
