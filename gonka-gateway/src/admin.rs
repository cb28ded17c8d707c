//! The admin API served on the gateway's admin listener: the same router as `gonka-admin`, over
//! the gateway's registry and epoch source, and the deployments API over its deployment store.

use std::sync::Arc;

use axum::{middleware, Router};
use gonka_core::deploy::placement::{GpuSlot, PlacementNode};
use gonka_core::deploy::{engine_preference, GpuVendor};

use crate::GatewayConfig;

/// The admin API's options (token, allowed sites, governance, epoch) from the gateway
/// configuration.
pub fn admin_options(config: &GatewayConfig) -> gonka_admin::AdminOptions {
    gonka_admin::AdminOptions {
        governance: config.governance.clone(),
        token: config.admin_token.clone(),
        epoch: config.epoch.clone(),
        sites: config.admin_sites.clone(),
        ..gonka_admin::AdminOptions::default()
    }
}

/// `gonka_admin::router` configured from the gateway configuration.
pub fn admin_router(config: &GatewayConfig) -> Router {
    gonka_admin::router(config.registry.clone(), admin_options(config))
}

/// The deployments API (`/api/v1`) over `config.deployments`, with the admin API's protection,
/// the pool's GPUs for creation's fit check and the tasks' `health` from `health`; an empty
/// router when deployments are off.
pub fn deploy_router(
    config: &GatewayConfig,
    pool: Arc<crate::pool::NodePool>,
    health: Option<Arc<crate::task_health::TaskHealthBook>>,
) -> Router {
    match &config.deployments {
        Some(store) => gonka_admin::deploy_router_with_health(
            store.clone(),
            Some(Arc::new(PoolGpus(pool))),
            health.map(|h| h as Arc<dyn gonka_admin::TaskHealthSource>),
            &admin_options(config),
        ),
        None => Router::new(),
    }
}

/// The pool's nodes as placement sees them: one GPU slot per device, typed and sized by what
/// its health checks observed (`/api/v1/gpu/devices`); nodes whose GPUs are not known yet are
/// left out. Count and vendor come from that report when it gives them (the available devices,
/// their `vendor`), else from the registry's `hardware` and the GPU name. A node running the
/// simulator engine offers every engine of its vendor (the simulator stands in for them).
#[derive(Debug, Clone)]
pub struct PoolGpus(pub Arc<crate::pool::NodePool>);

impl gonka_admin::FleetGpus for PoolGpus {
    fn host_of(&self, node_id: &str) -> Option<String> {
        self.0.record(node_id).map(|(r, _)| r.node.host.clone())
    }

    fn nodes(&self) -> Vec<PlacementNode> {
        self.0
            .snapshot()
            .into_iter()
            .filter_map(|s| {
                let v = s.view;
                let (name, total_mb) = (v.gpu_type.clone()?, v.vram_mb?);
                let (reported_vendor, reported_count) = self.0.gpu_facts(&v.id);
                let count = reported_count
                    .or_else(|| {
                        self.0
                            .record(&v.id)
                            .and_then(|(r, _)| r.node.hardware.first().map(|h| h.count))
                    })
                    .unwrap_or(1)
                    .max(1);
                let vendor = reported_vendor
                    .and_then(|v| v.parse::<GpuVendor>().ok())
                    .or_else(|| GpuVendor::from_gpu_name(&name))
                    .unwrap_or(GpuVendor::Nvidia);
                Some(PlacementNode {
                    id: v.id.clone(),
                    healthy: v.healthy,
                    gpus: (0..count)
                        .map(|i| GpuSlot {
                            gpu_id: i.to_string(),
                            name: name.to_string(),
                            vendor,
                            total_mb,
                            cuda_capability: None,
                            temperature_c: None,
                            residents: Vec::new(),
                        })
                        .collect(),
                    engines: match v.engine.as_deref() {
                        // The simulator stands in for every engine of the node's vendor.
                        Some("simulator") => engine_preference(vendor, None)
                            .iter()
                            .map(|e| (*e).to_owned())
                            .collect(),
                        engine => engine.iter().map(|e| e.to_string()).collect(),
                    },
                    disk_models: v.disk_models.iter().map(|m| m.to_string()).collect(),
                    cpu_percent: 0.0,
                    memory_percent: 0.0,
                })
            })
            .collect()
    }
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
