use std::io::Write;

use clap::{Arg, ArgAction};

use super::*;

/// A command whose environment variables carry `tag` so that tests running in parallel never see
/// each other's variables.
fn command(tag: &str) -> Command {
    let env = |name: &str| -> &'static str {
        Box::leak(format!("GONKA_CORE_CLI_{tag}_{name}").into_boxed_str())
    };
    Command::new("demo")
        .arg(
            Arg::new("config")
                .long("config")
                .value_parser(clap::value_parser!(PathBuf)),
        )
        .arg(
            Arg::new("flag_level")
                .long("flag-level")
                .env(env("FLAG_LEVEL"))
                .default_value("default"),
        )
        .arg(
            Arg::new("env_level")
                .long("env-level")
                .env(env("ENV_LEVEL"))
                .default_value("default"),
        )
        .arg(
            Arg::new("file_level")
                .long("file-level")
                .env(env("FILE_LEVEL"))
                .default_value("default"),
        )
        .arg(
            Arg::new("default_level")
                .long("default-level")
                .env(env("DEFAULT_LEVEL"))
                .default_value("default"),
        )
        .arg(
            Arg::new("workers")
                .long("workers")
                .value_parser(clap::value_parser!(u16))
                .default_value("1"),
        )
        .arg(Arg::new("fast").long("fast").action(ArgAction::SetTrue))
        .arg(Arg::new("tag").long("tag").action(ArgAction::Append))
        .subcommand(
            Command::new("devnet").arg(
                Arg::new("nodes")
                    .long("nodes")
                    .value_parser(clap::value_parser!(u16))
                    .default_value("3"),
            ),
        )
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn parse(cmd: Command, argv: &[&str]) -> Result<ArgMatches, ParseError> {
    let mut layered = Layered::new(cmd, argv)?;
    layered.config_file("config")?;
    Ok(layered.into_matches()?)
}

fn get(m: &ArgMatches, id: &str) -> String {
    m.get_one::<String>(id).unwrap().clone()
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let f = file("flag-level = \"file\"\nenv-level = \"file\"\nfile-level = \"file\"\n");
    std::env::set_var("GONKA_CORE_CLI_PRECEDENCE_FLAG_LEVEL", "env");
    std::env::set_var("GONKA_CORE_CLI_PRECEDENCE_ENV_LEVEL", "env");
    let path = f.path().to_str().unwrap();
    let m = parse(
        command("PRECEDENCE"),
        &["demo", "--config", path, "--flag-level", "flag"],
    )
    .unwrap();
    assert_eq!(get(&m, "flag_level"), "flag");
    assert_eq!(get(&m, "env_level"), "env");
    assert_eq!(get(&m, "file_level"), "file");
    assert_eq!(get(&m, "default_level"), "default");
}

#[test]
fn without_a_config_file_the_defaults_hold() {
    let m = parse(command("NOFILE"), &["demo"]).unwrap();
    assert_eq!(get(&m, "file_level"), "default");
    assert_eq!(m.get_one::<u16>("workers"), Some(&1));
}

#[test]
fn typed_values_switches_lists_and_subcommand_tables_come_from_the_file() {
    let f = file("workers = 8\nfast = true\ntag = [\"a\", \"b\"]\n[devnet]\nnodes = 5\n");
    let path = f.path().to_str().unwrap();
    let m = parse(command("TYPED"), &["demo", "--config", path, "devnet"]).unwrap();
    assert_eq!(m.get_one::<u16>("workers"), Some(&8));
    assert!(m.get_flag("fast"));
    let tags: Vec<&String> = m.get_many::<String>("tag").unwrap().collect();
    assert_eq!(tags, ["a", "b"]);
    let devnet = m.subcommand_matches("devnet").unwrap();
    assert_eq!(devnet.get_one::<u16>("nodes"), Some(&5));
    let m = parse(
        command("TYPED"),
        &["demo", "--config", path, "devnet", "--nodes", "2"],
    )
    .unwrap();
    assert_eq!(
        m.subcommand_matches("devnet")
            .unwrap()
            .get_one::<u16>("nodes"),
        Some(&2)
    );
}

