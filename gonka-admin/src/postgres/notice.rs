//! The payloads of the `gonka_nodes` NOTIFY channel: what changed, small enough for PostgreSQL's
//! 8000-byte payload limit.

use gonka_core::{NodeConfig, NodeRecord, NodeState};
use serde::{Deserialize, Serialize};

/// The channel every registry of a database notifies and listens on.
pub const CHANNEL: &str = "gonka_nodes";

/// The largest payload we send (PostgreSQL refuses 8000 bytes and more).
const MAX_PAYLOAD: usize = 7000;

/// One notification. `origin` identifies the registry value that made the change, so it can skip
/// its own (it already sent those events, in order, after commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Notice {
    /// These nodes (id, node_num) were inserted or changed; readers fetch their current rows.
    Upserted {
        /// The registry that wrote.
        origin: String,
        /// `(id, node_num)` of each changed node.
        nodes: Vec<(String, u64)>,
    },
    /// A node was deleted; `record` is the row before deletion when it fits in the payload.
    Deleted {
        /// The registry that wrote.
        origin: String,
        /// The deleted node's id.
        id: String,
        /// The deleted node's number.
        node_num: u64,
        /// The whole record, when small enough.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        record: Option<Box<NodeRecord>>,
    },
    /// Something changed that does not fit in a payload: readers re-list everything.
    Resync {
        /// The registry that wrote.
        origin: String,
    },
}

impl Notice {
    /// The registry that made the change.
    pub fn origin(&self) -> &str {
        match self {
            Notice::Upserted { origin, .. }
            | Notice::Deleted { origin, .. }
            | Notice::Resync { origin } => origin,
        }
    }
}

fn to_payload(notice: &Notice) -> Option<String> {
    serde_json::to_string(notice)
        .ok()
        .filter(|p| p.len() < MAX_PAYLOAD)
}

fn resync(origin: &str) -> String {
    format!(
        r#"{{"op":"resync","origin":{}}}"#,
        serde_json::Value::from(origin)
    )
}

/// Payloads announcing that `nodes` changed, split to fit the size limit.
pub fn upserted_payloads<'a>(
    origin: &str,
    nodes: impl IntoIterator<Item = &'a NodeRecord>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut chunk: Vec<(String, u64)> = Vec::new();
    let mut size = 0;
    let flush = |chunk: &mut Vec<(String, u64)>, out: &mut Vec<String>| {
        if chunk.is_empty() {
            return;
        }
        let notice = Notice::Upserted {
            origin: origin.to_owned(),
            nodes: std::mem::take(chunk),
        };
        out.push(to_payload(&notice).unwrap_or_else(|| resync(origin)));
    };
    for r in nodes {
        // An element costs its id (escaped at most 6x for control characters) plus framing.
        let cost = r.node.id.len() * 6 + 32;
        if size + cost > MAX_PAYLOAD - 200 {
            flush(&mut chunk, &mut out);
            size = 0;
        }
        size += cost;
        chunk.push((r.node.id.clone(), r.node.node_num));
    }
    flush(&mut chunk, &mut out);
    out
}

/// The payload announcing that `record` was deleted.
pub fn deleted_payload(origin: &str, record: &NodeRecord) -> String {
    let full = Notice::Deleted {
        origin: origin.to_owned(),
        id: record.node.id.clone(),
        node_num: record.node.node_num,
        record: Some(Box::new(record.clone())),
    };
    let short = Notice::Deleted {
        origin: origin.to_owned(),
        id: record.node.id.clone(),
        node_num: record.node.node_num,
        record: None,
    };
    to_payload(&full)
        .or_else(|| to_payload(&short))
        .unwrap_or_else(|| resync(origin))
}

/// The record a `Deleted` event carries when only the id and number are known: no models, the
/// default endpoints. Consumers key deletions by id.
pub fn placeholder_record(id: &str, node_num: u64) -> NodeRecord {
    let mut node = NodeConfig::new(id, "");
    node.models.clear();
    node.node_num = node_num;
    NodeRecord {
        node,
        state: NodeState::new_registered(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, num: u64) -> NodeRecord {
        let mut r = placeholder_record(id, num);
        r.node = NodeConfig::new(id, "m");
        r.node.node_num = num;
        r
    }

    #[test]
    fn many_upserts_split_into_payloads_under_the_limit_and_keep_every_node() {
        let records: Vec<NodeRecord> = (0..5000).map(|i| rec(&format!("node-{i}"), i)).collect();
        let payloads = upserted_payloads("o", &records);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        for p in &payloads {
            assert!(p.len() < MAX_PAYLOAD, "{}", p.len());
            match serde_json::from_str::<Notice>(p).unwrap() {
                Notice::Upserted { origin, nodes } => {
                    assert_eq!(origin, "o");
                    seen.extend(nodes);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(seen.len(), 5000);
        assert_eq!(seen[4999], ("node-4999".to_owned(), 4999));
    }

    #[test]
    fn a_large_deleted_record_is_announced_by_id_and_number() {
        let mut big = rec("big", 7);
        for i in 0..500 {
            big.node
                .models
                .insert(format!("model-{i}"), Default::default());
        }
        let p = deleted_payload("o", &big);
        assert!(p.len() < MAX_PAYLOAD);
        let notice: Notice = serde_json::from_str(&p).unwrap();
        assert_eq!(
            notice,
            Notice::Deleted {
                origin: "o".into(),
                id: "big".into(),
                node_num: 7,
                record: None
            }
        );
        let small = deleted_payload("o", &rec("s", 1));
        assert!(small.contains("\"record\""), "{small}");
    }

    #[test]
    fn resync_payload_parses() {
        let n: Notice = serde_json::from_str(&resync("a\"b")).unwrap();
        assert_eq!(n.origin(), "a\"b");
    }
}
