//! RedisStoreBuilder rejects bad settings with a typed error, without
//! needing a Redis.

use std::error::Error;
use std::time::Duration;

use steadfast_cache::redis::{RedisBuildErrorKind, RedisStore};

type Store = RedisStore<String, String>;

#[tokio::test]
async fn a_bad_url_is_an_invalid_url_error() {
    for url in [
        "",
        "not a url",
        "http://127.0.0.1:6379",
        "redis://host:notaport",
    ] {
        let error = Store::builder(url).build().unwrap_err();
        assert_eq!(error.kind(), RedisBuildErrorKind::InvalidUrl, "{url:?}");
        assert_eq!(error.to_string(), "invalid Redis URL");
        assert!(error.source().is_some(), "{url:?}");
    }
}

#[tokio::test]
async fn nonsense_settings_are_refused() {
    let url = "redis://127.0.0.1:6379";
    let cases = [
        (
            Store::builder(url).prefix(""),
            RedisBuildErrorKind::EmptyPrefix,
        ),
        (
            Store::builder(url).prefix("app{x}"),
            RedisBuildErrorKind::InvalidPrefix,
        ),
        (
            Store::builder(url).prefix("app}"),
            RedisBuildErrorKind::InvalidPrefix,
        ),
        (
            Store::builder(url).call_timeout(Duration::ZERO),
            RedisBuildErrorKind::ZeroTimeout,
        ),
        (
            Store::builder(url).connect_timeout(Duration::ZERO),
            RedisBuildErrorKind::ZeroTimeout,
        ),
        (
            Store::builder(url).reconnect_backoff(Duration::ZERO, Duration::from_secs(1)),
            RedisBuildErrorKind::InvalidBackoff,
        ),
        (
            Store::builder(url).reconnect_backoff(Duration::from_secs(2), Duration::from_secs(1)),
            RedisBuildErrorKind::InvalidBackoff,
        ),
        (
            Store::builder(url).fence_lifetime(Duration::ZERO),
            RedisBuildErrorKind::ZeroFenceLifetime,
        ),
    ];
    for (builder, kind) in cases {
        let error = builder.build().unwrap_err();
        assert_eq!(error.kind(), kind);
        assert!(error.source().is_none());
    }
}

#[test]
fn building_outside_a_runtime_is_refused() {
    let error = Store::builder("redis://127.0.0.1:6379")
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), RedisBuildErrorKind::NoRuntime);
    assert_eq!(
        error.to_string(),
        "a Redis store must be built inside a tokio runtime"
    );
}

#[tokio::test]
async fn a_good_url_builds_without_connecting() {
    let store = Store::builder("redis://127.0.0.1:1/3")
        .prefix("p")
        .build()
        .unwrap();
    assert_eq!(store.prefix(), "p");
    assert_eq!(store.channel(), "p:invalidate");
    assert_eq!(store.redis_key(&"k".to_owned()), "p:{k}");
    assert_eq!(store.lease_key(&"k".to_owned()), "p:{k}:lease");
    assert!(!store.is_cluster());
}

#[cfg(feature = "redis-cluster")]
#[tokio::test]
async fn a_cluster_needs_at_least_one_good_node_url() {
    let none: [&str; 0] = [];
    let error = Store::cluster_builder(none).build().unwrap_err();
    assert_eq!(error.kind(), RedisBuildErrorKind::InvalidUrl);
    let error = Store::cluster_builder(["redis://127.0.0.1:7000", "not a url"])
        .build()
        .unwrap_err();
    assert_eq!(error.kind(), RedisBuildErrorKind::InvalidUrl);
    assert!(error.source().is_some());
    let store = Store::cluster_builder(["redis://127.0.0.1:1", "redis://127.0.0.1:2"])
        .prefix("p")
        .build()
        .unwrap();
    assert!(store.is_cluster());
    assert_eq!(store.redis_key(&"k".to_owned()), "p:{k}");
}
