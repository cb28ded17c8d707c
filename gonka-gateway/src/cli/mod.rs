//! The `gonka-gateway` command line: flags (each also read from a `GONKA_*` environment variable
//! and from the `--config` TOML file), the `devnet` subcommand, and turning them into a
//! [`GatewayConfig`].

#[cfg(feature = "devnet")]
mod devnet;
mod poc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use gonka_core::cli::{Layered, ParseError};
use gonka_core::{GovernanceModels, ManualEpoch, NodeRegistry, Scheduler};

use gonka_gateway::GatewayConfig;

#[cfg(feature = "devnet")]
pub use devnet::Command;

/// Subcommands: none without the `devnet` feature.
#[cfg(not(feature = "devnet"))]
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {}

/// Command line of `gonka-gateway`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "gonka-gateway",
    version,
    about = "Gonka network node: OpenAI gateway to ML nodes, admin API, broker and PoC callbacks",
    long_about = None,
    after_help = UPSTREAM_HELP
)]
pub struct Args {
    /// TOML file of settings (keys are the long flag names, e.g. `queue-timeout = "30s"`;
    /// devnet's flags in a `[devnet]` table): flags and environment variables win over it, it wins
    /// over the defaults.
    #[arg(long, env = "GONKA_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Public OpenAI API address.
    #[arg(
        long,
        env = "GONKA_PUBLIC_LISTEN",
        default_value = "127.0.0.1:9000",
        global = true
    )]
    pub public_listen: SocketAddr,
    /// Admin API address (keep it private).
    #[arg(
        long,
        env = "GONKA_ADMIN_LISTEN",
        default_value = "127.0.0.1:9200",
        global = true
    )]
    pub admin_listen: SocketAddr,
    /// PoC callback address.
    #[arg(
        long,
        env = "GONKA_POC_LISTEN",
        default_value = "127.0.0.1:9100",
        global = true
    )]
    pub poc_listen: SocketAddr,
    /// Registry database: sqlite://PATH (created if missing), postgres://USER:PASS@HOST/DB (shared by several
    /// gateway replicas), or memory: (nothing persisted).
    #[arg(
        long,
        env = "GONKA_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://gonka.db"
    )]
    pub database: String,
    /// Routing policy: least-busy, round-robin, power-of-two, scored or model-aware (seed 003's
    /// seven signals: where the model is loaded, memory, queue, wait, role, availability,
    /// context; see docs/scheduling.md).
    #[arg(
        long,
        env = "GONKA_POLICY",
        default_value = "least-busy",
        value_parser = parse_policy,
        global = true
    )]
    pub policy: Arc<dyn Scheduler>,
    /// How deployments' tasks are placed among the nodes they fit on: binpack (fill used GPUs
    /// first, keep whole GPUs free), spread (emptiest GPUs and nodes first), topology (adjacent
    /// GPU ids for multi-GPU tasks) or preempt (binpack, evicting lower-priority tasks when
    /// nothing fits). See docs/deployments.md.
    #[arg(
        long,
        env = "GONKA_PLACEMENT",
        default_value = "binpack",
        value_name = "PLUGIN",
        global = true
    )]
    pub placement: gonka_core::deploy::Plugin,
    /// Weights of the model-aware policy replacing seed 003's defaults, as `name=value,...`:
    /// thermal_hot (50), thermal_warm (30), thermal_cold (10), memory_fit (20), queue_depth (30),
    /// wait (25), role_affinity (15), availability (10), context_fit (15), wait_full_s (30),
    /// large_model_gb (30). Only with `--policy model-aware`.
    #[arg(long, env = "GONKA_SCORE_WEIGHTS", global = true)]
    pub score_weights: Option<gonka_gateway::schedule::ModelAwareWeights>,
    /// What happens to a request's `num_ctx` (Ollama `options.num_ctx`, or `num_ctx` in an
    /// OpenAI body): strip (removed when the chosen node's loaded context holds it; a larger one
    /// prefers nodes whose loaded context does), warn (routed the same, never removed; a
    /// warning when it exceeds the loaded context) or passthrough (untouched).
    #[arg(
        long,
        env = "GONKA_CONTEXT_PROTECTION",
        default_value = "strip",
        global = true
    )]
    pub context_protection: gonka_gateway::context::ContextProtection,
    /// How long a request waits for a free node before 503.
    #[arg(long, env = "GONKA_QUEUE_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub queue_timeout: Duration,
    /// Requests allowed to wait at once; more get 429.
    #[arg(
        long,
        env = "GONKA_QUEUE_CAPACITY",
        default_value_t = 1024,
        global = true
    )]
    pub queue_capacity: usize,
    /// Tries per request on distinct nodes (failures before the first byte only).
    #[arg(long, env = "GONKA_MAX_TRIES", default_value_t = 3, global = true)]
    pub max_tries: u32,
    /// Consecutive failures that open a node's circuit breaker.
    #[arg(
        long,
        env = "GONKA_BREAKER_THRESHOLD",
        default_value_t = 3,
        global = true
    )]
    pub breaker_threshold: u32,
    /// Interval of node health checks.
    #[arg(long, env = "GONKA_HEALTH_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration, global = true)]
    pub health_interval: Duration,
    /// Timeout of one health check call.
    #[arg(long, env = "GONKA_HEALTH_TIMEOUT", default_value = "2s", value_parser = humantime::parse_duration, global = true)]
    pub health_timeout: Duration,
    /// Interval of health checks of a node out of routing (failed check, open breaker): a node
    /// that is healthy again is routed to within about this long.
    #[arg(long, env = "GONKA_HEALTH_RECOVERY_INTERVAL", default_value = "500ms", value_parser = humantime::parse_duration, global = true)]
    pub health_recovery_interval: Duration,
    /// PEM certificate chain (leaf first) for HTTPS on the public listener; needs --tls-key.
    /// Re-read on SIGHUP (new connections get the new certificate; a file that does not load
    /// keeps the old one, logged).
    #[arg(
        long,
        env = "GONKA_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        global = true
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(
        long,
        env = "GONKA_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert",
        global = true
    )]
    pub tls_key: Option<PathBuf>,
    /// Engine routes the public API passes through besides chat/completions, comma-separated:
    /// `POST` bodies with a `model`, routed like chat completions (e.g. `/v1/embeddings,/v1/rerank`).
    #[arg(
        long,
        env = "GONKA_PASSTHROUGH_ROUTES",
        value_delimiter = ',',
        default_value = "/v1/embeddings",
        value_name = "PATH,...",
        global = true
    )]
    pub passthrough_routes: Vec<String>,
    /// Origins whose browser pages may call the public API (CORS), comma-separated, e.g.
    /// `https://chat.example.com`; `*` for any. Unset: no CORS headers.
    #[arg(
        long,
        env = "GONKA_CORS_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN,...",
        global = true
    )]
    pub cors_origins: Vec<String>,
    /// `/readyz` answers 200 even with zero routable nodes (the registry must still answer): for a
    /// fresh install that nodes join later. Off: a gateway that can route nothing is not ready.
    #[arg(long, env = "GONKA_READY_WITHOUT_NODES", global = true)]
    pub ready_without_nodes: bool,
    /// Interval of the broker's reconcile loop (also runs at once on registry changes).
    #[arg(long, env = "GONKA_RECONCILE_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub reconcile_interval: Duration,
    /// Timeout of one management API call by the broker.
    #[arg(long, env = "GONKA_BROKER_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub broker_timeout: Duration,
    /// Timeout of the broker's `inference/up`, which the ML node answers once the model is
    /// loaded (a large model takes many minutes).
    #[arg(long, env = "GONKA_BROKER_UP_TIMEOUT", default_value = "30m", value_parser = humantime::parse_duration, global = true)]
    pub broker_up_timeout: Duration,
    /// Longest wait for an upstream's first byte.
    #[arg(long, env = "GONKA_REQUEST_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    pub request_timeout: Duration,
    /// Longest silence between two chunks of a stream.
    #[arg(long, env = "GONKA_IDLE_TIMEOUT", default_value = "5m", value_parser = humantime::parse_duration, global = true)]
    pub idle_timeout: Duration,
    /// Kept-alive connections to ML nodes unused this long are closed (below the nodes' own
    /// keep-alive, 5 s for vLLM and llama.cpp).
    #[arg(long, env = "GONKA_UPSTREAM_IDLE_TIMEOUT", default_value = "4s", value_parser = humantime::parse_duration, global = true)]
    pub upstream_idle_timeout: Duration,
    /// Time a client has to send a complete request head (slowloris protection), on every listener.
    #[arg(long, env = "GONKA_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub header_read_timeout: Duration,
    /// Longest pause between two parts of a client's request body before 408, on every listener.
    #[arg(long, env = "GONKA_BODY_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub body_read_timeout: Duration,
    /// Most connections open at once on each listener (public, admin, PoC); more are answered
    /// 503 and closed. Default: the open-file limit (raised to its hard limit at start) less a
    /// reserve for upstream and health-check connections, at most 16384.
    #[arg(long, env = "GONKA_MAX_CONNECTIONS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), global = true)]
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address on each listener; more are answered
    /// 503 and closed. Default: a quarter of --max-connections (raise it when a reverse proxy
    /// connects for every client).
    #[arg(long, env = "GONKA_MAX_CONNECTIONS_PER_IP", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), global = true)]
    pub max_connections_per_ip: Option<usize>,
    /// Largest request body in bytes.
    #[arg(long, env = "GONKA_BODY_LIMIT", default_value_t = 16 * 1024 * 1024, global = true)]
    pub body_limit: usize,
    /// File of accepted API keys, one per line (`#` comments): a key, or `sha256:<hex>` of the key so the
    /// file holds no plaintext (`printf %s KEY | sha256sum`); unset means no authentication.
    #[arg(long, env = "GONKA_API_KEYS_FILE", global = true)]
    pub api_keys_file: Option<PathBuf>,
    /// Fallback model, `MODEL=FALLBACK`, tried when MODEL has no eligible node (repeatable).
    #[arg(
        long = "fallback",
        env = "GONKA_FALLBACKS",
        value_delimiter = ',',
        global = true
    )]
    pub fallbacks: Vec<String>,
    /// Bearer token required by the admin API. Set but empty is a start-up error.
    #[arg(long, env = "GONKA_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub admin_token: Option<String>,
    /// Comma-separated host names the admin API accepts in the `Host` header besides IP
    /// addresses and localhost (`name` or `name:port`; `*` accepts any host, disabling the
    /// DNS-rebinding check); other hosts get 403.
    #[arg(
        long,
        env = "GONKA_ADMIN_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST,...",
        global = true
    )]
    pub admin_allowed_hosts: Vec<String>,
    /// Comma-separated browser origins (`https://ops.example.com`) allowed to call the admin API
    /// besides its own; `*` accepts any. Another `Origin` gets 403; clients that send no `Origin`
    /// (curl, SDKs) are not affected.
    #[arg(
        long,
        env = "GONKA_ADMIN_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN,...",
        global = true
    )]
    pub admin_allowed_origins: Vec<String>,
    /// Serve these listeners beyond loopback without a token, with a warning: `admin` (no
    /// --admin-token), `poc` (the PoC callbacks have no token), or both (`all`, the flag alone).
    /// Without it, such a listener address is a start-up error. E.g.
    /// `--allow-unauthenticated=poc` when ML nodes on other hosts post PoC callbacks.
    #[arg(
        long,
        env = "GONKA_ALLOW_UNAUTHENTICATED",
        value_enum,
        value_delimiter = ',',
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "all",
        value_name = "LISTENERS",
        global = true
    )]
    pub allow_unauthenticated: Vec<Unauthenticated>,
    /// Bearer token for the ML nodes' management API (`gonka-mlnode --token`). Set but empty is a
    /// start-up error.
    #[arg(
        long,
        env = "GONKA_MLNODE_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub mlnode_token: Option<String>,
    /// Comma-separated governance models, replacing the default five.
    #[arg(
        long,
        env = "GONKA_GOVERNANCE_MODELS",
        value_name = "A,B,...",
        global = true
    )]
    pub models: Option<String>,
    /// Epoch the gateway starts in (a chain-less deployment keeps it; devnet too).
    #[arg(long, env = "GONKA_EPOCH", default_value_t = 0, global = true)]
    pub epoch: u64,
    /// Length of an epoch of the local epoch clock (e.g. `1h`); unset keeps `--epoch` fixed.
    /// A disabled node keeps serving until the epoch it was disabled in is over.
    #[arg(long, env = "GONKA_EPOCH_LENGTH", value_parser = humantime::parse_duration, global = true)]
    pub epoch_length: Option<Duration>,
    /// Heartbeats an ML node agent (`gonka-mlnode --gateway-url`) may miss before its node
    /// leaves the routable set (until its next heartbeat or passed health check).
    #[arg(long, env = "GONKA_HEARTBEAT_MISSES", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub heartbeat_misses: u32,
    /// Zombie reaper: an in-flight slot held longer than this is returned (the request goes on
    /// but no longer counts against its node's max_concurrent). Default: --request-timeout.
    #[arg(long, env = "GONKA_REAP_AFTER", value_parser = humantime::parse_duration, global = true)]
    pub reap_after: Option<Duration>,
    /// A request for a model no node has (one in the governance list) starts pulling it onto
    /// the node with the most free memory, and is answered 503 with Retry-After meanwhile.
    #[arg(long, env = "GONKA_AUTO_PULL", global = true)]
    pub auto_pull: bool,
    /// Retry-After of the 503 answered while --auto-pull pulls a model.
    #[arg(long, env = "GONKA_PULL_RETRY_AFTER", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub pull_retry_after: Duration,
    /// When no node has the requested model loaded, route to a node with a loaded model of the
    /// same family (the name before its size tag: Qwen2.5-7B-Instruct ~ Qwen2.5-14B-Instruct)
    /// instead of loading it cold; the answer names it in `x-gonka-vram-fallback`.
    #[arg(long, env = "GONKA_VRAM_FALLBACK", global = true)]
    pub vram_fallback: bool,
    /// Advertise the admin API by mDNS on the local network (_gonka-gateway._tcp.local., the
    /// admin listener's address and port) so agents started with `gonka-mlnode --discover`
    /// find the gateway and join it.
    #[arg(long, env = "GONKA_MDNS", global = true)]
    pub mdns: bool,
    /// How long in-flight requests may run after SIGTERM.
    #[arg(long, env = "GONKA_DRAIN_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration, global = true)]
    pub drain_timeout: Duration,
    /// OpenTelemetry OTLP/HTTP endpoint (base URL, e.g. http://127.0.0.1:4318; `/v1/traces` is
    /// appended) for trace export; overrides OTEL_EXPORTER_OTLP_ENDPOINT. Unset with no OTEL_*
    /// endpoint: no export.
    #[arg(long, env = "GONKA_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
    /// Serve `/metrics` on its own listener at this address (e.g. 0.0.0.0:9300, the port the
    /// deployment files use) instead of the public one. Unset: on the public listener, behind
    /// the API keys when they are set.
    #[arg(long, env = "GONKA_METRICS_LISTEN", value_name = "ADDR", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// Bearer token `/metrics` requires wherever it is served (Prometheus `authorization`).
    #[arg(
        long,
        env = "GONKA_METRICS_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub metrics_token: Option<String>,
    /// Request traces: one row per routing decision (model, node, score breakdown, queue wait,
    /// TTFT, latency, tokens, status, API key id, X-App-Tag; never prompts or secrets), written
    /// off the request path into the registry database (--database) and read through
    /// /dashboard/api/traces, /performance, /usage, /trends, /health on the admin listener
    /// (docs/traces.md). `off`: nothing recorded.
    #[arg(long, env = "GONKA_TRACES", value_enum, default_value_t = Switch::On, global = true)]
    pub traces: Switch,
    /// Request traces older than this are removed (checked every minute).
    #[arg(long, env = "GONKA_TRACE_RETENTION", default_value = "7d", value_parser = humantime::parse_duration, global = true)]
    pub trace_retention: Duration,
    /// At most this many request traces are kept (the oldest beyond it are removed every
    /// minute).
    #[arg(long, env = "GONKA_TRACE_MAX_ROWS", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub trace_max_rows: u64,
    /// Log format.
    #[arg(long, env = "GONKA_LOG_FORMAT", value_enum, default_value_t = gonka_core::logging::LogFormat::Text, global = true)]
    pub log_format: gonka_core::logging::LogFormat,
    /// Upstream's node-config.json (a JSON array of ML nodes: id, host, inference_port, poc_port,
    /// max_concurrent, models, hardware), merged into the registry once, at the first start: later
    /// starts leave the registry (and changes made through the admin API) alone. Upstream's
    /// NODE_CONFIG_PATH sets it too.
    #[arg(long, env = "GONKA_NODE_CONFIG", value_name = "FILE")]
    pub node_config: Option<PathBuf>,
    /// Proof-of-Compute epochs.
    #[command(flatten)]
    pub poc: poc::PocArgs,
    /// Subcommand; none runs the gateway.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Upstream variables that set a flag here (`DAPI_API__PUBLIC_SERVER_PORT → --public-listen`),
    /// for the start-up log.
    #[arg(skip)]
    pub upstream_used: Vec<String>,
    /// `DAPI_*` variables of upstream-only settings, which this gateway ignores.
    #[arg(skip)]
    pub upstream_ignored: Vec<String>,
}

