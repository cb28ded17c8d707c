//! `gonka-admin nodes ...`: the operator's command line over the typed client
//! ([`gonka_admin::Client`]): list, get, add, update, enable, disable, delete and import ML nodes
//! of a running admin API (gonka-admin or a gateway's admin listener).

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use gonka_admin::{Client, ClientError};
use gonka_core::NodeRecord;
use serde_json::Value;

/// `gonka-admin nodes`: operator commands against a running admin API.
#[derive(Debug, clap::Parser)]
#[command(
    name = "gonka-admin nodes",
    bin_name = "gonka-admin nodes",
    about = "Manage the ML nodes of a running admin API (gonka-admin or a gateway's admin listener)",
    after_help = "Exit status: 0 done, 1 the server refused (404, 400, 401, ...), 2 bad usage, 3 the server \
could not be reached or its storage is down. Examples:\n  gonka-admin nodes list\n  gonka-admin nodes add --id node1 \
--host 10.0.0.21 --inference-port 5050 --poc-port 8080 --model Qwen/Qwen3-32B-FP8 --max-concurrent 500\n  gonka-admin \
nodes disable node1\n  gonka-admin nodes import node-config.json --output json"
)]
pub struct NodesCli {
    /// Base URL of the admin API.
    #[arg(
        long,
        env = "GONKA_ADMIN_URL",
        default_value = "http://127.0.0.1:9200",
        global = true
    )]
    pub server: String,
    /// Bearer token of the admin API (the server's --token).
    #[arg(long, env = "GONKA_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// PEM file of a CA certificate to trust for an `https://` server signed by a private CA
    /// (besides the public roots).
    #[arg(long, env = "GONKA_ADMIN_CA_CERT", value_name = "FILE", global = true)]
    pub ca_cert: Option<PathBuf>,
    /// Output: a table for people, or the server's JSON for scripts.
    #[arg(long, short, value_enum, default_value_t = Output::Table, global = true)]
    pub output: Output,
    /// What to do.
    #[command(subcommand)]
    pub command: NodesCommand,
}

/// Output format of `gonka-admin nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns.
    Table,
    /// The API's JSON, pretty-printed.
    Json,
}

/// One operator command.
#[derive(Debug, clap::Subcommand)]
pub enum NodesCommand {
    /// List every node with its state.
    List,
    /// Show one node.
    Get {
        /// Node id.
        id: String,
    },
    /// Register a node (an existing id is updated).
    Add(NodeFields),
    /// Change fields of a registered node (fields not given keep their value).
    Update {
        /// Node id.
        #[arg(value_name = "ID")]
        node: String,
        /// New values.
        #[command(flatten)]
        fields: NodeFields,
    },
    /// Let a node take part again.
    Enable {
        /// Node id.
        id: String,
    },
    /// Keep a node out (it finishes the current epoch).
    Disable {
        /// Node id.
        id: String,
    },
    /// Remove a node.
    Delete {
        /// Node id.
        id: String,
    },
    /// Register every node of a JSON array file (upstream's node-config.json format); `-` reads
    /// stdin.
    Import {
        /// The file.
        file: PathBuf,
    },
}

/// Node fields given as flags, or a whole node as JSON.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NodeFields {
    /// Node id (add only; update takes it as an argument).
    #[arg(long)]
    pub id: Option<String>,
    /// Host or IP address of the ML node.
    #[arg(long)]
    pub host: Option<String>,
    /// Inference port (the engine's OpenAI API through the ML node).
    #[arg(long)]
    pub inference_port: Option<u16>,
    /// PoC / management port of the ML node.
    #[arg(long)]
    pub poc_port: Option<u16>,
    /// Model served (repeatable; replaces the node's models when given).
    #[arg(long = "model", value_name = "MODEL")]
    pub models: Vec<String>,
    /// Most requests in flight at once.
    #[arg(long)]
    pub max_concurrent: Option<u32>,
    /// The whole node as a JSON object (a file, or `-` for stdin); flags given beside it win.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Exit codes of `gonka-admin nodes`.
const REFUSED: u8 = 1;
const USAGE: u8 = 2;
const UNREACHABLE: u8 = 3;

/// Parses `argv` (`gonka-admin nodes ...`, program name first) and runs the command, printing
/// to stdout (results) and stderr (errors).
pub async fn main(argv: Vec<std::ffi::OsString>) -> ExitCode {
    // `gonka-admin nodes list` → parse `nodes list` with `nodes` as the program name.
    let args = argv.into_iter().skip(1);
    let cli = match <NodesCli as clap::Parser>::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match run(&cli).await {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(Failure { code, message }) => {
            eprintln!("gonka-admin nodes: {message}");
            ExitCode::from(code)
        }
    }
}

