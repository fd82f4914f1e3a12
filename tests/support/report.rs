//! The per-phase summary of a run, and the details of a failed one.
#![allow(dead_code, unreachable_pub)]

use std::fmt::Write as _;
use std::time::Duration;

use crate::observe::Observed;
use crate::scenario::Phase;

/// The per-phase summary: recovery, alerts, WARN lines, origin requests.
pub fn table(name: &str, timeline: &[Phase], observed: &[Observed]) -> String {
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
pub fn details(timeline: &[Phase], observed: &[Observed]) -> String {
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
