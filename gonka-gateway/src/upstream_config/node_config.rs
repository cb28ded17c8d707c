//! Upstream's `node-config.json` (`NODE_CONFIG_PATH`, `--node-config`) merged into the registry
//! once, at the first start, as upstream's `ConfigManager.LoadNodeConfig` does.
//!
//! The file is a JSON array of upstream's `InferenceNodeConfig`: `id`, `host`,
//! `inference_port`, `poc_port`, `max_concurrent`, `models` (`{name: {args: [...]}}`) and
//! optionally `inference_segment`, `poc_segment`, `hardware` (`[{type, count}]`). Upstream
//! records a "merged" flag in its database after the first merge and never reads the file
//! again; here the registry keeps the marker [`NODE_CONFIG_MARKER`] ([`NodeRegistry::marker`]),
//! so a restart does not import the file again and overwrite what the operator changed
//! through the admin API.
//!
//! Stricter than upstream, which skips an invalid node with a log line: a file with an invalid
//! node stops the start with an error naming the file, the node and the field, and nothing is
//! imported (so no node is silently lost). Nodes that collide with nodes already registered
//! are skipped with a warning, as the admin API's batch does.

use std::path::{Path, PathBuf};

use gonka_admin::{import_nodes, ImportError, ImportReport};
use gonka_core::{validate_batch, BatchError, GovernanceModels, NodeRegistry};

/// The registry marker recorded once the node config file was merged.
pub const NODE_CONFIG_MARKER: &str = "node_config_merged";

/// What [`merge_node_config_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeConfigMerge {
    /// The file was merged now (the first start with it).
    Merged(ImportReport),
    /// The registry says it was merged at an earlier start; the file was not read.
    AlreadyMerged,
}

/// Why the node config file could not be merged. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeConfigError {
    /// The file cannot be read.
    #[error("node config {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("node config {}: not valid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: serde_json::Error,
    },
    /// The JSON is not a non-empty array of nodes.
    #[error("node config {}: {message}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Nodes of the file are invalid.
    #[error("node config {}: {}", path.display(), describe(errors))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One entry per invalid node, with its fields.
        errors: Vec<BatchError>,
    },
    /// The registry failed (reading or writing the marker, storing the nodes).
    #[error("node config {}: registry: {source}", path.display())]
    Registry {
        /// The file.
        path: PathBuf,
        /// The registry's error.
        source: gonka_core::Error,
    },
}

