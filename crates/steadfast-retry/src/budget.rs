//! A retry budget: retries as a share of recent requests, plus a floor.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::BuildError;

/// How many retries a layer may make, shared by every service it builds and
/// every clone of them: a percentage of the requests of the last `ttl`, plus
/// a floor of `min_per_second` retries per second for quiet clients.
///
/// This is Finagle's retry budget (and the model of tower's `TpsBudget`),
/// counted in fixed point so that a fractional share is exact: at 60 %, ten
/// requests allow six retries, never ten. Requests and retries count for
/// `ttl`; a retry spends a token, and the token comes back when that retry
/// leaves the window.
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
const SLOTS: usize = 10;

/// The balance of a budget: a ring of slots, each `ttl / SLOTS` long.
///
/// Requests are counted by the service with one relaxed atomic increment and
/// brought in here, under a lock, only when a retry asks for a token. The
/// requests seen since the last look are spread evenly over the time since
/// then, so those older than the window are not credited.
#[derive(Debug)]
pub(crate) struct Ledger {
    deposit: i64,
    reserve: i64,
    slot: Duration,
    book: Mutex<Book>,
}

#[derive(Debug)]
struct Book {
    slots: [i64; SLOTS],
    index: usize,
    slot_start: Instant,
    synced_requests: u64,
    synced_at: Instant,
}

impl Ledger {
    pub(crate) fn new(budget: &RetryBudget) -> Self {
        let now = Instant::now();
        let per_token = UNIT as f64;
        Self {
            deposit: (budget.percent / 100.0 * per_token).round() as i64,
            reserve: (f64::from(budget.min_per_second) * budget.ttl.as_secs_f64() * per_token)
                .round() as i64,
            slot: budget.ttl / SLOTS as u32,
            book: Mutex::new(Book {
                slots: [0; SLOTS],
                index: 0,
                slot_start: now,
                synced_requests: 0,
                synced_at: now,
            }),
        }
    }

    /// Takes one retry token, given the number of requests so far.
    pub(crate) fn withdraw(&self, requests: u64) -> bool {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        self.sync(&mut book, requests);
        if self.sum(&book) >= UNIT {
            let index = book.index;
            book.slots[index] -= UNIT;
            true
        } else {
            false
        }
    }

    /// The retry tokens available now, given the number of requests so far.
    pub(crate) fn balance(&self, requests: u64) -> f64 {
        let mut book = self.book.lock().unwrap_or_else(|e| e.into_inner());
        self.sync(&mut book, requests);
        self.sum(&book) as f64 / UNIT as f64
    }

    fn sum(&self, book: &Book) -> i64 {
        book.slots
            .iter()
            .fold(self.reserve, |sum, slot| sum.saturating_add(*slot))
    }

    fn sync(&self, book: &mut Book, requests: u64) {
        let now = Instant::now();
        let passed =
            now.saturating_duration_since(book.slot_start).as_nanos() / self.slot.as_nanos();
        if passed > 0 {
            for _ in 0..passed.min(SLOTS as u128) {
                book.index = (book.index + 1) % SLOTS;
                book.slots[book.index] = 0;
            }
            let passed = u32::try_from(passed).unwrap_or(u32::MAX);
            book.slot_start += self.slot.saturating_mul(passed);
        }

        // Callers read the count before taking the lock, so an older count
        // may come in after a newer one; it adds nothing and moves nothing
        // back.
        let pending = requests.saturating_sub(book.synced_requests);
        book.synced_requests = book.synced_requests.max(requests);
        let since = book.synced_at;
        book.synced_at = now;
        if pending == 0 || self.deposit == 0 {
            return;
        }
        let units = i128::from(pending) * i128::from(self.deposit);
        let span = now.saturating_duration_since(since).as_nanos();
        if span == 0 {
            let index = book.index;
            book.slots[index] = book.slots[index].saturating_add(clamp(units));
            return;
        }
        // Slot `age` covers [slot_start - age * slot, +slot), the current one
        // ends now. Each slot gets the credit of the span covered so far less
        // what the newer slots got, so rounding loses nothing.
        let mut covered = 0u128;
        let mut credited = 0i128;
        for age in 0..SLOTS {
            let Some(start) = book
                .slot_start
                .checked_sub(self.slot.saturating_mul(age as u32))
            else {
                break;
            };
            let end = if age == 0 { now } else { start + self.slot };
            let overlap = end
                .min(now)
                .saturating_duration_since(start.max(since))
                .as_nanos();
            if overlap == 0 {
                continue;
            }
            covered += overlap;
            let total = units * covered as i128 / span as i128;
            let share = total - credited;
            credited = total;
            let index = (book.index + SLOTS - age) % SLOTS;
            book.slots[index] = book.slots[index].saturating_add(clamp(share));
        }
    }
}

fn clamp(units: i128) -> i64 {
    i64::try_from(units).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two callers read the request count, then take the lock in the other
    /// order: the older count must not move the book back, or the requests
    /// in between are credited twice.
    #[tokio::test(start_paused = true)]
    async fn a_stale_request_count_is_not_credited_again() {
        let ledger = Ledger::new(&RetryBudget::new(Duration::from_secs(1), 0, 100.0));
        assert_eq!(ledger.balance(11), 11.0);
        assert_eq!(ledger.balance(10), 11.0);
        assert_eq!(ledger.balance(11), 11.0);
    }
}
