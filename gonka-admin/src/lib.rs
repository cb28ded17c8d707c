//! # gonka-admin
//!
//! The admin API of the network node (seed 000): an axum `Router` to serve or embed, the durable
//! SQLite registry, a typed client, and the `gonka-admin` binary.
