//! Examples of embedding the gonka crates; each binary in `examples/` is runnable with
//! `cargo run -p gonka-examples --example NAME`:
//!
//! - `embed_admin`: the admin API inside your own axum service ([`embed_admin::app`]);
//! - `embed_gateway`: the gateway inside your own service, routing with your own scheduler
//!   ([`embed_gateway::PreferPrefix`]) over an in-memory registry;
//! - `embed_mlnode`: the ML node agent with your own inference engine
//!   ([`embed_mlnode::agent`], [`embed_mlnode::EchoBackend`]);
//! - `typed_client`: listing nodes with the typed admin client.
//!
//! [`fake_mlnode`] is a small loopback stand-in for ML nodes that the gateway example routes to.
//! The Rust snippets of the repository's README and of the guides under `docs/` are compiled
//! (and, unless marked `no_run`, run) as doctests of this crate (`cargo test -p gonka-examples
//! --doc`).

pub mod embed_admin;
pub mod embed_gateway;
pub mod embed_mlnode;
pub mod fake_mlnode;

/// The README, so that `cargo test --doc` compiles its Rust snippets.
#[doc = include_str!("../../README.md")]
mod readme {}

/// The deployments guide, so that `cargo test --doc` compiles its Rust snippets.
#[doc = include_str!("../../docs/deployments.md")]
mod deployments_guide {}
