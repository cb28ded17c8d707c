//! [`GatewayConfig`]: everything `run` needs, with the defaults of the `gonka-gateway` binary.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gonka_core::cross_site::SitePolicy;
use gonka_core::{
    EpochSource, GovernanceModels, ManualEpoch, MemoryRegistry, NodeRegistry, Scheduler,
};

use crate::schedule::LeastBusy;

/// Configuration of a gateway. Build with [`GatewayConfig::new`] and adjust the public fields.
/// Its `Debug` output redacts the API keys and tokens.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Where ML nodes are registered; the gateway follows its change feed.
    pub registry: Arc<dyn NodeRegistry>,
    /// The current epoch (decides how long a disabled node keeps serving).
    pub epoch: Arc<dyn EpochSource>,
    /// Picks the node of every request (default [`LeastBusy`]); any [`Scheduler`], built-in
    /// ([`crate::schedule::scheduler_by_name`]) or the embedder's own. When it offers an index
    /// ([`Scheduler::index`]) the pool picks through it, otherwise it scans.
    pub scheduler: Arc<dyn Scheduler>,
    /// How long a request waits in the holding queue for a free node (default 30 s).
    pub queue_timeout: Duration,
    /// How many requests may wait at once before new ones get 429 (default 1024).
    pub queue_capacity: usize,
    /// Tries per request on distinct nodes, for failures before the first byte (default 3).
    pub max_tries: u32,
    /// Consecutive proxy failures that open a node's circuit breaker (default 3).
    pub breaker_threshold: u32,
    /// Interval of health checks of every node (default 5 s).
    pub health_interval: Duration,
    /// Timeout of one health check call (default 2 s).
    pub health_timeout: Duration,
    /// Interval of health checks of a node out of routing (its last check failed or its
    /// breaker is open), and how often a routable node's checker looks whether its breaker
    /// opened (default 0.5 s): a node that is healthy again is routed to within about this long.
    /// Used only when shorter than `health_interval`.
    pub health_recovery_interval: Duration,
    /// Interval of the broker's reconcile loop (default 30 s; immediate on registry change).
    pub reconcile_interval: Duration,
    /// Timeout of one management API call made by the broker (default 10 s).
    pub broker_timeout: Duration,
    /// Timeout of the broker's `inference/up`, which an ML node answers only once the engine
    /// serves the model (default 30 min, enough for a large model's load).
    pub broker_up_timeout: Duration,
    /// Longest wait for an upstream's first byte (default 300 s).
    pub request_timeout: Duration,
    /// Longest silence between two chunks of an upstream body (default 300 s).
    pub idle_timeout: Duration,
    /// How long a kept-alive connection to an ML node may sit unused before the gateway closes
    /// it (default 4 s: under the 5 s keep-alive of uvicorn (vLLM, the upstream ML node) and
    /// llama.cpp, so the gateway closes first and never sends on a connection the node is
    /// closing; idle connections of a large fleet do not pile up).
    pub upstream_idle_timeout: Duration,
    /// Time a client has to send a complete request head on any listener before its connection
    /// is closed (slowloris protection; default 30 s).
    pub header_read_timeout: Duration,
    /// Longest pause between two parts of a client's request body before the request fails with
    /// 408 (default 30 s).
    pub body_read_timeout: Duration,
    /// Most connections open at once on each listener; more are answered 503 and closed.
    /// `None` (the default): derived from the open-file limit
    /// (`gonka_core::server::default_max_connections`).
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address on each listener; more are
    /// answered 503 and closed. `None` (the default): a quarter of the listener's cap.
    pub max_connections_per_ip: Option<usize>,
    /// Maximum request body in bytes (default 16 MiB).
    pub body_limit: usize,
    /// Accepted API keys; empty means no authentication.
    pub api_keys: HashSet<String>,
    /// Model → models tried in order when it has no eligible node.
    pub fallbacks: HashMap<String, Vec<String>>,
    /// What happens to a request's `num_ctx` (default strip; see [`crate::context`]).
    pub context_protection: crate::context::ContextProtection,
    /// How long in-flight requests may run after shutdown starts (default 30 s).
    pub drain_timeout: Duration,
    /// Bearer token of the admin API, if any.
    pub admin_token: Option<String>,
    /// `Host` and `Origin` headers the admin API accepts (else 403; default: IP literals and
    /// `localhost` as `Host`, the API's own origin only).
    pub admin_sites: SitePolicy,
    /// Governance model list the admin API enforces (default: seed 000's five models).
    pub governance: GovernanceModels,
    /// Bearer token for the ML nodes' management API, when they require one.
    pub mlnode_token: Option<String>,
    /// Proof-of-Compute (epoch phases, receiver, validation, participants); `None`: off, the
    /// PoC listener answers `/health` only.
    pub poc: Option<crate::poc::PocConfig>,
    /// `/readyz` answers 200 with zero routable nodes (the registry must still answer); off by
    /// default, so a gateway that can route nothing is taken out of a load balancer's rotation.
    pub ready_without_nodes: bool,
    /// Further engine routes the public listener passes through, routed by the body's `model`
    /// like chat completions (same scheduler, queue, retries and metrics); each a path
    /// starting with `/`. Default: `/v1/embeddings`.
    pub passthrough_routes: Vec<String>,
    /// Origins allowed by CORS on the public listener (`*` for any); empty: no CORS headers,
    /// browsers on other sites cannot read answers.
    pub cors_origins: Vec<String>,
    /// Serve `/metrics` on a listener of its own at this address, and not on the public
    /// listener; `None` (the default): on the public listener (behind the API keys when they
    /// are set, see [`GatewayConfig::metrics_token`]).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Bearer token `/metrics` requires wherever it is served (`Authorization: Bearer <token>`,
    /// else 401). `None` (the default): the metrics listener is open, and `/metrics` on the
    /// public listener takes the API keys when they are set, else is open.
    pub metrics_token: Option<String>,
    /// TLS for the public listener (certificate and key files, reloadable); `None`: plain HTTP.
    pub tls: Option<gonka_core::server::tls::TlsFiles>,
    /// Where request traces are kept (one per routing decision, docs/traces.md); `None`: not
    /// recorded. Default: a bounded [`gonka_core::MemoryTraceStore`]; the binary opens the
    /// store on its registry database (`--traces`).
    pub traces: Option<Arc<dyn gonka_core::TraceStore>>,
    /// How traces are written and kept (channel size, batch size, retention).
    pub trace_settings: crate::traces::TraceSettings,
    /// Fleet features: heartbeat expiry, zombie reaper, auto-pull, VRAM fallback, mDNS
    /// (see [`crate::fleet`]).
    pub fleet: crate::fleet::FleetSettings,
    /// Where deployments (task groups, tasks, model routes; `/api/v1` on the admin listener,
    /// docs/deployments.md) live; `None`: the deployments API is not served. Default: a
    /// [`gonka_core::deploy::MemoryDeploymentStore`]; the binary opens the store on its registry
    /// database.
    pub deployments: Option<Arc<dyn gonka_core::deploy::DeploymentStore>>,
    /// Whether this gateway runs the deployments' placer and task driver (default `true`; with
    /// several replicas one of them drives at a time, under a lease). `false`: it serves the
    /// deployments (their routes, endpoint keys and API) while something else drives them:
    /// another replica, or an embedder running [`crate::placer::Placer`] and
    /// [`crate::task_driver::TaskDriver`] itself (with its own clock or settings).
    pub drive_deployments: bool,
    /// How the placement loop ranks the nodes a task fits on (default
    /// [`gonka_core::deploy::Plugin::Binpack`]; `--placement`).
    pub placement_plugin: gonka_core::deploy::Plugin,
    /// Timing of the deployments' task health checks instead of each group's `health_check`
    /// (default: none, the groups' own; tests set short ones). Used by the continuous checks
    /// ([`crate::task_health`]) and by the task driver's checks during updates.
    pub task_health: crate::task_health::HealthSettings,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |t: &Option<String>| t.as_ref().map(|_| "<redacted>");
        f.debug_struct("GatewayConfig")
            .field("registry", &self.registry)
            .field("epoch", &self.epoch)
            .field("scheduler", &self.scheduler.name())
            .field("queue_timeout", &self.queue_timeout)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_tries", &self.max_tries)
            .field("breaker_threshold", &self.breaker_threshold)
            .field("health_interval", &self.health_interval)
            .field("health_timeout", &self.health_timeout)
            .field("health_recovery_interval", &self.health_recovery_interval)
            .field("reconcile_interval", &self.reconcile_interval)
            .field("broker_timeout", &self.broker_timeout)
            .field("broker_up_timeout", &self.broker_up_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("upstream_idle_timeout", &self.upstream_idle_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("body_read_timeout", &self.body_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("body_limit", &self.body_limit)
            .field(
                "api_keys",
                &format_args!("<{} redacted>", self.api_keys.len()),
            )
            .field("fallbacks", &self.fallbacks)
            .field("context_protection", &self.context_protection)
            .field("drain_timeout", &self.drain_timeout)
            .field("admin_token", &redacted(&self.admin_token))
            .field("admin_sites", &self.admin_sites)
            .field("governance", &self.governance)
            .field("mlnode_token", &redacted(&self.mlnode_token))
            .field("poc", &self.poc)
            .field("ready_without_nodes", &self.ready_without_nodes)
            .field("passthrough_routes", &self.passthrough_routes)
            .field("cors_origins", &self.cors_origins)
            .field("tls", &self.tls.as_ref().map(|t| t.cert_path().to_owned()))
            .field("fleet", &self.fleet)
            .field("metrics_listen", &self.metrics_listen)
            .field("metrics_token", &redacted(&self.metrics_token))
            .field("traces", &self.traces)
            .field("trace_settings", &self.trace_settings)
            .field("deployments", &self.deployments)
            .field("drive_deployments", &self.drive_deployments)
            .field("placement_plugin", &self.placement_plugin)
            .field("task_health", &self.task_health)
            .finish()
    }
}

impl GatewayConfig {
    /// A configuration with the binary's defaults over `registry`, epoch 0 from a [`ManualEpoch`].
    pub fn new(registry: Arc<dyn NodeRegistry>) -> Self {
        Self {
            registry,
            epoch: Arc::new(ManualEpoch::new(0)),
            scheduler: Arc::new(LeastBusy),
            queue_timeout: Duration::from_secs(30),
            queue_capacity: 1024,
            max_tries: 3,
            breaker_threshold: 3,
            health_interval: Duration::from_secs(5),
            health_timeout: Duration::from_secs(2),
            health_recovery_interval: Duration::from_millis(500),
            reconcile_interval: Duration::from_secs(30),
            broker_timeout: Duration::from_secs(10),
            broker_up_timeout: Duration::from_secs(30 * 60),
            request_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(300),
            upstream_idle_timeout: Duration::from_secs(4),
            header_read_timeout: crate::http_serve::HEADER_READ_TIMEOUT,
            body_read_timeout: crate::http_serve::BODY_READ_TIMEOUT,
            max_connections: None,
            max_connections_per_ip: None,
            body_limit: 16 * 1024 * 1024,
            api_keys: HashSet::new(),
            fallbacks: HashMap::new(),
            context_protection: crate::context::ContextProtection::default(),
            drain_timeout: Duration::from_secs(30),
            admin_token: None,
            admin_sites: SitePolicy::default(),
            governance: GovernanceModels::default(),
            mlnode_token: None,
            poc: None,
            ready_without_nodes: false,
            passthrough_routes: vec!["/v1/embeddings".to_owned()],
            cors_origins: Vec::new(),
            metrics_listen: None,
            metrics_token: None,
            tls: None,
            traces: Some(Arc::new(gonka_core::MemoryTraceStore::new())),
            trace_settings: crate::traces::TraceSettings::default(),
            fleet: crate::fleet::FleetSettings::default(),
            deployments: Some(Arc::new(gonka_core::deploy::MemoryDeploymentStore::new())),
            drive_deployments: true,
            placement_plugin: gonka_core::deploy::Plugin::default(),
            task_health: crate::task_health::HealthSettings::default(),
        }
    }

    /// Adds a fallback `from=to` (as given to `--fallback`).
    ///
    /// # Errors
    /// [`FallbackSpecError`] (naming the argument) when it is not `MODEL=FALLBACK` with both
    /// sides non-empty.
    pub fn add_fallback(&mut self, spec: &str) -> Result<(), FallbackSpecError> {
        let (from, to) = parse_fallback(spec)?;
        self.fallbacks.entry(from).or_default().push(to);
        Ok(())
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self::new(Arc::new(MemoryRegistry::new()))
    }
}

/// A fallback that is not `MODEL=FALLBACK` with both sides non-empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fallback {spec:?}: expected MODEL=FALLBACK, e.g. Qwen/QwQ-32B=Qwen/Qwen3-32B-FP8")]
pub struct FallbackSpecError {
    /// The argument as given.
    pub spec: String,
}

/// Parses `MODEL=FALLBACK`.
///
/// # Errors
/// [`FallbackSpecError`] naming the argument when either side is missing.
pub fn parse_fallback(spec: &str) -> Result<(String, String), FallbackSpecError> {
    match spec.split_once('=') {
        Some((from, to)) if !from.trim().is_empty() && !to.trim().is_empty() => {
            Ok((from.trim().to_owned(), to.trim().to_owned()))
        }
        _ => Err(FallbackSpecError {
            spec: spec.to_owned(),
        }),
    }
}

/// Parses an API keys file: one key per line; blank lines and `#` comments are ignored.
pub fn parse_api_keys(text: &str) -> HashSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_needs_both_sides() {
        assert_eq!(
            parse_fallback("Qwen/A=Qwen/B"),
            Ok(("Qwen/A".into(), "Qwen/B".into()))
        );
        let e = parse_fallback("Qwen/A").unwrap_err();
        assert_eq!(e.spec, "Qwen/A");
        assert!(e.to_string().contains("\"Qwen/A\""), "{e}");
        assert!(parse_fallback("=Qwen/B").is_err());
    }

    #[test]
    fn debug_output_redacts_keys_and_tokens() {
        let c = GatewayConfig {
            api_keys: parse_api_keys("sk-secret-key"),
            admin_token: Some("admin-secret".into()),
            mlnode_token: Some("mlnode-secret".into()),
            ..GatewayConfig::default()
        };
        let s = format!("{c:?}");
        assert!(!s.contains("secret"), "{s}");
        assert!(s.contains("<redacted>") && s.contains("<1 redacted>"));
    }

    #[test]
    fn api_keys_file_skips_comments_and_blanks() {
        let keys = parse_api_keys("# keys\nsk-one\n\n  sk-two  \n");
        assert_eq!(keys.len(), 2);
        assert!(keys.contains("sk-two"));
    }
}
