//! Freshness does not depend on the hosts' wall clocks: instances whose
//! clocks are an hour ahead or behind read every entry's windows as the
//! writer meant them.

#[path = "support/redis.rs"]
mod support;

use std::time::{Duration, SystemTime};

use steadfast_cache::redis::RedisStore;
use steadfast_cache::{Freshness, Store};
use support::{cleanup, entry, prefix, redis_or_skip, redis_url};
use tokio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);
const FRESH: Duration = Duration::from_secs(60);
const SWR: Duration = Duration::from_secs(30);
const SIE: Duration = Duration::from_secs(600);
/// Round trips and millisecond rounding.
const MARGIN: Duration = Duration::from_millis(200);

/// A host's wall clock.
type Clock = fn() -> SystemTime;

fn ahead() -> SystemTime {
    SystemTime::now() + HOUR
}

fn behind() -> SystemTime {
    SystemTime::now() - HOUR
}

fn on_time() -> SystemTime {
    SystemTime::now()
}

fn store_with_clock(prefix: &str, clock: Clock) -> RedisStore<String, String> {
    RedisStore::builder(redis_url())
        .prefix(prefix)
        .call_timeout(Duration::from_millis(500))
        .wall_clock(clock)
        .build()
        .unwrap()
}

fn within(at: Instant, expected: Instant) -> bool {
    at <= expected + MARGIN && at + MARGIN >= expected
}

#[tokio::test]
async fn skewed_clocks_read_every_window_as_written() {
    let Some(mut raw) = redis_or_skip("skewed_clocks_read_every_window_as_written").await else {
        return;
    };
    let prefix = prefix("skew");
    let clocks: [(&str, Clock); 3] = [
        ("on time", on_time),
        ("an hour ahead", ahead),
        ("an hour behind", behind),
    ];
    for (writer_name, writer_clock) in clocks {
        let writer = store_with_clock(&prefix, writer_clock);
        let key = format!("written {writer_name}");
        let written = Instant::now();
        writer
            .put(key.clone(), entry("v".to_owned(), FRESH, SWR, SIE))
            .await
            .unwrap();
        // The skewed clock did reach the writer: it stamped the entry.
        let bytes: Vec<u8> = redis::cmd("GET")
            .arg(writer.redis_key(&key))
            .query_async(&mut raw)
            .await
            .unwrap();
        let stamped = Duration::from_millis(u64::from_be_bytes(bytes[4..12].try_into().unwrap()));
        let meant = writer_clock()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        assert!(
            meant.abs_diff(stamped) < Duration::from_secs(5),
            "written {writer_name}: stamped {stamped:?}, clock at {meant:?}"
        );
        for (reader_name, reader_clock) in clocks {
            let reader = store_with_clock(&prefix, reader_clock);
            let got = reader
                .get(&key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("written {writer_name}, read {reader_name}: a miss"));
            let now = Instant::now();
            assert_eq!(
                got.freshness(now),
                Freshness::Fresh,
                "written {writer_name}, read {reader_name}"
            );
            for (at, expected, window) in [
                (got.fresh_until, written + FRESH, "fresh_until"),
                (
                    got.revalidate_until,
                    written + FRESH + SWR,
                    "revalidate_until",
                ),
                (got.expires_at, written + FRESH + SWR + SIE, "expires_at"),
            ] {
                assert!(
                    within(at, expected),
                    "written {writer_name}, read {reader_name}: {window} off by {:?}",
                    if at > expected {
                        at - expected
                    } else {
                        expected - at
                    }
                );
            }
        }
    }
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn an_entry_turns_stale_when_redis_says_so_whatever_the_readers_clock() {
    let Some(mut raw) =
        redis_or_skip("an_entry_turns_stale_when_redis_says_so_whatever_the_readers_clock").await
    else {
        return;
    };
    let prefix = prefix("skew_stale");
    let writer = store_with_clock(&prefix, on_time);
    let short = Duration::from_millis(300);
    writer
        .put("k".to_owned(), entry("v".to_owned(), short, short, SIE))
        .await
        .unwrap();
    tokio::time::sleep(short + Duration::from_millis(100)).await;
    for (name, clock) in [("on time", on_time as Clock), ("behind", behind)] {
        let reader = store_with_clock(&prefix, clock);
        let got = reader
            .get(&"k".to_owned())
            .await
            .unwrap()
            .expect("still kept");
        assert_eq!(
            got.freshness(Instant::now()),
            Freshness::Revalidate,
            "read {name}"
        );
    }
    cleanup(&mut raw, &prefix).await;
}
