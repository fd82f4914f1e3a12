#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use steadfast_core::{CircuitOpen, Failure};
use steadfast_retry::Event;
use tokio::time::Instant;
use tower::Service;

/// An error that says how to classify itself.
#[derive(Debug, Clone, PartialEq)]
pub enum TestError {
    Transient(u32),
    Fatal,
    After(Duration),
    Open(CircuitOpen),
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestError::Transient(n) => write!(f, "transient failure {n}"),
            TestError::Fatal => f.pad("fatal failure"),
            TestError::After(delay) => write!(f, "retry after {delay:?}"),
            TestError::Open(open) => fmt::Display::fmt(open, f),
        }
    }
}

impl std::error::Error for TestError {}

impl Failure for TestError {
    fn is_transient(&self) -> bool {
        !matches!(self, TestError::Fatal)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            TestError::After(delay) => Some(*delay),
            TestError::Open(open) => Some(open.remaining()),
            _ => None,
        }
    }

    fn circuit_open(&self) -> Option<&CircuitOpen> {
        match self {
            TestError::Open(open) => Some(open),
            _ => None,
        }
    }
}

/// A service that answers from a script, in order, and records when each
/// call came (relative to its creation) and with what request. Once the
/// script is spent it answers `Ok("ok")`. Clones share the script.
pub struct Script<Req = &'static str> {
    outcomes: Arc<Mutex<VecDeque<Result<&'static str, TestError>>>>,
    calls: Arc<Mutex<Vec<(Duration, Req)>>>,
    start: Instant,
    latency: Duration,
}

impl<Req> Clone for Script<Req> {
    fn clone(&self) -> Self {
        Self {
            outcomes: self.outcomes.clone(),
            calls: self.calls.clone(),
            start: self.start,
            latency: self.latency,
        }
    }
}

impl<Req> Script<Req> {
    pub fn new(outcomes: impl IntoIterator<Item = Result<&'static str, TestError>>) -> Self {
        Self {
            outcomes: Arc::new(Mutex::new(outcomes.into_iter().collect())),
            calls: Arc::new(Mutex::new(Vec::new())),
            start: Instant::now(),
            latency: Duration::ZERO,
        }
    }

    /// Failing `n` times with transient errors 1..=n, then succeeding.
    pub fn failing(n: u32) -> Self {
        Self::new((1..=n).map(|i| Err(TestError::Transient(i))))
    }

    /// Each call takes `latency` before it answers.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The times of the calls so far.
    pub fn times(&self) -> Vec<Duration> {
        self.calls.lock().unwrap().iter().map(|(t, _)| *t).collect()
    }

    /// The number of calls so far.
    pub fn count(&self) -> usize {
        self.calls.lock().unwrap().len()
    }

    /// Something of each request sent so far.
    pub fn calls_map<T>(&self, f: impl Fn(&Req) -> T) -> Vec<T> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| f(r))
            .collect()
    }

    /// The gaps between the start of successive calls.
    pub fn gaps(&self) -> Vec<Duration> {
        let times = self.times();
        times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl<Req: Clone + Send + 'static> Script<Req> {
    pub fn requests(&self) -> Vec<Req> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }
}

impl<Req: Send + 'static> Service<Req> for Script<Req> {
    type Response = &'static str;
    type Error = TestError;
    type Future = Pin<Box<dyn Future<Output = Result<&'static str, TestError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), TestError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now() - self.start, request));
        let outcome = self
            .outcomes
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok("ok"));
        let latency = self.latency;
        Box::pin(async move {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            outcome
        })
    }
}

/// Events as plain text, recorded by a listener.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    pub fn listener(&self) -> impl Fn(&Event<'_>) + Send + Sync + 'static {
        let events = self.0.clone();
        move |event: &Event<'_>| {
            let line = match event {
                Event::Retrying {
                    attempt,
                    delay,
                    error,
                } => match error {
                    Some(error) => format!("retrying {attempt} in {delay:?}: {error}"),
                    None => format!("retrying {attempt} in {delay:?}"),
                },
                Event::BudgetRefused { attempt } => format!("budget refused {attempt}"),
                Event::Exhausted { attempt } => format!("exhausted {attempt}"),
                Event::DeadlineReached { attempt, delay } => {
                    format!("deadline reached {attempt} ({delay:?})")
                }
                other => format!("{other:?}"),
            };
            events.lock().unwrap().push(line);
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A current-thread runtime on a paused clock, for tests that need a
/// subscriber or recorder set around it.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Two attempts, one second apart.
pub fn two_attempts_a_second_apart() -> steadfast_retry::RetryLayerBuilder {
    steadfast_retry::RetryLayer::builder()
        .max_attempts(2)
        .backoff(
            steadfast_retry::Backoff::constant(secs(1)).with_jitter(steadfast_retry::Jitter::None),
        )
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}
