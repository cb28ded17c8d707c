//! Command-line plumbing of the workspace's binaries (feature `cli`; embedding the libraries does
//! not need it): clap arguments layered over an optional TOML config file.
//!
//! A setting has four sources, highest first: its flag, its environment variable, the config file,
//! its built-in default. clap handles the flag, the environment and the default; [`Layered`] slides
//! the file in between: after a first parse it replaces the default of every argument whose value
//! came from the default ([`ArgMatches::value_source`]) by the file's value, then parses again. A
//! binary lays its own defaults the same way ([`Layered::set_default`], e.g. devnet's quicker health
//! checks), below the file.
//!
//! The file's keys are the long flag names (`queue-timeout = "30s"`); a subcommand's flags sit in a
//! table named after it (`[devnet]`). Values are TOML strings, integers, floats or booleans, or
//! arrays of them for repeatable flags. Each value goes through the flag's own parser, so the file
//! accepts exactly what the flag accepts. An unknown key or a bad value is an error naming the key
//! and the file.
//!
//! ```
//! use clap::{Arg, Command};
//! let dir = std::env::temp_dir().join(format!("gonka-cli-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let file = dir.join("demo.toml");
//! std::fs::write(&file, "workers = 8\nname = \"from-file\"\n").unwrap();
//! let command = Command::new("demo")
//!     .arg(Arg::new("config").long("config"))
//!     .arg(Arg::new("workers").long("workers").default_value("1"))
//!     .arg(Arg::new("name").long("name").default_value("builtin"));
//! let argv = ["demo", "--config", file.to_str().unwrap(), "--name", "from-flag"];
//! let mut layered = gonka_core::cli::Layered::new(command, argv).unwrap();
//! layered.config_file("config").unwrap();
//! let m = layered.into_matches().unwrap();
//! assert_eq!(m.get_one::<String>("workers").unwrap(), "8"); // file over default
//! assert_eq!(m.get_one::<String>("name").unwrap(), "from-flag"); // flag over file
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, FromArgMatches};

mod checks;

pub use checks::{flags_missing_from_example, flags_without_env};

/// Why the config file could not be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("config file {}: cannot read: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not TOML.
    #[error("config file {}: not valid TOML: {source}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's error, with line and column.
        source: toml::de::Error,
    },
    /// A key that names no flag.
    #[error("config file {}: unknown key `{key}` (the keys are the long flag names, without `--`)", path.display())]
    UnknownKey {
        /// The file.
        path: PathBuf,
        /// The key, `table.key` inside a subcommand's table.
        key: String,
    },
    /// A value the flag does not accept.
    #[error("config file {}: key `{key}`: {message}", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// The key, `table.key` inside a subcommand's table.
        key: String,
        /// What is wrong with the value.
        message: String,
    },
}

/// Why a binary's command line could not be parsed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A bad flag or environment variable, or `--help` / `--version` (clap's message and exit code).
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// The config file could not be used.
    #[error(transparent)]
    ConfigFile(#[from] ConfigFileError),
}

impl ParseError {
    /// Prints the message (the help for `--help`) and exits the process: clap's exit code for
    /// usage errors, 2 for config file errors.
    pub fn exit(&self) -> ! {
        match self {
            Self::Usage(e) => e.exit(),
            Self::ConfigFile(e) => {
                eprintln!("error: {e}");
                std::process::exit(2)
            }
        }
    }
}

/// One replaced default: argument `id` (of `subcommand`, or of the top level) takes `values`.
#[derive(Debug, Clone)]
struct Setting {
    subcommand: Option<String>,
    id: String,
    values: Vec<String>,
}

/// A command line parsed once, whose defaults are then replaced layer by layer, and parsed again
/// by [`Layered::into_matches`] or [`Layered::parse`].
#[derive(Debug, Clone)]
pub struct Layered {
    command: Command,
    argv: Vec<OsString>,
    first: ArgMatches,
}

impl Layered {
    /// Parses `argv` (program name first) with `command`: flags, environment, built-in defaults.
    ///
    /// # Errors
    /// clap's error for a bad flag or environment value, or for `--help` / `--version`.
    pub fn new<I, T>(command: Command, argv: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        let first = command.clone().try_get_matches_from(&argv)?;
        Ok(Self {
            command,
            argv,
            first,
        })
    }

    /// The matches of the first parse (flags, environment, built-in defaults).
    pub fn matches(&self) -> &ArgMatches {
        &self.first
    }

    /// Where the value of argument `id` (of `subcommand`, or of the top level) came from in the
    /// first parse; `None` when it has none or `subcommand` is not the one being run.
    pub fn source(&self, subcommand: Option<&str>, id: &str) -> Option<ValueSource> {
        let matches = match subcommand {
            None => &self.first,
            Some(name) => self.first.subcommand_matches(name)?,
        };
        matches.value_source(id)
    }

