//! Each counter of `Metrics` counts what its name says, and every load the
//! loader answers is counted exactly once: as a fresh hit from memory or
//! from the shared tier, a miss (its own load reached the source), a
//! coalesced load (it joined another's), a stale answer, a fallback answer
//! or an error.

#[path = "support/counters.rs"]
mod counters;
#[path = "support/source.rs"]
mod source;
#[path = "support/stores.rs"]
mod stores;

use std::time::Duration;

use counters::nonzero;
use source::{App, Mode, Script};
use steadfast::cache::{CacheLayerBuilder, MemoryStore, Tiered};
use steadfast::config::{ConfigResponse, Source};
use steadfast::{Key, StackBuilder, json_fallback};
use stores::SharedTier;
use tokio::time::advance;

const FALLBACK: &str = r#"{"name":"fallback","version":0}"#;

fn cache() -> CacheLayerBuilder<ConfigResponse, steadfast::config::ConfigError> {
    CacheLayerBuilder::new()
        .ttl(Duration::from_secs(10))
        .stale_while_revalidate(Duration::from_secs(10))
        .stale_if_error(Duration::from_secs(3600))
}

fn stack() -> StackBuilder {
    StackBuilder::new()
        .cache(cache())
        .without_retry()
        .without_breaker()
        .decode_as::<App>()
}

type TieredStore = Tiered<MemoryStore<Key, ConfigResponse>, SharedTier<Key, ConfigResponse>>;

fn tiered(shared: &SharedTier<Key, ConfigResponse>) -> TieredStore {
    Tiered::builder(MemoryStore::new(100).unwrap(), shared.clone())
        .l1_ttl_cap(Duration::from_secs(3600))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn eight_concurrent_loads_of_a_cold_key_are_one_miss_and_seven_coalesced() {
    let script = Script::new(Mode::Up);
    let loader = stack().build(script.clone()).unwrap();

    let mut loads = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let loader = loader.clone();
        loads.spawn(async move { loader.load_response("app").await.unwrap().source() });
    }
    assert_eq!(loads.join_all().await, [Source::Origin; 8]);
    assert_eq!(script.calls(), 1);

    let m = loader.metrics();
    assert_eq!(
        nonzero(&m),
        [
            ("cache_misses", 1),
            ("cache_coalesced", 7),
            ("primary_loads", 1)
        ]
    );
    assert_eq!(m.answered(), 8);
}

