//! One circuit for every clone and every service of one layer value; an open
//! circuit never touches the inner service or waits on its readiness.

mod support;

use std::time::Duration;

use std::task::Poll;
use steadfast_breaker::{CircuitBreakerLayer, State};
use steadfast_core::{BoxError, CircuitOpen};
use support::*;

#[tokio::test(start_paused = true)]
async fn clones_and_sibling_services_share_one_circuit() {
    let layer = CircuitBreakerLayer::builder()
        .consecutive_failures(3)
        .build()
        .unwrap();
    let (mut a, reached_a) = service(&layer);
    let (mut b, reached_b) = service(&layer.clone());
    let mut a2 = a.clone();

    send(&mut a, FAIL).await.unwrap_err();
    send(&mut a2, FAIL).await.unwrap_err();
    send(&mut b, FAIL).await.unwrap_err();
    for svc in [&mut a, &mut a2, &mut b] {
        assert_eq!(send(svc, OK).await, open(Duration::from_secs(60)));
    }
    assert_eq!((reached_a.get(), reached_b.get()), (2, 1));
    assert_eq!(layer.handle().state(), State::Open);
    assert_eq!(layer.handle().counters().rejected, 3);
}

#[tokio::test(start_paused = true)]
async fn separate_layers_keep_separate_circuits() {
    let build = || {
        CircuitBreakerLayer::builder()
            .consecutive_failures(1)
            .build()
            .unwrap()
    };
    let (first, second) = (build(), build());
    let (mut a, _) = service(&first);
    let (mut b, _) = service(&second);
    send(&mut a, FAIL).await.unwrap_err();
    assert_eq!(first.handle().state(), State::Open);
    assert_eq!(second.handle().state(), State::Closed);
    assert_eq!(send(&mut b, OK).await, Ok("done"));
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_answers_without_the_inner_readiness() {
    let layer = CircuitBreakerLayer::builder().build().unwrap();
    let handle = layer.handle();
    let (mut svc, mut inner) = tower_test::mock::spawn_layer::<&str, &str, _>(layer);

    // Closed: readiness is the inner service's.
    inner.allow(0);
    assert!(svc.poll_ready().is_pending());

    // Open: ready at once, and the call is answered without the inner service.
    handle.force_open();
    assert!(matches!(svc.poll_ready(), Poll::Ready(Ok(()))));
    let error: BoxError = svc.call("load").await.unwrap_err();
    assert_eq!(
        error.downcast_ref::<CircuitOpen>(),
        Some(&CircuitOpen::new(Duration::MAX))
    );
    assert!(matches!(inner.poll_request(), Poll::Pending));

    // Closed again: the inner readiness is honoured and the call reaches it.
    handle.reset();
    assert!(svc.poll_ready().is_pending());
    inner.allow(1);
    assert!(matches!(svc.poll_ready(), Poll::Ready(Ok(()))));
    let response = svc.call("load");
    let (request, send) = inner.next_request().await.unwrap();
    assert_eq!(request, "load");
    send.send_response("config");
    assert_eq!(response.await.unwrap(), "config");
}
