//! The breaker against a small reference model, over random sequences of
//! calls (finished at once, or left running while other things happen),
//! time passing, resets and forced states.
//!
//! The inner service is a `tower-test` mock, so the test decides when each
//! call finishes and how: calls admitted before a reset, a trip or a forced
//! state finish after it, half-open probes are dropped, and so on. After
//! every step the state, the counters, the failure streak and the window
//! must be exactly the model's.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_breaker::{CircuitBreakerLayer, Counters, State, WindowTotals};
use steadfast_core::{BoxError, CircuitOpen};
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

const OPEN_MS: u64 = 1_000;
const SLOW_MS: u64 = 100;
/// How long a call the model calls slow takes.
const SLOW_CALL_MS: u64 = 150;

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A call that finishes at once (after `SLOW_CALL_MS` if slow).
    Call {
        fail: bool,
        slow: bool,
    },
    /// A call left running.
    Begin,
    /// The `n`-th running call (modulo their number) finishes.
    Finish {
        n: usize,
        fail: bool,
    },
    /// The `n`-th running call is dropped before it finishes.
    Drop {
        n: usize,
    },
    Wait(u64),
    Reset,
    ForceOpen,
    ForceClosed,
}

#[derive(Debug, Clone, Copy)]
enum WindowKind {
    Count(usize),
    /// Buckets, and the width of each in milliseconds.
    Time(u64, u64),
}

#[derive(Debug, Clone)]
struct Settings {
    consecutive: Option<u32>,
    window: WindowKind,
    failure_rate: Option<f64>,
    slow_rate: Option<f64>,
    minimum: usize,
    probes: u32,
}

impl Settings {
    fn layer(&self) -> CircuitBreakerLayer {
        let mut b = CircuitBreakerLayer::builder()
            .open_duration(Duration::from_millis(OPEN_MS))
            .minimum_calls(self.minimum as u32)
            .half_open_probes(self.probes);
        b = match self.window {
            WindowKind::Count(size) => b.count_window(size as u32),
            WindowKind::Time(buckets, width) => {
                b.time_window(Duration::from_millis(buckets * width), buckets as u32)
            }
        };
        if let Some(k) = self.consecutive {
            b = b.consecutive_failures(k);
        }
        if let Some(rate) = self.failure_rate {
            b = b.failure_rate(rate);
        }
        if let Some(rate) = self.slow_rate {
            b = b.slow_calls(Duration::from_millis(SLOW_MS), rate);
        }
        b.build().unwrap()
    }

    fn windowed(&self) -> bool {
        self.failure_rate.is_some() || self.slow_rate.is_some()
    }
}

/// How a running call was let in, and under which epoch of the circuit.
#[derive(Debug, Clone, Copy)]
struct Flight {
    epoch: u64,
    probe: bool,
    counted: bool,
    started: u64,
}

/// What the model expects of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Done,
    Failed,
    Open(CircuitOpen),
}

/// The circuit as the documentation describes it, one step at a time. The
/// epoch changes with every change of state and every reset; a call counts
/// in the streak, the window or the probes only if it finishes in the epoch
/// it was let in under.
#[derive(Debug)]
struct Model {
    settings: Settings,
    consecutive: Option<u32>,
    state: State,
    epoch: u64,
    streak: u32,
    /// Outcomes since the window was last cleared: (finish time, failed,
    /// slow), newest last, at most a count window's size.
    window: VecDeque<(u64, bool, bool)>,
    now: u64,
    open_until: u64,
    free_probes: u32,
    probe_successes: u32,
    flights: Vec<Flight>,
    counters: Counters,
}

impl Model {
    fn new(settings: Settings) -> Self {
        let any = settings.consecutive.is_some() || settings.windowed();
        Self {
            consecutive: if any { settings.consecutive } else { Some(5) },
            settings,
            state: State::Closed,
            epoch: 0,
            streak: 0,
            window: VecDeque::new(),
            now: 0,
            open_until: 0,
            free_probes: 0,
            probe_successes: 0,
            flights: Vec::new(),
            counters: Counters::default(),
        }
    }

    fn move_to(&mut self, state: State) {
        self.state = state;
        self.epoch += 1;
        match state {
            State::Open | State::ForcedOpen => self.counters.opened += 1,
            State::HalfOpen => self.counters.half_opened += 1,
            State::Closed | State::Disabled => self.counters.closed += 1,
        }
    }

    fn open(&mut self) {
        self.move_to(State::Open);
        self.open_until = self.now + OPEN_MS;
    }

    fn clear(&mut self) {
        self.streak = 0;
        self.window.clear();
    }

