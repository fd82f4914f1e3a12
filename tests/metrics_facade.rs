//! Each field of `Metrics` is reported through the `metrics` facade under
//! exactly the name its table gives, with the same count.

#[path = "support/source.rs"]
mod source;
#[path = "support/stores.rs"]
mod stores;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use source::{App, Mode, Script};
use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::{CacheLayerBuilder, Entry, MemoryStore, Store, Tiered};
use steadfast::config::{ConfigResponse, Format, Source};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Metrics, StackBuilder, StartupPolicy, json_fallback};
use stores::SharedTier;
use tokio::time::{Instant, advance};

/// Sums what reaches the facade, by counter name (over all labels).
#[derive(Default)]
struct Counts(Mutex<BTreeMap<String, Arc<AtomicU64>>>);

impl Counts {
    fn get(&self, name: &str) -> u64 {
        self.0
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |count| count.load(Ordering::SeqCst))
    }
}

impl Recorder for Counts {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counts = self.0.lock().unwrap();
        let count = counts.entry(key.name().to_owned()).or_default();
        Counter::from_arc(count.clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Every field with its facade name, as the table of `Metrics` has them.
fn by_name(m: &Metrics) -> [(&'static str, u64); 13] {
    [
        ("steadfast_cache_l1_hits_total", m.cache_l1_hits),
        ("steadfast_cache_l2_hits_total", m.cache_l2_hits),
        ("steadfast_cache_misses_total", m.cache_misses),
        ("steadfast_cache_coalesced_total", m.cache_coalesced),
        ("steadfast_cache_stale_served_total", m.stale_served),
        ("steadfast_loader_fallback_answers_total", m.fallback_uses),
        ("steadfast_loader_errors_total", m.errors),
        ("steadfast_origin_loads_total", m.primary_loads),
        ("steadfast_origin_rejected_total", m.invalid_responses),
        ("steadfast_retry_retries_total", m.retries),
        ("steadfast_breaker_opened_total", m.circuit_breaker_opens),
        (
            "steadfast_breaker_rejected_total",
            m.circuit_breaker_rejections,
        ),
        ("steadfast_cache_store_errors_total", m.l2_errors),
    ]
}

/// Runs `f` on a paused clock, with its counters sent to `counts`.
fn counted<T>(counts: &Counts, f: impl Future<Output = T>) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    metrics::with_local_recorder(counts, || runtime.block_on(f))
}

#[test]
fn every_field_has_one_facade_counter_with_the_same_count() {
    let counts = Counts::default();
    let m = counted(&counts, timeline());
    let fields = by_name(&m);
    assert!(
        fields.iter().all(|(_, n)| *n > 0),
        "every field is exercised: {fields:?}"
    );
    let reported: Vec<(&str, u64)> = fields
        .iter()
        .map(|(name, _)| (*name, counts.get(name)))
        .collect();
    assert_eq!(reported, fields);
}

/// A timeline that moves every counter: a value from the shared tier, a
/// cold key loaded by eight callers, a hit, a stale answer while it
/// refreshes, an invalid config answered stale, then the source and the
/// shared tier down: retries, the circuit opening and rejecting, a
/// fallback answer and an error.
async fn timeline() -> Metrics {
    let shared = SharedTier::new();
    let now = Instant::now();
    shared
        .put(
            "remote".into(),
            Entry {
                value: ConfigResponse::new(r#"{"name":"remote","version":1}"#, Format::Json),
                fresh_until: now + Duration::from_secs(60),
                revalidate_until: now + Duration::from_secs(60),
                expires_at: now + Duration::from_secs(60),
            },
        )
        .await
        .unwrap();
    let store = Tiered::builder(MemoryStore::new(100).unwrap(), shared.clone())
        .l1_ttl_cap(Duration::from_secs(3600))
        .build()
        .unwrap();
    let script = Script::new(Mode::Up);
    let loader = StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(Duration::from_secs(10))
                .stale_while_revalidate(Duration::from_secs(10))
                .stale_if_error(Duration::from_secs(3600))
                .store(store),
        )
        .retry(
            RetryLayer::builder()
                .max_attempts(2)
                .backoff(Backoff::constant(Duration::from_secs(1)).with_jitter(Jitter::None))
                .without_budget(),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(3)
                .open_duration(Duration::from_secs(60)),
        )
        .decode_as::<App>()
        .fallback_for("cold", json_fallback(r#"{"name":"cold","version":0}"#))
        .build(script.clone())
        .unwrap();

    let source = |name: &'static str| {
        let loader = loader.clone();
        async move { loader.load_response(name).await.map(|r| r.source()) }
    };
    assert_eq!(source("remote").await.unwrap(), Source::Cache);
    let mut eight = tokio::task::JoinSet::new();
    for _ in 0..8 {
        eight.spawn(source("app"));
    }
    for answer in eight.join_all().await {
        assert_eq!(answer.unwrap(), Source::Origin);
    }
    assert_eq!(source("app").await.unwrap(), Source::Cache);
    advance(Duration::from_secs(12)).await;
    assert_eq!(source("app").await.unwrap(), Source::Stale);
    tokio::task::yield_now().await;
    script.set(Mode::Invalid);
    advance(Duration::from_secs(30)).await;
    assert_eq!(source("app").await.unwrap(), Source::Stale);

    script.set(Mode::Down);
    shared.set_down(true);
    assert_eq!(source("cold").await.unwrap(), Source::Fallback);
    assert!(source("other").await.is_err());
    loader.metrics()
}

#[test]
fn a_start_answered_by_a_probe_beneath_the_open_circuit_is_a_miss_in_both() {
    let counts = Counts::default();
    let m = counted(&counts, async {
        let script = Script::new(Mode::Down);
        let loader = StackBuilder::new()
            .retry(
                RetryLayer::builder()
                    .max_attempts(2)
                    .backoff(Backoff::constant(Duration::from_millis(10)).with_jitter(Jitter::None))
                    .without_budget(),
            )
            .breaker(
                CircuitBreakerLayer::builder()
                    .consecutive_failures(2)
                    .open_duration(Duration::from_secs(60)),
            )
            .decode_as::<App>()
            .fallback(json_fallback(r#"{"name":"app","version":0}"#))
            .startup(StartupPolicy::Wait(Duration::from_secs(10)))
            .build(script.clone())
            .unwrap();
        let up = script.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            up.set(Mode::Up);
        });
        let app = loader.start::<App>("app").await.unwrap();
        assert_eq!(app.version, 1);
        // The circuit opened on the first round: the answer came from a
        // probe beneath it, long before it would half-open.
        assert_eq!(loader.metrics().circuit_breaker_opens, 1);
        loader.metrics()
    });
    assert_eq!((m.cache_misses, m.answered()), (1, 1));
    assert_eq!(counts.get("steadfast_cache_misses_total"), 1);
}
