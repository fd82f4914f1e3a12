//! The state every clone of a breaker shares, and its transitions.

use std::sync::atomic::{AtomicU64, Ordering::*};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use steadfast_core::CircuitOpen;
use steadfast_core::counter::ThreadCounter;
use tokio::time::Instant;

use crate::counters::{Counters, WindowTotals};
use crate::epoch::{EPOCH_MASK, EpochCount};
use crate::event::{Cause, Event, State};
use crate::policy::Outcome;
use crate::window::{FAILED, SLOW, Totals, Window};

/// A state-change and rejection listener.
pub(crate) type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

// The state word: the circuit state in the low three bits, the epoch (one per
// transition, and one per reset) above them. A call remembers the word it
// was admitted under; its outcome moves the circuit only while the word is
// unchanged. The counts of a closed circuit (streak, window) carry the epoch
// of its word, so that a call admitted under another word cannot change them
// even if it races the change of word (see `epoch`).
const STATE_BITS: u64 = 0b111;
const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const FORCED_OPEN: u64 = 3;
const DISABLED: u64 = 4;

const PPM: u64 = 1_000_000;

/// A `poll_ready` decision, as one word: a state word of a closed or
/// disabled circuit (the call passes, admitted under it), or one of the
/// markers below, whose state bits no state word has.
pub(crate) const TICKET_EMPTY: u64 = 5;
pub(crate) const TICKET_REJECT: u64 = 6;
pub(crate) const TICKET_PROBE: u64 = 7;

/// Whether a ticket (or state word) lets a call pass freely.
#[inline]
pub(crate) fn passes(ticket: u64) -> bool {
    ticket & 0b011 == 0
}

fn state_of(word: u64) -> State {
    match word & STATE_BITS {
        CLOSED => State::Closed,
        OPEN => State::Open,
        HALF_OPEN => State::HalfOpen,
        FORCED_OPEN => State::ForcedOpen,
        _ => State::Disabled,
    }
}

fn bits_of(state: State) -> u64 {
    match state {
        State::Closed => CLOSED,
        State::Open => OPEN,
        State::HalfOpen => HALF_OPEN,
        State::ForcedOpen => FORCED_OPEN,
        State::Disabled => DISABLED,
    }
}

fn next_word(word: u64, state: State) -> u64 {
    ((word >> 3).wrapping_add(1) << 3) | bits_of(state)
}

/// The epoch of a state word, as the counts of its closed period carry it.
#[inline]
fn epoch_of(word: u64) -> u64 {
    (word >> 3) & EPOCH_MASK
}

/// `duration` times `factor` (finite, not negative), saturating at
/// `Duration::MAX` instead of overflowing.
fn scale(duration: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(duration.as_secs_f64() * factor).unwrap_or(Duration::MAX)
}

/// The validated settings of one breaker.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) name: Arc<str>,
    pub(crate) consecutive: Option<u32>,
    pub(crate) failure_ppm: Option<u32>,
    pub(crate) slow_threshold: Option<Duration>,
    pub(crate) slow_ppm: u32,
    pub(crate) minimum_calls: u32,
    pub(crate) open: Duration,
    pub(crate) multiplier: f64,
    pub(crate) max_open: Duration,
    pub(crate) jitter: f64,
    pub(crate) probes: u32,
    pub(crate) needed: u32,
    pub(crate) max_wait: Option<Duration>,
}

/// The state shared by a layer, its services, their futures and handles.
/// The classifier sits last so the handle can see the state without naming
/// the classifier's type.
#[derive(Debug)]
pub(crate) struct Shared<C: ?Sized> {
    pub(crate) core: Core,
    pub(crate) classifier: C,
}

/// How a call may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Closed or disabled: the call passes, admitted under this word.
    Pass(u64),
    /// Half-open: the call is a probe holding one permit of this word.
    Probe(u64),
    /// Rejected; `Core::reject` says why.
    Reject,
}

#[derive(Default, Debug)]
struct Tally {
    calls: ThreadCounter,
    failures: AtomicU64,
    ignored: AtomicU64,
    slow: AtomicU64,
    rejected: AtomicU64,
    opened: AtomicU64,
    half_opened: AtomicU64,
    closed: AtomicU64,
}

