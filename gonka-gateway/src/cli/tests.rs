use std::io::Write;

use super::*;

const BIN: &str = "gonka-gateway";

/// [`super::parse`] with no upstream variables.
fn parse<I, S>(command: clap::Command, argv: I) -> Result<Args, ParseError>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    super::parse(command, argv, std::iter::empty::<(&str, &str)>())
}

/// [`Args::command`] with every environment variable renamed to `<prefix><name>`, so that a test can
/// set its variables without other tests (running in parallel, in this process) seeing them.
fn command_with_env_prefix(prefix: &str) -> clap::Command {
    let rename = |a: clap::Arg| match a.get_env() {
        Some(name) => {
            let name = format!("{prefix}{}", name.to_string_lossy());
            let name: &'static str = Box::leak(name.into_boxed_str());
            a.env(name)
        }
        None => a,
    };
    Args::command()
        .mut_args(rename)
        .mut_subcommand("devnet", |d| d.mut_args(rename))
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn devnet_of(a: &Args) -> (usize, &devnet::DevnetEngineArgs) {
    match &a.command {
        Some(Command::Devnet {
            ml_nodes, engine, ..
        }) => (*ml_nodes, engine),
        None => panic!("devnet expected"),
    }
}

#[test]
fn durations_are_human_durations() {
    let a = Args::try_parse_from([
        "gonka-gateway",
        "--queue-timeout",
        "1m30s",
        "--health-interval",
        "500ms",
    ])
    .unwrap();
    assert_eq!(a.queue_timeout, Duration::from_secs(90));
    assert_eq!(a.health_interval, Duration::from_millis(500));
    let e = Args::try_parse_from(["gonka-gateway", "--queue-timeout", "soon"]).unwrap_err();
    assert!(e.to_string().contains("soon"), "{e}");
    assert!(Args::try_parse_from(["gonka-gateway", "--queue-timeout", "5q"]).is_err());
}

#[test]
fn flags_have_the_documented_defaults() {
    let a = Args::try_parse_from(["gonka-gateway"]).unwrap();
    assert_eq!(a.public_listen.to_string(), "127.0.0.1:9000");
    assert_eq!(a.admin_listen.to_string(), "127.0.0.1:9200");
    assert_eq!(a.poc_listen.to_string(), "127.0.0.1:9100");
    assert_eq!(a.policy.name(), "least-busy");
    assert_eq!(a.queue_timeout, Duration::from_secs(30));
    assert_eq!(a.max_tries, 3);
    assert_eq!(a.header_read_timeout, Duration::from_secs(30));
    assert_eq!(a.body_read_timeout, Duration::from_secs(30));
    assert_eq!(a.max_connections, None, "derived from the open-file limit");
    assert_eq!(
        a.max_connections_per_ip, None,
        "a quarter of the listener's cap"
    );
    assert!(a.command.is_none());
}

#[test]
fn connection_cap_flags_reach_the_gateway_config() {
    let a = Args::try_parse_from([
        "gonka-gateway",
        "--max-connections",
        "128",
        "--max-connections-per-ip",
        "64",
    ])
    .unwrap();
    let c = a
        .gateway_config(Arc::new(gonka_core::MemoryRegistry::new()))
        .unwrap();
    assert_eq!(c.max_connections, Some(128));
    assert_eq!(c.max_connections_per_ip, Some(64));
    assert!(Args::try_parse_from(["gonka-gateway", "--max-connections", "0"]).is_err());
}

#[test]
fn read_timeout_flags_reach_the_gateway_config() {
    let a = Args::try_parse_from([
        "gonka-gateway",
        "--header-read-timeout",
        "5s",
        "--body-read-timeout",
        "750ms",
    ])
    .unwrap();
    let c = a
        .gateway_config(Arc::new(gonka_core::MemoryRegistry::new()))
        .unwrap();
    assert_eq!(c.header_read_timeout, Duration::from_secs(5));
    assert_eq!(c.body_read_timeout, Duration::from_millis(750));
}

#[test]
fn devnet_subcommand_and_fallbacks_parse() {
    let a = Args::try_parse_from([
        "gonka-gateway",
        "devnet",
        "--ml-nodes",
        "2",
        "--policy",
        "scored",
        "--fallback",
        "Qwen/QwQ-32B=Qwen/Qwen3-32B-FP8",
    ])
    .unwrap();
    assert!(matches!(
        a.command,
        Some(Command::Devnet { ml_nodes: 2, .. })
    ));
    assert_eq!(a.policy.name(), "scored");
    let c = a
        .gateway_config(Arc::new(gonka_core::MemoryRegistry::new()))
        .unwrap();
    assert_eq!(
        c.fallbacks["Qwen/QwQ-32B"],
        vec!["Qwen/Qwen3-32B-FP8".to_owned()]
    );
}

#[test]
fn devnet_engine_flags_choose_llamacpp_with_its_server_file_and_args() {
    let a = Args::try_parse_from([
        "gonka-gateway",
        "devnet",
        "--engine",
        "llamacpp",
        "--llama-server",
        "/opt/llama-server",
        "--model-file",
        "/m/gemma.gguf",
        "--engine-arg=--chat-template",
        "--engine-arg",
        "gemma",
    ])
    .unwrap();
    let Some(Command::Devnet { engine, .. }) = a.command else {
        panic!("devnet expected")
    };
    match engine.to_engine().unwrap() {
        gonka_gateway::devnet::DevnetEngine::Llamacpp(l) => {
            assert_eq!(l.server, PathBuf::from("/opt/llama-server"));
            assert_eq!(l.model_file, Some(PathBuf::from("/m/gemma.gguf")));
            assert_eq!(l.args, ["--chat-template", "gemma"]);
        }
        other => panic!("llamacpp expected, got {other:?}"),
    }
}

#[test]
fn devnet_llama_flags_without_the_llamacpp_engine_are_rejected_by_name() {
    let a = Args::try_parse_from(["gonka-gateway", "devnet", "--model-file", "/m/x.gguf"]).unwrap();
    let Some(Command::Devnet { engine, .. }) = a.command else {
        panic!("devnet expected")
    };
    assert!(engine
        .to_engine()
        .unwrap_err()
        .contains("--engine llamacpp"));
    let a = Args::try_parse_from(["gonka-gateway", "devnet", "--engine", "llamacpp"]).unwrap();
    let Some(Command::Devnet { mut engine, .. }) = a.command else {
        panic!("devnet expected")
    };
    engine.llama_server = None; // as if GONKA_DEVNET_LLAMA_SERVER were unset
    assert!(engine.to_engine().unwrap_err().contains("--llama-server"));
}

#[test]
fn a_bad_policy_is_rejected_with_the_choices() {
    let e = Args::try_parse_from(["gonka-gateway", "--policy", "fastest"]).unwrap_err();
    assert!(e.to_string().contains("least-busy"));
}

#[test]
fn devnet_has_its_quicker_defaults_but_an_environment_variable_wins() {
    let plain = parse(command_with_env_prefix("GW_T1_"), [BIN]).unwrap();
    assert_eq!(plain.health_interval, Duration::from_secs(5));
    let devnet = parse(command_with_env_prefix("GW_T1_"), [BIN, "devnet"]).unwrap();
    assert_eq!(devnet.health_interval, Duration::from_secs(1));
    assert_eq!(devnet.reconcile_interval, Duration::from_secs(10));
    std::env::set_var("GW_T2_GONKA_HEALTH_INTERVAL", "7s");
    let devnet = parse(command_with_env_prefix("GW_T2_"), [BIN, "devnet"]).unwrap();
    assert_eq!(devnet.health_interval, Duration::from_secs(7));
    assert_eq!(devnet.reconcile_interval, Duration::from_secs(10));
    let flag = parse(
        command_with_env_prefix("GW_T2_"),
        [BIN, "devnet", "--health-interval", "3s"],
    )
    .unwrap();
    assert_eq!(flag.health_interval, Duration::from_secs(3));
}

#[test]
fn devnet_flags_read_their_environment_variables() {
    std::env::set_var("GW_T3_GONKA_DEVNET_ML_NODES", "5");
    std::env::set_var("GW_T3_GONKA_DEVNET_ENGINE_ARGS", "--chat-template gemma");
    std::env::set_var("GW_T3_GONKA_DEVNET_ENGINE", "llamacpp");
    std::env::set_var("GW_T3_GONKA_DEVNET_LLAMA_SERVER", "/opt/llama-server");
    let a = parse(command_with_env_prefix("GW_T3_"), [BIN, "devnet"]).unwrap();
    let (ml_nodes, engine) = devnet_of(&a);
    assert_eq!(ml_nodes, 5);
    assert_eq!(engine.engine_args, ["--chat-template", "gemma"]);
    assert_eq!(
        engine.llama_server,
        Some(PathBuf::from("/opt/llama-server"))
    );
}

#[test]
fn every_flag_has_a_gonka_environment_variable_shown_in_help() {
    let problems = gonka_core::cli::flags_without_env(&Args::command(), "GONKA_");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn flag_beats_environment_beats_config_file_beats_default() {
    let f = config_file(
        "queue-timeout = \"11s\"\nmax-tries = 7\nhealth-interval = \"2s\"\nfallback = [\"a=b\", \"c=d\"]\n\n[devnet]\nml-nodes = 4\n",
    );
    std::env::set_var("GW_T4_GONKA_MAX_TRIES", "4");
    std::env::set_var("GW_T4_GONKA_QUEUE_TIMEOUT", "12s");
    let path = f.path().to_str().unwrap();
    let a = parse(
        command_with_env_prefix("GW_T4_"),
        [BIN, "--config", path, "devnet", "--queue-timeout", "13s"],
    )
    .unwrap();
    assert_eq!(a.queue_timeout, Duration::from_secs(13)); // flag
    assert_eq!(a.max_tries, 4); // environment
    assert_eq!(a.health_interval, Duration::from_secs(2)); // file, over devnet's default
    assert_eq!(a.fallbacks, ["a=b", "c=d"]); // file
    assert_eq!(devnet_of(&a).0, 4); // file, [devnet] table
    assert_eq!(a.queue_capacity, 1024); // default
    assert_eq!(a.reconcile_interval, Duration::from_secs(10)); // devnet's default
}

#[test]
fn the_config_file_comes_from_gonka_config_too() {
    let f = config_file("max-tries = 9\n");
    std::env::set_var("GW_T5_GONKA_CONFIG", f.path());
    let a = parse(command_with_env_prefix("GW_T5_"), [BIN]).unwrap();
    assert_eq!(a.max_tries, 9);
}

#[test]
fn config_file_errors_name_the_key_and_the_file() {
    for (text, key) in [
        ("queue-timout = \"1s\"\n", "queue-timout"),
        ("queue-timeout = \"soon\"\n", "queue-timeout"),
        ("[devnet]\nml-nodes = \"many\"\n", "devnet.ml-nodes"),
    ] {
        let f = config_file(text);
        let path = f.path().to_str().unwrap();
        let e = parse(command_with_env_prefix("GW_T6_"), [BIN, "--config", path])
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`{key}`")) && e.contains(path), "{e}");
    }
}

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/config/gonka-gateway.toml"
);

#[test]
fn the_example_config_file_parses_to_the_defaults_and_lists_every_flag() {
    for sub in [None, Some("devnet")] {
        let with: Vec<&str> = [BIN, "--config", EXAMPLE].into_iter().chain(sub).collect();
        let without: Vec<&str> = [BIN].into_iter().chain(sub).collect();
        let mut a = parse(command_with_env_prefix("GW_T7_"), with).unwrap();
        let b = parse(command_with_env_prefix("GW_T7_"), without).unwrap();
        a.config = None;
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let command = Args::command();
    let devnet = command.find_subcommand("devnet").unwrap();
    for command in [&command, devnet] {
        let missing = gonka_core::cli::flags_missing_from_example(command, &text);
        assert!(missing.is_empty(), "missing from {EXAMPLE}: {missing:?}");
    }
}

#[test]
fn upstream_variables_rank_below_gonka_variables_and_flags_but_above_the_config_file() {
    let f =
        config_file("public-listen = \"127.0.0.1:1111\"\npoc-callback-url = \"http://file:1\"\n");
    std::env::set_var("GW_T8_GONKA_ADMIN_LISTEN", "127.0.0.1:7777");
    let path = f.path().to_str().unwrap();
    let upstream = [
        ("DAPI_API__PUBLIC_SERVER_PORT", "9000"),
        ("DAPI_API__ADMIN_SERVER_PORT", "9201"),
        ("DAPI_API__ML_SERVER_PORT", "9101"),
        ("DAPI_API__POC_CALLBACK_URL", "http://api:9100"),
        ("DAPI_API__PUBLIC_URL", "http://203.0.113.7:8000"),
        ("DAPI_CHAIN_NODE__URL", "http://node:26657"),
        ("NODE_CONFIG_PATH", "/root/node_config.json"),
    ];
    let a = super::parse(
        command_with_env_prefix("GW_T8_"),
        [BIN, "--config", path, "--poc-listen", "127.0.0.1:5555"],
        upstream,
    )
    .unwrap();
    assert_eq!(a.public_listen.to_string(), "0.0.0.0:9000"); // DAPI over the file
    assert_eq!(a.poc.poc_callback_url.as_deref(), Some("http://api:9100")); // DAPI over the file
    assert_eq!(a.admin_listen.to_string(), "127.0.0.1:7777"); // GONKA_* over DAPI
    assert_eq!(a.poc_listen.to_string(), "127.0.0.1:5555"); // flag over DAPI
    assert_eq!(a.poc.public_url.as_deref(), Some("http://203.0.113.7:8000"));
    assert_eq!(a.node_config, Some(PathBuf::from("/root/node_config.json")));
    assert_eq!(a.upstream_ignored, ["DAPI_CHAIN_NODE__URL"]);
    assert!(
        a.upstream_used
            .iter()
            .any(|u| u.contains("DAPI_API__PUBLIC_SERVER_PORT") && u.contains("--public-listen")),
        "{:?}",
        a.upstream_used
    );
    assert!(
        !a.upstream_used
            .iter()
            .any(|u| u.contains("ADMIN_SERVER_PORT")),
        "a DAPI variable a GONKA_* one overrides is not reported as used"
    );
}

#[test]
fn an_upstream_variable_the_flag_cannot_take_is_an_error_naming_it() {
    let e = super::parse(
        command_with_env_prefix("GW_T9_"),
        [BIN],
        [("DAPI_API__PUBLIC_SERVER_PORT", "nine-thousand")],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("DAPI_API__PUBLIC_SERVER_PORT") && e.contains("--public-listen"),
        "{e}"
    );
}

#[test]
fn help_names_the_upstream_variables_and_their_precedence() {
    let help = Args::command().render_long_help().to_string();
    for needle in [
        "DAPI_API__PUBLIC_SERVER_PORT",
        "NODE_CONFIG_PATH",
        "flag > GONKA_* variable > DAPI_* variable > --config file > default",
        "--poc-seq-len",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn allow_unauthenticated_names_listeners_from_flag_env_and_file() {
    let of = |argv: &[&str]| {
        parse(command_with_env_prefix("GW_T_AU_"), argv.iter().copied())
            .unwrap()
            .allow_unauthenticated
    };
    assert_eq!(of(&[BIN]), []);
    assert_eq!(
        of(&[BIN, "--allow-unauthenticated"]),
        [Unauthenticated::All]
    );
    assert_eq!(
        of(&[BIN, "--allow-unauthenticated=admin,poc"]),
        [Unauthenticated::Admin, Unauthenticated::Poc]
    );
    // `=` is required, so a following subcommand is not read as a value.
    let a = of(&[BIN, "--allow-unauthenticated", "devnet"]);
    assert_eq!(a, [Unauthenticated::All]);
    std::env::set_var("GW_T_AU2_GONKA_ALLOW_UNAUTHENTICATED", "poc");
    let a = parse(command_with_env_prefix("GW_T_AU2_"), [BIN]).unwrap();
    assert_eq!(a.allow_unauthenticated, [Unauthenticated::Poc]);
    let f = config_file("allow-unauthenticated = [\"admin\"]\n");
    let a = parse(
        command_with_env_prefix("GW_T_AU3_"),
        [BIN, "--config", f.path().to_str().unwrap()],
    )
    .unwrap();
    assert_eq!(a.allow_unauthenticated, [Unauthenticated::Admin]);
}

#[test]
fn private_listener_checks_refuse_empty_tokens_and_exposure() {
    let args =
        |argv: &[&str]| parse(command_with_env_prefix("GW_T_PL_"), argv.iter().copied()).unwrap();
    assert_eq!(args(&[BIN]).check_private_listeners(), Ok(vec![]));
    let e = args(&[BIN, "--admin-token", ""])
        .check_private_listeners()
        .unwrap_err();
    assert!(e.contains("--admin-token") && e.contains("empty"), "{e}");
    let e = args(&[BIN, "--poc-listen", "0.0.0.0:9100"])
        .check_private_listeners()
        .unwrap_err();
    assert!(e.contains("PoC") && e.contains("0.0.0.0:9100"), "{e}");
    let warnings = args(&[
        BIN,
        "--poc-listen",
        "0.0.0.0:9100",
        "--admin-listen",
        "0.0.0.0:9200",
        "--admin-token",
        "t",
        "--allow-unauthenticated=poc",
    ])
    .check_private_listeners()
    .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

#[test]
fn trace_flags_reach_the_gateway_config() {
    let registry = || Arc::new(gonka_core::MemoryRegistry::new());
    let defaults = parse(command_with_env_prefix("GW_TR1_"), [BIN])
        .unwrap()
        .gateway_config(registry())
        .unwrap();
    assert!(defaults.traces.is_some(), "traces are on by default");
    assert_eq!(
        defaults.trace_settings.retention,
        gonka_core::traces::Retention {
            max_age_ms: 7 * 24 * 3600 * 1000,
            max_rows: 1_000_000,
        }
    );
    let argv = [
        BIN,
        "--traces",
        "off",
        "--trace-retention",
        "2h",
        "--trace-max-rows",
        "500",
    ];
    let c = parse(command_with_env_prefix("GW_TR2_"), argv)
        .unwrap()
        .gateway_config(registry())
        .unwrap();
    assert!(c.traces.is_none(), "--traces off");
    assert_eq!(c.trace_settings.retention.max_age_ms, 2 * 3600 * 1000);
    assert_eq!(c.trace_settings.retention.max_rows, 500);
    assert!(parse(
        command_with_env_prefix("GW_TR3_"),
        [BIN, "--trace-max-rows", "0"]
    )
    .is_err());
    assert!(parse(
        command_with_env_prefix("GW_TR4_"),
        [BIN, "--traces", "maybe"]
    )
    .is_err());
}

#[test]
fn model_aware_weights_and_context_protection_reach_the_gateway_config() {
    let registry = || Arc::new(gonka_core::MemoryRegistry::new());
    let a = Args::try_parse_from([
        "gonka-gateway",
        "--policy",
        "model-aware",
        "--score-weights",
        "thermal_hot=70,context_fit=0",
        "--context-protection",
        "warn",
    ])
    .unwrap();
    let c = a.gateway_config(registry()).unwrap();
    assert_eq!(c.scheduler.name(), "model-aware");
    assert_eq!(
        c.context_protection,
        gonka_gateway::context::ContextProtection::Warn
    );
    // The weights are the configured ones: a hot node's thermal signal is 70.
    let view = gonka_core::NodeView {
        loaded: vec![gonka_core::LoadedModel {
            name: "m".into(),
            context_length: 0,
        }]
        .into(),
        ..gonka_core::NodeView::default()
    };
    let why = c
        .scheduler
        .explain(&gonka_core::RequestInfo::for_model("m"), &view)
        .unwrap();
    assert_eq!(why.signals[0].signal, "thermal");
    assert_eq!(why.signals[0].value, 70.0);

    let defaults = Args::try_parse_from(["gonka-gateway"]).unwrap();
    assert_eq!(
        defaults
            .gateway_config(registry())
            .unwrap()
            .context_protection,
        gonka_gateway::context::ContextProtection::Strip
    );
    let misplaced = Args::try_parse_from(["gonka-gateway", "--score-weights", "wait=1"]).unwrap();
    assert!(misplaced
        .gateway_config(registry())
        .unwrap_err()
        .contains("model-aware"));
    for bad in [
        ["--score-weights", "heat=1"],
        ["--context-protection", "drop"],
    ] {
        let e = Args::try_parse_from(["gonka-gateway", bad[0], bad[1]]).unwrap_err();
        assert!(e.to_string().contains(bad[0]), "{e}");
    }
}

#[test]
fn help_lists_every_policy() {
    let help = Args::command().render_long_help().to_string();
    for policy in gonka_gateway::schedule::POLICIES {
        assert!(help.contains(policy), "--help does not list {policy}");
    }
    for flag in ["--score-weights", "--context-protection"] {
        assert!(help.contains(flag), "--help does not list {flag}");
    }
}

#[test]
fn devnet_nodes_get_two_simulated_a100s_unless_the_flags_say_otherwise() {
    let a = Args::try_parse_from(["gonka-gateway", "devnet"]).unwrap();
    let Some(Command::Devnet { gpus, .. }) = a.command else {
        panic!("devnet expected")
    };
    let sim = gpus.to_sim().unwrap();
    assert_eq!(
        (sim.count, sim.name.as_str(), sim.vendor, sim.memory_mb),
        (
            2,
            "NVIDIA A100-SXM4-80GB",
            gonka_core::deploy::GpuVendor::Nvidia,
            81_920
        )
    );
    let a = Args::try_parse_from([
        "gonka-gateway",
        "devnet",
        "--sim-gpus",
        "8",
        "--sim-gpu-vendor",
        "musa",
        "--sim-gpu-name",
        "MTT S5000",
        "--sim-gpu-memory-mb",
        "81920",
    ])
    .unwrap();
    let Some(Command::Devnet { gpus, .. }) = a.command else {
        panic!("devnet expected")
    };
    let sim = gpus.to_sim().unwrap();
    assert_eq!(
        (sim.count, sim.vendor),
        (8, gonka_core::deploy::GpuVendor::Musa)
    );
    let a = Args::try_parse_from(["gonka-gateway", "devnet", "--sim-gpus", "0"]).unwrap();
    let Some(Command::Devnet { gpus, .. }) = a.command else {
        panic!("devnet expected")
    };
    assert_eq!(gpus.to_sim(), None);
}

#[test]
fn the_placement_plugin_is_a_flag_and_an_environment_variable() {
    use gonka_core::deploy::Plugin;
    let a = Args::try_parse_from([BIN]).unwrap();
    assert_eq!(a.placement, Plugin::Binpack, "binpack by default");
    let a = Args::try_parse_from([BIN, "--placement", "spread"]).unwrap();
    assert_eq!(a.placement, Plugin::Spread);
    let config = a
        .gateway_config(Arc::new(gonka_core::MemoryRegistry::new()))
        .unwrap();
    assert_eq!(config.placement_plugin, Plugin::Spread);
    let a = Args::try_parse_from([BIN, "devnet", "--placement", "topology"]).unwrap();
    assert_eq!(a.placement, Plugin::Topology, "a global flag");
    std::env::set_var("GW_T9_GONKA_PLACEMENT", "preempt");
    let a = parse(command_with_env_prefix("GW_T9_"), [BIN]).unwrap();
    assert_eq!(a.placement, Plugin::Preempt);
    let e = Args::try_parse_from([BIN, "--placement", "fastest"]).unwrap_err();
    assert!(e.to_string().contains("binpack, spread"), "{e}");
    let help = Args::command().render_long_help().to_string();
    assert!(
        help.contains("--placement") && help.contains("GONKA_PLACEMENT"),
        "{help}"
    );
}
