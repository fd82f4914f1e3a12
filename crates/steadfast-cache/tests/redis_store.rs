//! RedisStore against a real Redis: the envelope, deadlines, undecodable
//! bytes, removal, clearing and counters.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use futures_util::StreamExt;
use steadfast_cache::redis::{Codec, CodecError, ENVELOPE_MAGIC, RedisStats, RedisStore};
use steadfast_cache::{Peek, Store, StoreErrorKind};
use support::{cleanup, close, entry, prefix, redis_or_skip, redis_url, stats, store};

const SEC: Duration = Duration::from_secs(1);

#[tokio::test]
async fn an_entry_comes_back_with_its_value_and_deadlines() {
    let Some(mut raw) = redis_or_skip("an_entry_comes_back_with_its_value_and_deadlines").await
    else {
        return;
    };
    let prefix = prefix("round_trip");
    let store = store::<Vec<String>>(&prefix);
    let put = entry(
        vec!["a".to_owned(), "b".to_owned()],
        10 * SEC,
        20 * SEC,
        30 * SEC,
    );

    store.put("cfg".to_owned(), put.clone()).await.unwrap();
    let got = store.get(&"cfg".to_owned()).await.unwrap().unwrap();

    assert_eq!(got.value, put.value);
    let margin = Duration::from_millis(50);
    assert!(close(got.fresh_until, put.fresh_until, margin));
    assert!(close(got.revalidate_until, put.revalidate_until, margin));
    assert!(close(got.expires_at, put.expires_at, margin));

    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(store.redis_key(&"cfg".to_owned()))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(&bytes[..3], &ENVELOPE_MAGIC);
    assert_eq!(&bytes[28..], br#"["a","b"]"#);
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.redis_key(&"cfg".to_owned()))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((59_500..=60_000).contains(&pttl), "PTTL {pttl}");

    assert_eq!(store.peek(&"cfg".to_owned()), Peek::Unknown);
    assert_eq!(
        store.stats(),
        stats(|s| {
            s.writes = 1;
            s.hits = 1;
        })
    );
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn an_absent_key_is_a_counted_miss() {
    let Some(_raw) = redis_or_skip("an_absent_key_is_a_counted_miss").await else {
        return;
    };
    let store = store::<String>(&prefix("absent"));
    assert_eq!(store.get(&"nothing".to_owned()).await.unwrap(), None);
    assert_eq!(
        store.stats(),
        stats(|s| {
            s.misses = 1;
        })
    );
}

/// Writes `bytes` under the key `k` of a new namespace and reads it back
/// through a store: the error kind and the store's counters, or `None`
/// when Redis is missing.
async fn read_after_raw_write(test: &str, bytes: &[u8]) -> Option<(StoreErrorKind, RedisStats)> {
    let mut raw = redis_or_skip(test).await?;
    let prefix = prefix(test);
    let store = store::<String>(&prefix);
    set_raw(&mut raw, &store.redis_key(&"k".to_owned()), bytes).await;
    let error = store.get(&"k".to_owned()).await.unwrap_err();
    cleanup(&mut raw, &prefix).await;
    Some((error.kind(), store.stats()))
}

async fn set_raw(raw: &mut redis::aio::MultiplexedConnection, key: &str, bytes: &[u8]) {
    redis::cmd("SET")
        .arg(key)
        .arg(bytes)
        .arg("PX")
        .arg(60_000)
        .query_async::<()>(raw)
        .await
        .unwrap();
}

fn envelope(version: u8, deadlines_ms: [u64; 3], value: &[u8]) -> Vec<u8> {
    let mut out = ENVELOPE_MAGIC.to_vec();
    out.push(version);
    for ms in deadlines_ms {
        out.extend_from_slice(&ms.to_be_bytes());
    }
    out.extend_from_slice(value);
    out
}

fn unix_ms_in(d: Duration) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from((now + d).as_millis()).unwrap()
}

#[tokio::test]
async fn garbage_bytes_are_a_counted_decode_failure() {
    let test = "garbage_bytes_are_a_counted_decode_failure";
    let Some((kind, got)) = read_after_raw_write(test, b"\x00\xffnot an envelope at all").await
    else {
        return;
    };
    assert_eq!(kind, StoreErrorKind::Decode);
    assert_eq!(
        got,
        stats(|s| {
            s.decode_failures = 1;
        })
    );
}

