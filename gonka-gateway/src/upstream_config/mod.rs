//! Upstream operator settings on `gonka-gateway`, so a host configured for upstream's network
//! node (`decentralized-api`) starts the gateway unchanged:
//!
//! - [`dapi_env`]: the `DAPI_*` environment names (upstream's koanf rule: strip `DAPI_`, lower
//!   case, `__` → `.`) of the settings the two share, and `NODE_CONFIG_PATH`, mapped to the
//!   gateway's flags. Precedence: flag > `GONKA_*` variable > `DAPI_*` variable > config file >
//!   default.
//! - [`node_config`]: upstream's `node-config.json` merged into the registry once, at the first
//!   start, like upstream; a marker in the registry keeps later starts from importing it again
//!   and overwriting what the operator changed through the admin API.

pub mod dapi_env;
pub mod node_config;

pub use dapi_env::{
    dapi_key, dapi_settings, DapiEnv, DapiEnvError, DapiSetting, SharedSetting, ValueKind,
    SHARED_SETTINGS,
};
pub use node_config::{
    merge_node_config_once, NodeConfigError, NodeConfigMerge, NODE_CONFIG_MARKER,
};
