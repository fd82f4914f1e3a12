//! The file store as a store: exact round trips of its own entries, a safe
//! file per key, removal and clear, the directory's bounds, refused
//! entries, and the order of changes that run on the blocking pool.

#[path = "support/dir.rs"]
mod dir;

use std::error::Error;
use std::time::Duration;

use dir::Scratch;
use steadfast_cache::{
    Entry, EntryTooLarge, FileBuildError, FileStats, FileStore, Freshness, Peek, Store,
    StoreErrorKind,
};
use tokio::time::Instant;

fn entry(value: &str, fresh: u64, swr: u64, sie: u64) -> Entry<String> {
    let now = Instant::now();
    let fresh_until = now + Duration::from_millis(fresh);
    let revalidate_until = fresh_until + Duration::from_millis(swr);
    Entry {
        value: value.to_owned(),
        fresh_until,
        revalidate_until,
        expires_at: revalidate_until + Duration::from_millis(sie),
    }
}

fn long(value: &str) -> Entry<String> {
    entry(value, 60_000, 60_000, 600_000)
}

fn store(dir: &Scratch) -> FileStore<String, String> {
    FileStore::builder(dir.path()).build().unwrap()
}

fn stats(set: impl FnOnce(&mut FileStats)) -> FileStats {
    let mut stats = FileStats::default();
    set(&mut stats);
    stats
}

fn key(k: &str) -> String {
    k.to_owned()
}

/// `entry` as a file store gives its own entries back: usable only if the
/// source fails, from `now` until its own end.
fn last_resort(entry: &Entry<String>, now: Instant) -> Entry<String> {
    Entry {
        value: entry.value.clone(),
        fresh_until: now.min(entry.expires_at),
        revalidate_until: now.min(entry.expires_at),
        expires_at: entry.expires_at,
    }
}

#[tokio::test(start_paused = true)]
async fn its_own_entries_come_back_as_a_last_resort_with_their_exact_end() {
    let dir = Scratch::new("file-own");
    let store = store(&dir);
    assert_eq!(store.peek(&key("app")), Peek::Unknown);
    assert_eq!(store.get(&key("app")).await.unwrap(), None);
    // An end that is not whole milliseconds survives the trip.
    let mut written = long("v1");
    written.expires_at += Duration::from_micros(1_500);
    store.put(key("app"), written.clone()).await.unwrap();
    let found = store.get(&key("app")).await.unwrap().unwrap();
    assert_eq!(found, last_resort(&written, Instant::now()));
    assert_eq!(found.freshness(Instant::now()), Freshness::StaleIfError);
    tokio::time::advance(Duration::from_secs(90)).await;
    let found = store.get(&key("app")).await.unwrap().unwrap();
    assert_eq!(found, last_resort(&written, Instant::now()));
    tokio::time::advance(Duration::from_secs(700)).await;
    assert_eq!(store.get(&key("app")).await.unwrap(), None);
    assert_eq!(
        store.stats(),
        stats(|s| {
            s.reads = 4;
            s.hits = 2;
            s.misses = 1;
            s.expired = 1;
            s.writes = 1;
        })
    );
    assert_eq!((store.len(), store.len_hint()), (0, 0));
    assert!(dir.files().is_empty());
}

#[tokio::test(start_paused = true)]
async fn every_key_gets_a_file_of_its_own_inside_the_directory() {
    let dir = Scratch::new("file-names");
    let store = store(&dir);
    let keys = [
        "",
        ".",
        "..",
        "../../escape",
        "/etc/passwd",
        "a/b\\c",
        "nul\0byte",
        "ünïcödé",
        "App",
        "app",
        &"x".repeat(500),
        &format!("{}y", "x".repeat(500)),
    ];
    for (i, k) in keys.iter().enumerate() {
        store.put(key(k), long(&format!("v{i}"))).await.unwrap();
    }
    let files = dir.files();
    assert_eq!(files.len(), keys.len(), "{files:?}");
    for file in &files {
        assert!(!file.starts_with('.'), "{file}");
        assert!(file.ends_with(".sfs"), "{file}");
        assert!(file.len() <= 117, "{file}");
    }
    for (i, k) in keys.iter().enumerate() {
        let found = store.get(&key(k)).await.unwrap().unwrap();
        assert_eq!(found.value, format!("v{i}"), "{k:?}");
    }
    let parent = dir.path().parent().unwrap();
    assert!(!parent.join("escape").exists());
    assert_eq!(store.stats().corrupt, 0);
}

