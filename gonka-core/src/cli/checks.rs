//! Consistency checks of a binary's command line, for its tests: every flag has an environment
//! variable that `--help` shows, and the documented example config file lists every flag.

use clap::Command;

/// Every long flag of `command` and of its subcommands (at any depth) that has no environment
/// variable, one that does not start with `prefix`, or one that the command's `--help` does not
/// show; one message per problem, naming the flag. Empty when every flag is in order.
///
/// Pass the command as `CommandFactory::command()` returns it (not yet built): clap's own
/// `--help`/`--version` flags, added at build time, have no environment variable.
pub fn flags_without_env(command: &Command, prefix: &str) -> Vec<String> {
    let help = command.clone().render_long_help().to_string();
    let mut problems = Vec::new();
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let Some(env) = arg.get_env() else {
            problems.push(format!("--{long} has no environment variable"));
            continue;
        };
        let env = env.to_string_lossy();
        if !env.starts_with(prefix) {
            problems.push(format!("--{long}: {env} does not start with {prefix}"));
        } else if !help.contains(&format!("env: {env}")) {
            problems.push(format!("--{long}: {env} not in --help"));
        }
    }
    for sub in command.get_subcommands() {
        problems.extend(flags_without_env(sub, prefix));
    }
    problems
}

/// The long flags of `command` itself (not its subcommands; `--config` excepted) that `example`,
/// the text of an example config file, does not list as a `flag = ...` line, commented out
/// (`# flag = ...`) or not. Empty when the example lists every flag.
pub fn flags_missing_from_example(command: &Command, example: &str) -> Vec<String> {
    command
        .get_arguments()
        .filter_map(|arg| arg.get_long())
        .filter(|long| *long != "config")
        .filter(|long| {
            let line = format!("{long} = ");
            !example
                .lines()
                .any(|l| l.trim_start_matches("# ").starts_with(&line))
        })
        .map(|long| format!("--{long}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::{Arg, Command};

    use super::*;

    fn demo() -> Command {
        Command::new("demo")
            .arg(Arg::new("config").long("config"))
            .arg(Arg::new("workers").long("workers").env("X_WORKERS"))
            .arg(Arg::new("name").long("name"))
            .subcommand(Command::new("sub").arg(Arg::new("depth").long("depth").env("Y_DEPTH")))
    }

    #[test]
    fn flags_without_env_names_each_problem_in_every_subcommand() {
        let problems = flags_without_env(&demo(), "X_");
        assert_eq!(
            problems,
            [
                "--config has no environment variable",
                "--name has no environment variable",
                "--depth: Y_DEPTH does not start with X_",
            ]
        );
        let hidden = Command::new("demo").arg(
            Arg::new("secret")
                .long("secret")
                .env("X_SECRET")
                .hide_env(true),
        );
        assert_eq!(
            flags_without_env(&hidden, "X_"),
            ["--secret: X_SECRET not in --help"]
        );
        let fine = Command::new("demo").arg(Arg::new("a").long("a").env("X_A"));
        assert!(flags_without_env(&fine, "X_").is_empty());
    }

    #[test]
    fn flags_missing_from_example_reads_plain_and_commented_lines() {
        let example = "# workers = 4\nname = \"x\"\n";
        assert!(flags_missing_from_example(&demo(), example).is_empty());
        assert_eq!(
            flags_missing_from_example(&demo(), "workers = 4\n"),
            ["--name"]
        );
        // A value inside another key's line does not count.
        assert_eq!(
            flags_missing_from_example(&demo(), "workers = \"name = \"\n"),
            ["--name"]
        );
    }
}
