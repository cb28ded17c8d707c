//! The `gonka-admin` command line: flags (each also read from a `GONKA_*` environment variable
//! and from the `--config` TOML file) and turning them into a [`ServerConfig`].

use std::net::SocketAddr;
use std::path::PathBuf;

use gonka_admin::{ServerConfig, DEFAULT_BODY_BUDGET, DEFAULT_BODY_LIMIT};
use gonka_core::cli::ParseError;
use gonka_core::logging::LogFormat;
use gonka_core::GovernanceModels;

/// Command line of `gonka-admin`; every flag also reads an environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gonka-admin",
    version,
    about = "Admin API of a Gonka network node: register, update, enable/disable and delete ML nodes",
    long_about = None,
    override_usage = "gonka-admin [serve] [OPTIONS]\n       gonka-admin nodes <list|get|add|update|enable|disable|delete|import> [OPTIONS]",
    after_help = concat!(
        "Operator commands: `gonka-admin nodes list|get|add|update|enable|disable|delete|import` manage \
the nodes of a running admin API through its HTTP API (see `gonka-admin nodes --help`).\n\n",
        gonka_core::log_help!(),
        "\n\n",
        gonka_core::otel_help!()
    )
)]
pub struct Args {
    /// TOML file of settings (keys are the long flag names, e.g. `listen = "127.0.0.1:9200"`): flags
    /// and environment variables win over it, it wins over the defaults.
    #[arg(long, env = "GONKA_ADMIN_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on. Keep it private: the admin API must not face the internet.
    #[arg(long, env = "GONKA_ADMIN_LISTEN", default_value = "127.0.0.1:9200")]
    pub listen: SocketAddr,
    /// Registry database: sqlite://PATH (created if missing), postgres://USER:PASS@HOST/DB (shared by several
    /// gateway replicas), or memory: (nothing persisted).
    #[arg(
        long,
        env = "GONKA_DATABASE_URL",
        hide_env_values = true,
        default_value = "sqlite://gonka.db"
    )]
    pub database: String,
    /// Comma-separated governance models, replacing the default list of five.
    #[arg(long, env = "GONKA_GOVERNANCE_MODELS", value_name = "A,B,...")]
    pub models: Option<String>,
    /// Require `Authorization: Bearer <TOKEN>` on every call. Set but empty is a start-up error.
    #[arg(long, env = "GONKA_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Listen beyond loopback without --token (logged as a warning); without this flag that
    /// refuses to start.
    #[arg(long, env = "GONKA_ADMIN_ALLOW_UNAUTHENTICATED")]
    pub allow_unauthenticated: bool,
    /// Comma-separated host names accepted in the `Host` header besides IP addresses and
    /// localhost (`name` or `name:port`; `*` accepts any host, disabling the DNS-rebinding
    /// check); other hosts get 403.
    #[arg(
        long,
        env = "GONKA_ADMIN_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOST,..."
    )]
    pub allowed_hosts: Vec<String>,
    /// Comma-separated browser origins (`https://ops.example.com`) allowed to call the API besides
    /// its own; `*` accepts any. A request with another `Origin` gets 403; clients that send no
    /// `Origin` (curl, SDKs) are not affected.
    #[arg(
        long,
        env = "GONKA_ADMIN_ALLOWED_ORIGINS",
        value_delimiter = ',',
        value_name = "ORIGIN,..."
    )]
    pub allowed_origins: Vec<String>,
    /// JSON array of nodes to import at start-up (added / updated / unchanged / skipped).
    #[arg(long, env = "GONKA_NODES_FILE", value_name = "node-config.json")]
    pub nodes_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "GONKA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "GONKA_ADMIN_BODY_LIMIT", default_value_t = DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
    /// Bytes of request bodies over 64 KiB handled at once (at least --body-limit); a request
    /// that does not fit waits up to 5 s, then answers 503 with Retry-After.
    #[arg(long, env = "GONKA_ADMIN_BODY_BUDGET", default_value_t = DEFAULT_BODY_BUDGET)]
    pub body_budget: usize,
    /// Time a client has to send a complete request head (slowloris protection).
    #[arg(long, env = "GONKA_ADMIN_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: std::time::Duration,
    /// Longest pause between two parts of a client's request body before 408.
    #[arg(long, env = "GONKA_ADMIN_BODY_READ_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: std::time::Duration,
    /// Most connections open at once; more are answered 503 and closed. Default: the open-file
    /// limit (raised to its hard limit at start) less a reserve for the database and other
    /// descriptors, at most 16384.
    #[arg(long, env = "GONKA_ADMIN_MAX_CONNECTIONS", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address; more are answered 503 and closed.
    /// Default: a quarter of --max-connections.
    #[arg(long, env = "GONKA_ADMIN_MAX_CONNECTIONS_PER_IP", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_ip: Option<usize>,
    /// PEM certificate chain (leaf first) to serve HTTPS; needs --tls-key. Re-read on SIGHUP
    /// (new connections get the new certificate; a file that does not load keeps the old one,
    /// logged). The TLS handshake must finish within --header-read-timeout.
    #[arg(
        long,
        env = "GONKA_ADMIN_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of --tls-cert.
    #[arg(
        long,
        env = "GONKA_ADMIN_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

impl Args {
    /// The governance list: `--models` when given (and non-empty), else the default five.
    pub fn governance(&self) -> GovernanceModels {
        self.models
            .as_deref()
            .map(GovernanceModels::parse_list)
            .filter(|g| !g.is_empty())
            .unwrap_or_default()
    }

    /// The server configuration these flags describe.
    pub fn server_config(&self) -> ServerConfig {
        let mut c = ServerConfig::new(self.database.clone());
        c.governance = self.governance();
        c.token = self.token.clone();
        c.nodes_file = self.nodes_file.clone();
        c.body_limit = self.body_limit;
        c.body_budget = self.body_budget;
        c.header_read_timeout = self.header_read_timeout;
        c.body_read_timeout = self.body_read_timeout;
        c.sites = gonka_core::cross_site::SitePolicy::default()
            .allow_hosts(&self.allowed_hosts)
            .allow_origins(&self.allowed_origins);
        c.allow_unauthenticated = self.allow_unauthenticated;
        c.max_connections = self.max_connections;
        c.max_connections_per_ip = self.max_connections_per_ip;
        c
    }
}

/// Parses `argv` (program name first) with `command` (normally [`Args::command`]): flags, then
/// environment variables, then the `--config` file, then the defaults.
///
/// # Errors
/// See [`ParseError`].
pub fn parse<I, S>(command: clap::Command, argv: I) -> Result<Args, ParseError>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    gonka_core::cli::parse_with_config_file(command, argv, "config")
}

pub mod nodes;

#[cfg(test)]
mod tests;
