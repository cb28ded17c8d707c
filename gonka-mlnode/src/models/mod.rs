//! Models on the node's disk and their download from the Hugging Face hub, as upstream's ML
//! node manages them (`api.models`): the hub cache layout ([`cache`]), the hub's HTTP API
//! ([`hub`]), background downloads ([`manager`]), the management routes (`routes`) and the
//! cache's disk space ([`space`]).

pub mod cache;
pub mod hub;
pub mod manager;
pub mod routes;
pub mod space;

pub use cache::HubCache;
pub use hub::{HubClient, HubError, HubSettings};
pub use manager::{ManagerError, ModelManager};
pub use routes::{routes, ModelsState};
pub use space::{default_cache_dir, disk_space};
