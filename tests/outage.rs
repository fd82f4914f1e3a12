//! An operator's timeline through the whole `Loader`, written once and run
//! against three servers.
//!
//! The stack is the one an application runs (`support/scenario.rs`): cache
//! with stale-while-revalidate and stale-if-error, retries, circuit breaker,
//! per-attempt time limit, typed check, fallback, startup wait, alerts and
//! logs. The server is down at start, comes up, stays healthy while several
//! TTLs pass, answers a burst of 503s, hangs, serves an invalid config that
//! is then fixed, stops, and restarts. For every phase the timeline says
//! what the application must see: the source of every answer, the greatest
//! staleness served, how soon after the server's recovery a fresh answer
//! came, the alerts, the WARN and INFO lines, the requests the server got
//! and the metrics (every answered load counted once). The facts the ending
//! alerts carry (how long, how the requests were answered meanwhile) are
//! checked against what the application saw.
//!
//! The runs:
//! - the hyper server over an in-process pipe, on tokio's paused clock: no
//!   socket, so time moves only when every task waits on a timer and every
//!   figure is exact;
//! - the same hyper server over its loopback TCP port, on the real clock
//!   (on a socket the paused clock would jump to the next timer, the
//!   attempt's time limit among them, whenever no I/O is ready at once);
//! - a private nginx from the distribution on loopback, on the real clock:
//!   real `ETag`s and `304`s, a maintenance flag answering 503 with
//!   `Retry-After`, a `limit_rate` slow path for the hang, and a real stop
//!   and start of its process. Without nginx it skips loudly, unless
//!   `STEADFAST_REQUIRE_NGINX=1`.
//!
//! The timeline is scaled down (a TTL of 1.05 s, a tick of 200 ms, a circuit
//! open for 1.1 s) so a real run takes about half a minute. The paused run
//! also checks that every decision of the stack is at least 40 ms from going
//! the other way (a request from a switch of the server, a load from its
//! entry's TTL, a tick from the circuit's half-open moment), so the real
//! clock's jitter does not change what is seen, and all three runs expect
//! the same. `cargo test --test outage -- --nocapture` prints each run's
//! per-phase summary.

#[path = "support/backends.rs"]
mod backends;
#[path = "../examples/support/config_server.rs"]
mod config_server;
#[path = "support/counters.rs"]
mod counters;
#[path = "support/logs.rs"]
mod logs;
#[path = "support/nginx.rs"]
mod nginx;
#[path = "support/observe.rs"]
mod observe;
#[path = "support/pipe.rs"]
mod pipe;
#[path = "support/report.rs"]
mod report;
#[path = "support/scenario.rs"]
mod scenario;
#[path = "support/verdict.rs"]
mod verdict;

use std::time::Duration;

use backends::{Hyper, Nginxed, Server, Transport};
use scenario::{Clock, Expect, Phase};

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// When the timeline ends.
const END: Duration = ms(33_000);

/// How soon the startup wait answers once the source is back: its rounds
/// are at most 1 s apart, beneath the open circuit too.
const STARTUP_RECOVERY: Duration = ms(1_000);
/// How soon a fresh answer comes once the source is back after the circuit
/// opened: the circuit lets a probe through at most [`scenario::OPEN`]
/// after its last failed one (which may have waited out the attempt's time
/// limit), and the application asks again within a tick.
const CIRCUIT_RECOVERY: Duration = ms(1_100 + 200 + 200);
/// How soon a fixed config is served: the invalid one never opened the
/// circuit, so the next tick's load reaches the source.
const FIX_RECOVERY: Duration = ms(200);

