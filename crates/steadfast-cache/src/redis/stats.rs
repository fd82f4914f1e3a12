//! The counters of a [`RedisStore`](super::RedisStore).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StoreErrorKind;

/// A snapshot of a [`RedisStore`](super::RedisStore)'s counters, shared by
/// every clone of the store.
///
/// The same counts go to the `metrics` facade as
/// `steadfast_cache_l2_gets_total` with a `result` label (`hit`, `miss`),
/// `steadfast_cache_l2_writes_total`,
/// `steadfast_cache_l2_fenced_writes_total`,
/// `steadfast_cache_l2_removes_total`,
/// `steadfast_cache_l2_leases_acquired_total`,
/// `steadfast_cache_l2_leases_denied_total`,
/// `steadfast_cache_l2_reconnects_total` and
/// `steadfast_cache_l2_errors_total` with a `kind` label (`timeout`,
/// `unavailable`, `decode`, `encode`, `backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Look-ups that found a live entry.
    pub hits: u64,
    /// Look-ups that found nothing (or an entry already past its
    /// `expires_at`).
    pub misses: u64,
    /// Entries written.
    pub writes: u64,
    /// Writes of a load refused because the key was removed after the load
    /// began (see [fences](super#fences)); not errors.
    pub fenced_writes: u64,
    /// Keys removed.
    pub removes: u64,
    /// Leases taken.
    pub leases_acquired: u64,
    /// Lease requests refused because another holder had the lease.
    pub leases_denied: u64,
    /// Connections given up after consecutive timeouts (see
    /// [`RedisStoreBuilder::dead_after`](super::RedisStoreBuilder::dead_after))
    /// and replaced by a new one.
    pub reconnects: u64,
    /// Calls that did not finish within the call timeout.
    pub timeouts: u64,
    /// Calls that found Redis unreachable (including calls refused at once
    /// while the store waits to reconnect).
    pub unavailable: u64,
    /// Stored bytes that were not a readable entry: garbage, another
    /// envelope version, or a value the codec rejected.
    pub decode_failures: u64,
    /// Values the codec could not encode.
    pub encode_failures: u64,
    /// Error replies from Redis.
    pub backend_errors: u64,
}

impl RedisStats {
    /// All errors, of every kind.
    pub fn errors(&self) -> u64 {
        self.timeouts
            + self.unavailable
            + self.decode_failures
            + self.encode_failures
            + self.backend_errors
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    fenced_writes: AtomicU64,
    removes: AtomicU64,
    leases_acquired: AtomicU64,
    leases_denied: AtomicU64,
    reconnects: AtomicU64,
    timeouts: AtomicU64,
    unavailable: AtomicU64,
    decode_failures: AtomicU64,
    encode_failures: AtomicU64,
    backend_errors: AtomicU64,
}

/// One countable event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Hit,
    Miss,
    Write,
    Fenced,
    Remove,
    LeaseAcquired,
    LeaseDenied,
    Reconnect,
    Error(StoreErrorKind),
}