#[tokio::test]
async fn another_envelope_version_is_a_decode_failure() {
    let test = "another_envelope_version_is_a_decode_failure";
    let far = unix_ms_in(Duration::from_secs(60));
    // Version 1 held wall-clock deadlines.
    let bytes = envelope(1, [far, far, far], br#""v""#);
    let Some((kind, stats)) = read_after_raw_write(test, &bytes).await else {
        return;
    };
    assert_eq!(kind, StoreErrorKind::Decode);
    assert_eq!(stats.decode_failures, 1);
    assert_eq!(stats.hits, 0);
}

#[tokio::test]
async fn a_value_the_codec_rejects_is_a_decode_failure() {
    let test = "a_value_the_codec_rejects_is_a_decode_failure";
    let bytes = envelope(2, [0, 0, 0], b"{not json");
    let Some((kind, stats)) = read_after_raw_write(test, &bytes).await else {
        return;
    };
    assert_eq!(kind, StoreErrorKind::Decode);
    assert_eq!(stats.decode_failures, 1);
}

#[tokio::test]
async fn a_key_without_an_expiry_is_a_decode_failure() {
    let Some(mut raw) = redis_or_skip("a_key_without_an_expiry_is_a_decode_failure").await else {
        return;
    };
    let prefix = prefix("no_expiry");
    let store = store::<String>(&prefix);
    redis::cmd("SET")
        .arg(store.redis_key(&"k".to_owned()))
        .arg(envelope(2, [0, 0, 0], br#""v""#))
        .query_async::<()>(&mut raw)
        .await
        .unwrap();
    let error = store.get(&"k".to_owned()).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Decode);
    assert_eq!(
        store.stats(),
        stats(|s| {
            s.decode_failures = 1;
        })
    );
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn an_already_expired_entry_is_not_kept() {
    let Some(mut raw) = redis_or_skip("an_already_expired_entry_is_not_kept").await else {
        return;
    };
    let prefix = prefix("not_kept");
    let store = store::<String>(&prefix);
    store
        .put("k".to_owned(), entry("v".to_owned(), SEC, SEC, SEC))
        .await
        .unwrap();
    store
        .put(
            "k".to_owned(),
            entry(
                "v".to_owned(),
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
            ),
        )
        .await
        .unwrap();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(store.redis_key(&"k".to_owned()))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    assert_eq!(store.stats().writes, 1);
}

#[tokio::test]
async fn remove_deletes_the_key_and_announces_it() {
    let Some(mut raw) = redis_or_skip("remove_deletes_the_key_and_announces_it").await else {
        return;
    };
    let prefix = prefix("remove");
    let store = store::<String>(&prefix);
    let client = redis::Client::open(redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(store.channel()).await.unwrap();
    assert_eq!(store.channel(), format!("{prefix}:invalidate"));

    store
        .put("k".to_owned(), entry("v".to_owned(), SEC, SEC, SEC))
        .await
        .unwrap();
    store.remove(&"k".to_owned()).await.unwrap();

    assert_eq!(store.get(&"k".to_owned()).await.unwrap(), None);
    let mut messages = pubsub.on_message();
    let mut next = async || {
        let message = tokio::time::timeout(Duration::from_secs(2), messages.next())
            .await
            .unwrap()
            .unwrap();
        String::from_utf8(message.get_payload_bytes().to_vec()).unwrap()
    };
    let written = next().await;
    assert!(
        written.starts_with("set:") && written.ends_with(":k") && written.len() == 4 + 16 + 2,
        "{written}"
    );
    assert_eq!(next().await, "del:k");
    assert_eq!(store.stats().removes, 1);
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn clear_empties_only_its_own_namespace_and_announces_it() {
    let Some(mut raw) =
        redis_or_skip("clear_empties_only_its_own_namespace_and_announces_it").await
    else {
        return;
    };
    let base = prefix("clear");
    let starred = store::<String>(&format!("{base}*"));
    let other = store::<String>(&format!("{base}x"));
    let client = redis::Client::open(redis_url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(starred.channel()).await.unwrap();
    for i in 0..1_200 {
        starred
            .put(format!("k{i}"), entry("v".to_owned(), 60 * SEC, SEC, SEC))
            .await
            .unwrap();
    }
    other
        .put("k0".to_owned(), entry("w".to_owned(), 60 * SEC, SEC, SEC))
        .await
        .unwrap();

    starred.clear().await.unwrap();

    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{base}*"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(left, vec![other.redis_key(&"k0".to_owned())]);
    let mut messages = pubsub.on_message();
    let mut written = 0;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(2), messages.next())
            .await
            .unwrap()
            .unwrap();
        match message.get_payload_bytes() {
            b"clear" => break,
            payload => {
                assert!(payload.starts_with(b"set:"), "{payload:?}");
                written += 1;
            }
        }
    }
    assert_eq!(written, 1_200, "one message per write, then the clear");
    cleanup(&mut raw, &format!("{base}x")).await;
}

/// Strings as raw UTF-8.
#[derive(Debug, Clone, Copy)]
struct Utf8;

impl Codec<String> for Utf8 {
    fn encode(&self, value: &String, out: &mut Vec<u8>) -> Result<(), CodecError> {
        if value.is_empty() {
            return Err("empty values are not stored".into());
        }
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
        Ok(std::str::from_utf8(bytes)?.to_owned())
    }
}

#[tokio::test]
async fn a_custom_codec_writes_the_value_bytes() {
    let Some(mut raw) = redis_or_skip("a_custom_codec_writes_the_value_bytes").await else {
        return;
    };
    let prefix = prefix("codec");
    let store: RedisStore<String, String, Utf8> = RedisStore::builder(redis_url())
        .prefix(&prefix)
        .codec(Utf8)
        .build()
        .unwrap();
    store
        .put(
            "k".to_owned(),
            entry("plain text".to_owned(), SEC, SEC, SEC),
        )
        .await
        .unwrap();
    let bytes: Vec<u8> = redis::cmd("GET")
        .arg(store.redis_key(&"k".to_owned()))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(&bytes[28..], b"plain text");
    assert_eq!(
        store.get(&"k".to_owned()).await.unwrap().unwrap().value,
        "plain text"
    );

    let error = store
        .put("e".to_owned(), entry(String::new(), SEC, SEC, SEC))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Encode);
    assert_eq!(
        store.stats(),
        stats(|s| {
            s.writes = 1;
            s.hits = 1;
            s.encode_failures = 1;
        })
    );
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn clear_leaves_a_longer_prefix_that_starts_with_its_own_alone() {
    let Some(mut raw) =
        redis_or_skip("clear_leaves_a_longer_prefix_that_starts_with_its_own_alone").await
    else {
        return;
    };
    let base = prefix("nested");
    let outer = store::<String>(&base);
    let inner = store::<String>(&format!("{base}:users"));
    for key in ["a", "users:b"] {
        outer
            .put(
                key.to_owned(),
                entry("outer".to_owned(), 60 * SEC, SEC, SEC),
            )
            .await
            .unwrap();
    }
    inner
        .put(
            "a".to_owned(),
            entry("inner".to_owned(), 60 * SEC, SEC, SEC),
        )
        .await
        .unwrap();
    let lease = inner
        .acquire_lease(&"a".to_owned(), 60 * SEC)
        .await
        .unwrap()
        .expect("a free lease");

    outer.clear().await.unwrap();

    assert_eq!(outer.get(&"a".to_owned()).await.unwrap(), None);
    assert_eq!(outer.get(&"users:b".to_owned()).await.unwrap(), None);
    assert_eq!(
        inner.get(&"a".to_owned()).await.unwrap().map(|e| e.value),
        Some("inner".to_owned()),
        "the entry of the longer prefix survives"
    );
    assert_eq!(
        inner
            .acquire_lease(&"a".to_owned(), 60 * SEC)
            .await
            .unwrap(),
        None,
        "and so does its lease"
    );
    inner.release_lease(&"a".to_owned(), lease).await.unwrap();
    cleanup(&mut raw, &base).await;
}