#[tokio::test(start_paused = true)]
async fn a_value_from_the_shared_tier_is_an_l2_hit_and_nothing_else() {
    let shared = SharedTier::new();
    let other = stack()
        .cache(cache().store(tiered(&shared)))
        .build(Script::new(Mode::Up))
        .unwrap();
    other.load_response("app").await.unwrap();
    let script = Script::new(Mode::Up);
    let loader = stack()
        .cache(cache().store(tiered(&shared)))
        .build(script.clone())
        .unwrap();

    let first = loader.load_response("app").await.unwrap();
    let second = loader.load_response("app").await.unwrap();
    assert_eq!(
        (first.source(), second.source()),
        (Source::Cache, Source::Cache)
    );
    assert_eq!(script.calls(), 0);
    let m = loader.metrics();
    assert_eq!(nonzero(&m), [("cache_l1_hits", 1), ("cache_l2_hits", 1)]);
    assert_eq!(m.answered(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_newer_shared_value_behind_an_expired_memory_copy_is_an_l2_hit() {
    let shared = SharedTier::new();
    let script = Script::new(Mode::Up);
    let loader = stack()
        .cache(cache().store(tiered(&shared)))
        .build(script.clone())
        .unwrap();
    let other_source = Script::new(Mode::Up);
    other_source.bump();
    let other = stack()
        .cache(cache().store(tiered(&shared)))
        .build(other_source)
        .unwrap();

    loader.load_response("app").await.unwrap();
    // Past the fresh and the revalidation windows of the memory copy; the
    // other instance writes a newer value.
    advance(Duration::from_secs(30)).await;
    other.load_response("app").await.unwrap();
    let newer = loader.load_response("app").await.unwrap();
    assert_eq!(newer.source(), Source::Cache);
    assert_eq!(newer.decode::<App>().unwrap().version, 2);
    assert_eq!(script.calls(), 1);

    let m = loader.metrics();
    assert_eq!(
        nonzero(&m),
        [
            ("cache_l2_hits", 1),
            ("cache_misses", 1),
            ("primary_loads", 1)
        ]
    );
    assert_eq!(m.answered(), 2);
}

#[tokio::test(start_paused = true)]
async fn stale_while_revalidate_and_stale_if_error_are_stale_answers_only() {
    let script = Script::new(Mode::Up);
    let loader = stack().build(script.clone()).unwrap();

    assert_eq!(
        loader.load_response("app").await.unwrap().source(),
        Source::Origin
    );
    advance(Duration::from_secs(12)).await;
    // Served while it refreshes; the refresh is a load of its own.
    assert_eq!(
        loader.load_response("app").await.unwrap().source(),
        Source::Stale
    );
    tokio::task::yield_now().await;
    assert_eq!(
        loader.load_response("app").await.unwrap().source(),
        Source::Cache
    );
    advance(Duration::from_secs(30)).await;
    script.set(Mode::Down);
    // Served because the source failed.
    assert_eq!(
        loader.load_response("app").await.unwrap().source(),
        Source::Stale
    );
    assert_eq!(
        loader.load_response("app").await.unwrap().source(),
        Source::Stale
    );
    assert_eq!(script.calls(), 4);

    let m = loader.metrics();
    assert_eq!(
        nonzero(&m),
        [
            ("cache_l1_hits", 1),
            ("cache_misses", 1),
            ("stale_served", 3),
            ("primary_loads", 4)
        ]
    );
    assert_eq!(m.answered(), 5);
}

#[tokio::test(start_paused = true)]
async fn a_fallback_answer_is_a_fallback_use_and_no_miss() {
    let script = Script::new(Mode::Down);
    let loader = stack()
        .fallback_for("app", json_fallback(FALLBACK))
        .build(script.clone())
        .unwrap();

    for _ in 0..3 {
        let answer = loader.load_response("app").await.unwrap();
        assert_eq!(answer.source(), Source::Fallback);
    }
    // No fallback for this name: an error.
    assert!(loader.load_response("db").await.is_err());
    let m = loader.metrics();
    assert_eq!(
        nonzero(&m),
        [("fallback_uses", 3), ("errors", 1), ("primary_loads", 4)]
    );
    assert_eq!(m.answered(), 4);
}

#[tokio::test(start_paused = true)]
async fn without_a_fallback_each_caller_of_a_failed_load_is_one_error() {
    let script = Script::new(Mode::Down);
    let loader = stack().build(script.clone()).unwrap();

    let (a, b, c) = tokio::join!(
        loader.load_response("app"),
        loader.load_response("app"),
        loader.load_response("app")
    );
    assert!(a.is_err() && b.is_err() && c.is_err());
    let m = loader.metrics();
    assert_eq!(nonzero(&m), [("errors", 3), ("primary_loads", 1)]);
    assert_eq!(m.answered(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_load_just_after_another_s_miss_is_a_hit_even_before_its_value_is_stored() {
    let shared = SharedTier::new();
    shared.set_put_delay(Duration::from_secs(1));
    let script = Script::new(Mode::Up);
    let loader = stack()
        .cache(cache().store(shared.clone()))
        .build(script.clone())
        .unwrap();

    let first = loader.load_response("app").await.unwrap();
    assert_eq!(first.source(), Source::Origin);
    // Its value is known; writing it to the shared tier takes a second.
    advance(Duration::from_millis(20)).await;
    let started = tokio::time::Instant::now();
    let second = loader.load_response("app").await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(second.source(), Source::Cache);
    assert_eq!(script.calls(), 1);
    let m = loader.metrics();
    assert_eq!(
        nonzero(&m),
        [
            ("cache_l1_hits", 1),
            ("cache_misses", 1),
            ("primary_loads", 1)
        ]
    );
    assert_eq!(m.answered(), 2);
}
