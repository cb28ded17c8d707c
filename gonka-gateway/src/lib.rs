//! # gonka-gateway
//!
//! The network node's API side: OpenAI-compatible routing to ML nodes with schedulers, health
//! checks, retries and a holding queue; the broker that drives ML nodes to their intended state;
//! the PoC receiver; and the `gonka-gateway` binary with its `devnet` subcommand.
