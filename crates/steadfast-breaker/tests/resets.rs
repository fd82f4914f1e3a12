//! Resets racing calls that finish on other threads: a window is cleared
//! whole, and every outcome is recorded in it whole or not at all.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use steadfast_breaker::{Builder, Cause, CircuitBreakerLayer, Event, Handle, State};
use support::*;

const CALLERS: u64 = 3;
const ROUNDS: usize = 300;
const RESETS: usize = 5;

/// Sends one call on the checking thread.
type Send<'a> = dyn FnMut(Call) -> Result<&'static str, TestError> + 'a;

/// Calls through `builder`'s circuit from `CALLERS` threads, each on a
/// paused runtime of its own with a seeded mix from `calls`. Each round
/// resets the circuit while those calls run, waits for the calls in flight
/// to finish, and hands the quiet circuit to `check`, which says what it
/// found wrong, if anything. Returns the rounds that went wrong.
fn race(
    builder: Builder,
    calls: fn(&mut fastrand::Rng) -> Call,
    mut check: impl FnMut(&Handle, &mut Send<'_>) -> Option<String>,
) -> Vec<(usize, String)> {
    let (handle, svc, _) = breaker(builder);
    let gate = Arc::new(RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..CALLERS)
        .map(|i| {
            let (mut svc, gate, stop, done) =
                (svc.clone(), gate.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(i);
                let runtime = paused_runtime();
                while !stop.load(Ordering::Relaxed) {
                    let _running = gate.read().unwrap();
                    let call = calls(&mut rng);
                    if call.delay.is_zero() {
                        at_once(&mut svc, call);
                    } else {
                        runtime.block_on(send(&mut svc, call)).ok();
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let runtime = paused_runtime();
    let mut svc = svc.clone();
    let mut wrong = Vec::new();
    for round in 0..ROUNDS {
        // Reset while the callers are well under way.
        let start = done.load(Ordering::Relaxed);
        for _ in 0..RESETS {
            while done.load(Ordering::Relaxed) < start + 20 {
                std::thread::yield_now();
            }
            handle.reset();
        }
        let _quiet = gate.write().unwrap();
        let mut send_here = |call| runtime.block_on(send(&mut svc, call));
        if let Some(found) = check(&handle, &mut send_here) {
            wrong.push((round, found));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.join().unwrap();
    }
    wrong
}

/// Sends a call that finishes at once without a runtime, so that the
/// callers spend their time in the breaker.
fn at_once<S>(svc: &mut S, call: Call)
where
    S: tower::Service<Call, Response = &'static str, Error = TestError>,
{
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let ready = svc.poll_ready(&mut cx);
    assert!(ready.is_ready(), "the scripted service is always ready");
    let mut future = std::pin::pin!(svc.call(call));
    assert!(
        future.as_mut().poll(&mut cx).is_ready(),
        "a call without delay finishes at once"
    );
}

fn window(handle: &Handle) -> (u64, u64, u64) {
    let w = handle.window().unwrap();
    (w.calls, w.failures, w.slow)
}

/// A quarter of the calls fail and a quarter are slow, independently.
fn mixed(rng: &mut fastrand::Rng) -> Call {
    Call {
        fail: rng.u8(0..4) == 0,
        delay: if rng.u8(0..4) == 0 {
            millis(150)
        } else {
            millis(0)
        },
    }
}

const WINDOW: u64 = 16;

#[test]
fn resets_racing_calls_leave_a_count_window_that_matches_its_calls() {
    let events = Events::default();
    let builder = CircuitBreakerLayer::builder()
        .count_window(WINDOW as u32)
        .minimum_calls(WINDOW as u32)
        .failure_rate(1.0)
        .slow_calls(millis(100), 1.0)
        .on_event(events.listener());
    let wrong = race(builder, mixed, |handle, send| {
        // Sixteen failures or slow calls in a row since the reset are too
        // unlikely to plan for; such a round checks nothing.
        if handle.state() != State::Closed {
            return None;
        }
        events.take();
        let mut seen = Vec::new();
        for _ in 0..WINDOW {
            send(OK).unwrap();
        }
        seen.push(window(handle));
        for _ in 1..WINDOW {
            send(ok_after(millis(150))).unwrap();
        }
        seen.push(window(handle));
        for _ in 0..WINDOW {
            send(OK).unwrap();
        }
        for _ in 1..WINDOW {
            send(FAIL).unwrap_err();
        }
        seen.push(window(handle));
        let closed = handle.state() == State::Closed;
        send(FAIL).unwrap_err();
        let opened = events.take()
            == [Event::StateChanged {
                from: State::Closed,
                to: State::Open,
                cause: Cause::FailureRate {
                    failures: WINDOW,
                    calls: WINDOW,
                },
                open_for: Some(secs(60)),
            }];
        let expected = [
            (WINDOW, 0, 0),
            (WINDOW, 0, WINDOW - 1),
            (WINDOW, WINDOW - 1, 0),
        ];
        (seen != expected || !closed || !opened).then(|| {
            format!("{seen:?}, closed before the last failure: {closed}, opened on it: {opened}")
        })
    });
    assert!(
        wrong.is_empty(),
        "{} of {ROUNDS} rounds: {wrong:?}",
        wrong.len()
    );
}

/// Every call fails and is slow, so a window that holds whole outcomes
/// counts as many failures and slow calls as calls.
fn failing_and_slow(_: &mut fastrand::Rng) -> Call {
    fail_after(millis(150))
}

#[test]
fn resets_racing_calls_leave_a_time_window_of_whole_outcomes() {
    let builder = CircuitBreakerLayer::builder()
        .time_window(secs(3_600), 10)
        .minimum_calls(u32::MAX)
        .failure_rate(1.0)
        .slow_calls(millis(100), 1.0);
    let wrong = race(builder, failing_and_slow, |handle, _| {
        let (calls, failures, slow) = window(handle);
        (calls != failures || calls != slow).then(|| format!("{:?}", (calls, failures, slow)))
    });
    assert!(
        wrong.is_empty(),
        "{} of {ROUNDS} rounds: {wrong:?}",
        wrong.len()
    );
}
