//! Distributed single-flight leases on Redis: exclusive, released only by
//! their holder, and expiring on their own.

#[path = "support/redis.rs"]
mod support;

use std::time::Duration;

use steadfast_cache::{LeaseToken, Store};
use support::{cleanup, prefix, redis_or_skip, store};

#[tokio::test]
async fn a_lease_is_exclusive_until_its_holder_releases_it() {
    let Some(mut raw) = redis_or_skip("a_lease_is_exclusive_until_its_holder_releases_it").await
    else {
        return;
    };
    let prefix = prefix("lease");
    let (a, b) = (store::<String>(&prefix), store::<String>(&prefix));
    let key = "cfg".to_owned();
    let ttl = Duration::from_secs(5);

    let token = a
        .acquire_lease(&key, ttl)
        .await
        .unwrap()
        .expect("free lease");
    assert_eq!(b.acquire_lease(&key, ttl).await.unwrap(), None);
    assert_eq!(
        a.acquire_lease(&key, ttl).await.unwrap(),
        None,
        "not reentrant"
    );

    let held: String = redis::cmd("GET")
        .arg(a.lease_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(held, token.0.to_string());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(a.lease_key(&key))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!((4_000..=5_000).contains(&pttl), "PTTL {pttl}");

    b.release_lease(&key, LeaseToken(token.0.wrapping_add(1)))
        .await
        .unwrap();
    assert_eq!(
        b.acquire_lease(&key, ttl).await.unwrap(),
        None,
        "a stranger cannot release it"
    );

    a.release_lease(&key, token).await.unwrap();
    let next = b.acquire_lease(&key, ttl).await.unwrap().expect("released");
    assert_ne!(next, token);
    assert_eq!(a.get(&key).await.unwrap(), None, "a lease is not an entry");

    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.leases_acquired, sa.leases_denied), (1, 1));
    assert_eq!((sb.leases_acquired, sb.leases_denied), (1, 2));
    cleanup(&mut raw, &prefix).await;
}

#[tokio::test]
async fn a_lease_expires_after_its_ttl() {
    let Some(mut raw) = redis_or_skip("a_lease_expires_after_its_ttl").await else {
        return;
    };
    let prefix = prefix("lease_ttl");
    let (a, b) = (store::<String>(&prefix), store::<String>(&prefix));
    let key = "cfg".to_owned();
    assert!(
        a.acquire_lease(&key, Duration::from_millis(100))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        b.acquire_lease(&key, Duration::from_secs(5)).await.unwrap(),
        None
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        b.acquire_lease(&key, Duration::from_secs(5))
            .await
            .unwrap()
            .is_some()
    );
    cleanup(&mut raw, &prefix).await;
}