impl Counters {
    pub(crate) fn record(&self, event: Event) {
        const GETS: &str = "steadfast_cache_l2_gets_total";
        let (counter, name, label) = match event {
            Event::Hit => (&self.hits, GETS, Some(("result", "hit"))),
            Event::Miss => (&self.misses, GETS, Some(("result", "miss"))),
            Event::Write => (&self.writes, "steadfast_cache_l2_writes_total", None),
            Event::Fenced => (
                &self.fenced_writes,
                "steadfast_cache_l2_fenced_writes_total",
                None,
            ),
            Event::Remove => (&self.removes, "steadfast_cache_l2_removes_total", None),
            Event::LeaseAcquired => (
                &self.leases_acquired,
                "steadfast_cache_l2_leases_acquired_total",
                None,
            ),
            Event::LeaseDenied => (
                &self.leases_denied,
                "steadfast_cache_l2_leases_denied_total",
                None,
            ),
            Event::Reconnect => (
                &self.reconnects,
                "steadfast_cache_l2_reconnects_total",
                None,
            ),
            Event::Error(kind) => {
                let (counter, label) = match kind {
                    StoreErrorKind::Timeout => (&self.timeouts, "timeout"),
                    StoreErrorKind::Unavailable => (&self.unavailable, "unavailable"),
                    StoreErrorKind::Decode => (&self.decode_failures, "decode"),
                    StoreErrorKind::Encode => (&self.encode_failures, "encode"),
                    _ => (&self.backend_errors, "backend"),
                };
                (
                    counter,
                    "steadfast_cache_l2_errors_total",
                    Some(("kind", label)),
                )
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match label {
            Some((key, value)) => metrics::counter!(name, key => value).increment(1),
            None => metrics::counter!(name).increment(1),
        }
    }

    pub(crate) fn snapshot(&self) -> RedisStats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        RedisStats {
            hits: load(&self.hits),
            misses: load(&self.misses),
            writes: load(&self.writes),
            fenced_writes: load(&self.fenced_writes),
            removes: load(&self.removes),
            leases_acquired: load(&self.leases_acquired),
            leases_denied: load(&self.leases_denied),
            reconnects: load(&self.reconnects),
            timeouts: load(&self.timeouts),
            unavailable: load(&self.unavailable),
            decode_failures: load(&self.decode_failures),
            encode_failures: load(&self.encode_failures),
            backend_errors: load(&self.backend_errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_land_in_their_counters() {
        let c = Counters::default();
        c.record(Event::Hit);
        c.record(Event::Hit);
        c.record(Event::Miss);
        c.record(Event::Error(StoreErrorKind::Decode));
        c.record(Event::Error(StoreErrorKind::Timeout));
        let s = c.snapshot();
        assert_eq!(
            s,
            RedisStats {
                hits: 2,
                misses: 1,
                timeouts: 1,
                decode_failures: 1,
                ..RedisStats::default()
            }
        );
        assert_eq!(s.errors(), 2);
    }

    /// Records every counter increment as `name{label=value}` lines.
    #[derive(Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    struct Line(String, std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl metrics::CounterFn for Line {
        fn increment(&self, value: u64) {
            for _ in 0..value {
                self.1.lock().unwrap().push(self.0.clone());
            }
        }

        fn absolute(&self, _: u64) {}
    }

    impl metrics::Recorder for Capture {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }

        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let line = format!("{}{{{}}}", key.name(), labels.join(","));
            metrics::Counter::from_arc(std::sync::Arc::new(Line(line, self.0.clone())))
        }

        fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }

        fn register_histogram(
            &self,
            _: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn events_reach_the_metrics_facade() {
        let capture = Capture::default();
        let lines = capture.0.clone();
        let c = Counters::default();
        metrics::with_local_recorder(&capture, || {
            for event in [
                Event::Hit,
                Event::Miss,
                Event::Write,
                Event::Fenced,
                Event::Remove,
                Event::LeaseAcquired,
                Event::LeaseDenied,
                Event::Reconnect,
                Event::Error(StoreErrorKind::Timeout),
                Event::Error(StoreErrorKind::Unavailable),
                Event::Error(StoreErrorKind::Decode),
                Event::Error(StoreErrorKind::Encode),
                Event::Error(StoreErrorKind::Backend),
            ] {
                c.record(event);
            }
        });
        assert_eq!(
            *lines.lock().unwrap(),
            [
                "steadfast_cache_l2_gets_total{result=hit}",
                "steadfast_cache_l2_gets_total{result=miss}",
                "steadfast_cache_l2_writes_total{}",
                "steadfast_cache_l2_fenced_writes_total{}",
                "steadfast_cache_l2_removes_total{}",
                "steadfast_cache_l2_leases_acquired_total{}",
                "steadfast_cache_l2_leases_denied_total{}",
                "steadfast_cache_l2_reconnects_total{}",
                "steadfast_cache_l2_errors_total{kind=timeout}",
                "steadfast_cache_l2_errors_total{kind=unavailable}",
                "steadfast_cache_l2_errors_total{kind=decode}",
                "steadfast_cache_l2_errors_total{kind=encode}",
                "steadfast_cache_l2_errors_total{kind=backend}",
            ]
        );
        assert_eq!(c.snapshot().errors(), 5);
    }
}
