//! The one error type of gonka-core. HTTP status codes are decided by the server crates.

use std::fmt;

/// A validation problem tied to the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The JSON field name (dotted for nested fields, e.g. `models.Qwen/QwQ-32B.args`).
    pub field: String,
    /// A human-readable message that names the field and the offending value.
    pub message: String,
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Errors of the core traits. Semantic, not transport-specific.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No node with this id exists.
    #[error("node not found: {id}")]
    NotFound {
        /// The id that was looked up.
        id: String,
    },
    /// The input failed validation; every problem is listed.
    #[error("validation failed: {}", join(.0))]
    Invalid(Vec<FieldError>),
    /// The change conflicts with stored data (e.g. a host:port already used by another node).
    #[error("{0}")]
    Conflict(FieldError),
    /// The storage backend (database, disk) is unavailable; nothing was changed.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An inference engine failed to start, crashed or answered badly.
    #[error("engine error: {0}")]
    Engine(String),
    /// The operation is not allowed in the current state (e.g. engine busy with another model).
    #[error("busy: {0}")]
    Busy(String),
}

impl Error {
    /// The field errors carried by `Invalid` or `Conflict`, empty otherwise.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            Error::Invalid(errors) => errors.clone(),
            Error::Conflict(e) => vec![e.clone()],
            _ => Vec::new(),
        }
    }

    /// Wraps any storage error as [`Error::Unavailable`].
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Unavailable(Box::new(e))
    }
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| e.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Result alias with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_joins_messages_like_upstream() {
        let e = Error::Invalid(vec![
            FieldError::new("id", "node id is required and cannot be empty"),
            FieldError::new("host", "host is required and cannot be empty"),
        ]);
        assert_eq!(
            e.to_string(),
            "validation failed: node id is required and cannot be empty; host is required and cannot be empty"
        );
        assert_eq!(e.field_errors().len(), 2);
    }

    #[test]
    fn not_found_names_the_id() {
        let e = Error::NotFound { id: "node9".into() };
        assert_eq!(e.to_string(), "node not found: node9");
    }
}
