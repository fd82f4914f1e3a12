//! [`RedisInvalidations`]: the pub/sub listener behind a
//! [`Tiered`](crate::Tiered) store's L1 coherence.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{ConnectionInfo, PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::gate::Backoff;
use super::message;
use crate::tiered::{Invalidation, InvalidationSink, Invalidations};

/// The invalidations of one [`RedisStore`](super::RedisStore) namespace,
/// heard on its `<prefix>:invalidate` channel; made by
/// [`RedisStore::invalidations`](super::RedisStore::invalidations).
///
/// It subscribes over RESP3 on a `ConnectionManager` of its own, which
/// reconnects and subscribes again by itself when the connection breaks
/// (Redis restarted, a socket reset); the feed reports
/// [`Invalidation::Unsubscribed`] when the connection is lost and
/// [`Invalidation::Subscribed`] when the subscription is back, so that
/// local copies which may have missed a message are dropped. A periodic
/// `PING` ([`keepalive`](RedisInvalidations::keepalive)) catches a
/// connection that went silent without breaking, which is then replaced.
/// On a cluster (where a message reaches every node) it listens on one
/// node and moves to the next when that one stops answering.
///
/// A put from another instance arrives as [`Invalidation::Updated`], a
/// removal as [`Invalidation::Key`], a clear as [`Invalidation::All`];
/// the writes of the store that made the feed are skipped, so a writer
/// keeps its own fresh copy.
pub struct RedisInvalidations {
    nodes: Vec<ConnectionInfo>,
    channel: Arc<str>,
    me: u64,
    connect_timeout: Duration,
    reconnect: Backoff,
    keepalive: Option<Duration>,
    rng: Mutex<fastrand::Rng>,
}

impl fmt::Debug for RedisInvalidations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInvalidations")
            .field("channel", &self.channel)
            .field("keepalive", &self.keepalive)
            .finish_non_exhaustive()
    }
}

/// Why the feed gave up on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lost {
    /// The sink closed: the feed ends.
    Closed,
    /// The connection stopped answering: open a new one (on the next node).
    Silent,
}

impl RedisInvalidations {
    pub(super) fn new(
        nodes: Vec<ConnectionInfo>,
        channel: Arc<str>,
        me: u64,
        connect_timeout: Duration,
        reconnect: Backoff,
        seed: u64,
    ) -> Self {
        Self {
            nodes,
            channel,
            me,
            connect_timeout,
            reconnect,
            keepalive: Some(Duration::from_secs(5)),
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }

    /// The channel listened to.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// How often an idle subscription is checked with a `PING` (default
    /// 5 s; `Duration::ZERO` turns the check off). A subscription whose
    /// `PING` goes unanswered within the store's connect timeout is treated
    /// as lost, which catches a network that silently drops traffic.
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.keepalive = (!every.is_zero()).then_some(every);
        self
    }

