//! Tracing events on state changes: warn on open, info on close, debug when
//! a failed probe keeps the circuit open.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use steadfast_breaker::CircuitBreakerLayer;
use support::*;
use tokio::time::advance;

/// An outage is one warning, whatever the probes that fail during it: a
/// circuit that re-opens after a failed probe is still open, and says so
/// at debug level only.
#[tokio::test(start_paused = true)]
async fn a_failed_probe_keeps_the_circuit_open_without_a_warning() {
    let (captured, _guard) = Captured::install();

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

    assert_eq!(
        captured.lines(),
        vec![
            " WARN circuit opened breaker=primary from=closed to=open cause=ConsecutiveFailures { failures: 1 } open_for=Some(2s)",
            " INFO circuit closed breaker=primary from=half_open to=closed cause=ProbesSucceeded { successes: 1 }",
        ]
    );
}

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

impl Captured {
    /// Captures the `info` and `warn` lines logged on this thread until the
    /// guard is dropped.
    fn install() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }
}

#[tokio::test(start_paused = true)]
async fn opening_warns_and_closing_informs() {
    let (captured, _guard) = Captured::install();

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

    assert_eq!(
        captured.lines(),
        vec![
            " WARN circuit opened breaker=primary from=closed to=open cause=ConsecutiveFailures { failures: 1 } open_for=Some(2s)",
            " INFO circuit closed breaker=primary from=half_open to=closed cause=ProbesSucceeded { successes: 1 }",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn forcing_the_current_state_again_logs_nothing() {
    let (captured, _guard) = Captured::install();

    let (handle, _, _) = breaker(CircuitBreakerLayer::builder().name("primary"));
    handle.reset();
    handle.force_open();
    handle.force_open();
    handle.force_closed();
    handle.force_closed();

    assert_eq!(
        captured.lines(),
        vec![
            " WARN circuit opened breaker=primary from=closed to=forced_open cause=Forced open_for=None",
            " INFO circuit closed breaker=primary from=forced_open to=disabled cause=Forced",
        ]
    );
}
