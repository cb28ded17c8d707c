//! [`AdminOptions`]: what the admin router needs besides the registry.

use std::fmt;
use std::sync::Arc;

use gonka_core::cross_site::SitePolicy;
use gonka_core::{EpochSource, GovernanceModels, ManualEpoch};

/// Default request body limit: 8 MiB, enough for a batch of 10,000 nodes.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Default budget of large request bodies in flight: one maximal batch (8 MiB) at a time. A
/// parsed batch takes many times its size in memory, so concurrent large batches are what can
/// exhaust the process.
pub const DEFAULT_BODY_BUDGET: usize = DEFAULT_BODY_LIMIT;

/// Bodies up to this size (64 KiB) never wait for the body budget.
pub const SMALL_BODY: usize = 64 * 1024;

/// Options of [`crate::router`].
#[derive(Clone)]
pub struct AdminOptions {
    /// Models a node may serve; a node with any other model is rejected with 400.
    pub governance: GovernanceModels,
    /// When set, every call needs `Authorization: Bearer <token>` (else 401).
    pub token: Option<String>,
    /// Largest accepted request body in bytes (else 413). Default [`DEFAULT_BODY_LIMIT`].
    pub body_limit: usize,
    /// Bytes of request bodies larger than [`SMALL_BODY`] handled at once (by `Content-Length`,
    /// or `body_limit` for a body of unknown length; never less than `body_limit`). A request
    /// that does not fit waits up to [`crate::BODY_BUDGET_WAIT`] for the budget, then answers
    /// 503 with `Retry-After`. Default [`DEFAULT_BODY_BUDGET`].
    pub body_budget: usize,
    /// Source of the epoch stamped into `admin_state.epoch` by enable/disable.
    pub epoch: Arc<dyn EpochSource>,
    /// The `Host` and `Origin` headers accepted (else 403): by default IP literals and
    /// `localhost` as `Host`, no `Origin` but the API's own, so a web page can neither call the
    /// API from another site nor through DNS rebinding.
    pub sites: SitePolicy,
}

impl Default for AdminOptions {
    /// The five governance models of seed 000, no token, 8 MiB body limit and body budget, epoch
    /// fixed at 0,
    /// the default [`SitePolicy`].
    fn default() -> Self {
        Self {
            governance: GovernanceModels::default(),
            token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            body_budget: DEFAULT_BODY_BUDGET,
            epoch: Arc::new(ManualEpoch::new(0)),
            sites: SitePolicy::default(),
        }
    }
}

impl fmt::Debug for AdminOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the token.
        f.debug_struct("AdminOptions")
            .field("governance", &self.governance)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("body_limit", &self.body_limit)
            .field("body_budget", &self.body_budget)
            .field("epoch", &self.epoch)
            .field("sites", &self.sites)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_redacts_the_token() {
        let o = AdminOptions {
            token: Some("s3cret".into()),
            ..AdminOptions::default()
        };
        let s = format!("{o:?}");
        assert!(!s.contains("s3cret"), "{s}");
        assert!(s.contains("<redacted>"));
    }

    #[test]
    fn default_limit_is_eight_mebibytes() {
        assert_eq!(AdminOptions::default().body_limit, 8 * 1024 * 1024);
        assert_eq!(AdminOptions::default().governance.len(), 5);
    }
}
