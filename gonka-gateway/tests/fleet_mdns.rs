//! mDNS discovery on loopback: a gateway advertising its admin API (`--mdns`) is found by an
//! agent started with `--discover` and no gateway URL, which joins it by itself (its node's
//! source is `mdns`). Both ends are limited to the IPv4 loopback interface and use a free port
//! instead of 5353, so the test sends nothing to the network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{client, eventually, start, test_config, MODEL};
use gonka_gateway::fleet::mdns::MdnsSettings;
use gonka_mlnode::discover::DiscoverSettings;
use gonka_mlnode::join::JoinSettings;
use gonka_mlnode::MlNodeConfig;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

#[test]
fn the_agent_browses_the_service_type_the_gateway_advertises() {
    assert_eq!(
        gonka_gateway::fleet::mdns::SERVICE_TYPE,
        gonka_mlnode::discover::GATEWAY_SERVICE_TYPE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_agent_with_discover_finds_the_gateway_by_mdns_on_loopback_and_joins_it() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = test_config();
    config.fleet.mdns = Some(MdnsSettings {
        port,
        loopback_only: true,
    });
    let gw = start(config).await;

    let mgmt = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let inference = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let join = JoinSettings {
        node_id: Some("found-by-mdns".into()),
        interval: Duration::from_millis(100),
        ..JoinSettings::discover(DiscoverSettings {
            port,
            loopback_only: true,
            timeout: Duration::from_secs(3),
        })
    };
    let agent = MlNodeConfig {
        model: Some(MODEL.into()),
        join: Some(join),
        ..MlNodeConfig::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(gonka_mlnode::run(agent, mgmt, inference, async {
        let _ = stopped.await;
    }));

    let status_url = format!("http://{}/fleet/status", gw.admin_addr.unwrap());
    eventually("the agent found the gateway and heartbeats", || async {
        let status: Value = client()
            .get(&status_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["nodes"][0]["id"] == "found-by-mdns"
            && status["nodes"][0]["source"] == "mdns"
            && status["routable_nodes"] == 1
    })
    .await;
    let _ = stop.send(());
    gw.shutdown().await;
}
