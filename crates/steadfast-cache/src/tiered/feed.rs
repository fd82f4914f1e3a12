//! The invalidation feed of a [`Tiered`] store: its messages, where they
//! are delivered, and the task that applies them.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{RemoteKey, State, Tiered, bump};
use crate::store::{Freshness, Peek, RemoteChange, Store};

/// A message from a shared tier to the instances that keep local copies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalidation {
    /// Drop the copy of the key whose displayed form is this string.
    Key(String),
    /// Another instance wrote a newer entry of the key whose displayed
    /// form is this string: drop the local copy, so no read is answered
    /// from it again, and (when there was one) put the newer entry from
    /// the shared tier in its place.
    Updated(String),
    /// Another instance gave back the distributed single-flight lease of
    /// the key whose displayed form is this string: loads waiting for it
    /// try to take it at once.
    LeaseReleased(String),
    /// Drop every copy: the shared tier was cleared.
    All,
    /// The feed is (again) listening. Anything published while it was not
    /// may have been missed, so every local copy is dropped.
    Subscribed,
    /// The feed lost its subscription; it keeps trying to get it back.
    Unsubscribed,
}

/// Where an [`Invalidations`] feed delivers its messages.
///
/// It closes when the last clone of the [`Tiered`] that listens is dropped;
/// a feed ends then.
#[derive(Debug, Clone)]
pub struct InvalidationSink {
    tx: mpsc::Sender<Invalidation>,
}

impl InvalidationSink {
    pub(super) fn new(tx: mpsc::Sender<Invalidation>) -> Self {
        Self { tx }
    }

    /// A sink holding up to `capacity` undelivered messages, and where they
    /// arrive: for a listener of a feed other than a
    /// [`Tiered`](super::Tiered) store (a watcher following its fleet's
    /// notices).
    pub fn channel(capacity: usize) -> (Self, mpsc::Receiver<Invalidation>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Self { tx }, rx)
    }

    /// Delivers `message`; `false` when the sink is closed and the feed
    /// should end.
    pub async fn send(&self, message: Invalidation) -> bool {
        self.tx.send(message).await.is_ok()
    }

    /// Completes when the sink is closed.
    pub async fn closed(&self) {
        self.tx.closed().await;
    }

    /// Whether the sink is closed.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// A source of [`Invalidation`] messages for [`Tiered`], such as a Redis
/// pub/sub channel
/// ([`RedisStore::invalidations`](crate::redis::RedisStore::invalidations)).
pub trait Invalidations: Send + 'static {
    /// Delivers messages into `sink` until it closes, reconnecting as
    /// needed. It sends [`Invalidation::Subscribed`] each time it starts
    /// listening and [`Invalidation::Unsubscribed`] each time it stops.
    fn run(self, sink: InvalidationSink) -> impl Future<Output = ()> + Send + 'static;
}

/// Applies the messages of `rx` to `tiers` until the last clone of the
/// store is dropped.
pub(super) async fn apply<K, V, L1, L2>(
    tiers: Tiered<L1, L2>,
    mut rx: mpsc::Receiver<Invalidation>,
    mut stop: oneshot::Receiver<()>,
) where
    L1: Store<K, V>,
    L2: Store<K, V>,
    K: RemoteKey + Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let state = Arc::clone(&tiers.state);
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut stop => break,
            message = rx.recv() => message,
        };
        let Some(message) = message else { break };
        match message {
            Invalidation::Key(raw) => match K::from_remote_key(&raw) {
                Some(key) => {
                    state.tell(RemoteChange::Removed(&key));
                    tiers.forget(&key).await;
                    bump(
                        &state.remote_removals,
                        "steadfast_cache_l2_invalidations_total",
                    );
                    tracing::debug!(key = %raw, "dropped the local copies of a key removed by another instance");
                }
                None => ignored(&raw),
            },
            Invalidation::Updated(raw) => match K::from_remote_key(&raw) {
                Some(key) => {
                    state.tell(RemoteChange::Updated(&key));
                    let held = matches!(tiers.l1.peek(&key), Peek::Hit(_));
                    if let Err(error) = tiers.l1.remove(&key).await {
                        tracing::warn!(key = %raw, %error, "could not drop an outdated L1 copy");
                    }
                    tiers.state.trust.forget(tiers.state.trust.hash(&key));
                    bump(
                        &state.remote_removals,
                        "steadfast_cache_l2_invalidations_total",
                    );
                    tracing::debug!(key = %raw, "dropped an L1 copy another instance wrote a newer entry of");
                    if held {
                        tiers.take_newer(&key).await;
                    }
                }
                None => ignored(&raw),
            },
            Invalidation::LeaseReleased(raw) => match K::from_remote_key(&raw) {
                Some(key) => state.tell(RemoteChange::LeaseReleased(&key)),
                None => ignored(&raw),
            },
            Invalidation::All => {
                state.tell(RemoteChange::<K>::Cleared);
                state.trust.clear();
                if let Err(error) = tiers.l1.clear().await {
                    tracing::warn!(%error, "could not clear L1 after an invalidation");
                }
                if let Err(error) = tiers.l2.forget_all_local().await {
                    tracing::warn!(%error, "could not clear the local part of L2 after an invalidation");
                }
                bump(
                    &state.remote_clears,
                    "steadfast_cache_l2_remote_clears_total",
                );
                tracing::debug!("local copies cleared by another instance");
            }
            Invalidation::Subscribed => {
                state.tell(RemoteChange::<K>::Resubscribed);
                state.trust.clear();
                if let Err(error) = tiers.l1.clear().await {
                    tracing::warn!(%error, "could not clear L1 after subscribing");
                }
                bump(
                    &state.remote_clears,
                    "steadfast_cache_l2_remote_clears_total",
                );
                state.subscribed.store(true, Ordering::Release);
                tracing::debug!("listening for invalidations; L1 cleared");
            }
            Invalidation::Unsubscribed => {
                state.subscribed.store(false, Ordering::Release);
                tracing::warn!("invalidation feed lost; L1 copies may lag until it is back");
            }
        }
    }
    state.subscribed.store(false, Ordering::Release);
}