/// Why a command failed, and its exit code.
#[derive(Debug)]
pub struct Failure {
    /// The process exit code.
    pub code: u8,
    /// What to tell the operator.
    pub message: String,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        let code = match &e {
            ClientError::Transport(_) | ClientError::Unavailable { .. } => UNREACHABLE,
            _ => REFUSED,
        };
        let message = match &e {
            ClientError::Invalid { message, errors } if !errors.is_empty() => {
                let fields: Vec<String> = errors
                    .iter()
                    .map(|f| format!("  {}: {}", f.field, f.message))
                    .collect();
                format!("invalid request: {message}\n{}", fields.join("\n"))
            }
            ClientError::Transport(t) => format!("cannot reach the admin API: {t}"),
            _ => e.to_string(),
        };
        Self { code, message }
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: USAGE,
        message: message.into(),
    }
}

/// Runs `cli`'s command; `Ok` is the text to print.
///
/// # Errors
/// [`Failure`] with the exit code and message.
pub async fn run(cli: &NodesCli) -> Result<String, Failure> {
    let server = cli.server.trim_end_matches('/');
    let mut client = match &cli.ca_cert {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            Client::with_ca_pem(server, &pem)
                .map_err(|e| usage(format!("{}: not a PEM CA certificate: {e}", path.display())))?
        }
        None => Client::new(server),
    };
    if let Some(t) = cli.token.as_deref().filter(|t| !t.is_empty()) {
        client = client.with_token(t);
    }
    let json = cli.output == Output::Json;
    match &cli.command {
        NodesCommand::List => {
            let nodes = client.list().await?;
            Ok(if json { pretty(&nodes) } else { table(&nodes) })
        }
        NodesCommand::Get { id } => {
            let node = client.get(id).await?;
            Ok(if json {
                pretty(&node)
            } else {
                table(std::slice::from_ref(&node))
            })
        }
        NodesCommand::Add(fields) => {
            let base = match &fields.json {
                Some(path) => read_json(path)?,
                None if fields.id.is_none() => {
                    return Err(usage("add needs --id (or --json FILE)"))
                }
                None => serde_json::Map::new(),
            };
            // Sent as JSON, not as a typed node: the server's validation names every problem.
            let node = apply(base, fields);
            let stored = client.create_json(&Value::Object(node)).await?;
            Ok(if json {
                pretty(&stored)
            } else {
                format!("added {}", stored.id)
            })
        }
        NodesCommand::Update { node: id, fields } => {
            let base = match &fields.json {
                Some(path) => read_json(path)?,
                None => match serde_json::to_value(client.get(id).await?.node) {
                    Ok(Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                },
            };
            // A body without `id` takes the path's; a different one is the server's 400.
            let node = apply(base, fields);
            let stored = client.put_json(id, &Value::Object(node)).await?;
            Ok(if json {
                pretty(&stored)
            } else {
                format!("updated {}", stored.id)
            })
        }
        NodesCommand::Enable { id } => {
            let changed = client.enable(id).await?;
            Ok(if json {
                pretty(&changed)
            } else {
                format!("enabled {id}")
            })
        }
        NodesCommand::Disable { id } => {
            let changed = client.disable(id).await?;
            Ok(if json {
                pretty(&changed)
            } else {
                format!("disabled {id}")
            })
        }
        NodesCommand::Delete { id } => {
            let deleted = client.delete(id).await?;
            Ok(if json {
                pretty(&deleted)
            } else {
                format!("deleted {}", deleted.id)
            })
        }
        NodesCommand::Import { file } => {
            let text = read_input(file)?;
            let nodes = match serde_json::from_str::<Value>(&text) {
                Ok(Value::Array(nodes)) => nodes,
                Ok(_) => {
                    return Err(usage(format!(
                        "{}: not a JSON array of nodes",
                        file.display()
                    )))
                }
                Err(e) => return Err(usage(format!("{}: not JSON: {e}", file.display()))),
            };
            if nodes.is_empty() {
                return Err(usage(format!("{}: no nodes to import", file.display())));
            }
            // Elements go as they are: the server validates each and names what is wrong.
            match client.batch_json(&Value::Array(nodes)).await {
                Ok(stored) => Ok(if json {
                    pretty(&stored)
                } else {
                    format!("imported {} nodes", stored.len())
                }),
                Err(ClientError::PartialBatch { nodes, errors }) => {
                    let rejected: Vec<String> = errors
                        .iter()
                        .map(|e| format!("  {} (#{}): {}", e.id, e.index, e.error))
                        .collect();
                    Err(Failure {
                        code: REFUSED,
                        message: format!(
                            "imported {} nodes, rejected {}:\n{}",
                            nodes.len(),
                            errors.len(),
                            rejected.join("\n")
                        ),
                    })
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// A node as a JSON object: `base` with the fields given as flags.
type NodeJson = serde_json::Map<String, Value>;

/// `base` with the fields given as flags.
fn apply(mut node: NodeJson, fields: &NodeFields) -> NodeJson {
    if let Some(id) = &fields.id {
        node.insert("id".into(), Value::from(id.as_str()));
    }
    if let Some(h) = &fields.host {
        node.insert("host".into(), Value::from(h.as_str()));
    }
    if let Some(p) = fields.inference_port {
        node.insert("inference_port".into(), Value::from(p));
    }
    if let Some(p) = fields.poc_port {
        node.insert("poc_port".into(), Value::from(p));
    }
    if !fields.models.is_empty() {
        let models: serde_json::Map<String, Value> = fields
            .models
            .iter()
            .map(|m| (m.clone(), serde_json::json!({"args": []})))
            .collect();
        node.insert("models".into(), Value::Object(models));
    }
    if let Some(m) = fields.max_concurrent {
        node.insert("max_concurrent".into(), Value::from(m));
    }
    node
}

fn read_input(path: &PathBuf) -> Result<String, Failure> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
        return Ok(s);
    }
    std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

fn read_json(path: &PathBuf) -> Result<NodeJson, Failure> {
    let text = read_input(path)?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(node)) => Ok(node),
        Ok(_) => Err(usage(format!("{}: not a JSON object", path.display()))),
        Err(e) => Err(usage(format!("{}: not JSON: {e}", path.display()))),
    }
}

fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("cannot render JSON: {e}"))
}

