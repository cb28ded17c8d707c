//! Upstream's `DAPI_*` environment variables (and `NODE_CONFIG_PATH`) for the settings
//! `gonka-gateway` shares with upstream's network node.
//!
//! Upstream (`decentralized-api/apiconfig/config_manager.go`, `readConfig`) loads every variable
//! starting with `DAPI_` over its YAML config with koanf's env provider: the prefix is removed,
//! the rest lower-cased and `__` replaced by `.`, giving the config key
//! (`DAPI_API__PUBLIC_SERVER_PORT` → `api.public_server_port`). [`SHARED_SETTINGS`] lists the
//! keys the gateway understands and the flag each one sets; other `DAPI_*` keys (chain node,
//! keyring, NATS, …) have no meaning here and are reported by [`dapi_settings`] as ignored.
//!
//! Upstream listens on `:PORT` (every interface), so a port setting becomes the listen address
//! `0.0.0.0:PORT`. An empty value (`docker compose` passes `VAR=${UNSET}` as empty) counts as
//! unset.

/// How the value of a shared setting becomes a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A TCP port (1–65535), listened on every interface: `0.0.0.0:PORT`.
    ListenPort,
    /// Passed through unchanged (a URL, a path).
    Text,
}

/// One setting shared with upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedSetting {
    /// The environment variable upstream reads.
    pub var: &'static str,
    /// Upstream's config key (`api.public_server_port`), empty for variables outside koanf.
    pub key: &'static str,
    /// The gateway flag it sets (clap argument id, e.g. `public_listen`).
    pub arg_id: &'static str,
    /// The flag as typed (`--public-listen`), for messages and docs.
    pub flag: &'static str,
    /// How the value is converted.
    pub kind: ValueKind,
}

/// The settings `gonka-gateway` shares with upstream's network node.
pub const SHARED_SETTINGS: &[SharedSetting] = &[
    SharedSetting {
        var: "DAPI_API__PUBLIC_SERVER_PORT",
        key: "api.public_server_port",
        arg_id: "public_listen",
        flag: "--public-listen",
        kind: ValueKind::ListenPort,
    },
    SharedSetting {
        var: "DAPI_API__ML_SERVER_PORT",
        key: "api.ml_server_port",
        arg_id: "poc_listen",
        flag: "--poc-listen",
        kind: ValueKind::ListenPort,
    },
    SharedSetting {
        var: "DAPI_API__ADMIN_SERVER_PORT",
        key: "api.admin_server_port",
        arg_id: "admin_listen",
        flag: "--admin-listen",
        kind: ValueKind::ListenPort,
    },
    SharedSetting {
        var: "DAPI_API__POC_CALLBACK_URL",
        key: "api.poc_callback_url",
        arg_id: "poc_callback_url",
        flag: "--poc-callback-url",
        kind: ValueKind::Text,
    },
    SharedSetting {
        var: "DAPI_API__PUBLIC_URL",
        key: "api.public_url",
        arg_id: "public_url",
        flag: "--public-url",
        kind: ValueKind::Text,
    },
    SharedSetting {
        var: "NODE_CONFIG_PATH",
        key: "",
        arg_id: "node_config",
        flag: "--node-config",
        kind: ValueKind::Text,
    },
];

/// Upstream's config key of environment variable `var`: `None` unless it starts with `DAPI_`.
///
/// ```
/// use gonka_gateway::upstream_config::dapi_key;
/// assert_eq!(dapi_key("DAPI_API__PUBLIC_SERVER_PORT").as_deref(), Some("api.public_server_port"));
/// assert_eq!(dapi_key("DAPI_CHAIN_NODE__URL").as_deref(), Some("chain_node.url"));
/// assert_eq!(dapi_key("GONKA_POC"), None);
/// ```
pub fn dapi_key(var: &str) -> Option<String> {
    var.strip_prefix("DAPI_")
        .map(|rest| rest.to_lowercase().replace("__", "."))
}

/// A shared setting found in the environment, converted to its flag's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DapiSetting {
    /// The variable as found.
    pub var: String,
    /// The setting.
    pub setting: SharedSetting,
    /// The flag value (`0.0.0.0:9000`, a URL, a path).
    pub value: String,
}

/// A shared setting whose value the gateway cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}={value:?}: {reason} (it sets {flag})")]
pub struct DapiEnvError {
    /// The variable.
    pub var: String,
    /// Its value.
    pub value: String,
    /// The flag it sets.
    pub flag: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// What [`dapi_settings`] found in an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DapiEnv {
    /// The shared settings, converted.
    pub settings: Vec<DapiSetting>,
    /// `DAPI_*` variables the gateway has no use for (upstream-only settings), by name.
    pub ignored: Vec<String>,
}

