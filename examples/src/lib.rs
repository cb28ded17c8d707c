//! Examples of embedding the gonka crates; each binary in `examples/` is runnable with
//! `cargo run -p gonka-examples --example NAME`:
//!
//! - `embed_admin`: the admin API inside your own axum service ([`embed_admin::app`]);
//! - `embed_gateway`: the gateway inside your own service, routing with your own scheduler
//!   ([`embed_gateway::PreferPrefix`]) over an in-memory registry;
//! - `typed_client`: listing nodes with the typed admin client.
//!
//! [`fake_mlnode`] is a small loopback stand-in for ML nodes that the gateway example routes to.

pub mod embed_admin;
pub mod embed_gateway;
pub mod fake_mlnode;
