//! `PostgresDeploymentStore`: the deployment store conformance suite, and two replicas on one
//! database racing to place the same tasks: every task is placed exactly once.
//!
//! Every test needs `GONKA_TEST_POSTGRES_URL` (see `scripts/postgres.sh`); without it, it prints
//! `skipped: ...` and returns. Each test works in its own fresh database.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod postgres_support;

use gonka_admin::PostgresDeploymentStore;
use gonka_core::deploy::{DeploymentStore, TaskFilter, TaskMove, TaskPlacement, TaskStatus};
use gonka_core::testing::deployment::creation;
use postgres_support::TestDb;

#[tokio::test]
async fn postgres_deployment_store_conforms() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    gonka_core::testing::deployment_suite(PostgresDeploymentStore::connect(&db.url).await.unwrap())
        .await;
    db.drop_db().await;
}

#[tokio::test]
async fn two_replicas_never_place_one_task_twice() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = PostgresDeploymentStore::connect(&db.url).await.unwrap();
    let b = PostgresDeploymentStore::connect(&db.url).await.unwrap();
    let c = creation("svc-race", 1, 16);
    a.create_group(c.clone()).await.unwrap();
    // Each replica tries to place every task on its own node.
    let place = |store: PostgresDeploymentStore, node: &'static str| async move {
        let mut won = 0;
        for t in store.tasks(&TaskFilter::default()).await.unwrap() {
            let m = TaskMove {
                from: TaskStatus::Pending,
                to: TaskStatus::Scheduled,
                placement: Some(TaskPlacement {
                    node_id: node.into(),
                    gpu_ids: vec!["0".into()],
                    engine: "vllm".into(),
                    port: 8000,
                }),
                error: None,
                at_ms: 5,
            };
            if store.move_task(&t.id, m).await.unwrap().is_some() {
                won += 1;
            }
        }
        won
    };
    let (wa, wb) = tokio::join!(place(a.clone(), "node-a"), place(b.clone(), "node-b"));
    assert_eq!(
        wa + wb,
        16,
        "each task placed exactly once ({wa} by a, {wb} by b)"
    );
    for t in b.tasks(&TaskFilter::default()).await.unwrap() {
        assert_eq!(t.status, TaskStatus::Scheduled);
        let node = t.node_id.unwrap();
        assert!(node == "node-a" || node == "node-b");
    }
    // Two replicas creating the same service at once: one wins, the other gets a conflict.
    let (x, y) = tokio::join!(
        a.create_group(creation("svc-twice", 2, 1)),
        b.create_group(creation("svc-twice", 3, 1))
    );
    assert!(x.is_ok() != y.is_ok(), "{x:?} / {y:?}");
    db.drop_db().await;
}
