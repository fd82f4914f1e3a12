//! What a breaker costs in memory: an idle one, one called from one thread,
//! and one that two threads called at once.
//!
//! Bytes are counted by dhat's heap profiler (bytes asked of the allocator,
//! without its own overhead), over 10,000 breakers, with the size of the
//! layer and service values themselves added. The test runs without
//! libtest's harness, on the process's only thread, so no other thread
//! allocates while dhat counts.

mod support;

use std::mem::size_of_val;
use std::time::Duration;

use std::sync::{Arc, Barrier};

use steadfast_breaker::{Builder, CircuitBreakerLayer};
use support::*;
use tower::{Layer, Service, service_fn};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const BREAKERS: usize = 10_000;

/// An inner service that holds nothing.
async fn answer(call: Call) -> Result<&'static str, TestError> {
    if call.fail {
        Err(TestError::Inner)
    } else {
        Ok("done")
    }
}

/// The bytes one breaker built from `builder` holds: the heap it allocated
/// plus its layer and one service, as a per-host table would keep them.
fn bytes_per_breaker(builder: impl Fn(usize) -> Builder) -> u64 {
    let mut kept = Vec::with_capacity(BREAKERS);
    let before = dhat::HeapStats::get().curr_bytes;
    for host in 0..BREAKERS {
        let layer = builder(host).build().unwrap();
        let svc = layer.layer(service_fn(answer));
        kept.push((layer, svc));
    }
    let heap = dhat::HeapStats::get().curr_bytes - before;
    let inline = size_of_val(&kept[0]);
    (heap / BREAKERS + inline) as u64
}

fn named(host: usize) -> Builder {
    CircuitBreakerLayer::builder().name(format!("host-{host:05}"))
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();

    let consecutive = bytes_per_breaker(|h| named(h).consecutive_failures(5));
    let count = bytes_per_breaker(|h| named(h).count_window(100).failure_rate(0.5));
    let time = bytes_per_breaker(|h| {
        named(h)
            .time_window(Duration::from_secs(10), 10)
            .failure_rate(0.5)
            .slow_calls(Duration::from_secs(1), 0.5)
    });
    println!(
        "bytes per idle breaker: consecutive {consecutive}, count window of 100 {count}, \
         time window of 10 buckets {time}"
    );
    for (policy, bytes) in [
        ("consecutive", consecutive),
        ("count window", count),
        ("time window", time),
    ] {
        assert!(bytes <= 1024, "{policy}: {bytes} bytes per idle breaker");
    }

    // Calls from one thread never collide: the breaker does not grow.
    let layer = named(0)
        .count_window(100)
        .failure_rate(0.5)
        .build()
        .unwrap();
    let (mut svc, _) = service(&layer);
    let runtime = paused_runtime();
    runtime.block_on(send(&mut svc, OK)).unwrap();
    let before = dhat::HeapStats::get().curr_bytes;
    for _ in 0..10_000 {
        runtime.block_on(send(&mut svc, OK)).unwrap();
    }
    assert_eq!(dhat::HeapStats::get().curr_bytes, before, "one thread");

    // Two threads calling at once spread the call counter and the
    // references of the response futures over cache lines of their own.
    let before = dhat::HeapStats::get().curr_bytes;
    let start = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (mut svc, start) = (svc.clone(), start.clone());
            std::thread::spawn(move || {
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                start.wait();
                for _ in 0..200_000 {
                    assert!(svc.poll_ready(&mut cx).is_ready());
                    let mut call = std::pin::pin!(svc.call(OK));
                    assert!(call.as_mut().poll(&mut cx).is_ready());
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let grown = dhat::HeapStats::get().curr_bytes - before;
    println!("bytes a breaker grew by when two threads called it at once: {grown}");
    assert!(grown <= 3 * 1024, "{grown} bytes");
}
