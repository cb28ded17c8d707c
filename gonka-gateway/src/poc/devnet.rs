//! PoC settings of a devnet: the epoch clock, the network node's [`PocConfig`] over a durable
//! store in the data directory, and the ML nodes' [`PocSettings`].

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::poc::params::ValidationParams;
use gonka_mlnode::poc::{PocModel, PocSettings};

use super::mlnode_verifier::VerifierKind;
use super::phases::{DevnetChain, DevnetPhaseClock, PhaseDurations};
use super::service::PocConfig;
use super::store::{ArtifactStore, StoreError};

/// PoC on a devnet.
#[derive(Debug, Clone)]
pub struct DevnetPoc {
    /// Phase lengths of each epoch.
    pub phases: PhaseDurations,
    /// The chain parameters the devnet clock reports ([`DevnetChain::default`]: the chain's
    /// `seq_len` 256 and `k_dim` 12; a CPU devnet may set a small `seq_len` explicitly).
    pub chain: DevnetChain,
    /// Validation thresholds and sample size.
    pub validation: ValidationParams,
    /// The ML nodes' PoC settings (backend, callback timing).
    pub mlnode: PocSettings,
    /// How the gateway validates: [`VerifierKind::Local`] (default: recomputes on the ML
    /// nodes' backend in the gateway) or [`VerifierKind::MlNode`] (asks its ML nodes).
    pub verifier: VerifierKind,
}

impl Default for DevnetPoc {
    /// Default phases, the chain's default PoC parameters, default thresholds, callbacks every
    /// second, ML nodes on the tiny random model, chosen explicitly (the devnet gateway validates
    /// with that model).
    fn default() -> Self {
        Self {
            phases: PhaseDurations::default(),
            chain: DevnetChain::default(),
            validation: ValidationParams::default(),
            mlnode: PocSettings {
                model: PocModel::Tiny,
                callback_interval: Duration::from_secs(1),
                ..PocSettings::default()
            },
            verifier: VerifierKind::Local,
        }
    }
}

impl DevnetPoc {
    /// The paused clock and the network node's config, storing artifacts in
    /// `data_dir/poc.db`. Start the clock once the nodes are ready.
    ///
    /// # Errors
    /// The store cannot be opened.
    pub async fn gateway_config(
        &self,
        data_dir: &Path,
    ) -> Result<(DevnetPhaseClock, PocConfig), StoreError> {
        let store = ArtifactStore::open_path(data_dir.join("poc.db")).await?;
        let clock = DevnetPhaseClock::paused(self.phases, data_dir.to_string_lossy())
            .with_chain(self.chain.clone());
        let mut config = PocConfig::new(Arc::new(clock.clone()), store);
        // By default the devnet ML nodes compute locally on the CPU and the gateway validates
        // on the same backend, through the PoCVerifier trait; `MlNode` keeps the default
        // verifier, which asks the ML nodes.
        if self.verifier == VerifierKind::Local {
            config.verifier = Arc::new(gonka_core::poc::ComputeVerifier::new(Arc::clone(
                &self.mlnode.compute,
            )));
        }
        config.validation = self.validation;
        config.tick =
            (self.phases.generate / 20).clamp(Duration::from_millis(5), Duration::from_millis(100));
        Ok((clock, config))
    }
}
