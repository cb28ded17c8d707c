//! [`Gateway::builder`]: a gateway assembled from its settings ([`GatewayConfig`]) and the trait
//! objects it is made of — where nodes are registered ([`NodeRegistry`]), how a node is picked
//! ([`Scheduler`]), what the current epoch is ([`EpochSource`]) and how PoC artifacts are
//! validated ([`PoCVerifier`]).

use std::future::Future;
use std::sync::Arc;

use gonka_core::{EpochSource, NodeRegistry, PoCVerifier, PocEpochSource, Scheduler};

use crate::server::{self, Listeners, RunningGateway};
use crate::{GatewayConfig, StartupError};

/// The entry point of an embedded gateway: [`Gateway::builder`].
#[derive(Debug, Clone, Copy)]
pub struct Gateway;

impl Gateway {
    /// A builder starting from `config` (its registry, epoch source and scheduler are the
    /// defaults the builder's setters replace).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use gonka_core::{ManualEpoch, MemoryRegistry};
    /// use gonka_gateway::{schedule::scheduler_by_name, Gateway, GatewayConfig, Listeners};
    ///
    /// let registry = Arc::new(MemoryRegistry::new());
    /// let gateway = Gateway::builder(GatewayConfig::new(registry.clone()))
    ///     .registry(registry)
    ///     .scheduler(scheduler_by_name("round-robin")?)
    ///     .epoch_source(Arc::new(ManualEpoch::new(3)))
    ///     .start(Listeners {
    ///         public: tokio::net::TcpListener::bind("127.0.0.1:0").await?,
    ///         admin: None,
    ///         poc: None,
    ///     })?;
    /// gateway.shutdown().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(config: GatewayConfig) -> GatewayBuilder {
        GatewayBuilder {
            config,
            verifier: None,
            poc_epoch_source: None,
        }
    }
}

/// Collects the parts of a gateway; [`start`](Self::start) or [`run`](Self::run) it.
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    config: GatewayConfig,
    verifier: Option<Arc<dyn PoCVerifier>>,
    poc_epoch_source: Option<Arc<dyn PocEpochSource>>,
}

impl GatewayBuilder {
    /// Where ML nodes are registered: the gateway follows its change feed and serves the admin
    /// API over it.
    pub fn registry(mut self, registry: Arc<dyn NodeRegistry>) -> Self {
        self.config.registry = registry;
        self
    }

    /// The scheduler that picks the node of every request: a built-in one
    /// ([`crate::schedule::scheduler_by_name`]) or the embedder's own implementation. Its
    /// contract ([`Scheduler`]) is checked by `gonka_core::testing::scheduler_suite`; when it
    /// offers an index the pool picks through it, otherwise the pool calls `pick` over a
    /// snapshot of every node.
    pub fn scheduler(mut self, scheduler: Arc<dyn Scheduler>) -> Self {
        self.config.scheduler = scheduler;
        self
    }

    /// The source of the current epoch (decides how long a disabled node keeps serving).
    pub fn epoch_source(mut self, epoch: Arc<dyn EpochSource>) -> Self {
        self.config.epoch = epoch;
        self
    }

    /// The source of the epoch, its PoC phases and every PoC stage's parameters (seed block,
    /// public key, per-model `seq_len`/`k_dim`, RNG variant): a chain client, or the devnet
    /// clock ([`crate::poc::DevnetPhaseClock`]). It becomes both the epoch source (as
    /// [`epoch_source`](Self::epoch_source)) and, when PoC is on (`config.poc`), the clock the
    /// PoC driver reads each round from (it replaces [`crate::poc::PocConfig::clock`], and
    /// [`crate::poc::PocConfig::public_key`] by the source's key). Its
    /// contract is checked by `gonka_core::testing::epoch_source_suite`.
    pub fn poc_epoch_source(mut self, source: Arc<dyn PocEpochSource>) -> Self {
        self.config.epoch = source.clone();
        self.poc_epoch_source = Some(source);
        self
    }

    /// The verifier that recomputes and judges the ML nodes' PoC artifacts when PoC is on
    /// (`config.poc`; it replaces [`crate::poc::PocConfig::verifier`]). The default asks the
    /// gateway's own ML nodes ([`crate::poc::MlNodeVerifier`] over
    /// [`crate::poc::PocConfig::callbacks`]); a local one must compute like the ML nodes'
    /// backend, e.g. [`gonka_core::poc::ComputeVerifier`] over the same
    /// [`gonka_core::poc::PocCompute`]. Without PoC it is not used.
    pub fn verifier(mut self, verifier: Arc<dyn PoCVerifier>) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// The finished configuration (for [`crate::start`] / [`crate::run`]).
    pub fn into_config(self) -> GatewayConfig {
        let mut config = self.config;
        if let (Some(verifier), Some(poc)) = (self.verifier, config.poc.as_mut()) {
            poc.verifier = verifier;
        }
        if let (Some(source), Some(poc)) = (self.poc_epoch_source, config.poc.as_mut()) {
            poc.public_key = source.stage_params(&source.now()).public_key;
            poc.clock = source;
        }
        config
    }

    /// Starts the gateway on `listeners` and returns at once (see [`crate::start`]).
    ///
    /// # Errors
    /// As [`crate::start`].
    pub fn start(self, listeners: Listeners) -> Result<RunningGateway, StartupError> {
        server::start(self.into_config(), listeners)
    }

    /// Runs the gateway until `shutdown` resolves, then drains (see [`crate::run`]).
    ///
    /// # Errors
    /// As [`crate::start`].
    pub async fn run(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), StartupError> {
        server::run(self.into_config(), listeners, shutdown).await
    }
}
