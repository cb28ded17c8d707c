//! The endpoint-uniqueness rule shared by every registry backend.

use crate::validation::normalize_host;
use crate::{FieldError, NodeConfig};

/// Checks `config` against the other stored nodes: no other node (different id) may use the same
/// normalized host with a port equal to one of `config`'s ports (inference or PoC).
///
/// Returns the first conflict as a field error worded like upstream:
/// `duplicate inference host+port combination: 10.0.0.21:5050 (already used by node 'node1')`.
pub fn find_endpoint_conflict<'a>(
    config: &NodeConfig,
    others: impl IntoIterator<Item = &'a NodeConfig>,
) -> Option<FieldError> {
    let host = normalize_host(&config.host);
    for other in others {
        if other.id == config.id || normalize_host(&other.host) != host {
            continue;
        }
        for (kind, field, port) in [
            ("inference", "inference_port", config.inference_port),
            ("poc", "poc_port", config.poc_port),
        ] {
            if port == other.inference_port || port == other.poc_port {
                return Some(FieldError::new(
                    field,
                    format!(
                        "duplicate {kind} host+port combination: {host}:{port} (already used by node '{}')",
                        other.id
                    ),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_host_and_port_on_another_node_conflicts() {
        let a = NodeConfig::new("a", "m").at("10.0.0.1", 5050, 8080);
        let b = NodeConfig::new("b", "m").at("http://10.0.0.1", 5050, 8081);
        let e = find_endpoint_conflict(&b, [&a]).unwrap();
        assert_eq!(e.field, "inference_port");
        assert_eq!(
            e.message,
            "duplicate inference host+port combination: 10.0.0.1:5050 (already used by node 'a')"
        );
    }

    #[test]
    fn same_node_or_other_host_does_not_conflict() {
        let a = NodeConfig::new("a", "m").at("10.0.0.1", 5050, 8080);
        let a2 = NodeConfig::new("a", "m").at("10.0.0.1", 5050, 8080);
        let c = NodeConfig::new("c", "m").at("10.0.0.2", 5050, 8080);
        assert!(find_endpoint_conflict(&a2, [&a]).is_none());
        assert!(find_endpoint_conflict(&c, [&a]).is_none());
    }

    #[test]
    fn poc_port_against_inference_port_conflicts() {
        let a = NodeConfig::new("a", "m").at("h", 5050, 8080);
        let b = NodeConfig::new("b", "m").at("h", 5051, 5050);
        assert_eq!(find_endpoint_conflict(&b, [&a]).unwrap().field, "poc_port");
    }
}
