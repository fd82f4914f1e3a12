//! The load behind a miss or a refresh, run in its own task so no caller,
//! the first included, can strand the others by going away.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use steadfast_core::{BoxError, SharedError};
use tokio::time::{Instant, sleep_until};
use tower_service::Service;

use crate::event::{Event, StaleReason, StoreOp};
use crate::flight::{Flights, Lead, Outcome, Served};
use crate::state::{Negative, Policy, Shared};
use crate::store::{Entry, Freshness, LeaseToken, Peek, Store};

/// What the caller that started the load already knew.
pub(crate) struct Start<V> {
    /// A stale entry to serve if the source fails.
    pub(crate) stale: Option<Entry<V>>,
    /// Whether the store must be asked with `get` before loading (the
    /// memory tier did not know, or held only a dead entry).
    pub(crate) ask_store: bool,
    /// Whether the memory tier said a remote tier must be asked.
    pub(crate) remote: bool,
    /// Whether this is the background refresh of a value served stale.
    pub(crate) refreshing: bool,
}

struct Finish<'a, K: Eq + Hash, V> {
    flights: &'a Flights<K, V>,
    key: &'a K,
    id: u64,
}

impl<K: Eq + Hash, V> Drop for Finish<'_, K, V> {
    fn drop(&mut self) {
        self.flights.finish(self.key, self.id);
    }
}

/// A distributed single-flight lease, given back in the background if the
/// load ends without giving it back itself (the source panicked, the task
/// was dropped).
struct HeldLease<'a, K, V, S>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    store: &'a S,
    key: &'a K,
    token: Option<LeaseToken>,
    _value: std::marker::PhantomData<fn() -> V>,
}

impl<K, V, S> Drop for HeldLease<'_, K, V, S>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let store = self.store.clone();
        let key = self.key.clone();
        runtime.spawn(async move {
            if let Err(error) = store.release_lease(&key, token).await {
                tracing::debug!(key = %key, %error, "could not give back the lease of an abandoned load");
            }
        });
    }
}

/// Removes `key` again when it was invalidated while the store was read: a
/// tiered store may have copied what it read, from before the
/// invalidation, into its local tier.
async fn forget_if_cancelled<K, V, S>(shared: &Shared<K, V, S>, lead: &Lead<V>, key: &K)
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    if lead.is_cancelled()
        && let Err(error) = shared.store.remove(key).await
    {
        shared.store_failed(Some(key), StoreOp::Remove, &error);
    }
}

