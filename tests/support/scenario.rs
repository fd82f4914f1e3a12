//! Runs an outage timeline through the whole `Loader` against a
//! [`Backend`], and checks what the application saw in each phase against
//! what the timeline expects.
//!
//! The application starts with `Loader::start` (the startup wait), then
//! loads the keys of the current phase once every [`TICK`]. An operator
//! switches the server at each phase's start. At each switch the runner
//! notes where the answers, the alerts, the warnings, the metrics and the
//! server's log stand, so each phase is judged on what happened in it.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, StackBuilder, StartupPolicy, json_fallback};
use tokio::time::{Instant, sleep_until};
use tower::Service;

use crate::backends::{Backend, Server};
use crate::logs;
use crate::observe::{self, Answer, Heard, Observed, Snapshot};
use crate::{report, verdict};

/// How often the application loads its keys.
pub const TICK: Duration = Duration::from_millis(200);
/// The cache's fresh window.
pub const TTL: Duration = Duration::from_millis(1_050);
/// After it, the stale-while-revalidate window.
pub const SWR: Duration = Duration::from_millis(1_000);
/// After that, the stale-if-error window.
pub const SIE: Duration = Duration::from_secs(3_600);
/// Attempts per load, the first included.
pub const ATTEMPTS: u32 = 3;
/// The first retry delay (doubling, no jitter, at most [`MAX_DELAY`]).
pub const FIRST_DELAY: Duration = Duration::from_millis(30);
/// The longest retry delay, a server's `Retry-After` included.
pub const MAX_DELAY: Duration = Duration::from_millis(60);
/// The stack's time limit per attempt.
pub const ATTEMPT_LIMIT: Duration = Duration::from_millis(200);
/// Consecutive failures that open the circuit.
pub const FAILURES: u32 = 5;
/// How long the circuit stays open before it lets a probe through.
pub const OPEN: Duration = Duration::from_millis(1_100);
/// How long `Loader::start` waits for the source.
pub const STARTUP_WAIT: Duration = Duration::from_secs(3);

/// The application's config.
#[derive(Debug, serde::Deserialize)]
pub struct AppConfig {
    pub api_url: String,
    pub version: u64,
}

/// What the fallback answers: version 0.
pub const FALLBACK: &str = r#"{"api_url":"https://fallback.invalid","version":0}"#;

/// Whether the clock is tokio's paused one or the real one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Paused: everything is exact.
    Paused,
    /// Real: staleness may be off by up to [`TOLERANCE`].
    Real,
}

/// How far a real clock's staleness may be from the paused clock's.
pub const TOLERANCE: Duration = Duration::from_millis(60);

/// How far, on the paused clock, every decision of the stack must be from
/// the moment it would go the other way: a request from a switch of the
/// server, a load from its entry's TTL or stale window, a tick from the
/// circuit's half-open moment. The real clock's jitter is far smaller, so
/// the real runs see what the paused run sees.
pub const MARGIN: Duration = Duration::from_millis(40);

/// One phase of the timeline.
#[derive(Debug)]
pub struct Phase {
    /// What happens, for the summary.
    pub name: &'static str,
    /// When it starts, since the start of the run.
    pub at: Duration,
    /// What the server does from then on.
    pub server: Server,
    /// The keys the application loads at every tick.
    pub keys: &'static [&'static str],
    /// What the application must see.
    pub expect: Expect,
}

/// What the application must see during a phase.
#[derive(Debug, Default)]
pub struct Expect {
    /// Per key, the sources of its answers in order, run-length encoded:
    /// `"cache×4 stale"`. The startup answer is `start:<source>`.
    pub answers: &'static [(&'static str, &'static str)],
    /// The greatest age of a stale answer, if any was served.
    pub max_staleness: Option<Duration>,
    /// A bound on the time from the phase's start (the server's recovery)
    /// to the first answer fetched from the recovered server.
    pub recovery_within: Option<Duration>,
    /// The alerts, in order (see [`describe`]).
    pub alerts: &'static [&'static str],
    /// The number of WARN lines logged.
    pub warnings: usize,
    /// The number of INFO lines logged.
    pub infos: usize,
    /// Per key, the requests the server got, by how it answered:
    /// `"304×4"`.
    pub origin: &'static [(&'static str, &'static str)],
    /// The metrics that moved, by how much.
    pub metrics: &'static [(&'static str, u64)],
}

/// The alerts heard.
type Alerts = Arc<Mutex<Vec<Heard>>>;

