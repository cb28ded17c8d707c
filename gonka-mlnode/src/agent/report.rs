//! The JSON the management API reports: `GET /api/v1/state` and `GET /api/v1/inference/up/status`.
//! The types are the shared wire types of [`gonka_core::mlnode_api`].

pub use gonka_core::mlnode_api::{
    ReplicaHealth, ReplicaReport, StateReport, UpPhase, UpStatusReport,
};