/// Nodes as aligned columns: id, host, ports, models, max concurrent, enabled, status.
pub fn table(nodes: &[NodeRecord]) -> String {
    let header = [
        "ID",
        "HOST",
        "INFERENCE",
        "POC",
        "MODELS",
        "MAX",
        "ENABLED",
        "STATUS",
        "POC STATUS",
    ]
    .map(String::from);
    let rows: Vec<[String; 9]> = nodes
        .iter()
        .map(|r| {
            let n = &r.node;
            let models: Vec<&str> = n.models.keys().map(String::as_str).collect();
            [
                n.id.clone(),
                n.host.clone(),
                n.inference_port.to_string(),
                n.poc_port.to_string(),
                models.join(","),
                n.max_concurrent.to_string(),
                if r.state.admin_state.enabled {
                    "yes"
                } else {
                    "no"
                }
                .to_owned(),
                status_text(&r.state),
                value_text(&r.state.poc_current_status),
            ]
        })
        .collect();
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 9]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_owned()
    };
    let mut out = vec![line(&header)];
    out.extend(rows.iter().map(line));
    if rows.is_empty() {
        out.push("(no nodes)".into());
    }
    out.join("\n")
}

fn status_text(state: &gonka_core::NodeState) -> String {
    let current = value_text(&state.current_status);
    if state.failure_reason.is_empty() {
        current
    } else {
        format!("{current} ({})", state.failure_reason)
    }
}

/// A serde enum's wire name (e.g. `INFERENCE`).
fn value_text(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gonka_core::NodeConfig;

    #[test]
    fn the_table_aligns_columns_and_says_when_empty() {
        assert_eq!(
            table(&[]).lines().nth(1),
            Some("(no nodes)"),
            "{}",
            table(&[])
        );
        let mut record = NodeRecord {
            node: NodeConfig::new("node1", "Qwen/Qwen3-32B-FP8"),
            state: gonka_core::NodeState::new_registered(0),
        };
        record.node.host = "10.0.0.21".into();
        let t = table(&[record]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("ID     HOST"), "{t}");
        assert!(lines[1].starts_with("node1  10.0.0.21"), "{t}");
        assert!(lines[1].contains("Qwen/Qwen3-32B-FP8"), "{t}");
        assert!(lines[1].contains("yes"), "{t}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        <NodesCli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn flags_override_the_base_node() {
        let base = match serde_json::to_value(NodeConfig::new("n", "a")) {
            Ok(Value::Object(map)) => map,
            other => panic!("{other:?}"),
        };
        let fields = NodeFields {
            host: Some("h".into()),
            models: vec!["b".into(), "c".into()],
            max_concurrent: Some(7),
            ..NodeFields::default()
        };
        let n: NodeConfig = serde_json::from_value(Value::Object(apply(base, &fields))).unwrap();
        assert_eq!(n.host, "h");
        assert_eq!(n.models.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(n.max_concurrent, 7);
        assert_eq!(n.inference_port, 5000);
    }
}