/// An on/off setting (`--traces`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// A listener `--allow-unauthenticated` lets serve beyond loopback without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unauthenticated {
    /// The admin listener without `--admin-token`.
    Admin,
    /// The PoC callback listener (it has no token).
    Poc,
    /// Both.
    All,
}

/// `Some(value)` unless it is empty, which is an error naming `flag`: an empty token must not
/// silently mean "no authentication".
fn non_empty_token(flag: &str, value: Option<&String>) -> Result<Option<String>, String> {
    match value {
        Some(t) if t.trim().is_empty() => Err(format!(
            "{flag} is set but empty: give a token, or unset it to run without one"
        )),
        other => Ok(other.cloned()),
    }
}

/// The `--help` text on upstream's settings.
const UPSTREAM_HELP: &str = concat!(
    gonka_core::log_help!(),
    "\n\n",
    gonka_core::otel_help!(),
    "\n\nUpstream settings: the decentralized-api variables DAPI_API__PUBLIC_SERVER_PORT, \
DAPI_API__ML_SERVER_PORT and DAPI_API__ADMIN_SERVER_PORT (listen on 0.0.0.0:PORT), \
DAPI_API__POC_CALLBACK_URL, DAPI_API__PUBLIC_URL (any case, `__` = `.`, as upstream reads them) \
and NODE_CONFIG_PATH set --public-listen, --poc-listen, --admin-listen, --poc-callback-url, \
--public-url and --node-config. Precedence: flag > GONKA_* variable > DAPI_* variable > \
--config file > default. Other DAPI_* variables are ignored (logged at start). On 0.0.0.0 the \
admin listener needs --admin-token (or --allow-unauthenticated=admin) and the PoC listener \
--allow-unauthenticated=poc, else the gateway refuses to start."
);

