//! The retry budget against a reference model: requests and retries at
//! random times on the paused clock, each counted for the window of the
//! time it happened in, allow exactly the retries the model allows.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use steadfast_retry::{Backoff, Jitter, RetryBudget, RetryLayer, RetryStats};
use support::{Script, TestError};
use tokio::time::Instant;
use tower::{Layer, ServiceExt};

/// Slots in a budget window, as documented on [`RetryBudget`].
const SLOTS: u128 = 10;
/// Model units in one retry token: fine enough that a percentage with two
/// decimals and a floor over a whole number of milliseconds are exact.
const TOKEN: i128 = 10_000_000;
const MAX_ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, Copy)]
struct Settings {
    ttl_ms: u64,
    min_per_second: u32,
    /// Hundredths of a percent.
    percent_hundredths: u32,
    /// The constant delay before each retry.
    delay_ms: u64,
}

impl Settings {
    fn budget(&self) -> RetryBudget {
        RetryBudget::new(
            Duration::from_millis(self.ttl_ms),
            self.min_per_second,
            f64::from(self.percent_hundredths) / 100.0,
        )
    }
}

/// One request, sent `gap_permille` thousandths of the window after the
/// previous one ended, that fails `failures` times before it succeeds.
#[derive(Debug, Clone, Copy)]
struct Step {
    gap_permille: u64,
    failures: u32,
}

/// Every request and retry with the time it happened, in nanoseconds since
/// the layer was built.
struct Model {
    settings: Settings,
    requests: Vec<u128>,
    retries: Vec<u128>,
    stats: RetryStats,
}

impl Model {
    fn new(settings: Settings) -> Self {
        Self {
            settings,
            requests: Vec::new(),
            retries: Vec::new(),
            stats: RetryStats::default(),
        }
    }

    fn slot(&self, at: u128) -> u128 {
        at / (u128::from(self.settings.ttl_ms) * 1_000_000 / SLOTS)
    }

    /// Events whose slot is one of the last `SLOTS` at `now`.
    fn in_window(&self, events: &[u128], now: u128) -> i128 {
        let current = self.slot(now);
        events
            .iter()
            .filter(|&&at| current - self.slot(at) < SLOTS)
            .count() as i128
    }

    /// Model units available at `now`.
    fn balance(&self, now: u128) -> i128 {
        let s = &self.settings;
        let reserve = i128::from(s.min_per_second) * i128::from(s.ttl_ms) * (TOKEN / 1000);
        let credit = i128::from(s.percent_hundredths) * (TOKEN / 10_000);
        reserve + credit * self.in_window(&self.requests, now)
            - TOKEN * self.in_window(&self.retries, now)
    }

    /// A request arriving at `now` that fails `failures` times: the call's
    /// result and the time it ends.
    fn call(&mut self, mut now: u128, failures: u32) -> (Result<&'static str, TestError>, u128) {
        self.requests.push(now);
        self.stats.requests += 1;
        self.stats.attempts += 1;
        let delay = u128::from(self.settings.delay_ms) * 1_000_000;
        for attempt in 1..=failures {
            if attempt >= MAX_ATTEMPTS {
                self.stats.exhausted += 1;
                return (Err(TestError::Transient(attempt)), now);
            }
            // The token is taken when the retry is decided, before its wait.
            if self.balance(now) < TOKEN {
                self.stats.budget_refusals += 1;
                return (Err(TestError::Transient(attempt)), now);
            }
            self.retries.push(now);
            self.stats.retries += 1;
            self.stats.attempts += 1;
            now += delay;
        }
        (Ok("ok"), now)
    }
}

fn settings() -> impl Strategy<Value = Settings> {
    (1_000u64..=60_000, 0u32..4, 0u32..=30_000, 0u64..=1_000).prop_map(
        |(ttl_ms, min_per_second, percent_hundredths, delay_permille)| Settings {
            ttl_ms,
            min_per_second,
            percent_hundredths,
            delay_ms: ttl_ms * delay_permille / 4_000,
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    let gap = prop_oneof![
        3 => Just(0u64),
        3 => 0u64..100,
        2 => 0u64..1_500,
    ];
    (gap, prop_oneof![2 => Just(0u32), 3 => 1u32..=MAX_ATTEMPTS]).prop_map(
        |(gap_permille, failures)| Step {
            gap_permille,
            failures,
        },
    )
}

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_budget_allows_the_retries_of_the_model(
        settings in settings(),
        steps in prop::collection::vec(step(), 1..80),
    ) {
        paused_runtime().block_on(async {
            let layer = RetryLayer::builder()
                .max_attempts(MAX_ATTEMPTS)
                .backoff(
                    Backoff::constant(Duration::from_millis(settings.delay_ms))
                        .with_jitter(Jitter::None),
                )
                .budget(settings.budget())
                .build()
                .unwrap();
            let origin = Instant::now();
            let handle = layer.handle();
            let mut model = Model::new(settings);
            for (index, step) in steps.iter().enumerate() {
                let gap = settings.ttl_ms * step.gap_permille / 1_000;
                tokio::time::advance(Duration::from_millis(gap)).await;
                let now = (Instant::now() - origin).as_nanos();
                let (expected, end) = model.call(now, step.failures);

                let result = layer.layer(Script::failing(step.failures)).oneshot("config").await;
                prop_assert_eq!(&result, &expected, "step {} {:?}", index, step);
                prop_assert_eq!((Instant::now() - origin).as_nanos(), end, "step {}", index);
                prop_assert_eq!(handle.stats(), model.stats, "step {} {:?}", index, step);
                let balance = handle.budget_balance().unwrap();
                let modelled = model.balance(end) as f64 / TOKEN as f64;
                prop_assert!(
                    (balance - modelled).abs() < 1e-6,
                    "step {}: balance {} but the model has {}", index, balance, modelled
                );
            }
            Ok(())
        })?;
    }
}