    fn state(&mut self) -> State {
        if self.state == State::Open && self.now >= self.open_until {
            self.move_to(State::HalfOpen);
            self.free_probes = self.settings.probes;
            self.probe_successes = 0;
        }
        self.state
    }

    /// Lets a call in, or says how it is rejected.
    fn begin(&mut self) -> Result<(), Answer> {
        let state = self.state();
        let (probe, counted) = match state {
            State::Closed => (false, true),
            State::Disabled => (false, false),
            State::HalfOpen if self.free_probes > 0 => {
                self.free_probes -= 1;
                (true, true)
            }
            _ => {
                self.counters.rejected += 1;
                let retry_in = match state {
                    State::Open => Duration::from_millis(self.open_until - self.now),
                    State::ForcedOpen => Duration::MAX,
                    _ => Duration::ZERO,
                };
                return Err(Answer::Open(CircuitOpen::new(retry_in)));
            }
        };
        self.flights.push(Flight {
            epoch: self.epoch,
            probe,
            counted,
            started: self.now,
        });
        Ok(())
    }

    fn finish(&mut self, n: usize, fail: bool) -> Answer {
        let flight = self.flights.remove(n);
        let slow = self.settings.slow_rate.is_some() && self.now - flight.started > SLOW_MS;
        self.counters.calls += 1;
        if fail {
            self.counters.failures += 1;
        } else {
            self.counters.successes += 1;
        }
        if slow {
            self.counters.slow += 1;
        }
        let answer = if fail { Answer::Failed } else { Answer::Done };
        if flight.epoch != self.epoch || !flight.counted {
            return answer;
        }
        if flight.probe {
            if fail || slow {
                self.open();
            } else {
                self.probe_successes += 1;
                if self.probe_successes == self.settings.probes {
                    self.move_to(State::Closed);
                    self.clear();
                }
            }
            return answer;
        }
        if let Some(k) = self.consecutive {
            if fail {
                self.streak += 1;
                if self.streak >= k {
                    self.open();
                    return answer;
                }
            } else {
                self.streak = 0;
            }
        }
        if self.settings.windowed() {
            self.window.push_back((self.now, fail, slow));
            if let WindowKind::Count(size) = self.settings.window
                && self.window.len() > size
            {
                self.window.pop_front();
            }
            let (calls, failures, slows) = self.window();
            if calls >= self.settings.minimum as u64
                && (reaches(self.settings.failure_rate, failures, calls)
                    || reaches(self.settings.slow_rate, slows, calls))
            {
                self.open();
            }
        }
        answer
    }

    fn drop_call(&mut self, n: usize) {
        let flight = self.flights.remove(n);
        if flight.probe && flight.epoch == self.epoch {
            self.free_probes += 1;
        }
    }

    fn reset(&mut self) {
        let from = self.state;
        self.state = State::Closed;
        self.epoch += 1;
        self.clear();
        if from != State::Closed {
            self.counters.closed += 1;
        }
    }

    fn force(&mut self, to: State) {
        if self.state != to {
            self.move_to(to);
        }
    }

    /// What the window holds now.
    fn window(&self) -> (u64, u64, u64) {
        let live = |t: u64| match self.settings.window {
            WindowKind::Count(_) => true,
            WindowKind::Time(buckets, width) => t / width + buckets > self.now / width,
        };
        self.window
            .iter()
            .filter(|(t, _, _)| live(*t))
            .fold((0, 0, 0), |(c, f, s), &(_, fail, slow)| {
                (c + 1, f + u64::from(fail), s + u64::from(slow))
            })
    }
}

impl From<(u64, u64, u64)> for Totals {
    fn from((calls, failures, slow): (u64, u64, u64)) -> Self {
        Totals {
            calls,
            failures,
            slow,
        }
    }
}

/// Window totals the model and the handle agree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Totals {
    calls: u64,
    failures: u64,
    slow: u64,
}

impl From<WindowTotals> for Totals {
    fn from(w: WindowTotals) -> Self {
        Totals {
            calls: w.calls,
            failures: w.failures,
            slow: w.slow,
        }
    }
}

fn reaches(rate: Option<f64>, count: u64, calls: u64) -> bool {
    rate.is_some_and(|rate| {
        let ppm = (rate * 1e6).round() as u64;
        count * 1_000_000 >= ppm * calls
    })
}

fn answer(result: Result<&'static str, BoxError>) -> Answer {
    match result {
        Ok(_) => Answer::Done,
        Err(e) => match e.downcast_ref::<CircuitOpen>() {
            Some(open) => Answer::Open(*open),
            None => Answer::Failed,
        },
    }
}

