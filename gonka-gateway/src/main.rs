//! `gonka-gateway`: parses flags, opens the registry, binds the listeners and runs the gateway
//! (or `devnet`) until SIGTERM / ctrl-c.

#[cfg(feature = "mimalloc")]
mod allocator;
mod cli;

use std::process::ExitCode;

use cli::Args;
#[cfg(feature = "devnet")]
use cli::Command;
#[cfg(feature = "devnet")]
use gonka_gateway::devnet;
use gonka_gateway::Listeners;
use tokio::net::TcpListener;

/// Binds one listener; the error names the listener (`public`, `admin`, `PoC`) and the address,
/// with the operating system's error as its cause.
async fn bind(what: &'static str, addr: std::net::SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr).await.map_err(|source| {
        gonka_gateway::error::chain(&gonka_gateway::error::StartupError::Bind {
            what,
            addr,
            source,
        })
    })
}

/// With HTTPS on the public listener, re-reads its certificate and key on every SIGHUP.
fn reload_tls_on_sighup(config: &gonka_gateway::GatewayConfig) {
    #[cfg(unix)]
    if let Some(tls) = config.tls.clone() {
        tokio::spawn(tls.reload_on_sighup());
    }
}

async fn main_inner(args: Args) -> Result<(), String> {
    // Dropped when this returns, after the servers stopped: flushes the spans still queued.
    let telemetry = gonka_core::telemetry::init(
        args.log_format,
        "gonka-gateway",
        args.otlp_endpoint.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    // The cheapest way to make the HTTP spans that keeps what is recorded of them.
    gonka_core::trace_context::set_span_mode(telemetry.span_mode());
    gonka_core::server::raise_fd_limit();
    for used in &args.upstream_used {
        tracing::info!(setting = %used, "upstream variable applied");
    }
    if !args.upstream_ignored.is_empty() {
        tracing::info!(variables = ?args.upstream_ignored, "upstream-only DAPI_* variables ignored");
    }
    // Before anything listens: an empty token, or a private listener exposed without a token.
    for warning in args.check_private_listeners()? {
        tracing::warn!("{warning}");
    }
    let listeners = Listeners {
        public: bind("public (--public-listen)", args.public_listen).await?,
        admin: Some(bind("admin (--admin-listen)", args.admin_listen).await?),
        poc: Some(bind("PoC (--poc-listen)", args.poc_listen).await?),
    };
    match args.command.clone() {
        None => {
            let registry = gonka_admin::open_registry(&args.database)
                .await
                .map_err(|e| e.to_string())?;
            let mut config = args.gateway_config(registry.clone())?;
            if config.traces.is_some() {
                // Traces live next to the registry, in the same database.
                config.traces = Some(
                    gonka_admin::open_trace_store(&args.database)
                        .await
                        .map_err(|e| format!("--traces: {e}"))?,
                );
            }
            // Deployments too.
            config.deployments = Some(
                gonka_admin::open_deployment_store(&args.database)
                    .await
                    .map_err(|e| format!("deployments: {e}"))?,
            );
            if let Some(path) = &args.node_config {
                merge_node_config(registry.as_ref(), path, &config.governance).await?;
            }
            if let Some((clock, poc)) = args.poc.gateway(args.epoch_length).await? {
                config.epoch = std::sync::Arc::new(clock);
                config.poc = Some(poc);
            }
            reload_tls_on_sighup(&config);
            // Installed before the listening line: a SIGTERM from then on stops it gracefully.
            let shutdown = gonka_core::server::shutdown_signal();
            let gateway = gonka_gateway::start(config, listeners)
                .map_err(|e| gonka_gateway::error::chain(&e))?;
            println!("gonka-gateway listening: {}", gateway.addresses());
            shutdown.await;
            gateway.shutdown().await;
            Ok(())
        }
        #[cfg(feature = "devnet")]
        Some(Command::Devnet {
            ml_nodes,
            model,
            max_concurrent,
            data_dir,
            engine,
            gpus,
        }) => {
            // Devnet's quicker health and reconcile intervals are laid in by `cli::parse`.
            let defaults = devnet::DevnetConfig::default();
            let gateway = args.gateway_config(defaults.gateway.registry.clone())?;
            let config = devnet::DevnetConfig {
                ml_nodes,
                model,
                max_concurrent,
                data_dir,
                gateway,
                engine: engine.to_engine()?,
                sim_gpus: gpus.to_sim(),
                poc: args.poc.devnet(args.epoch_length)?,
                ..defaults
            };
            reload_tls_on_sighup(&config.gateway);
            let shutdown = gonka_core::server::shutdown_signal();
            let net = devnet::start(config, listeners)
                .await
                .map_err(|e| gonka_gateway::error::chain(&e))?;
            println!("{}", net.summary());
            shutdown.await;
            net.shutdown().await;
            Ok(())
        }
    }
}

/// Merges upstream's node-config.json into the registry at the first start (`--node-config`,
/// `NODE_CONFIG_PATH`) and logs what happened.
async fn merge_node_config(
    registry: &dyn gonka_core::NodeRegistry,
    path: &std::path::Path,
    governance: &gonka_core::GovernanceModels,
) -> Result<(), String> {
    use gonka_gateway::upstream_config::{merge_node_config_once, NodeConfigMerge};
    match merge_node_config_once(registry, path, governance)
        .await
        .map_err(|e| e.to_string())?
    {
        NodeConfigMerge::Merged(report) => {
            for skipped in &report.skipped {
                tracing::warn!(file = %path.display(), index = skipped.index, node = %skipped.id, error = %skipped.error, "node of the node config skipped");
            }
            tracing::info!(file = %path.display(), added = report.added, updated = report.updated, unchanged = report.unchanged, skipped = report.skipped.len(), "node config merged into the registry (once; later starts leave the registry alone)");
        }
        NodeConfigMerge::AlreadyMerged => {
            tracing::info!(file = %path.display(), "node config already merged at an earlier start; not read again");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    // Before any thread starts (it may re-execute the binary).
    #[cfg(feature = "mimalloc")]
    allocator::configure();
    let args = cli::parse_env().unwrap_or_else(|e| e.exit());
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    #[cfg(feature = "mimalloc")]
    builder.on_thread_park(|| {
        allocator::on_thread_park();
    });
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("gonka-gateway: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(main_inner(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gonka-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
