//! Judges what the application saw against what the timeline expects, and
//! a paused run's decisions against how close they came to going the other
//! way.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use steadfast::{Alert, Answered};
use tokio::time::Instant;

use crate::backends::Server;
use crate::observe::{Answer, Heard, Observed};
use crate::scenario::{Clock, MARGIN, Phase, SWR, TOLERANCE, TTL};

/// The decisions of a paused run that fall within [`MARGIN`] of going the
/// other way: a request the server got around a switch, a load whose entry
/// was around the end of its TTL or its stale-while-revalidate window.
pub fn fragile_edges(
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

/// Every way the phases differ from what the timeline expects.
pub fn check(timeline: &[Phase], observed: &[Observed], clock: Clock) -> Vec<String> {
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
        let exact = [
            (
                "answers",
                format!("{:?}", owned(expect.answers)),
                format!("{:?}", seen.answers),
            ),
            (
                "alerts",
                format!("{:?}", expect.alerts),
                format!("{:?}", seen.alerts),
            ),
            (
                "WARN lines",
                expect.warnings.to_string(),
                seen.warnings.len().to_string(),
            ),
            (
                "INFO lines",
                expect.infos.to_string(),
                seen.infos.len().to_string(),
            ),
            (
                "origin requests",
                format!("{:?}", owned(expect.origin)),
                format!("{:?}", seen.origin),
            ),
            (
                "metrics",
                format!("{:?}", expect.metrics),
                format!("{:?}", seen.metrics),
            ),
            // Every answered load counted once.
            (
                "loads answered (metrics) against loads made",
                seen.loads.to_string(),
                seen.answered.to_string(),
            ),
        ];
        for (what, expected, got) in exact {
            differ(what, expected, got);
        }
        // While the server runs, every call that reached the source is a
        // request the server got.
        if phase.server != Server::Stopped {
            differ(
                "requests the server got against calls of the source",
                seen.primary_loads.to_string(),
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

/// The facts each ending alert carries, against what the application saw:
/// the episode lasted from its start alert to its end alert, and the
/// requests it says were answered stale, by the fallback or with an error
/// are the answers of its key in between.
pub fn episode_facts(heard: &[Heard], answers: &[Answer], clock: Clock) -> Vec<String> {
    let mut wrong = Vec::new();
    for (i, end) in heard.iter().enumerate() {
        let (starts, lasted, answered): (fn(&Alert) -> bool, Duration, Option<Answered>) =
            match &end.alert {
                Alert::SourceRecovered {
                    lasted, answered, ..
                } => (
                    |a| matches!(a, Alert::SourceFailing { .. }),
                    *lasted,
                    Some(*answered),
                ),
                Alert::InvalidConfigEnded {
                    lasted, answered, ..
                } => (
                    |a| matches!(a, Alert::InvalidConfig { .. }),
                    *lasted,
                    Some(*answered),
                ),
                Alert::FallbackEnded {
                    lasted, answers, ..
                } => {
                    let mut answered = Answered::default();
                    answered.fallback = *answers;
                    (
                        |a| matches!(a, Alert::FallbackUsed { .. }),
                        *lasted,
                        Some(answered),
                    )
                }
                Alert::CircuitClosed { lasted, .. } => {
                    (|a| matches!(a, Alert::CircuitOpened { .. }), *lasted, None)
                }
                _ => continue,
            };
        let key = end.alert.key();
        let Some(start) = heard[..i]
            .iter()
            .rev()
            .find(|h| starts(&h.alert) && h.alert.key() == key)
        else {
            wrong.push(format!("{} ends an episode that never started", end.alert));
            continue;
        };
        let took = end.at - start.at;
        let close = match clock {
            Clock::Paused => took == lasted,
            Clock::Real => took.abs_diff(lasted) <= TOLERANCE,
        };
        if !close {
            wrong.push(format!(
                "{}: says it lasted {lasted:?}, its alerts are {took:?} apart",
                end.alert
            ));
        }
        let (Some(said), Some(key)) = (answered, key) else {
            continue;
        };
        let between = answers
            .iter()
            .filter(|a| a.key == key && start.seq < a.seq && a.seq < end.seq);
        let mut seen = Answered::default();
        for answer in between {
            match answer.token.as_str() {
                "stale" => seen.stale += 1,
                "fallback" | "start:fallback" => seen.fallback += 1,
                token if token.contains("error") => seen.errors += 1,
                _ => {}
            }
        }
        // A fallback episode counts only the fallback's answers.
        if matches!(end.alert, Alert::FallbackEnded { .. }) {
            seen.stale = 0;
            seen.errors = 0;
        }
        if said != seen {
            wrong.push(format!(
                "{}: the application saw {seen:?} meanwhile",
                end.alert
            ));
        }
    }
    wrong
}
