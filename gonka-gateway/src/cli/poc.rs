//! The PoC flags of `gonka-gateway` (flattened into [`super::Args`]).

use std::sync::Arc;
use std::time::Duration;

use gonka_core::ModelStageParams;
#[cfg(feature = "devnet")]
use gonka_gateway::poc::DevnetPoc;
use gonka_gateway::poc::{
    ArtifactStore, DevnetChain, DevnetPhaseClock, MlNodeVerifier, MlNodeVerifierSettings,
    PhaseDurations, PocConfig, VerifierKind,
};

/// PoC flags. With `--poc`, a local epoch clock (`--epoch-length`, default 10m, split into the
/// phases below, the rest is inference) drives PoC rounds on the enabled ML nodes.
#[derive(Debug, Clone, clap::Args)]
pub struct PocArgs {
    /// Run Proof-of-Compute epochs on the local epoch clock.
    #[arg(long = "poc", env = "GONKA_POC", global = true)]
    pub enabled: bool,
    /// Length of the PoC generate phase.
    #[arg(long, env = "GONKA_POC_GENERATE", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub poc_generate: Duration,
    /// Length of the wind-down phase (generation stopped, late artifacts accepted).
    #[arg(long, env = "GONKA_POC_WIND_DOWN", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub poc_wind_down: Duration,
    /// Length of the validate phase.
    #[arg(long, env = "GONKA_POC_VALIDATE", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub poc_validate: Duration,
    /// `seq_len` of each nonce; unset: the chain's default (256), as the network runs it. Setting
    /// it departs from the chain: only for a CPU devnet, where e.g. 16 keeps the tiny model fast.
    #[arg(long, env = "GONKA_POC_SEQ_LEN", value_name = "N", value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub poc_seq_len: Option<u32>,
    /// Use the stronger input RNG (the chain flag `poc_stronger_rng_enabled`, off by default).
    #[arg(long, env = "GONKA_POC_STRONGER_RNG", global = true)]
    pub poc_stronger_rng: bool,
    /// Artifact database: sqlite://PATH (created if missing); default `gonka-poc.db` (devnet:
    /// `poc.db` in the data directory).
    #[arg(
        long,
        env = "GONKA_POC_DATABASE",
        hide_env_values = true,
        global = true
    )]
    pub poc_database: Option<String>,
    /// Base URL ML nodes post artifacts to (default: http://<--poc-listen>).
    #[arg(long, env = "GONKA_POC_CALLBACK_URL", global = true)]
    pub poc_callback_url: Option<String>,
    /// This participant's public key (hex) seeding the nonces.
    #[arg(long, env = "GONKA_POC_PUBLIC_KEY", global = true)]
    pub poc_public_key: Option<String>,
    /// How PoC artifacts are validated: `mlnode` (this gateway's own ML nodes recompute the
    /// sampled nonces, as upstream; default) or `local` (CPU tiny model in the gateway; the
    /// devnet's default).
    #[arg(long, env = "GONKA_POC_VERIFIER", value_parser = parse_verifier, global = true)]
    pub poc_verifier: Option<VerifierKind>,
    /// Longest wait for one ML node's validation verdict (`/generate` + `/validated`) before
    /// the next ML node is tried.
    #[arg(long, env = "GONKA_POC_VALIDATION_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub poc_validation_timeout: Duration,
    /// Public URL of this participant listed in the participants (default:
    /// http://<--public-listen>); upstream's `DAPI_API__PUBLIC_URL`.
    #[arg(long, env = "GONKA_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
}

fn parse_verifier(s: &str) -> Result<VerifierKind, String> {
    s.parse()
}

impl PocArgs {
    /// The phase lengths for an epoch of `epoch_length` (default 10 minutes).
    ///
    /// # Errors
    /// A message naming the flags when the phases do not fit in the epoch.
    pub fn phases(&self, epoch_length: Option<Duration>) -> Result<PhaseDurations, String> {
        PhaseDurations::within_epoch(
            epoch_length.unwrap_or(Duration::from_secs(600)),
            self.poc_generate,
            self.poc_wind_down,
            self.poc_validate,
        )
        .map_err(|e| {
            format!("--epoch-length / --poc-generate / --poc-wind-down / --poc-validate: {e}")
        })
    }

    /// The gateway's PoC config and clock (`None` without `--poc`).
    ///
    /// # Errors
    /// Phases that do not fit, or an artifact database that cannot be opened.
    pub async fn gateway(
        &self,
        epoch_length: Option<Duration>,
    ) -> Result<Option<(DevnetPhaseClock, PocConfig)>, String> {
        if !self.enabled {
            return Ok(None);
        }
        let phases = self.phases(epoch_length)?;
        let url = self
            .poc_database
            .clone()
            .unwrap_or_else(|| "sqlite://gonka-poc.db".into());
        let store = ArtifactStore::open(&url)
            .await
            .map_err(|e| format!("--poc-database {}: {e}", gonka_admin::redact_url(&url)))?;
        let clock = DevnetPhaseClock::new(phases, "gonka").with_chain(self.chain());
        let mut config = PocConfig::new(Arc::new(clock.clone()), store);
        config.callback_url = self.poc_callback_url.clone();
        config.inference_url = self.public_url.clone();
        config.verifier = match self.poc_verifier.unwrap_or(VerifierKind::MlNode) {
            VerifierKind::MlNode => Arc::new(MlNodeVerifier::new(
                Arc::clone(&config.callbacks),
                MlNodeVerifierSettings {
                    attempt_timeout: self.poc_validation_timeout,
                    ..MlNodeVerifierSettings::default()
                },
            )),
            VerifierKind::Local => Arc::new(gonka_core::poc::ComputeVerifier::new(Arc::new(
                gonka_core::poc::TinyModelCompute::default(),
            ))),
        };
        Ok(Some((clock, config)))
    }

