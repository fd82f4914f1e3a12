//! Episodes: the periods the alerts and the warnings describe (a key whose
//! source fails, a key on its fallback, a key whose source serves an
//! invalid config, an open circuit, a failing cache store), followed from
//! the layers' events. Each starts and ends once, whatever the number of
//! requests in between; what happened in between is counted.
//!
//! Fed by the cache's events (loads, failed loads, stale answers, store
//! episodes), the breaker's state changes and rejections, and the fallback
//! answers. Nothing here is on the hit path: a cache hit is ignored before
//! any lock is taken.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use metrics::Counter;
use steadfast_breaker as breaker;
use steadfast_cache::Event as CacheEvent;
use steadfast_config::ConfigError;
use steadfast_core::{FailureKind, SharedError};
use tokio::time::Instant;

use crate::alert::{Alert, AlertListener, Answered, Ended};

/// How many keys are followed one by one.
pub(crate) const MAX_KEYS: usize = 1024;
/// How many keys past [`MAX_KEYS`] are told apart (by a hash) in the
/// aggregate episode.
const MAX_UNTRACKED: usize = 4096;
/// A key's episode not asked about for this long is forgotten.
pub(crate) const IDLE: Duration = Duration::from_secs(15 * 60);
/// How often idle episodes are looked for (at the next event).
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Whether `error` says the source answered with content that does not
/// decode or validate, rather than failing to answer.
fn is_invalid_content(error: &ConfigError) -> bool {
    error.kind() == FailureKind::InvalidContent
}

/// The episodes of one stack, and the counters of the answers that no layer
/// counts on its own (fallback answers and errors of the whole stack, and
/// the startup probe's answers).
pub(crate) struct Episodes {
    listener: Option<AlertListener>,
    /// Whether a fallback layer answers the cache's errors (and counts them).
    fallback_layer: bool,
    state: Mutex<State>,
    /// Held from the state's lock to the end of reporting what it made, so
    /// alerts are reported in the order they were made.
    reporting: Mutex<()>,
    fallback_answers: AtomicU64,
    errors: AtomicU64,
    probe_answers: AtomicU64,
    m_fallback_answers: Counter,
    m_errors: Counter,
    m_probe_answers: Counter,
}

#[derive(Default)]
struct State {
    keys: HashMap<Arc<str>, KeyState>,
    untracked: Option<Untracked>,
    circuit: Option<Circuit>,
    /// Where a lent key is formatted to be looked up.
    scratch: String,
    next_sweep: Option<Instant>,
}

struct KeyState {
    failing: Option<Ongoing>,
    fallback: Option<Ongoing>,
    invalid: Option<Ongoing>,
    seen: Instant,
}

struct Ongoing {
    since: Instant,
    /// Failed loads, or fallback answers, or rejected answers: what the
    /// episode is made of.
    count: u64,
    answered: Answered,
}

impl Ongoing {
    fn new(now: Instant) -> Self {
        Self {
            since: now,
            count: 1,
            answered: Answered::default(),
        }
    }
}

/// The keys in an episode past [`MAX_KEYS`], together.
struct Untracked {
    since: Instant,
    seen: Instant,
    /// Hashes of the keys still in it, up to [`MAX_UNTRACKED`].
    open: HashSet<u64>,
    /// Keys that entered it.
    keys: u64,
    /// Whether some keys entered it past [`MAX_UNTRACKED`]: then it ends
    /// only when idle.
    overflowed: bool,
    answered: Answered,
}

struct Circuit {
    since: Instant,
    reopened: u64,
    rejected: u64,
}

/// How a request was answered, for the episodes of its key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Stale,
    Fallback,
    Error,
}

/// Alerts made under the lock, reported after it is released.
#[derive(Default)]
struct Out(Vec<Alert>);

impl KeyState {
    fn new(now: Instant) -> Self {
        Self {
            failing: None,
            fallback: None,
            invalid: None,
            seen: now,
        }
    }

    fn count(&mut self, answer: Answer) {
        for ongoing in [&mut self.failing, &mut self.fallback, &mut self.invalid]
            .into_iter()
            .flatten()
        {
            add(&mut ongoing.answered, answer);
        }
    }

    fn end(&mut self, key: &Arc<str>, ended: Ended, now: Instant, out: &mut Out) {
        if let Some(o) = self.failing.take() {
            out.0.push(Alert::SourceRecovered {
                key: key.clone(),
                ended,
                lasted: now.saturating_duration_since(o.since),
                failed_loads: o.count,
                answered: o.answered,
            });
        }
        if let Some(o) = self.invalid.take() {
            out.0.push(Alert::InvalidConfigEnded {
                key: key.clone(),
                ended,
                lasted: now.saturating_duration_since(o.since),
                rejected: o.count,
                answered: o.answered,
            });
        }
        if let Some(o) = self.fallback.take() {
            out.0.push(Alert::FallbackEnded {
                key: key.clone(),
                ended,
                lasted: now.saturating_duration_since(o.since),
                answers: o.count,
            });
        }
    }
}