#[derive(Debug)]
struct Transitions {
    rng: fastrand::Rng,
    trips: u32,
    /// When the circuit last half-opened, in nanoseconds since `Core::base`.
    half_open_since: u64,
    free: u32,
    successes: u32,
    failures: u32,
}

/// A transition made under the lock, announced after it is released.
#[derive(Debug, Clone, Copy)]
struct Change {
    from: State,
    to: State,
    cause: Cause,
    open_for: Option<Duration>,
}

/// A circuit's state. Nothing in it is written on a closed circuit's
/// success path once the circuit is contended (the call counter spreads out
/// per thread), so threads calling at once only read it; a window, which
/// every call writes, sits in an allocation of its own.
pub(crate) struct Core {
    word: AtomicU64,
    open_until: AtomicU64,
    /// Failures in a row while closed.
    consecutive: EpochCount,
    window: Option<Window>,
    tally: Tally,
    config: Config,
    base: Instant,
    transitions: Mutex<Transitions>,
    listener: Option<Listener>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("state", &state_of(self.word.load(Relaxed)))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(
        config: Config,
        window: Option<Window>,
        rng: fastrand::Rng,
        listener: Option<Listener>,
    ) -> Self {
        let now = Instant::now();
        Self {
            word: AtomicU64::new(CLOSED),
            open_until: AtomicU64::new(0),
            consecutive: EpochCount::new(),
            window,
            tally: Tally::default(),
            config,
            base: now,
            transitions: Mutex::new(Transitions {
                rng,
                trips: 0,
                half_open_since: 0,
                free: 0,
                successes: 0,
                failures: 0,
            }),
            listener,
        }
    }

    /// Whether two threads have collided on this circuit's call counter:
    /// from then on response futures hold per-thread lanes.
    #[inline]
    pub(crate) fn contended(&self) -> bool {
        self.tally.calls.contended()
    }

    /// Whether a finished call needs the time (a time window, slow calls).
    #[inline]
    pub(crate) fn timed(&self) -> bool {
        self.config.slow_threshold.is_some() || self.window.as_ref().is_some_and(Window::needs_time)
    }

    /// Whether a call needs its start time (slow calls).
    #[inline]
    pub(crate) fn times_calls(&self) -> bool {
        self.config.slow_threshold.is_some()
    }

    /// Whether a call that took `elapsed` is slow.
    #[inline]
    pub(crate) fn is_slow(&self, elapsed: Duration) -> bool {
        self.config.slow_threshold.is_some_and(|t| elapsed > t)
    }