    /// A manager on `node` whose pushes arrive on the returned receiver.
    fn open(
        &self,
        node: &ConnectionInfo,
    ) -> Result<(ConnectionManager, mpsc::UnboundedReceiver<PushInfo>), ::redis::RedisError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(self.connect_timeout))
            .set_push_sender(tx)
            .set_automatic_resubscription();
        let client = ::redis::Client::open(node.clone())?;
        Ok((ConnectionManager::new_lazy_with_config(client, config)?, rx))
    }

    async fn listen(self, sink: InvalidationSink) {
        let mut failures: u32 = 0;
        let mut subscribed = false;
        let mut node = 0;
        loop {
            let lost = match self.open(&self.nodes[node % self.nodes.len()]) {
                Ok((manager, pushes)) => {
                    self.follow(manager, pushes, &sink, &mut subscribed, &mut failures)
                        .await
                }
                Err(error) => {
                    tracing::debug!(channel = %self.channel, %error, "could not open a connection for cache invalidations");
                    Lost::Silent
                }
            };
            if lost == Lost::Closed {
                return;
            }
            if subscribed {
                subscribed = false;
                tracing::warn!(channel = %self.channel, "cache invalidation connection went silent; replacing it");
                if !sink.send(Invalidation::Unsubscribed).await {
                    return;
                }
            }
            node = node.wrapping_add(1);
            failures = failures.saturating_add(1);
            let pause = self.reconnect.delay(failures, &self.rng);
            tokio::select! {
                () = sink.closed() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Subscribes through `manager` and delivers what it hears until the
    /// connection goes silent or the sink closes. `redis` reconnects and
    /// subscribes again after a break; this only tells the sink, and pings
    /// to notice silence and to drive reconnection while Redis is down.
    async fn follow(
        &self,
        mut manager: ConnectionManager,
        mut pushes: mpsc::UnboundedReceiver<PushInfo>,
        sink: &InvalidationSink,
        subscribed: &mut bool,
        failures: &mut u32,
    ) -> Lost {
        let answer = tokio::select! {
            () = sink.closed() => return Lost::Closed,
            answer = tokio::time::timeout(self.connect_timeout, manager.subscribe(&*self.channel)) => answer,
        };
        match answer {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::debug!(channel = %self.channel, %error, "could not subscribe to cache invalidations");
                return Lost::Silent;
            }
            Err(_) => {
                tracing::debug!(channel = %self.channel, "subscribing to cache invalidations timed out");
                return Lost::Silent;
            }
        }
        let mut next_ping = self.next_ping(*subscribed, *failures);
        loop {
            tokio::select! {
                () = sink.closed() => return Lost::Closed,
                push = pushes.recv() => {
                    let Some(push) = push else { return Lost::Silent };
                    let message = match push.kind {
                        PushKind::Subscribe => {
                            *failures = 0;
                            (!*subscribed).then(|| {
                                *subscribed = true;
                                tracing::debug!(channel = %self.channel, "listening for cache invalidations");
                                Invalidation::Subscribed
                            })
                        }
                        PushKind::Message => match push.data.get(1) {
                            Some(Value::BulkString(payload)) => message::parse(payload, self.me),
                            _ => None,
                        },
                        PushKind::Disconnection => (*subscribed).then(|| {
                            *subscribed = false;
                            tracing::warn!(channel = %self.channel, "cache invalidation subscription lost; reconnecting");
                            Invalidation::Unsubscribed
                        }),
                        _ => None,
                    };
                    if let Some(message) = message
                        && !sink.send(message).await
                    {
                        return Lost::Closed;
                    }
                    next_ping = self.next_ping(*subscribed, *failures);
                }
                () = tokio::time::sleep_until(next_ping.unwrap_or_else(Instant::now)), if next_ping.is_some() => {
                    let pong = tokio::time::timeout(self.connect_timeout, ::redis::cmd("PING").query_async::<Value>(&mut manager)).await;
                    match pong {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) if self.nodes.len() == 1 && !error.is_timeout() => {
                            // The manager opens a new connection on the next
                            // call, and subscribes on it again.
                            tracing::debug!(channel = %self.channel, %error, "cache invalidation connection down");
                            *failures = failures.saturating_add(1);
                        }
                        Ok(Err(_)) | Err(_) => return Lost::Silent,
                    }
                    next_ping = self.next_ping(*subscribed, *failures);
                }
            }
        }
    }

    /// When to ping next: after the keepalive period while subscribed, and
    /// after the reconnect backoff while not (each ping lets the manager
    /// try to connect again).
    fn next_ping(&self, subscribed: bool, failures: u32) -> Option<Instant> {
        let after = if subscribed {
            self.keepalive?
        } else {
            self.reconnect.delay(failures.max(1), &self.rng)
        };
        Instant::now().checked_add(after)
    }
}

impl Invalidations for RedisInvalidations {
    fn run(self, sink: InvalidationSink) -> impl Future<Output = ()> + Send + 'static {
        self.listen(sink)
    }
}