    /// Makes `values` the default of argument `id` (of `subcommand`, or of the top level) when its
    /// value came from the default, i.e. neither its flag nor its environment variable was given.
    /// A later call for the same argument wins over an earlier one.
    pub fn set_default(&mut self, subcommand: Option<&str>, id: &str, values: Vec<String>) {
        let from_flag_or_env = matches!(
            self.source(subcommand, id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if from_flag_or_env {
            return;
        }
        let command = std::mem::take(&mut self.command);
        let set = move |arg: Arg| arg.default_values(values);
        self.command = match subcommand {
            None => command.mut_arg(id, set),
            Some(name) => command.mut_subcommand(name, |sub| sub.mut_arg(id, set)),
        };
    }

    /// Reads the TOML file named by argument `id` (nothing when it has no value) and lays its
    /// values over the defaults, below the flags and the environment. Returns the file read.
    ///
    /// # Errors
    /// See [`ConfigFileError`]; nothing is applied when the file has an error.
    pub fn config_file(&mut self, id: &str) -> Result<Option<PathBuf>, ConfigFileError> {
        // The raw value, whatever the argument's type (`String` or `PathBuf`).
        let raw = self.first.try_get_raw(id).ok().flatten();
        let Some(path) = raw.and_then(|mut values| values.next()).map(PathBuf::from) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigFileError::Read {
            path: path.clone(),
            source,
        })?;
        let table: toml::Table = text.parse().map_err(|source| ConfigFileError::Syntax {
            path: path.clone(),
            source,
        })?;
        let mut settings = Vec::new();
        collect(&self.command, None, id, &table, &path, &mut settings)?;
        for s in settings {
            self.set_default(s.subcommand.as_deref(), &s.id, s.values);
        }
        Ok(Some(path))
    }

    /// Parses the command line again over the layered defaults.
    ///
    /// # Errors
    /// clap's error (the values were checked when they were laid, so this is not expected).
    pub fn into_matches(self) -> Result<ArgMatches, clap::Error> {
        self.command.try_get_matches_from(self.argv)
    }

    /// [`Layered::into_matches`], then `T` from the matches.
    ///
    /// # Errors
    /// clap's error.
    pub fn parse<T: FromArgMatches>(self) -> Result<T, clap::Error> {
        T::from_arg_matches(&self.into_matches()?)
    }
}

/// Parses `argv` with `command`, with the config file named by argument `config_id` between the
/// environment and the defaults, into `T`.
///
/// # Errors
/// See [`ParseError`].
pub fn parse_with_config_file<T, I, S>(
    command: Command,
    argv: I,
    config_id: &str,
) -> Result<T, ParseError>
where
    T: FromArgMatches,
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut layered = Layered::new(command, argv)?;
    layered.config_file(config_id)?;
    Ok(layered.parse()?)
}

/// Checks the keys of `table` against the flags of `command` (and of its subcommands, for tables
/// named after one) and turns each into a [`Setting`].
fn collect(
    command: &Command,
    subcommand: Option<&str>,
    config_id: &str,
    table: &toml::Table,
    path: &Path,
    out: &mut Vec<Setting>,
) -> Result<(), ConfigFileError> {
    for (key, value) in table {
        let qualified = match subcommand {
            Some(sub) => format!("{sub}.{key}"),
            None => key.clone(),
        };
        if let (None, Some(sub), toml::Value::Table(inner)) =
            (subcommand, command.find_subcommand(key), value)
        {
            collect(sub, Some(sub.get_name()), config_id, inner, path, out)?;
            continue;
        }
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && a.get_id().as_str() != config_id)
            .ok_or_else(|| ConfigFileError::UnknownKey {
                path: path.to_owned(),
                key: qualified.clone(),
            })?;
        let bad = |message: String| ConfigFileError::BadValue {
            path: path.to_owned(),
            key: qualified.clone(),
            message,
        };
        let values = to_strings(value).map_err(bad)?;
        check(arg, &values).map_err(bad)?;
        out.push(Setting {
            subcommand: subcommand.map(str::to_owned),
            id: arg.get_id().as_str().to_owned(),
            values,
        });
    }
    Ok(())
}

/// The value as flag values: one per scalar, one per element of an array.
fn to_strings(value: &toml::Value) -> Result<Vec<String>, String> {
    match value {
        toml::Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

fn scalar(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "expected a string, number or boolean (or an array of them), got {}",
            other.type_str()
        )),
    }
}

/// Runs `values` through `arg`'s own parser, as if given on the command line.
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    let long = arg.get_long().unwrap_or_default();
    if !arg.get_action().takes_values() {
        return match values {
            [v] if v == "true" || v == "false" => Ok(()),
            _ => Err(format!("--{long} is a switch: expected true or false")),
        };
    }
    let probe = Command::new("config-file")
        .no_binary_name(true)
        .arg(arg.clone().env(None).required(false));
    let argv = values.iter().map(|v| format!("--{long}={v}"));
    match probe.try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e) => Err(first_paragraph(&e.render().to_string())),
    }
}

/// clap's message without its `error: ` prefix and usage/help tail, on one line.
fn first_paragraph(rendered: &str) -> String {
    let text = rendered.trim_start().trim_start_matches("error: ");
    let para = text.split("\n\n").next().unwrap_or(text);
    para.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests;
