//! The state shared by the admin handlers.

use std::sync::Arc;

use gonka_core::NodeRegistry;

use crate::AdminOptions;

/// Registry and options, cloned into every handler.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Where nodes are stored.
    pub registry: Arc<dyn NodeRegistry>,
    /// Governance, token, body limit, epoch source.
    pub options: Arc<AdminOptions>,
}