/// Parses `argv` (program name first) with `command` (normally [`Args::command`]): flags, then
/// `GONKA_*` environment variables, then upstream's `DAPI_*` variables and `NODE_CONFIG_PATH`
/// (from `upstream_env`, see [`gonka_gateway::upstream_config`]), then the `--config` file, then
/// devnet's defaults when running `devnet`, then the built-in defaults.
///
/// # Errors
/// See [`ParseError`]; an upstream variable with a value the flag cannot take is a usage error
/// naming the variable.
pub fn parse<I, S, E, K, V>(
    command: clap::Command,
    argv: I,
    upstream_env: E,
) -> Result<Args, ParseError>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
    E: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut layered = Layered::new(command, argv)?;
    #[cfg(feature = "devnet")]
    if layered.matches().subcommand_name() == Some("devnet") {
        devnet::lay_defaults(&mut layered);
    }
    layered.config_file("config")?;
    let upstream = gonka_gateway::upstream_config::dapi_settings(upstream_env)
        .map_err(|e| clap::Error::raw(clap::error::ErrorKind::ValueValidation, format!("{e}\n")))?;
    let mut used = Vec::new();
    for s in &upstream.settings {
        // Laid over the file's values, below the flags and the GONKA_* variables.
        let from_flag_or_env = matches!(
            layered.source(None, s.setting.arg_id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        );
        if !from_flag_or_env {
            layered.set_default(None, s.setting.arg_id, vec![s.value.clone()]);
            used.push(format!("{} -> {} {}", s.var, s.setting.flag, s.value));
        }
    }
    let matches = layered.into_matches()?;
    let mut args = <Args as clap::FromArgMatches>::from_arg_matches(&matches)?;
    #[cfg(feature = "devnet")]
    devnet::split_env_engine_args(&mut args.command, &matches);
    args.upstream_used = used;
    args.upstream_ignored = upstream.ignored;
    Ok(args)
}

