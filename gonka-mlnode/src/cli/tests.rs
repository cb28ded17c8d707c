use super::*;

#[test]
fn defaults_match_upstream_ports_and_simulator_engine() {
    let cli = Cli::try_parse_from(["gonka-mlnode"]).unwrap();
    assert_eq!(cli.mgmt_listen.to_string(), "0.0.0.0:8080");
    assert_eq!(cli.inference_listen.to_string(), "0.0.0.0:5000");
    let config = cli.to_config();
    assert_eq!(config.engine, EngineKind::Simulator);
    assert_eq!(config.grace_period, Duration::from_secs(10));
}

#[test]
fn engine_args_model_files_and_durations_are_parsed() {
    let cli = Cli::try_parse_from([
        "gonka-mlnode",
        "--engine",
        "llamacpp",
        "--model",
        "tiny",
        "--model-file",
        "tiny=/m/tiny.gguf",
        "--engine-arg=-c",
        "--engine-arg",
        "2048",
        "--grace-period",
        "500ms",
        "--backoff-initial",
        "50ms",
        "--sim-load-time",
        "1m30s",
    ])
    .unwrap();
    let config = cli.to_config();
    assert_eq!(config.engine, EngineKind::Llamacpp);
    assert_eq!(config.model_args, ["-c", "2048"]);
    assert_eq!(config.model_files["tiny"], PathBuf::from("/m/tiny.gguf"));
    assert_eq!(config.grace_period, Duration::from_millis(500));
    assert_eq!(config.backoff.initial, Duration::from_millis(50));
    assert_eq!(config.simulator.load_time, Duration::from_secs(90));
}

#[test]
fn tiny_model_subcommand_takes_a_path_and_a_seed() {
    let cli =
        Cli::try_parse_from(["gonka-mlnode", "tiny-model", "/tmp/t.gguf", "--seed", "7"]).unwrap();
    assert!(matches!(
        cli.command,
        Some(Command::TinyModel { ref out, seed: 7 }) if out == &PathBuf::from("/tmp/t.gguf")
    ));
    assert!(Cli::try_parse_from(["gonka-mlnode", "tiny-model"]).is_err());
    assert!(Cli::try_parse_from(["gonka-mlnode"])
        .unwrap()
        .command
        .is_none());
}

