//! Tracing events on state changes: warn on open, info on close, debug when
//! a failed probe keeps the circuit open.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use steadfast_breaker::CircuitBreakerLayer;
use support::*;
use tokio::time::advance;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn opening_warns_and_closing_informs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .name("primary")
            .consecutive_failures(1)
            .open_duration(secs(2)),
    );
    send(&mut svc, FAIL).await.unwrap_err();
    // A rejection is only a debug event.
    send(&mut svc, OK).await.unwrap_err();
    advance(secs(2)).await;
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.counters().rejected, 1);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        vec![
            " WARN circuit opened breaker=primary from=closed to=open cause=ConsecutiveFailures { failures: 1 } open_for=Some(2s)",
            " INFO circuit closed breaker=primary from=half_open to=closed cause=ProbesSucceeded { successes: 1 }",
        ]
    );
}

/// An outage is one warning, whatever the probes that fail during it: a
/// circuit that re-opens after a failed probe is still open, and says so
/// at debug level only.
#[tokio::test(start_paused = true)]
async fn a_failed_probe_re_opens_without_a_warning() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (handle, mut svc, _) = breaker(
        CircuitBreakerLayer::builder()
            .name("primary")
            .consecutive_failures(1)
            .open_duration(secs(2)),
    );
    send(&mut svc, FAIL).await.unwrap_err();
    for _ in 0..3 {
        advance(secs(2)).await;
        send(&mut svc, FAIL).await.unwrap_err();
    }
    advance(secs(2)).await;
    send(&mut svc, OK).await.unwrap();
    assert_eq!(handle.counters().opened, 4);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("circuit"))
        .collect();
    let probe_failed = "DEBUG circuit still open: its probes failed breaker=primary cause=ProbesFailed { successes: 0, failures: 1 } open_for=Some(2s)";
    assert_eq!(
        lines,
        vec![
            " WARN circuit opened breaker=primary from=closed to=open cause=ConsecutiveFailures { failures: 1 } open_for=Some(2s)",
            "DEBUG circuit half-open breaker=primary from=open",
            probe_failed,
            "DEBUG circuit half-open breaker=primary from=open",
            probe_failed,
            "DEBUG circuit half-open breaker=primary from=open",
            probe_failed,
            "DEBUG circuit half-open breaker=primary from=open",
            " INFO circuit closed breaker=primary from=half_open to=closed cause=ProbesSucceeded { successes: 1 }",
        ]
    );
}
