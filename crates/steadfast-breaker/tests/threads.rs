//! One circuit shared by services called from several threads at once.

mod support;

use steadfast_breaker::{CircuitBreakerLayer, State};
use support::*;

#[test]
fn counts_stay_exact_and_the_circuit_shared_across_threads() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(1_000_000)
        .count_window(1_000)
        .failure_rate(0.5)
        // Judged on a full window only: over any 1,000 calls the threads'
        // one-in-four failures stay near 25 % (at most 258), however they
        // interleave; over the first 10, they could reach 50 %.
        .minimum_calls(1_000)
        .build()
        .unwrap();
    let handle = layer.handle();
    let (svc, reached) = service(&layer);

    let threads: Vec<_> = (0..8)
        .map(|i| {
            let mut svc = svc.clone();
            std::thread::spawn(move || {
                let runtime = paused_runtime();
                runtime.block_on(async {
                    for n in 0..1_000 {
                        // One call in four fails: 25%, under the 50% threshold.
                        let call = if (n + i) % 4 == 0 { FAIL } else { OK };
                        send(&mut svc, call).await.ok();
                    }
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }

    let counters = handle.counters();
    assert_eq!(reached.get(), 8_000);
    assert_eq!(
        (counters.calls, counters.failures, counters.successes),
        (8_000, 2_000, 6_000)
    );
    assert_eq!(handle.state(), State::Closed);
    let window = handle.window().unwrap();
    assert_eq!(window.calls, 1_000);
}