/// The operator's timeline and what the application sees in each phase.
fn timeline() -> Vec<Phase> {
    vec![
        Phase {
            name: "down at start",
            at: ms(0),
            server: Server::Stopped,
            keys: &["app"],
            // The startup wait retries through the stack until the circuit
            // opens, then probes the source beneath it.
            expect: Expect {
                alerts: &["source failing app: refused", "circuit opened"],
                // The episode, the startup wait, the circuit.
                warnings: 3,
                metrics: &[
                    ("primary_loads", 6),
                    ("retries", 4),
                    ("circuit_breaker_opens", 1),
                    ("circuit_breaker_rejections", 1),
                ],
                ..Expect::default()
            },
        },
        Phase {
            name: "up",
            at: ms(700),
            server: Server::Serving(1),
            keys: &["app"],
            // The next probe (at 880 ms) answers: 2 s before the wait would
            // have run out, and before the circuit (open since 220 ms) would
            // have let a probe through.
            expect: Expect {
                answers: &[("app", "start:origin cache×5 stale cache×5 stale cache")],
                max_staleness: Some(ms(1_200)),
                recovery_within: Some(STARTUP_RECOVERY),
                alerts: &["source recovered app", "circuit closed"],
                // The episode's end, the circuit's (closed by the probe),
                // the startup wait's.
                infos: 3,
                origin: &[("app", "200 304×2")],
                metrics: &[
                    ("cache_l1_hits", 11),
                    ("cache_misses", 1),
                    ("stale_served", 2),
                    ("primary_loads", 3),
                ],
                ..Expect::default()
            },
        },
        Phase {
            name: "healthy, TTLs pass",
            at: ms(3_500),
            server: Server::Serving(1),
            keys: &["app"],
            // A refresh in the background every TTL, answered 304: silent.
            expect: Expect {
                answers: &[("app", "cache×4 stale cache×5 stale cache×5 stale cache×3")],
                max_staleness: Some(ms(1_200)),
                origin: &[("app", "304×3")],
                metrics: &[
                    ("cache_l1_hits", 17),
                    ("stale_served", 3),
                    ("primary_loads", 3),
                ],
                ..Expect::default()
            },
        },
        Phase {
            name: "503 burst",
            at: ms(7_500),
            server: Server::Unavailable,
            keys: &["app"],
            // Two refreshes fail (5 attempts: the circuit opens); one probe
            // fails. Every answer is the last good value.
            expect: Expect {
                answers: &[("app", "cache×2 stale×13")],
                max_staleness: Some(ms(3_600)),
                alerts: &["source failing app: 503", "circuit opened"],
                warnings: 2,
                origin: &[("app", "503×6")],
                metrics: &[
                    ("cache_l1_hits", 2),
                    ("stale_served", 13),
                    ("primary_loads", 6),
                    ("retries", 5),
                    ("circuit_breaker_opens", 2),
                    ("circuit_breaker_rejections", 12),
                ],
                ..Expect::default()
            },
        },
        recovered("recovered from 503", ms(10_500)),
        Phase {
            name: "hang",
            at: ms(13_500),
            server: Server::Hanging,
            keys: &["app"],
            // Every attempt runs into the time limit; the second refresh
            // opens the circuit, and a load that joined it is answered stale
            // when it gives up.
            expect: Expect {
                answers: &[("app", "cache×3 stale×11")],
                max_staleness: Some(ms(3_400)),
                alerts: &["source failing app: timeout", "circuit opened"],
                warnings: 2,
                origin: &[("app", "hung×5")],
                metrics: &[
                    ("cache_l1_hits", 3),
                    ("stale_served", 11),
                    ("primary_loads", 5),
                    ("retries", 4),
                    ("circuit_breaker_opens", 1),
                    ("circuit_breaker_rejections", 6),
                ],
                ..Expect::default()
            },
        },
        recovered("recovered from hang", ms(16_500)),
        Phase {
            name: "invalid config pushed",
            at: ms(19_500),
            server: Server::Invalid,
            keys: &["app"],
            // The server answers: not retried, the circuit stays closed,
            // nothing invalid is served, one alert with the decode error.
            expect: Expect {
                answers: &[("app", "cache×3 stale×12")],
                max_staleness: Some(ms(3_400)),
                alerts: &[
                    "invalid config app: invalid json config at line 1, column 13: expected value",
                ],
                warnings: 1,
                origin: &[("app", "304×11 200 invalid")],
                metrics: &[
                    ("cache_l1_hits", 3),
                    ("stale_served", 12),
                    ("primary_loads", 12),
                    ("invalid_responses", 12),
                ],
                ..Expect::default()
            },
        },
        Phase {
            name: "fixed",
            at: ms(22_500),
            server: Server::Serving(2),
            keys: &["app"],
            expect: Expect {
                answers: &[("app", "origin cache×5 stale cache×5 stale cache×2")],
                max_staleness: Some(ms(1_200)),
                recovery_within: Some(FIX_RECOVERY),
                alerts: &["invalid config ended app"],
                infos: 1,
                origin: &[("app", "200 304×2")],
                metrics: &[
                    ("cache_l1_hits", 12),
                    ("cache_misses", 1),
                    ("stale_served", 2),
                    ("primary_loads", 3),
                ],
                ..Expect::default()
            },
        },
        Phase {
            name: "fully stopped",
            at: ms(25_500),
            server: Server::Stopped,
            // A part of the application asks for a config it never loaded:
            // the fallback answers it. At 27 s the refresh of `app` probes
            // the circuit; `flags`, asked for meanwhile, finds the probe in
            // flight and tries again 30 ms later, to be refused.
            keys: &["app", "flags"],
            expect: Expect {
                answers: &[("app", "cache×3 stale×17"), ("flags", "fallback×20")],
                max_staleness: Some(ms(4_430)),
                alerts: &[
                    "source failing flags: refused",
                    "fallback used flags: refused",
                    "circuit opened",
                    "source failing app: circuit open",
                ],
                warnings: 4,
                metrics: &[
                    ("cache_l1_hits", 3),
                    ("stale_served", 17),
                    ("fallback_uses", 20),
                    ("primary_loads", 8),
                    ("retries", 8),
                    ("circuit_breaker_opens", 4),
                    ("circuit_breaker_rejections", 37),
                ],
                ..Expect::default()
            },
        },
        Phase {
            name: "restarted",
            at: ms(29_500),
            server: Server::Serving(2),
            keys: &["app", "flags"],
            expect: Expect {
                answers: &[
                    ("app", "stale×5 origin cache×5 stale cache×5"),
                    ("flags", "fallback×5 origin cache×5 stale cache×5"),
                ],
                max_staleness: Some(ms(5_400)),
                recovery_within: Some(CIRCUIT_RECOVERY),
                alerts: &[
                    "circuit closed",
                    "source recovered app",
                    "source recovered flags",
                    "fallback ended flags",
                ],
                infos: 4,
                origin: &[("app", "304×2"), ("flags", "200 304")],
                metrics: &[
                    ("cache_l1_hits", 20),
                    ("cache_misses", 2),
                    ("stale_served", 7),
                    ("fallback_uses", 5),
                    ("primary_loads", 4),
                    ("circuit_breaker_rejections", 10),
                ],
                ..Expect::default()
            },
        },
    ]
}

