//! The zombie reaper on a real stream: a node with one slot streams an answer that outlives
//! `reap_after`; the reaper returns the slot (the stream goes on), a second request is served
//! meanwhile, and the stuck stream's late end does not count the slot down twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{chat_body, client, eventually, register, start, test_config, wait_routable, MODEL};
use gonka_core::NodeConfig;
use gonka_mlnode::simulator::SimulatorConfig;
use gonka_mlnode::MlNodeConfig;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slot_held_past_reap_after_is_returned_while_its_stream_goes_on() {
    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node = NodeConfig::new("one-slot", MODEL)
        .at(
            "127.0.0.1",
            inference.local_addr().unwrap().port(),
            mgmt.local_addr().unwrap().port(),
        )
        .max_concurrent(1);
    // 40 tokens, 50 ms apart: a 2 s stream.
    let agent = MlNodeConfig {
        model: Some(MODEL.into()),
        simulator: SimulatorConfig {
            inter_token_latency: Duration::from_millis(50),
            output_tokens: 40,
            ..SimulatorConfig::default()
        },
        ..MlNodeConfig::default()
    };
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(gonka_mlnode::run(agent, mgmt, inference, async {
        let _ = stopped.await;
    }));

    let mut config = test_config();
    config.fleet.reap_after = Some(Duration::from_millis(300));
    let registry = config.registry.clone();
    let gw = start(config).await;
    register(&registry, node).await;
    wait_routable(&gw, MODEL, 1).await;

    let url = format!("http://{}/v1/chat/completions", gw.public_addr);
    let mut stuck = client()
        .post(&url)
        .json(&chat_body(MODEL, true))
        .send()
        .await
        .unwrap();
    assert_eq!(stuck.status(), 200);
    assert!(stuck.chunk().await.unwrap().is_some(), "the stream started");
    assert_eq!(gw.pool.in_flight(), 1);

    eventually("the reaper returned the slot", || async {
        gw.pool.reaped_slots() == 1 && gw.pool.in_flight() == 0
    })
    .await;
    // The node's one slot is free again although the first stream still runs (one token: the
    // second request ends well before it could be reaped too).
    let mut short = chat_body(MODEL, false);
    short["max_tokens"] = 1.into();
    let second = client().post(&url).json(&short).send().await.unwrap();
    assert_eq!(second.status(), 200);
    let mut rest = 0usize;
    while let Some(chunk) = stuck.chunk().await.unwrap() {
        rest += chunk.len();
    }
    assert!(rest > 0, "the reaped stream went on to its end");
    eventually("no slot is left counted", || async {
        gw.pool.in_flight() == 0
    })
    .await;
    assert_eq!(gw.pool.reaped_slots(), 1);
    gw.shutdown().await;
}
