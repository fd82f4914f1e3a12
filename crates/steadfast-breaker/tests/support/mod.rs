//! A scripted inner service and an event recorder for the breaker tests.
#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast_breaker::{Builder, Cause, CircuitBreakerLayer, Classifier, Event, Handle, State};
use steadfast_core::CircuitOpen;
use tower::{Layer, Service, ServiceExt, service_fn};

/// One call to the scripted service: how long it takes and whether it fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub fail: bool,
    pub delay: Duration,
}

pub const OK: Call = Call {
    fail: false,
    delay: Duration::ZERO,
};
pub const FAIL: Call = Call {
    fail: true,
    delay: Duration::ZERO,
};

pub fn ok_after(delay: Duration) -> Call {
    Call { fail: false, delay }
}

pub fn fail_after(delay: Duration) -> Call {
    Call { fail: true, delay }
}

/// The error of the scripted service: its own failure or a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestError {
    Inner,
    Open(CircuitOpen),
}

impl From<CircuitOpen> for TestError {
    fn from(open: CircuitOpen) -> Self {
        TestError::Open(open)
    }
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for TestError {}

/// Counts the calls that reached the scripted service.
#[derive(Debug, Clone, Default)]
pub struct Reached(Arc<AtomicUsize>);

impl Reached {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The scripted service behind `layer`, and a count of the calls that
/// reached it.
pub fn service<C>(
    layer: &CircuitBreakerLayer<C>,
) -> (
    impl Service<Call, Response = &'static str, Error = TestError, Future: Send> + Clone + Send + use<C>,
    Reached,
)
where
    C: Classifier<&'static str, TestError> + Send + Sync + 'static,
{
    let reached = Reached::default();
    let counter = reached.clone();
    let inner = service_fn(move |call: Call| {
        counter.0.fetch_add(1, Ordering::SeqCst);
        async move {
            if !call.delay.is_zero() {
                tokio::time::sleep(call.delay).await;
            }
            if call.fail {
                Err(TestError::Inner)
            } else {
                Ok("done")
            }
        }
    });
    (layer.layer(inner), reached)
}

/// Sends one call through `service`.
pub async fn send<S>(service: &mut S, call: Call) -> Result<&'static str, TestError>
where
    S: Service<Call, Response = &'static str, Error = TestError>,
{
    service.ready().await?.call(call).await
}

/// The rejection an open circuit answers with.
pub fn open(remaining: Duration) -> Result<&'static str, TestError> {
    Err(TestError::Open(CircuitOpen::new(remaining)))
}

/// Records every event a breaker reports.
#[derive(Debug, Clone, Default)]
pub struct Events(Arc<Mutex<Vec<Event>>>);

impl Events {
    pub fn listener(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let events = self.0.clone();
        move |event: &Event| events.lock().unwrap().push(*event)
    }

    /// The events so far, leaving none behind.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The event of a change of state.
pub fn changed(from: State, to: State, cause: Cause, open_for: Option<Duration>) -> Event {
    Event::StateChanged {
        from,
        to,
        cause,
        open_for,
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Builds `builder`'s layer around the scripted service: the circuit's
/// handle, the service, and the count of calls that reached it.
pub fn breaker(
    builder: Builder,
) -> (
    Handle,
    impl Service<Call, Response = &'static str, Error = TestError, Future: Send> + Clone + Send,
    Reached,
) {
    let layer = builder.build().unwrap();
    let (svc, reached) = service(&layer);
    (layer.handle(), svc, reached)
}

/// A current-thread runtime on a paused clock, for tests that drive their
/// own runtimes.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}
