//! Proof-of-Compute on the network node: the epoch clock and its phases ([`phases`]), the
//! driver that switches enabled ML nodes to PoC at the generate phase and back after
//! ([`driver`]), the callback receiver on `--poc-listen` ([`receiver`]) over durable storage
//! ([`store`]), the validation runner ([`validation`]) and the participants list
//! ([`participants`]). [`PocService`] holds the state they share. Validation asks the
//! gateway's own ML nodes by default ([`mlnode_verifier`], answers on `/validated` through
//! [`callbacks`]).
//!
//! Without a [`PocConfig`] the PoC listener answers `/health` only ([`poc_router`]).

pub mod callbacks;
#[cfg(feature = "devnet")]
#[cfg_attr(docsrs, doc(cfg(feature = "devnet")))]
pub mod devnet;
pub mod driver;
pub mod mlnode_verifier;
pub mod participants;
pub mod phases;
pub mod receiver;
pub mod service;
pub mod store;
pub mod validation;

use axum::routing::get;
use axum::Router;

pub use callbacks::ValidationCallbacks;
#[cfg(feature = "devnet")]
#[cfg_attr(docsrs, doc(cfg(feature = "devnet")))]
pub use devnet::DevnetPoc;
pub use mlnode_verifier::{MlNodeVerifier, MlNodeVerifierSettings, VerifierKind};
pub use phases::{
    DevnetChain, DevnetPhaseClock, Phase, PhaseClock, PhaseDurations, PhaseError, PhaseInfo,
    DEVNET_PUBLIC_KEY,
};
pub use receiver::{participants_router, receiver_router};
pub use service::{EpochResult, PocConfig, PocService};
pub use store::ArtifactStore;

/// The metric label of a PoC phase: `generate`, `wind_down`, `validate` or `inference`.
pub fn phase_name(phase: gonka_core::Phase) -> &'static str {
    match phase {
        gonka_core::Phase::Generate => "generate",
        gonka_core::Phase::WindDown => "wind_down",
        gonka_core::Phase::Validate => "validate",
        gonka_core::Phase::Inference => "inference",
    }
}

/// Routes of the PoC callback listener when PoC is not configured: `/health` only.
pub fn poc_router() -> Router {
    Router::new().route("/health", get(crate::handlers::health::health))
}
