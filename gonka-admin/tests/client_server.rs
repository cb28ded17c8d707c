//! The typed client against the real server on 127.0.0.1:0: every method, success and failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::Server;
use gonka_admin::{AdminOptions, Client, ClientError};
use gonka_core::{MemoryRegistry, NodeConfig};

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

fn node(id: &str, host: &str) -> NodeConfig {
    NodeConfig::new(id, MODEL)
        .at(host, 5050, 8080)
        .max_concurrent(500)
}

#[tokio::test]
async fn every_method_round_trips_against_the_real_server() {
    let s = Server::start().await;
    let c = Client::new(format!("{}/", s.base));

    let created = c.create(&node("node1", "10.0.0.21")).await.unwrap();
    assert_eq!(created.node_num, 1);
    assert_eq!(created.max_concurrent, 500);

    let batch = c
        .batch(&[node("node2", "10.0.0.22"), node("node3", "10.0.0.23")])
        .await
        .unwrap();
    assert_eq!(batch.iter().map(|n| n.node_num).collect::<Vec<_>>(), [2, 3]);

    let updated = c
        .put("node2", &node("node2", "10.0.0.22").max_concurrent(800))
        .await
        .unwrap();
    assert_eq!((updated.node_num, updated.max_concurrent), (2, 800));
    let mut no_id = node("", "10.0.0.24");
    no_id.id.clear();
    assert_eq!(c.put("node4", &no_id).await.unwrap().id, "node4");

    let off = c.disable("node1").await.unwrap();
    assert_eq!(off.message, "node disabled successfully");
    assert_eq!(off.node_id, "node1");
    assert!(!c.get("node1").await.unwrap().state.admin_state.enabled);
    let on = c.enable("node1").await.unwrap();
    assert_eq!(on.message, "node enabled successfully");
    assert!(c.get("node1").await.unwrap().state.admin_state.enabled);

    let deleted = c.delete("node3").await.unwrap();
    assert_eq!(deleted.id, "node3");
    let ids: Vec<String> = c
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.node.id)
        .collect();
    assert_eq!(ids, ["node1", "node2", "node4"]);
}

#[tokio::test]
async fn client_errors_carry_the_server_answer() {
    let s = Server::start().await;
    let c = Client::new(s.base.clone());
    c.create(&node("node1", "10.0.0.21")).await.unwrap();

    match c.get("nope").await {
        Err(ClientError::NotFound { message }) => assert_eq!(message, "node not found: nope"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.delete("nope").await,
        Err(ClientError::NotFound { .. })
    ));
    assert!(matches!(
        c.enable("nope").await,
        Err(ClientError::NotFound { .. })
    ));

    match c.create(&node("clash", "http://10.0.0.21")).await {
        Err(ClientError::Invalid { message, errors }) => {
            assert!(
                message.contains("already used by node 'node1'"),
                "{message}"
            );
            assert_eq!(errors[0].field, "inference_port");
        }
        other => panic!("{other:?}"),
    }
    match c.put("other", &node("node1", "10.0.0.21")).await {
        Err(ClientError::Invalid { errors, .. }) => assert_eq!(errors[0].field, "id"),
        other => panic!("{other:?}"),
    }

    let bad = node("bad", "10.0.0.30").max_concurrent(0);
    match c.batch(&[node("ok", "10.0.0.31"), bad.clone()]).await {
        Err(ClientError::PartialBatch { nodes, errors }) => {
            assert_eq!(nodes.len(), 1);
            assert_eq!(nodes[0].id, "ok");
            assert_eq!((errors[0].index, errors[0].id.as_str()), (1, "bad"));
        }
        other => panic!("{other:?}"),
    }
    match c.batch(&[bad]).await {
        Err(ClientError::BatchRejected { errors }) => assert_eq!(errors[0].id, "bad"),
        other => panic!("{other:?}"),
    }
    match c.batch(&[]).await {
        Err(ClientError::Invalid { message, .. }) => {
            assert!(message.contains("at least one"), "{message}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn client_token_and_limits_map_to_their_variants() {
    let options = AdminOptions {
        token: Some("s3cret".into()),
        body_limit: 2048,
        ..AdminOptions::default()
    };
    let s = Server::start_with(Arc::new(MemoryRegistry::new()), options).await;
    let anonymous = Client::new(s.base.clone());
    assert!(matches!(
        anonymous.list().await,
        Err(ClientError::Unauthorized { .. })
    ));
    let c = Client::new(s.base.clone()).with_token("s3cret");
    assert!(c.list().await.unwrap().is_empty());
    let many: Vec<NodeConfig> = (0..40)
        .map(|i| node(&format!("n{i}"), &format!("h{i}")))
        .collect();
    assert!(matches!(
        c.batch(&many).await,
        Err(ClientError::PayloadTooLarge { .. })
    ));
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(format!("http://{addr}"));
    assert!(matches!(c.list().await, Err(ClientError::Transport(_))));
}
