//! The deployments API on the gateway's admin listener: a devnet gateway serves `/api/v1` over
//! the deployment store on its registry database, with the admin API's token and cross-site
//! protection; the typed client creates a group whose records land in that database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use gonka_admin::{Client, ClientError};
use gonka_core::deploy::DeploymentStore;
use gonka_gateway::devnet::{self, DevnetConfig};
use gonka_gateway::Listeners;
use serde_json::json;

const TOKEN: &str = "deploy-admin-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_listener_serves_deployments_on_the_registry_database() {
    let listeners = Listeners {
        public: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        admin: Some(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap()),
        poc: None,
    };
    let data = tempfile::tempdir().unwrap();
    let mut config = DevnetConfig {
        ml_nodes: 1,
        data_dir: Some(data.path().to_path_buf()),
        ready_timeout: Duration::from_secs(30),
        ..DevnetConfig::default()
    };
    config.gateway.admin_token = Some(TOKEN.into());
    let net = devnet::start(config, listeners).await.unwrap();
    let admin = format!("http://{}", net.gateway.admin_addr.unwrap());

    let anonymous = Client::new(&admin);
    assert!(matches!(
        anonymous.task_groups().await,
        Err(ClientError::Unauthorized { .. })
    ));
    let cross_site = client()
        .get(format!("{admin}/api/v1/task-groups"))
        .bearer_auth(TOKEN)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);

    let admin_client = Client::new(&admin).with_token(TOKEN);
    let created = admin_client
        .create_task_group_json(
            &json!({"name": "chat-svc", "model_path": "Qwen/Qwen2.5-7B-Instruct"}),
        )
        .await
        .unwrap();
    assert!(created.api_key.as_deref().unwrap().starts_with("sk-"));
    assert_eq!(admin_client.task_groups().await.unwrap().len(), 1);
    net.shutdown().await;

    // The records are in the devnet's registry database file.
    let db = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "db"))
        .expect("a database file in the data dir");
    let store = gonka_admin::SqliteDeploymentStore::open_path(&db)
        .await
        .unwrap();
    let groups = store.groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].id, created.task_group.id);
}