/// [`parse`] of this process's command line and environment with [`Args::command`].
///
/// # Errors
/// See [`ParseError`].
pub fn parse_env() -> Result<Args, ParseError> {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    parse(Args::command(), std::env::args_os(), env)
}

/// `--policy`: a built-in scheduler by name.
fn parse_policy(name: &str) -> Result<Arc<dyn Scheduler>, gonka_gateway::schedule::UnknownPolicy> {
    gonka_gateway::schedule::scheduler_by_name(name)
}

impl Args {
    /// The start-up checks of the private listeners, before anything is bound: an empty token is
    /// an error, and so is the admin (without `--admin-token`) or PoC listener on an address
    /// beyond loopback unless `--allow-unauthenticated` names it. Returns the warnings to log for
    /// the listeners it allows.
    ///
    /// # Errors
    /// A message naming the flag, the address and the remedies.
    pub fn check_private_listeners(&self) -> Result<Vec<String>, String> {
        use gonka_core::exposure::{check_listener, PrivateListener};
        let admin_token = non_empty_token(
            "--admin-token (GONKA_ADMIN_TOKEN)",
            self.admin_token.as_ref(),
        )?;
        non_empty_token(
            "--mlnode-token (GONKA_MLNODE_TOKEN)",
            self.mlnode_token.as_ref(),
        )?;
        let allows = |l: Unauthenticated| {
            self.allow_unauthenticated
                .iter()
                .any(|a| *a == l || *a == Unauthenticated::All)
        };
        let listeners = [
            (
                PrivateListener {
                    what: "admin API (--admin-listen)",
                    addr: self.admin_listen,
                    authenticated: admin_token.is_some(),
                    remedy: "set --admin-token (GONKA_ADMIN_TOKEN)",
                },
                allows(Unauthenticated::Admin),
                "--allow-unauthenticated=admin (GONKA_ALLOW_UNAUTHENTICATED=admin)",
            ),
            (
                PrivateListener {
                    what: "PoC callback listener (--poc-listen)",
                    addr: self.poc_listen,
                    authenticated: false,
                    remedy: "it has no token: bind the private address the ML nodes reach",
                },
                allows(Unauthenticated::Poc),
                "--allow-unauthenticated=poc (GONKA_ALLOW_UNAUTHENTICATED=poc)",
            ),
        ];
        let mut warnings = Vec::new();
        for (listener, allowed, flag) in listeners {
            if let Some(w) = check_listener(listener, allowed, flag).map_err(|e| e.to_string())? {
                warnings.push(w);
            }
        }
        Ok(warnings)
    }

