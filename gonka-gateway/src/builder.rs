//! [`Gateway::builder`]: a gateway assembled from its settings ([`GatewayConfig`]) and the trait
//! objects it is made of — where nodes are registered ([`NodeRegistry`]), how a node is picked
//! ([`Scheduler`]) and what the current epoch is ([`EpochSource`]).

use std::future::Future;
use std::sync::Arc;

use gonka_core::{EpochSource, NodeRegistry, Scheduler};

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
        GatewayBuilder { config }
    }
}

/// Collects the parts of a gateway; [`start`](Self::start) or [`run`](Self::run) it.
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    config: GatewayConfig,
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

    /// The configuration as built so far.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The finished configuration (for [`crate::start`] / [`crate::run`]).
    pub fn into_config(self) -> GatewayConfig {
        self.config
    }

    /// Starts the gateway on `listeners` and returns at once (see [`crate::start`]).
    ///
    /// # Errors
    /// As [`crate::start`].
    pub fn start(self, listeners: Listeners) -> Result<RunningGateway, StartupError> {
        server::start(self.config, listeners)
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
        server::run(self.config, listeners, shutdown).await
    }
}