/// Loads `key` through `svc`, once it is ready, and hands the outcome to
/// every caller waiting on `lead`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run<Svc, Req, K, V, E, S>(
    shared: Arc<Shared<K, V, S>>,
    policy: Policy<V, E>,
    key: K,
    req: Req,
    mut svc: Svc,
    lead: Lead<V>,
    start: Start<V>,
) where
    Svc: Service<Req, Response = V, Error = E>,
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Into<BoxError>,
    S: Store<K, V>,
{
    let _finish = Finish {
        flights: &shared.flights,
        key: &key,
        id: lead.id,
    };
    let Start {
        mut stale,
        ask_store,
        remote,
        refreshing,
    } = start;

    if let Peek::Hit(entry) = shared.store.peek(&key)
        && entry.freshness(Instant::now()) == Freshness::Fresh
    {
        lead.publish(Outcome::Value(entry.value, Served::Cache));
        return;
    }

    if ask_store {
        let found = shared.store.get(&key).await;
        if matches!(found, Ok(Some(_))) {
            forget_if_cancelled(&shared, &lead, &key).await;
        }
        match found {
            Ok(Some(entry)) => match entry.freshness(Instant::now()) {
                Freshness::Fresh => {
                    shared.store_answered();
                    let served = if remote {
                        shared.notify(&Event::RemoteHit { key: &key });
                        Served::Remote
                    } else {
                        Served::Cache
                    };
                    lead.publish(Outcome::Value(entry.value, served));
                    return;
                }
                Freshness::Revalidate => {
                    if !refreshing {
                        lead.publish(Outcome::Value(
                            entry.value.clone(),
                            Served::Stale(StaleReason::Revalidating),
                        ));
                        shared.counters.refresh();
                        shared.notify(&Event::RefreshStarted { key: &key });
                    }
                    stale = Some(entry);
                }
                Freshness::StaleIfError => {
                    if stale
                        .as_ref()
                        .is_none_or(|known| known.expires_at < entry.expires_at)
                    {
                        stale = Some(entry);
                    }
                }
                Freshness::Expired => {}
            },
            Ok(None) => shared.store_answered(),
            Err(error) => shared.store_failed(Some(&key), StoreOp::Get, &error),
        }
    }

    let mut lease = HeldLease {
        store: &shared.store,
        key: &key,
        token: None,
        _value: std::marker::PhantomData,
    };
    if let Some(settings) = policy.lease {
        match shared.store.acquire_lease(&key, settings.ttl).await {
            Ok(Some(token)) => {
                shared.store_answered();
                lease.token = Some(token);
            }
            Ok(None) => {
                shared.store_answered();
                shared.notify(&Event::LeaseBusy { key: &key });
                tracing::debug!(key = %key, "another instance loads this key; waiting for it");
                let deadline = Instant::now() + settings.max_wait;
                loop {
                    sleep_until((Instant::now() + settings.poll_interval).min(deadline)).await;
                    let found = shared.store.get(&key).await;
                    if matches!(found, Ok(Some(_))) {
                        forget_if_cancelled(&shared, &lead, &key).await;
                    }
                    match found {
                        Ok(Some(entry)) if entry.freshness(Instant::now()) == Freshness::Fresh => {
                            shared.store_answered();
                            shared.notify(&Event::RemoteHit { key: &key });
                            lead.publish(Outcome::Value(entry.value, Served::Remote));
                            return;
                        }
                        Ok(None) => shared.store_answered(),
                        Ok(_) => {}
                        Err(error) => shared.store_failed(Some(&key), StoreOp::Get, &error),
                    }
                    if Instant::now() >= deadline {
                        tracing::debug!(key = %key, "lease wait over; loading here");
                        break;
                    }
                }
            }
            Err(error) => shared.store_failed(Some(&key), StoreOp::Lease, &error),
        }
    }

    shared.counters.load();
    let started = Instant::now();
    let result = match std::future::poll_fn(|cx| svc.poll_ready(cx)).await {
        Ok(()) => svc.call(req).await,
        Err(error) => Err(error),
    };
    let elapsed = started.elapsed();
    match result {
        Ok(value) => {
            tracing::debug!(key = %key, ?elapsed, "cache loaded");
            shared.notify(&Event::Loaded { key: &key, elapsed });
            let entry = shared.entry(&policy, value.clone(), Instant::now());
            let storable = policy.stores(&value);
            lead.publish(Outcome::Value(value, Served::Origin));
            if storable && !lead.is_cancelled() {
                if let Some(negative) = &shared.negative {
                    negative.remove(&key);
                }
                match shared.store.put(key.clone(), entry).await {
                    Ok(()) => shared.store_answered(),
                    Err(error) => shared.store_failed(Some(&key), StoreOp::Put, &error),
                }
                if lead.is_cancelled()
                    && let Err(error) = shared.store.remove(&key).await
                {
                    shared.store_failed(Some(&key), StoreOp::Remove, &error);
                }
            }
        }
        Err(error) => {
            shared.counters.load_error();
            let not_found = (policy.not_found)(&error);
            let error = SharedError::from_box(error.into());
            // Debug: during an outage this is every load, so every request
            // past the fresh window. The failure reaches the callers (as
            // the error or a stale value) and the listener.
            tracing::debug!(key = %key, ?elapsed, error = %error, not_found, "cache load failed");
            shared.notify(&Event::LoadFailed {
                key: &key,
                error: &error,
            });
            let now = Instant::now();
            match (not_found, &shared.negative, policy.negative_ttl) {
                (true, Some(negative), Some(ttl)) => {
                    if !lead.is_cancelled() {
                        negative.insert(
                            key.clone(),
                            Negative {
                                until: now + ttl,
                                error: error.clone(),
                            },
                        );
                        if lead.is_cancelled() {
                            negative.remove(&key);
                        }
                        if stale.is_some()
                            && let Err(e) = shared.store.remove(&key).await
                        {
                            shared.store_failed(Some(&key), StoreOp::Remove, &e);
                        }
                    }
                    lead.publish(Outcome::Failed(error));
                }
                _ => match stale.filter(|entry| now < entry.expires_at) {
                    Some(entry) => lead.publish(Outcome::Value(
                        entry.value,
                        Served::Stale(StaleReason::SourceFailed),
                    )),
                    None => lead.publish(Outcome::Failed(error)),
                },
            }
        }
    }

    if let Some(token) = lease.token.take() {
        match shared.store.release_lease(&key, token).await {
            Ok(()) => shared.store_answered(),
            Err(error) => shared.store_failed(Some(&key), StoreOp::Lease, &error),
        }
    }
}
