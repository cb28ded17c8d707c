//! The gateway's admin listener serves the admin API's OpenAPI document
//! (`GET /admin/v1/openapi.json`), on the real binary, with the gateway's governance models.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/gateway_process.rs"]
mod gateway_process;

use gateway_process::GatewayProcess;
use serde_json::Value;

#[tokio::test]
async fn admin_listener_serves_the_openapi_document() {
    let gw = GatewayProcess::spawn("memory:", &["--models", "org/model-a,org/model-b"]).await;
    let response = reqwest::get(format!("{}/admin/v1/openapi.json", gw.admin))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    assert!(doc["paths"]["/admin/v1/nodes/{id}/disable"]["post"].is_object());
    let names = &doc["components"]["schemas"]["NodeConfig"]["properties"]["models"]
        ["propertyNames"]["enum"];
    assert_eq!(
        names,
        &serde_json::json!(["org/model-a", "org/model-b"]),
        "{doc}"
    );
}