/// The server answers again after an outage that opened the circuit: the
/// first tick past the circuit's open time probes it (a 304: the version
/// did not change) and closes it; then a refresh every TTL.
fn recovered(name: &'static str, at: Duration) -> Phase {
    Phase {
        name,
        at,
        server: Server::Serving(1),
        keys: &["app"],
        expect: Expect {
            answers: &[("app", "origin cache×5 stale cache×5 stale cache×2")],
            max_staleness: Some(ms(1_200)),
            recovery_within: Some(CIRCUIT_RECOVERY),
            alerts: &["circuit closed", "source recovered app"],
            infos: 2,
            origin: &[("app", "304×3")],
            metrics: &[
                ("cache_l1_hits", 12),
                ("cache_misses", 1),
                ("stale_served", 2),
                ("primary_loads", 3),
            ],
            ..Expect::default()
        },
    }
}

#[tokio::test(start_paused = true)]
async fn hyper_over_a_pipe_on_the_paused_clock() {
    let mut hyper = Hyper::start(Transport::Pipe).await;
    let source = hyper.pipe_source();
    scenario::run(&timeline(), END, &mut hyper, source, Clock::Paused).await;
}

#[tokio::test]
async fn hyper_on_loopback() {
    let mut hyper = Hyper::start(Transport::Loopback).await;
    let source = hyper.tcp_source();
    scenario::run(&timeline(), END, &mut hyper, source, Clock::Real).await;
}

#[tokio::test]
async fn nginx_on_loopback() {
    let Some(mut nginx) = Nginxed::start("outage") else {
        return;
    };
    let source = nginx.source();
    scenario::run(&timeline(), END, &mut nginx, source, Clock::Real).await;
}
