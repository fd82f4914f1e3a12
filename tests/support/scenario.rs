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

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use steadfast::breaker::CircuitBreakerLayer;
use steadfast::cache::CacheLayerBuilder;
use steadfast::config::{ConfigError, ConfigRequest, ConfigResponse, Source};
use steadfast::retry::{Backoff, Jitter, RetryLayer};
use steadfast::{Alert, Metrics, StackBuilder, StartupPolicy, json_fallback};
use tokio::time::{Instant, sleep_until};
use tower::Service;

use crate::backends::{Backend, Mark, Seen, Server};
use crate::logs;

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

/// What the application saw during a phase.
#[derive(Debug, Default)]
pub struct Observed {
    pub answers: Vec<(String, String)>,
    pub max_staleness: Option<Duration>,
    pub recovery: Option<Duration>,
    pub alerts: Vec<String>,
    /// The alerts as the listener got them, with their time in the phase.
    pub alert_lines: Vec<String>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub origin: Vec<(String, String)>,
    /// The requests the server got, all keys together.
    pub origin_requests: u64,
    pub metrics: Vec<(&'static str, u64)>,
    pub loads: u64,
    /// Every answer with its time in the phase, for a failure message.
    pub timed: Vec<String>,
}

/// An alert in a few words, without the figures that depend on the clock:
/// `source failing app: 503`, `circuit opened`, `invalid config app:
/// <error>`.
pub fn describe(alert: &Alert) -> String {
    let key = alert.key().unwrap_or_default();
    match alert {
        Alert::SourceFailing { error, .. } => format!("source failing {key}: {}", what(error)),
        Alert::SourceRecovered { .. } => format!("source recovered {key}"),
        Alert::FallbackUsed { error, .. } => format!("fallback used {key}: {}", what(error)),
        Alert::FallbackEnded { .. } => format!("fallback ended {key}"),
        Alert::InvalidConfig { error, .. } => format!("invalid config {key}: {error}"),
        Alert::InvalidConfigEnded { .. } => format!("invalid config ended {key}"),
        Alert::CircuitOpened { .. } => "circuit opened".to_owned(),
        Alert::CircuitClosed { .. } => "circuit closed".to_owned(),
        other => other.to_string(),
    }
}

/// An error in a word: `refused`, `503`, `timeout`, `circuit open`.
fn what(error: &ConfigError) -> String {
    match error {
        ConfigError::Transport(_) if error.to_string().to_lowercase().contains("refused") => {
            "refused".to_owned()
        }
        ConfigError::Status { code, .. } => code.as_u16().to_string(),
        ConfigError::Timeout(_) => "timeout".to_owned(),
        ConfigError::CircuitOpen(_) => "circuit open".to_owned(),
        other => other.to_string(),
    }
}

/// The counters of a snapshot, by name.
fn counters(m: &Metrics) -> [(&'static str, u64); 13] {
    [
        ("cache_l1_hits", m.cache_l1_hits),
        ("cache_l2_hits", m.cache_l2_hits),
        ("cache_misses", m.cache_misses),
        ("cache_coalesced", m.cache_coalesced),
        ("stale_served", m.stale_served),
        ("fallback_uses", m.fallback_uses),
        ("errors", m.errors),
        ("primary_loads", m.primary_loads),
        ("invalid_responses", m.invalid_responses),
        ("retries", m.retries),
        ("circuit_breaker_opens", m.circuit_breaker_opens),
        ("circuit_breaker_rejections", m.circuit_breaker_rejections),
        ("l2_errors", m.l2_errors),
    ]
}

/// The counters that moved from `before` to `after`.
fn moved(before: &Metrics, after: &Metrics) -> Vec<(&'static str, u64)> {
    counters(after)
        .into_iter()
        .zip(counters(before))
        .map(|((name, a), (_, b))| (name, a - b))
        .filter(|(_, n)| *n != 0)
        .collect()
}

/// `tokens` run-length encoded: `cache cache stale` is `cache×2 stale`.
fn runs<T: AsRef<str>>(tokens: impl IntoIterator<Item = T>) -> String {
    let mut out: Vec<(String, usize)> = Vec::new();
    for token in tokens {
        let token = token.as_ref();
        match out.last_mut() {
            Some((last, n)) if last == token => *n += 1,
            _ => out.push((token.to_owned(), 1)),
        }
    }
    out.iter()
        .map(|(token, n)| match n {
            1 => token.clone(),
            n => format!("{token}×{n}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the server answered, by key, each kind counted: `200 304×4`.
fn summary(requests: &[(String, Seen)]) -> Vec<(String, String)> {
    let mut keys: Vec<String> = requests.iter().map(|(key, _)| key.clone()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            let mut seen: Vec<Seen> = requests
                .iter()
                .filter(|(k, _)| *k == key)
                .map(|(_, seen)| *seen)
                .collect();
            seen.sort();
            (key, runs(seen.iter().map(|seen| seen.as_str())))
        })
        .collect()
}

/// One answer the application got.
struct Answer {
    /// When the load started.
    asked: Instant,
    at: Instant,
    key: &'static str,
    token: String,
    /// How old a stale answer was.
    staleness: Option<Duration>,
    /// When a fresh answer was fetched from the server.
    fetched_at: Option<Instant>,
}

impl Answer {
    fn of(key: &'static str, asked: Instant, result: &Result<ConfigResponse, ConfigError>) -> Self {
        let at = Instant::now();
        let (token, staleness, fetched_at) = match result {
            Ok(response) => {
                let source = response.source();
                (
                    source.as_str().to_owned(),
                    (source == Source::Stale).then(|| response.age()),
                    matches!(source, Source::Origin | Source::Cache).then(|| response.fetched_at()),
                )
            }
            Err(error) => (format!("error ({error})"), None, None),
        };
        Self {
            asked,
            at,
            key,
            token,
            staleness,
            fetched_at,
        }
    }
}

/// Where everything stood at a switch.
struct Snapshot {
    at: Instant,
    answers: usize,
    alerts: usize,
    warnings: usize,
    infos: usize,
    metrics: Metrics,
    mark: Mark,
}

/// The alerts heard, with when.
type Heard = Arc<Mutex<Vec<(Instant, Alert)>>>;

/// The stack under test: cache with stale-while-revalidate and
/// stale-if-error, retries, the circuit breaker, the per-attempt time
/// limit, a typed check, a fallback, the startup wait and an alert
/// listener.
fn stack(heard: &Heard) -> StackBuilder {
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
        .on_alert(move |alert: &Alert| heard.lock().unwrap().push((Instant::now(), alert.clone())))
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
    let heard: Heard = Arc::default();
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
        let token = match &started {
            Ok(config) if config.version == 0 => "start:fallback".to_owned(),
            Ok(_) => "start:origin".to_owned(),
            Err(error) => format!("start:error ({error})"),
        };
        let now = Instant::now();
        answers.lock().unwrap().push(Answer {
            asked: t0,
            at: now,
            key,
            fetched_at: (!token.ends_with("fallback")).then_some(now),
            token,
            staleness: None,
        });
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
    let warnings = logs.warnings();
    let infos = logs.infos();
    let mut observed = Vec::new();
    for (i, phase) in timeline.iter().enumerate() {
        let (from, to) = (&snapshots[i], &snapshots[i + 1]);
        let these = &answers[from.answers..to.answers];
        let mut seen = Observed {
            loads: these.len() as u64,
            ..Observed::default()
        };
        let mut keys: Vec<&str> = these.iter().map(|a| a.key).collect();
        keys.dedup();
        let mut keys_in_order = Vec::new();
        for key in keys {
            if !keys_in_order.contains(&key) {
                keys_in_order.push(key);
            }
        }
        for key in keys_in_order {
            let tokens = these.iter().filter(|a| a.key == key).map(|a| &a.token);
            seen.answers.push((key.to_owned(), runs(tokens)));
        }
        seen.max_staleness = these.iter().filter_map(|a| a.staleness).max();
        seen.timed = these
            .iter()
            .map(|a| {
                format!(
                    "+{:.3} {} {}",
                    a.at.duration_since(from.at).as_secs_f64(),
                    a.key,
                    a.token
                )
            })
            .collect();
        // The server recovers when it serves again after doing anything
        // else.
        let recovers = matches!(phase.server, Server::Serving(_))
            && i > 0
            && timeline[i - 1].server != phase.server;
        seen.recovery = these
            .iter()
            .filter(|_| recovers)
            .find(|a| a.fetched_at.is_some_and(|fetched| fetched >= from.at))
            .map(|a| a.at.duration_since(from.at));
        for (at, alert) in &heard[from.alerts..to.alerts] {
            seen.alerts.push(describe(alert));
            seen.alert_lines.push(format!(
                "+{:.3}s {alert}",
                at.duration_since(from.at).as_secs_f64()
            ));
        }
        seen.warnings = warnings[from.warnings..to.warnings].to_vec();
        seen.infos = infos[from.infos..to.infos].to_vec();
        let requests = backend.requests(from.mark, to.mark);
        seen.origin_requests = requests.len() as u64;
        seen.origin = summary(&requests);
        seen.metrics = moved(&from.metrics, &to.metrics);
        observed.push(seen);
    }

    let last = &snapshots[snapshots.len() - 1].metrics;
    let table = table(backend.name(), timeline, &observed);
    eprintln!("{table}");
    let mut wrong = check(timeline, &observed, clock);
    if clock == Clock::Paused {
        wrong.extend(fragile.lock().unwrap().iter().cloned());
        wrong.extend(fragile_edges(timeline, t0, &answers, backend.arrivals()));
    }
    if last.answered() != answers.len() as u64 {
        wrong.push(format!(
            "whole run: metrics answered {} loads, the application made {}",
            last.answered(),
            answers.len()
        ));
    }
    assert!(
        wrong.is_empty(),
        "{}: {} mismatches\n{}\n\n{}",
        backend.name(),
        wrong.len(),
        wrong.join("\n"),
        details(timeline, &observed)
    );
    observed
}

/// The decisions of a paused run that fall within [`MARGIN`] of going the
/// other way: a request the server got around a switch, a load whose entry
/// was around the end of its TTL or its stale-while-revalidate window.
fn fragile_edges(
    timeline: &[Phase],
    t0: Instant,
    answers: &[Answer],
    arrivals: Option<Vec<Instant>>,
) -> Vec<String> {
    let apart = |a: Instant, b: Instant| a.max(b) - a.min(b);
    let mut fragile = Vec::new();
    for arrival in arrivals.unwrap_or_default() {
        for phase in &timeline[1..] {
            let switch = t0 + phase.at;
            if apart(arrival, switch) < MARGIN {
                fragile.push(format!(
                    "a request reached the server at {:?}, {:?} from the switch to {}",
                    arrival - t0,
                    apart(arrival, switch),
                    phase.name
                ));
            }
        }
    }
    for answer in answers {
        let Some(age) = answer.staleness.or(answer
            .fetched_at
            .filter(|_| answer.token == "cache")
            .map(|fetched| answer.at - fetched))
        else {
            continue;
        };
        // The entry's age when the load was asked for.
        let age = age.saturating_sub(answer.at - answer.asked);
        for edge in [TTL, TTL + SWR] {
            if age.abs_diff(edge) < MARGIN {
                fragile.push(format!(
                    "{} was asked for at {:?} when its entry was {age:?} old, near {edge:?}",
                    answer.key,
                    answer.asked - t0
                ));
            }
        }
    }
    fragile
}

fn check(timeline: &[Phase], observed: &[Observed], clock: Clock) -> Vec<String> {
    let mut wrong = Vec::new();
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    for (phase, seen) in timeline.iter().zip(observed) {
        let expect = &phase.expect;
        let name = phase.name;
        let mut differ = |what: &str, expected: String, got: String| {
            if expected != got {
                wrong.push(format!(
                    "{name}: {what}\n    expected {expected}\n         got {got}"
                ));
            }
        };
        differ(
            "answers",
            format!("{:?}", owned(expect.answers)),
            format!("{:?}", seen.answers),
        );
        differ(
            "alerts",
            format!("{:?}", expect.alerts),
            format!("{:?}", seen.alerts),
        );
        differ(
            "WARN lines",
            expect.warnings.to_string(),
            seen.warnings.len().to_string(),
        );
        differ(
            "INFO lines",
            expect.infos.to_string(),
            seen.infos.len().to_string(),
        );
        differ(
            "origin requests",
            format!("{:?}", owned(expect.origin)),
            format!("{:?}", seen.origin),
        );
        differ(
            "metrics",
            format!("{:?}", expect.metrics),
            format!("{:?}", seen.metrics),
        );
        let answered: u64 = seen
            .metrics
            .iter()
            .filter(|(name, _)| {
                matches!(
                    *name,
                    "cache_l1_hits"
                        | "cache_l2_hits"
                        | "cache_misses"
                        | "cache_coalesced"
                        | "stale_served"
                        | "fallback_uses"
                        | "errors"
                )
            })
            .map(|(_, n)| n)
            .sum();
        differ(
            "loads answered (metrics) against loads made",
            seen.loads.to_string(),
            answered.to_string(),
        );
        // While the server runs, every call that reached the source is a
        // request the server got.
        if phase.server != Server::Stopped {
            let calls = seen
                .metrics
                .iter()
                .find(|(name, _)| *name == "primary_loads")
                .map_or(0, |(_, n)| *n);
            differ(
                "requests the server got against calls of the source",
                calls.to_string(),
                seen.origin_requests.to_string(),
            );
        }
        let staleness_ok = match (expect.max_staleness, seen.max_staleness) {
            (None, None) => true,
            (Some(e), Some(s)) if clock == Clock::Paused => e == s,
            (Some(e), Some(s)) => e.abs_diff(s) <= TOLERANCE,
            _ => false,
        };
        if !staleness_ok {
            differ(
                "max staleness",
                format!("{:?}", expect.max_staleness),
                format!("{:?}", seen.max_staleness),
            );
        }
        match (expect.recovery_within, seen.recovery) {
            (None, _) => {}
            (Some(bound), Some(took)) if took <= bound => {}
            (Some(bound), took) => {
                differ("recovery", format!("within {bound:?}"), format!("{took:?}"))
            }
        }
    }
    wrong
}

/// The per-phase summary: recovery, alerts, WARN lines, origin requests.
fn table(name: &str, timeline: &[Phase], observed: &[Observed]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\noutage timeline against {name}");
    let _ = writeln!(
        out,
        "{:<24} {:>7} {:>10} {:>10} {:>6} {:>5} {:>5}  {:<28} answers",
        "phase", "at", "recovery", "staleness", "alerts", "WARN", "INFO", "origin requests"
    );
    for (phase, seen) in timeline.iter().zip(observed) {
        let ms = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{}ms", d.as_millis()));
        let origin = seen
            .origin
            .iter()
            .map(|(key, s)| format!("{key}: {s}"))
            .collect::<Vec<_>>()
            .join("; ");
        let answers = seen
            .answers
            .iter()
            .map(|(key, s)| format!("{key}: {s}"))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            out,
            "{:<24} {:>6.1}s {:>10} {:>10} {:>6} {:>5} {:>5}  {:<28} {}",
            phase.name,
            phase.at.as_secs_f64(),
            ms(seen.recovery),
            ms(seen.max_staleness),
            seen.alerts.len(),
            seen.warnings.len(),
            seen.infos.len(),
            if origin.is_empty() { "-" } else { &origin },
            answers
        );
    }
    out
}

/// Everything seen, phase by phase, for a failure message.
fn details(timeline: &[Phase], observed: &[Observed]) -> String {
    let mut out = String::new();
    for (phase, seen) in timeline.iter().zip(observed) {
        let _ = writeln!(out, "== {} (from {:?})", phase.name, phase.at);
        for line in &seen.alert_lines {
            let _ = writeln!(out, "   alert {line}");
        }
        for line in seen.warnings.iter().chain(&seen.infos) {
            let _ = writeln!(out, "   {line}");
        }
        let _ = writeln!(out, "   metrics {:?}", seen.metrics);
        let _ = writeln!(out, "   answers {}", seen.timed.join(", "));
    }
    out
}
