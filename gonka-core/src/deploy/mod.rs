//! Deployments: task groups of tasks placed on GPUs, their state machines, ids, specs and the
//! memory and engine rules placement uses. Pure logic; the servers store and act on it.

pub mod autoscale;
pub mod engine;
pub mod health;
pub mod ids;
pub mod model;
pub mod placement;
pub mod routes;
pub mod spec;
pub mod status;
pub mod store;
pub mod update;
pub mod vram;

pub use autoscale::{concurrency_share, decide, ScaleDecision, ScaleInput};
pub use engine::{choose_engine, engine_preference, GpuVendor};
pub use health::{HealthStatus, TaskHealth};
pub use model::{AuditEntry, Endpoint, RollingUpdateState, Task, TaskGroup, TaskPlacement};
pub use placement::{place, NoFit, Placement, PlacementNode, Plugin};
pub use routes::{pick_route, queue_priority, ModelRoute, RouteTable};
pub use spec::{Parallelism, Qos, RouteSpec, Shape, TaskGroupSpec};
pub use status::{advance_group, group_status_of, GroupStatus, IllegalTransition, TaskStatus};
pub use store::{DeploymentStore, GroupCreation, MemoryDeploymentStore, TaskFilter, TaskMove};
pub use update::{GroupUpdate, UpdateRequest, UpdateStrategy};
pub use vram::{estimate_mib, Dtype, VramInput};

#[cfg(test)]
mod tests;