fn describe(errors: &[BatchError]) -> String {
    errors
        .iter()
        .map(|e| {
            let fields = e
                .fields
                .iter()
                .map(|f| format!("`{}`: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ");
            format!("node [{}] (id {:?}): {fields}", e.index, e.id)
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Merges the node config file `path` into `registry` unless the registry has the marker
/// [`NODE_CONFIG_MARKER`], then records it. New nodes are added, nodes with an id already
/// registered take the file's configuration (the first merge only), nodes colliding with a
/// registered node's endpoint are reported in the report's `skipped`.
///
/// # Errors
/// [`NodeConfigError`], naming the file: unreadable, not JSON, not an array of nodes, an invalid
/// node (index, id, field; nothing is imported then), or a registry failure (the marker is not
/// recorded, so the next start tries again).
pub async fn merge_node_config_once(
    registry: &dyn NodeRegistry,
    path: &Path,
    governance: &GovernanceModels,
) -> Result<NodeConfigMerge, NodeConfigError> {
    let registry_error = |source| NodeConfigError::Registry {
        path: path.to_owned(),
        source,
    };
    if registry
        .marker(NODE_CONFIG_MARKER)
        .await
        .map_err(registry_error)?
    {
        return Ok(NodeConfigMerge::AlreadyMerged);
    }
    let text = tokio::fs::read(path)
        .await
        .map_err(|source| NodeConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
    let nodes: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| NodeConfigError::Json {
            path: path.to_owned(),
            source,
        })?;
    let (_, invalid) = validate_batch(&nodes, governance).map_err(|e| NodeConfigError::Shape {
        path: path.to_owned(),
        message: e.message.replace("batch body", "the file"),
    })?;
    if !invalid.is_empty() {
        return Err(NodeConfigError::Invalid {
            path: path.to_owned(),
            errors: invalid,
        });
    }
    let report = import_nodes(registry, &nodes, governance)
        .await
        .map_err(|e| match e {
            ImportError::Registry(source) => registry_error(source),
            other => NodeConfigError::Shape {
                path: path.to_owned(),
                message: other.to_string(),
            },
        })?;
    registry
        .set_marker(NODE_CONFIG_MARKER)
        .await
        .map_err(registry_error)?;
    Ok(NodeConfigMerge::Merged(report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gonka_core::MemoryRegistry;

    const MODEL: &str = "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8";

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn upstream_file(max_concurrent: u32) -> String {
        format!(
            r#"[{{"id": "node1", "host": "inference", "inference_port": 5000, "poc_port": 8080,
                "max_concurrent": {max_concurrent},
                "models": {{"{MODEL}": {{"args": ["--tensor-parallel-size", "4"]}}}},
                "hardware": [{{"type": "NVIDIA H200", "count": 4}}]}}]"#
        )
    }

    #[tokio::test]
    async fn the_file_is_merged_once_and_operator_changes_survive_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "node-config.json", &upstream_file(500));
        let r = MemoryRegistry::new();
        let g = GovernanceModels::default();
        let NodeConfigMerge::Merged(report) = merge_node_config_once(&r, &file, &g).await.unwrap()
        else {
            panic!("the first start must merge the file");
        };
        assert_eq!(report.added, 1);
        let node = r.get("node1").await.unwrap().node;
        assert_eq!(
            (node.host.as_str(), node.inference_port, node.poc_port),
            ("inference", 5000, 8080)
        );
        assert_eq!(node.models[MODEL].args, ["--tensor-parallel-size", "4"]);
        assert_eq!(node.hardware[0].count, 4);
        // The operator changes the node through the admin API, and edits the file.
        let mut changed = node.clone();
        changed.max_concurrent = 7;
        r.upsert(changed).await.unwrap();
        write(dir.path(), "node-config.json", &upstream_file(900));
        assert_eq!(
            merge_node_config_once(&r, &file, &g).await.unwrap(),
            NodeConfigMerge::AlreadyMerged
        );
        assert_eq!(r.get("node1").await.unwrap().node.max_concurrent, 7);
        // Once merged, the file is not even read.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(
            merge_node_config_once(&r, &file, &g).await.unwrap(),
            NodeConfigMerge::AlreadyMerged
        );
    }

    #[tokio::test]
    async fn a_malformed_file_names_the_file_and_the_field_and_imports_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let r = MemoryRegistry::new();
        let g = GovernanceModels::default();
        let bad_port = write(
            dir.path(),
            "bad-port.json",
            &upstream_file(5).replace("\"poc_port\": 8080", "\"poc_port\": \"8080\""),
        );
        let e = merge_node_config_once(&r, &bad_port, &g).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("bad-port.json") && text.contains("`poc_port`") && text.contains("node1"),
            "{text}"
        );
        assert!(r.list().await.unwrap().is_empty(), "a node was imported");
        assert!(
            !r.marker(NODE_CONFIG_MARKER).await.unwrap(),
            "marked as merged"
        );

        let not_json = write(dir.path(), "broken.json", "[{\"id\": ");
        let e = merge_node_config_once(&r, &not_json, &g).await.unwrap_err();
        assert!(matches!(e, NodeConfigError::Json { .. }), "{e}");
        assert!(e.to_string().contains("broken.json"), "{e}");

        let object = write(dir.path(), "object.json", "{\"id\": \"node1\"}");
        let e = merge_node_config_once(&r, &object, &g).await.unwrap_err();
        assert!(
            e.to_string().contains("object.json") && e.to_string().contains("array"),
            "{e}"
        );

        let missing = dir.path().join("missing.json");
        let e = merge_node_config_once(&r, &missing, &g).await.unwrap_err();
        assert!(
            matches!(e, NodeConfigError::Read { .. }) && e.to_string().contains("missing.json"),
            "{e}"
        );
    }
}
