//! [`RedisFleet`]: one poller per fleet, elected through the Redis L2 the
//! instances share.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use steadfast_cache::redis::{PollerLease, RedisStore};
use steadfast_cache::{Codec, Invalidation, InvalidationSink, Invalidations, Store, Tiered};
use steadfast_config::ConfigResponse;
use steadfast_config::watch::{BoxFuture, Fleet, FleetError, Notices};
use tokio::sync::{oneshot, watch};

use crate::layers::Key;

/// How many notices wait to be handed out before the feed waits.
const NOTICES: usize = 256;

/// The [`Fleet`] of the instances that share one Redis L2
/// ([`Tiered`] over a [`RedisStore`]), for
/// [`WatchBuilder::fleet`](steadfast_config::watch::WatchBuilder::fleet).
///
/// - The poller of a key is elected by the store's
///   [`PollerLease`]: `SET NX PX` of a random token of this instance,
///   renewed at each tick, taken over when its holder dies (or gives it up
///   when its watch stops).
/// - The others learn of each new version from the namespace's
///   invalidation channel (a write by another instance arrives as
///   [`Invalidation::Updated`]), on a subscription of this fleet's own,
///   then drop their L1 copy and read the version from L2.
/// - Redis down: the lease cannot be asked for, and every instance polls
///   the source on its own; when Redis is back they elect a poller again.
///   While the subscription is lost, a follower reads L2 at each tick.
///
/// Make one per instance, from the store its stack's cache uses.
pub struct RedisFleet<L1, C> {
    inner: Arc<Inner<L1, C>>,
}

struct Inner<L1, C> {
    tiered: Tiered<L1, RedisStore<Key, ConfigResponse, C>>,
    lease: PollerLease<Key, ConfigResponse, C>,
    followed: Mutex<Followed>,
    _stop: oneshot::Sender<()>,
}

#[derive(Default)]
struct Followed {
    listening: bool,
    keys: HashMap<Arc<str>, watch::Sender<Notices>>,
}

impl<L1, C> RedisFleet<L1, C>
where
    L1: Store<Key, ConfigResponse>,
    C: Codec<ConfigResponse>,
{
    /// The fleet of `store`'s namespace: its lease, and a subscription to
    /// its invalidation channel (opened now, kept until the fleet is
    /// dropped). Needs a Tokio runtime, to listen on.
    pub fn new(store: &Tiered<L1, RedisStore<Key, ConfigResponse, C>>) -> Result<Self, NoRuntime> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(NoRuntime);
        }
        let l2 = store.l2();
        let (stop, stopped) = oneshot::channel();
        let inner = Arc::new(Inner {
            tiered: store.clone(),
            lease: l2.poller_lease(),
            followed: Mutex::new(Followed::default()),
            _stop: stop,
        });
        let (sink, messages) = InvalidationSink::channel(NOTICES);
        tokio::spawn(l2.invalidations().run(sink));
        tokio::spawn(dispatch(Arc::downgrade(&inner), messages, stopped));
        Ok(Self { inner })
    }
}

impl<L1, C> Inner<L1, C> {
    fn followed(&self) -> std::sync::MutexGuard<'_, Followed> {
        self.followed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands the feed's messages out to the followers of each key, until the
/// fleet is dropped (which closes the feed's sink, ending it).
async fn dispatch<L1, C>(
    inner: Weak<Inner<L1, C>>,
    mut messages: tokio::sync::mpsc::Receiver<Invalidation>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let message = tokio::select! {
            biased;
            _ = &mut stopped => return,
            message = messages.recv() => message,
        };
        let (Some(message), Some(inner)) = (message, inner.upgrade()) else {
            return;
        };
        let mut followed = inner.followed();
        let bump = |notices: &mut Notices| notices.updates += 1;
        match message {
            Invalidation::Updated(key) | Invalidation::Key(key) => {
                if let Some(sender) = followed.keys.get(key.as_str()) {
                    sender.send_modify(bump);
                }
            }
            Invalidation::All => followed.keys.values().for_each(|s| s.send_modify(bump)),
            Invalidation::Subscribed => {
                // Anything published meanwhile may have been missed.
                followed.listening = true;
                for sender in followed.keys.values() {
                    sender.send_modify(|n| {
                        n.listening = true;
                        n.updates += 1;
                    });
                }
            }
            Invalidation::Unsubscribed => {
                followed.listening = false;
                for sender in followed.keys.values() {
                    sender.send_modify(|n| n.listening = false);
                }
            }
            _ => {}
        }
    }
}

impl<L1, C> Fleet for RedisFleet<L1, C>
where
    L1: Store<Key, ConfigResponse>,
    C: Codec<ConfigResponse>,
{
    fn hold<'a>(&'a self, key: &'a str, ttl: Duration) -> BoxFuture<'a, Result<bool, FleetError>> {
        Box::pin(async move {
            self.inner
                .lease
                .hold(key, ttl)
                .await
                .map_err(FleetError::new)
        })
    }

    fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self.inner.lease.release(key).await;
        })
    }

    fn follow(&self, key: &str) -> watch::Receiver<Notices> {
        let mut followed = self.inner.followed();
        let listening = followed.listening;
        followed
            .keys
            .entry(Arc::from(key))
            .or_insert_with(|| {
                watch::channel(Notices {
                    listening,
                    updates: 0,
                })
                .0
            })
            .subscribe()
    }

    fn adopt<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<ConfigResponse>, FleetError>> {
        Box::pin(async move {
            let key: Key = Arc::from(key);
            let shared = self
                .inner
                .tiered
                .l2()
                .get(&key)
                .await
                .map_err(FleetError::new)?;
            let Some(entry) = shared else {
                return Ok(None);
            };
            // The next load reads the new version from L2 (and back-fills
            // L1 with it), as the invalidation would have it, but now.
            let _ = self.inner.tiered.l1().remove(&key).await;
            Ok(Some(entry.value))
        })
    }
}

/// [`RedisFleet::new`] was called outside a Tokio runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRuntime;

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("a RedisFleet listens on a Tokio runtime; none is running")
    }
}

impl std::error::Error for NoRuntime {}

impl<L1, C> Clone for RedisFleet<L1, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<L1, C> fmt::Debug for RedisFleet<L1, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let followed = self.inner.followed();
        f.debug_struct("RedisFleet")
            .field("token", &self.inner.lease.token())
            .field("listening", &followed.listening)
            .field("keys", &followed.keys.len())
            .finish_non_exhaustive()
    }
}
