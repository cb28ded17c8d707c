use super::*;
use clap::CommandFactory;
use clap::Parser;

#[test]
fn defaults_match_the_design() {
    let a = Args::try_parse_from(["gonka-admin"]).unwrap();
    assert_eq!(a.listen.to_string(), "127.0.0.1:9200");
    assert_eq!(a.database, "sqlite://gonka.db");
    assert_eq!(a.governance(), GovernanceModels::default());
    assert_eq!(a.body_limit, 8 * 1024 * 1024);
    assert_eq!(a.body_budget, 8 * 1024 * 1024);
}

#[test]
fn body_budget_flag_reaches_the_server_config() {
    let a = Args::try_parse_from(["gonka-admin", "--body-budget", "33554432"]).unwrap();
    assert_eq!(a.server_config().body_budget, 32 * 1024 * 1024);
}

#[test]
fn models_flag_replaces_the_governance_list() {
    let a = Args::try_parse_from(["gonka-admin", "--models", "x/a, y/b"]).unwrap();
    assert_eq!(
        a.governance().iter().collect::<Vec<_>>(),
        vec!["x/a", "y/b"]
    );
}

#[test]
fn bad_listen_address_is_rejected() {
    assert!(Args::try_parse_from(["gonka-admin", "--listen", "nope"]).is_err());
}

const BIN: &str = "gonka-admin";

/// [`Args::command`] with every environment variable renamed to `<prefix><name>`, so that a test can
/// set its variables without other tests (running in parallel, in this process) seeing them.
fn command_with_env_prefix(prefix: &str) -> clap::Command {
    Args::command().mut_args(|a| match a.get_env() {
        Some(name) => {
            let name = format!("{prefix}{}", name.to_string_lossy());
            let name: &'static str = Box::leak(name.into_boxed_str());
            a.env(name)
        }
        None => a,
    })
}

fn config_file(text: &str) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn every_flag_has_a_gonka_environment_variable_shown_in_help() {
    let problems = gonka_core::cli::flags_without_env(&Args::command(), "GONKA_");
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn flag_beats_environment_beats_config_file_beats_default() {
    let f = config_file("listen = \"127.0.0.1:7001\"\nmodels = \"f/a\"\nbody-limit = 1000\n");
    std::env::set_var("AD_T1_GONKA_GOVERNANCE_MODELS", "e/a");
    std::env::set_var("AD_T1_GONKA_ADMIN_LISTEN", "127.0.0.1:7002");
    let path = f.path().to_str().unwrap();
    let a = parse(
        command_with_env_prefix("AD_T1_"),
        [BIN, "--config", path, "--listen", "127.0.0.1:7003"],
    )
    .unwrap();
    assert_eq!(a.listen.to_string(), "127.0.0.1:7003"); // flag
    assert_eq!(a.models.as_deref(), Some("e/a")); // environment
    assert_eq!(a.server_config().body_limit, 1000); // file
    assert_eq!(a.database, "sqlite://gonka.db"); // default
    std::env::set_var("AD_T2_GONKA_ADMIN_CONFIG", f.path());
    let a = parse(command_with_env_prefix("AD_T2_"), [BIN]).unwrap();
    assert_eq!(a.listen.to_string(), "127.0.0.1:7001");
}

#[test]
fn config_file_errors_name_the_key_and_the_file() {
    for (text, key) in [
        ("lisen = \"127.0.0.1:1\"\n", "lisen"),
        ("listen = \"nowhere\"\n", "listen"),
        ("log-format = \"xml\"\n", "log-format"),
    ] {
        let f = config_file(text);
        let path = f.path().to_str().unwrap();
        let e = parse(command_with_env_prefix("AD_T3_"), [BIN, "--config", path])
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("`{key}`")) && e.contains(path), "{e}");
    }
}

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../docs/config/gonka-admin.toml"
);

#[test]
fn the_example_config_file_parses_to_the_defaults_and_lists_every_flag() {
    let mut a = parse(
        command_with_env_prefix("AD_T4_"),
        [BIN, "--config", EXAMPLE],
    )
    .unwrap();
    let b = parse(command_with_env_prefix("AD_T4_"), [BIN]).unwrap();
    a.config = None;
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let missing = gonka_core::cli::flags_missing_from_example(&Args::command(), &text);
    assert!(missing.is_empty(), "missing from {EXAMPLE}: {missing:?}");
}

#[test]
fn connection_cap_flags_reach_the_server_config() {
    let a = Args::try_parse_from(["gonka-admin"]).unwrap();
    assert_eq!((a.max_connections, a.max_connections_per_ip), (None, None));
    let a = Args::try_parse_from([
        "gonka-admin",
        "--max-connections",
        "100",
        "--max-connections-per-ip",
        "10",
    ])
    .unwrap();
    let c = a.server_config();
    assert_eq!(c.max_connections, Some(100));
    assert_eq!(c.max_connections_per_ip, Some(10));
    assert!(Args::try_parse_from(["gonka-admin", "--max-connections-per-ip", "0"]).is_err());
}
