//! Updates of a running task group (`PUT /api/v1/task-groups/{id}/update`): which spec fields
//! may change, how the tasks are replaced, and what the group records while it happens.

use crate::deploy::spec::TaskGroupSpec;
use crate::FieldError;

/// How an update replaces a group's tasks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateStrategy {
    /// One task at a time: a new task starts, and once it runs and passes the group's health
    /// check an old one is drained and stopped. A new task that fails (or fails its health
    /// check) rolls the update back: the new tasks stop, the old ones keep serving.
    #[default]
    Rolling,
    /// Every old task stops, then the new ones start (the group does not serve in between).
    Recreate,
}

/// `PUT /api/v1/task-groups/{id}/update`: the spec fields an update may change (absent = kept)
/// and the strategy.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateRequest {
    /// New weights.
    pub model_path: Option<String>,
    /// New engine.
    pub engine: Option<String>,
    /// New extra engine arguments.
    pub engine_args: Option<Vec<String>>,
    /// New weight dtype.
    pub dtype: Option<String>,
    /// New context window, tokens.
    pub context_length: Option<u32>,
    /// New version label of the group's model route (applied when the update completes).
    pub version: Option<String>,
    /// Rolling (default) or recreate.
    pub strategy: UpdateStrategy,
}

impl UpdateRequest {
    /// `spec` with the request's changes applied, or every problem, each naming its field (the
    /// new spec is validated as a whole; an update that changes nothing is refused on field
    /// `body`).
    ///
    /// # Errors
    /// The problems of the resulting spec, or one on field `body` when nothing would change.
    pub fn apply(&self, spec: &TaskGroupSpec) -> Result<TaskGroupSpec, Vec<FieldError>> {
        let mut next = spec.clone();
        if let Some(v) = &self.model_path {
            next.model_path = Some(v.clone());
        }
        if let Some(v) = &self.engine {
            next.engine = Some(v.clone());
        }
        if let Some(v) = &self.engine_args {
            next.engine_args = v.clone();
        }
        if let Some(v) = &self.dtype {
            next.dtype = Some(v.clone());
        }
        if let Some(v) = self.context_length {
            next.context_length = v;
        }
        if let Some(v) = &self.version {
            next.route.version = v.clone();
        }
        let mut problems = next.validate();
        if problems.is_empty() && next == *spec {
            problems.push(FieldError::new(
                "body",
                "the update changes nothing: give at least one of model_path, engine, engine_args, dtype, context_length, version with a new value",
            ));
        }
        if problems.is_empty() {
            Ok(next)
        } else {
            Err(problems)
        }
    }
}

/// An update a group went through or is going through (its `rolling_update_state` says which).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupUpdate {
    /// How the tasks are replaced.
    pub strategy: UpdateStrategy,
    /// The generation before the update (the old tasks'); restored by a rollback.
    pub from_generation: u32,
    /// The spec before the update; restored by a rollback.
    pub previous: Box<TaskGroupSpec>,
    /// When it was asked for, Unix ms.
    pub started_at_ms: u64,
    /// When it ended (completed, failed or rolled back), Unix ms.
    pub finished_at_ms: Option<u64>,
    /// Why it failed or was rolled back.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TaskGroupSpec {
        serde_json::from_value(serde_json::json!({"name": "svc", "model_path": "org/a"})).unwrap()
    }

    #[test]
    fn an_update_changes_only_the_given_fields_and_names_bad_ones() {
        let req: UpdateRequest = serde_json::from_value(
            serde_json::json!({"model_path": "org/b", "engine_args": ["--x"], "strategy": "recreate"}),
        )
        .unwrap();
        assert_eq!(req.strategy, UpdateStrategy::Recreate);
        let next = req.apply(&spec()).unwrap();
        assert_eq!(next.model_path.as_deref(), Some("org/b"));
        assert_eq!(next.engine_args, vec!["--x".to_owned()]);
        assert_eq!(next.name, "svc");

        let bad = UpdateRequest {
            engine: Some("nope".into()),
            context_length: Some(0),
            ..UpdateRequest::default()
        };
        let fields: Vec<String> = bad
            .apply(&spec())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["engine", "context_length"]);
        let same = UpdateRequest {
            model_path: Some("org/a".into()),
            ..UpdateRequest::default()
        };
        assert_eq!(same.apply(&spec()).unwrap_err()[0].field, "body");
        assert!(serde_json::from_value::<UpdateRequest>(serde_json::json!({"name": "x"})).is_err());
    }
}