#[test]
fn a_binary_default_sits_below_the_file_and_the_environment() {
    std::env::set_var("GONKA_CORE_CLI_LAYER_ENV_LEVEL", "env");
    let f = file("file-level = \"file\"\n");
    let path = f.path().to_str().unwrap();
    let mut layered = Layered::new(command("LAYER"), ["demo", "--config", path]).unwrap();
    for id in ["env_level", "file_level", "default_level"] {
        layered.set_default(None, id, vec!["binary".to_owned()]);
    }
    assert_eq!(
        layered.source(None, "env_level"),
        Some(ValueSource::EnvVariable)
    );
    layered.config_file("config").unwrap();
    let m = layered.into_matches().unwrap();
    assert_eq!(get(&m, "env_level"), "env");
    assert_eq!(get(&m, "file_level"), "file");
    assert_eq!(get(&m, "default_level"), "binary");
}

fn file_error(text: &str) -> (ConfigFileError, String) {
    let f = file(text);
    let path = f.path().to_str().unwrap().to_owned();
    match parse(command("ERRORS"), &["demo", "--config", &path]) {
        Err(ParseError::ConfigFile(e)) => {
            assert!(e.to_string().contains(&path), "{e} does not name the file");
            (e, path)
        }
        other => panic!("config file error expected, got {other:?}"),
    }
}

#[test]
fn an_unknown_key_is_an_error_naming_it_and_the_file() {
    let (e, _) = file_error("workers = 2\nworkerz = 3\n");
    assert!(
        matches!(&e, ConfigFileError::UnknownKey { key, .. } if key == "workerz"),
        "{e}"
    );
    let (e, _) = file_error("[devnet]\nnodez = 3\n");
    assert!(e.to_string().contains("`devnet.nodez`"), "{e}");
    let (e, _) = file_error("config = \"other.toml\"\n");
    assert!(e.to_string().contains("`config`"), "{e}");
}

#[test]
fn a_bad_value_is_an_error_naming_the_key_the_value_and_the_file() {
    let (e, _) = file_error("workers = \"many\"\n");
    let text = e.to_string();
    assert!(
        matches!(&e, ConfigFileError::BadValue { key, .. } if key == "workers"),
        "{text}"
    );
    assert!(text.contains("many"), "{text}");
    let (e, _) = file_error("fast = \"yes\"\n");
    assert!(e.to_string().contains("`fast`"), "{e}");
    let (e, _) = file_error("workers = [1, 2]\n");
    assert!(e.to_string().contains("`workers`"), "{e}");
    let (e, _) = file_error("workers = { n = 1 }\n");
    assert!(e.to_string().contains("got table"), "{e}");
}

#[test]
fn unreadable_and_malformed_files_are_errors_naming_the_file() {
    let (e, _) = file_error("workers = \n");
    assert!(matches!(e, ConfigFileError::Syntax { .. }), "{e}");
    let missing = std::env::temp_dir().join("gonka-core-cli-test-missing.toml");
    match parse(
        command("MISSING"),
        &["demo", "--config", missing.to_str().unwrap()],
    ) {
        Err(ParseError::ConfigFile(ConfigFileError::Read { path, .. })) => {
            assert_eq!(path, missing)
        }
        other => panic!("read error expected, got {other:?}"),
    }
}

#[test]
fn a_config_argument_of_type_string_works_too() {
    let f = file("workers = 6\n");
    let command = Command::new("demo")
        .arg(Arg::new("config").long("config"))
        .arg(Arg::new("workers").long("workers").default_value("1"));
    let m = parse(command, &["demo", "--config", f.path().to_str().unwrap()]).unwrap();
    assert_eq!(get(&m, "workers"), "6");
}

#[test]
fn flag_errors_stay_clap_errors() {
    let e = parse(command("USAGE"), &["demo", "--workers", "x"]).unwrap_err();
    assert!(matches!(e, ParseError::Usage(_)), "{e}");
}
