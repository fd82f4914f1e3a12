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
use crate::store::{Entry, Freshness, LeaseToken, Lookup, Peek, Store};

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
    if lead.is_cancelled() {
        forget(shared, lead, key).await;
    }
}

/// Drops what a cancelled load may have written: everywhere when the key
/// was invalidated here; in this instance's own tiers only when another
/// instance invalidated it (it removed the key from the shared tier, and
/// may have written a newer entry there since).
async fn forget<K, V, S>(shared: &Shared<K, V, S>, lead: &Lead<V>, key: &K)
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    let forgotten = if lead.is_cancelled_remotely() {
        shared.store.forget_local(key).await
    } else {
        shared.store.remove(key).await
    };
    if let Err(error) = forgotten {
        shared.store_failed(Some(key), StoreOp::Remove, &error);
    }
}

/// Reads `key` from the store, counting a failure of any tier and an
/// answer that ends a store episode; drops what the read copied into a
/// local tier if the key was invalidated meanwhile.
async fn read<K, V, S>(shared: &Shared<K, V, S>, lead: &Lead<V>, key: &K) -> Option<Entry<V>>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    let Lookup { entry, error } = shared.store.lookup(key).await;
    if entry.is_some() {
        forget_if_cancelled(shared, lead, key).await;
    }
    match &error {
        Some(error) => shared.store_failed(Some(key), StoreOp::Get, error),
        // A copy that is not fresh is no proof the store answered: a
        // store may have served it from a local tier without saying why.
        None if entry
            .as_ref()
            .is_none_or(|e| e.freshness(Instant::now()) == Freshness::Fresh) =>
        {
            shared.store_answered();
        }
        None => {}
    }
    entry
}

/// What taking a lease came to.
enum Leased {
    /// This load holds it.
    Held(LeaseToken),
    /// Another instance holds it.
    Busy,
    /// The store failed: load without it.
    Failed,
}

async fn take_lease<K, V, S>(shared: &Shared<K, V, S>, key: &K, ttl: std::time::Duration) -> Leased
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    match shared.store.acquire_lease(key, ttl).await {
        Ok(Some(token)) => {
            shared.store_answered();
            Leased::Held(token)
        }
        Ok(None) => {
            shared.store_answered();
            Leased::Busy
        }
        Err(error) => {
            shared.store_failed(Some(key), StoreOp::Lease, &error);
            Leased::Failed
        }
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

    if ask_store && let Some(entry) = read(&shared, &lead, &key).await {
        match entry.freshness(Instant::now()) {
            Freshness::Fresh => {
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
                    if let Some(until) = shared.held_off.until(&key, Instant::now()) {
                        tracing::debug!(key = %key, ?until, "a refresh failed lately; not refreshing yet");
                        return;
                    }
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
        }
    }

    let mut lease = HeldLease {
        store: &shared.store,
        key: &key,
        token: None,
        _value: std::marker::PhantomData,
    };
    if let Some(settings) = policy.lease {
        // Registered before the lease is asked for, so that a value or a
        // given-back lease announced from then on wakes this load.
        let waiting = shared.wakers.wait(&key);
        let mut waited = false;
        {
            let mut woken = std::pin::pin!(waiting.notify.notified());
            woken.as_mut().enable();
            match take_lease(&shared, &key, settings.ttl).await {
                Leased::Held(token) => lease.token = Some(token),
                Leased::Failed => {}
                Leased::Busy => {
                    waited = true;
                    shared.notify(&Event::LeaseBusy { key: &key });
                    tracing::debug!(key = %key, "another instance loads this key; waiting for it");
                    let deadline = Instant::now() + settings.max_wait;
                    loop {
                        tokio::select! {
                            () = woken.as_mut() => {}
                            () = sleep_until((Instant::now() + settings.poll_interval).min(deadline)) => {}
                        }
                        woken.set(waiting.notify.notified());
                        woken.as_mut().enable();
                        if let Some(entry) = read(&shared, &lead, &key).await
                            && entry.freshness(Instant::now()) == Freshness::Fresh
                        {
                            shared.notify(&Event::RemoteHit { key: &key });
                            lead.publish(Outcome::Value(entry.value, Served::Remote));
                            return;
                        }
                        // The holder gave the lease back (or it ran out)
                        // without a value: the first waiter to take it loads.
                        match take_lease(&shared, &key, settings.ttl).await {
                            Leased::Held(token) => {
                                tracing::debug!(key = %key, "took over the lease; loading here");
                                lease.token = Some(token);
                                break;
                            }
                            Leased::Busy => {}
                            Leased::Failed => break,
                        }
                        if Instant::now() >= deadline {
                            tracing::debug!(key = %key, "lease wait over; loading here");
                            break;
                        }
                    }
                }
            }
        }
        drop(waiting);
        // Another instance may have stored the value between the look-up
        // above and the lease: look again before loading.
        if lease.token.is_some()
            && (ask_store || waited)
            && let Some(entry) = read(&shared, &lead, &key).await
            && entry.freshness(Instant::now()) == Freshness::Fresh
        {
            let served = if remote || waited {
                shared.notify(&Event::RemoteHit { key: &key });
                Served::Remote
            } else {
                Served::Cache
            };
            lead.publish(Outcome::Value(entry.value, served));
            release(&shared, &key, &mut lease).await;
            return;
        }
    }

    // A refresh of this key failed lately: the stale value is the
    // answer a source that just failed would have given.
    if let Some(entry) = stale.as_ref().filter(|e| Instant::now() < e.expires_at)
        && let Some(until) = shared.held_off.until(&key, Instant::now())
    {
        tracing::debug!(key = %key, ?until, "a refresh failed lately; serving stale without loading");
        lead.publish(Outcome::Value(
            entry.value.clone(),
            Served::Stale(StaleReason::SourceFailed),
        ));
        release(&shared, &key, &mut lease).await;
        return;
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
            // A real answer ends a refresh pause, stored or not.
            if !(policy.is_fallback)(&value) {
                shared.held_off.clear(&key);
            }
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
                if lead.is_cancelled() {
                    forget(&shared, &lead, &key).await;
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
                    Some(entry) => {
                        if !lead.is_cancelled() {
                            let pause = shared.held_off.failed(&key, now);
                            tracing::debug!(key = %key, ?pause, "refresh failed; serving stale and pausing refreshes");
                        }
                        lead.publish(Outcome::Value(
                            entry.value,
                            Served::Stale(StaleReason::SourceFailed),
                        ));
                    }
                    None => lead.publish(Outcome::Failed(error)),
                },
            }
        }
    }

    release(&shared, &key, &mut lease).await;
}

/// Gives the lease back, if this load holds it.
async fn release<K, V, S>(shared: &Shared<K, V, S>, key: &K, lease: &mut HeldLease<'_, K, V, S>)
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    if let Some(token) = lease.token.take() {
        match shared.store.release_lease(key, token).await {
            Ok(()) => shared.store_answered(),
            Err(error) => shared.store_failed(Some(key), StoreOp::Lease, &error),
        }
    }
}