fn settings() -> impl Strategy<Value = Settings> {
    let rate = prop::option::of(prop::sample::select(vec![0.25, 0.5, 0.75, 1.0]));
    let window = prop_oneof![
        (2usize..9).prop_map(WindowKind::Count),
        (1u64..5, prop::sample::select(vec![100u64, 250, 1_000]))
            .prop_map(|(buckets, width)| WindowKind::Time(buckets, width)),
    ];
    (
        prop::option::of(1u32..5),
        window,
        rate.clone(),
        rate,
        1u32..4,
    )
        .prop_flat_map(|(consecutive, window, failure_rate, slow_rate, probes)| {
            let most = match window {
                WindowKind::Count(size) => size,
                WindowKind::Time(..) => 8,
            };
            (1..=most).prop_map(move |minimum| Settings {
                consecutive,
                window,
                failure_rate,
                slow_rate,
                minimum,
                probes,
            })
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(fail, slow)| Op::Call { fail, slow }),
        3 => Just(Op::Begin),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(n, fail)| Op::Finish { n, fail }),
        1 => any::<usize>().prop_map(|n| Op::Drop { n }),
        3 => (0u64..1_500).prop_map(Op::Wait),
        1 => Just(Op::Reset),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::ForceClosed),
    ]
}

type Running = (
    Pin<Box<dyn Future<Output = Result<&'static str, BoxError>>>>,
    mock::SendResponse<&'static str>,
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn the_breaker_follows_the_model(settings in settings(), ops in prop::collection::vec(op(), 1..100)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        runtime.block_on(async {
            let layer = settings.layer();
            let handle = layer.handle();
            let (inner, mut requests) = mock::pair::<(), &'static str>();
            let mut svc = layer.layer(inner);
            let mut running: Vec<Running> = Vec::new();
            let mut model = Model::new(settings);
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Call { .. } | Op::Begin => {
                        let expected = model.begin();
                        let call = svc.ready().await.unwrap().call(());
                        let call: Pin<Box<dyn Future<Output = _>>> = Box::pin(call);
                        match expected {
                            Err(rejected) => {
                                prop_assert_eq!(answer(call.await), rejected, "step {} {:?}", step, op);
                            }
                            Ok(()) => {
                                let ((), send) = requests.next_request().await.unwrap();
                                running.push((call, send));
                                if let Op::Call { fail, slow } = op {
                                    if slow {
                                        tokio::time::advance(Duration::from_millis(SLOW_CALL_MS)).await;
                                        model.now += SLOW_CALL_MS;
                                    }
                                    let n = running.len() - 1;
                                    let actual = finish(&mut running, n, fail).await;
                                    prop_assert_eq!(actual, model.finish(n, fail), "step {} {:?}", step, op);
                                }
                            }
                        }
                    }
                    Op::Finish { n, fail } if !running.is_empty() => {
                        let n = n % running.len();
                        let actual = finish(&mut running, n, fail).await;
                        prop_assert_eq!(actual, model.finish(n, fail), "step {} {:?}", step, op);
                    }
                    Op::Drop { n } if !running.is_empty() => {
                        let n = n % running.len();
                        drop(running.remove(n));
                        model.drop_call(n);
                    }
                    Op::Finish { .. } | Op::Drop { .. } => {}
                    Op::Wait(ms) => {
                        tokio::time::advance(Duration::from_millis(ms)).await;
                        model.now += ms;
                    }
                    Op::Reset => {
                        handle.reset();
                        model.reset();
                    }
                    Op::ForceOpen => {
                        handle.force_open();
                        model.force(State::ForcedOpen);
                    }
                    Op::ForceClosed => {
                        handle.force_closed();
                        model.force(State::Disabled);
                    }
                }
                prop_assert_eq!(handle.state(), model.state(), "step {} {:?}", step, op);
                prop_assert_eq!(handle.counters(), model.counters, "step {} {:?}", step, op);
                prop_assert_eq!(
                    handle.consecutive_failures(),
                    model.streak,
                    "step {} {:?}", step, op
                );
                if model.settings.windowed() {
                    prop_assert_eq!(
                        Totals::from(handle.window().unwrap()),
                        Totals::from(model.window()),
                        "step {} {:?}", step, op
                    );
                }
            }
            Ok(())
        })?;
    }
}

/// Finishes the `n`-th running call, successfully or not, and returns what
/// it answered.
async fn finish(running: &mut Vec<Running>, n: usize, fail: bool) -> Answer {
    let (call, send) = running.remove(n);
    if fail {
        send.send_error("config server down");
    } else {
        send.send_response("done");
    }
    answer(call.await)
}
