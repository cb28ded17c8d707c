//! The admin API served on the gateway's admin listener: the same router as `gonka-admin`, over
//! the gateway's registry and epoch source.

use std::sync::Arc;

use axum::{middleware, Router};

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

/// `routes` behind the admin API's protection, as `gonka_admin::router` applies it: the admin
/// token ([`require_admin_token`]) and the cross-site refusal ([`refuse_cross_site`]). For the
/// JSON routes other modules serve on the admin listener (`/dashboard/api/...`).
pub fn protect(routes: Router, config: &GatewayConfig) -> Router {
    refuse_cross_site(require_admin_token(routes, config), config)
}

/// `routes` answer 401 unless the request carries `Authorization: Bearer <admin token>`, when
/// the gateway has an admin token (`--admin-token`); unchanged without one.
pub fn require_admin_token(routes: Router, config: &GatewayConfig) -> Router {
    match config.admin_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => routes.layer(middleware::from_fn_with_state(
            Arc::<str>::from(token),
            gonka_admin::require_token,
        )),
        None => routes,
    }
}

/// `routes` answer 403 to requests a foreign web page could have sent (a foreign `Origin`, an
/// unexpected `Host`), under the admin listener's policy (`--admin-allowed-hosts`,
/// `--admin-allowed-origins`).
pub fn refuse_cross_site(routes: Router, config: &GatewayConfig) -> Router {
    routes.layer(middleware::from_fn_with_state(
        Arc::new(config.admin_sites.clone()),
        gonka_admin::refuse_cross_site,
    ))
}
