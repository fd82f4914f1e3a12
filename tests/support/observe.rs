//! What the application saw during each phase of an outage timeline: its
//! answers, the alerts, the log lines, the metrics that moved and the
//! requests the server got.
#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use steadfast::config::{ConfigError, ConfigResponse, Source};
use steadfast::{Alert, Metrics};
use tokio::time::Instant;

use crate::backends::{Backend, Mark, Seen, Server};
use crate::counters::moved;
use crate::logs::Logs;
use crate::scenario::Phase;

/// The place of an answer or an alert in the order they came, across both.
pub fn next_seq() -> u64 {
    static ORDER: AtomicU64 = AtomicU64::new(0);
    ORDER.fetch_add(1, Ordering::SeqCst)
}

/// An alert the listener got.
#[derive(Debug, Clone)]
pub struct Heard {
    pub seq: u64,
    pub at: Instant,
    pub alert: Alert,
}

impl Heard {
    /// `alert`, heard now.
    pub fn now(alert: &Alert) -> Self {
        Self {
            seq: next_seq(),
            at: Instant::now(),
            alert: alert.clone(),
        }
    }
}

/// What the application saw during a phase.
#[derive(Debug, Default)]
pub struct Observed {
    /// Per key, the sources of its answers, run-length encoded.
    pub answers: Vec<(String, String)>,
    pub max_staleness: Option<Duration>,
    /// From the server's recovery to the first answer fetched from it.
    pub recovery: Option<Duration>,
    /// The alerts, [`describe`]d.
    pub alerts: Vec<String>,
    /// The alerts as the listener got them, with their time in the phase.
    pub alert_lines: Vec<String>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    pub origin: Vec<(String, String)>,
    /// The requests the server got, all keys together.
    pub origin_requests: u64,
    pub metrics: Vec<(&'static str, u64)>,
    /// Loads answered, by the metrics.
    pub answered: u64,
    /// Calls of the source, by the metrics.
    pub primary_loads: u64,
    /// Loads the application made.
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
pub struct Answer {
    /// Its place among the answers and the alerts.
    pub seq: u64,
    /// When the load started.
    pub asked: Instant,
    /// When it was answered.
    pub at: Instant,
    pub key: &'static str,
    /// Where the answer came from: `cache`, `stale`, `start:origin`, ….
    pub token: String,
    /// How old a stale answer was.
    pub staleness: Option<Duration>,
    /// When a fresh answer was fetched from the server.
    pub fetched_at: Option<Instant>,
}

impl Answer {
    /// The answer of `Loader::start`, asked for at `asked`: the real value
    /// (fetched just now), the fallback's (version 0) or an error.
    pub fn started<T>(
        key: &'static str,
        asked: Instant,
        result: &Result<T, ConfigError>,
        version: impl Fn(&T) -> u64,
    ) -> Self {
        let at = Instant::now();
        let token = match result {
            Ok(config) if version(config) == 0 => "start:fallback".to_owned(),
            Ok(_) => "start:origin".to_owned(),
            Err(error) => format!("start:error ({error})"),
        };
        Self {
            seq: next_seq(),
            asked,
            at,
            key,
            fetched_at: (token == "start:origin").then_some(at),
            token,
            staleness: None,
        }
    }

    /// The answer of a load asked for at `asked`.
    pub fn of(
        key: &'static str,
        asked: Instant,
        result: &Result<ConfigResponse, ConfigError>,
    ) -> Self {
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
            seq: next_seq(),
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
pub struct Snapshot {
    pub at: Instant,
    pub answers: usize,
    pub alerts: usize,
    pub warnings: usize,
    pub infos: usize,
    pub metrics: Metrics,
    pub mark: Mark,
}

/// What the application saw in each phase, cut at the snapshots taken at
/// each switch (and at the end).
pub fn phases<B: Backend>(
    timeline: &[Phase],
    snapshots: &[Snapshot],
    answers: &[Answer],
    heard: &[Heard],
    logs: &Logs,
    backend: &B,
) -> Vec<Observed> {
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
        let mut keys: Vec<&str> = Vec::new();
        for answer in these {
            if !keys.contains(&answer.key) {
                keys.push(answer.key);
            }
        }
        for key in keys {
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
        for heard in &heard[from.alerts..to.alerts] {
            seen.alerts.push(describe(&heard.alert));
            seen.alert_lines.push(format!(
                "+{:.3}s {}",
                heard.at.duration_since(from.at).as_secs_f64(),
                heard.alert
            ));
        }
        seen.warnings = warnings[from.warnings..to.warnings].to_vec();
        seen.infos = infos[from.infos..to.infos].to_vec();
        let requests = backend.requests(from.mark, to.mark);
        seen.origin_requests = requests.len() as u64;
        seen.origin = summary(&requests);
        seen.metrics = moved(&from.metrics, &to.metrics);
        seen.answered = to.metrics.answered() - from.metrics.answered();
        seen.primary_loads = to.metrics.primary_loads - from.metrics.primary_loads;
        observed.push(seen);
    }
    observed
}