#[test]
fn bad_values_are_rejected_with_their_name() {
    let err = Cli::try_parse_from(["gonka-mlnode", "--engine", "tgi"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("tgi"), "{err}");
    assert!(Cli::try_parse_from(["gonka-mlnode", "--model-file", "nope"]).is_err());
    assert!(Cli::try_parse_from(["gonka-mlnode", "--sim-error-rate", "1.5"]).is_err());
}

const BIN: &str = "gonka-mlnode";

/// [`Cli::command`] with every environment variable renamed to `<prefix><name>`, so that a test can
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
    Cli::command()
        .mut_args(rename)
        .mut_subcommand("tiny-model", |t| t.mut_args(rename))
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn every_flag_has_a_gonka_mlnode_environment_variable_shown_in_help() {
    let problems = gonka_core::cli::flags_without_env(&Cli::command(), "GONKA_MLNODE_");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn durations_are_human_durations() {
    let cli =
        Cli::try_parse_from([BIN, "--startup-timeout", "1m30s", "--sim-ttft", "150ms"]).unwrap();
    let config = cli.to_config();
    assert_eq!(config.startup_timeout, Duration::from_secs(90));
    assert_eq!(
        config.simulator.time_to_first_token,
        Duration::from_millis(150)
    );
    assert!(Cli::try_parse_from([BIN, "--grace-period", "10"]).is_err());
    assert!(Cli::try_parse_from([BIN, "--grace-period-s", "10"]).is_err());
}

#[test]
fn engine_args_from_the_environment_are_whitespace_separated() {
    std::env::set_var("ML_T1_GONKA_MLNODE_ENGINE_ARGS", "--max-model-len 8192");
    let cli = parse(command_with_env_prefix("ML_T1_"), [BIN]).unwrap();
    assert_eq!(cli.engine_args, ["--max-model-len", "8192"]);
}

#[test]
fn flag_beats_environment_beats_config_file_beats_default() {
    let f = config_file(
        "engine = \"llamacpp\"\ndtype = \"bfloat16\"\ngrace-period = \"3s\"\nengine-arg = [\"-c\", \"2048\"]\n",
    );
    std::env::set_var("ML_T2_GONKA_MLNODE_DTYPE", "float16");
    std::env::set_var("ML_T2_GONKA_MLNODE_ENGINE", "vllm");
    let path = f.path().to_str().unwrap();
    let cli = parse(
        command_with_env_prefix("ML_T2_"),
        [BIN, "--config", path, "--engine", "sglang"],
    )
    .unwrap();
    assert_eq!(cli.engine, EngineKind::Sglang); // flag
    assert_eq!(cli.dtype, "float16"); // environment
    assert_eq!(cli.grace_period, Duration::from_secs(3)); // file
    assert_eq!(cli.engine_args, ["-c", "2048"]); // file
    assert_eq!(cli.replicas, 1); // default
    std::env::set_var("ML_T3_GONKA_MLNODE_CONFIG", f.path());
    let cli = parse(command_with_env_prefix("ML_T3_"), [BIN]).unwrap();
    assert_eq!(cli.engine, EngineKind::Llamacpp);
}

#[test]
fn config_file_errors_name_the_key_and_the_file() {
    for (text, key) in [
        ("grace-period-s = 10\n", "grace-period-s"),
        ("grace-period = \"ten\"\n", "grace-period"),
        ("sim-error-rate = 1.5\n", "sim-error-rate"),
    ] {
        let f = config_file(text);
        let path = f.path().to_str().unwrap();
        let e = parse(command_with_env_prefix("ML_T4_"), [BIN, "--config", path])
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`{key}`")) && e.contains(path), "{e}");
    }
}

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/config/gonka-mlnode.toml"
);

#[test]
fn the_example_config_file_parses_to_the_defaults_and_lists_every_flag() {
    let mut a = parse(
        command_with_env_prefix("ML_T5_"),
        [BIN, "--config", EXAMPLE],
    )
    .unwrap();
    let b = parse(command_with_env_prefix("ML_T5_"), [BIN]).unwrap();
    a.config = None;
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let missing = gonka_core::cli::flags_missing_from_example(&Cli::command(), &text);
    assert!(missing.is_empty(), "missing from {EXAMPLE}: {missing:?}");
}

#[test]
fn poc_queue_limits_reach_the_poc_settings() {
    let poc = Cli::try_parse_from(["gonka-mlnode"])
        .unwrap()
        .poc_settings()
        .unwrap();
    assert_eq!(
        (poc.max_queued_nonces, poc.result_ttl),
        (100_000, Duration::from_secs(300)),
        "upstream's POC_MAX_QUEUED_NONCES and POC_GENERATE_RESULT_TTL_SEC"
    );
    let poc = Cli::try_parse_from([
        "gonka-mlnode",
        "--poc-max-queued-nonces",
        "7",
        "--poc-result-ttl",
        "1m",
    ])
    .unwrap()
    .poc_settings()
    .unwrap();
    assert_eq!(
        (poc.max_queued_nonces, poc.result_ttl),
        (7, Duration::from_secs(60))
    );
    let err = Cli::try_parse_from(["gonka-mlnode", "--poc-max-queued-nonces", "0"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--poc-max-queued-nonces"), "{err}");
}

#[test]
fn state_dir_defaults_to_the_log_dir_and_is_off_without_either() {
    let config = Cli::try_parse_from(["gonka-mlnode"]).unwrap().to_config();
    assert_eq!(config.state_dir, None);
    let config = Cli::try_parse_from(["gonka-mlnode", "--log-dir", "/var/log/m"])
        .unwrap()
        .to_config();
    assert_eq!(config.state_dir, Some(PathBuf::from("/var/log/m")));
    let config = Cli::try_parse_from([
        "gonka-mlnode",
        "--log-dir",
        "/var/log/m",
        "--state-dir",
        "/var/lib/m",
    ])
    .unwrap()
    .to_config();
    assert_eq!(config.state_dir, Some(PathBuf::from("/var/lib/m")));
    assert_eq!(
        config.process_options(1).pid_file,
        Some(PathBuf::from("/var/lib/m/engine-1.pid"))
    );
}

#[test]
fn simulated_gpus_are_off_by_default_and_set_by_the_flags() {
    let cli = Cli::try_parse_from(["gonka-mlnode"]).unwrap();
    assert_eq!(cli.to_config().sim_gpus, None);
    let cli = Cli::try_parse_from([
        "gonka-mlnode",
        "--engine",
        "vllm",
        "--sim-gpus",
        "4",
        "--sim-gpu-vendor",
        "AMD",
        "--sim-gpu-name",
        "AMD Instinct MI300X",
        "--sim-gpu-memory-mb",
        "196608",
    ])
    .unwrap();
    let sim = cli.to_config().sim_gpus.unwrap();
    assert_eq!(sim.count, 4);
    assert_eq!(sim.vendor, GpuVendor::Amd);
    assert_eq!(sim.name, "AMD Instinct MI300X");
    assert_eq!(sim.memory_mb, 196_608);
    // Defaults of the companions: an 80 GB NVIDIA A100.
    let sim = Cli::try_parse_from(["gonka-mlnode", "--sim-gpus", "2"])
        .unwrap()
        .to_config()
        .sim_gpus
        .unwrap();
    assert_eq!(
        (sim.name.as_str(), sim.vendor, sim.memory_mb),
        ("NVIDIA A100-SXM4-80GB", GpuVendor::Nvidia, 81_920)
    );
    let err = Cli::try_parse_from(["gonka-mlnode", "--sim-gpu-vendor", "intel"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--sim-gpu-vendor"), "{err}");
    assert!(Cli::try_parse_from(["gonka-mlnode", "--sim-gpu-memory-mb", "0"]).is_err());
}
