//! Examples of embedding the gonka crates; each binary in `examples/` is runnable with
//! `cargo run -p gonka-examples --example NAME`:
//!
//! - `embed_admin`: the admin API inside your own axum service ([`embed_admin::app`]);
//! - `typed_client`: listing nodes with the typed admin client.

pub mod embed_admin;
