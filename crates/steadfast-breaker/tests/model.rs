//! The breaker against a small reference model, over random sequences of
//! successes, failures, slow calls and time passing.

mod support;

use std::collections::VecDeque;
use std::time::Duration;

use proptest::prelude::*;
use steadfast_breaker::{CircuitBreakerLayer, State};
use support::*;

const OPEN_MS: u64 = 1_000;
const SLOW_MS: u64 = 100;

#[derive(Debug, Clone, Copy)]
enum Op {
    Success,
    Failure,
    SlowSuccess,
    SlowFailure,
    Wait(u64),
}

#[derive(Debug, Clone)]
struct Settings {
    consecutive: Option<u32>,
    window: usize,
    failure_rate: Option<f64>,
    slow_rate: Option<f64>,
    minimum: usize,
}

impl Settings {
    fn layer(&self) -> CircuitBreakerLayer {
        let mut b = CircuitBreakerLayer::builder()
            .open_duration(Duration::from_millis(OPEN_MS))
            .count_window(self.window as u32)
            .minimum_calls(self.minimum as u32);
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
}

/// The circuit as the documentation describes it, one call at a time.
#[derive(Debug)]
struct Model {
    settings: Settings,
    consecutive: Option<u32>,
    state: State,
    streak: u32,
    window: VecDeque<(bool, bool)>,
    recorded: usize,
    now: u64,
    open_until: u64,
}

impl Model {
    fn new(settings: Settings) -> Self {
        let any = settings.consecutive.is_some()
            || settings.failure_rate.is_some()
            || settings.slow_rate.is_some();
        Self {
            consecutive: if any { settings.consecutive } else { Some(5) },
            settings,
            state: State::Closed,
            streak: 0,
            window: VecDeque::new(),
            recorded: 0,
            now: 0,
            open_until: 0,
        }
    }

    fn state(&mut self) -> State {
        if self.state == State::Open && self.now >= self.open_until {
            self.state = State::HalfOpen;
        }
        self.state
    }

    fn open(&mut self) {
        self.state = State::Open;
        self.open_until = self.now + OPEN_MS;
    }

    fn reaches(rate: Option<f64>, count: usize, calls: usize) -> bool {
        rate.is_some_and(|rate| {
            let ppm = (rate * 1e6).round() as u64;
            count as u64 * 1_000_000 >= ppm * calls as u64
        })
    }

    fn call(&mut self, fail: bool, ms: u64) -> Result<&'static str, TestError> {
        let state = self.state();
        if state == State::Open {
            return open(Duration::from_millis(self.open_until - self.now));
        }
        self.now += ms;
        let slow = self.settings.slow_rate.is_some() && ms > SLOW_MS;
        let result = if fail {
            Err(TestError::Inner)
        } else {
            Ok("done")
        };
        if state == State::HalfOpen {
            if fail || slow {
                self.open();
            } else {
                self.state = State::Closed;
                self.streak = 0;
                self.window.clear();
                self.recorded = 0;
            }
            return result;
        }
        if let Some(k) = self.consecutive {
            if fail {
                self.streak += 1;
                if self.streak >= k {
                    self.open();
                    return result;
                }
            } else {
                self.streak = 0;
            }
        }
        if self.settings.failure_rate.is_none() && self.settings.slow_rate.is_none() {
            return result;
        }
        self.window.push_back((fail, slow));
        if self.window.len() > self.settings.window {
            self.window.pop_front();
        }
        self.recorded += 1;
        if fail || slow || self.recorded == self.settings.minimum {
            let calls = self.window.len();
            let failures = self.window.iter().filter(|(f, _)| *f).count();
            let slows = self.window.iter().filter(|(_, s)| *s).count();
            if calls >= self.settings.minimum
                && (Self::reaches(self.settings.failure_rate, failures, calls)
                    || Self::reaches(self.settings.slow_rate, slows, calls))
            {
                self.open();
            }
        }
        result
    }
}

fn settings() -> impl Strategy<Value = Settings> {
    let rate = prop::option::of(prop::sample::select(vec![0.25, 0.5, 0.75, 1.0]));
    (prop::option::of(1u32..5), 2usize..9, rate.clone(), rate).prop_flat_map(
        |(consecutive, window, failure_rate, slow_rate)| {
            (1..=window).prop_map(move |minimum| Settings {
                consecutive,
                window,
                failure_rate,
                slow_rate,
                minimum,
            })
        },
    )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Success),
        4 => Just(Op::Failure),
        1 => Just(Op::SlowSuccess),
        1 => Just(Op::SlowFailure),
        2 => (0u64..1_500).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_breaker_follows_the_model(settings in settings(), ops in prop::collection::vec(op(), 1..80)) {
        let runtime = paused_runtime();
        runtime.block_on(async {
            let layer = settings.layer();
            let handle = layer.handle();
            let (mut svc, _) = service(&layer);
            let mut model = Model::new(settings);
            for (step, op) in ops.into_iter().enumerate() {
                let (fail, ms) = match op {
                    Op::Success => (false, 10),
                    Op::Failure => (true, 10),
                    Op::SlowSuccess => (false, 150),
                    Op::SlowFailure => (true, 150),
                    Op::Wait(ms) => {
                        tokio::time::advance(Duration::from_millis(ms)).await;
                        model.now += ms;
                        prop_assert_eq!(handle.state(), model.state(), "step {} {:?}", step, op);
                        continue;
                    }
                };
                let expected = model.call(fail, ms);
                let actual = send(&mut svc, Call { fail, delay: Duration::from_millis(ms) }).await;
                prop_assert_eq!(actual, expected, "step {} {:?}", step, op);
                prop_assert_eq!(handle.state(), model.state(), "step {} {:?}", step, op);
            }
            Ok(())
        })?;
    }
}
