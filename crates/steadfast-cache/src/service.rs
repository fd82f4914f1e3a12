//! The [`Cache`] service.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;
use std::task::{Context, Poll};

use steadfast_core::{BoxError, SharedError, Source};
use tokio::time::Instant;
use tower_service::Service;

use crate::event::{Event, StaleReason};
use crate::flight::{Join, Lead, Outcome, Served, Waiter};
use crate::future::ResponseFuture;
use crate::handle::CacheHandle;
use crate::key::KeyFn;
use crate::load::{self, Start};
use crate::state::{Policy, Shared};
use crate::store::{Entry, Freshness, Peek, Store};

/// What a look-up found, short of a fresh value.
enum NotFresh<V> {
    /// An entry in its stale-while-revalidate window.
    Revalidate(Entry<V>),
    /// An entry in its stale-if-error window.
    StaleIfError(Entry<V>),
    /// An entry past all its windows.
    Expired,
    /// Nothing in this store.
    Miss,
    /// Nothing in memory; a remote tier must be asked.
    Unknown,
}

/// A service that answers from a cache and loads misses through its inner
/// service, one load per key. Made by [`CacheLayer`](crate::CacheLayer).
///
/// Every clone, and every service made by the same layer, shares one store,
/// one set of running loads and one set of counters.
///
/// Hits are answered from [`Store::peek`] without allocating or awaiting.
/// Misses and refreshes run in a spawned task (so the service must be
/// called within a Tokio runtime) on a clone of the inner service, which the
/// task drives ready before calling it. The cache itself is always ready:
/// hits never wait on the source's readiness.
///
/// # Requirements
///
/// The inner service is `Clone + Send + 'static` with a `Send` future, and
/// requests are `Send + 'static` (a miss moves its request into the load
/// task; nothing is cloned). Responses are `Clone` (keep them cheap: an
/// `Arc` or `Bytes` inside). The error needs no `Clone`: a failed load is
/// shared once as a [`SharedError`] and each caller gets
/// `E::from(shared)`, so `E: From<SharedError> + Into<BoxError>`, which
/// `BoxError` and `steadfast_config::ConfigError` satisfy (`ConfigError`
/// comes back as the very variant the source returned).
pub struct Cache<Svc, K, V, E, F, S> {
    inner: Svc,
    key_fn: F,
    policy: Policy<V, E>,
    shared: Arc<Shared<K, V, S>>,
}

