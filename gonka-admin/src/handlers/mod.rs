//! One file per group of admin calls.

pub mod admin_state;
pub mod batch;
pub mod fallback;
pub mod nodes;
