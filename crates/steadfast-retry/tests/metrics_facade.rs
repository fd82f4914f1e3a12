//! Retries, budget refusals and exhaustion are counted through the `metrics`
//! facade.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use steadfast_retry::RetryBudget;
use support::{Script, paused_runtime, secs, two_attempts_a_second_apart};
use tower::{Layer, ServiceExt};

/// Counts what the layer sends through the facade.
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

#[test]
fn retries_refusals_and_exhaustion_reach_the_metrics_facade() {
    let counts = Counts::default();
    // Half a retry per request: the first request is refused its retry, the
    // second retries once and is then exhausted.
    let layer = two_attempts_a_second_apart()
        .budget(RetryBudget::new(secs(10), 0, 50.0))
        .build()
        .unwrap();
    let script = Script::failing(5);

    metrics::with_local_recorder(&counts, || {
        paused_runtime().block_on(async {
            let _ = layer.layer(script.clone()).oneshot("a").await;
            let _ = layer.layer(script.clone()).oneshot("b").await;
        })
    });

    assert_eq!(counts.get("steadfast_retry_retries_total"), 1);
    assert_eq!(counts.get("steadfast_retry_exhausted_total"), 1);
    assert_eq!(counts.get("steadfast_retry_budget_refusals_total"), 1);
    assert_eq!(counts.get("steadfast_retry_deadline_reached_total"), 0);
    assert_eq!(script.count(), 3);
}