impl<Svc, K, V, E, F, S> Cache<Svc, K, V, E, F, S> {
    pub(crate) fn new(
        inner: Svc,
        key_fn: F,
        policy: Policy<V, E>,
        shared: Arc<Shared<K, V, S>>,
    ) -> Self {
        Self {
            inner,
            key_fn,
            policy,
            shared,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &Svc {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut Svc {
        &mut self.inner
    }

    /// The inner service, consuming the cache service.
    pub fn into_inner(self) -> Svc {
        self.inner
    }

    /// A handle on the shared cache: invalidation and counters.
    pub fn handle(&self) -> CacheHandle<K, V, S> {
        CacheHandle::new(Arc::clone(&self.shared), self.policy.windows())
    }
}

impl<Svc: Clone, K, V, E, F: Clone, S> Clone for Cache<Svc, K, V, E, F, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            key_fn: self.key_fn.clone(),
            policy: self.policy,
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<Svc: fmt::Debug, K, V, E, F, S> fmt::Debug for Cache<Svc, K, V, E, F, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl<Svc, Req, K, V, E, F, S> Service<Req> for Cache<Svc, K, V, E, F, S>
where
    Svc: Service<Req, Response = V, Error = E> + Clone + Send + 'static,
    Svc::Future: Send + 'static,
    Req: Send + 'static,
    F: KeyFn<Req, Key = K>,
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: From<SharedError> + Into<BoxError> + Send + 'static,
    S: Store<K, V>,
{
    type Response = V;
    type Error = E;
    type Future = ResponseFuture<V, E>;

    #[inline]
    /// Always ready: a hit needs nothing from the inner service, so it
    /// never waits on the source's readiness (a concurrency limit, a
    /// buffer). Each load drives its own clone of the inner service ready
    /// before calling it.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, req: Req) -> Self::Future {
        let owned;
        let key: &K = match self.key_fn.borrow_key(&req) {
            Some(key) => key,
            None => {
                owned = self.key_fn.key(&req);
                &owned
            }
        };
        let shared = &*self.shared;
        let now = Instant::now();
        let found = match shared.store.peek(key) {
            Peek::Hit(entry) => match entry.freshness(now) {
                Freshness::Fresh => return ResponseFuture::ready(Ok(self.hit(key, entry.value))),
                Freshness::Revalidate => NotFresh::Revalidate(entry),
                Freshness::StaleIfError => NotFresh::StaleIfError(entry),
                Freshness::Expired => NotFresh::Expired,
            },
            Peek::Miss => NotFresh::Miss,
            Peek::Unknown => NotFresh::Unknown,
        };
        let key = key.clone();
        self.not_fresh(req, key, found, now)
    }
}

impl<Svc, K, V, E, F, S> Cache<Svc, K, V, E, F, S>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V>,
{
    /// Answers `req` from memory when its entry there is fresh, exactly as
    /// [`call`](Service::call) would (counted and reported as a hit, marked
    /// [`Source::Cache`]); `None` when it is not, and then only `call`
    /// answers it (stale, loading, waiting). Needs no `&mut`, no
    /// readiness and no future.
    #[inline]
    pub fn fresh<Req>(&self, req: &Req) -> Option<V>
    where
        F: KeyFn<Req, Key = K>,
    {
        let mut value = self.fresh_with(req, V::clone)?;
        (self.policy.mark)(&mut value, Source::Cache);
        Some(value)
    }

    /// `f` of the fresh value in memory for `req`, counted and reported as
    /// a hit, as [`fresh`](Self::fresh) would answer it but without a copy
    /// of the value (and without its provenance mark): for a caller that
    /// needs only a part of it, such as a value decoded from it before.
    /// `None` when the entry is not fresh, and `f` is then not called.
    #[inline]
    pub fn fresh_with<Req, R>(&self, req: &Req, f: impl FnOnce(&V) -> R) -> Option<R>
    where
        F: KeyFn<Req, Key = K>,
    {
        let owned;
        let key: &K = match self.key_fn.borrow_key(req) {
            Some(key) => key,
            None => {
                owned = self.key_fn.key(req);
                &owned
            }
        };
        let shared = &*self.shared;
        let now = Instant::now();
        let answer = shared
            .store
            .peek_with(key, |entry| {
                (entry.freshness(now) == Freshness::Fresh).then(|| f(&entry.value))
            })
            .flatten()?;
        shared.counters.l1_hit();
        shared.notify(&Event::Hit { key });
        Some(answer)
    }

    /// A fresh value from memory, counted, reported and marked.
    #[inline]
    fn hit(&self, key: &K, mut value: V) -> V {
        let shared = &*self.shared;
        shared.counters.l1_hit();
        shared.notify(&Event::Hit { key });
        (self.policy.mark)(&mut value, Source::Cache);
        value
    }
}

impl<Svc, K, V, E, F, S> Cache<Svc, K, V, E, F, S>
where
    K: Clone + Eq + Hash + fmt::Display + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: From<SharedError> + Into<BoxError> + Send + 'static,
    S: Store<K, V>,
{
    /// Everything but a fresh hit: a stale value, a cached "not found", or
    /// a wait for a load.
    #[inline(never)]
    fn not_fresh<Req>(
        &mut self,
        req: Req,
        key: K,
        found: NotFresh<V>,
        now: Instant,
    ) -> ResponseFuture<V, E>
    where
        Svc: Service<Req, Response = V, Error = E> + Clone + Send + 'static,
        Svc::Future: Send + 'static,
        Req: Send + 'static,
    {
        let shared = &*self.shared;
        let (stale, ask_store, remote) = match found {
            NotFresh::Revalidate(entry) => {
                shared.counters.stale_served();
                shared.notify(&Event::StaleServed {
                    key: &key,
                    reason: StaleReason::Revalidating,
                });
                let mut value = entry.value.clone();
                // After a failed refresh, the next waits out its pause.
                if shared.held_off.until(&key, now).is_none()
                    && let Some(lead) = shared.flights.lead(&key)
                {
                    shared.counters.refresh();
                    shared.notify(&Event::RefreshStarted { key: &key });
                    tracing::debug!(key = %key, "serving stale; refreshing in the background");
                    let start = Start {
                        stale: Some(entry),
                        ask_store: true,
                        remote: false,
                        refreshing: true,
                    };
                    self.spawn_load(key, req, lead, start);
                }
                (self.policy.mark)(&mut value, Source::Stale);
                return ResponseFuture::ready(Ok(value));
            }
            NotFresh::StaleIfError(entry) => (Some(entry), true, false),
            NotFresh::Expired => (None, true, false),
            NotFresh::Miss => (None, false, false),
            NotFresh::Unknown => (None, true, true),
        };

        if let Some(negative) = &shared.negative
            && let Some(found) = negative.get(&key)
            && now < found.until
        {
            shared.counters.negative_hit();
            shared.notify(&Event::NegativeHit { key: &key });
            return ResponseFuture::ready(Err(E::from(found.error)));
        }

        match shared.flights.join(&key) {
            Join::Wait(waiter) => match waiter.known() {
                // The load is over but not yet forgotten (its value is
                // being stored): its outcome is known, so this caller is
                // answered at once, as from memory.
                Some(outcome) => {
                    ResponseFuture::ready(answer(shared, &self.policy, &key, outcome, Role::Late))
                }
                None => {
                    shared.notify(&Event::Coalesced { key: &key });
                    self.wait(key, waiter, Role::Joined)
                }
            },
            Join::Lead(lead, waiter) => {
                shared.notify(&Event::Miss { key: &key });
                tracing::debug!(key = %key, "cache miss; loading");
                let start = Start {
                    stale,
                    ask_store,
                    remote,
                    refreshing: false,
                };
                self.spawn_load(key.clone(), req, lead, start);
                self.wait(key, waiter, Role::Lead)
            }
        }
    }

    fn spawn_load<Req>(&mut self, key: K, req: Req, lead: Lead<V>, start: Start<V>)
    where
        Svc: Service<Req, Response = V, Error = E> + Clone + Send + 'static,
        Svc::Future: Send + 'static,
        Req: Send + 'static,
    {
        tokio::spawn(load::run(
            Arc::clone(&self.shared),
            self.policy,
            key,
            req,
            self.inner.clone(),
            lead,
            start,
        ));
    }

    fn wait(&self, key: K, waiter: Waiter<V>, role: Role) -> ResponseFuture<V, E> {
        let shared = Arc::clone(&self.shared);
        let policy = self.policy;
        ResponseFuture::waiting(Box::pin(async move {
            let outcome = waiter.outcome().await;
            answer(&shared, &policy, &key, outcome, role)
        }))
    }
}

/// How a caller that waited on a load came to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// It found nothing servable and started the load.
    Lead,
    /// It joined the load while it ran.
    Joined,
    /// It came after the load's outcome was known.
    Late,
}

/// Hands `outcome` to one caller, counted once by how it is answered: a
/// fresh value from memory or from a shared tier, a value just loaded from
/// the source (for the caller that started the load, or one that joined
/// it), a stale value, or the load's error.
fn answer<K, V, E, S>(
    shared: &Shared<K, V, S>,
    policy: &Policy<V, E>,
    key: &K,
    outcome: Outcome<V>,
    role: Role,
) -> Result<V, E>
where
    K: Eq + Hash + fmt::Display,
    E: From<SharedError>,
{
    let mark = policy.mark;
    match outcome {
        Outcome::Value(mut value, served) => {
            match (served, role) {
                (Served::Origin, Role::Lead) => shared.counters.miss(),
                (Served::Origin, Role::Joined) => shared.counters.coalesced(),
                // A value not stored (a fallback answer, one `store_if`
                // refuses): a late caller has it from the load, as a joined
                // one does, not from memory.
                (Served::Origin, Role::Late) if !policy.stores(&value) => {
                    shared.counters.coalesced()
                }
                (Served::Origin | Served::Cache, _) => {
                    shared.counters.l1_hit();
                    shared.notify(&Event::Hit { key });
                    mark(&mut value, Source::Cache);
                }
                (Served::Remote, _) => {
                    shared.counters.l2_hit();
                    mark(&mut value, Source::Cache);
                }
                (Served::Stale(reason), _) => {
                    shared.counters.stale_served();
                    shared.notify(&Event::StaleServed { key, reason });
                    mark(&mut value, Source::Stale);
                }
            }
            Ok(value)
        }
        Outcome::Failed(error) => {
            shared.counters.error();
            shared.notify(&Event::ErrorServed { key, error: &error });
            Err(E::from(error))
        }
    }
}
