//! Importing a `node-config.json` (a JSON array of nodes) into a registry at start-up.
//!
//! Unlike upstream, which merges the file only once and then silently ignores edits, every
//! start applies the file again: new nodes are added, changed ones updated, identical ones left
//! alone, invalid ones skipped with their reason logged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use gonka_core::{validate_batch, BatchError, Error, GovernanceModels, NodeConfig, NodeRegistry};
use serde_json::Value;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Nodes that did not exist before.
    pub added: usize,
    /// Existing nodes whose configuration changed.
    pub updated: usize,
    /// Existing nodes identical to the file; not written.
    pub unchanged: usize,
    /// Nodes rejected by validation or an endpoint conflict, with the reason.
    pub skipped: Vec<BatchError>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read.
    #[error("cannot read nodes file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("nodes file {path} is not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser error (with line and column).
        source: serde_json::Error,
    },
    /// The JSON is not an array of nodes.
    #[error("nodes file {path}: {message}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The registry failed.
    #[error("registry error while importing nodes: {0}")]
    Registry(#[from] Error),
}

/// Reads `path` and imports it with [`import_nodes`].
///
/// # Errors
/// See [`ImportError`]; invalid *nodes* are not errors, they are reported in `skipped`.
pub async fn import_nodes_file(
    registry: &dyn NodeRegistry,
    path: &Path,
    governance: &GovernanceModels,
) -> Result<ImportReport, ImportError> {
    let text = tokio::fs::read(path)
        .await
        .map_err(|source| ImportError::Read {
            path: path.to_owned(),
            source,
        })?;
    let value: Value = serde_json::from_slice(&text).map_err(|source| ImportError::Json {
        path: path.to_owned(),
        source,
    })?;
    import_nodes(registry, &value, governance)
        .await
        .map_err(|e| match e {
            ImportError::Shape { message, .. } => ImportError::Shape {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
}

/// Validates `nodes` (a JSON array) and upserts the new and changed ones in one registry call.
///
/// # Errors
/// `Shape` when `nodes` is not an array; `Registry` when storage fails.
pub async fn import_nodes(
    registry: &dyn NodeRegistry,
    nodes: &Value,
    governance: &GovernanceModels,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    if nodes.as_array().is_some_and(Vec::is_empty) {
        return Ok(report);
    }
    let (valid, skipped) = validate_batch(nodes, governance).map_err(|e| ImportError::Shape {
        path: PathBuf::new(),
        message: e.message,
    })?;
    report.skipped = skipped;
    let existing: HashMap<String, NodeConfig> = registry
        .list()
        .await?
        .into_iter()
        .map(|r| (r.node.id.clone(), r.node))
        .collect();
    let mut to_write = Vec::new();
    let mut kinds = Vec::new();
    for (index, mut config) in valid {
        match existing.get(&config.id) {
            Some(stored) => {
                config.node_num = stored.node_num;
                if *stored == config {
                    report.unchanged += 1;
                } else {
                    kinds.push((index, true));
                    to_write.push(config);
                }
            }
            None => {
                kinds.push((index, false));
                to_write.push(config);
            }
        }
    }
    if !to_write.is_empty() {
        let ids: Vec<String> = to_write.iter().map(|c| c.id.clone()).collect();
        let results = registry.upsert_batch(to_write).await?;
        for (((index, is_update), id), result) in kinds.into_iter().zip(ids).zip(results) {
            match result {
                Ok(_) if is_update => report.updated += 1,
                Ok(_) => report.added += 1,
                Err(Error::Unavailable(e)) => return Err(Error::Unavailable(e).into()),
                Err(e) => report.skipped.push(BatchError::new(
                    index,
                    id,
                    if e.field_errors().is_empty() {
                        vec![gonka_core::FieldError::new("node", e.to_string())]
                    } else {
                        e.field_errors()
                    },
                )),
            }
        }
    }
    report.skipped.sort_by_key(|e| e.index);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gonka_core::MemoryRegistry;
    use serde_json::json;

    fn node(id: &str, host: &str, max: u32) -> Value {
        json!({"id": id, "host": host, "inference_port": 5050, "poc_port": 8080,
               "max_concurrent": max, "models": {"Qwen/QwQ-32B": {"args": []}}})
    }

    #[tokio::test]
    async fn reimport_counts_added_updated_unchanged_and_skipped() {
        let r = MemoryRegistry::new();
        let g = GovernanceModels::default();
        let first = json!([node("a", "h1", 1), node("b", "h2", 1)]);
        let rep = import_nodes(&r, &first, &g).await.unwrap();
        assert_eq!((rep.added, rep.updated, rep.unchanged), (2, 0, 0));
        let second = json!([
            node("a", "h1", 1),
            node("b", "h2", 7),
            node("c", "h3", 1),
            node("d", "h1", 1),
            {"id": "e"}
        ]);
        let rep = import_nodes(&r, &second, &g).await.unwrap();
        assert_eq!((rep.added, rep.updated, rep.unchanged), (1, 1, 1));
        let skipped: Vec<(usize, &str)> = rep
            .skipped
            .iter()
            .map(|e| (e.index, e.id.as_str()))
            .collect();
        assert_eq!(skipped, vec![(3, "d"), (4, "e")]);
        assert!(rep.skipped[0].error.contains("already used by node 'a'"));
        assert_eq!(r.get("b").await.unwrap().node.max_concurrent, 7);
    }

    #[tokio::test]
    async fn a_file_that_is_not_an_array_is_an_error() {
        let r = MemoryRegistry::new();
        let e = import_nodes(&r, &json!({"id": "a"}), &GovernanceModels::default())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("JSON array"), "{e}");
    }

    #[tokio::test]
    async fn unreadable_or_malformed_files_name_the_file() {
        let r = MemoryRegistry::new();
        let g = GovernanceModels::default();
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.json");
        let e = import_nodes_file(&r, &missing, &g).await.unwrap_err();
        assert!(
            matches!(e, ImportError::Read { .. }) && e.to_string().contains("missing.json"),
            "{e}"
        );
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "[{").unwrap();
        let e = import_nodes_file(&r, &bad, &g).await.unwrap_err();
        assert!(
            matches!(e, ImportError::Json { .. }) && e.to_string().contains("bad.json"),
            "{e}"
        );
        let object = dir.path().join("object.json");
        std::fs::write(&object, "{}").unwrap();
        let e = import_nodes_file(&r, &object, &g).await.unwrap_err();
        assert!(e.to_string().contains("object.json"), "{e}");
    }
}