/// The shared settings in `vars` (name, value), with upstream's name rule: a `DAPI_*` name
/// matches a setting when its config key ([`dapi_key`]) is the setting's key, so any case of the
/// name works as it does upstream. Empty values are skipped.
///
/// # Errors
/// [`DapiEnvError`] naming the variable and the flag when a value cannot be used (a port that is
/// not 1–65535).
pub fn dapi_settings<I, K, V>(vars: I) -> Result<DapiEnv, DapiEnvError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut found = DapiEnv::default();
    for (var, value) in vars {
        let (var, value) = (var.as_ref(), value.as_ref().trim());
        let key = dapi_key(var);
        let setting = SHARED_SETTINGS.iter().find(|s| match &key {
            Some(key) => !s.key.is_empty() && s.key == key,
            None => s.key.is_empty() && s.var == var,
        });
        let Some(setting) = setting else {
            if key.is_some() {
                found.ignored.push(var.to_owned());
            }
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let converted = match setting.kind {
            ValueKind::Text => value.to_owned(),
            ValueKind::ListenPort => match value.parse::<u16>() {
                Ok(port) if port > 0 => format!("0.0.0.0:{port}"),
                _ => {
                    return Err(DapiEnvError {
                        var: var.to_owned(),
                        value: value.to_owned(),
                        flag: setting.flag,
                        reason: "not a TCP port (1-65535)".into(),
                    })
                }
            },
        };
        found.settings.push(DapiSetting {
            var: var.to_owned(),
            setting: *setting,
            value: converted,
        });
    }
    found.settings.sort_by(|a, b| a.var.cmp(&b.var));
    found.ignored.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag_values(env: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        dapi_settings(env.iter().copied())
            .unwrap()
            .settings
            .into_iter()
            .map(|s| (s.setting.arg_id, s.value))
            .collect()
    }

    #[test]
    fn upstreams_join_env_maps_to_the_gateway_flags() {
        // The api service's environment in upstream's deploy/join/docker-compose.yml.
        let env = [
            ("DAPI_API__POC_CALLBACK_URL", "http://api:9100"),
            ("DAPI_API__PUBLIC_URL", "http://203.0.113.7:8000"),
            (
                "DAPI_CHAIN_NODE__SEED_API_URL",
                "http://node2.gonka.ai:8000",
            ),
            ("DAPI_CHAIN_NODE__URL", "http://node:26657"),
            ("NODE_CONFIG_PATH", "/root/node_config.json"),
            ("DAPI_API__PUBLIC_SERVER_PORT", "9000"),
            ("DAPI_API__ML_SERVER_PORT", "9100"),
            ("DAPI_API__ADMIN_SERVER_PORT", "9200"),
            ("DAPI_API__NODE_MANAGER_GRPC_PORT", "9400"),
            ("PATH", "/usr/bin"),
        ];
        let found = dapi_settings(env).unwrap();
        let got: Vec<(&str, &str)> = found
            .settings
            .iter()
            .map(|s| (s.setting.arg_id, s.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("admin_listen", "0.0.0.0:9200"),
                ("poc_listen", "0.0.0.0:9100"),
                ("poc_callback_url", "http://api:9100"),
                ("public_listen", "0.0.0.0:9000"),
                ("public_url", "http://203.0.113.7:8000"),
                ("node_config", "/root/node_config.json"),
            ]
        );
        assert_eq!(
            found.ignored,
            [
                "DAPI_API__NODE_MANAGER_GRPC_PORT",
                "DAPI_CHAIN_NODE__SEED_API_URL",
                "DAPI_CHAIN_NODE__URL"
            ]
        );
    }

    #[test]
    fn names_follow_upstreams_rule_in_any_case_and_empty_values_are_unset() {
        assert_eq!(
            flag_values(&[("DAPI_api__public_server_port", "9001")]),
            [("public_listen", "0.0.0.0:9001".to_owned())]
        );
        assert!(flag_values(&[("DAPI_API__PUBLIC_URL", ""), ("NODE_CONFIG_PATH", " ")]).is_empty());
        // One underscore is part of a key, not a separator: no shared setting.
        assert!(flag_values(&[("DAPI_API_PUBLIC_SERVER_PORT", "9000")]).is_empty());
        // NODE_CONFIG_PATH is read by its exact name, as upstream's os.LookupEnv does.
        assert!(flag_values(&[("node_config_path", "/x.json")]).is_empty());
    }

    #[test]
    fn a_port_that_is_not_a_port_names_the_variable_and_the_flag() {
        for bad in ["abc", "0", "70000", "-1"] {
            let e = dapi_settings([("DAPI_API__ADMIN_SERVER_PORT", bad)]).unwrap_err();
            assert_eq!(e.var, "DAPI_API__ADMIN_SERVER_PORT");
            let text = e.to_string();
            assert!(
                text.contains("DAPI_API__ADMIN_SERVER_PORT") && text.contains("--admin-listen"),
                "{text}"
            );
        }
    }
}
