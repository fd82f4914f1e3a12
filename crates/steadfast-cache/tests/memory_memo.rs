//! A memory store's hits come from each thread's memo of the entries it
//! read last: never older than what the store holds once a change has
//! returned, whatever thread reads, and still counted as uses for eviction
//! (a put empties the memos, so the next read marks the key in its shard).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use steadfast_cache::{Entry, MemoryStore, Peek, Store};
use tokio::time::Instant;

fn entry(value: &str) -> Entry<String> {
    let now = Instant::now();
    let minute = now + Duration::from_secs(60);
    Entry {
        value: value.to_owned(),
        fresh_until: minute,
        revalidate_until: minute,
        expires_at: minute,
    }
}

fn value(store: &MemoryStore<String, String>, key: &str) -> Option<String> {
    match store.peek(&key.to_owned()) {
        Peek::Hit(entry) => Some(entry.value),
        Peek::Miss | Peek::Unknown => None,
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn every_change_reaches_every_threads_next_read() {
    let store = MemoryStore::<String, String>::new(100).unwrap();
    let threads = 3;
    let rounds = 200;
    // Each round: the writer changes the key, then every reader reads it
    // many times (from its memo after the first).
    let changed = Arc::new(Barrier::new(threads + 1));
    let read = Arc::new(Barrier::new(threads + 1));
    let readers: Vec<_> = (0..threads)
        .map(|_| {
            let (store, changed, read) = (store.clone(), changed.clone(), read.clone());
            std::thread::spawn(move || {
                for round in 0..rounds {
                    changed.wait();
                    let expected = match round % 3 {
                        2 => None,
                        _ => Some(format!("v{round}")),
                    };
                    for _ in 0..100 {
                        assert_eq!(value(&store, "cfg"), expected, "round {round}");
                    }
                    read.wait();
                }
            })
        })
        .collect();
    for round in 0..rounds {
        block_on(async {
            match round % 3 {
                // A removal.
                2 => store.remove(&"cfg".to_owned()).await.unwrap(),
                // A replacement, or a put after a removal.
                _ => store
                    .put("cfg".to_owned(), entry(&format!("v{round}")))
                    .await
                    .unwrap(),
            }
        });
        changed.wait();
        read.wait();
    }
    for reader in readers {
        reader.join().unwrap();
    }
}

#[test]
fn a_clear_and_an_other_keys_change_reach_the_memo() {
    let store = MemoryStore::<String, String>::new(100).unwrap();
    block_on(async {
        for key in ["a", "b", "c", "d", "e", "f"] {
            store.put(key.to_owned(), entry(key)).await.unwrap();
        }
    });
    // More keys than one memo holds, read over and over.
    for _ in 0..10 {
        for key in ["a", "b", "c", "d", "e", "f"] {
            assert_eq!(value(&store, key).as_deref(), Some(key));
        }
    }
    block_on(store.put("b".to_owned(), entry("b2"))).unwrap();
    assert_eq!(value(&store, "a").as_deref(), Some("a"));
    assert_eq!(value(&store, "b").as_deref(), Some("b2"));
    block_on(store.clear()).unwrap();
    for key in ["a", "b", "c", "d", "e", "f"] {
        assert_eq!(value(&store, key), None);
    }
    // `peek_with` sees what `peek` sees.
    block_on(store.put("a".to_owned(), entry("a3"))).unwrap();
    assert_eq!(store.peek_with(&"a".to_owned(), |e| e.value.len()), Some(2));
    assert_eq!(store.peek_with(&"z".to_owned(), |e| e.value.len()), None);
}

#[test]
fn a_key_read_from_the_memo_still_counts_as_used() {
    let store = MemoryStore::<String, String>::builder(64)
        .shards(1)
        .build()
        .unwrap();
    block_on(async {
        store.put("hot".to_owned(), entry("hot")).await.unwrap();
        for i in 0..1_000 {
            for _ in 0..100 {
                assert_eq!(value(&store, "hot").as_deref(), Some("hot"));
            }
            let key = format!("cold-{i}");
            store.put(key.clone(), entry(&key)).await.unwrap();
        }
    });
    assert_eq!(value(&store, "hot").as_deref(), Some("hot"));
    assert!(store.len() <= 64);
}
