//! Counters also go out through the `metrics` facade.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use steadfast_config::{ConfigError, ConfigRequest, ConfigResponse, Format};
use steadfast_fallback::FallbackLayer;
use support::failing_with;
use tower::{Layer, Service};

type Totals = Arc<Mutex<BTreeMap<String, u64>>>;

/// Sums every counter by name.
#[derive(Default)]
struct Sums {
    totals: Totals,
}

struct Sum {
    name: String,
    totals: Totals,
}

impl CounterFn for Sum {
    fn increment(&self, value: u64) {
        *self
            .totals
            .lock()
            .unwrap()
            .entry(self.name.clone())
            .or_default() += value;
    }

    fn absolute(&self, value: u64) {
        self.totals.lock().unwrap().insert(self.name.clone(), value);
    }
}

impl Recorder for Sums {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Sum {
            name: key.name().to_owned(),
            totals: self.totals.clone(),
        }))
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

/// Calls `service` once; its futures finish on the first poll.
fn call_now<S>(service: &mut S) -> Result<ConfigResponse, ConfigError>
where
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut future = std::pin::pin!(service.call(ConfigRequest::new("app")));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("the call did not finish at once"),
    }
}

#[test]
fn uses_passes_and_failures_are_counted_by_name() {
    let recorder = Sums::default();
    let layer = FallbackLayer::service(failing_with(|| ConfigError::NotFound {
        name: "backup".into(),
    }))
    .when(|error: &ConfigError| error.is_transient());
    let mut timeout = layer.layer(failing_with(|| ConfigError::Timeout(Duration::ZERO)));
    let mut invalid = layer.layer(failing_with(|| ConfigError::validation("bad")));

    metrics::with_local_recorder(&recorder, || {
        call_now(&mut timeout).unwrap_err();
        call_now(&mut timeout).unwrap_err();
        call_now(&mut invalid).unwrap_err();
    });

    let totals = recorder.totals.lock().unwrap().clone();
    assert_eq!(
        totals,
        BTreeMap::from([
            ("steadfast_fallback_failed_total".to_owned(), 2),
            ("steadfast_fallback_passed_total".to_owned(), 1),
            ("steadfast_fallback_used_total".to_owned(), 2),
        ])
    );
}

#[test]
fn a_successful_call_records_nothing() {
    let recorder = Sums::default();
    let layer = FallbackLayer::value(ConfigResponse::new("{}", Format::Json));
    let mut svc = layer.layer(support::answering("{}"));

    metrics::with_local_recorder(&recorder, || call_now(&mut svc).unwrap());

    assert!(recorder.totals.lock().unwrap().is_empty());
}