    /// The gateway configuration these flags describe, over `registry`.
    ///
    /// # Errors
    /// A message naming the flag: unreadable API keys file, malformed `--fallback`, an empty
    /// token.
    pub fn gateway_config(&self, registry: Arc<dyn NodeRegistry>) -> Result<GatewayConfig, String> {
        let mut c = GatewayConfig::new(registry);
        c.epoch = match self.epoch_length {
            Some(length) => Arc::new(gonka_gateway::epoch_clock::ClockEpoch::new(
                self.epoch, length,
            )),
            None => Arc::new(ManualEpoch::new(self.epoch)),
        };
        c.scheduler = match &self.score_weights {
            None => self.policy.clone(),
            Some(weights) if self.policy.name() == "model-aware" => {
                Arc::new(gonka_gateway::schedule::ModelAware::new(*weights))
            }
            Some(_) => {
                return Err(format!(
                    "--score-weights sets the weights of --policy model-aware, not of {}",
                    self.policy.name()
                ))
            }
        };
        c.context_protection = self.context_protection;
        c.placement_plugin = self.placement;
        c.queue_timeout = self.queue_timeout;
        c.queue_capacity = self.queue_capacity;
        c.max_tries = self.max_tries.max(1);
        c.breaker_threshold = self.breaker_threshold.max(1);
        c.health_interval = self.health_interval;
        c.health_timeout = self.health_timeout;
        c.health_recovery_interval = self.health_recovery_interval;
        c.reconcile_interval = self.reconcile_interval;
        c.broker_timeout = self.broker_timeout;
        c.broker_up_timeout = self.broker_up_timeout;
        c.request_timeout = self.request_timeout;
        c.idle_timeout = self.idle_timeout;
        c.upstream_idle_timeout = self.upstream_idle_timeout;
        c.header_read_timeout = self.header_read_timeout;
        c.body_read_timeout = self.body_read_timeout;
        c.max_connections = self.max_connections;
        c.max_connections_per_ip = self.max_connections_per_ip;
        c.body_limit = self.body_limit;
        c.ready_without_nodes = self.ready_without_nodes;
        c.passthrough_routes = self
            .passthrough_routes
            .iter()
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .collect();
        gonka_gateway::server::check_passthrough_routes(&c.passthrough_routes)?;
        c.cors_origins = self
            .cors_origins
            .iter()
            .map(|o| o.trim().to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        gonka_gateway::cors::layer(&c.cors_origins).map(drop)?;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.tls = Some(
                gonka_core::server::tls::TlsFiles::load(cert, key).map_err(|e| e.to_string())?,
            );
        }
        c.drain_timeout = self.drain_timeout;
        c.fleet = gonka_gateway::fleet::FleetSettings {
            heartbeat_misses: self.heartbeat_misses,
            reap_after: self.reap_after,
            auto_pull: self.auto_pull,
            pull_retry_after: self.pull_retry_after,
            vram_fallback: self.vram_fallback,
            mdns: self
                .mdns
                .then(gonka_gateway::fleet::mdns::MdnsSettings::default),
        };
        c.admin_token = non_empty_token("--admin-token", self.admin_token.as_ref())?;
        c.mlnode_token = non_empty_token("--mlnode-token", self.mlnode_token.as_ref())?;
        c.metrics_token = non_empty_token("--metrics-token", self.metrics_token.as_ref())?;
        c.metrics_listen = self.metrics_listen;
        c.admin_sites = gonka_core::cross_site::SitePolicy::default()
            .allow_hosts(&self.admin_allowed_hosts)
            .allow_origins(&self.admin_allowed_origins);
        if let Some(models) = &self.models {
            let g = GovernanceModels::parse_list(models);
            if !g.is_empty() {
                c.governance = g;
            }
        }
        if let Some(path) = &self.api_keys_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--api-keys-file {}: cannot read: {e}", path.display()))?;
            c.api_keys = gonka_gateway::config::parse_api_keys(&text);
            if c.api_keys.is_empty() {
                return Err(format!(
                    "--api-keys-file {}: no keys in the file",
                    path.display()
                ));
            }
        }
        for f in &self.fallbacks {
            c.add_fallback(f).map_err(|e| format!("--fallback: {e}"))?;
        }
        if self.traces == Switch::Off {
            c.traces = None;
        }
        c.trace_settings.retention = gonka_core::traces::Retention {
            max_age_ms: i64::try_from(self.trace_retention.as_millis()).unwrap_or(i64::MAX),
            max_rows: self.trace_max_rows,
        };
        Ok(c)
    }
}

#[cfg(test)]
#[cfg(feature = "devnet")]
mod tests;
