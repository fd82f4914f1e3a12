//! What a Redis Cluster needs beyond a single node: the client, and the
//! primaries that [`Store::clear`](crate::Store::clear) scans one by one.

use std::time::Duration;

use ::redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use ::redis::{IntoConnectionInfo, RedisError};

/// A cluster client on `nodes` whose every attempt is bounded by the
/// store's timeouts; redirections (`MOVED`, `ASK`) are followed within
/// them.
pub(super) fn client(
    nodes: &[String],
    connect_timeout: Duration,
    response_timeout: Duration,
) -> Result<ClusterClient, RedisError> {
    let nodes = nodes
        .iter()
        .map(|node| node.as_str().into_connection_info())
        .collect::<Result<Vec<_>, _>>()?;
    ClusterClientBuilder::new(nodes)
        .connection_timeout(connect_timeout)
        .response_timeout(response_timeout)
        .retries(3)
        .min_retry_wait(5)
        .max_retry_wait(100)
        .build()
}

/// A connection that discovers the cluster when first used.
pub(super) fn open(client: &ClusterClient) -> ClusterConnection {
    client.get_pending_async_connection_with_config(ClusterConfig::new())
}

/// A routing to the node at `addr` (`host:port`).
pub(super) fn at(addr: &(String, u16)) -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
        host: addr.0.clone(),
        port: addr.1,
    })
}

/// The primaries of the cluster, from `CLUSTER NODES`.
pub(super) async fn primaries(
    conn: &mut ClusterConnection,
) -> Result<Vec<(String, u16)>, RedisError> {
    let mut cmd = ::redis::cmd("CLUSTER");
    cmd.arg("NODES");
    let reply = conn
        .route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
        .await?;
    let text: String =
        ::redis::FromRedisValue::from_redis_value(reply).map_err(RedisError::from)?;
    Ok(parse_primaries(&text))
}

/// The `host:port` of every primary that serves slots, from the text of
/// `CLUSTER NODES`. A failing primary is kept: its keys are still there,
/// so a clear that cannot reach it must fail rather than claim success.
fn parse_primaries(text: &str) -> Vec<(String, u16)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let _id = fields.next()?;
            let addr = fields.next()?;
            let flags = fields.next()?;
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.contains(&"noaddr") {
                return None;
            }
            // Slots are the ninth field on: a primary without any holds no keys.
            fields.nth(5)?;
            let addr = addr.split('@').next()?;
            let (host, port) = addr.rsplit_once(':')?;
            Some((host.to_owned(), port.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_serving_slots_are_read_from_cluster_nodes() {
        let text = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host1 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
6ec23923021cf3ffec47632106199cb7f496ce01 127.0.0.1:30005@31005 master - 0 1426238316232 5 connected
";
        assert_eq!(
            parse_primaries(text),
            vec![
                ("127.0.0.1".to_owned(), 30002),
                ("127.0.0.1".to_owned(), 30003),
                ("127.0.0.1".to_owned(), 30001)
            ]
        );
    }
}
