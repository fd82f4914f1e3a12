//! [`Store::clear`](crate::Store::clear) on Redis: a `SCAN` of the
//! namespace's keys (`<prefix>:{*`, which no other namespace's keys match)
//! on the single node or on every primary of a cluster, their `UNLINK`,
//! and the announcement. The fences of earlier removals stay until they
//! expire (see [fences](super#fences)): a clear does not lift them.

use ::redis::aio::ConnectionLike;
use ::redis::{RedisError, Value};

#[cfg(feature = "redis-cluster")]
use super::cluster;
use super::connection::Link;
use super::{Shared, message};
use crate::store::StoreError;

/// Keys deleted per round trip by [`Store::clear`].
const CLEAR_BATCH: usize = 500;

/// Escapes the glob characters of `text` for `SCAN MATCH`.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether `key` is a fence, `<prefix>:{<key>}:fence`: an entry's key
/// always ends with its closing brace, a lease's with `:lease`.
fn is_fence(key: &[u8]) -> bool {
    key.ends_with(b"}:fence")
}

/// One `SCAN` step at `cursor` for keys matching `pattern`.
fn scan(cursor: u64, pattern: &str) -> ::redis::Cmd {
    let mut scan = ::redis::cmd("SCAN");
    scan.arg(cursor)
        .arg("MATCH")
        .arg(pattern)
        .arg("COUNT")
        .arg(CLEAR_BATCH);
    scan
}

impl<C> Shared<C> {
    /// Deletes every entry and lease of the namespace, on the single node
    /// or on every primary of the cluster, then announces the clear.
    /// Fences are kept.
    pub(super) async fn clear(&self) -> Result<(), StoreError> {
        let shared = self;
        let pattern = format!("{}:\\{{*", glob_escape(&shared.prefix));
        match shared.conn.link().1 {
            Link::Single(_) => shared.clear_node(&pattern, None).await?,
            #[cfg(feature = "redis-cluster")]
            Link::Cluster(_) => {
                let primaries = shared
                    .call("clear", |link| async move {
                        let Link::Cluster(mut conn) = link else {
                            unreachable!("a store's link never changes kind")
                        };
                        cluster::primaries(&mut conn).await
                    })
                    .await?;
                for primary in &primaries {
                    shared.clear_node(&pattern, Some(primary)).await?;
                }
            }
        }
        shared
            .call("clear", |mut link| async move {
                let mut cmd = ::redis::cmd("PUBLISH");
                cmd.arg(&*shared.channel).arg(message::CLEAR);
                cmd.query_async::<()>(&mut link).await
            })
            .await
    }

    /// Deletes every key matching `pattern` on one node: the single node,
    /// or the cluster primary at `primary`.
    async fn clear_node(
        &self,
        pattern: &str,
        primary: Option<&(String, u16)>,
    ) -> Result<(), StoreError> {
        let mut cursor: u64 = 0;
        loop {
            let step = scan(cursor, pattern);
            let (next, mut keys): (u64, Vec<Vec<u8>>) = self
                .call(
                    "clear",
                    |link| async move { scan_on(link, step, primary).await },
                )
                .await?;
            keys.retain(|key| !is_fence(key));
            if !keys.is_empty() {
                let mut unlink = ::redis::cmd("UNLINK");
                unlink.arg(keys);
                self.call("clear", |mut link| async move {
                    unlink.query_async::<()>(&mut link).await
                })
                .await?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}

/// Runs one `SCAN` step on the single node, or on the cluster primary at
/// `primary`.
async fn scan_on(
    mut link: Link,
    step: ::redis::Cmd,
    primary: Option<&(String, u16)>,
) -> Result<(u64, Vec<Vec<u8>>), RedisError> {
    let reply: Value = match (&mut link, primary) {
        #[cfg(feature = "redis-cluster")]
        (Link::Cluster(conn), Some(primary)) => {
            conn.route_command(step, cluster::at(primary)).await?
        }
        _ => {
            let _ = primary;
            link.req_packed_command(&step).await?
        }
    };
    Ok(::redis::FromRedisValue::from_redis_value(reply)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
        assert_eq!(glob_escape("plain:prefix"), "plain:prefix");
    }

    #[test]
    fn only_fences_are_kept() {
        assert!(is_fence(b"p:{k}:fence"));
        assert!(!is_fence(b"p:{k}"));
        assert!(!is_fence(b"p:{k:fence}"));
        assert!(!is_fence(b"p:{k}:lease"));
    }
}