    /// The chain parameters of the local clock: the chain's defaults, with `--poc-seq-len`,
    /// `--poc-stronger-rng` and `--poc-public-key` when given.
    pub fn chain(&self) -> DevnetChain {
        let defaults = DevnetChain::default();
        DevnetChain {
            public_key: self.poc_public_key.clone().unwrap_or(defaults.public_key),
            model: ModelStageParams {
                seq_len: self
                    .poc_seq_len
                    .map_or(defaults.model.seq_len, |n| n as usize),
                ..defaults.model
            },
            stronger_rng: self.poc_stronger_rng,
        }
    }

    /// The devnet's PoC settings (`None` without `--poc`).
    #[cfg(feature = "devnet")]
    ///
    /// # Errors
    /// Phases that do not fit.
    pub fn devnet(&self, epoch_length: Option<Duration>) -> Result<Option<DevnetPoc>, String> {
        if !self.enabled {
            return Ok(None);
        }
        Ok(Some(DevnetPoc {
            phases: self.phases(epoch_length)?,
            chain: self.chain(),
            verifier: self.poc_verifier.unwrap_or(VerifierKind::Local),
            ..DevnetPoc::default()
        }))
    }
}

#[cfg(test)]
#[cfg(feature = "devnet")]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Args;

    #[test]
    fn poc_flags_split_the_epoch_and_reject_phases_that_do_not_fit() {
        let a = Args::try_parse_from([
            "gonka-gateway",
            "devnet",
            "--poc",
            "--epoch-length",
            "20s",
            "--poc-generate",
            "5s",
            "--poc-wind-down",
            "1s",
            "--poc-validate",
            "4s",
        ])
        .unwrap();
        let devnet = a.poc.devnet(a.epoch_length).unwrap().unwrap();
        assert_eq!(devnet.phases.inference, Duration::from_secs(10));
        assert_eq!(
            devnet.chain.model.seq_len, 256,
            "the chain's default seq_len"
        );
        let off = Args::try_parse_from(["gonka-gateway"]).unwrap();
        assert!(off.poc.devnet(None).unwrap().is_none());
        let bad =
            Args::try_parse_from(["gonka-gateway", "--poc", "--epoch-length", "60s"]).unwrap();
        let e = bad.poc.devnet(bad.epoch_length).unwrap_err();
        assert!(e.contains("--poc-generate"), "{e}");
    }

    #[test]
    fn poc_verifier_is_mlnode_for_the_gateway_and_local_for_the_devnet_unless_chosen() {
        let a = Args::try_parse_from(["gonka-gateway", "devnet", "--poc"]).unwrap();
        assert_eq!(a.poc.poc_verifier, None);
        let devnet = a.poc.devnet(a.epoch_length).unwrap().unwrap();
        assert_eq!(devnet.verifier, VerifierKind::Local);
        let chosen = Args::try_parse_from([
            "gonka-gateway",
            "devnet",
            "--poc",
            "--poc-verifier",
            "mlnode",
            "--poc-validation-timeout",
            "5s",
        ])
        .unwrap();
        assert_eq!(chosen.poc.poc_verifier, Some(VerifierKind::MlNode));
        assert_eq!(chosen.poc.poc_validation_timeout, Duration::from_secs(5));
        let devnet = chosen.poc.devnet(chosen.epoch_length).unwrap().unwrap();
        assert_eq!(devnet.verifier, VerifierKind::MlNode);
        let e = Args::try_parse_from(["gonka-gateway", "--poc-verifier", "gpu"]).unwrap_err();
        assert!(e.to_string().contains("mlnode or local"), "{e}");
    }

    #[test]
    fn the_devnet_round_uses_the_chain_seq_len_unless_set_explicitly() {
        let chain_default = Args::try_parse_from(["gonka-gateway", "devnet", "--poc"]).unwrap();
        let d = chain_default.poc.devnet(None).unwrap().unwrap();
        assert_eq!((d.chain.model.seq_len, d.chain.model.k_dim), (256, 12));
        assert!(!d.chain.stronger_rng);
        let small = Args::try_parse_from([
            "gonka-gateway",
            "devnet",
            "--poc",
            "--poc-seq-len",
            "16",
            "--poc-stronger-rng",
        ])
        .unwrap();
        let d = small.poc.devnet(None).unwrap().unwrap();
        assert_eq!(d.chain.model.seq_len, 16);
        assert!(d.chain.stronger_rng);
        assert!(
            Args::try_parse_from(["gonka-gateway", "--poc-seq-len", "0"]).is_err(),
            "seq_len 0 is refused"
        );
    }
}
