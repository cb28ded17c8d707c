//! `SqliteDeploymentStore`: the deployment store conformance suite (on a file, where the task
//! compare-and-set races real connections, and in memory), and deployments living in the
//! registry's own database file across reopening.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use gonka_admin::{open_registry, SqliteDeploymentStore};
use gonka_core::deploy::DeploymentStore;
use gonka_core::testing::deployment::creation;

#[tokio::test]
async fn sqlite_deployment_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteDeploymentStore::open_path(dir.path().join("deploy.db"))
        .await
        .unwrap();
    gonka_core::testing::deployment_suite(store).await;
}

#[tokio::test]
async fn in_memory_sqlite_deployment_store_conforms() {
    let store = SqliteDeploymentStore::connect("sqlite::memory:")
        .await
        .unwrap();
    gonka_core::testing::deployment_suite(store).await;
}

#[tokio::test]
async fn deployments_live_in_the_registry_file_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gonka.db").display());
    let registry = open_registry(&url).await.unwrap();
    let c = creation("svc-kept", 7, 2);
    {
        let store = SqliteDeploymentStore::connect(&url).await.unwrap();
        store.create_group(c.clone()).await.unwrap();
    }
    drop(registry);
    let reopened = SqliteDeploymentStore::connect(&url).await.unwrap();
    assert_eq!(reopened.group(&c.group.id).await.unwrap(), c.group);
    assert_eq!(reopened.routes().await.unwrap(), vec![c.route]);
    assert_eq!(reopened.audit_log(10).await.unwrap(), vec![c.audit]);
}
