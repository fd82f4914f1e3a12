//! Each retry is logged at debug level with its attempt, delay and error,
//! and never as a warning: during an outage every request retries, and an
//! outage is reported once, as an episode, by the stack above.
//!
//! Alone in its test binary: tracing caches per callsite whether anyone
//! listens, and another test polling the same callsite without a subscriber
//! at the same moment could leave it switched off.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use support::{Script, paused_runtime, two_attempts_a_second_apart};
use tower::{Layer, ServiceExt};

/// Collects what a subscriber writes.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_retry_logs_a_debug_line_with_attempt_delay_and_error_and_no_warning() {
    let output = Output::default();
    let writer = output.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .finish();
    let layer = two_attempts_a_second_apart().build().unwrap();

    tracing::subscriber::with_default(subscriber, || {
        paused_runtime().block_on(async {
            let _ = layer.layer(Script::failing(5)).oneshot("config").await;
        })
    });

    let text = String::from_utf8(output.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "DEBUG attempt 1 failed, retrying in 1s attempt=1 delay_ms=1000 error=transient failure 1",
            "DEBUG attempt 2 failed, no attempts left attempt=2",
        ]
    );
}