/// The stack under test: cache with stale-while-revalidate and
/// stale-if-error, retries, the circuit breaker, the per-attempt time
/// limit, a typed check, a fallback, the startup wait and an alert
/// listener.
fn stack(heard: &Alerts) -> StackBuilder {
    let heard = heard.clone();
    StackBuilder::new()
        .cache(
            CacheLayerBuilder::new()
                .ttl(TTL)
                .stale_while_revalidate(SWR)
                .stale_if_error(SIE),
        )
        .retry(
            RetryLayer::builder()
                .max_attempts(ATTEMPTS)
                .backoff(
                    Backoff::exponential(FIRST_DELAY, 2.0)
                        .with_max(MAX_DELAY)
                        .with_jitter(Jitter::None),
                )
                .without_budget(),
        )
        .breaker(
            CircuitBreakerLayer::builder()
                .consecutive_failures(FAILURES)
                .open_duration(OPEN),
        )
        .timeout(ATTEMPT_LIMIT)
        .decode_as::<AppConfig>()
        .fallback(json_fallback(FALLBACK))
        .startup(StartupPolicy::Wait(STARTUP_WAIT))
        .on_alert(move |alert: &Alert| heard.lock().unwrap().push(Heard::now(alert)))
}

/// Runs `timeline` (ending at `end`) against `backend` over `source`, prints
/// the summary table and checks every phase; panics with every mismatch.
pub async fn run<B, S>(
    timeline: &[Phase],
    end: Duration,
    backend: &mut B,
    source: S,
    clock: Clock,
) -> Vec<Observed>
where
    B: Backend,
    S: Service<ConfigRequest, Response = ConfigResponse, Error = ConfigError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let logs = logs::capture();
    let heard: Alerts = Arc::default();
    let loader = stack(&heard).build(source).expect("a valid stack");
    backend.apply(timeline[0].server).await;

    let answers: Arc<Mutex<Vec<Answer>>> = Arc::default();
    let fragile: Arc<Mutex<Vec<String>>> = Arc::default();
    let t0 = Instant::now();
    let phase_at = |at: Instant| {
        let since = at.duration_since(t0);
        timeline
            .iter()
            .rposition(|phase| phase.at <= since)
            .expect("the first phase starts at 0")
    };
    let snapshot = |backend: &B| Snapshot {
        at: Instant::now(),
        answers: answers.lock().unwrap().len(),
        alerts: heard.lock().unwrap().len(),
        warnings: logs.warnings().len(),
        infos: logs.infos().len(),
        metrics: loader.metrics(),
        mark: backend.mark(),
    };
    let mut snapshots = vec![snapshot(backend)];

    let app = async {
        let key = timeline[0].keys[0];
        let started = loader.start::<AppConfig>(key).await;
        let answer = Answer::started(key, t0, &started, |config| config.version);
        answers.lock().unwrap().push(answer);
        let mut next = t0;
        loop {
            let now = Instant::now();
            while next <= now {
                next += TICK;
            }
            if next >= t0 + end {
                break;
            }
            if clock == Clock::Paused {
                // Where the circuit will let a probe through: neither just
                // around this tick, nor around the first retry of its load.
                sleep_until(next - MARGIN).await;
                let breaker = loader.breaker().expect("a breaker");
                if let Some(wait) = breaker.retry_in().filter(|wait| !wait.is_zero()) {
                    let probe = Instant::now() + wait;
                    for edge in [next, next + FIRST_DELAY] {
                        if probe.max(edge) - probe.min(edge) < MARGIN {
                            fragile.lock().unwrap().push(format!(
                                "the circuit half-opens at {:?}, {:?} from an edge of the tick at {:?}",
                                probe - t0,
                                probe.max(edge) - probe.min(edge),
                                next - t0
                            ));
                        }
                    }
                }
            }
            sleep_until(next).await;
            for key in timeline[phase_at(next)].keys {
                let result = loader.load_response(*key).await;
                answers.lock().unwrap().push(Answer::of(key, next, &result));
            }
        }
    };
    let operator = async {
        let mut taken = Vec::new();
        for phase in &timeline[1..] {
            sleep_until(t0 + phase.at).await;
            taken.push(snapshot(backend));
            backend.apply(phase.server).await;
        }
        taken
    };
    let (_, taken) = tokio::join!(app, operator);
    snapshots.extend(taken);
    snapshots.push(snapshot(backend));

    let answers = answers.lock().unwrap();
    let heard = heard.lock().unwrap();
    let observed = observe::phases(timeline, &snapshots, &answers, &heard, &logs, backend);

    eprintln!("{}", report::table(backend.name(), timeline, &observed));
    let mut wrong = verdict::check(timeline, &observed, clock);
    wrong.extend(verdict::episode_facts(&heard, &answers, clock));
    let last = &snapshots[snapshots.len() - 1].metrics;
    if last.answered() != answers.len() as u64 {
        wrong.push(format!(
            "whole run: metrics answered {} loads, the application made {}",
            last.answered(),
            answers.len()
        ));
    }
    if clock == Clock::Paused {
        wrong.extend(fragile.lock().unwrap().iter().cloned());
        wrong.extend(verdict::fragile_edges(
            timeline,
            t0,
            &answers,
            backend.arrivals(),
        ));
    }
    assert!(
        wrong.is_empty(),
        "{}: {} mismatches\n{}\n\n{}",
        backend.name(),
        wrong.len(),
        wrong.join("\n"),
        report::details(timeline, &observed)
    );
    observed
}