fn add(answered: &mut Answered, answer: Answer) {
    match answer {
        Answer::Stale => answered.stale += 1,
        Answer::Fallback => answered.fallback += 1,
        Answer::Error => answered.errors += 1,
    }
}

fn hash(key: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a key's look-up found.
enum Slot<'a> {
    Tracked(Arc<str>, &'a mut KeyState),
    Untracked(&'a mut Untracked),
    None,
}

impl State {
    fn is_quiet(&self) -> bool {
        self.keys.is_empty() && self.untracked.is_none()
    }

    /// Whether the key in `scratch` is among the keys followed together.
    fn in_untracked(&self) -> bool {
        self.untracked
            .as_ref()
            .is_some_and(|u| u.open.contains(&hash(&self.scratch)))
    }

    /// The key's episodes; with `start`, made if missing (past the cap, the
    /// aggregate is joined, and started if needed).
    fn slot(
        &mut self,
        key: &dyn fmt::Display,
        start: bool,
        now: Instant,
        out: &mut Out,
    ) -> Slot<'_> {
        self.scratch.clear();
        let _ = write!(self.scratch, "{key}");
        let found = self.keys.contains_key(self.scratch.as_str());
        if found || (start && self.keys.len() < MAX_KEYS && !self.in_untracked()) {
            if !found {
                let key: Arc<str> = Arc::from(self.scratch.as_str());
                self.keys.insert(key, KeyState::new(now));
            }
            let name = self.scratch.as_str();
            let key = self.keys.get_key_value(name).expect("present").0.clone();
            let state = self.keys.get_mut(name).expect("present");
            state.seen = now;
            return Slot::Tracked(key, state);
        }
        let hashed = hash(&self.scratch);
        let joined = self
            .untracked
            .as_ref()
            .is_some_and(|u| u.open.contains(&hashed) || (u.overflowed && !start));
        if joined {
            let untracked = self.untracked.as_mut().expect("present");
            untracked.seen = now;
            return Slot::Untracked(untracked);
        }
        if !start {
            return Slot::None;
        }
        let untracked = self.untracked.get_or_insert_with(|| {
            out.0.push(Alert::KeysUntracked { tracked: MAX_KEYS });
            Untracked {
                since: now,
                seen: now,
                open: HashSet::new(),
                keys: 0,
                overflowed: false,
                answered: Answered::default(),
            }
        });
        untracked.seen = now;
        if untracked.open.len() < MAX_UNTRACKED {
            if untracked.open.insert(hashed) {
                untracked.keys += 1;
            }
        } else {
            // Keys are no longer told apart: the count stays a lower bound.
            untracked.overflowed = true;
        }
        Slot::Untracked(untracked)
    }

    /// The key is fresh again: its episodes end.
    fn fresh(&mut self, key: &dyn fmt::Display, ended: Ended, now: Instant, out: &mut Out) {
        self.scratch.clear();
        let _ = write!(self.scratch, "{key}");
        if let Some((key, mut state)) = self.keys.remove_entry(self.scratch.as_str()) {
            state.end(&key, ended, now, out);
            return;
        }
        let hashed = hash(&self.scratch);
        if let Some(untracked) = &mut self.untracked
            && untracked.open.remove(&hashed)
            && untracked.open.is_empty()
            && !untracked.overflowed
        {
            let untracked = self.untracked.take().expect("present");
            out.0.push(Alert::KeysUntrackedEnded {
                ended,
                lasted: now.saturating_duration_since(untracked.since),
                keys: untracked.keys,
                answered: untracked.answered,
            });
        }
    }

    /// Ends the episodes of keys not asked about for [`IDLE`].
    fn sweep(&mut self, now: Instant, out: &mut Out) {
        if self.next_sweep.is_some_and(|at| now < at) {
            return;
        }
        self.next_sweep = now.checked_add(SWEEP_EVERY);
        let idle = |seen: Instant| now.saturating_duration_since(seen) >= IDLE;
        self.keys.retain(|key, state| {
            if idle(state.seen) {
                state.end(key, Ended::NotRequested, now, out);
                false
            } else {
                true
            }
        });
        if self.untracked.as_ref().is_some_and(|u| idle(u.seen)) {
            let untracked = self.untracked.take().expect("present");
            out.0.push(Alert::KeysUntrackedEnded {
                ended: Ended::NotRequested,
                lasted: now.saturating_duration_since(untracked.since),
                keys: untracked.keys,
                answered: untracked.answered,
            });
        }
    }
}

impl Episodes {
    pub(crate) fn new(listener: Option<AlertListener>, fallback_layer: bool) -> Self {
        Self {
            listener,
            fallback_layer,
            state: Mutex::new(State::default()),
            reporting: Mutex::new(()),
            fallback_answers: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            probe_answers: AtomicU64::new(0),
            m_fallback_answers: metrics::counter!("steadfast_loader_fallback_answers_total"),
            m_errors: metrics::counter!("steadfast_loader_errors_total"),
            // A probe's answer is a miss the cache did not see.
            m_probe_answers: metrics::counter!("steadfast_cache_misses_total"),
        }
    }

    /// Requests the fallback answered.
    pub(crate) fn fallback_answers(&self) -> u64 {
        self.fallback_answers.load(Ordering::Relaxed)
    }

    /// Requests the stack answered with an error.
    pub(crate) fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Loads the startup wait answered with what its probe beneath the
    /// circuit got from the source: misses the cache did not see.
    pub(crate) fn probe_answers(&self) -> u64 {
        self.probe_answers.load(Ordering::Relaxed)
    }

    pub(crate) fn count_probe_answer(&self) {
        self.probe_answers.fetch_add(1, Ordering::Relaxed);
        self.m_probe_answers.increment(1);
    }

    /// Follows an error returned for `key` by the stack beneath the
    /// fallback layer, straight to the caller: a fail-fast start. Without a
    /// fallback layer the cache has counted it already.
    pub(crate) fn primary_error(&self, key: &Arc<str>) {
        if self.fallback_layer {
            self.count_error();
            self.answered(key, Answer::Error);
        }
    }

    fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.m_errors.increment(1);
    }

    /// Runs `f` on the state under the lock, then reports what it made,
    /// outside the lock (a listener may take its time) but in order.
    fn with(&self, f: impl FnOnce(&mut State, Instant, &mut Out)) {
        let mut out = Out::default();
        let mut state = lock(&self.state);
        let now = Instant::now();
        f(&mut state, now, &mut out);
        if !state.is_quiet() {
            state.sweep(now, &mut out);
        }
        if out.0.is_empty() {
            return;
        }
        let _reporting = self
            .reporting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        drop(state);
        for alert in &out.0 {
            self.report(alert);
        }
    }

    /// Reports a watch's episode alert, in order with the others. The
    /// watcher logs its episodes itself.
    pub(crate) fn report_watch(&self, alert: &Alert) {
        let _reporting = self
            .reporting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(listener) = &self.listener {
            listener(alert);
        }
    }

    fn report(&self, alert: &Alert) {
        match alert {
            // Their own layers log these, once per change.
            Alert::CircuitOpened { .. }
            | Alert::CircuitClosed { .. }
            | Alert::StoreFailing { .. }
            | Alert::StoreRecovered { .. } => {}
            _ if alert.is_start() => tracing::warn!(key = alert.key(), "{alert}"),
            _ => tracing::info!(key = alert.key(), "{alert}"),
        }
        if let Some(listener) = &self.listener {
            listener(alert);
        }
    }

    /// Follows one of the cache's events.
    pub(crate) fn cache_event(&self, event: &CacheEvent<'_>) {
        match *event {
            // The hit path: nothing to follow.
            CacheEvent::Hit { .. } => {}
            CacheEvent::Loaded { key, .. } => {
                self.with(|state, now, out| {
                    if !state.is_quiet() {
                        state.fresh(key, Ended::Loaded, now, out);
                    }
                });
            }
            // A value stored from outside a load (the startup probe, a
            // watcher) is as fresh as a loaded one.
            CacheEvent::Inserted { key } => {
                self.with(|state, now, out| {
                    if !state.is_quiet() {
                        state.fresh(key, Ended::Loaded, now, out);
                    }
                });
            }
            CacheEvent::RemoteHit { key } => self.with(|state, now, out| {
                if !state.is_quiet() {
                    state.fresh(key, Ended::SharedTier, now, out);
                }
            }),
            CacheEvent::LoadFailed { key, error } => self.load_failed(key, error),
            // A stale value served while it refreshes is normal operation:
            // it counts only for a key already in an episode (its loads
            // fail), as any stale answer does.
            CacheEvent::StaleServed { key, .. } => self.answered(key, Answer::Stale),
            // With a fallback layer, the error goes on to it, and is
            // counted there as a fallback answer or an error.
            CacheEvent::ErrorServed { key, .. } | CacheEvent::NegativeHit { key }
                if !self.fallback_layer =>
            {
                self.count_error();
                self.answered(key, Answer::Error);
            }
            CacheEvent::StoreFailing { op, error, .. } => {
                // The store's error shows its causes.
                let text = error.to_string();
                let alert = Alert::StoreFailing {
                    op,
                    kind: error.kind(),
                    error: text.into(),
                };
                self.with(|_, _, out| out.0.push(alert));
            }
            CacheEvent::StoreRecovered { failures, lasted } => {
                let alert = Alert::StoreRecovered { lasted, failures };
                self.with(|_, _, out| out.0.push(alert));
            }
            _ => {}
        }
    }

    fn load_failed(&self, key: &dyn fmt::Display, error: &SharedError) {
        let error = error
            .downcast_ref::<ConfigError>()
            .cloned()
            .unwrap_or_else(|| ConfigError::Other(error.clone()));
        let invalid = is_invalid_content(&error);
        self.with(|state, now, out| match state.slot(key, true, now, out) {
            Slot::Tracked(key, keyed) => {
                let episode = if invalid {
                    &mut keyed.invalid
                } else {
                    &mut keyed.failing
                };
                match episode {
                    Some(ongoing) => ongoing.count += 1,
                    None => {
                        *episode = Some(Ongoing::new(now));
                        out.0.push(if invalid {
                            Alert::InvalidConfig { key, error }
                        } else {
                            Alert::SourceFailing { key, error }
                        });
                    }
                }
            }
            Slot::Untracked(_) | Slot::None => {}
        });
    }

    /// Counts a request of `key` answered with `answer` in its episodes, if
    /// it is in any.
    fn answered(&self, key: &dyn fmt::Display, answer: Answer) {
        self.with(|state, now, out| {
            if state.is_quiet() {
                return;
            }
            match state.slot(key, false, now, out) {
                Slot::Tracked(_, keyed) => keyed.count(answer),
                Slot::Untracked(untracked) => add(&mut untracked.answered, answer),
                Slot::None => {}
            }
        });
    }

    /// Follows a fallback answer for `key` (`None`: the fallback had
    /// nothing, and the error is returned).
    pub(crate) fn fallback(&self, key: &Arc<str>, answered: Option<&ConfigError>) {
        let Some(error) = answered else {
            self.count_error();
            self.answered(key, Answer::Error);
            return;
        };
        self.fallback_answers.fetch_add(1, Ordering::Relaxed);
        self.m_fallback_answers.increment(1);
        self.with(|state, now, out| match state.slot(key, true, now, out) {
            Slot::Tracked(_, keyed) => {
                keyed.count(Answer::Fallback);
                match &mut keyed.fallback {
                    Some(ongoing) => ongoing.count += 1,
                    None => {
                        keyed.fallback = Some(Ongoing::new(now));
                        out.0.push(Alert::FallbackUsed {
                            key: key.clone(),
                            error: error.clone(),
                        });
                    }
                }
            }
            Slot::Untracked(untracked) => add(&mut untracked.answered, Answer::Fallback),
            Slot::None => {}
        });
    }

    /// Follows one of the breaker's events.
    pub(crate) fn breaker_event(&self, event: &breaker::Event) {
        match *event {
            breaker::Event::StateChanged {
                to,
                cause,
                open_for,
                ..
            } => self.with(|state, now, out| match to {
                breaker::State::Open | breaker::State::ForcedOpen => match &mut state.circuit {
                    Some(circuit) => circuit.reopened += 1,
                    None => {
                        state.circuit = Some(Circuit {
                            since: now,
                            reopened: 0,
                            rejected: 0,
                        });
                        out.0.push(Alert::CircuitOpened { open_for, cause });
                    }
                },
                breaker::State::Closed | breaker::State::Disabled => {
                    if let Some(circuit) = state.circuit.take() {
                        out.0.push(Alert::CircuitClosed {
                            lasted: now.saturating_duration_since(circuit.since),
                            reopened: circuit.reopened,
                            rejected: circuit.rejected,
                        });
                    }
                }
                _ => {}
            }),
            breaker::Event::Rejected { .. } => {
                let mut state = lock(&self.state);
                if let Some(circuit) = &mut state.circuit {
                    circuit.rejected += 1;
                }
            }
            _ => {}
        }
    }
}

impl fmt::Debug for Episodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("Episodes")
            .field("keys", &state.keys.len())
            .field("untracked", &state.untracked.is_some())
            .field("circuit_open", &state.circuit.is_some())
            .finish_non_exhaustive()
    }
}
