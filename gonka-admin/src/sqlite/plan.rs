//! Applying upserts to an in-memory view of the affected rows inside one write transaction.
//!
//! The view holds every stored node that could conflict with the incoming configs (same
//! normalized host) or that they replace (same id). Conflicts are decided with
//! [`gonka_core::find_endpoint_conflict`], so SQLite and the in-memory registry agree word for
//! word; earlier elements of a batch are visible to later ones.

use std::collections::{HashMap, HashSet};

use gonka_core::{
    find_endpoint_conflict, normalize_host, Error, NodeConfig, NodeRecord, NodeState, Result,
};

/// The affected rows, the changes made so far and the node_num counter.
#[derive(Debug)]
pub struct Plan {
    by_id: HashMap<String, NodeRecord>,
    by_host: HashMap<String, Vec<String>>,
    changed: Vec<String>,
    changed_set: HashSet<String>,
    last_num: u64,
}

impl Plan {
    /// A view over `records` (already stored) with the counter at `last_num`.
    pub fn new(records: Vec<NodeRecord>, last_num: u64) -> Self {
        let mut plan = Self {
            by_id: HashMap::with_capacity(records.len()),
            by_host: HashMap::with_capacity(records.len()),
            changed: Vec::new(),
            changed_set: HashSet::new(),
            last_num,
        };
        for r in records {
            plan.index(&r.node);
            plan.by_id.insert(r.node.id.clone(), r);
        }
        plan
    }

    fn index(&mut self, node: &NodeConfig) {
        let ids = self.by_host.entry(normalize_host(&node.host)).or_default();
        if !ids.contains(&node.id) {
            ids.push(node.id.clone());
        }
    }

    fn unindex(&mut self, node: &NodeConfig) {
        if let Some(ids) = self.by_host.get_mut(&normalize_host(&node.host)) {
            ids.retain(|id| id != &node.id);
        }
    }

    /// Upserts one config into the view: `Conflict` when another node holds one of its
    /// endpoints; otherwise the record as it will be stored.
    pub fn apply(&mut self, mut config: NodeConfig) -> Result<NodeRecord> {
        let host = normalize_host(&config.host);
        let others = self
            .by_host
            .get(&host)
            .into_iter()
            .flatten()
            .filter_map(|id| self.by_id.get(id))
            .map(|r| &r.node);
        if let Some(conflict) = find_endpoint_conflict(&config, others) {
            return Err(Error::Conflict(conflict));
        }
        let state = match self.by_id.get(&config.id) {
            Some(existing) => {
                config.node_num = existing.node.node_num;
                let (old, state) = (existing.node.clone(), existing.state.clone());
                self.unindex(&old);
                state
            }
            None => {
                self.last_num += 1;
                config.node_num = self.last_num;
                NodeState::new_registered(0)
            }
        };
        self.index(&config);
        let record = NodeRecord {
            node: config,
            state,
        };
        if self.changed_set.insert(record.node.id.clone()) {
            self.changed.push(record.node.id.clone());
        }
        // The view keeps what later conflict checks and replacements need (endpoints, number,
        // state), not the models: a large batch is then held once, in the results.
        let mut kept = NodeRecord {
            node: NodeConfig::new(record.node.id.clone(), ""),
            state: record.state.clone(),
        };
        kept.node.models.clear();
        kept.node.host.clone_from(&record.node.host);
        kept.node.inference_port = record.node.inference_port;
        kept.node.poc_port = record.node.poc_port;
        kept.node.node_num = record.node.node_num;
        self.by_id.insert(record.node.id.clone(), kept);
        Ok(record)
    }

    /// The records to write, each once, in first-change order: for every changed id, its last
    /// record among `results` (the values [`apply`](Self::apply) returned).
    pub fn changed<'r>(&self, results: &'r [Result<NodeRecord>]) -> Vec<&'r NodeRecord> {
        let last: HashMap<&str, &NodeRecord> = results
            .iter()
            .flatten()
            .map(|r| (r.node.id.as_str(), r))
            .collect();
        self.changed
            .iter()
            .filter_map(|id| last.get(id.as_str()).copied())
            .collect()
    }

    /// The counter after this plan's insertions.
    pub fn last_num(&self) -> u64 {
        self.last_num
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, host: &str, inf: u16, poc: u16) -> NodeConfig {
        NodeConfig::new(id, "m").at(host, inf, poc)
    }

    #[test]
    fn new_nodes_get_consecutive_numbers_after_the_counter() {
        let mut p = Plan::new(Vec::new(), 41);
        assert_eq!(p.apply(node("a", "h1", 1, 2)).unwrap().node.node_num, 42);
        assert_eq!(p.apply(node("b", "h2", 1, 2)).unwrap().node.node_num, 43);
        assert_eq!(p.last_num(), 43);
    }

    #[test]
    fn moving_a_node_frees_its_old_endpoint_within_the_plan() {
        let mut p = Plan::new(Vec::new(), 0);
        p.apply(node("a", "h1", 1, 2)).unwrap();
        p.apply(node("a", "h2", 1, 2)).unwrap();
        let b = p.apply(node("b", "h1", 1, 2)).unwrap();
        assert_eq!(b.node.node_num, 2);
        let clash = p.apply(node("c", "http://H2/", 3, 1)).unwrap_err();
        assert!(clash.to_string().contains("'a'"), "{clash}");
        let results = vec![
            Ok(NodeRecord {
                node: node("a", "h1", 1, 2),
                state: NodeState::new_registered(0),
            }),
            Ok(NodeRecord {
                node: node("a", "h2", 1, 2),
                state: NodeState::new_registered(0),
            }),
            Ok(b),
        ];
        let changed = p.changed(&results);
        assert_eq!(changed.len(), 2, "a written once, b once");
        assert_eq!(changed[0].node.host, "h2", "a's last record is written");
    }
}
