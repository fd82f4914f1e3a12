//! Requests counted from many threads at once add up exactly, also past the
//! number of per-thread cells.

use std::future::{Future, Ready, ready};
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use steadfast_retry::RetryLayer;
use tower::{Layer, Service};

#[derive(Clone, Copy)]
struct Echo;

impl Service<u32> for Echo {
    type Response = u32;
    type Error = std::io::Error;
    type Future = Ready<Result<u32, std::io::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: u32) -> Self::Future {
        ready(Ok(request))
    }
}

#[test]
fn requests_from_many_threads_are_all_counted() {
    let layer = RetryLayer::builder().seed(5).build().unwrap();
    let service = layer.layer(Echo);
    std::thread::scope(|scope| {
        for thread in 0..48 {
            let mut service = service.clone();
            scope.spawn(move || {
                let mut cx = Context::from_waker(Waker::noop());
                for i in 0..500 {
                    assert!(service.poll_ready(&mut cx).is_ready());
                    let future = pin!(service.call(thread * 1000 + i));
                    assert!(
                        matches!(future.poll(&mut cx), Poll::Ready(Ok(n)) if n == thread * 1000 + i)
                    );
                }
            });
        }
    });
    let stats = layer.handle().stats();
    assert_eq!(
        (stats.requests, stats.attempts, stats.retries),
        (24_000, 24_000, 0)
    );
}

#[test]
fn layers_count_apart() {
    let first = RetryLayer::builder().build().unwrap();
    let second = RetryLayer::builder().build().unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    let mut service = first.layer(Echo);
    for i in 0..3 {
        assert!(service.poll_ready(&mut cx).is_ready());
        let future = pin!(service.call(i));
        assert!(future.poll(&mut cx).is_ready());
    }
    assert_eq!(first.handle().stats().requests, 3);
    assert_eq!(second.handle().stats().requests, 0);
}
