//! A retry budget: retries as a share of recent requests, plus a floor.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::arrivals::{Arrivals, SLOTS, index};
use crate::error::BuildError;

/// How many retries a layer may make, shared by every service it builds and
/// every clone of them: a percentage of the requests of the last `ttl`, plus
/// a floor of `min_per_second` retries per second for quiet clients.
///
/// This is Finagle's retry budget (and the model of tower's `TpsBudget`),
/// counted in fixed point so that a fractional share is exact: at 60 %, ten
/// requests allow six retries, never ten. A request is credited by the time
/// it arrived, whatever the traffic before or after it: ten requests after
/// a quiet hour fund ten retries at 100 %, and requests older than `ttl`
/// fund none. A retry spends a token, and the token comes back when that
/// retry leaves the window.
///
/// The window moves in steps of a tenth of `ttl`, counted from the moment
/// the layer was built: a request or a retry counts until `ttl` after the
/// start of the tenth it happened in, so for between 0.9 × `ttl` and `ttl`,
/// and all that happened in one tenth leaves the window together.
///
/// The default allows 20 % of requests plus 10 retries per second over 10 s.
///
/// ```
/// use std::time::Duration;
/// use steadfast_retry::RetryBudget;
///
/// let budget = RetryBudget::new(Duration::from_secs(10), 5, 10.0);
/// assert_eq!(budget.percent(), 10.0);
/// assert_eq!(budget.min_per_second(), 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudget {
    ttl: Duration,
    min_per_second: u32,
    percent: f64,
}

impl RetryBudget {
    /// A budget of `percent` % of the requests of the last `ttl` (0 to 1000;
    /// 200 lets every request retry twice), plus `min_per_second` retries per
    /// second. `ttl` must be within 1 s to 60 s. The layer's builder checks
    /// the values.
    pub fn new(ttl: Duration, min_per_second: u32, percent: f64) -> Self {
        Self {
            ttl,
            min_per_second,
            percent,
        }
    }

    /// How long a request or a retry counts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The floor: retries allowed per second whatever the traffic.
    pub fn min_per_second(&self) -> u32 {
        self.min_per_second
    }

    /// Retries allowed per 100 requests.
    pub fn percent(&self) -> f64 {
        self.percent
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if !(0.0..=1000.0).contains(&self.percent) {
            return Err(BuildError::BudgetPercent {
                percent: self.percent,
            });
        }
        if self.ttl < Duration::from_secs(1) || self.ttl > Duration::from_secs(60) {
            return Err(BuildError::BudgetTtl { ttl: self.ttl });
        }
        Ok(())
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(Duration::from_secs(10), 10, 20.0)
    }
}

/// Fixed-point units in one retry token.
const UNIT: i64 = 1_000_000;

/// The balance of a budget. Time is cut into slots of `ttl / SLOTS`; a
/// request or a retry counts while its slot is one of the last `SLOTS`.
///
/// Requests are counted by the service in [`Arrivals`], by the slot they
/// arrived in, with no lock and no shared write. The retries spent are
/// kept here, by slot too, under a lock that only a retry takes.
#[derive(Debug)]
pub(crate) struct Ledger {
    deposit: i64,
    reserve: i64,
    origin: Instant,
    slot_nanos: u64,
    spent: Mutex<[Spent; SLOTS]>,
}

/// The retries spent in one slot.
#[derive(Debug, Clone, Copy)]
struct Spent {
    slot: u64,
    retries: u64,
}

impl Ledger {
    pub(crate) fn new(budget: &RetryBudget) -> Self {
        let per_token = UNIT as f64;
        Self {
            deposit: (budget.percent / 100.0 * per_token).round() as i64,
            reserve: (f64::from(budget.min_per_second) * budget.ttl.as_secs_f64() * per_token)
                .round() as i64,
            origin: Instant::now(),
            slot_nanos: u64::try_from((budget.ttl / SLOTS as u32).as_nanos())
                .unwrap_or(u64::MAX)
                .max(1),
            spent: Mutex::new(
                [Spent {
                    slot: 0,
                    retries: 0,
                }; SLOTS],
            ),
        }
    }

    /// Whether requests earn credit, so that their arrival must be timed.
    #[inline]
    pub(crate) fn credits_requests(&self) -> bool {
        self.deposit > 0
    }

    /// The slot that `at` falls in.
    #[inline]
    pub(crate) fn slot(&self, at: Instant) -> u64 {
        let elapsed = at.saturating_duration_since(self.origin);
        // In u64 nanoseconds (584 years), since u128 division is slow.
        let nanos = elapsed
            .as_secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(elapsed.subsec_nanos()));
        nanos / self.slot_nanos
    }

    /// Takes one retry token, if the requests in `arrivals` and the floor
    /// leave one.
    pub(crate) fn withdraw(&self, arrivals: &Arrivals) -> bool {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        // The clock is read under the lock, so the slots spend in order.
        let current = self.slot(Instant::now());
        if self.units(arrivals, &spent, current) < i128::from(UNIT) {
            return false;
        }
        let entry = &mut spent[index(current)];
        if entry.slot != current {
            *entry = Spent {
                slot: current,
                retries: 0,
            };
        }
        entry.retries += 1;
        true
    }

    /// The retry tokens available now.
    pub(crate) fn balance(&self, arrivals: &Arrivals) -> f64 {
        let spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.slot(Instant::now());
        self.units(arrivals, &spent, current) as f64 / UNIT as f64
    }

    /// The units available in the window ending with slot `current`.
    fn units(&self, arrivals: &Arrivals, spent: &[Spent; SLOTS], current: u64) -> i128 {
        let retries: u64 = spent
            .iter()
            .filter(|entry| current.wrapping_sub(entry.slot) < SLOTS as u64)
            .map(|entry| entry.retries)
            .sum();
        i128::from(self.reserve)
            + i128::from(self.deposit) * i128::from(arrivals.in_window(current))
            - i128::from(UNIT) * i128::from(retries)
    }
}