    fn lock(&self) -> MutexGuard<'_, Transitions> {
        self.transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn nanos(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    fn remaining(&self, now: Instant) -> Duration {
        Duration::from_nanos(
            self.open_until
                .load(Acquire)
                .saturating_sub(self.nanos(now)),
        )
    }

    /// The state word, which [`passes`] when the circuit is closed or
    /// disabled.
    #[inline]
    pub(crate) fn word(&self) -> u64 {
        self.word.load(Acquire)
    }

    /// Decides whether a call may proceed when the circuit was not closed.
    #[cold]
    pub(crate) fn admit(&self) -> Admission {
        loop {
            let word = self.word.load(Acquire);
            let now = Instant::now();
            match word & STATE_BITS {
                CLOSED | DISABLED => return Admission::Pass(word),
                FORCED_OPEN => return Admission::Reject,
                OPEN => {
                    if !self.remaining(now).is_zero() {
                        return Admission::Reject;
                    }
                    self.half_open(word, now);
                }
                _ => {
                    let mut t = self.lock();
                    if self.word.load(Acquire) != word {
                        continue;
                    }
                    if t.free > 0 {
                        t.free -= 1;
                        return Admission::Probe(word);
                    }
                    if !self.half_open_expired(&t, now) {
                        return Admission::Reject;
                    }
                    let change = self.open_locked(&mut t, word, now, Cause::HalfOpenTimeout);
                    drop(t);
                    self.announce(change);
                }
            }
        }
    }

    fn half_open_expired(&self, t: &Transitions, now: Instant) -> bool {
        self.config.max_wait.is_some_and(|max| {
            Duration::from_nanos(self.nanos(now).saturating_sub(t.half_open_since)) >= max
        })
    }

    /// Counts a rejected call and says why it was rejected: the time until
    /// the next probe while open, `Duration::MAX` while forced open, zero
    /// while half-open (or if the circuit closed since `poll_ready`).
    #[cold]
    pub(crate) fn reject(&self) -> CircuitOpen {
        let state = state_of(self.word.load(Acquire));
        let open = CircuitOpen::new(match state {
            State::Open => self.remaining(Instant::now()),
            State::ForcedOpen => Duration::MAX,
            _ => Duration::ZERO,
        });
        self.tally.rejected.fetch_add(1, Relaxed);
        metrics::counter!("steadfast_breaker_rejected_total", "breaker" => self.config.name.clone())
            .increment(1);
        tracing::debug!(breaker = %self.config.name, state = %state, retry_in = ?open.remaining(), "call rejected");
        if let Some(listener) = &self.listener {
            listener(&Event::Rejected {
                state,
                retry_in: open.remaining(),
            });
        }
        open
    }

    /// Counts a finished call; returns its window bits, or `None` when it is
    /// ignored.
    #[inline]
    fn count(&self, outcome: Outcome, slow: bool) -> Option<u8> {
        self.tally.calls.increment();
        if outcome == Outcome::Success && !slow {
            Some(0)
        } else {
            self.count_unusual(outcome, slow)
        }
    }

    #[cold]
    #[inline(never)]
    fn count_unusual(&self, outcome: Outcome, slow: bool) -> Option<u8> {
        let mut bits = match outcome {
            Outcome::Success => 0,
            Outcome::Failure => {
                self.tally.failures.fetch_add(1, Relaxed);
                metrics::counter!("steadfast_breaker_failures_total", "breaker" => self.config.name.clone())
                    .increment(1);
                FAILED
            }
            Outcome::Ignored => {
                self.tally.ignored.fetch_add(1, Relaxed);
                return None;
            }
        };
        if slow {
            self.tally.slow.fetch_add(1, Relaxed);
            metrics::counter!("steadfast_breaker_slow_calls_total", "breaker" => self.config.name.clone())
                .increment(1);
            bits |= SLOW;
        }
        Some(bits)
    }

    /// Records the outcome of a call admitted under `word` while closed or
    /// disabled. `now` is set when the breaker is timed. The rates are
    /// checked after every call the window counts, once it holds the
    /// minimum number of calls.
    #[inline]
    pub(crate) fn record(&self, word: u64, outcome: Outcome, slow: bool, now: Option<Instant>) {
        let Some(bits) = self.count(outcome, slow) else {
            return;
        };
        if word & STATE_BITS != CLOSED || self.word.load(Relaxed) != word {
            return;
        }
        let epoch = epoch_of(word);
        if let Some(limit) = self.config.consecutive {
            if bits & FAILED != 0 {
                let Some((_, failures)) = self.consecutive.update(epoch, |n| n + 1) else {
                    return;
                };
                if failures >= u64::from(limit) {
                    let failures = u32::try_from(failures).unwrap_or(u32::MAX);
                    self.trip(word, Cause::ConsecutiveFailures { failures });
                    return;
                }
            } else if self.consecutive.get(epoch) != Some(0) {
                self.consecutive.update(epoch, |_| 0);
            }
        }
        if let Some(window) = &self.window {
            let nanos = now.map_or(0, |now| self.nanos(now));
            if let Some(totals) = window.record(epoch, bits, nanos) {
                self.check(word, totals);
            }
        }
    }

    #[inline]
    fn check(&self, word: u64, totals: Totals) {
        if totals.calls < u64::from(self.config.minimum_calls) {
            return;
        }
        if let Some(ppm) = self.config.failure_ppm
            && totals.failures * PPM >= u64::from(ppm) * totals.calls
        {
            self.trip(
                word,
                Cause::FailureRate {
                    failures: totals.failures,
                    calls: totals.calls,
                },
            );
        } else if self.config.slow_threshold.is_some()
            && totals.slow * PPM >= u64::from(self.config.slow_ppm) * totals.calls
        {
            self.trip(
                word,
                Cause::SlowCallRate {
                    slow: totals.slow,
                    calls: totals.calls,
                },
            );
        }
    }

    #[cold]
    fn trip(&self, word: u64, cause: Cause) {
        let mut t = self.lock();
        if self.word.load(Acquire) != word {
            return;
        }
        let change = self.open_locked(&mut t, word, Instant::now(), cause);
        drop(t);
        self.announce(change);
    }

    /// Records the outcome of a probe admitted under `word`.
    pub(crate) fn record_probe(&self, word: u64, outcome: Outcome, slow: bool) {
        let bits = self.count(outcome, slow);
        let mut t = self.lock();
        if self.word.load(Acquire) != word {
            return;
        }
        let Some(bits) = bits else {
            t.free += 1;
            return;
        };
        if bits == 0 {
            t.successes += 1;
        } else {
            t.failures += 1;
        }
        let needed = self.config.needed;
        let change = if t.successes >= needed {
            let successes = t.successes;
            self.close_locked(&mut t, word, Cause::ProbesSucceeded { successes })
        } else if t.failures > self.config.probes - needed {
            let cause = Cause::ProbesFailed {
                successes: t.successes,
                failures: t.failures,
            };
            self.open_locked(&mut t, word, Instant::now(), cause)
        } else {
            return;
        };
        drop(t);
        self.announce(change);
    }

    /// Gives back the permit of a probe that never finished.
    pub(crate) fn release(&self, word: u64) {
        let mut t = self.lock();
        if self.word.load(Acquire) == word {
            t.free += 1;
        }
    }

    fn open_duration(&self, t: &mut Transitions) -> Duration {
        let c = &self.config;
        let mut open = c.open;
        if c.multiplier > 1.0 {
            let factor = c
                .multiplier
                .powi(i32::try_from(t.trips).unwrap_or(i32::MAX));
            open = if factor * c.open.as_secs_f64() >= c.max_open.as_secs_f64() {
                c.max_open
            } else {
                scale(c.open, factor)
            };
        }
        if c.jitter > 0.0 {
            open = scale(open, 1.0 + c.jitter * (2.0 * t.rng.f64() - 1.0));
        }
        open
    }

    fn open_locked(&self, t: &mut Transitions, word: u64, now: Instant, cause: Cause) -> Change {
        let open = self.open_duration(t);
        t.trips = t.trips.saturating_add(1);
        let until = self
            .nanos(now)
            .saturating_add(u64::try_from(open.as_nanos()).unwrap_or(u64::MAX));
        self.open_until.store(until, Release);
        self.word.store(next_word(word, State::Open), Release);
        Change {
            from: state_of(word),
            to: State::Open,
            cause,
            open_for: Some(open),
        }
    }

    fn close_locked(&self, t: &mut Transitions, word: u64, cause: Cause) -> Change {
        t.trips = 0;
        let closed = next_word(word, State::Closed);
        self.clear_counts(epoch_of(closed));
        self.word.store(closed, Release);
        Change {
            from: state_of(word),
            to: State::Closed,
            cause,
            open_for: None,
        }
    }

    /// Empties the streak and the window for the closed period of `epoch`,
    /// before the word of that period is published.
    fn clear_counts(&self, epoch: u64) {
        self.consecutive.restart(epoch, 0);
        if let Some(window) = &self.window {
            window.clear(epoch);
        }
    }

    fn half_open(&self, word: u64, now: Instant) {
        let mut t = self.lock();
        if self.word.load(Acquire) != word || !self.remaining(now).is_zero() {
            return;
        }
        t.free = self.config.probes;
        t.successes = 0;
        t.failures = 0;
        t.half_open_since = self.nanos(now);
        self.word.store(next_word(word, State::HalfOpen), Release);
        drop(t);
        self.announce(Change {
            from: State::Open,
            to: State::HalfOpen,
            cause: Cause::OpenElapsed,
            open_for: None,
        });
    }

    /// Applies the transitions that time alone makes due, and returns the
    /// state.
    pub(crate) fn state(&self) -> State {
        let word = self.word.load(Acquire);
        let now = Instant::now();
        match word & STATE_BITS {
            OPEN if self.remaining(now).is_zero() => self.half_open(word, now),
            HALF_OPEN => {
                let mut t = self.lock();
                if self.word.load(Acquire) == word && self.half_open_expired(&t, now) {
                    let change = self.open_locked(&mut t, word, now, Cause::HalfOpenTimeout);
                    drop(t);
                    self.announce(change);
                }
            }
            _ => {}
        }
        state_of(self.word.load(Acquire))
    }

    /// How long until the next probe may pass, while open.
    pub(crate) fn retry_in(&self) -> Option<Duration> {
        match self.state() {
            State::Open => Some(self.remaining(Instant::now())),
            State::ForcedOpen => Some(Duration::MAX),
            _ => None,
        }
    }

    /// Moves to `to` (closed, forced open or disabled) whatever the state.
    /// Closing always starts a new closed period with empty counts, even
    /// from closed; a move to the state the circuit is already in is no
    /// transition and is neither announced nor counted.
    pub(crate) fn force(&self, to: State, cause: Cause) {
        let mut t = self.lock();
        let word = self.word.load(Acquire);
        let from = state_of(word);
        let next = next_word(word, to);
        if to == State::Closed {
            t.trips = 0;
            self.clear_counts(epoch_of(next));
        } else if from == to {
            return;
        }
        self.word.store(next, Release);
        drop(t);
        if from != to {
            self.announce(Change {
                from,
                to,
                cause,
                open_for: None,
            });
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        let t = &self.tally;
        let calls = t.calls.sum();
        let failures = t.failures.load(Relaxed);
        let ignored = t.ignored.load(Relaxed);
        Counters {
            calls,
            successes: calls.saturating_sub(failures).saturating_sub(ignored),
            failures,
            ignored,
            slow: t.slow.load(Relaxed),
            rejected: t.rejected.load(Relaxed),
            opened: t.opened.load(Relaxed),
            half_opened: t.half_opened.load(Relaxed),
            closed: t.closed.load(Relaxed),
        }
    }

    pub(crate) fn window(&self) -> Option<WindowTotals> {
        self.window.as_ref().map(|w| {
            let totals = w.totals(self.nanos(Instant::now()));
            WindowTotals {
                calls: totals.calls,
                failures: totals.failures,
                slow: totals.slow,
            }
        })
    }

    pub(crate) fn consecutive_failures(&self) -> u32 {
        u32::try_from(self.consecutive.count()).unwrap_or(u32::MAX)
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    fn announce(&self, change: Change) {
        let name = &self.config.name;
        let counter = match change.to {
            State::Open | State::ForcedOpen => &self.tally.opened,
            State::HalfOpen => &self.tally.half_opened,
            State::Closed | State::Disabled => &self.tally.closed,
        };
        counter.fetch_add(1, Relaxed);
        let label = name.clone();
        match change.to {
            State::Open | State::ForcedOpen => {
                metrics::counter!("steadfast_breaker_opened_total", "breaker" => label).increment(1)
            }
            State::HalfOpen => {
                metrics::counter!("steadfast_breaker_half_opened_total", "breaker" => label)
                    .increment(1)
            }
            State::Closed | State::Disabled => {
                metrics::counter!("steadfast_breaker_closed_total", "breaker" => label).increment(1)
            }
        }
        match change.to {
            // A failed probe: the circuit is still open, the outage it
            // warned about goes on.
            State::Open if change.from == State::HalfOpen => tracing::debug!(
                breaker = %name,
                cause = ?change.cause,
                open_for = ?change.open_for,
                "circuit still open: its probes failed"
            ),
            State::Open | State::ForcedOpen => tracing::warn!(
                breaker = %name,
                from = %change.from,
                to = %change.to,
                cause = ?change.cause,
                open_for = ?change.open_for,
                "circuit opened"
            ),
            State::Closed | State::Disabled => tracing::info!(
                breaker = %name,
                from = %change.from,
                to = %change.to,
                cause = ?change.cause,
                "circuit closed"
            ),
            State::HalfOpen => tracing::debug!(
                breaker = %name,
                from = %change.from,
                "circuit half-open"
            ),
        }
        if let Some(listener) = &self.listener {
            listener(&Event::StateChanged {
                from: change.from,
                to: change.to,
                cause: change.cause,
                open_for: change.open_for,
            });
        }
    }
}