#[tokio::test(start_paused = true)]
async fn remove_and_clear_take_only_entry_files() {
    let dir = Scratch::new("file-remove");
    std::fs::write(dir.path().join("README"), "kept").unwrap();
    let store = store(&dir);
    for k in ["a", "b", "c"] {
        store.put(key(k), long(k)).await.unwrap();
    }
    store.remove(&key("a")).await.unwrap();
    store.remove(&key("never-written")).await.unwrap();
    assert_eq!(store.get(&key("a")).await.unwrap(), None);
    assert_eq!(dir.files().len(), 3);
    store.clear().await.unwrap();
    assert_eq!(dir.files(), ["README"]);
    assert_eq!(store.get(&key("b")).await.unwrap(), None);
    assert_eq!(store.len(), 0);
    let s = store.stats();
    assert_eq!((s.writes, s.removals, s.misses), (3, 3, 2));
}

#[tokio::test(start_paused = true)]
async fn an_entry_already_past_its_end_removes_the_older_version() {
    let dir = Scratch::new("file-expired-put");
    let store = store(&dir);
    store.put(key("k"), long("v1")).await.unwrap();
    store.put(key("k"), entry("v2", 0, 0, 0)).await.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), None);
    assert!(dir.files().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_entry_larger_than_the_byte_bound_is_refused_and_takes_its_older_version_along() {
    let dir = Scratch::new("file-too-large");
    let store = FileStore::<String, String>::builder(dir.path())
        .max_bytes(300)
        .build()
        .unwrap();
    store.put(key("k"), long("small")).await.unwrap();
    let error = store
        .put(key("k"), long(&"x".repeat(300)))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Backend);
    let cause = error
        .source()
        .unwrap()
        .downcast_ref::<EntryTooLarge>()
        .unwrap();
    // Header, key, and the JSON string with its quotes.
    assert_eq!((cause.size(), cause.limit()), (72 + 1 + 302, 300));
    assert_eq!(store.get(&key("k")).await.unwrap(), None);
    assert!(dir.files().is_empty());
    let s = store.stats();
    assert_eq!((s.writes, s.refused, s.removals), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn the_directory_keeps_the_most_recently_written_entries_within_its_count() {
    let dir = Scratch::new("file-count-bound");
    let store = FileStore::<String, String>::builder(dir.path())
        .max_entries(3)
        .build()
        .unwrap();
    for i in 0..6 {
        store.put(format!("k{i}"), long("v")).await.unwrap();
        assert!(dir.files().len() <= 3);
    }
    // Rewriting a key makes it the newest.
    store.put(key("k3"), long("again")).await.unwrap();
    store.put(key("k6"), long("v")).await.unwrap();
    for (k, kept) in [("k3", true), ("k4", false), ("k5", true), ("k6", true)] {
        assert_eq!(store.get(&key(k)).await.unwrap().is_some(), kept, "{k}");
    }
    assert_eq!(dir.files().len(), 3);
    let s = store.stats();
    assert_eq!((s.writes, s.evictions), (8, 4));
    assert_eq!(store.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_directory_keeps_within_its_bytes() {
    let dir = Scratch::new("file-byte-bound");
    let one = 72 + 2 + 102; // header, key, 100 characters in quotes
    let store = FileStore::<String, String>::builder(dir.path())
        .max_bytes(3 * one + one / 2)
        .build()
        .unwrap();
    for i in 0..5 {
        store
            .put(format!("k{i}"), long(&"x".repeat(100)))
            .await
            .unwrap();
    }
    let sizes: u64 = dir
        .files()
        .iter()
        .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
        .sum();
    assert_eq!(sizes, 3 * one);
    for (k, kept) in [("k0", false), ("k1", false), ("k2", true), ("k4", true)] {
        assert_eq!(store.get(&key(k)).await.unwrap().is_some(), kept, "{k}");
    }
    assert_eq!(store.stats().evictions, 2);
}

#[tokio::test(start_paused = true)]
async fn the_newest_of_many_racing_writes_of_a_key_wins() {
    let dir = Scratch::new("file-race");
    let store = store(&dir);
    // Every put starts its write when it is called; they finish in any
    // order on the blocking pool.
    let puts: Vec<_> = (0..50)
        .map(|i| store.put(key("k"), long(&format!("v{i}"))))
        .collect();
    for result in futures_util::future::join_all(puts).await {
        result.unwrap();
    }
    let found = store.get(&key("k")).await.unwrap().unwrap();
    assert_eq!(found.value, "v49");
    let s = store.stats();
    assert_eq!(s.writes + s.superseded, 50);
    assert!(s.writes >= 1);
    assert_eq!(dir.files().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_removal_or_clear_called_after_a_write_is_never_undone_by_it() {
    let dir = Scratch::new("file-order");
    let store = store(&dir);
    let k = key("k");
    let put = store.put(k.clone(), long("old"));
    let remove = store.remove(&k);
    let (put, remove) = tokio::join!(put, remove);
    put.unwrap();
    remove.unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), None);

    let before = store.put(key("a"), long("before"));
    let clear = store.clear();
    let after = store.put(key("b"), long("after"));
    let (before, clear, after) = tokio::join!(before, clear, after);
    before.unwrap();
    clear.unwrap();
    after.unwrap();
    assert_eq!(store.get(&key("a")).await.unwrap(), None);
    assert_eq!(store.get(&key("b")).await.unwrap().unwrap().value, "after");
}

#[tokio::test(start_paused = true)]
async fn a_write_whose_future_is_dropped_still_lands_and_flush_waits_for_it() {
    let dir = Scratch::new("file-flush");
    let store = store(&dir);
    drop(store.put(key("k"), long("v")));
    store.flush().await;
    assert_eq!(dir.files().len(), 1);
    assert_eq!(store.get(&key("k")).await.unwrap().unwrap().value, "v");
}

#[tokio::test(start_paused = true)]
async fn the_directory_is_made_on_the_first_write_readable_by_its_owner_only() {
    let scratch = Scratch::new("file-mkdir");
    let dir = scratch.path().join("a").join("b");
    let store = FileStore::<String, String>::builder(&dir).build().unwrap();
    assert_eq!(store.get(&key("k")).await.unwrap(), None);
    assert!(!dir.exists());
    store.put(key("k"), long("v")).await.unwrap();
    assert_eq!(Scratch::files_in(&dir).len(), 1);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join(&Scratch::files_in(&dir)[0]);
        assert_eq!(mode(&file), 0o600);
    }
}

#[tokio::test]
async fn a_store_used_outside_a_runtime_says_so() {
    let dir = Scratch::new("file-no-runtime");
    let store = store(&dir);
    let error = std::thread::spawn(move || {
        futures_util::FutureExt::now_or_never(store.put(key("k"), long("v")))
            .unwrap()
            .unwrap_err()
    })
    .join()
    .unwrap();
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    assert_eq!(
        error.source().unwrap().to_string(),
        "a file store needs a tokio runtime to run its file I/O on"
    );
}

#[test]
fn bad_settings_are_refused() {
    let build = |dir: &str, entries: usize, bytes: u64| {
        FileStore::<String, String>::builder(dir)
            .max_entries(entries)
            .max_bytes(bytes)
            .build()
            .map(|_| ())
    };
    assert_eq!(build("", 1, 1 << 20), Err(FileBuildError::EmptyPath));
    assert_eq!(build("d", 0, 1 << 20), Err(FileBuildError::ZeroEntries));
    assert_eq!(build("d", 1, 72), Err(FileBuildError::TooFewBytes));
    assert_eq!(build("d", 1, 73), Ok(()));
    assert_eq!(build("d", usize::MAX, u64::MAX), Ok(()));
    assert_eq!(
        FileBuildError::TooFewBytes.to_string(),
        "snapshot directory byte bound is smaller than one file's header"
    );
}
