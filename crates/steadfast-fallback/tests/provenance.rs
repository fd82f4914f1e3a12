//! Fallback answers are marked `Source::Fallback` when asked to.

mod support;

use steadfast_config::{ConfigResponse, Format, Source};
use steadfast_fallback::FallbackLayer;
use support::{answering, call, failing};
use tower::Layer;

#[tokio::test(start_paused = true)]
async fn value_answers_are_marked_fallback() {
    let layer = FallbackLayer::value(ConfigResponse::new("{}", Format::Json)).provenance();
    let mut svc = layer.layer(failing(Default::default()));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(response.source(), Source::Fallback);
}

#[tokio::test(start_paused = true)]
async fn service_answers_are_marked_fallback() {
    let layer = FallbackLayer::service(answering("{}")).provenance();
    let mut svc = layer.layer(failing(Default::default()));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(response.source(), Source::Fallback);
}

#[tokio::test(start_paused = true)]
async fn successful_calls_keep_their_source() {
    let layer = FallbackLayer::value(ConfigResponse::new("{}", Format::Json)).provenance();
    let mut svc = layer.layer(answering("{}"));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(response.source(), Source::Origin);
}

#[tokio::test(start_paused = true)]
async fn answers_are_left_unmarked_by_default() {
    let layer = FallbackLayer::value(ConfigResponse::new("{}", Format::Json));
    let mut svc = layer.layer(failing(Default::default()));

    let response = call(&mut svc, "app").await.unwrap();

    assert_eq!(response.source(), Source::Origin);
}
