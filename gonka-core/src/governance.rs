//! The set of models a node may serve, as decided by network governance.

use std::collections::BTreeSet;

/// The five models seed 000 lists as supported by the network.
pub const DEFAULT_GOVERNANCE_MODELS: [&str; 5] = [
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8",
    "Qwen/Qwen3-32B-FP8",
    "Qwen/QwQ-32B",
    "RedHatAI/Qwen2.5-7B-Instruct-quantized.w8a16",
];

/// Models approved by governance. A node whose `models` contains a name outside this set is
/// rejected. Defaults to [`DEFAULT_GOVERNANCE_MODELS`]; operators may replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernanceModels {
    models: BTreeSet<String>,
}

impl GovernanceModels {
    /// A governance list with exactly these models.
    pub fn new<I, S>(models: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            models: models.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether `model` is approved.
    pub fn contains(&self, model: &str) -> bool {
        self.models.contains(model)
    }

    /// The approved models in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(String::as_str)
    }

    /// Number of approved models.
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Whether no model is approved (every node would be rejected).
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Parses a comma-separated list (`A,B,C`); blanks are ignored.
    pub fn parse_list(list: &str) -> Self {
        Self::new(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        )
    }
}

impl Default for GovernanceModels {
    fn default() -> Self {
        Self::new(DEFAULT_GOVERNANCE_MODELS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_has_the_five_seed_models() {
        let g = GovernanceModels::default();
        assert_eq!(g.len(), 5);
        assert!(g.contains("Qwen/Qwen3-32B-FP8"));
        assert!(!g.contains("meta-llama/Llama-3-8B"));
    }

    #[test]
    fn parse_list_trims_and_skips_blanks() {
        let g = GovernanceModels::parse_list(" a/b , ,c/d");
        assert_eq!(g.iter().collect::<Vec<_>>(), vec!["a/b", "c/d"]);
    }
}
