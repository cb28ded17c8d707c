//! The admin API served on the gateway's admin listener: the same router as `gonka-admin`, over
//! the gateway's registry and epoch source.

use axum::Router;

use crate::GatewayConfig;

/// `gonka_admin::router` configured from the gateway configuration.
pub fn admin_router(config: &GatewayConfig) -> Router {
    let options = gonka_admin::AdminOptions {
        governance: config.governance.clone(),
        token: config.admin_token.clone(),
        epoch: config.epoch.clone(),
        sites: config.admin_sites.clone(),
        ..gonka_admin::AdminOptions::default()
    };
    gonka_admin::router(config.registry.clone(), options)
}
