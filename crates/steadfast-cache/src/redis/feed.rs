//! [`RedisInvalidations`]: the pub/sub listener behind a
//! [`Tiered`](crate::Tiered) store's L1 coherence.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;

use super::Backoff;
use crate::tiered::{Invalidation, InvalidationSink, Invalidations};

/// The invalidations of one [`RedisStore`](super::RedisStore) namespace,
/// heard on its `<prefix>:invalidate` channel; made by
/// [`RedisStore::invalidations`](super::RedisStore::invalidations).
///
/// It listens on a connection of its own, checks it with a periodic `PING`
/// ([`keepalive`](RedisInvalidations::keepalive)), and when that connection
/// breaks (Redis restarted, network cut) it reconnects with the store's backoff,
/// reporting [`Invalidation::Unsubscribed`] and then
/// [`Invalidation::Subscribed`] so that local copies which may have missed a
/// message are dropped.
pub struct RedisInvalidations {
    client: ::redis::Client,
    channel: Arc<str>,
    connect_timeout: Duration,
    reconnect: Backoff,
    keepalive: Option<Duration>,
    rng: Mutex<fastrand::Rng>,
}

impl fmt::Debug for RedisInvalidations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisInvalidations")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisInvalidations {
    pub(super) fn new(
        client: ::redis::Client,
        channel: Arc<str>,
        connect_timeout: Duration,
        reconnect: Backoff,
        seed: u64,
    ) -> Self {
        Self {
            client,
            channel,
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

    async fn subscribe(&self) -> Result<::redis::aio::PubSub, ::redis::RedisError> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(&*self.channel).await?;
        Ok(pubsub)
    }

    async fn listen(self, sink: InvalidationSink) {
        let mut failures: u32 = 0;
        loop {
            let attempt = tokio::select! {
                _ = sink.closed() => return,
                attempt = tokio::time::timeout(self.connect_timeout, self.subscribe()) => attempt,
            };
            match attempt {
                Ok(Ok(pubsub)) => {
                    failures = 0;
                    tracing::debug!(channel = %self.channel, "listening for cache invalidations");
                    if !sink.send(Invalidation::Subscribed).await {
                        return;
                    }
                    let Some(lost) = self.receive(pubsub, &sink).await else {
                        return;
                    };
                    tracing::warn!(channel = %self.channel, reason = lost, "cache invalidation subscription lost; reconnecting");
                    if !sink.send(Invalidation::Unsubscribed).await {
                        return;
                    }
                }
                Ok(Err(error)) => {
                    tracing::debug!(channel = %self.channel, %error, "could not subscribe to cache invalidations");
                }
                Err(_) => {
                    tracing::debug!(channel = %self.channel, "subscribing to cache invalidations timed out");
                }
            }
            failures = failures.saturating_add(1);
            let pause = self.reconnect.delay(failures, &self.rng);
            tokio::select! {
                _ = sink.closed() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }
}

impl RedisInvalidations {
    /// Delivers messages until the subscription is lost (`Some(reason)`)
    /// or the sink closes (`None`).
    async fn receive(
        &self,
        pubsub: ::redis::aio::PubSub,
        sink: &InvalidationSink,
    ) -> Option<&'static str> {
        let (mut control, mut messages) = pubsub.split();
        let next = || {
            self.keepalive
                .and_then(|every| Instant::now().checked_add(every))
        };
        let mut next_ping = next();
        loop {
            tokio::select! {
                () = sink.closed() => return None,
                message = messages.next() => {
                    let Some(message) = message else {
                        return Some("connection closed");
                    };
                    if let Some(invalidation) = parse(message.get_payload_bytes())
                        && !sink.send(invalidation).await
                    {
                        return None;
                    }
                }
                () = tokio::time::sleep_until(next_ping.unwrap_or_else(Instant::now)), if next_ping.is_some() => {
                    let pong = tokio::time::timeout(
                        self.connect_timeout,
                        control.ping::<::redis::Value>(),
                    )
                    .await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return Some("no answer to a keepalive ping");
                    }
                    next_ping = next();
                }
            }
        }
    }

    /// How often an idle subscription is checked with a `PING` (default
    /// 5 s; `Duration::ZERO` turns the check off). A subscription whose
    /// `PING` goes unanswered within the store's connect timeout is treated
    /// as lost, which catches a network that silently drops traffic.
    pub fn keepalive(mut self, every: Duration) -> Self {
        self.keepalive = (!every.is_zero()).then_some(every);
        self
    }
}

impl Invalidations for RedisInvalidations {
    fn run(self, sink: InvalidationSink) -> impl Future<Output = ()> + Send + 'static {
        self.listen(sink)
    }
}

/// Reads one message of the invalidation channel: `del:<key>` or `clear`.
fn parse(payload: &[u8]) -> Option<Invalidation> {
    let text = std::str::from_utf8(payload).ok()?;
    if text == "clear" {
        Some(Invalidation::All)
    } else {
        text.strip_prefix("del:")
            .map(|key| Invalidation::Key(key.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse() {
        assert_eq!(parse(b"clear"), Some(Invalidation::All));
        assert_eq!(
            parse(b"del:app@prod"),
            Some(Invalidation::Key("app@prod".to_owned()))
        );
        assert_eq!(parse(b"del:"), Some(Invalidation::Key(String::new())));
        assert_eq!(parse(b"something else"), None);
        assert_eq!(parse(b"\xff\xfe"), None);
    }
}