/// Applies to `store`'s own copies what another instance did, as heard
/// by the feed of a tier in front of it: a removal or a clear drops them.
/// Runs in the feed's task, so the work is spawned.
pub(super) fn relay<K, V, S>(store: &S, change: RemoteChange<'_, K>) -> bool
where
    S: Store<K, V>,
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return true;
    };
    match change {
        RemoteChange::Removed(key) => {
            let (store, key) = (store.clone(), key.clone());
            runtime.spawn(async move {
                if let Err(error) = store.forget_local(&key).await {
                    tracing::warn!(key = %key, %error, "could not drop an invalidated local copy");
                }
            });
        }
        RemoteChange::Cleared => {
            let store = store.clone();
            runtime.spawn(async move {
                if let Err(error) = store.forget_all_local().await {
                    tracing::warn!(%error, "could not clear the local copies after an invalidation");
                }
            });
        }
        _ => {}
    }
    true
}

fn ignored(raw: &str) {
    tracing::debug!(key = %raw, "ignored an invalidation for a foreign key");
}

impl<L1, L2> Tiered<L1, L2> {
    /// Drops every local copy of `key`: L1's, and those of L2's own local
    /// tiers (a disk snapshot behind a shared tier).
    async fn forget<K, V>(&self, key: &K)
    where
        L1: Store<K, V>,
        L2: Store<K, V>,
        K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        self.state.trust.forget(self.state.trust.hash(key));
        if let Err(error) = self.l1.remove(key).await {
            tracing::warn!(key = %key, %error, "could not drop an invalidated L1 copy");
        }
        if let Err(error) = self.l2.forget_local(key).await {
            tracing::warn!(key = %key, %error, "could not drop an invalidated local copy behind L2");
        }
    }

    /// Puts the newer entry of `key` another instance wrote into L1 and
    /// into L2's own local tiers, as a local write would have.
    async fn take_newer<K, V>(&self, key: &K)
    where
        L1: Store<K, V>,
        L2: Store<K, V>,
        K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        let found = self.l2.lookup(key).await;
        let now = Instant::now();
        let Some(entry) = found
            .entry
            .filter(|entry| entry.freshness(now) == Freshness::Fresh)
        else {
            if let Some(error) = found.error {
                tracing::debug!(key = %key, %error, "could not read the newer entry from L2");
            }
            return;
        };
        let copy = self.state.trust.cap(
            self.state.trust.hash(key),
            entry.clone(),
            now,
            self.l1_ttl_cap,
        );
        match self.l1.put_local(key.clone(), copy).await {
            Ok(()) => bump(&self.state.backfills, "steadfast_cache_l2_backfills_total"),
            Err(error) => tracing::debug!(key = %key, %error, "L1 back-fill failed"),
        }
        if let Err(error) = self.l2.put_local(key.clone(), entry).await {
            tracing::debug!(key = %key, %error, "could not write the newer entry behind L2");
        }
    }
}

impl State {
    /// Tells every observer of the store about `change`, and forgets those
    /// that are gone.
    fn tell<K: 'static>(&self, change: RemoteChange<'_, K>) {
        let mut observers = self
            .observers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        observers.retain(|observer| {
            observer
                .downcast_ref::<crate::store::RemoteObserver<K>>()
                .is_none_or(|observer| observer(change))
        });
    }
}
