//! What the task driver needs to know of the fleet ([`NodeDirectory`]: management URLs,
//! instance addresses, load) and of time ([`Clock`]), with the gateway's implementations.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The load the gateway sees on one node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeLoad {
    /// Requests the gateway has in flight on the node.
    pub in_flight: u32,
    /// Requests waiting in the node's queue, as its health checks report it.
    pub queue_depth: u32,
}

/// Where the fleet's nodes are, for the task driver.
pub trait NodeDirectory: Send + Sync + std::fmt::Debug {
    /// Every node that may hold task instances.
    fn node_ids(&self) -> Vec<String>;
    /// The management API base URL of `node_id` (`http://10.0.0.7:8080`), when known.
    fn management_url(&self, node_id: &str) -> Option<String>;
    /// The base URL of an engine instance listening on `port` of `node_id`
    /// (`http://10.0.0.7:8100`): what the group's health check calls.
    fn instance_url(&self, node_id: &str, port: u16) -> Option<String>;
    /// The load on `node_id`, when known.
    fn load(&self, node_id: &str) -> Option<NodeLoad>;
}

/// The gateway's node pool as a [`NodeDirectory`]: URLs from each node's registry record
/// (`host`, `poc_port` + `poc_segment` for management), load from its view.
#[derive(Debug, Clone)]
pub struct PoolNodes(pub Arc<crate::pool::NodePool>);

impl NodeDirectory for PoolNodes {
    fn node_ids(&self) -> Vec<String> {
        self.0.ids()
    }

    fn management_url(&self, node_id: &str) -> Option<String> {
        self.0.record(node_id).map(|(r, _)| r.node.poc_url())
    }

    fn instance_url(&self, node_id: &str, port: u16) -> Option<String> {
        self.0
            .record(node_id)
            .map(|(r, _)| instance_base(&r.node.host, port))
    }

    fn load(&self, node_id: &str) -> Option<NodeLoad> {
        self.0
            .snapshot()
            .into_iter()
            .find(|s| &*s.view.id == node_id)
            .map(|s| NodeLoad {
                in_flight: s.view.in_flight,
                queue_depth: s.view.queue_depth,
            })
    }
}

/// `http://{host}:{port}` for a node's `host` as registered (which may carry a scheme).
fn instance_base(host: &str, port: u16) -> String {
    let host = host.trim_end_matches('/');
    match host.split_once("://") {
        Some((scheme, bare)) => format!("{scheme}://{bare}:{port}"),
        None => format!("http://{host}:{port}"),
    }
}

/// The driver's time, Unix milliseconds: the system clock in the gateway, a [`ManualClock`]
/// where a test drives time (idle timeouts, autoscaling cooldowns) without waiting.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, Unix ms.
    fn now_ms(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default()
    }
}

/// A clock that moves only when told ([`ManualClock::advance`]); starts at the system time.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock at the system time now.
    pub fn new() -> Self {
        Self(AtomicU64::new(SystemClock.now_ms()))
    }

    /// Moves the clock `ms` forward.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_keep_the_hosts_scheme() {
        assert_eq!(instance_base("10.0.0.7", 8100), "http://10.0.0.7:8100");
        assert_eq!(
            instance_base("https://gpu-3.lan/", 8101),
            "https://gpu-3.lan:8101"
        );
        let clock = ManualClock::new();
        let t = clock.now_ms();
        clock.advance(1_500);
        assert_eq!(clock.now_ms(), t + 1_500);
    }
}
