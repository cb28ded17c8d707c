//! A PoC artifact vector is exactly its encoded size: the callback listener refuses (400, naming
//! the nonce and the expected size, nothing stored or counted) a 1 MiB vector, a vector a few
//! bytes short or long, and an encoding other than 12 little-endian f16 values; a well-formed
//! vector is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use gonka_core::poc::encoding::{encode_b64, encode_vector_b64};
use gonka_core::{MemoryRegistry, NodeConfig, NodeRegistry};
use gonka_gateway::poc::{ArtifactStore, DevnetPhaseClock, PhaseClock, PhaseDurations, PocConfig};
use gonka_gateway::{GatewayConfig, Listeners};
use serde_json::{json, Value};
use tokio::net::TcpListener;

const MODEL: &str = "Qwen/Qwen3-32B-FP8";

fn b64(bytes: &[u8]) -> String {
    encode_b64(bytes)
}

#[tokio::test]
async fn artifact_vectors_of_the_wrong_size_are_refused_and_not_counted() {
    let registry = Arc::new(MemoryRegistry::new());
    // The node's ports refuse connections: the round still lists it as a member.
    let node = registry
        .upsert(NodeConfig::new("n1", MODEL).at("127.0.0.1", 1, 1))
        .await
        .unwrap();
    let node_num = u32::try_from(node.node.node_num).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::open_path(dir.path().join("poc.db"))
        .await
        .unwrap();
    let phases = PhaseDurations::within_epoch(
        Duration::from_secs(600),
        Duration::from_secs(300),
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .unwrap();
    let clock = DevnetPhaseClock::paused(phases, "artifact-size");
    let mut poc = PocConfig::new(Arc::new(clock.clone()), store.clone());
    poc.tick = Duration::from_millis(20);
    let public_key = poc.public_key.clone();
    let mut config = GatewayConfig::new(registry.clone());
    config.poc = Some(poc);
    let gateway = gonka_gateway::start(
        config,
        Listeners {
            public: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            admin: None,
            poc: Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
        },
    )
    .unwrap();
    clock.start();
    let info = clock.now();
    let url = format!(
        "http://{}/v2/poc-batches/Qwen%252FQwen3-32B-FP8/generated",
        gateway.poc_addr.unwrap()
    );
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = |nonce: u64, vector: String, encoding: Value| {
        json!({"public_key": public_key, "block_hash": info.block_hash,
               "block_height": info.poc_start_block_height, "node_id": node_num,
               "artifacts": [{"nonce": nonce, "vector_b64": vector}], "encoding": encoding})
    };
    let f16le = json!({"dtype": "f16", "k_dim": 12, "endian": "le"});
    let post = |body: Value| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };

    // A well-formed vector is stored once the round has started (bounded wait).
    let good = encode_vector_b64(&[0.25; 12]);
    let mut stored = false;
    for _ in 0..400 {
        if post(body(1, good.clone(), f16le.clone())).await.0 == 200 {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(stored, "the round did not start");

    for (nonce, vector, encoding, says) in [
        (
            2,
            b64(&vec![0u8; 1 << 20]),
            f16le.clone(),
            "exactly 24 bytes",
        ),
        (3, b64(&[0u8; 22]), f16le.clone(), "exactly 24 bytes"),
        (4, b64(&[0u8; 26]), f16le.clone(), "exactly 24 bytes"),
        (
            5,
            "not base64 at all, 32 chars long".into(),
            f16le.clone(),
            "exactly 24 bytes",
        ),
        (
            6,
            b64(&[0u8; 26]),
            json!({"dtype": "f16", "k_dim": 13, "endian": "le"}),
            "unsupported artifact encoding",
        ),
        (
            7,
            good.clone(),
            json!({"dtype": "f32", "k_dim": 12, "endian": "le"}),
            "unsupported artifact encoding",
        ),
    ] {
        let (status, text) = post(body(nonce, vector, encoding)).await;
        assert_eq!(status, 400, "nonce {nonce}: {text}");
        assert!(
            text.contains(says),
            "nonce {nonce} must say {says:?}: {text}"
        );
    }
    let counts = store.counts(info.epoch).await.unwrap();
    assert_eq!(
        counts,
        vec![(node_num, 1)],
        "only the well-formed vector is stored and counted"
    );
    gateway.shutdown().await;
}
